"""What a real depth sensor does to a perfect depth map: pure, batched functions on ``(B, 1, H, W)`` z-depth maps.

The model follows the error budget of structured-light and time-of-flight RGB-D cameras (Khoshelham & Elberink,
"Accuracy and resolution of Kinect depth data", Sensors 2012; Nguyen et al., "Modeling Kinect sensor noise",
3DIMPVT 2012): axial noise whose standard deviation grows with the square of the distance, depth quantised in steps
that also grow with the square of the distance (disparity is quantised, depth is its reciprocal), no return where
the surface is seen at a grazing angle, at depth discontinuities (mixed pixels), or where it is too dark to reflect
the pattern. 0 means "no depth" everywhere, on input and output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.geometry.cameras import unproject

__all__ = [
    "axial_noise_std",
    "depth_edges",
    "grazing_mask",
    "normals_from_depth",
    "quantize_depth",
]


def _check_depth(depth: Tensor) -> None:
    if not isinstance(depth, Tensor) or depth.ndim != 4 or depth.shape[1] != 1:
        got = tuple(depth.shape) if isinstance(depth, Tensor) else type(depth).__name__
        raise ValueError(f"depth must be (B, 1, H, W), got {got}")


def normals_from_depth(depth: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """Camera-frame unit normals from central differences of the back-projected points, facing the camera.

    Args:
        depth: (B, 1, H, W) z-depth, 0 = none; K: (B, 3, 3) intrinsics in pixels of ``depth``.
    Returns:
        normals: (B, 3, H, W), zero where undefined; defined: (B, 1, H, W) bool, the pixel and its four neighbours
        have depth (image borders are undefined).
    """
    _check_depth(depth)
    B, _, H, W = depth.shape
    points = unproject(depth, K).transpose(1, 2).reshape(B, 3, H, W)
    has = depth > 0
    du = torch.zeros_like(points)
    dv = torch.zeros_like(points)
    du[..., 1:-1] = points[..., 2:] - points[..., :-2]
    dv[..., 1:-1, :] = points[..., 2:, :] - points[..., :-2, :]
    defined = torch.zeros_like(has)
    defined[..., 1:-1, 1:-1] = (
        has[..., 1:-1, 1:-1] & has[..., 1:-1, 2:] & has[..., 1:-1, :-2] & has[..., 2:, 1:-1] & has[..., :-2, 1:-1]
    )
    normals = F.normalize(torch.cross(du, dv, dim=1), dim=1, eps=1e-12)
    facing = (normals * points).sum(1, keepdim=True) > 0  # the normal must point towards the camera (origin)
    normals = torch.where(facing, -normals, normals)
    return torch.where(defined, normals, 0.0), defined


def grazing_mask(depth: Tensor, K: Tensor, max_angle_deg: float) -> Tensor:
    """Pixels whose surface is seen more obliquely than ``max_angle_deg`` (angle between the viewing ray and the
    normal), or whose normal is undefined. (B, 1, H, W) depth, (B, 3, 3) K -> (B, 1, H, W) bool."""
    normals, defined = normals_from_depth(depth, K)
    B, _, H, W = depth.shape
    rays = F.normalize(unproject(torch.ones_like(depth), K).transpose(1, 2).reshape(B, 3, H, W), dim=1)
    cosine = -(normals * rays).sum(1, keepdim=True)
    return ~defined | (cosine < torch.cos(torch.deg2rad(torch.tensor(float(max_angle_deg)))))


def depth_edges(depth: Tensor, relative_jump: float, width: int = 1) -> Tensor:
    """Pixels within ``width`` px of a depth discontinuity: a 4-neighbour whose depth differs by more than
    ``relative_jump`` times the nearer of the two, or that has no depth while the pixel has.
    (B, 1, H, W) -> (B, 1, H, W) bool."""
    _check_depth(depth)
    has = depth > 0
    padded = F.pad(depth, (1, 1, 1, 1), mode="replicate")
    edge = torch.zeros_like(has)
    H, W = depth.shape[-2:]
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        other = padded[..., 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W]
        near = torch.minimum(depth, other).clamp_min(1e-12)
        edge |= has & ((other <= 0) | ((depth - other).abs() > relative_jump * near))
    if width > 0:
        edge = F.max_pool2d(edge.float(), 2 * width + 1, stride=1, padding=width) > 0
    return edge & has


def axial_noise_std(depth: Tensor, base: float, quadratic: float) -> Tensor:
    """Standard deviation of the depth noise, ``base + quadratic * z**2`` (0 where there is no depth)."""
    return torch.where(depth > 0, base + quadratic * depth.square(), 0.0)


def quantize_depth(depth: Tensor, step_at_unit_depth: float) -> Tensor:
    """Depth rounded to the sensor's resolution: quantised disparity ``q = round(1 / (s z))`` back to depth
    ``1 / (s q)``, i.e. steps of about ``s z**2`` at depth ``z``. ``s <= 0`` returns the input; 0 stays 0."""
    if step_at_unit_depth <= 0:
        return depth
    has = depth > 0
    levels = torch.round(1.0 / (step_at_unit_depth * torch.where(has, depth, 1.0))).clamp_min(1)
    return torch.where(has, 1.0 / (step_at_unit_depth * levels), 0.0)
