"""Rigid placement of a template cloud onto a partial observation (translation-only ICP), batched."""

from __future__ import annotations

import torch
from torch import Tensor

from recon.geometry.pointcloud import nearest_neighbors

__all__ = ["fit_translation"]


def fit_translation(template: Tensor, partial: Tensor, init: Tensor, iterations: int = 20) -> Tensor:
    """The translation ``t`` that places ``template + t`` on the partial cloud: ICP without rotation, minimising the
    mean squared distance from every partial point to its nearest template point (the partial cloud sees one side,
    so it is matched into the template, not the other way round).

    Args:
        template: (B, P, 3) or (P, 3) shape, in its own frame.
        partial: (B, K, 3) observed points.
        init: (B, 3) starting translation.
        iterations: ICP steps (each: nearest neighbours, then the mean residual added to ``t``).
    Returns:
        (B, 3) translation.
    """
    if partial.ndim != 3 or partial.shape[-1] != 3:
        raise ValueError(f"partial must be (B, K, 3), got {tuple(partial.shape)}")
    template = template.expand(len(partial), -1, -1) if template.ndim == 2 else template
    t = init.clone()
    for _ in range(iterations):
        _, index = nearest_neighbors(partial - t[:, None], template)
        nearest = torch.gather(template, 1, index[..., None].expand(-1, -1, 3))
        t = t + (partial - t[:, None] - nearest).mean(1)
    return t
