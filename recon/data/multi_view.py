"""Multi-view stereo data: a reference view and its source views of synthetic scenes -> the reference depth.

Every item follows the multi-view contract (``docs/ARCHITECTURE.md``; real-format multi-view datasets return the
same keys), with ``V = 1 + num_source`` views, view 0 the reference:

- ``images``      (V, 3, H, W) float32 RGB in [0, 1]
- ``K``           (V, 3, 3) float32 intrinsics in pixels;  ``T_cw`` (V, 4, 4) float32 world-to-camera (OpenCV axes)
- ``depth_range`` (2,) float32 ``(near, far)``, the same for every method that reads the item and free of ground
  truth: ``data.depth_range`` when given; else for ring / hemisphere scenes the z-range of the layout's bounding
  volume inside the reference's view (:func:`~recon.geometry.depth_bounds.box_depth_ranges` of
  :meth:`MultiViewDataModule.scene_box`, a function of the config only: moving the objects inside it changes no
  range, and every surface the cameras see lies inside it, so every valid depth lies in ``[near, far]``); for
  trajectory scenes a fixed range from the config (:meth:`MultiViewDataModule.nominal_depth_range`)
- ``depth``       (1, H, W) float32 reference z-depth, 0 where no surface (background, sky);  ``mask`` (1, H, W) bool
- ``object_mask`` (1, H, W) bool: the reference pixel sees an object (a surface sampled into ``points``), not the
  ground, a wall or a rod (beyond the contract: the multi-view task scores only fused points from these pixels)
- ``points``      (P, 3) float32 ground-truth surface samples of the scene's objects, WORLD frame (z up; the ground,
  walls and rods are not sampled), for fused-cloud metrics
- ``index``       () int64 item index in its split;  ``scene`` () int64 its scene's index in the split (beyond the
  contract: the multi-view task fuses the depth maps of one scene's items into one cloud)

Items are scenes x views: item ``s * V_scene + v`` has view ``v`` of scene ``s`` as its reference (every view is a
reference once); its sources are the ``num_source`` other views of the scene with the highest view-selection score
(:mod:`recon.geometry.view_selection`, MVSNet's ``pair.txt`` score over the ground-truth points both views see),
best first. Views that share no point score 0 and are chosen only when fewer views share points (lowest index first).
"""

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from recon.data.base import SyntheticDataModule
from recon.data.synthetic.config import MultiViewSceneConfig
from recon.data.synthetic.multi_view_scene import GROUND_RADIUS
from recon.geometry.cameras import camera_centers, look_at
from recon.geometry.depth_bounds import box_depth_ranges
from recon.geometry.view_selection import select_views, view_selection_scores


