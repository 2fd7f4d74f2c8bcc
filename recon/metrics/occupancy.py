"""Volumetric IoU of occupancy grids, DDP-safe (sum of per-sample IoU and count, ``dist_reduce_fx="sum"``)."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from recon.geometry.voxels import occupancy_iou

__all__ = ["OccupancyIoU"]


class OccupancyIoU(Metric):
    """Mean per-sample intersection over union of boolean occupancy grids (Occupancy Networks' volumetric IoU).

    ``update(pred (B, ...) bool, gt (B, ...) bool)``; a sample where both grids are empty scores 1.
    Threshold predicted probabilities first (recon uses ``p > 0.5``, i.e. ``logits > 0``).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        self.total += occupancy_iou(pred.detach(), gt.detach()).sum().to(torch.float64)
        self.count += pred.shape[0]

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).float()
