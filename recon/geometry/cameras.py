"""Pinhole camera functions: poses, intrinsics, projection (batched, differentiable torch).

Conventions (see docs/ARCHITECTURE.md):
- OpenCV camera axes: x right, y down, z forward.
- ``K (..., 3, 3)`` intrinsics in pixels. Pixel centres sit at integer coordinates: pixel
  ``(row v, col u)`` is the point ``(u, v)`` and the image centre is ``((W-1)/2, (H-1)/2)``.
- ``T_cw (..., 4, 4)`` world-to-camera: ``x_cam = R @ x_world + t``.
- Depth is z-depth (the camera-frame z coordinate), not the distance along the ray.

Every function accepts any number of leading batch dimensions written ``B`` below, keeps the
input dtype/device and is differentiable.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "camera_centers",
    "crop_resize_intrinsics",
    "intrinsics_from_focal",
    "intrinsics_from_fov",
    "invert_pose",
    "look_at",
    "pixel_grid",
    "project",
    "transform_points",
    "unproject",
]


def _normalize(v: Tensor, eps: float = 1e-12) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


def look_at(eye: Tensor, target: Tensor, up: Tensor) -> Tensor:
    """World-to-camera pose of cameras at ``eye`` looking at ``target`` (OpenCV axes).

    The camera z axis points from ``eye`` to ``target``; its y axis (image down) is the
    direction of ``-up`` projected onto the image plane, so ``up`` appears upwards in the image.

    Args:
        eye: (B, 3) camera centres in world coordinates.
        target: (B, 3) points the cameras look at.
        up: (B, 3) world up direction (must not be parallel to ``target - eye``).
    Returns:
        T_cw: (B, 4, 4) world-to-camera transforms.
    """
    eye, target, up = torch.broadcast_tensors(eye, target, up)
    z = _normalize(target - eye)
    x = _normalize(torch.cross(z, up, dim=-1))
    y = torch.cross(z, x, dim=-1)
    R = torch.stack([x, y, z], dim=-2)  # rows are the camera axes in world coordinates
    t = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    T = torch.zeros(eye.shape[:-1] + (4, 4), dtype=eye.dtype, device=eye.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def intrinsics_from_focal(focal_px: float | Tensor, H: int, W: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Intrinsics with square pixels and the principal point at the image centre.

    Args:
        focal_px: focal length in pixels, a float or a (B,) tensor.
        H, W: image height and width in pixels.
    Returns:
        K: (3, 3) for a float focal length, (B, 3, 3) for a (B,) tensor.
    """
    f = torch.as_tensor(focal_px, dtype=dtype if not torch.is_tensor(focal_px) else None)
    K = torch.zeros(f.shape + (3, 3), dtype=f.dtype, device=f.device)
    K[..., 0, 0] = f
    K[..., 1, 1] = f
    K[..., 0, 2] = (W - 1) / 2.0
    K[..., 1, 2] = (H - 1) / 2.0
    K[..., 2, 2] = 1.0
    return K


