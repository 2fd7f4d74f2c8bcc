"""Models that misbehave on purpose, for fault-tolerance tests."""

import os

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


class KillsItsProcess(PointSetCNN):
    """A PointSetCNN that, with ``signal_number`` set, sends that signal to its own process when built: a job
    whose process dies (killed, segfault, out of memory) instead of raising."""

    def __init__(self, signal_number: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if signal_number is not None:
            os.kill(os.getpid(), signal_number)
