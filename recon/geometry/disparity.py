"""Rectified-stereo functions: disparity <-> depth, warping by disparity, left-right checks, hole filling.

Conventions (docs/ARCHITECTURE.md):
- Disparity maps are ``(B, 1, H, W)`` in pixels. A *left* disparity ``d_L`` is positive and maps left pixel
  ``x`` to right pixel ``x - d_L``; a *right* disparity ``d_R`` is positive and maps right pixel ``x`` to left
  pixel ``x + d_R``. 0 marks an invalid pixel in stored data; functions take explicit masks where it matters.
- ``depth = focal * baseline / disparity`` (z-depth in the baseline's units, focal length in pixels).
- Pixel centres sit at integer coordinates (column ``u`` is the point ``x = u``), so sampling uses
  ``grid_sample(..., align_corners=True)``: normalised -1 and +1 are the centres of the first and last pixel.

Every function keeps the input dtype and device; the depth conversions and the warp are differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "depth_to_disparity",
    "disparity_to_depth",
    "fill_disparity_holes",
    "left_right_consistency",
    "warp_right_to_left",
]


def _check_maps(name: str, t: Tensor, channels: int | None = 1) -> None:
    if not isinstance(t, Tensor) or t.ndim != 4 or (channels is not None and t.shape[1] != channels):
        want = "(B, C, H, W)" if channels is None else f"(B, {channels}, H, W)"
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be {want}, got {got}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")


def _check_mask(name: str, mask: Tensor, like: Tensor) -> None:
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != like.shape:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a bool tensor of shape {tuple(like.shape)}, got {got}")


def _per_image(name: str, value: float | Tensor, like: Tensor) -> Tensor:
    """A float, () or (B,) tensor as a (B or 1, 1, 1, 1) tensor broadcastable against ``like (B, 1, H, W)``."""
    v = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if v.ndim == 0:
        return v.reshape(1, 1, 1, 1)
    if v.ndim != 1 or v.shape[0] != like.shape[0]:
        raise ValueError(f"{name} must be a float or a ({like.shape[0]},) tensor, got shape {tuple(v.shape)}")
    return v.reshape(-1, 1, 1, 1)


def _reciprocal_scaled(x: Tensor, focal, baseline, valid: Tensor | None, names: tuple[str, str]) -> Tensor:
    """``focal * baseline / x`` where ``valid`` and ``x > 0``, else 0 (with zero, not NaN, gradients there)."""
    _check_maps(names[0], x)
    ok = x > 0
    if valid is not None:
        _check_mask(names[1], valid, x)
        ok = ok & valid
    fb = _per_image("focal", focal, x) * _per_image("baseline", baseline, x)
    safe = torch.where(ok, x, torch.ones_like(x))
    return torch.where(ok, fb / safe, torch.zeros_like(x))


def disparity_to_depth(
    disparity: Tensor, focal: float | Tensor, baseline: float | Tensor, valid: Tensor | None = None
) -> Tensor:
    """Z-depth of a left disparity map: ``depth = focal * baseline / disparity``.

    Args:
        disparity: (B, 1, H, W) left disparity in pixels.
        focal: focal length in pixels, a float or a (B,) tensor.
        baseline: camera baseline in scene units, a float or a (B,) tensor.
        valid: optional (B, 1, H, W) bool mask. Pixels outside it, or with ``disparity <= 0``, get depth 0.
    Returns:
        depth: (B, 1, H, W) in the units of ``baseline``, 0 where invalid.
    """
    return _reciprocal_scaled(disparity, focal, baseline, valid, ("disparity", "valid"))


def depth_to_disparity(
    depth: Tensor, focal: float | Tensor, baseline: float | Tensor, valid: Tensor | None = None
) -> Tensor:
    """Left disparity of a z-depth map: ``disparity = focal * baseline / depth`` (inverse of
    :func:`disparity_to_depth`).

    Args:
        depth: (B, 1, H, W) z-depth in scene units.
        focal, baseline: as in :func:`disparity_to_depth`.
        valid: optional (B, 1, H, W) bool mask. Pixels outside it, or with ``depth <= 0``, get disparity 0.
    Returns:
        disparity: (B, 1, H, W) in pixels, 0 where invalid.
    """
    return _reciprocal_scaled(depth, focal, baseline, valid, ("depth", "valid"))


def warp_right_to_left(
    right: Tensor, disparity: Tensor, mode: str = "bilinear", padding_mode: str = "zeros"
) -> tuple[Tensor, Tensor]:
    """Resample a right-view map into the left view: ``warped[..., y, x] = right[..., y, x - disparity[y, x]]``.

    With an exact left disparity, ``warped`` reproduces the left image wherever the point is visible in the
    right view. Sampling is along the row only (no vertical interpolation), differentiable w.r.t. both inputs
    in ``"bilinear"`` mode.

    Args:
        right: (B, C, H, W) right image (or any right-view map, e.g. a right disparity).
        disparity: (B, 1, H, W) left disparity in pixels.
        mode: ``"bilinear"`` or ``"nearest"`` (``grid_sample`` modes; nearest rounds half to even).
        padding_mode: ``grid_sample`` padding for samples outside the image: ``"zeros"`` (default),
            ``"border"`` or ``"reflection"``.
    Returns:
        warped: (B, C, H, W) in the dtype of ``right``.
        in_bounds: (B, 1, H, W) bool, True where ``0 <= x - disparity <= W - 1`` (the sample lies between the
            first and last pixel centre, so no padding was used).
    """
    _check_maps("right", right, channels=None)
    _check_maps("disparity", disparity)
    B, _, H, W = right.shape
    if disparity.shape[0] != B or disparity.shape[2:] != (H, W):
        raise ValueError(f"disparity must be ({B}, 1, {H}, {W}) to match right, got {tuple(disparity.shape)}")
    if right.device != disparity.device:
        raise ValueError(f"right and disparity must be on one device, got {right.device} and {disparity.device}")
    disparity = disparity.to(right.dtype)
    cols = torch.arange(W, dtype=right.dtype, device=right.device).reshape(1, W)
    rows = torch.arange(H, dtype=right.dtype, device=right.device).reshape(H, 1)
    x_src = cols - disparity[:, 0]  # (B, H, W) source column in the right view
    gx = x_src * (2.0 / max(W - 1, 1)) - 1.0
    gy = (rows * (2.0 / max(H - 1, 1)) - 1.0).expand_as(gx)
    grid = torch.stack([gx, gy], dim=-1)  # (B, H, W, 2), (x, y) order
    warped = F.grid_sample(right, grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    in_bounds = ((x_src >= 0) & (x_src <= W - 1)).unsqueeze(1)
    return warped, in_bounds


def left_right_consistency(disp_left: Tensor, disp_right: Tensor, threshold: float = 1.0) -> Tensor:
    """Left pixels whose disparity agrees with the right disparity at their match.

    For left pixel ``x`` the match is right pixel ``round(x - d_L(x))``; the pixel passes when that column is
    inside the image and ``|d_L(x) - d_R(round(x - d_L(x)))| <= threshold``. Occluded pixels and mismatches
    fail. The check is purely geometric: 0 (invalid) disparities are not special-cased, so AND the result with
    the valid masks of both maps where they have any.

    Args:
        disp_left: (B, 1, H, W) left disparity (``x_right = x_left - d_L``).
        disp_right: (B, 1, H, W) right disparity (``x_left = x_right + d_R``), positive.
        threshold: largest accepted absolute difference in pixels (>= 0).
    Returns:
        consistent: (B, 1, H, W) bool.
    """
    _check_maps("disp_left", disp_left)
    _check_maps("disp_right", disp_right)
    if disp_left.shape != disp_right.shape:
        raise ValueError(
            f"disp_left and disp_right must have one shape, got {tuple(disp_left.shape)} and {tuple(disp_right.shape)}"
        )
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    sampled, in_bounds = warp_right_to_left(disp_right, disp_left, mode="nearest")
    return in_bounds & ((disp_left.to(sampled.dtype) - sampled).abs() <= threshold)


def _fill_along(values: Tensor, valid: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """KITTI-style fill along ``dim``: each invalid entry takes the smaller of the nearest valid values before and
    after it, or the only one that exists. Returns the filled values and where a valid value existed on the line.
    """
    n = values.shape[dim]
    shape = [1] * values.ndim
    shape[dim] = n
    index = torch.arange(n, device=values.device).reshape(shape).expand_as(values)
    before = torch.where(valid, index, -1).cummax(dim).values  # nearest valid at or before, -1: none
    after = torch.where(valid, index, n).flip(dim).cummin(dim).values.flip(dim)  # at or after, n: none
    has_before, has_after = before >= 0, after < n
    v_before = values.gather(dim, before.clamp(min=0))
    v_after = values.gather(dim, after.clamp(max=n - 1))
    fill = torch.where(
        has_before & has_after, torch.minimum(v_before, v_after), torch.where(has_before, v_before, v_after)
    )
    return torch.where(valid, values, fill), has_before | has_after


def fill_disparity_holes(disparity: Tensor, valid: Tensor) -> Tensor:
    """Dense disparity from a sparse one by background interpolation, as the KITTI stereo devkit does before
    scoring (``DisparityImage::interpolateBackground`` in ``devkit/cpp/io_disp.h``).

    Row pass: every run of invalid pixels enclosed by valid pixels on both sides of its row gets the *smaller*
    (farther, background) of the two enclosing disparities; runs touching the left or right border get the
    nearest valid disparity of the row. Column pass: rows with no valid pixel take, per column, the same rule
    from the nearest filled rows above and below. The devkit's column pass only extrapolates to the top and
    bottom, leaving fully invalid rows *between* valid rows unfilled; here those get the smaller of the two
    enclosing rows instead (identical results whenever the devkit fills everything). A map with no valid pixel
    at all becomes 0.

    Args:
        disparity: (B, 1, H, W) disparity; values outside ``valid`` are ignored.
        valid: (B, 1, H, W) bool.
    Returns:
        filled: (B, 1, H, W), equal to ``disparity`` on ``valid``.
    """
    _check_maps("disparity", disparity)
    _check_mask("valid", valid, disparity)
    rows_filled, row_has_valid = _fill_along(disparity, valid, dim=-1)
    filled, has_valid = _fill_along(rows_filled, row_has_valid, dim=-2)
    return torch.where(has_valid, filled, torch.zeros_like(filled))
