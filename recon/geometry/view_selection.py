"""View selection for multi-view stereo: MVSNet's pairwise view score (the ``pair.txt`` of its datasets).

Yao et al., "MVSNet: Depth Inference for Unstructured Multi-view Stereo", ECCV 2018, Sec. 4.1: views i and j score

    s(i, j) = sum over points p seen by both views of G(theta_ij(p)),

with ``theta_ij(p)`` the angle (degrees) between the rays from ``p`` to the two camera centres and the piecewise
Gaussian ``G(theta) = exp(-(theta - theta0)^2 / (2 sigma^2))``, ``sigma = sigma_below`` for ``theta <= theta0`` and
``sigma_above`` above (MVSNet: ``theta0 = 5, sigma_below = 1, sigma_above = 10``): baselines giving about 5 degrees
of parallax are preferred, smaller ones fall off fast, larger ones slowly.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["view_selection_scores", "select_views"]


def view_selection_scores(points: Tensor, centers: Tensor, visible: Tensor, theta0: float = 5.0,
                          sigma_below: float = 1.0, sigma_above: float = 10.0) -> Tensor:
    """MVSNet's score of every pair of views.

    Args:
        points: (B, P, 3) world points (e.g. ground-truth surface samples or sparse SfM points).
        centers: (B, V, 3) camera centres, world frame.
        visible: (B, V, P) bool, view v sees point p.
        theta0, sigma_below, sigma_above: the piecewise Gaussian, degrees.
    Returns:
        (B, V, V) scores, symmetric, 0 on the diagonal and for views that share no point.
    """
    rays = points[:, None] - centers[:, :, None]                      # (B, V, P, 3)
    rays = rays / rays.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = torch.einsum("bipk,bjpk->bijp", rays, rays).clamp(-1.0, 1.0)  # (B, V, V, P)
    theta = torch.rad2deg(torch.acos(cos))
    sigma = torch.where(theta <= theta0, sigma_below, sigma_above)
    g = torch.exp(-((theta - theta0) ** 2) / (2 * sigma ** 2))
    shared = visible[:, :, None] & visible[:, None, :]
    scores = (g * shared).sum(-1)
    scores = 0.5 * (scores + scores.transpose(-1, -2))  # exactly symmetric (the sums round differently)
    return scores * (1 - torch.eye(scores.shape[-1], dtype=scores.dtype, device=scores.device))


def select_views(scores: Tensor, num_source: int) -> Tensor:
    """Every view as reference with its ``num_source`` best-scoring other views.

    Args:
        scores: (..., V, V) pairwise scores (the diagonal is ignored).
        num_source: sources per reference, ``1 <= num_source <= V - 1``.
    Returns:
        (..., V, 1 + num_source) int64 view indices: ``[..., v, 0] = v`` (the reference), then its sources by
        decreasing score; equal scores keep the lower view index first.
    """
    V = scores.shape[-1]
    if not 1 <= num_source <= V - 1:
        raise ValueError(f"num_source must be in [1, {V - 1}] for {V} views, got {num_source}")
    eye = torch.eye(V, dtype=torch.bool, device=scores.device)
    order = torch.argsort(scores.masked_fill(eye, float("-inf")), dim=-1, descending=True, stable=True)
    ref = torch.arange(V, device=scores.device).expand(scores.shape[:-1])
    return torch.cat([ref[..., None], order[..., :num_source]], dim=-1)
