"""RGB-D frames as depth cameras and their datasets store them: a colour image, a 16-bit depth PNG and intrinsics.

Conventions (TUM RGB-D, Redwood / Open3D, ScanNet and most sensor SDKs):

- depth: a single-channel **16-bit** PNG of the same size as the colour image, ``depth = value / depth_scale``
  (TUM: 5000 per metre, Redwood / ScanNet / Open3D: 1000 per metre), 0 = no measurement;
- intrinsics, one of: a text file with the 9 numbers of ``K`` (row-major 3x3), a text file ``fx fy cx cy`` (TUM's
  calibration values), or an Open3D ``PinholeCameraIntrinsic`` JSON (``width``, ``height``, ``intrinsic_matrix``:
  9 numbers, column-major), in pixels of the images.

:func:`read_rgbd_frame` returns the multi-modal item keys of :mod:`recon.data.multi_modal` that a real frame has:
``image``, ``depth``, ``depth_mask``, ``K``, ``partial_points`` (every measured pixel back-projected, camera frame,
the depth's unit) -- no ground-truth ``points``. Every check runs before anything is returned; errors name the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from recon.data.formats.images import check_same_size, read_rgb, read_single_channel
from recon.geometry.cameras import unproject

__all__ = ["read_depth_png", "read_intrinsics", "read_rgbd_frame", "write_depth_png"]


def _positive_scale(depth_scale) -> float:
    try:
        scale = float(depth_scale)
    except (TypeError, ValueError):
        scale = math.nan
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(
            f"depth_scale must be a positive number (stored value per depth unit, e.g. 1000 for millimetres -> "
            f"metres, TUM: 5000), got {depth_scale!r}"
        )
    return scale


def read_depth_png(path: str | Path, depth_scale: float) -> torch.Tensor:
    """A 16-bit depth PNG as ``(1, H, W)`` float32 ``value / depth_scale`` (0 = no measurement).

    Raises FileNotFoundError / ValueError naming the file for a missing file, an 8-bit or colour image, and a
    ``depth_scale`` that is not a positive number."""
    scale = _positive_scale(depth_scale)
    stored = read_single_channel(path)
    if stored.dtype != np.uint16:
        raise ValueError(
            f"{path}: a depth PNG must be 16-bit single-channel (sensor units), got {stored.dtype}; an 8-bit image "
            "cannot hold metric depth"
        )
    return torch.from_numpy(stored.astype(np.float32) / scale)[None]


def write_depth_png(path: str | Path, depth: np.ndarray, depth_scale: float) -> None:
    """Write ``(H, W)`` depth as a 16-bit PNG, ``round(depth * depth_scale)``; NaN, inf and <= 0 become 0.

    Raises ValueError when a depth does not fit 16 bits at that scale."""
    from PIL import Image

    scale = _positive_scale(depth_scale)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
    stored = np.rint(depth * scale)
    if stored.max(initial=0) > 65535:
        raise ValueError(f"{path}: depth up to {depth.max():g} does not fit 16 bits at depth_scale {scale:g}")
    Image.fromarray(stored.astype(np.uint16)).save(path)


def read_intrinsics(path: str | Path) -> tuple[torch.Tensor, tuple[int, int] | None]:
    """``K (3, 3)`` float32 from a 9-number or ``fx fy cx cy`` text file or an Open3D intrinsics JSON, and the
    ``(H, W)`` the JSON states (None for text files). Raises FileNotFoundError / ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"intrinsics file not found: {path}")
    text = path.read_text()
    size = None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
            values = [float(v) for v in data["intrinsic_matrix"]]
            size = (int(data["height"]), int(data["width"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}: not an Open3D intrinsics JSON (width, height, intrinsic_matrix): {error}"
            ) from None
        if len(values) != 9:
            raise ValueError(f"{path}: intrinsic_matrix must have 9 numbers, got {len(values)}")
        K = np.array(values).reshape(3, 3).T  # column-major
    else:
        try:
            values = [float(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise ValueError(f"{path}: expected 9 numbers (K) or 4 numbers (fx fy cx cy)") from None
        if len(values) == 9:
            K = np.array(values).reshape(3, 3)
        elif len(values) == 4:
            fx, fy, cx, cy = values
            K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
        else:
            raise ValueError(f"{path}: expected 9 numbers (K) or 4 numbers (fx fy cx cy), got {len(values)}")
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
        raise ValueError(f"{path}: not a pinhole intrinsic matrix (positive focal lengths, last row 0 0 1): {K}")
    return torch.from_numpy(K).float(), size


def read_rgbd_frame(
    color: str | Path, depth: str | Path, intrinsics: str | Path | torch.Tensor | None, depth_scale: float
) -> dict[str, torch.Tensor]:
    """One frame as multi-modal item keys (module docstring).

    Args:
        color: colour image (any format :func:`~recon.data.formats.images.read_rgb` reads).
        depth: 16-bit depth PNG of the same size.
        intrinsics: an intrinsics file (module docstring) or a ``(3, 3)`` K in pixels; required.
        depth_scale: stored depth value per unit (e.g. 1000: millimetres stored, metres returned).
    Raises:
        FileNotFoundError / ValueError naming the file or key: missing intrinsics, a bad depth scale, an 8-bit or
        colour depth image, sizes that differ, a depth without a single measured pixel.
    """
    if intrinsics is None:
        raise ValueError(
            "intrinsics are required for an RGB-D frame: a file with K (9 numbers), fx fy cx cy, or an Open3D JSON"
        )
    scale = _positive_scale(depth_scale)
    image = read_rgb(color)
    measured = read_depth_png(depth, scale)
    check_same_size(tuple(image.shape), Path(color), tuple(measured.shape), Path(depth))
    if isinstance(intrinsics, torch.Tensor):
        K, size = intrinsics.float(), None
        if K.shape != (3, 3):
            raise ValueError(f"intrinsics must be a (3, 3) matrix, got {tuple(K.shape)}")
    else:
        K, size = read_intrinsics(intrinsics)
    if size is not None and size != tuple(image.shape[-2:]):
        raise ValueError(
            f"{intrinsics} is for {size[1]}x{size[0]} images but {color} is {image.shape[-1]}x{image.shape[-2]}"
        )
    mask = measured > 0
    if not mask.any():
        raise ValueError(f"{depth}: no pixel has a depth measurement (all zero)")
    cloud = unproject(measured[None], K[None])[0]  # (H*W, 3)
    return {
        "image": image,
        "depth": measured,
        "depth_mask": mask,
        "K": K,
        "partial_points": cloud[mask.flatten()],
    }
