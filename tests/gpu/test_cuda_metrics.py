"""On CUDA, the torch nearest-neighbour backend and every metric of recon/metrics give the CPU's results on the same
inputs (the CPU side uses its defaults: the k-d tree for large clouds)."""

import importlib
import inspect
import pkgutil

import pytest
import torch

import recon.metrics
from recon.geometry.pointcloud import KDTREE_MIN_PAIRS, chamfer_loss, nearest_neighbors
from recon.geometry.poses import matrix_to_rotation_6d, rotation_6d_to_matrix
from recon.metrics.chamfer import Accuracy, ChamferL1, ChamferL2, Completeness, FScore, PointCloudMetrics
from recon.metrics.cloud_checks import dark_background_silhouettes, in_box_fraction, silhouette_agreement
from recon.metrics.completion import CompletionMetrics, farther_than
from recon.metrics.depth import DepthMetrics, depth_errors
from recon.metrics.latent import KLPerDimension, KLSummary, kl_summary
from recon.metrics.occupancy import OccupancyIoU
from recon.metrics.poses import RelativePoseMetrics, pose_errors
from recon.metrics.samples import BestOfKChamfer, SampleDiversity
from recon.metrics.stereo import (
    BadPixelRate,
    D1Error,
    EndPointError,
    StereoMetrics,
    disparity_errors,
    matchable_mask,
)
from tests.helpers.run_if import run_if

DEVICE = "cuda"
# public callables of recon/metrics that score nothing (input checks and conversions the metrics share)
NOT_METRICS = {"recon.metrics.maps.check_map_inputs", "recon.metrics.maps.item_map"}


def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def clouds(B: int = 3, N: int = 700, M: int = 900) -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches of Gaussian clouds, large enough that the CPU default searches them with the k-d tree."""
    assert N * M >= KDTREE_MIN_PAIRS
    g = generator()
    return torch.randn(B, N, 3, generator=g) * 0.5, torch.randn(B, M, 3, generator=g) * 0.5 + 0.05


def maps(low: float, high: float, B: int = 3, H: int = 24, W: int = 40) -> tuple[torch.Tensor, ...]:
    """``pred``, ``gt`` (B, 1, H, W) in ``[low, high]`` with errors of a few units, ``mask`` with holes, and
    ``gt`` 0 on some masked pixels (invalid ground truth)."""
    g = generator()
    gt = low + (high - low) * torch.rand(B, 1, H, W, generator=g)
    pred = (gt + (high - low) * 0.1 * torch.randn(B, 1, H, W, generator=g)).clamp_min(0)
    mask = torch.rand(B, 1, H, W, generator=g) < 0.8
    gt = torch.where(torch.rand(B, 1, H, W, generator=g) < 0.05, 0.0, gt)
    return pred, gt, mask


def samples(B: int = 2, K: int = 3, N: int = 600, M: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator()
    return torch.randn(B, K, N, 3, generator=g) * 0.5, torch.randn(B, M, 3, generator=g) * 0.5


def images(V: int = 2, H: int = 24, W: int = 32) -> torch.Tensor:
    return torch.rand(V, 3, H, W, generator=generator())


def silhouette_views(V: int = 2, H: int = 24, W: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points in front of ``V`` identity-pose pinhole cameras (focal 20 px, centred principal point)."""
    points = torch.randn(400, 3, generator=generator()) * 0.3 + torch.tensor([0.0, 0.0, 2.0])
    K = torch.tensor([[20.0, 0.0, (W - 1) / 2], [0.0, 20.0, (H - 1) / 2], [0.0, 0.0, 1.0]]).expand(V, 3, 3)
    return points, K, torch.eye(4).expand(V, 4, 4)


