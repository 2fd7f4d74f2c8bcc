"""View selection for multi-view stereo: MVSNet's pairwise view score (the ``pair.txt`` of its datasets).

Yao et al., "MVSNet: Depth Inference for Unstructured Multi-view Stereo", ECCV 2018, Sec. 4.1: views i and j score

    s(i, j) = sum over points p seen by both views of G(theta_ij(p)),

with ``theta_ij(p)`` the angle (degrees) between the rays from ``p`` to the two camera centres and the piecewise
Gaussian ``G(theta) = exp(-(theta - theta0)^2 / (2 sigma^2))``, ``sigma = sigma_below`` for ``theta <= theta0`` and
``sigma_above`` above (MVSNet: ``theta0 = 5, sigma_below = 1, sigma_above = 10``): baselines giving about 5 degrees
of parallax are preferred, smaller ones fall off fast, larger ones slowly.

Without points (real image sets that come without MVSNet's ``pair.txt``), :func:`optical_axis_scores` ranks views by
how closely their viewing directions agree with the reference's, skipping views too close to it to triangulate.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["optical_axis_scores", "select_views", "view_selection_scores"]


def view_selection_scores(
    points: Tensor,
    centers: Tensor,
    visible: Tensor,
    theta0: float = 5.0,
    sigma_below: float = 1.0,
    sigma_above: float = 10.0,
) -> Tensor:
    """MVSNet's score of every pair of views.

    Args:
        points: (B, P, 3) world points (e.g. ground-truth surface samples or sparse SfM points).
        centers: (B, V, 3) camera centres, world frame.
        visible: (B, V, P) bool, view v sees point p.
        theta0, sigma_below, sigma_above: the piecewise Gaussian, degrees.
    Returns:
        (B, V, V) scores, symmetric, 0 on the diagonal and for views that share no point.
    """
    rays = points[:, None] - centers[:, :, None]  # (B, V, P, 3)
    rays = rays / rays.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = torch.einsum("bipk,bjpk->bijp", rays, rays).clamp(-1.0, 1.0)  # (B, V, V, P)
    theta = torch.rad2deg(torch.acos(cos))
    sigma = torch.where(theta <= theta0, sigma_below, sigma_above)
    g = torch.exp(-((theta - theta0) ** 2) / (2 * sigma**2))
    shared = visible[:, :, None] & visible[:, None, :]
    scores = (g * shared).sum(-1)
    scores = 0.5 * (scores + scores.transpose(-1, -2))  # exactly symmetric (the sums round differently)
    return scores * (1 - torch.eye(scores.shape[-1], dtype=scores.dtype, device=scores.device))


def optical_axis_scores(T_cw: Tensor, min_baseline: Tensor | float) -> Tensor:
    """View-selection scores from the cameras alone: the cosine of the angle between two views' optical axes, so
    views looking the same way at the scene (most overlap, least perspective change) come first; views whose
    camera centre lies less than ``min_baseline`` from the reference's (no parallax: duplicates, pure rotations)
    score below every other view (by 3) and are chosen only when no other view is left.

    Args:
        T_cw: (..., V, 4, 4) world-to-camera poses; a view's optical axis is the third row of its rotation.
        min_baseline: (..., V) per reference view, or a scalar; scene units.
    Returns:
        (..., V, V) scores, ``[..., i, j]`` of source ``j`` for reference ``i`` (symmetric for a scalar
        ``min_baseline``); for :func:`select_views`, which ignores the diagonal.
    """
    axes = T_cw[..., 2, :3]  # (..., V, 3) world-frame z axes
    R, t = T_cw[..., :3, :3], T_cw[..., :3, 3:]
    centers = -(R.transpose(-1, -2) @ t).squeeze(-1)  # (..., V, 3)
    cos = (axes @ axes.transpose(-1, -2)).clamp(-1.0, 1.0)
    distance = (centers[..., :, None, :] - centers[..., None, :, :]).norm(dim=-1)
    near = distance < torch.as_tensor(min_baseline, dtype=cos.dtype, device=cos.device).unsqueeze(-1)
    return cos - 3.0 * near.to(cos.dtype)


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
