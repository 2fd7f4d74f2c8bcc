"""Point-cloud files through open3d, written atomically (a reader never sees a half-written file)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import open3d as o3d
import torch

from recon.io import atomic_path

# Formats open3d's write_point_cloud/read_point_cloud pick by suffix.
SUFFIXES = (".ply", ".pcd", ".xyz", ".xyzn", ".xyzrgb", ".pts")


def _array(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric array: {e}") from None


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{path}: unsupported point-cloud format {path.suffix!r}; use one of {SUFFIXES}")


def write_point_cloud(path: str | os.PathLike, points, colors=None) -> Path:
    """Write a point cloud (format from the suffix, e.g. ``.ply``), atomically.

    Args:
        path: output file; its folder is created if needed.
        points: ``(N, 3)`` finite coordinates, N >= 1 (tensor or array).
        colors: optional ``(N, 3)`` RGB in [0, 1].
    Returns:
        ``path``.
    Raises:
        ValueError: bad shapes, non-finite values, colours outside [0, 1], or an unknown suffix.
        OSError: the folder cannot be created/written or open3d fails to write (message names ``path``);
            no partial file is left in either case.
    """
    path = Path(path)
    _check_suffix(path)
    p = _array(points, "points")
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise ValueError(f"points must be (N, 3) with N >= 1, got shape {tuple(p.shape)}")
    if not np.isfinite(p).all():
        raise ValueError(f"points contain {int((~np.isfinite(p)).any(1).sum())} non-finite rows (NaN/inf)")
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
    if colors is not None:
        c = _array(colors, "colors")
        if c.shape != p.shape:
            raise ValueError(f"colors must be (N, 3) like points {tuple(p.shape)}, got shape {tuple(c.shape)}")
        if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
            raise ValueError("colors must be finite RGB values in [0, 1]")
        cloud.colors = o3d.utility.Vector3dVector(c)

    with atomic_path(path, "point cloud") as tmp:
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            ok = o3d.io.write_point_cloud(str(tmp), cloud, write_ascii=False, compressed=False)
        if not ok or tmp.stat().st_size == 0:
            raise OSError(f"cannot write point cloud {path}: open3d reported a write failure")
    return path


def read_point_cloud(path: str | os.PathLike, with_colors: bool = False):
    """Read a point cloud file.

    Returns:
        ``(N, 3)`` float32 points, or ``(points, colors)`` with ``colors`` ``(N, 3)`` float32 in [0, 1] (``None``
        when the file has none) if ``with_colors``.
    Raises:
        FileNotFoundError: ``path`` does not exist.  ValueError: unknown suffix, or the file holds no points
        (empty or unreadable).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point cloud not found: {path}")
    _check_suffix(path)
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        cloud = o3d.io.read_point_cloud(str(path))
    points = np.asarray(cloud.points, dtype=np.float32)
    if len(points) == 0:
        raise ValueError(f"{path} holds no points (empty or not a readable {path.suffix} file)")
    if not with_colors:
        return points
    colors = np.asarray(cloud.colors, dtype=np.float32) if cloud.has_colors() else None
    return points, colors
