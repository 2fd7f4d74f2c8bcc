"""KL divergence of a VAE's posterior from its prior, per latent dimension, DDP-safe (sum states)."""

from __future__ import annotations

import torch
from torchmetrics import Metric

__all__ = ["ACTIVE_THRESHOLD", "KLPerDimension", "KLSummary", "kl_summary"]

ACTIVE_THRESHOLD = 0.01  # nats: a dimension whose mean KL is below this carries (almost) no information


def kl_summary(per_dim: torch.Tensor) -> dict[str, torch.Tensor]:
    """The scalars of a per-dimension KL ``(latent_dim,)``: ``kl_per_dim`` (mean), ``kl`` (total) and
    ``active_dims`` (dimensions above :data:`ACTIVE_THRESHOLD`)."""
    return {
        "kl_per_dim": per_dim.mean(),
        "kl": per_dim.sum(),
        "active_dims": (per_dim > ACTIVE_THRESHOLD).sum().float(),
    }


class KLPerDimension(Metric):
    """Mean over samples of ``KL(q(z | x) || p(z))`` for each of ``latent_dim`` dimensions.

    ``update(kl (B, latent_dim))`` with per-sample, per-dimension KL in nats; ``compute()`` -> ``(latent_dim,)``.
    :meth:`summary` gives the scalars worth logging: the mean over dimensions (``kl_per_dim``), the total
    (``kl``, nats per sample) and the number of dimensions above :data:`ACTIVE_THRESHOLD` (``active_dims``; a
    collapsed posterior has none).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, latent_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.add_state("total", torch.zeros(latent_dim, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, kl: torch.Tensor) -> None:
        if kl.dim() != 2 or kl.shape[1] != self.latent_dim:
            raise ValueError(f"kl must be (B, {self.latent_dim}), got {tuple(kl.shape)}")
        self.total += kl.detach().sum(0).to(torch.float64)
        self.count += kl.shape[0]

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).float()

    def summary(self) -> dict[str, torch.Tensor]:
        return kl_summary(self.compute())


class KLSummary(KLPerDimension):
    """:class:`KLPerDimension` whose ``compute()`` is the summary (:func:`kl_summary`): loggable scalars, e.g. in a
    :class:`~torchmetrics.MetricCollection`."""

    def compute(self) -> dict[str, torch.Tensor]:
        return kl_summary(super().compute())
