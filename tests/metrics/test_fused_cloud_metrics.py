"""DTU-style fused-cloud metrics: clouds of different sizes per sample and the outlier distance cap, against a
scipy cKDTree brute force."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from recon.geometry.pointcloud import chamfer_distances
from recon.metrics.chamfer import ALL_KEYS, PointCloudMetrics


def reference(pred, gt, threshold, max_distance=None):
    """float64 values of one sample: means over distances < max_distance, precision/recall over all points."""
    p, g = pred.double().numpy(), gt.double().numpy()
    acc, comp = cKDTree(g).query(p)[0], cKDTree(p).query(g)[0]
    keep_acc = acc < (np.inf if max_distance is None else max_distance)
    keep_comp = comp < (np.inf if max_distance is None else max_distance)
    P, R = (acc < threshold).mean(), (comp < threshold).mean()
    out = {
        "accuracy": acc[keep_acc].mean() if keep_acc.any() else np.nan,
        "completeness": comp[keep_comp].mean() if keep_comp.any() else np.nan,
        "accuracy_sq": (acc[keep_acc] ** 2).mean() if keep_acc.any() else np.nan,
        "completeness_sq": (comp[keep_comp] ** 2).mean() if keep_comp.any() else np.nan,
        "precision": P,
        "recall": R,
        "fscore": 2 * P * R / (P + R) if P + R > 0 else 0.0,
    }
    out["chamfer_l1"] = 0.5 * (out["accuracy"] + out["completeness"])
    out["chamfer_l2"] = 0.5 * (out["accuracy_sq"] + out["completeness_sq"])
    return out


def clouds(sizes, seed=0, outliers=0.2):
    """Pairs of clouds of the given sizes; a fraction of the predicted points are far outliers."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n, m in sizes:
        gt = torch.rand(m, 3, generator=g)
        pred = gt[torch.randint(0, m, (n,), generator=g)] + 0.03 * torch.randn(n, 3, generator=g)
        far = torch.rand(n, generator=g) < outliers
        pred[far] += 2.0 + torch.rand(int(far.sum()), 3, generator=g)
        out.append((pred, gt))
    return out


@pytest.mark.parametrize("backend", ["torch", "kdtree"])
@pytest.mark.parametrize("max_distance", [None, 0.1, 1.0])
def test_capped_chamfer_distances_match_kdtree(backend, max_distance):
    pairs = clouds([(50, 70)] * 3, seed=1)
    pred, gt = torch.stack([p for p, _ in pairs]), torch.stack([g for _, g in pairs])
    got = chamfer_distances(pred, gt, threshold=0.05, max_distance=max_distance, backend=backend)
    for i, (p, g) in enumerate(pairs):
        expected = reference(p, g, 0.05, max_distance)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key][i].item(), value, rtol=1e-5, err_msg=key)
    if max_distance == 0.1:  # the cap matters on this data
        assert (got["accuracy"] < chamfer_distances(pred, gt)["accuracy"] / 2).all()


def test_metric_on_clouds_of_different_sizes_matches_kdtree():
    batches = [clouds([(40, 90), (130, 60)], seed=2), clouds([(75, 75)], seed=3), clouds([(20, 200)], seed=4)]
    metric = PointCloudMetrics(threshold=0.05, max_distance=0.5, prefix="test/")
    for batch in batches:
        metric.update([p for p, _ in batch], [g for _, g in batch])
    out = metric.compute()
    rows = [reference(p, g, 0.05, 0.5) for batch in batches for p, g in batch]
    assert metric.count == 4
    for key in ALL_KEYS:
        np.testing.assert_allclose(out[f"test/{key}"].item(), np.mean([r[key] for r in rows]), rtol=1e-5, err_msg=key)


def test_sequence_input_equals_batched_tensor_input():
    pairs = clouds([(30, 40)] * 3, seed=5)
    as_list, as_tensor = PointCloudMetrics(max_distance=0.3), PointCloudMetrics(max_distance=0.3)
    as_list.update([p for p, _ in pairs], [g for _, g in pairs])
    as_tensor.update(torch.stack([p for p, _ in pairs]), torch.stack([g for _, g in pairs]))
    for key, value in as_tensor.compute().items():
        torch.testing.assert_close(as_list.compute()[key], value)


def test_all_outliers_give_nan_mean_and_cap_cuts_gradient():
    gt = torch.zeros(1, 4, 3)
    pred = torch.tensor([[[0.1, 0, 0], [5.0, 0, 0]]], requires_grad=True)
    out = chamfer_distances(pred, gt, threshold=0.5, max_distance=1.0)
    np.testing.assert_allclose(out["accuracy"].item(), 0.1, rtol=1e-6)  # the point at 5 is left out
    np.testing.assert_allclose(out["precision"].item(), 0.5)  # but counted by precision
    out["accuracy"].sum().backward()
    assert pred.grad[0, 0, 0] == 1.0 and not pred.grad[0, 1].any()
    far = chamfer_distances(pred.detach() + 10.0, gt, max_distance=1.0)
    assert torch.isnan(far["accuracy"]).all() and torch.isnan(far["chamfer_l1"]).all()


def test_rejects_bad_inputs():
    metric = PointCloudMetrics()
    ((p, g),) = clouds([(10, 12)])
    with pytest.raises(ValueError, match="one cloud per sample"):
        metric.update([p, p], [g])
    with pytest.raises(ValueError, match=r"gt\[1\] must be an \(N, 3\)"):
        metric.update([p, p], [g, g[None]])
    with pytest.raises(ValueError, match="non-empty"):
        metric.update([p, p[:0]], [g, g])
    assert metric.count == 0  # a failing sample leaves the earlier ones of its batch unaccumulated
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="max_distance"):
            PointCloudMetrics(max_distance=bad)
        with pytest.raises(ValueError, match="max_distance"):
            chamfer_distances(p[None], g[None], max_distance=bad)
