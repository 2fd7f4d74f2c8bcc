"""Multi-view geometry: relative poses, plane-sweep warping, depth reprojection, geometric consistency.

Conventions (docs/ARCHITECTURE.md and :mod:`recon.geometry.cameras`):
- OpenCV camera axes (x right, y down, z forward); world-to-camera ``T_cw (B, 4, 4)``.
- ``K (B, 3, 3)`` in pixels *of the map it describes*: the intrinsics of a feature map at another resolution
  than the image are the image's intrinsics rescaled to it. Pixel centres sit at integer coordinates, so a map
  downsampled by ``s`` has ``K' = diag(1/s, 1/s, 1) @ [[1, 0, (1-s)/2], [0, 1, (1-s)/2], [0, 0, 1]] @ K``
  (i.e. ``u' = (u - (s - 1) / 2) / s``).
- Depth is z-depth in scene units, ``(B, 1, H, W)``, 0 = invalid.
- Sampling uses ``grid_sample(..., align_corners=True)`` with ``x_norm = 2 u / (W - 1) - 1``: normalised -1 and
  +1 are the centres of the first and last pixel, so a pixel coordinate ``u`` samples exactly pixel ``u``.
- A point is *in front* of a camera when its z-depth there exceeds the dtype's machine epsilon (scene units);
  points behind a camera get the pixel coordinates ``(-1, -1)``, which lie outside every image.

Every function keeps the device, computes in the widest floating dtype of its inputs (at least float32) and is
differentiable except for the returned masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.geometry.cameras import invert_pose, pixel_grid, project, transform_points, unproject

__all__ = [
    "INSIDE_TOLERANCE",
    "depth_to_world_points",
    "geometric_consistency",
    "homography_warp",
    "relative_pose",
    "reproject_depth",
]

# Pixels whose projection lands this close outside the first/last pixel centre still count as inside: exact border
# landings (identity or integer-shift warps) are computed as e.g. -1e-16, and a sample this far out blends in at
# most 0.1 % of padding.
INSIDE_TOLERANCE = 1e-3


def _check(name: str, t: Tensor, shape: tuple[int | None, ...], want: str) -> None:
    """Raise unless ``t`` is a floating tensor of ``shape`` (None: any size)."""
    if (
        not isinstance(t, Tensor)
        or t.ndim != len(shape)
        or any(s is not None and s != n for s, n in zip(shape, t.shape))
    ):
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be {want}, got {got}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")


def _check_cameras(B: int, **cameras: Tensor) -> None:
    for name, t in cameras.items():
        if name.startswith("K"):
            _check(name, t, (B, 3, 3), f"({B}, 3, 3) intrinsics")
        else:
            _check(name, t, (B, 4, 4), f"({B}, 4, 4) world-to-camera poses")


def _common_dtype(*tensors: Tensor) -> torch.dtype:
    """The widest floating dtype of ``tensors`` and float32; the tensors must share one device."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"all inputs must be on one device, got {sorted(map(str, devices))}")
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _to_pixels(points: Tensor, T_ba: Tensor, K_b: Tensor) -> tuple[Tensor, Tensor]:
    """Pixels and z-depths in camera b of points in camera a.

    Args:
        points: (B, ..., N, 3) points in camera a's frame.
        T_ba: (B, 4, 4) camera a to camera b.
        K_b: (B, 3, 3) intrinsics of camera b.
    Returns:
        uv: (B, ..., N, 2), ``(-1, -1)`` behind camera b; z: (B, ..., N) z-depth in camera b.
    """
    extra = (1,) * (points.ndim - 3)
    p = transform_points(T_ba.reshape(T_ba.shape[:1] + extra + (4, 4)), points)
    z = p[..., 2]
    in_front = (z > torch.finfo(z.dtype).eps).unsqueeze(-1)
    uv = project(torch.where(in_front, p, torch.ones_like(p)), K_b.reshape(K_b.shape[:1] + extra + (3, 3)))
    return torch.where(in_front, uv, torch.full_like(uv, -1.0)), z


def _backproject(uv: Tensor, z: Tensor, K: Tensor) -> Tensor:
    """Camera-frame points at pixels ``uv (B, N, 2)`` with z-depths ``z (B, N)``; ``K (B, 3, 3)`` -> (B, N, 3)."""
    rays = F.pad(uv, (0, 1), value=1.0) @ torch.linalg.inv(K).transpose(-1, -2)
    return rays / rays[..., 2:3] * z.unsqueeze(-1)


