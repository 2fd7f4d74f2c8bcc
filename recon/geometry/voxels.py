"""Occupancy grids on a cube around an object centre: voxel positions, IoU, bit packing, surface read-out.

Grid convention (used by the occupancy data and the voxel models): a grid of resolution ``R`` and half-size
``extent`` covers the axis-aligned cube ``center + [-extent, extent]^3`` of the frame ``center`` is given in
(the camera frame for single-view data). Voxel ``[i, j, k]`` is the cell of side ``2 * extent / R`` whose centre is
``center + (-extent + (i + 0.5) * voxel, -extent + (j + 0.5) * voxel, -extent + (k + 0.5) * voxel)``: the three
grid axes are x, y, z in that order. Batched grids are ``(B, 1, R, R, R)`` (a channel axis, like masks).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "grid_offsets",
    "grid_points",
    "occupancy_iou",
    "pack_occupancy",
    "surface_points",
    "unpack_occupancy",
    "voxel_size",
]


def voxel_size(resolution: int, extent: float) -> float:
    """Side of one voxel: ``2 * extent / resolution``."""
    return 2.0 * float(extent) / int(resolution)


def grid_offsets(resolution: int, extent: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """Voxel centres relative to the grid centre, ``(R, R, R, 3)`` indexed ``[i, j, k] -> (x, y, z)``."""
    if resolution < 1 or not extent > 0:
        raise ValueError(f"resolution must be >= 1 and extent > 0, got {resolution}, {extent}")
    s = -extent + (torch.arange(resolution, dtype=torch.float64) + 0.5) * voxel_size(resolution, extent)
    return torch.stack(torch.meshgrid(s, s, s, indexing="ij"), dim=-1).to(dtype=dtype, device=device)


def grid_points(center: torch.Tensor, resolution: int, extent: float) -> torch.Tensor:
    """Voxel centres of grids around ``center (B, 3)``: ``(B, R, R, R, 3)`` in the frame of ``center``."""
    return center[:, None, None, None, :] + grid_offsets(resolution, extent, center.dtype, center.device)


def occupancy_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-sample intersection over union of boolean grids ``(B, ...)``; ``(B,)`` float32, 1 where both are empty."""
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    pred, gt = pred.bool().flatten(1), gt.bool().flatten(1)
    inter = (pred & gt).sum(1).float()
    union = (pred | gt).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def pack_occupancy(occupancy: np.ndarray) -> np.ndarray:
    """Boolean grids ``(..., R, R, R)`` -> ``(..., ceil(R**3 / 8))`` uint8 (C order, big-endian bits)."""
    occupancy = np.asarray(occupancy, dtype=bool)
    return np.packbits(occupancy.reshape(*occupancy.shape[:-3], -1), axis=-1)


def unpack_occupancy(packed, resolution: int) -> torch.Tensor:
    """Inverse of :func:`pack_occupancy`: ``(..., nbytes)`` uint8 array or tensor -> ``(..., R, R, R)`` bool."""
    packed = np.asarray(packed, dtype=np.uint8)
    bits = np.unpackbits(packed, axis=-1, count=resolution**3)
    return torch.from_numpy(bits.view(bool)).reshape(*packed.shape[:-1], resolution, resolution, resolution)


def surface_points(
    probability: torch.Tensor, center: torch.Tensor, extent: float, num_points: int, level: float = 0.5, seed: int = 0
) -> torch.Tensor:
    """Points on the ``level`` iso-surface of occupancy grids, for point metrics and export (not differentiable).

    Marching cubes (scikit-image) on each grid, padded with one empty voxel on every side so the surface is closed
    at the cube's faces, then ``num_points`` samples uniform by area (a fixed ``seed``: the same grid always gives
    the same points). A grid with no voxel above ``level`` gives its most probable voxel centre, repeated.

    Args:
        probability: ``(B, 1, R, R, R)`` or ``(B, R, R, R)`` occupancy probabilities (see the module's convention).
        center: ``(B, 3)`` grid centres.  extent: grid half-size.  num_points: points per grid.
    Returns:
        ``(B, num_points, 3)`` in the frame of ``center``, dtype and device of ``center``.
    """
    from skimage.measure import marching_cubes

    if probability.dim() == 5:
        probability = probability[:, 0]
    B, R = probability.shape[0], probability.shape[-1]
    voxel = voxel_size(R, extent)
    grids = probability.detach().float().cpu().numpy()
    rng = np.random.default_rng(seed)
    out = np.empty((B, num_points, 3), np.float64)
    for b, grid in enumerate(grids):
        if grid.max() <= level:
            idx = np.array(np.unravel_index(grid.argmax(), grid.shape), np.float64)
            out[b] = -extent + (idx + 0.5) * voxel
            continue
        verts, faces, _, _ = marching_cubes(np.pad(grid, 1), level=level)
        verts = -extent + (verts - 1 + 0.5) * voxel  # padded index -> offset from the centre
        tri = verts[faces]
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        cdf = np.cumsum(area)
        face = np.minimum(np.searchsorted(cdf, rng.random(num_points) * cdf[-1], side="right"), len(cdf) - 1)
        r1, r2 = np.sqrt(rng.random(num_points)), rng.random(num_points)
        w = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], 1)
        out[b] = np.einsum("nk,nkd->nd", w, tri[face])
    return torch.from_numpy(out).to(dtype=center.dtype, device=center.device) + center[:, None, :]
