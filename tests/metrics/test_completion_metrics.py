"""Completion metrics against a brute-force scipy computation, with the empty-prediction and fully-observed cases."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from recon.metrics.chamfer import PointCloudMetrics
from recon.metrics.completion import CompletionMetrics, farther_than


def brute_force(pred: np.ndarray, gt: np.ndarray, threshold: float) -> dict[str, float]:
    to_gt = cKDTree(gt).query(pred)[0]
    to_pred = cKDTree(pred).query(gt)[0]
    precision, recall = (to_gt < threshold).mean(), (to_pred < threshold).mean()
    return {
        "chamfer_l1": (to_gt.mean() + to_pred.mean()) / 2,
        "chamfer_l2": ((to_gt**2).mean() + (to_pred**2).mean()) / 2,
        "fscore": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
    }


def sphere(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)


def test_scores_match_scipy_on_the_full_surface_and_the_unobserved_part():
    radius, threshold = 0.15, 0.1
    gts = torch.stack([sphere(300, s) for s in range(3)])
    partials = [gt[gt[:, 0] < 0.2] for gt in gts]  # the input saw the x < 0.2 side
    count = min(len(p) for p in partials)
    partial = torch.stack([p[:count] for p in partials])
    preds = gts + 0.04 * torch.stack([sphere(300, 10 + s) for s in range(3)])
    metric = CompletionMetrics(radius=radius, threshold=threshold)
    metric.update(preds, gts, partial)
    out = metric.compute()
    full = PointCloudMetrics(threshold=threshold, keys=("chamfer_l1", "chamfer_l2", "fscore"))
    full.update(preds, gts)
    for key, value in full.compute().items():
        torch.testing.assert_close(out[key], value)
    expected = {key: [] for key in ("chamfer_l1", "chamfer_l2", "fscore")}
    for pred, gt, part in zip(preds.numpy(), gts.numpy(), partial.numpy()):
        tree = cKDTree(part)
        gt_far, pred_far = gt[tree.query(gt)[0] > radius], pred[tree.query(pred)[0] > radius]
        for key, value in brute_force(pred_far, gt_far, threshold).items():
            expected[key].append(value)
    for key, values in expected.items():
        assert out[f"unobserved_{key}"].item() == pytest.approx(np.mean(values), rel=1e-5, abs=1e-6), key
    assert out["unobserved_samples"] == 3 and out["unobserved_empty"] == 0


def test_returning_the_input_scores_zero_on_the_unobserved_part_and_a_seen_shape_is_left_out():
    gt = sphere(400, 0)[None]
    partial = gt[:, gt[0, :, 2] < 0]
    metric = CompletionMetrics(radius=0.1, threshold=0.05)
    metric.update(partial, gt, partial)
    out = metric.compute()
    missing = gt[0][farther_than(gt, partial, 0.1)[0]]
    diagonal = (missing.max(0).values - missing.min(0).values).norm()
    assert out["unobserved_fscore"] == 0 and out["unobserved_empty"] == 1
    torch.testing.assert_close(out["unobserved_chamfer_l1"], diagonal / 2)
    assert out["fscore"] > 0  # on the full surface the input still scores its half
    seen = CompletionMetrics(radius=0.1)
    seen.update(gt, gt, gt)
    assert seen.compute()["unobserved_samples"] == 0


def test_farther_than_is_a_distance_not_a_squared_distance():
    points = torch.tensor([[[0.0, 0.0, 0.3], [0.0, 0.0, 0.5]]])
    reference = torch.zeros(1, 1, 3)
    assert farther_than(points, reference, 0.4).tolist() == [[False, True]]
