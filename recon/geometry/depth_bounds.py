"""Per-view depth ranges from a scene's bounding volume: what a user knows without per-view ground truth.

The volume is a union of axis-aligned boxes. The range of a view is the z-depth interval that the volume occupies
along the view's pixel-centre rays: ``near`` the smallest depth at which a ray enters a box, ``far`` the largest at
which one leaves a box (slab method). Every surface point inside the volume that a pixel centre sees therefore has
its depth in ``[near, far]``, and the range depends only on the volume and the camera, not on where the objects
inside it are.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["box_depth_ranges"]


def box_depth_ranges(box: Tensor, K: Tensor, T_cw: Tensor, H: int, W: int, min_near: float = 1e-3) -> Tensor:
    """``(near, far)`` of every view from a union of axis-aligned world boxes.

    Args:
        box: (2, 3) world-frame ``[min corner, max corner]``, or (N, 2, 3) for the union of N boxes.
        K: (V, 3, 3) intrinsics in pixels (pixel centres at integer coordinates); T_cw: (V, 4, 4) world-to-camera.
        H, W: image size.
        min_near: smallest ``near`` (a camera inside the box sees it from depth 0 on).
    Returns:
        (V, 2) float32 ``(near, far)``. Raises ``ValueError`` naming the views whose pixel rays all miss the box.
    """
    box, K, T_cw = box.double(), K.double(), T_cw.double()
    boxes = box.reshape(-1, 2, 3)
    if box.shape[-2:] != (2, 3) or box.ndim > 3 or not bool((boxes[:, 1] > boxes[:, 0]).all()):
        raise ValueError(f"box must be (2, 3) or (N, 2, 3) [min corner, max corner] with min < max, got {box.tolist()}")
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    pixels = torch.stack([u, v, torch.ones_like(u)], -1).reshape(-1, 3)  # (HW, 3)
    R, t = T_cw[:, :3, :3], T_cw[:, :3, 3]
    rays_cam = pixels @ torch.linalg.inv(K).transpose(-1, -2)  # (V, HW, 3), camera-frame z = 1: ray t = z-depth
    rays = rays_cam @ R  # world directions (R^T d)
    centre = -(R.transpose(-1, -2) @ t[..., None])[..., 0]  # (V, 3)
    inv = (1.0 / rays)[:, None]  # (V, 1, HW, 3); +-inf for axis-parallel rays: the slab test still holds
    offset = centre[:, None, None]  # (V, 1, 1, 3)
    t0 = (boxes[:, 0, None] - offset) * inv  # (V, N, HW, 3)
    t1 = (boxes[:, 1, None] - offset) * inv
    enter = torch.minimum(t0, t1).nan_to_num(nan=-torch.inf).amax(-1).clamp(min=0.0)  # (V, N, HW)
    leave = torch.maximum(t0, t1).nan_to_num(nan=torch.inf).amin(-1)
    hit = (leave > enter).flatten(1)  # (V, N * HW)
    enter, leave = enter.flatten(1), leave.flatten(1)
    if not bool(hit.any(-1).all()):
        views = (~hit.any(-1)).nonzero()[:, 0].tolist()
        raise ValueError(f"the scene's bounding box {box.tolist()} is outside the image of view(s) {views}")
    near = torch.where(hit, enter, torch.inf).amin(-1).clamp(min=min_near)
    far = torch.where(hit, leave, -torch.inf).amax(-1)
    return torch.stack([near, far], -1).float()
