"""Multi-view stereo data: a reference view and its source views of synthetic scenes -> the reference depth.

Every item follows the multi-view contract (``docs/ARCHITECTURE.md``; real-format multi-view datasets return the
same keys), with ``V = 1 + num_source`` views, view 0 the reference:

- ``images``      (V, 3, H, W) float32 RGB in [0, 1]
- ``K``           (V, 3, 3) float32 intrinsics in pixels;  ``T_cw`` (V, 4, 4) float32 world-to-camera (OpenCV axes)
- ``depth_range`` (2,) float32 ``(near, far)``: the reference's valid ground-truth depths widened by
  ``depth_margin``, ``near = (1 - m) min``, ``far = (1 + m) max`` (like the per-view ranges that MVSNet's COLMAP
  conversion derives from the sparse points a view sees; every valid reference depth lies strictly inside). A
  reference without ground truth would take its scene's range over all views; rendered scenes always show the ground.
- ``depth``       (1, H, W) float32 reference z-depth, 0 where no surface (background, sky);  ``mask`` (1, H, W) bool
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
from recon.geometry.view_selection import select_views, view_selection_scores


def depth_ranges(depth: torch.Tensor, margin: float, fallback: tuple[float, float]) -> torch.Tensor:
    """``(near, far)`` of every view from its valid depths: ``((1 - margin) min, (1 + margin) max)``.

    Args:
        depth: (S, V, H, W) z-depth, 0 = invalid.
        margin: relative margin in (0, 1).
        fallback: (near, far) for scenes without any valid depth.
    Returns:
        (S, V, 2) float32; a view without valid depth takes its scene's range over all views.
    """
    valid = depth > 0
    lo = torch.where(valid, depth, torch.inf).amin(dim=(-2, -1))  # (S, V)
    hi = depth.amax(dim=(-2, -1))
    empty = ~valid.any(dim=(-2, -1))
    scene_lo, scene_hi = lo.amin(dim=1, keepdim=True), hi.amax(dim=1, keepdim=True)
    lo, hi = torch.where(empty, scene_lo, lo), torch.where(empty, scene_hi, hi)
    none = torch.isinf(lo)
    lo, hi = torch.where(none, fallback[0], lo), torch.where(none, fallback[1], hi)
    return torch.stack([(1 - margin) * lo, (1 + margin) * hi], dim=-1).float()


class MultiViewDataset(Dataset):
    """Items of one split, built from the generator's multi-view arrays (see the module docstring for the keys).

    Attributes of the scenes (S scenes of ``V_scene`` views): ``scores`` (S, V_scene, V_scene) view-selection scores,
    ``views`` (S, V_scene, 1 + num_source) the views of each reference's item (reference first), ``depth_range``
    (S, V_scene, 2), ``depth`` (S, V_scene, H, W) ground truth of every view.
    """

    def __init__(
        self, arrays: dict[str, np.ndarray], num_source: int, depth_margin: float, fallback_range: tuple[float, float]
    ):
        self.rgb = torch.from_numpy(arrays["rgb"])  # (S, V, H, W, 3) uint8
        self.depth = torch.from_numpy(arrays["depth"]).float()  # (S, V, H, W)
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
        self.depth_range = depth_ranges(self.depth, depth_margin, fallback_range)
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
            "points": self.points[s],
            "index": torch.tensor(i),
            "scene": torch.tensor(s),
        }


class MultiViewDataModule(SyntheticDataModule):
    """Synthetic multi-view scenes, rendered once and cached under ``cache_dir`` keyed by the generator config.

    ``synthetic`` holds :class:`~recon.data.synthetic.config.MultiViewSceneConfig` fields (layout ``ring`` /
    ``hemisphere`` / ``trajectory``, views per scene, resolution, content). ``num_source``: source views per item
    (``1 <= num_source <= synthetic.num_views - 1``); ``depth_margin``: relative margin of ``depth_range`` around the
    reference's ground-truth depths, in (0, 1). Neither changes the cache.
    """

    problem = "multi_view"

    def __init__(
        self,
        synthetic: dict | None = None,
        cache_dir: str = "data/cache",
        batch_size: int = 4,
        num_workers: int = 0,
        render_workers: int = 0,
        pin_memory: bool = False,
        num_source: int = 4,
        depth_margin: float = 0.05,
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
        if not 0 < depth_margin < 1:
            raise ValueError(
                f"data.depth_margin must be in (0, 1) (relative margin of depth_range around the "
                f"reference's depths), got {depth_margin}"
            )
        self.num_source, self.depth_margin = int(num_source), float(depth_margin)

    @property
    def num_views(self) -> int:
        """Views per item, ``V = 1 + num_source``."""
        return 1 + self.num_source

    def nominal_depth_range(self) -> tuple[float, float]:
        """Depths the layout can produce (for example batches and scenes without any ground truth)."""
        c = self.config
        if c.layout == "trajectory":
            return c.depth_slab
        reach = math.hypot(c.scene_radius, c.object_scale[1])
        return c.camera_distance[0] - reach, c.camera_distance[1] + GROUND_RADIUS * c.scene_radius

    def make_dataset(self, split: str, arrays: dict) -> MultiViewDataset:
        return MultiViewDataset(arrays, self.num_source, self.depth_margin, self.nominal_depth_range())

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
            "points": torch.randn(B, P, 3, generator=g) * 0.5,
            "index": torch.arange(B),
            "scene": torch.arange(B),
        }

    def describe(self) -> dict:
        """What a run summary records about the data (the item construction changes the test set too)."""
        return {**super().describe(), "num_source": self.num_source, "depth_margin": self.depth_margin}
