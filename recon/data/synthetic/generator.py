"""Render synthetic splits once and cache them on disk (``cache_dir/<config_hash>/<split>.npz``).

Arrays of a split with S scenes, V views, P points (see :func:`load_or_generate`):

=============== ======================= ==================================================
key             shape / dtype           meaning
=============== ======================= ==================================================
rgb             (S, V, H, W, 3) uint8   shaded image
depth           (S, V, H, W) float32    z-depth, 0 where no object
mask            (S, V, H, W) bool       object pixels (== depth > 0)
normals         (S, V, H, W, 3) float16 unit surface normals, CAMERA frame, 0 on background
K               (S, V, 3, 3) float32    intrinsics (pixel centres at integer coordinates)
T_cw            (S, V, 4, 4) float32    world -> camera (OpenCV)
points          (S, P, 3) float32       surface samples, uniform by area, WORLD frame
point_normals   (S, P, 3) float32       their unit normals (outward)
center          (S, 3) float32          object bounding-sphere centre, world frame
radius          (S,) float32            object bounding-sphere radius
ids             (S,) str                "train-000042"
family          (S,) str                "primitive" | "composite" | "deformed" | "mesh"
kind            (S,) str                subtype (e.g. "torus", "table", "stanford-bunny.obj")
=============== ======================= ==================================================

World frame: z up; see :mod:`recon.data.synthetic.scene`. A :class:`~.config.StereoSceneConfig` renders
stereo pairs of cluttered scenes instead (V = 2, keys :data:`.stereo_scene.KEYS`: no ``normals``, plus
``covisible`` (S, 2, H, W) bool, see :mod:`.stereo_scene`); a :class:`~.config.MultiViewSceneConfig` renders
multi-view scenes (keys :data:`.multi_view_scene.KEYS`: no ``normals``, plus ``point_visible`` (S, V, P) bool).
Scene i of a split depends only on ``(seed, split, i)``, so results are identical for any ``workers`` and across runs.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from recon.io import write_bytes_atomic

from . import multi_view_scene, stereo_scene
from .config import MultiViewSceneConfig, StereoSceneConfig, SyntheticConfig, config_hash, mesh_files
from .pool import spawn_pool
from .renderer import render
from .scene import sample_scene

KEYS = (
    "rgb",
    "depth",
    "mask",
    "normals",
    "K",
    "T_cw",
    "points",
    "point_normals",
    "center",
    "radius",
    "ids",
    "family",
    "kind",
)
CHUNK = 25  # scenes per task sent to a worker


Config = SyntheticConfig | StereoSceneConfig | MultiViewSceneConfig


def array_keys(cfg: Config) -> tuple[str, ...]:
    """The arrays a split of ``cfg`` holds: :data:`KEYS`, or the stereo / multi-view scene modules' ``KEYS``."""
    if isinstance(cfg, MultiViewSceneConfig):
        return multi_view_scene.KEYS
    return stereo_scene.KEYS if isinstance(cfg, StereoSceneConfig) else KEYS


def generate_scene(cfg: Config, split: str, index: int, nthreads: int = 0) -> dict[str, np.ndarray]:
    """Render scene ``index`` of ``split``; arrays without the leading S axis."""
    if isinstance(cfg, StereoSceneConfig):
        return stereo_scene.generate_stereo_scene(cfg, split, index, nthreads)
    if isinstance(cfg, MultiViewSceneConfig):
        return multi_view_scene.generate_multi_view_scene(cfg, split, index, nthreads)
    sc = sample_scene(cfg, split, index)
    H, W = cfg.image_size
    out = render(sc.meshes, sc.K, sc.T_cw, H, W, light=sc.light, background=sc.background, nthreads=nthreads)
    return {
        "rgb": out["rgb"],
        "depth": out["depth"],
        "mask": out["mask"],
        "normals": out["normals"].astype(np.float16),
        "K": sc.K,
        "T_cw": sc.T_cw,
        "points": sc.points,
        "point_normals": sc.point_normals,
        "center": sc.center,
        "radius": np.float32(sc.radius),
        "ids": f"{split}-{index:06d}",
        "family": sc.family,
        "kind": sc.kind,
    }


def _empty(cfg: Config, S: int) -> dict[str, np.ndarray]:
    if isinstance(cfg, StereoSceneConfig):
        return stereo_scene.empty_arrays(cfg, S)
    if isinstance(cfg, MultiViewSceneConfig):
        return multi_view_scene.empty_arrays(cfg, S)
    V, (H, W), P = cfg.num_views, cfg.image_size, cfg.num_points
    return {
        "rgb": np.zeros((S, V, H, W, 3), np.uint8),
        "depth": np.zeros((S, V, H, W), np.float32),
        "mask": np.zeros((S, V, H, W), bool),
        "normals": np.zeros((S, V, H, W, 3), np.float16),
        "K": np.zeros((S, V, 3, 3), np.float32),
        "T_cw": np.zeros((S, V, 4, 4), np.float32),
        "points": np.zeros((S, P, 3), np.float32),
        "point_normals": np.zeros((S, P, 3), np.float32),
        "center": np.zeros((S, 3), np.float32),
        "radius": np.zeros(S, np.float32),
        "ids": np.zeros(S, "<U32"),
        "family": np.zeros(S, "<U32"),
        "kind": np.zeros(S, "<U64"),
    }


