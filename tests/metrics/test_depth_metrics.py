"""Depth torchmetrics against a numpy brute force: masks, gt = 0, accumulation, empty masks, bad inputs."""

import numpy as np
import pytest
import torch

from recon.metrics.depth import DepthMetrics, depth_errors

THRESHOLDS = (0.05, 0.2)


def reference(batches, thresholds=THRESHOLDS):
    """float64 values from the definitions over every valid pixel of every batch."""
    pred = np.concatenate([p.numpy().ravel() for p, _, _ in batches]).astype(np.float64)
    gt = np.concatenate([g.numpy().ravel() for _, g, _ in batches]).astype(np.float64)
    mask = np.concatenate([m.numpy().ravel() for _, _, m in batches])
    valid = mask & (gt > 0)
    p, g = pred[valid], gt[valid]
    if not len(g):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p > 0, np.maximum(p / g, g / p), np.inf)
    out = {"abs_rel": np.mean(np.abs(p - g) / g), "mae": np.mean(np.abs(p - g)), "rmse": np.sqrt(np.mean((p - g) ** 2))}
    for k in (1, 2, 3):
        out[f"delta{k}"] = 100.0 * np.mean(ratio < 1.25**k)
    for t in thresholds:
        out[f"within{t:g}"] = 100.0 * np.mean(np.abs(p - g) < t)
    return out


def random_batches(sizes, H=6, W=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for b in sizes:
        gt = 0.5 + 3 * torch.rand(b, 1, H, W, generator=g)
        gt[torch.rand(b, 1, H, W, generator=g) < 0.1] = 0.0  # unlabelled pixels
        pred = gt * torch.exp(0.3 * torch.randn(b, 1, H, W, generator=g))  # ratios across all deltas
        pred[torch.rand(b, 1, H, W, generator=g) < 0.05] *= -1  # non-positive predictions
        pred[0, 0, 0, 0] = 0.0
        mask = torch.rand(b, 1, H, W, generator=g) < torch.rand(b, 1, 1, 1, generator=g)
        gt = torch.where(mask, gt, torch.full_like(gt, float("nan")))  # anything outside the mask
        batches.append((pred, gt, mask))
    return batches


def test_matches_brute_force():
    batches = random_batches([3, 1, 4])
    metric = DepthMetrics(abs_thresholds=THRESHOLDS, prefix="val/")
    for batch in batches:
        metric.update(*batch)
    out = metric.compute()
    expected = reference(batches)
    assert set(out) == {f"val/{k}" for k in expected}
    for key, value in expected.items():
        assert out[f"val/{key}"].shape == () and out[f"val/{key}"].dtype == torch.float32
        np.testing.assert_allclose(out[f"val/{key}"].item(), value, rtol=1e-5)
    for key in ("delta1", "delta2", "within0.05", "within0.2"):  # informative on this data
        assert 5 < expected[key] < 95


def test_hand_made_values():
    gt = torch.tensor([1.0, 2.0, 4.0, 1.0, 0.0]).reshape(1, 1, 1, 5)
    pred = torch.tensor([1.2, 3.0, 4.0, -1.0, 9.0]).reshape(1, 1, 1, 5)
    # the last pixel has gt 0 (invalid); errors 0.2, 1, 0, 2 -> MAE 0.8, AbsRel (0.2 + 0.5 + 0 + 2) / 4,
    # RMSE sqrt((0.04 + 1 + 0 + 4) / 4); ratios 1.2, 1.5, 1, (negative: fail) -> delta1 2/4, delta2 3/4;
    # within 0.5: 0.2 and 0 -> 2/4
    metric = DepthMetrics(abs_thresholds=(0.5,))
    metric.update(pred, gt, torch.ones_like(gt, dtype=torch.bool))
    out = {k: round(v.item(), 5) for k, v in metric.compute().items()}
    assert out == {
        "abs_rel": round(2.7 / 4, 5),
        "mae": 0.8,
        "rmse": round((5.04 / 4) ** 0.5, 5),
        "delta1": 50.0,
        "delta2": 75.0,
        "delta3": 75.0,
        "within0.5": 50.0,
    }


def test_accumulation_equals_one_update_on_the_concatenation():
    batches = random_batches([2, 3, 1], seed=1)
    parts, whole = DepthMetrics(abs_thresholds=THRESHOLDS), DepthMetrics(abs_thresholds=THRESHOLDS)
    for batch in batches:
        parts.update(*batch)
    whole.update(*(torch.cat(ts) for ts in zip(*batches)))
    for key, value in whole.compute().items():
        torch.testing.assert_close(parts.compute()[key], value)


def test_merged_states_equal_one_pass():
    """What DDP's sum-reduction does: states of two shards merged = one metric over all data."""
    batches = random_batches([2, 3, 1, 2], seed=2)
    whole, a, b = (DepthMetrics(abs_thresholds=THRESHOLDS) for _ in range(3))
    for i, batch in enumerate(batches):
        whole.update(*batch)
        (a if i % 2 else b).update(*batch)
    a.merge_state(b)
    for key, value in whole.compute().items():
        torch.testing.assert_close(a.compute()[key], value)


def test_empty_evaluation_is_nan():
    metric = DepthMetrics(abs_thresholds=(0.1,))
    gt = torch.zeros(2, 1, 3, 3)
    metric.update(torch.ones(2, 1, 3, 3), gt, torch.ones(2, 1, 3, 3, dtype=torch.bool))  # gt 0 everywhere
    metric.update(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), torch.zeros(1, 1, 3, 3, dtype=torch.bool))
    out = metric.compute()
    assert len(out) == 7 and all(torch.isnan(v) for v in out.values())