def intrinsics_from_fov(fov_deg: float | Tensor, H: int, W: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Intrinsics from the HORIZONTAL field of view (across the full width ``W``).

    ``f = (W / 2) / tan(fov / 2)``; square pixels; principal point at the image centre.

    Args:
        fov_deg: horizontal field of view in degrees, a float or a (B,) tensor.
        H, W: image height and width in pixels.
    Returns:
        K: (3, 3) for a float fov, (B, 3, 3) for a (B,) tensor.
    """
    if torch.is_tensor(fov_deg):
        f = (W / 2.0) / torch.tan(torch.deg2rad(fov_deg) / 2.0)
    else:
        f = (W / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return intrinsics_from_focal(f, H, W, dtype=dtype)


def crop_resize_intrinsics(K: Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> Tensor:
    """Intrinsics of an image cropped to ``box`` and then resized to ``size``.

    With pixel centres at integer coordinates, the crop moves a pixel ``u -> u - left`` and the resize from ``w``
    to ``W`` columns maps ``u -> (u + 0.5) * W / w - 0.5`` (rows likewise). So the first two rows of ``K`` scale by
    ``sx = W / w`` and ``sy = H / h``, and the principal point becomes ``(cx - left + 0.5) * sx - 0.5``,
    ``(cy - top + 0.5) * sy - 0.5``.

    Args:
        K: (B, 3, 3) intrinsics of the full image.
        box: ``(top, left, height, width)`` of the crop in pixels of the full image.
        size: ``(H, W)`` of the resized crop.
    Returns:
        (B, 3, 3) intrinsics of the cropped, resized image.
    """
    top, left, h, w = box
    H, W = size
    sx, sy = W / w, H / h
    out = K.clone()
    out[..., 0, :] = K[..., 0, :] * sx
    out[..., 1, :] = K[..., 1, :] * sy
    out[..., 0, 2] = (K[..., 0, 2] - left + 0.5) * sx - 0.5
    out[..., 1, 2] = (K[..., 1, 2] - top + 0.5) * sy - 0.5
    return out


def pixel_grid(H: int, W: int, *, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Homogeneous pixel coordinates in row-major order.

    Returns:
        (H*W, 3) rows ``(u, v, 1)`` with ``u`` the column and ``v`` the row index.
    """
    v, u = torch.meshgrid(
        torch.arange(H, dtype=dtype, device=device),
        torch.arange(W, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(-1, 3)


def project(points_cam: Tensor, K: Tensor) -> Tensor:
    """Project camera-frame points to pixel coordinates (points must have z > 0).

    Args:
        points_cam: (B, N, 3) points in the camera frame.
        K: (B, 3, 3) intrinsics.
    Returns:
        (B, N, 2) pixel coordinates ``(u, v)`` (column, row).
    """
    p = points_cam @ K.transpose(-1, -2)
    return p[..., :2] / p[..., 2:3]


def unproject(depth: Tensor, K: Tensor) -> Tensor:
    """Back-project every pixel of a z-depth map into the camera frame.

    Pixels with depth 0 map to the camera centre (0, 0, 0); mask them yourself.

    Args:
        depth: (B, 1, H, W) z-depth.
        K: (B, 3, 3) intrinsics.
    Returns:
        (B, H*W, 3) camera-frame points in row-major pixel order.
    """
    H, W = depth.shape[-2:]
    pix = pixel_grid(H, W, dtype=depth.dtype, device=depth.device)  # (H*W, 3)
    rays = pix @ torch.linalg.inv(K).transpose(-1, -2)  # (B, H*W, 3)
    rays = rays / rays[..., 2:3]  # unit z so that depth scales to z-depth exactly
    return rays * depth.reshape(depth.shape[:-3] + (H * W, 1))


def transform_points(T: Tensor, points: Tensor) -> Tensor:
    """Apply rigid/affine transforms to points.

    Args:
        T: (B, 4, 4) transforms.
        points: (B, N, 3) points.
    Returns:
        (B, N, 3) ``R @ p + t`` for every point.
    """
    return points @ T[..., :3, :3].transpose(-1, -2) + T[..., None, :3, 3]


def invert_pose(T: Tensor) -> Tensor:
    """Invert rigid transforms (rotation + translation), e.g. T_cw -> T_wc.

    Args:
        T: (B, 4, 4) rigid transforms.
    Returns:
        (B, 4, 4) inverses ``[R^T | -R^T t]``.
    """
    Rt = T[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ T[..., :3, 3:4]).squeeze(-1)
    out[..., 3, 3] = 1.0
    return out


def camera_centers(T_cw: Tensor) -> Tensor:
    """Camera centres in world coordinates.

    Args:
        T_cw: (B, 4, 4) world-to-camera transforms.
    Returns:
        (B, 3) ``-R^T t``.
    """
    return -(T_cw[..., :3, :3].transpose(-1, -2) @ T_cw[..., :3, 3:4]).squeeze(-1)
