"""Models that misbehave on purpose, for fault-tolerance tests."""

import torch

from recon.models.point_set_cnn import PointSetCNN


class NaNAfterSteps(PointSetCNN):
    """A PointSetCNN whose ``nan_at``-th training forward pass (0-based) returns NaN points."""

    def __init__(self, nan_at: int, **kwargs):
        super().__init__(**kwargs)
        self.nan_at, self.calls = nan_at, 0

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(image)
        if self.training:
            if self.calls == self.nan_at:
                out = {"points": out["points"] * float("nan")}
            self.calls += 1
        return out