def grids(B: int = 3, R: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator()
    pred, gt = torch.rand(B, 1, R, R, R, generator=g) < 0.3, torch.rand(B, 1, R, R, R, generator=g) < 0.3
    pred[-1], gt[-1] = False, False  # both empty: IoU 1
    return pred, gt


def kl(B: int = 5, D: int = 8) -> torch.Tensor:
    scale = torch.tensor([0.0, 0.001, 0.005, 0.1, 0.5, 1.0, 2.0, 4.0])  # some dimensions below the active threshold
    return torch.rand(B, D, generator=generator()) * scale[:D]


def updated(metric, *updates):
    """``metric`` on ``DEVICE``, updated with each tuple of ``updates`` (tensors moved to the metric's device)."""
    device = metric.device
    for args in updates:
        metric.update(*(moved(a, device) for a in args))
    return metric.compute()


def moved(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    return [t.to(device) for t in x]  # a sequence of clouds


def variable_clouds() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Fused-cloud inputs: one cloud per sample, of different sizes."""
    g = generator()
    preds = [torch.randn(n, 3, generator=g) * 0.5 for n in (300, 800)]
    gts = [torch.randn(m, 3, generator=g) * 0.5 for m in (900, 400)]
    return preds, gts


def completion() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``pred``, ``gt`` and a ``partial`` cloud that sees part of ``gt`` (its x < 0 half): both parts are scored."""
    pred, gt = clouds()
    return pred, gt, gt[:, gt[0, :, 0] < 0][:, :200].contiguous()


def poses(B: int = 40) -> tuple[torch.Tensor, ...]:
    """Relative poses: predictions near the truth, a few failed, one true pure rotation (t = 0)."""
    g = generator()
    R_true = rotation_6d_to_matrix(torch.randn(B, 6, generator=g))
    R_pred = rotation_6d_to_matrix(matrix_to_rotation_6d(R_true) + 0.1 * torch.randn(B, 6, generator=g))
    t_true, t_pred = torch.randn(B, 3, generator=g), torch.randn(B, 3, generator=g)
    t_true[0] = 0
    valid = torch.rand(B, generator=g) > 0.2
    return R_pred, t_pred, valid, R_true, t_true


# name -> how to score the case's fixed inputs on a device (a dict or tensor of results)
CASES = {
    "PointCloudMetrics": lambda d: updated(PointCloudMetrics().to(d), clouds(), variable_clouds()),
    "PointCloudMetrics(max_distance)": lambda d: updated(
        PointCloudMetrics(threshold=0.1, max_distance=0.2).to(d), clouds(), variable_clouds()
    ),
    "ChamferL1": lambda d: updated(ChamferL1().to(d), clouds()),
    "ChamferL2": lambda d: updated(ChamferL2().to(d), clouds()),
    "FScore": lambda d: updated(FScore(threshold=0.08).to(d), clouds()),
    "Accuracy": lambda d: updated(Accuracy().to(d), clouds()),
    "Completeness": lambda d: updated(Completeness().to(d), clouds()),
    "DepthMetrics": lambda d: updated(DepthMetrics(abs_thresholds=(0.05, 0.2)).to(d), maps(1.0, 5.0)),
    "depth_errors": lambda d: depth_errors(*(t[0].to(d) for t in maps(1.0, 5.0))),
    "KLPerDimension": lambda d: updated(KLPerDimension(8).to(d), (kl(),), (kl(3),)),
    "KLSummary": lambda d: updated(KLSummary(8).to(d), (kl(),)),
    "kl_summary": lambda d: kl_summary(kl().mean(0).to(d)),
    "OccupancyIoU": lambda d: updated(OccupancyIoU().to(d), grids()),
    "BestOfKChamfer": lambda d: updated(BestOfKChamfer().to(d), samples()),
    "SampleDiversity": lambda d: updated(SampleDiversity().to(d), samples()[:1]),
    "StereoMetrics": lambda d: updated(StereoMetrics().to(d), maps(0.0, 40.0)),
    "StereoMetrics(images)": lambda d: updated(
        StereoMetrics("nonoccluded", reduction="images", bad_thresholds=(0.5, 4.0)).to(d), maps(0.0, 40.0)
    ),
    "StereoMetrics(matchable, holes)": lambda d: updated(
        StereoMetrics("matchable").to(d), (*maps(0.0, 40.0), maps(0.0, 40.0)[2].logical_not())
    ),
    "matchable_mask": lambda d: matchable_mask(*(t.to(d) for t in maps(0.0, 40.0)[2:0:-1]), band=8),
    "EndPointError": lambda d: updated(EndPointError().to(d), maps(0.0, 40.0)),
    "BadPixelRate": lambda d: updated(BadPixelRate(1.5).to(d), maps(0.0, 40.0)),
    "D1Error": lambda d: updated(D1Error().to(d), maps(0.0, 40.0)),
    "disparity_errors": lambda d: disparity_errors(*(t[0].to(d) for t in maps(0.0, 40.0))),
    "CompletionMetrics": lambda d: updated(CompletionMetrics(radius=0.3, threshold=0.1).to(d), completion()),
    "RelativePoseMetrics": lambda d: updated(RelativePoseMetrics().to(d), poses(), poses(7)),
    "pose_errors": lambda d: dict(zip(("rotation", "translation", "pose"), pose_errors(*moved(poses(), d)))),
    "farther_than": lambda d: farther_than(*(t.to(d) for t in completion()[1:]), 0.3),
    "in_box_fraction": lambda d: in_box_fraction(clouds()[0][0].to(d), torch.tensor([[-0.4] * 3, [0.5] * 3]).to(d)),
    "dark_background_silhouettes": lambda d: dark_background_silhouettes(images().to(d), 0.5, dilate=2, erode=1),
    "silhouette_agreement": lambda d: silhouette_agreement(
        *(t.to(d) for t in silhouette_views()), dark_background_silhouettes(images().to(d), 0.5, dilate=2, erode=1)
    ),
}


def public_metrics() -> list[str]:
    """``module.name`` of every public class and function defined in a module of recon/metrics."""
    found = []
    for info in pkgutil.iter_modules(recon.metrics.__path__):
        module = importlib.import_module(f"recon.metrics.{info.name}")
        for name, obj in vars(module).items():
            defined_here = (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == module.__name__
            if defined_here and not name.startswith("_"):
                found.append(f"{module.__name__}.{name}")
    return sorted(set(found) - NOT_METRICS)


def test_every_metric_has_a_cuda_case():
    """Runs everywhere, so CI fails when a metric is added without a case for the CUDA comparison below."""
    missing = [name for name in public_metrics() if name.rpartition(".")[2] not in CASES]
    assert not missing, f"add these to CASES in {__file__}: {missing}"


def as_dict(result) -> dict:
    if isinstance(result, dict):
        return result
    return {"value": result}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.gpu
@run_if(min_gpus=1)
def test_metric_on_cuda_equals_cpu(case):
    on_device, on_cpu = as_dict(CASES[case](DEVICE)), as_dict(CASES[case]("cpu"))
    assert on_device.keys() == on_cpu.keys()
    for key, value in on_device.items():
        if isinstance(value, torch.Tensor):
            assert value.device.type == DEVICE, key  # the metric's states stayed on the device
            value = value.cpu()
        expected = torch.as_tensor(on_cpu[key]).to(torch.as_tensor(value).dtype)
        assert bool(torch.isfinite(expected).all()), (key, expected)  # the inputs define every value
        torch.testing.assert_close(torch.as_tensor(value), expected, rtol=1e-5, atol=1e-6, msg=f"{case}: {key}")


@pytest.mark.gpu
@run_if(min_gpus=1)
@pytest.mark.parametrize("chunk_elements", [2**24, 1000])
def test_torch_nearest_neighbours_on_cuda_equal_cpu(chunk_elements):
    """Same neighbours as the CPU's brute force and k-d tree; ``chunk_elements=1000`` splits queries and batch."""
    x, y = clouds()
    sq, idx = nearest_neighbors(x.to(DEVICE), y.to(DEVICE), backend="torch", chunk_elements=chunk_elements)
    assert sq.device.type == idx.device.type == DEVICE
    for backend in ("torch", "kdtree"):
        sq_cpu, idx_cpu = nearest_neighbors(x, y, backend=backend)
        assert torch.equal(idx.cpu(), idx_cpu), backend
        torch.testing.assert_close(sq.cpu(), sq_cpu, rtol=1e-5, atol=1e-7)


@pytest.mark.gpu
@run_if(min_gpus=1)
@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_chamfer_loss_gradients_on_cuda_equal_cpu(kind):
    x, y = clouds()

    def loss_and_grads(device: str):
        pred, gt = x.to(device).requires_grad_(), y.to(device).requires_grad_()
        loss = chamfer_loss(pred, gt, kind=kind, backend="torch")
        loss.backward()
        return loss.detach().cpu(), pred.grad.cpu(), gt.grad.cpu()

    for on_device, on_cpu in zip(loss_and_grads(DEVICE), loss_and_grads("cpu")):
        torch.testing.assert_close(on_device, on_cpu, rtol=1e-5, atol=1e-7)
