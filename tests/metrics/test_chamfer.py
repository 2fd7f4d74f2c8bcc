"""Chamfer / F-score torchmetrics: accumulation over updates equals the mean over samples."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from recon.metrics.chamfer import (
    ALL_KEYS,
    Accuracy,
    ChamferL1,
    ChamferL2,
    Completeness,
    FScore,
    PointCloudMetrics,
)


def reference(pred, gt, threshold):
    """Per-sample float64 brute force from the definitions (Mescheder 2019, Tatarchenko 2019)."""
    rows = []
    for p, g in zip(pred.double().numpy(), gt.double().numpy()):
        d = cdist(p, g)
        acc, comp = d.min(1), d.min(0)
        P, R = (acc < threshold).mean(), (comp < threshold).mean()
        rows.append(
            {
                "accuracy": acc.mean(),
                "completeness": comp.mean(),
                "chamfer_l1": 0.5 * (acc.mean() + comp.mean()),
                "chamfer_l2": 0.5 * ((acc**2).mean() + (comp**2).mean()),
                "precision": P,
                "recall": R,
                "fscore": 2 * P * R / (P + R) if P + R > 0 else 0.0,
            }
        )
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def batches(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    # Different point counts per batch; scale 0.1 so that thresholds around 0.05 are informative.
    return [
        (0.1 * torch.randn(b, 40 + 7 * i, 3, generator=g), 0.1 * torch.randn(b, 60 - 5 * i, 3, generator=g))
        for i, b in enumerate(sizes)
    ]


@pytest.mark.parametrize("threshold", [0.01, 0.05, 0.2])
def test_accumulation_equals_mean_over_all_samples(threshold):
    data = batches([3, 1, 4, 2])
    metric = PointCloudMetrics(threshold=threshold, prefix="test/")
    for pred, gt in data:
        metric.update(pred, gt)
    out = metric.compute()
    assert set(out) == {"test/" + k for k in ALL_KEYS}
    refs = [reference(p, g, threshold) for p, g in data]
    for key in ALL_KEYS:
        expected = np.concatenate([r[key] for r in refs]).mean()  # mean over 10 samples, not over batches
        assert out["test/" + key].shape == ()
        assert out["test/" + key].item() == pytest.approx(expected, rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize(
    "cls,key",
    [
        (ChamferL1, "chamfer_l1"),
        (ChamferL2, "chamfer_l2"),
        (FScore, "fscore"),
        (Accuracy, "accuracy"),
        (Completeness, "completeness"),
    ],
)
def test_single_value_metrics(cls, key):
    data = batches([2, 3], seed=1)
    metric = cls(threshold=0.05) if cls is FScore else cls()
    for pred, gt in data:
        metric.update(pred, gt)
    value = metric.compute()
    expected = np.concatenate([reference(p, g, 0.05)[key] for p, g in data]).mean()
    assert isinstance(value, torch.Tensor) and value.shape == ()
    assert value.item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    metric.reset()
    metric.update(*data[0])
    assert metric.compute().item() == pytest.approx(reference(*data[0], 0.05)[key].mean(), rel=1e-5, abs=1e-7)


def test_flags_and_default_threshold():
    assert ChamferL1.higher_is_better is False and ChamferL2.higher_is_better is False
    assert FScore.higher_is_better is True
    assert all(c.full_state_update is False for c in (PointCloudMetrics, ChamferL1, FScore))
    assert FScore().threshold == 0.05
    for name, reduce in PointCloudMetrics()._reductions.items():
        assert reduce is not None, name  # every state is sum-reduced across processes


def test_fscore_zero_over_zero():
    metric = FScore(threshold=0.05)
    metric.update(torch.zeros(2, 5, 3), torch.ones(2, 6, 3))
    assert metric.compute().item() == 0.0


def test_forward_returns_batch_value_and_accumulates():
    (p1, g1), (p2, g2) = batches([2, 3], seed=2)
    metric = ChamferL1()
    batch_value = metric(p1, g1)
    assert batch_value.item() == pytest.approx(reference(p1, g1, 0.05)["chamfer_l1"].mean(), rel=1e-5)
    metric(p2, g2)
    expected = np.concatenate([reference(p, g, 0.05)["chamfer_l1"] for p, g in ((p1, g1), (p2, g2))]).mean()
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="keys"):
        PointCloudMetrics(keys=("chamfer_l3",))
    with pytest.raises(ValueError, match="threshold"):
        FScore(threshold=0.0)
    with pytest.raises(ValueError, match=r"pred must be \(B, N, 3\), got \(5, 3\)"):
        ChamferL1().update(torch.zeros(5, 3), torch.zeros(1, 5, 3))