def _sample(maps: Tensor, uv: Tensor) -> Tensor:
    """Bilinearly sample ``maps (B, C, H, W)`` at pixels ``uv (B, h, w, 2)`` with zero padding -> (B, C, h, w)."""
    H, W = maps.shape[-2:]
    size = uv.new_tensor([W, H])
    # Beyond one pixel outside the image every sample is 0 with zero gradient; clamping keeps that but bounds
    # the coordinates of points close to the camera plane.
    grid = uv.clamp(min=-1.0).minimum(size) * (2.0 / (size - 1).clamp(min=1)) - 1.0
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _inside(uv: Tensor, H: int, W: int) -> Tensor:
    """``0 <= u <= W - 1`` and ``0 <= v <= H - 1`` up to ``INSIDE_TOLERANCE`` for ``uv (..., 2)`` -> (...) bool."""
    u, v = uv.unbind(-1)
    tol = INSIDE_TOLERANCE
    return (u >= -tol) & (u <= W - 1 + tol) & (v >= -tol) & (v <= H - 1 + tol)


def relative_pose(T_ref_cw: Tensor, T_src_cw: Tensor) -> Tensor:
    """Rigid transform from the reference to the source camera frame: ``x_src = T_src_ref @ x_ref``.

    Args:
        T_ref_cw: (B, 4, 4) world-to-reference-camera poses.
        T_src_cw: (B, 4, 4) world-to-source-camera poses.
    Returns:
        T_src_ref: (B, 4, 4) ``T_src_cw @ T_ref_cw^-1``.
    """
    for name, t in (("T_ref_cw", T_ref_cw), ("T_src_cw", T_src_cw)):
        if not isinstance(t, Tensor) or t.ndim < 2 or t.shape[-2:] != (4, 4):
            raise ValueError(f"{name} must be (B, 4, 4), got {tuple(t.shape) if isinstance(t, Tensor) else t}")
    return T_src_cw @ invert_pose(T_ref_cw)


def homography_warp(
    src_features: Tensor,
    K_ref: Tensor,
    K_src: Tensor,
    T_ref_cw: Tensor,
    T_src_cw: Tensor,
    depths: Tensor,
    ref_size: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor]:
    """Plane-sweep warp: source-view features seen from the reference view through depth hypotheses.

    For every reference pixel ``(u, v)`` and hypothesis ``d`` the point at z-depth ``d`` on the pixel's ray is
    projected into the source view and the source features are sampled there (bilinear, zero padding). With
    ``(B, D)`` depths these are the fronto-parallel planes ``z_ref = d`` of MVSNet (Yao et al., ECCV 2018), each
    inducing the homography ``K_src (R + t n^T / d) K_ref^-1`` with ``n = (0, 0, 1)`` and ``[R | t]`` the
    reference-to-source pose; ``(B, D, H, W)`` depths give per-pixel hypotheses (cascade models).

    Args:
        src_features: (B, C, Hs, Ws) source-view feature map.
        K_ref: (B, 3, 3) intrinsics of the reference grid, in its pixels.
        K_src: (B, 3, 3) intrinsics of ``src_features``, in its pixels.
        T_ref_cw, T_src_cw: (B, 4, 4) world-to-camera poses.
        depths: (B, D) plane depths or (B, D, H, W) per-pixel depth hypotheses, > 0, in scene units.
        ref_size: ``(H, W)`` of the reference grid for ``(B, D)`` depths (default: ``(Hs, Ws)``); must match
            per-pixel depths when given with them.
    Returns:
        warped: (B, C, D, H, W) sampled features. Zero padding: samples less than one pixel outside the first or
            last pixel centre blend with 0, samples farther out (or behind the source camera) are 0.
        inside: (B, 1, D, H, W) bool, True where the point is in front of the source camera and projects
            between the first and last pixel centres of ``src_features`` (up to :data:`INSIDE_TOLERANCE` pixels).
    """
    _check("src_features", src_features, (None,) * 4, "(B, C, Hs, Ws)")
    B, C, Hs, Ws = src_features.shape
    _check_cameras(B, K_ref=K_ref, K_src=K_src, T_ref_cw=T_ref_cw, T_src_cw=T_src_cw)
    if isinstance(depths, Tensor) and depths.ndim == 2:
        _check("depths", depths, (B, None), f"({B}, D) or ({B}, D, H, W)")
        H, W = ref_size if ref_size is not None else (Hs, Ws)
    else:
        _check("depths", depths, (B, None, None, None), f"({B}, D) or ({B}, D, H, W)")
        H, W = depths.shape[-2:]
        if ref_size is not None and tuple(ref_size) != (H, W):
            raise ValueError(f"ref_size {tuple(ref_size)} does not match depths of shape {tuple(depths.shape)}")
    D = depths.shape[1]
    if D == 0 or not (isinstance(H, int) and isinstance(W, int) and H > 0 and W > 0):
        raise ValueError(f"need at least one depth hypothesis on a non-empty grid, got D={D}, (H, W)=({H}, {W})")
    dtype = _common_dtype(src_features, K_ref, K_src, T_ref_cw, T_src_cw, depths)
    K_ref, K_src, T_ref_cw, T_src_cw, depths = (t.to(dtype) for t in (K_ref, K_src, T_ref_cw, T_src_cw, depths))
    if depths.ndim == 2:
        depths = depths[:, :, None, None].expand(B, D, H, W)
    with torch.autocast(src_features.device.type, enabled=False):  # pixel coordinates need fp32 under AMP
        points = unproject(depths.unsqueeze(2), K_ref[:, None])  # (B, D, H*W, 3) in the reference
        uv, _ = _to_pixels(points, relative_pose(T_ref_cw, T_src_cw), K_src)  # (B, D, H*W, 2)
    uv = uv.reshape(B, D * H, W, 2)
    warped = _sample(src_features.to(dtype), uv).reshape(B, C, D, H, W)
    inside = _inside(uv, Hs, Ws).reshape(B, 1, D, H, W)
    return warped, inside


