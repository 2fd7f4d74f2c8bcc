"""Ground-truth solid occupancy of synthetic scenes, derived from the meshes and cached beside the renders.

For scene ``i`` and view ``v`` the grid is the one of :mod:`recon.geometry.voxels` around the object's
bounding-sphere centre, with the axes of camera ``v`` (x right, y down, z forward): voxel ``[i, j, k]`` is
occupied if its centre lies inside the object (inside any of its closed parts).

Inside/outside comes from ray parity along grid columns: for each of the three grid axes one ray per column of
``R x R`` voxel centres is cast from outside the object (open3d ``RaycastingScene.list_intersections``) and a
centre is inside a part if an odd number of that part's surface crossings lie before it. The three axes vote
(2 of 3), so a ray grazing an edge or a small hole in a non-watertight mesh flips at most one vote. This costs
``3 R^2`` rays per view instead of ``R^3`` point queries.

The cache is NOT part of the generator config: ``cache_dir/<config_hash>/occupancy-r<R>-e<extent>/<split>.npy``
holds ``(S, V, ceil(R^3 / 8))`` uint8 bit-packed grids (:func:`recon.geometry.voxels.pack_occupancy`), written
atomically, so the rendered data and its hash (which runs are compared by) do not change.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch

from recon.geometry.voxels import pack_occupancy, voxel_size
from recon.io import write_bytes_atomic

from .config import SyntheticConfig, config_hash
from .generator import progress_bar
from .pool import spawn_pool
from .scene import sample_scene

CHUNK = 50  # scenes per task sent to a worker


def mesh_occupancy(
    parts: list[tuple[np.ndarray, np.ndarray]],
    R_cw: np.ndarray,
    center: np.ndarray,
    resolution: int,
    extent: float,
    nthreads: int = 1,
) -> np.ndarray:
    """Solid occupancy of the union of closed triangle meshes on one grid.

    Args:
        parts: ``(vertices (N, 3), faces (F, 3))`` per closed part, in the frame of ``center``.
        R_cw: ``(3, 3)`` rotation whose ROWS are the grid's x, y, z axes in that frame (a camera's world-to-camera
            rotation gives a grid aligned with the camera).
        center: ``(3,)`` grid centre.  resolution, extent: see :mod:`recon.geometry.voxels`.
    Returns:
        ``(R, R, R)`` bool, indexed ``[i, j, k]`` along the grid's x, y, z axes.
    """
    import open3d as o3d

    R = int(resolution)
    axes = np.asarray(R_cw, np.float64)
    center = np.asarray(center, np.float64)
    scene = o3d.t.geometry.RaycastingScene()
    reach = 0.0
    for vertices, faces in parts:
        scene.add_triangles(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32))
        reach = max(reach, float(np.linalg.norm(np.asarray(vertices) - center, axis=1).max()))
    start = reach + extent + 1.0  # rays start outside every part and the grid
    s = -extent + (np.arange(R) + 0.5) * voxel_size(R, extent)  # voxel-centre coordinates along an axis
    t_centres = start + s
    votes = np.zeros((len(parts), R, R, R), np.uint8)
    for a in range(3):
        b, c = [x for x in range(3) if x != a]
        sb, sc = np.meshgrid(s, s, indexing="ij")  # columns over the two other axes, in increasing axis order
        origins = center + sb.reshape(-1, 1) * axes[b] + sc.reshape(-1, 1) * axes[c] - start * axes[a]
        rays = np.concatenate([origins, np.broadcast_to(axes[a], origins.shape)], 1).astype(np.float32)
        hits = scene.list_intersections(o3d.core.Tensor(rays), nthreads=nthreads)
        ray = hits["ray_ids"].numpy().astype(np.int64)
        part = hits["geometry_ids"].numpy().astype(np.int64)
        first = np.searchsorted(t_centres, hits["t_hit"].numpy(), side="right")  # voxels beyond the crossing
        crossings = np.zeros((len(parts), R * R, R + 1), np.int32)
        np.add.at(crossings, (part, ray, first), 1)
        inside = (np.cumsum(crossings[..., :R], axis=-1) % 2).astype(np.uint8).reshape(len(parts), R, R, R)
        votes += np.moveaxis(inside, 3, 1 + a)  # (part, b, c, a) -> (part, x, y, z)
    return (votes >= 2).any(0)


def scene_occupancy(cfg: SyntheticConfig, split: str, index: int, resolution: int, extent: float) -> np.ndarray:
    """``(V, R, R, R)`` bool: occupancy of scene ``index`` in the camera-aligned grid of each of its views."""
    sc = sample_scene(cfg, split, index)
    parts = [(m.vertices, m.faces) for m in sc.meshes]
    return np.stack([mesh_occupancy(parts, T[:3, :3], sc.center, resolution, extent) for T in sc.T_cw])


def _chunk(args) -> tuple[int, np.ndarray]:
    cfg, split, start, stop, resolution, extent = args
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny camera maths in sample_scene: the intra-op pool only adds overhead
    try:
        return start, np.stack(
            [pack_occupancy(scene_occupancy(cfg, split, i, resolution, extent)) for i in range(start, stop)]
        )
    finally:
        torch.set_num_threads(threads)


def compute_split_occupancy(
    cfg: SyntheticConfig, split: str, resolution: int, extent: float = 1.0, *, workers: int = 0, progress: bool = True
) -> np.ndarray:
    """Bit-packed occupancy of every scene and view of ``split``: ``(S, V, ceil(R^3 / 8))`` uint8 (no caching)."""
    S, V = cfg.split_size(split), cfg.num_views
    out = np.zeros((S, V, (resolution**3 + 7) // 8), np.uint8)
    tasks = [(cfg, split, a, min(a + CHUNK, S), resolution, extent) for a in range(0, S, CHUNK)]
    with progress_bar(progress) as bar:
        task = bar.add_task(f"occupancy {resolution}^3 {split}", total=S)
        if workers > 0 and len(tasks) > 1:
            with spawn_pool(min(workers, len(tasks))) as pool:
                for start, packed in pool.imap_unordered(_chunk, tasks):
                    out[start : start + len(packed)] = packed
                    bar.advance(task, len(packed))
        else:
            for t in tasks:
                start, packed = _chunk(t)
                out[start : start + len(packed)] = packed
                bar.advance(task, len(packed))
    return out


def occupancy_cache_path(
    cfg: SyntheticConfig, cache_dir: str | Path, split: str, resolution: int, extent: float
) -> Path:
    folder = f"occupancy-r{int(resolution)}-e{float(extent):g}"
    return Path(cache_dir).expanduser() / config_hash(cfg) / folder / f"{split}.npy"


def load_or_compute_occupancy(
    cfg: SyntheticConfig,
    cache_dir: str | Path,
    split: str,
    resolution: int,
    extent: float = 1.0,
    *,
    workers: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """Compute a split's packed occupancy once (:func:`compute_split_occupancy`), cache it, load it later.

    An unreadable or inconsistent cache file is computed again with a warning.
    """
    if resolution < 1 or not extent > 0:
        raise ValueError(f"occupancy resolution must be >= 1 and extent > 0, got {resolution}, {extent}")
    path = occupancy_cache_path(cfg, cache_dir, split, resolution, extent)
    expected = (cfg.split_size(split), cfg.num_views, (resolution**3 + 7) // 8)
    if path.exists():
        try:
            packed = np.load(path, allow_pickle=False)
            if packed.shape != expected or packed.dtype != np.uint8:
                raise ValueError(f"shape {packed.shape} {packed.dtype}, expected {expected} uint8")
            return packed
        except Exception as e:  # noqa: BLE001 - any failure means: compute again
            warnings.warn(
                f"occupancy cache {str(path)!r} is unreadable ({type(e).__name__}: {e}); computing it again",
                RuntimeWarning,
                stacklevel=2,
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    packed = compute_split_occupancy(cfg, split, resolution, extent, workers=workers, progress=progress)
    write_bytes_atomic(path, lambda f: np.save(f, packed))
    if progress:
        print(f"occupancy {split}: {expected[0]} scenes in {time.perf_counter() - t0:.1f}s -> {path}")
    return packed
