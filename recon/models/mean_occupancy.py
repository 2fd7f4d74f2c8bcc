"""Non-learned occupancy reference: the per-voxel mean of the training grids, thresholded, placed at the centre."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from recon.geometry.voxels import occupancy_iou, unpack_occupancy

THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))
SCORE_GRIDS = 512  # training grids the threshold is chosen on


class MeanOccupancy(nn.Module):
    """Predicts the same grid for every image: the fraction of training grids occupied at each voxel (grids are
    centred on their object and aligned with their camera), thresholded

    - at 0.5 (``occupancy``): the rule applied to a model's predicted probabilities, so the two compare like for
      like (the mean grid is itself the best constant probability grid under binary cross-entropy);
    - at the value in :data:`THRESHOLDS` that maximises the mean per-sample IoU on (up to :data:`SCORE_GRIDS`
      evenly spaced) training grids (``occupancy_tuned``): the strongest constant grid for IoU.

    It is the occupancy counterpart of :class:`~recon.models.medoid_shape.MedoidShape`: it knows where the object
    is (grids are centred on it) and only guesses the shape. Call :meth:`fit` before use.
    """

    problem = "single_view"
    inputs = ("center",)
    trainable = False

    def __init__(self, resolution: int = 32):
        super().__init__()
        self.resolution = resolution
        self.register_buffer("probability", torch.zeros(1, resolution, resolution, resolution))
        self.register_buffer("threshold", torch.tensor(0.5))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, packed: np.ndarray, chunk: int = 256) -> MeanOccupancy:
        """``packed (S, ceil(R^3 / 8))`` uint8: bit-packed training grids (see ``pack_occupancy``)."""
        R = self.resolution
        packed = np.asarray(packed).reshape(len(packed), -1)
        if len(packed) == 0:
            raise ValueError("MeanOccupancy.fit needs at least one training grid")
        total = torch.zeros(R, R, R, dtype=torch.float64)
        for a in range(0, len(packed), chunk):
            total += unpack_occupancy(packed[a : a + chunk], R).sum(0, dtype=torch.float64)
        mean = (total / len(packed)).float()
        scored = unpack_occupancy(packed[np.linspace(0, len(packed) - 1, min(SCORE_GRIDS, len(packed))).astype(int)], R)
        ious = [float(occupancy_iou((mean > t).expand_as(scored), scored).mean()) for t in THRESHOLDS]
        self.probability.copy_(mean[None])
        self.threshold.fill_(THRESHOLDS[int(np.argmax(ious))])
        self.fitted.fill_(True)
        return self

    def forward(self, center: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"occupancy", "occupancy_tuned"}``: ``(B, 1, R, R, R)`` bool grids for ``center (B, 3)`` (the grid is
        centred there by definition), thresholded at 0.5 and at the tuned threshold."""
        if not bool(self.fitted):
            raise RuntimeError("MeanOccupancy.fit(...) must be called with training grids before prediction")
        B = center.shape[0]
        return {
            "occupancy": (self.probability > 0.5).expand(B, *self.probability.shape),
            "occupancy_tuned": (self.probability > self.threshold).expand(B, *self.probability.shape),
        }