def depth_to_world_points(depth: Tensor, K: Tensor, T_cw: Tensor) -> Tensor:
    """World coordinates of every pixel of a z-depth map.

    Args:
        depth: (B, 1, H, W) z-depth; pixels with depth 0 map to the camera centre (mask them yourself).
        K: (B, 3, 3) intrinsics.
        T_cw: (B, 4, 4) world-to-camera poses.
    Returns:
        (B, H, W, 3) world points.
    """
    _check("depth", depth, (None, 1, None, None), "(B, 1, H, W)")
    B, _, H, W = depth.shape
    _check_cameras(B, K=K, T_cw=T_cw)
    dtype = _common_dtype(depth, K, T_cw)
    points = unproject(depth.to(dtype), K.to(dtype))
    return transform_points(invert_pose(T_cw.to(dtype)), points).reshape(B, H, W, 3)


def reproject_depth(
    depth_ref: Tensor, K_ref: Tensor, T_ref_cw: Tensor, K_src: Tensor, T_src_cw: Tensor
) -> tuple[Tensor, Tensor]:
    """Where each reference pixel's 3D point lands in the source view, and at which source z-depth.

    Args:
        depth_ref: (B, 1, H, W) reference z-depth.
        K_ref, T_ref_cw: (B, 3, 3) intrinsics and (B, 4, 4) pose of the reference camera.
        K_src, T_src_cw: (B, 3, 3) intrinsics and (B, 4, 4) pose of the source camera.
    Returns:
        uv_src: (B, H, W, 2) source pixel coordinates ``(u, v)`` (column, row); ``(-1, -1)`` where the point is
            behind the source camera.
        z_src: (B, H, W) z-depth of the point in the source camera (<= 0 behind it).
        Both are meaningless where ``depth_ref`` is 0 (the point is the reference camera centre).
    """
    _check("depth_ref", depth_ref, (None, 1, None, None), "(B, 1, H, W)")
    B, _, H, W = depth_ref.shape
    _check_cameras(B, K_ref=K_ref, T_ref_cw=T_ref_cw, K_src=K_src, T_src_cw=T_src_cw)
    dtype = _common_dtype(depth_ref, K_ref, T_ref_cw, K_src, T_src_cw)
    depth_ref, K_ref, T_ref_cw, K_src, T_src_cw = (t.to(dtype) for t in (depth_ref, K_ref, T_ref_cw, K_src, T_src_cw))
    uv, z = _to_pixels(unproject(depth_ref, K_ref), relative_pose(T_ref_cw, T_src_cw), K_src)
    return uv.reshape(B, H, W, 2), z.reshape(B, H, W)


