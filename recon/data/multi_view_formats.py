"""Real calibrated image sets behind the multi-view datamodule interface: ``data=multi_view_<format> data.root=...``.

A set read by one of :data:`READERS` (:mod:`recon.data.formats`: MVSNet / DTU / BlendedMVS folders, COLMAP text
models, Middlebury ``*_par.txt``) becomes items of the multi-view contract (``docs/ARCHITECTURE.md``), the keys of
the synthetic :mod:`recon.data.multi_view`, so every multi-view model trains on it, is scored on it or predicts on it:

- ``images`` (V, 3, H, W), ``K`` (V, 3, 3), ``T_cw`` (V, 4, 4) float32, ``V = 1 + num_source``, view 0 the reference;
  every selected view (``views``) is the reference of one item, in the reader's order;
- sources: the views the format's view selection lists for the reference (MVSNet's ``pair.txt``, best first), else,
  and to top up a shorter list, :func:`~recon.geometry.view_selection.optical_axis_scores`: the views whose optical
  axes are closest in angle to the reference's, among those whose camera centre lies at least
  ``min_baseline * near`` from the reference's (``baseline / depth`` is about the triangulation angle in radians:
  the default 0.01 passes over views with less than ~0.6 degrees of parallax: duplicates, pure rotations);
- ``depth_range`` (2,): ``data.depth_range`` for every item; else with ``data.bounding_box`` (a world box, e.g. the
  one Middlebury's README gives) the z-range of that box along the reference's pixel-centre rays
  (:func:`~recon.geometry.depth_bounds.box_depth_ranges`, as the synthetic data does); else the reference camera's
  own (MVSNet cam files); a set without one (Middlebury, COLMAP) needs ``data.depth_range`` or ``data.bounding_box``;
- ``depth`` (1, H, W): the reference's depth map where the format has one (non-finite or <= 0: 0), else zeros;
  ``mask`` (1, H, W) bool: ``depth > 0``;
- ``points`` (0, 3): the formats carry no ground-truth surface; ``index`` () int64 position in the split;
  ``scene`` () int64: position in ``scenes`` (0 for a single-scene ``root``).

``image_scale`` resizes every image (bilinear, antialiased) to ``round(s H) x round(s W)`` and its intrinsics along:
pixel centres sit at integer coordinates, so with the actual factors ``s_x = W' / W``, ``s_y = H' / H`` a pixel
``u`` maps to ``(u + 0.5) s_x - 0.5``: ``fx``, the skew and ``cx + 0.5`` scale by ``s_x`` (:func:`scale_intrinsics`).
Depth maps are resized by nearest neighbour (``nearest-exact``: no depth is blended across an edge).

Splits as :mod:`recon.data.stereo_formats`: ``test`` every item (or the held-out ones with ``test_split: val``),
``val`` a ``val_fraction`` of the items drawn with ``split_seed``, ``train`` the others (items of one scene share
their images: hold out whole scenes by listing them in another run's ``scenes`` for a clean validation);
``predict`` every item in order (``recon-predict``, :mod:`recon.predict.multi_view`).

``setup`` is the pre-flight: it parses every camera file (errors name the file and line), checks every selected
view's image and depth-map header (present, decodable header, one size per set, the size the camera was calibrated
for where the format states it) and every item's depth range before a batch is built. Pixel data is decoded per item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from recon.data.base import ReconDataModule
from recon.data.estimated_poses import with_estimated_poses
from recon.data.formats.colmap_text import read_colmap_text
from recon.data.formats.image_folder import read_image_folder
from recon.data.formats.images import image_size
from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.data.formats.multiview_base import CameraSet
from recon.data.formats.mvsnet import read_mvsnet
from recon.data.formats.pfm import read_pfm_header
from recon.geometry.cameras import intrinsics_from_focal, look_at
from recon.geometry.depth_bounds import box_depth_ranges
from recon.geometry.view_selection import optical_axis_scores, select_views

READERS = {
    "mvsnet": read_mvsnet,
    "colmap_text": read_colmap_text,
    "middlebury_mvs": read_middlebury_mvs,
    "image_folder": read_image_folder,
}


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """``(3, 3)`` intrinsics of an image resized by ``sx`` (columns) and ``sy`` (rows), pixel centres at integers:
    ``u' = (u + 0.5) sx - 0.5``, i.e. ``K' = [[sx, 0, (sx - 1) / 2], [0, sy, (sy - 1) / 2], [0, 0, 1]] @ K``."""
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]]) @ K


@dataclass(frozen=True, eq=False)
class ScaledSet:
    """A camera set at the items' resolution: ``size`` (H, W) after ``image_scale``, ``K`` (N, 3, 3) float32 scaled
    to it and ``T_cw`` (N, 4, 4) float32 of all its views (indices as in ``cameras.views``)."""

    cameras: CameraSet
    size: tuple[int, int]
    K: Tensor
    T_cw: Tensor

    def image(self, v: int) -> Tensor:
        """``(3, H, W)`` float32 RGB in [0, 1] of view ``v`` at ``size``."""
        image = self.cameras.load_image(v)
        if tuple(image.shape[-2:]) == self.size:
            return image
        return F.interpolate(image[None], size=self.size, mode="bilinear", antialias=True, align_corners=False)[
            0
        ].clamp(0, 1)

    def depth(self, v: int) -> Tensor:
        """``(1, H, W)`` float32 z-depth of view ``v`` at ``size``, 0 where invalid or without a depth map."""
        depth = self.cameras.load_depth(v)
        if depth is None:
            return torch.zeros(1, *self.size)
        depth = torch.from_numpy(np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)).clamp_min(0)[None]
        if tuple(depth.shape[-2:]) != self.size:
            depth = F.interpolate(depth[None], size=self.size, mode="nearest-exact")[0]
        return depth


class MultiViewSetDataset(Dataset):
    """Items of calibrated image sets (keys in the module docstring).

    Args:
        sets: the image sets at the items' resolution.
        items: per item ``(set index, view indices into that set with the reference first, (near, far))``.
        ids: per item a name, ``<view id>`` or ``<scene>/<view id>``.
    """

    def __init__(
        self, sets: list[ScaledSet], items: list[tuple[int, tuple[int, ...], tuple[float, float]]], ids: list[str]
    ):
        self.sets, self.items, self.ids = sets, list(items), list(ids)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        s, views, depth_range = self.items[i]
        scene = self.sets[s]
        depth = scene.depth(views[0])
        return {
            "images": torch.stack([scene.image(v) for v in views]),
            "K": scene.K[list(views)],
            "T_cw": scene.T_cw[list(views)],
            "depth_range": torch.tensor(depth_range, dtype=torch.float32),
            "depth": depth,
            "mask": depth > 0,
            "points": torch.zeros(0, 3),
            "index": torch.tensor(i, dtype=torch.int64),
            "scene": torch.tensor(s, dtype=torch.int64),
        }

    def subset(self, indices: list[int]) -> MultiViewSetDataset:
        return MultiViewSetDataset(self.sets, [self.items[i] for i in indices], [self.ids[i] for i in indices])


def pick_views(cameras: CameraSet, views) -> list[int]:
    """Indices of ``views`` (ints: positions in the reader's order; strings: view ids), all views for None."""
    if views is None:
        return list(range(len(cameras)))
    index_of = {view_id: i for i, view_id in enumerate(cameras.ids)}
    picked = []
    for v in views:
        if isinstance(v, str) and v in index_of:
            picked.append(index_of[v])
        elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(cameras):
            picked.append(v)
        else:
            raise ValueError(
                f"data.views: {v!r} is neither a view id of {cameras.root} nor a position in "
                f"[0, {len(cameras) - 1}] (ids: {', '.join(cameras.ids[:4])}, ...)"
            )
    if len(set(picked)) != len(picked):
        raise ValueError(f"data.views lists a view twice: {list(views)}")
    return picked


def choose_sources(
    cameras: CameraSet, picked: list[int], num_source: int, min_baseline: np.ndarray
) -> list[tuple[int, ...]]:
    """Per picked reference, ``(reference, source, ...)`` view indices (module docstring); ``min_baseline`` (n,)
    scene units per reference."""
    T_cw = torch.from_numpy(cameras.T_cw[picked])
    order = select_views(optical_axis_scores(T_cw, torch.from_numpy(min_baseline)), len(picked) - 1)
    allowed = set(picked)
    chosen = []
    for r, ref in enumerate(picked):
        listed = [j for j, _ in (cameras.neighbours or {}).get(ref, ()) if j in allowed and j != ref]
        rest = [picked[k] for k in order[r, 1:].tolist() if picked[k] not in listed]
        chosen.append((ref, *(listed + rest)[:num_source]))
    return chosen


def check_sizes(cameras: CameraSet, picked: list[int]) -> tuple[int, int]:
    """The one ``(H, W)`` of the picked views' images; raises naming the files for a mismatch between images, with
    the calibrated size or with a depth map, or an unreadable header."""
    first = cameras[picked[0]].image
    size = image_size(first)
    for v in picked:
        view = cameras[v]
        h, w = image_size(view.image)
        if (h, w) != size:
            raise ValueError(
                f"size mismatch in one image set: {first} is {size[1]}x{size[0]} (WxH) but {view.image} "
                f"is {w}x{h}: the views of a set must share one size"
            )
        if view.size is not None and view.size != (h, w):
            raise ValueError(
                f"{view.image} is {w}x{h} (WxH) but its camera {view.id!r} was calibrated for "
                f"{view.size[1]}x{view.size[0]}"
            )
        if view.depth is not None:
            dh, dw, channels, _, _ = read_pfm_header(view.depth)
            if (dh, dw, channels) != (h, w, 1):
                raise ValueError(
                    f"depth map {view.depth} is {dw}x{dh} with {channels} channel(s) but its image "
                    f"{view.image} is {w}x{h}: expected a one-channel z-depth map of the image's size"
                )
    return size


class MultiViewFormatDataModule(ReconDataModule):
    """A real calibrated image set (or several) in one of :data:`READERS`.

    Args:
        format: reader name.
        root: the folder (or file) the reader expects: an MVSNet scene folder, a COLMAP model folder holding
            ``cameras.txt``/``images.txt``, a Middlebury folder holding one ``*_par.txt`` (or that file).
        options: further reader arguments (e.g. ``{image_dir: ...}`` for COLMAP, ``{pair_file: ...}`` for MVSNet).
        scenes: sub-folders of ``root``, one image set each (scene ``i`` = the i-th); null: ``root`` is one set.
        views: the views to use (ints: positions in the reader's order; strings: view ids); null: all.
        num_source: source views per item.
        depth_range: ``[near, far]`` for every item; null: ``bounding_box`` or each reference camera's own.
        bounding_box: ``[[x, y, z], [x, y, z]]`` world-frame min and max corners of the scene: each reference's
            range is the box's z-range in its view (module docstring); used when ``depth_range`` is null.
        min_baseline: smallest source baseline for the axis-angle view selection, times the reference's ``near``.
        image_scale: resize factor of images and intrinsics, in (0, 1] (module docstring).
        poses: ``calibrated`` (the file's), or ``estimated``: structure from motion on the selected views' images
            with the file's intrinsics (:mod:`recon.data.estimated_poses`; the depth ranges come from its sparse
            points, ``depth_range`` and ``bounding_box`` being in the calibrated world's units; views it cannot
            register are left out; the file's poses are kept in ``withheld_T_cw`` for evaluation only).
        batch_size, num_workers, pin_memory: loaders; ``batch_size > 1`` needs sets of one size.
        val_fraction, split_seed, test_split: the splits (module docstring).
    """

    problem = "multi_view"

    def __init__(
        self,
        format: str,
        root: str,
        options: dict | None = None,
        scenes: list[str] | None = None,
        views: list | None = None,
        num_source: int = 4,
        depth_range: list[float] | None = None,
        bounding_box: list[list[float]] | None = None,
        min_baseline: float = 0.01,
        image_scale: float = 1.0,
        poses: str = "calibrated",
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.0,
        split_seed: int = 0,
        test_split: str = "all",
    ):
        super().__init__(batch_size, num_workers, pin_memory)
        if format not in READERS:
            raise ValueError(f"data.format must be one of {sorted(READERS)}, got {format!r}")
        if not root:
            raise ValueError(f"data.root is required for data.format={format}: the image set's folder")
        if not Path(root).exists():
            raise FileNotFoundError(f"data.root = {root} does not exist")
        if int(num_source) != num_source or num_source < 1:
            raise ValueError(f"data.num_source must be an integer >= 1, got {num_source}")
        if depth_range is not None:
            values = list(depth_range)
            if (
                len(values) != 2
                or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in values)
                or not 0 < values[0] < values[1]
            ):
                raise ValueError(
                    f"data.depth_range must be [near, far] with 0 < near < far (scene units), got {values}"
                )
            depth_range = (float(values[0]), float(values[1]))
        if bounding_box is not None:
            try:
                box = torch.tensor(bounding_box, dtype=torch.float64)
            except (TypeError, ValueError):
                box = None
            if box is None or box.shape != (2, 3) or not bool(torch.isfinite(box).all() and (box[1] > box[0]).all()):
                raise ValueError(
                    f"data.bounding_box must be [[x, y, z], [x, y, z]]: the min and max world corners, min < max, "
                    f"got {bounding_box}"
                )
            bounding_box = box
        if not 0 < image_scale <= 1:
            raise ValueError(f"data.image_scale must be in (0, 1], got {image_scale}")
        if poses not in ("calibrated", "estimated"):
            raise ValueError(f"data.poses must be 'calibrated' or 'estimated', got {poses!r}")
        if format == "image_folder" and poses != "estimated":
            raise ValueError("data.format=image_folder has no poses: use data.poses=estimated (data=multi_view_images)")
        if not min_baseline >= 0:
            raise ValueError(
                f"data.min_baseline must be >= 0 (a fraction of the reference's near depth), got {min_baseline}"
            )
        if not 0 <= val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        if test_split not in ("all", "val"):
            raise ValueError(f"data.test_split must be 'all' or 'val', got {test_split!r}")
        if batch_size <= 0 or num_workers < 0:
            raise ValueError(
                f"data.batch_size must be positive and data.num_workers >= 0, got {batch_size}, {num_workers}"
            )
        self.format, self.root, self.options = format, str(root), dict(options or {})
        self.scenes = None if scenes is None else [str(s) for s in scenes]
        self.views = None if views is None else list(views)
        self.num_source, self.depth_range, self.bounding_box = int(num_source), depth_range, bounding_box
        self.min_baseline, self.image_scale, self.poses = float(min_baseline), float(image_scale), poses
        self.withheld_T_cw: dict[int, np.ndarray | None] = {}
        self.val_fraction, self.split_seed, self.test_split = float(val_fraction), int(split_seed), test_split

    @property
    def num_views(self) -> int:
        """Views per item, ``V = 1 + num_source``."""
        return 1 + self.num_source

    def _read(self, path: Path) -> CameraSet:
        try:
            return READERS[self.format](path, **self.options)
        except TypeError as e:
            raise ValueError(f"data.options for format {self.format}: {e}") from None

    def _prepare(self, s: int, cameras: CameraSet, name: str | None):
        """The set at the items' resolution, its items and their ids."""
        picked = pick_views(cameras, self.views)
        if len(picked) < 1 + self.num_source:
            raise ValueError(
                f"data.num_source = {self.num_source} needs at least {1 + self.num_source} views but "
                f"{cameras.root} has {len(picked)}{' selected by data.views' if self.views else ''}"
            )
        H, W = check_sizes(cameras, picked)
        estimated = self.poses == "estimated"
        if estimated:
            cameras, self.withheld_T_cw[s], _ = with_estimated_poses(cameras, picked)
            picked = list(range(len(cameras)))
            if len(picked) < 1 + self.num_source:
                raise ValueError(
                    f"data.num_source = {self.num_source} needs at least {1 + self.num_source} views but only "
                    f"{len(picked)} of {cameras.root} were registered with data.poses=estimated"
                )
        h, w = max(1, round(H * self.image_scale)), max(1, round(W * self.image_scale))
        K = np.stack([scale_intrinsics(K, w / W, h / H) for K in cameras.K])
        scaled = ScaledSet(cameras, (h, w), torch.from_numpy(K).float(), torch.from_numpy(cameras.T_cw).float())
        if self.depth_range is None and self.bounding_box is not None and not estimated:
            box_ranges = box_depth_ranges(self.bounding_box, scaled.K[picked], scaled.T_cw[picked], h, w).tolist()
        ranges = []
        for k, v in enumerate(picked):
            if estimated:
                depth_range = cameras[v].depth_range
            elif self.depth_range is not None:
                depth_range = self.depth_range
            elif self.bounding_box is not None:
                depth_range = tuple(box_ranges[k])
            else:
                depth_range = cameras[v].depth_range
            if depth_range is None:
                raise ValueError(
                    f"data.depth_range is required: view {cameras[v].id!r} of {cameras.root} has no "
                    f"depth range (format {self.format} gives none); set data.depth_range=[near,far] in "
                    "scene units around the object, or data.bounding_box"
                )
            ranges.append(depth_range)
        sources = choose_sources(
            cameras, picked, self.num_source, self.min_baseline * np.array([near for near, _ in ranges])
        )
        items = [(s, views, depth_range) for views, depth_range in zip(sources, ranges)]
        ids = [cameras[v].id if name is None else f"{name}/{cameras[v].id}" for v in picked]
        return scaled, items, ids

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        root = Path(self.root)
        paths = [(root, None)] if self.scenes is None else [(root / name, name) for name in self.scenes]
        sets, items, ids = [], [], []
        for s, (path, name) in enumerate(paths):
            scaled, scene_items, scene_ids = self._prepare(s, self._read(path), name)
            sets.append(scaled)
            items += scene_items
            ids += scene_ids
        if self.batch_size > 1 and len({scaled.size for scaled in sets}) > 1:
            raise ValueError(
                f"data.batch_size = {self.batch_size} needs image sets of one size, got "
                f"{sorted({scaled.size for scaled in sets})} (H, W): use data.batch_size=1"
            )
        every = MultiViewSetDataset(sets, items, ids)
        n = len(every)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        held_out = sorted(order[: math.floor(self.val_fraction * n)])
        kept = sorted(set(range(n)) - set(held_out))
        self.datasets = {
            "train": every.subset(kept),
            "val": every.subset(held_out),
            "test": every.subset(held_out if self.test_split == "val" else list(range(n))),
            "predict": every,
        }

    def example_batch(self, batch_size: int = 2) -> dict[str, Tensor]:
        """A small random batch with the keys and shapes of the item contract (for config checks; reads no files):
        cameras 10 degrees apart on a ring around the origin, at the middle of the depth range."""
        B, V, H, W = batch_size, self.num_views, 64, 80
        near, far = self.depth_range or (1.0, 2.0)
        g = torch.Generator().manual_seed(0)
        az = torch.deg2rad(10.0 * torch.arange(V, dtype=torch.float64))
        eye = 0.5 * (near + far) * torch.stack([az.cos(), az.sin(), torch.zeros(V, dtype=torch.float64)], -1)
        T_cw = look_at(eye, torch.zeros(V, 3, dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
        return {
            "images": torch.rand(B, V, 3, H, W, generator=g),
            "K": intrinsics_from_focal(float(W), H, W).expand(B, V, 3, 3).clone(),
            "T_cw": T_cw.float().expand(B, V, 4, 4).clone(),
            "depth_range": torch.tensor([near, far]).expand(B, 2).clone(),
            "depth": near + (far - near) * torch.rand(B, 1, H, W, generator=g),
            "mask": torch.ones(B, 1, H, W, dtype=torch.bool),
            "points": torch.zeros(B, 0, 3),
            "index": torch.arange(B),
            "scene": torch.zeros(B, dtype=torch.int64),
        }

    def describe(self) -> dict:
        return {
            "format": self.format,
            "root": str(Path(self.root).resolve()),
            "options": self.options,
            "scenes": self.scenes,
            "views": self.views,
            "num_source": self.num_source,
            "depth_range": self.depth_range,
            "bounding_box": None if self.bounding_box is None else self.bounding_box.tolist(),
            "min_baseline": self.min_baseline,
            "image_scale": self.image_scale,
            "poses": self.poses,
            "test_split": self.test_split,
        }

    def train_dataloader(self) -> DataLoader:
        if not len(self.datasets["train"]):
            raise ValueError(f"no training items: data.val_fraction = {self.val_fraction} holds out every view")
        return super().train_dataloader()

    def predict_dataloader(self) -> DataLoader:
        return self.dataloader("predict")
