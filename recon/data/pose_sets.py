"""Relative-pose pairs of a real calibrated image set: every pair of views ``(i, j)``, ``i < j``, with the pose from
the set's calibration, for scoring pose methods (``recon-eval``): the items of :mod:`recon.data.pose_pairs`.

The set is read by one of the multi-view readers (:data:`~recon.data.multi_view_formats.READERS`: MVSNet, COLMAP
text, Middlebury); images and intrinsics are resized by ``image_scale``. Every split is the whole list of pairs (the
set is for evaluation; nothing here is trained on). ``wide``: the pair's rotation angle is at least
``wide_angle_deg``; ``low_texture``: the flatter image's mean Sobel gradient is below ``low_texture_gradient``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from recon.data.base import SPLITS, ReconDataModule
from recon.data.multi_view_formats import READERS, ScaledSet, check_sizes, scale_intrinsics
from recon.data.pose_pairs import check_thresholds, mean_gradient
from recon.geometry.multiview import relative_pose
from recon.geometry.poses import rotation_error_deg


class PoseSetDataset(Dataset):
    """All pairs of one scaled image set (module docstring)."""

    def __init__(self, scaled: ScaledSet, wide_angle_deg: float, low_texture_gradient: float):
        self.scaled = scaled
        n = len(scaled.cameras.views)
        i, j = torch.triu_indices(n, n, offset=1)
        T = relative_pose(scaled.T_cw[i].double(), scaled.T_cw[j].double())
        eye = torch.eye(3, dtype=T.dtype).expand_as(T[:, :3, :3])
        self.pairs = torch.stack([i, j], -1)
        self.T = T.float()
        self.angle = rotation_error_deg(T[:, :3, :3], eye).float()
        grey_gradient = torch.stack(
            [mean_gradient((scaled.image(v) * 255).round().byte().permute(1, 2, 0)[None])[0] for v in range(n)]
        )
        self.wide = self.angle >= wide_angle_deg
        self.low_texture = torch.minimum(grey_gradient[i], grey_gradient[j]) < low_texture_gradient
        ids = [view.id for view in scaled.cameras.views]
        self.ids = [f"{ids[a]}-{ids[b]}" for a, b in self.pairs.tolist()]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, n: int) -> dict[str, torch.Tensor]:
        a, b = self.pairs[n].tolist()
        return {
            "images": torch.stack([self.scaled.image(a), self.scaled.image(b)]),
            "K": self.scaled.K[[a, b]],
            "R": self.T[n, :3, :3],
            "t": self.T[n, :3, 3],
            "angle": self.angle[n],
            "wide": self.wide[n],
            "low_texture": self.low_texture[n],
            "index": torch.tensor(n),
            "scene": torch.tensor(0),
        }


class PoseSetDataModule(ReconDataModule):
    """Every pair of a real calibrated image set, for scoring relative-pose methods (module docstring).

    Args: ``format``, ``root``, ``options`` as :class:`~recon.data.multi_view_formats.MultiViewFormatDataModule`;
    ``image_scale`` in (0, 1]; ``wide_angle_deg``, ``low_texture_gradient`` the subsets' thresholds.
    """

    problem = "pose"

    def __init__(
        self,
        format: str,
        root: str,
        options: dict | None = None,
        image_scale: float = 1.0,
        wide_angle_deg: float = 45.0,
        low_texture_gradient: float = 4.0,
        batch_size: int = 8,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        super().__init__(batch_size, num_workers, pin_memory)
        if format not in READERS or format == "image_folder":
            known = sorted(set(READERS) - {"image_folder"})
            raise ValueError(f"data.format must be one of {known} (a set with poses to score), got {format!r}")
        if not root or not Path(root).exists():
            raise FileNotFoundError(f"data.root = {root} does not exist: give the calibrated image set's folder")
        if not 0 < image_scale <= 1:
            raise ValueError(f"data.image_scale must be in (0, 1], got {image_scale}")
        check_thresholds(wide_angle_deg=wide_angle_deg, low_texture_gradient=low_texture_gradient)
        self.format, self.root, self.options = format, str(root), dict(options or {})
        self.image_scale = float(image_scale)
        self.wide_angle_deg, self.low_texture_gradient = float(wide_angle_deg), float(low_texture_gradient)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        try:
            cameras = READERS[self.format](Path(self.root), **self.options)
        except TypeError as e:
            raise ValueError(f"data.options for format {self.format}: {e}") from None
        if len(cameras.views) < 2:
            raise ValueError(f"{self.root} has {len(cameras.views)} view(s): relative poses need at least 2")
        H, W = check_sizes(cameras, list(range(len(cameras.views))))
        h, w = max(1, round(H * self.image_scale)), max(1, round(W * self.image_scale))
        K = np.stack([scale_intrinsics(K, w / W, h / H) for K in cameras.K])
        scaled = ScaledSet(cameras, (h, w), torch.from_numpy(K).float(), torch.from_numpy(cameras.T_cw).float())
        dataset = PoseSetDataset(scaled, self.wide_angle_deg, self.low_texture_gradient)
        self.datasets = dict.fromkeys(SPLITS, dataset)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """Random images at a nominal 120x160 with a 30-degree pose (nothing read)."""
        g = torch.Generator().manual_seed(0)
        K = torch.tensor([[200.0, 0.0, 79.5], [0.0, 200.0, 59.5], [0.0, 0.0, 1.0]])
        c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
        R = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float32)
        return {
            "images": torch.rand(batch_size, 2, 3, 120, 160, generator=g),
            "K": K.expand(batch_size, 2, 3, 3).clone(),
            "R": R.expand(batch_size, 3, 3).clone(),
            "t": torch.tensor([-0.5, 0.0, 0.1]).expand(batch_size, 3).clone(),
            "angle": torch.full((batch_size,), 30.0),
            "wide": torch.zeros(batch_size, dtype=torch.bool),
            "low_texture": torch.zeros(batch_size, dtype=torch.bool),
            "index": torch.arange(batch_size),
            "scene": torch.zeros(batch_size, dtype=torch.int64),
        }

    def describe(self) -> dict:
        return {
            "format": self.format,
            "root": Path(self.root).name,
            "image_scale": self.image_scale,
            "wide_angle_deg": self.wide_angle_deg,
            "low_texture_gradient": self.low_texture_gradient,
        }