class MultiViewDataset(Dataset):
    """Items of one split, built from the generator's multi-view arrays (see the module docstring for the keys).

    Attributes of the scenes (S scenes of ``V_scene`` views): ``scores`` (S, V_scene, V_scene) view-selection scores,
    ``views`` (S, V_scene, 1 + num_source) the views of each reference's item (reference first), ``depth_range``
    (S, V_scene, 2), ``depth`` (S, V_scene, H, W) ground truth of every view.

    ``depth_range``: a fixed ``(near, far)`` for every view, or a (2, 3) world box whose z-range in each view is
    that view's range.
    """

    def __init__(self, arrays: dict[str, np.ndarray], num_source: int, depth_range: tuple[float, float] | torch.Tensor):
        self.rgb = torch.from_numpy(arrays["rgb"])  # (S, V, H, W, 3) uint8
        self.depth = torch.from_numpy(arrays["depth"]).float()  # (S, V, H, W)
        self.object_mask = torch.from_numpy(arrays["object_mask"])  # (S, V, H, W) bool
        self.K = torch.from_numpy(arrays["K"]).float()  # (S, V, 3, 3)
        self.T_cw = torch.from_numpy(arrays["T_cw"]).float()  # (S, V, 4, 4)
        self.points = torch.from_numpy(arrays["points"]).float()  # (S, P, 3)
        S, self.views_per_scene = self.rgb.shape[:2]
        centers = camera_centers(torch.from_numpy(arrays["T_cw"]).double())
        visible = torch.from_numpy(arrays["point_visible"])
        self.scores = (
            torch.stack(
                [  # per scene: (V, V, P) angles of a whole split would not fit in memory
                    view_selection_scores(self.points[s : s + 1].double(), centers[s : s + 1], visible[s : s + 1])[0]
                    for s in range(S)
                ]
            )
            if S
            else torch.zeros(0, self.views_per_scene, self.views_per_scene)
        )
        self.views = select_views(self.scores, num_source)
        H, W = self.depth.shape[-2:]
        if isinstance(depth_range, torch.Tensor):  # the bounding box, seen by each view
            self.depth_range = torch.stack(
                [box_depth_ranges(depth_range, K, T, H, W) for K, T in zip(self.K, self.T_cw)]
            )
        else:
            self.depth_range = torch.tensor(depth_range, dtype=torch.float32).expand(S, self.views_per_scene, 2)
        self.depth_range = self.depth_range.reshape(S, self.views_per_scene, 2)
        self.ids = [f"{i}/view{v}" for i in arrays["ids"].tolist() for v in range(self.views_per_scene)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s, v = divmod(i, self.views_per_scene)
        views = self.views[s, v]
        return {
            "images": self.rgb[s, views].permute(0, 3, 1, 2).float().div_(255.0),
            "K": self.K[s, views],
            "T_cw": self.T_cw[s, views],
            "depth_range": self.depth_range[s, v],
            "depth": self.depth[s, v][None],
            "mask": (self.depth[s, v] > 0)[None],
            "object_mask": self.object_mask[s, v][None],
            "points": self.points[s],
            "index": torch.tensor(i),
            "scene": torch.tensor(s),
        }


class MultiViewDataModule(SyntheticDataModule):
    """Synthetic multi-view scenes, rendered once and cached under ``cache_dir`` keyed by the generator config.

    ``synthetic`` holds :class:`~recon.data.synthetic.config.MultiViewSceneConfig` fields (layout ``ring`` /
    ``hemisphere`` / ``trajectory``, views per scene, resolution, content). ``num_source``: source views per item
    (``1 <= num_source <= synthetic.num_views - 1``); ``depth_range``: ``[near, far]`` for every item, or null: each
    reference view's z-range of :meth:`scene_box` (module docstring). Neither changes the cache.
    """

    problem = "multi_view"
    BOX_PADDING = 0.02

    def __init__(
        self,
        synthetic: dict | None = None,
        cache_dir: str = "data/cache",
        batch_size: int = 4,
        num_workers: int = 0,
        render_workers: int = 0,
        pin_memory: bool = False,
        num_source: int = 4,
        depth_range: list[float] | None = None,
    ):
        try:
            config = MultiViewSceneConfig(**(synthetic or {}))
        except TypeError as e:
            raise ValueError(f"data.synthetic: {e}") from None
        except ValueError as e:  # the config's messages start with the key
            raise ValueError(f"data.synthetic.{str(e).removeprefix('MultiViewSceneConfig: ')}") from None
        super().__init__(config, cache_dir, batch_size, num_workers, render_workers, pin_memory)
        available = self.config.num_views - 1
        if not 1 <= num_source <= available:
            raise ValueError(
                f"data.num_source must be in [1, data.synthetic.num_views - 1 = {available}] (source "
                f"views per reference), got {num_source}"
            )
        if depth_range is not None:
            values = list(depth_range)
            if (
                len(values) != 2
                or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in values)
                or not (0 < values[0] < values[1])
            ):
                raise ValueError(f"data.depth_range must be null or [near, far] with 0 < near < far, got {values}")
            depth_range = (float(values[0]), float(values[1]))
        self.num_source, self.depth_range = int(num_source), depth_range

    @property
    def num_views(self) -> int:
        """Views per item, ``V = 1 + num_source``."""
        return 1 + self.num_source

    def scene_box(self) -> torch.Tensor | None:
        """(2, 2, 3) world boxes holding every surface a ring / hemisphere camera can see: the ground disc (radius
        ``GROUND_RADIUS * scene_radius``, z = 0) and the objects' cylinder (radius ``scene_radius``, up to
        ``2 * object_scale[1]``, a bounding-sphere diameter), each padded by :attr:`BOX_PADDING` x ``scene_radius``
        on every side. None for the trajectory layout (:meth:`nominal_depth_range` instead)."""
        c = self.config
        if c.layout == "trajectory":
            return None
        g, r, pad = GROUND_RADIUS * c.scene_radius, c.scene_radius, self.BOX_PADDING * c.scene_radius
        ground = [[-g - pad, -g - pad, -pad], [g + pad, g + pad, pad]]
        objects = [[-r - pad, -r - pad, -pad], [r + pad, r + pad, 2 * c.object_scale[1] + pad]]
        return torch.tensor([ground, objects], dtype=torch.float64)

    def nominal_depth_range(self) -> tuple[float, float]:
        """``data.depth_range``, else a fixed range the layout's depths lie in: trajectory, ``(0.25 depth_slab[0],
        1.5 depth_slab[1])`` (the first view sees ``depth_slab``, later views move forward and sideways, the ground
        comes closer below the slab; loose on purpose), ring / hemisphere, camera distances -+ the scene's reach."""
        if self.depth_range is not None:
            return self.depth_range
        c = self.config
        if c.layout == "trajectory":
            return 0.25 * c.depth_slab[0], 1.5 * c.depth_slab[1]
        reach = math.hypot(c.scene_radius, c.object_scale[1])
        return c.camera_distance[0] - reach, c.camera_distance[1] + GROUND_RADIUS * c.scene_radius

    def make_dataset(self, split: str, arrays: dict) -> MultiViewDataset:
        box = None if self.depth_range is not None else self.scene_box()
        return MultiViewDataset(arrays, self.num_source, self.nominal_depth_range() if box is None else box)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A batch with the shapes and value ranges of real items, built without rendering (for config checks):
        cameras 10 degrees apart on a ring around the origin at the middle of the nominal depth range."""
        (H, W), B, V, P = self.image_size, batch_size, self.num_views, self.config.num_points
        near, far = self.nominal_depth_range()
        g = torch.Generator().manual_seed(0)
        az = torch.deg2rad(10.0 * torch.arange(V, dtype=torch.float64))
        eye = 0.5 * (near + far) * torch.stack([az.cos(), az.sin(), torch.zeros(V, dtype=torch.float64)], -1)
        T_cw = look_at(eye, torch.zeros(V, 3, dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
        return {
            "images": torch.rand(B, V, 3, H, W, generator=g),
            "K": self.config.intrinsics().expand(B, V, 3, 3).clone(),
            "T_cw": T_cw.float().expand(B, V, 4, 4).clone(),
            "depth_range": torch.tensor([near, far], dtype=torch.float32).expand(B, 2).clone(),
            "depth": near + (far - near) * torch.rand(B, 1, H, W, generator=g),
            "mask": torch.ones(B, 1, H, W, dtype=torch.bool),
            "object_mask": torch.ones(B, 1, H, W, dtype=torch.bool),
            "points": torch.randn(B, P, 3, generator=g) * 0.5,
            "index": torch.arange(B),
            "scene": torch.arange(B),
        }

    def describe(self) -> dict:
        """What a run summary records about the data (the item construction changes the test set too)."""
        return {**super().describe(), "num_source": self.num_source, "depth_range": self.depth_range}
