"""Metrics of K shapes sampled per image (generative models): best-of-K Chamfer-L1 and sample diversity, DDP-safe.

Both accumulate the sum of per-image values and the number of images (``dist_reduce_fx="sum"``), so
``compute()`` is the mean over every image seen by every process. Chamfer-L1 is the definition of
:func:`recon.geometry.pointcloud.chamfer_distances` (half the sum of accuracy and completeness), exact.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from recon.geometry.pointcloud import chamfer_distances

__all__ = ["BestOfKChamfer", "SampleDiversity"]


def _check_samples(samples: torch.Tensor, min_k: int) -> None:
    if samples.dim() != 4 or samples.shape[-1] != 3:
        raise ValueError(f"samples must be (B, K, N, 3), got {tuple(samples.shape)}")
    if samples.shape[1] < min_k:
        raise ValueError(f"need at least {min_k} samples per image, got K = {samples.shape[1]}")


class _MeanOverImages(Metric):
    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound = 0.0

    def __init__(self, backend: str = "auto", **kwargs) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def _add(self, values: torch.Tensor) -> None:
        self.total += values.sum().to(torch.float64)
        self.count += values.numel()

    def _chamfer_l1(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return chamfer_distances(x.detach(), y.detach(), backend=self.backend)["chamfer_l1"]

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).float()


class BestOfKChamfer(_MeanOverImages):
    """Mean over images of the lowest Chamfer-L1 among the image's K samples (the "minimum over samples" score
    of generative reconstruction). ``update(samples (B, K, N, 3), gt (B, M, 3))``."""

    def update(self, samples: torch.Tensor, gt: torch.Tensor) -> None:
        _check_samples(samples, 1)
        B, K = samples.shape[:2]
        per_sample = self._chamfer_l1(samples.flatten(0, 1), gt.repeat_interleave(K, dim=0))
        self._add(per_sample.view(B, K).amin(1))


class SampleDiversity(_MeanOverImages):
    """Mean over images of the mean pairwise Chamfer-L1 between the image's K samples (all K(K-1)/2 pairs);
    0 when every sample is the same shape. ``update(samples (B, K, N, 3))``, K >= 2."""

    higher_is_better = True

    def update(self, samples: torch.Tensor) -> None:
        _check_samples(samples, 2)
        B, K = samples.shape[:2]
        i, j = torch.triu_indices(K, K, offset=1, device=samples.device)
        pairs = self._chamfer_l1(samples[:, i].flatten(0, 1), samples[:, j].flatten(0, 1))
        self._add(pairs.view(B, -1).mean(1))
