"""Single-view reconstruction data: one rendered image -> the object's surface point cloud.

Every item is a dict of tensors (the keys any single-view model or task may rely on):

- ``image``  (3, H, W) float32 RGB in [0, 1]
- ``K``      (3, 3) intrinsics in pixels
- ``T_cw``   (4, 4) world-to-camera pose (OpenCV axes)
- ``depth``  (1, H, W) z-depth of the object, 0 off the object;  ``mask`` (1, H, W) bool object pixels
- ``points`` (P, 3) ground-truth surface points in the CAMERA frame (x right, y down, z forward, scene units);
  the object's bounding-sphere centre lies on the optical axis at the camera distance (cameras look at it)
- ``center`` (3,) that centre in the camera frame;  ``index`` () int64 item index in its split
- ``occupancy`` (1, R, R, R) bool, only with ``occupancy_resolution = R > 0``: solid occupancy of the object on
  the camera-axis-aligned cube ``center + [-occupancy_extent, occupancy_extent]^3`` (voxel ``[i, j, k]`` along
  x, y, z; see :mod:`recon.geometry.voxels` and :mod:`recon.data.synthetic.occupancy`)

A scene rendered from V views gives V items (view-major within a scene).
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from recon.data.base import SPLITS, SyntheticDataModule
from recon.data.synthetic.config import SyntheticConfig
from recon.data.synthetic.occupancy import load_or_compute_occupancy
from recon.geometry.voxels import unpack_occupancy


class SingleViewDataset(Dataset):
    """Items of one split, built from the generator's arrays (see module docstring for the keys)."""

    def __init__(
        self, arrays: dict[str, np.ndarray], occupancy: np.ndarray | None = None, occupancy_resolution: int = 0
    ):
        S, V = arrays["rgb"].shape[:2]
        self.rgb = torch.from_numpy(arrays["rgb"]).flatten(0, 1)  # (S*V, H, W, 3) uint8
        self.depth = torch.from_numpy(arrays["depth"]).flatten(0, 1).float()
        self.mask = torch.from_numpy(arrays["mask"]).flatten(0, 1)
        self.K = torch.from_numpy(arrays["K"]).flatten(0, 1).float()
        self.T_cw = torch.from_numpy(arrays["T_cw"]).flatten(0, 1).float()
        R, t = self.T_cw[:, :3, :3], self.T_cw[:, :3, 3]
        points = torch.from_numpy(arrays["points"]).float().repeat_interleave(V, dim=0)  # (S*V, P, 3)
        center = torch.from_numpy(arrays["center"]).float().repeat_interleave(V, dim=0)
        self.points = (points @ R.transpose(1, 2) + t[:, None]).contiguous()
        self.center = (R @ center[..., None]).squeeze(-1) + t
        self.ids = [f"{i}/view{v}" for i in arrays["ids"].tolist() for v in range(V)]
        # (S*V, ceil(R^3 / 8)) bit-packed grids, unpacked per item
        self.occupancy = None if occupancy is None else occupancy.reshape(S * V, -1)
        self.occupancy_resolution = occupancy_resolution

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {
            "image": self.rgb[i].permute(2, 0, 1).float().div_(255.0),
            "K": self.K[i],
            "T_cw": self.T_cw[i],
            "depth": self.depth[i][None],
            "mask": self.mask[i][None],
            "points": self.points[i],
            "center": self.center[i],
            "index": torch.tensor(i),
        }
        if self.occupancy is not None:
            item["occupancy"] = unpack_occupancy(self.occupancy[i], self.occupancy_resolution)[None]
        return item


class SingleViewDataModule(SyntheticDataModule):
    """Synthetic single-view data, rendered once and cached under ``cache_dir`` keyed by the generator config.

    ``synthetic`` holds :class:`~recon.data.synthetic.config.SyntheticConfig` fields. ``occupancy_resolution > 0``
    adds the ``occupancy`` key (ground truth for occupancy models), computed once from the scene meshes and cached
    beside the renders (``occupancy_extent``: half-size of the cube around the object centre, scene units).
    """

    problem = "single_view"

    def __init__(
        self,
        synthetic: dict | None = None,
        cache_dir: str = "data/cache",
        batch_size: int = 32,
        num_workers: int = 0,
        render_workers: int = 0,
        pin_memory: bool = False,
        occupancy_resolution: int = 0,
        occupancy_extent: float = 1.0,
    ):
        try:
            config = SyntheticConfig(**(synthetic or {}))
        except TypeError as e:
            raise ValueError(f"data.synthetic: {e}") from None
        super().__init__(config, cache_dir, batch_size, num_workers, render_workers, pin_memory)
        if occupancy_resolution < 0:
            raise ValueError(f"data.occupancy_resolution must be >= 0 (0 = no occupancy), got {occupancy_resolution}")
        if occupancy_resolution and occupancy_extent < self.config.object_scale[1]:
            raise ValueError(
                f"data.occupancy_extent = {occupancy_extent} is smaller than the largest object radius "
                f"data.synthetic.object_scale[1] = {self.config.object_scale[1]}: objects would be cut"
            )
        self.occupancy_resolution, self.occupancy_extent = int(occupancy_resolution), float(occupancy_extent)

    def prepare_data(self) -> None:
        super().prepare_data()
        for split in SPLITS:
            self._occupancy(split)

    def _occupancy(self, split: str) -> np.ndarray | None:
        if not self.occupancy_resolution:
            return None
        return load_or_compute_occupancy(
            self.config,
            self.cache_dir,
            split,
            self.occupancy_resolution,
            self.occupancy_extent,
            workers=self.render_workers,
        )

    def make_dataset(self, split: str, arrays: dict) -> SingleViewDataset:
        return SingleViewDataset(arrays, self._occupancy(split), self.occupancy_resolution)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A batch with the shapes and value ranges of real items, built without rendering (for config checks)."""
        (H, W), B, P = self.image_size, batch_size, self.config.num_points
        K = self.config.intrinsics().expand(B, 3, 3)
        center = torch.tensor([0.0, 0.0, float(self.config.camera_distance[0])]).expand(B, 3)
        g = torch.Generator().manual_seed(0)
        batch = {
            "image": torch.rand(B, 3, H, W, generator=g),
            "K": K.clone(),
            "T_cw": torch.eye(4).expand(B, 4, 4).clone(),
            "depth": torch.full((B, 1, H, W), float(center[0, 2])),
            "mask": torch.ones(B, 1, H, W, dtype=torch.bool),
            "points": center[:, None] + torch.randn(B, P, 3, generator=g) * 0.5,
            "center": center.clone(),
            "index": torch.arange(B),
        }
        if self.occupancy_resolution:
            R = self.occupancy_resolution
            batch["occupancy"] = torch.rand(B, 1, R, R, R, generator=g) < 0.2
        return batch

    def train_dataset(self) -> SingleViewDataset:
        """The training split, whose ``points``, ``center`` and ``occupancy`` the non-learned references fit on."""
        self.setup()
        return self.datasets["train"]

    def describe(self) -> dict:
        """What a run summary records about the data."""
        described = super().describe()
        if self.occupancy_resolution:  # extra ground truth of the same scenes: "targets" do not change the test set
            described["targets"] = {
                "occupancy": {"resolution": self.occupancy_resolution, "extent": self.occupancy_extent}
            }
        return described