def geometric_consistency(
    depth_ref: Tensor,
    K_ref: Tensor,
    T_ref_cw: Tensor,
    depth_src: Tensor,
    K_src: Tensor,
    T_src_cw: Tensor,
    pixel_threshold: float = 1.0,
    relative_depth_threshold: float = 0.01,
) -> Tensor:
    """Reference pixels whose depth agrees with a source depth map (MVSNet / Gipuma fusion check).

    Each reference pixel's point is projected into the source view (:func:`reproject_depth`); ``depth_src`` is
    sampled there *bilinearly* (as ``cv2.remap(..., INTER_LINEAR)`` in MVSNet's fusion), the source point at that
    depth is projected back into the reference view, and the pixel passes when

    - the back-projected pixel is less than ``pixel_threshold`` pixels (Euclidean) from the original pixel, and
    - ``|z_back - depth_ref| / depth_ref < relative_depth_threshold`` (``z_back``: its reference z-depth).

    Pixels fail where ``depth_ref`` is 0, where the point is behind the source camera or projects outside
    ``depth_src`` (outside the first/last pixel centres, up to :data:`INSIDE_TOLERANCE`), and where the bilinear
    sample mixes in an invalid (0) source pixel: a mean with a 0 is no depth.

    Args:
        depth_ref: (B, 1, H, W) reference z-depth, 0 = invalid.
        K_ref, T_ref_cw: (B, 3, 3) intrinsics (pixels of ``depth_ref``) and (B, 4, 4) pose of the reference.
        depth_src: (B, 1, Hs, Ws) source z-depth, 0 = invalid; may differ in size from ``depth_ref``.
        K_src, T_src_cw: (B, 3, 3) intrinsics (pixels of ``depth_src``) and (B, 4, 4) pose of the source.
        pixel_threshold: largest reprojection error in pixels (exclusive, > 0).
        relative_depth_threshold: largest relative depth difference (exclusive, > 0).
    Returns:
        consistent: (B, 1, H, W) bool.
    """
    if not pixel_threshold > 0 or not relative_depth_threshold > 0:
        raise ValueError(
            f"thresholds must be > 0, got pixel_threshold={pixel_threshold}, "
            f"relative_depth_threshold={relative_depth_threshold}"
        )
    uv_src, _ = reproject_depth(depth_ref, K_ref, T_ref_cw, K_src, T_src_cw)  # (-1, -1) behind the source
    B, _, H, W = depth_ref.shape
    _check("depth_src", depth_src, (B, 1, None, None), f"({B}, 1, Hs, Ws)")
    dtype = _common_dtype(uv_src, depth_src)
    Hs, Ws = depth_src.shape[-2:]
    depth_ref, K_ref, T_ref_cw, K_src, T_src_cw, depth_src, uv_src = (
        t.to(dtype) for t in (depth_ref, K_ref, T_ref_cw, K_src, T_src_cw, depth_src, uv_src)
    )
    sampled = _sample(torch.cat([depth_src, (depth_src > 0).to(dtype)], dim=1), uv_src)  # (B, 2, H, W)
    d_src, valid_weight = sampled[:, 0].flatten(1), sampled[:, 1].flatten(1)
    points_src = _backproject(uv_src.flatten(1, 2), d_src, K_src)
    uv_back, z_back = _to_pixels(points_src, relative_pose(T_src_cw, T_ref_cw), K_ref)
    pixels = pixel_grid(H, W, dtype=dtype, device=depth_ref.device)[:, :2]
    d_ref = depth_ref.flatten(1)
    ok = (
        (d_ref > 0)
        & _inside(uv_src.flatten(1, 2), Hs, Ws)
        & (valid_weight > 1 - 1e-4)  # invalid source neighbours hold < 1e-4 of the bilinear weight
        & (z_back > 0)
        & ((uv_back - pixels).norm(dim=-1) < pixel_threshold)
        & ((z_back - d_ref).abs() < relative_depth_threshold * d_ref)
    )
    return ok.reshape(B, 1, H, W)