def _render_chunk(args) -> tuple[str, int, list[dict]]:
    cfg, split, start, stop, nthreads = args
    # The camera maths runs on tiny tensors: torch's intra-op thread pool only adds overhead
    # (70x slower on a busy 2-core machine), so use one thread and restore the setting after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return split, start, [generate_scene(cfg, split, i, nthreads) for i in range(start, stop)]
    finally:
        torch.set_num_threads(threads)


def progress_bar(enabled: bool):
    """A rich progress bar (description, bar, done/total, time left); ``enabled=False``: silent."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


def generate_split(cfg: Config, split: str, *, workers: int = 0, progress: bool = True) -> dict[str, np.ndarray]:
    """Render every scene of ``split`` (no caching). ``workers > 0`` uses a process pool."""
    return generate_splits(cfg, (split,), workers=workers, progress=progress)[split]


def generate_splits(
    cfg: Config, splits: tuple[str, ...], *, workers: int = 0, progress: bool = True
) -> dict[str, dict[str, np.ndarray]]:
    """Render every scene of each split (no caching), one progress bar per split.

    ``workers > 0`` renders all the splits' chunks through ONE process pool: starting a spawned worker (torch,
    open3d) costs seconds, about what a 200-scene split takes to render.
    """
    if cfg.mesh_dir:  # fail early, naming the bad file, before starting workers
        from .shapes import mesh_file_with_normals

        for p in mesh_files(cfg.mesh_dir):
            mesh_file_with_normals(p)
    data = {split: _empty(cfg, cfg.split_size(split)) for split in splits}
    tasks = [
        (cfg, split, a, min(a + CHUNK, cfg.split_size(split)), 1 if workers > 0 else 0)
        for split in splits
        for a in range(0, cfg.split_size(split), CHUNK)
    ]

    with progress_bar(progress) as bar:
        bars = {split: bar.add_task(f"rendering synthetic {split}", total=cfg.split_size(split)) for split in splits}

        def store(split: str, start: int, items: list[dict]) -> None:
            for k, item in enumerate(items):
                for key in array_keys(cfg):
                    data[split][key][start + k] = item[key]
            bar.advance(bars[split], len(items))

        if workers > 0 and tasks:
            with spawn_pool(workers) as pool:
                for split, start, items in pool.imap_unordered(_render_chunk, tasks):
                    store(split, start, items)
        else:
            for t in tasks:
                store(*_render_chunk(t))
    return data


def _load(path: Path, cfg: Config, split: str) -> dict[str, np.ndarray]:
    keys = array_keys(cfg)
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in keys}
    S = cfg.split_size(split)
    ref = _empty(cfg, 0)
    for k in keys:
        if data[k].shape[1:] != ref[k].shape[1:] or len(data[k]) != S:
            raise ValueError(f"array {k!r} has shape {data[k].shape}, expected {(S,) + ref[k].shape[1:]}")
    return data


def _load_cached(path: Path, cfg: Config, split: str) -> dict[str, np.ndarray] | None:
    """The cached split, or None when it is missing or unreadable (then with a warning)."""
    if not path.exists():
        return None
    try:
        return _load(path, cfg, split)
    except Exception as e:  # noqa: BLE001 - any failure means: render again
        warnings.warn(
            f"synthetic cache {str(path)!r} is unreadable ({type(e).__name__}: {e}); rendering it again",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def cache_path(cfg: Config, cache_dir: str | Path, split: str) -> Path:
    return Path(cache_dir).expanduser() / config_hash(cfg) / f"{split}.npz"


def load_or_generate(
    cfg: Config, cache_dir: str | Path, split: str, *, workers: int = 0, progress: bool = True
) -> dict[str, np.ndarray]:
    """Render ``split`` ('train' | 'val' | 'test') once, cache it, and load it on later calls.

    The cache file ``cache_dir/<config_hash(cfg)>/<split>.npz`` is written atomically (temporary
    file + ``os.replace``) with ``config.json`` beside it; an unreadable or inconsistent cache
    file is re-rendered with a warning. Keys, shapes and frames: see the module docstring.
    """
    return load_or_generate_splits(cfg, cache_dir, (split,), workers=workers, progress=progress)[split]


def load_or_generate_splits(
    cfg: Config, cache_dir: str | Path, splits: tuple[str, ...], *, workers: int = 0, progress: bool = True
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`load_or_generate` for several splits: those not cached are rendered together (one process pool)."""
    for split in splits:
        cfg.split_size(split)  # validates the split name
    data = {split: _load_cached(cache_path(cfg, cache_dir, split), cfg, split) for split in splits}
    missing = tuple(split for split in splits if data[split] is None)
    if not missing:
        return data
    folder = cache_path(cfg, cache_dir, missing[0]).parent
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data.update(generate_splits(cfg, missing, workers=workers, progress=progress))
    seconds = time.perf_counter() - t0
    meta = {"hash": folder.name, "config": cfg.to_dict(), "generator_version": _version()}
    write_bytes_atomic(folder / "config.json", lambda f: f.write(json.dumps(meta, indent=2, default=str).encode()))
    for split in missing:
        write_bytes_atomic(cache_path(cfg, cache_dir, split), lambda f, arrays=data[split]: np.savez(f, **arrays))
    if progress:
        scenes = sum(cfg.split_size(split) for split in missing)
        print(f"synthetic {', '.join(missing)}: {scenes} scenes in {seconds:.1f}s -> {folder}")
    return data


def _version() -> int:
    from .config import GENERATOR_VERSION

    return GENERATOR_VERSION
