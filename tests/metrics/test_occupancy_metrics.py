"""Volumetric IoU metric: mean of per-sample IoU (not the IoU of the whole set), against numpy."""

import numpy as np
import pytest
import torch

from recon.metrics.occupancy import OccupancyIoU


def test_mean_of_per_sample_iou_over_batches():
    rng = np.random.default_rng(0)
    metric, expected = OccupancyIoU(), []
    for b, p in ((2, 0.1), (3, 0.5), (1, 0.9)):
        pred, gt = rng.random((b, 1, 5, 5, 5)) < p, rng.random((b, 1, 5, 5, 5)) < 0.3
        metric.update(torch.from_numpy(pred), torch.from_numpy(gt))
        expected += [(x & y).sum() / (x | y).sum() for x, y in zip(pred, gt)]
    assert float(metric.compute()) == pytest.approx(np.mean(expected), rel=1e-6)


def test_perfect_and_disjoint():
    grid = torch.zeros(2, 1, 4, 4, 4, dtype=torch.bool)
    grid[:, :, :2] = True
    metric = OccupancyIoU()
    metric.update(grid, grid)
    metric.update(grid, ~grid)
    assert float(metric.compute()) == 0.5