def test_rejects_bad_inputs():
    metric = DepthMetrics()
    gt, mask = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3, dtype=torch.bool)
    pred = torch.ones(1, 1, 3, 3)
    pred[0, 0, 2, 2] = float("inf")
    with pytest.raises(ValueError, match="pred contains 1 NaN/Inf"):
        metric.update(pred, gt, mask)
    pred[0, 0, 2, 2] = 1.0
    gt_nan = gt.clone()
    gt_nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="gt has NaN/Inf inside mask"):
        metric.update(pred, gt_nan, mask)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        metric.update(pred, gt, mask.float())
    with pytest.raises(ValueError, match=r"gt must be a floating-point \(B, 1, H, W\)"):
        metric.update(pred, gt[:, 0], mask)
    with pytest.raises(ValueError, match="one shape"):
        metric.update(pred, gt[..., :2], mask)
    for bad in ((0.0,), (-1.0,), (0.1, 0.1)):
        with pytest.raises(ValueError, match="abs_thresholds"):
            DepthMetrics(abs_thresholds=bad)
    assert metric.count == 0  # nothing was accumulated by the rejected updates


def test_depth_errors_of_one_map_match_the_metric():
    g = torch.Generator().manual_seed(3)
    gt = torch.rand(1, 1, 6, 7, generator=g) * 4 + 0.5
    pred = gt * (1 + 0.4 * (torch.rand(1, 1, 6, 7, generator=g) - 0.5))
    mask = torch.rand(1, 1, 6, 7, generator=g) > 0.3
    gt[0, 0, 0, 0], mask[0, 0, 0, 0] = 0.0, True  # gt = 0 is invalid also inside the mask
    metric = DepthMetrics()
    metric.update(pred, gt, mask)
    expected = metric.compute()
    errors = depth_errors(pred[0], gt[0], mask[0])
    assert set(errors) == {"abs_rel", "delta1"}
    assert errors["abs_rel"] == pytest.approx(float(expected["abs_rel"]), rel=1e-6)
    assert errors["delta1"] == pytest.approx(float(expected["delta1"]), rel=1e-6)
    assert depth_errors(pred[0, 0].numpy(), gt[0, 0].numpy(), mask[0, 0].numpy()) == errors  # (H, W) arrays
    assert depth_errors(pred[0], gt[0], torch.zeros_like(mask[0])) == {}
