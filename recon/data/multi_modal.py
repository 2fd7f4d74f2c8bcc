"""Multi-modal reconstruction data: an RGB image, a sensor-like depth map and the partial cloud it gives -> the
object's complete surface.

Items (dicts of tensors) carry every modality; a model takes the subset it declares in ``inputs``:

- ``image``          (3, H, W) float32 RGB in [0, 1]
- ``depth``          (1, H, W) float32 z-depth as a depth sensor would measure it (:class:`DepthSensor`), 0 = none
- ``depth_mask``     (1, H, W) bool, the pixels with a measurement
- ``partial_points`` (N, 3) float32 camera-frame points back-projected from ``depth_mask`` pixels, N fixed
  (``num_partial_points``; every measured pixel once, then repeats, when fewer pixels have depth)
- ``has_image``, ``has_depth`` () bool: the modality is present (False: zeroed by modality dropout, or no depth pixel)
- ``K`` (3, 3), ``T_cw`` (4, 4), ``mask`` (1, H, W) bool object pixels, ``points`` (P, 3) the complete ground-truth
  surface in the camera frame, ``center`` (3,), ``index`` () -- as in :mod:`recon.data.single_view`

The scenes are the single-view generator's (the same cache): the object seen from one camera, with exact depth.
:class:`DepthSensor` turns that depth into a measurement once per item, seeded by the split and the item, so a split
is fixed like its renders. Modality dropout (training only) hides the image or the depth of an item at random.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from recon.data.single_view import SingleViewDataModule, SingleViewDataset
from recon.geometry.cameras import unproject
from recon.geometry.depth_sensor import axial_noise_std, depth_edges, grazing_mask, quantize_depth

SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


@dataclass
class DepthSensor:
    """A structured-light / time-of-flight depth camera (:mod:`recon.geometry.depth_sensor` for the error model).

    Args:
        noise_base, noise_quadratic: axial noise std ``noise_base + noise_quadratic * z**2`` (scene units).
        quantization: depth step at unit depth (steps of about ``quantization * z**2``); 0: none.
        max_angle_deg: no return where the surface is seen more obliquely than this.
        edge_jump, edge_width: no return within ``edge_width`` px of a relative depth jump above ``edge_jump``
            (mixed pixels at silhouettes and self-occlusions).
        dark_threshold, dark_dropout: pixels whose grey level is below ``dark_threshold`` lose their return with
            probability ``dark_dropout`` (too little reflected light).
        dropout: every other pixel loses its return with this probability (speckle, interference).
    """

    noise_base: float = 0.002
    noise_quadratic: float = 0.0015
    quantization: float = 0.001
    max_angle_deg: float = 75.0
    edge_jump: float = 0.1
    edge_width: int = 0
    dark_threshold: float = 0.06
    dark_dropout: float = 0.7
    dropout: float = 0.02

    def __post_init__(self) -> None:
        for name in ("noise_base", "noise_quadratic", "quantization", "edge_jump", "dark_threshold"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"data.sensor.{name} must be a finite number >= 0, got {getattr(self, name)}")
            setattr(self, name, value)
        for name in ("dark_dropout", "dropout"):
            value = float(getattr(self, name))
            if not 0 <= value < 1:
                raise ValueError(f"data.sensor.{name} must be in [0, 1), got {value}")
            setattr(self, name, value)
        if not 0 < float(self.max_angle_deg) <= 90:
            raise ValueError(f"data.sensor.max_angle_deg must be in (0, 90], got {self.max_angle_deg}")
        if int(self.edge_width) != self.edge_width or self.edge_width < 0:
            raise ValueError(f"data.sensor.edge_width must be an integer >= 0, got {self.edge_width}")

    def __call__(self, depth: torch.Tensor, image: torch.Tensor, K: torch.Tensor, generator: torch.Generator):
        """Exact ``depth`` (B, 1, H, W), ``image`` (B, 3, H, W), ``K`` (B, 3, 3) -> measured depth (B, 1, H, W),
        0 where the sensor returns nothing."""
        lost = grazing_mask(depth, K, self.max_angle_deg) | depth_edges(depth, self.edge_jump, int(self.edge_width))
        grey = image.mean(1, keepdim=True)
        chance = torch.rand(depth.shape, generator=generator, dtype=depth.dtype)
        lost |= (grey < self.dark_threshold) & (chance < self.dark_dropout)
        lost |= torch.rand(depth.shape, generator=generator, dtype=depth.dtype) < self.dropout
        noise = torch.randn(depth.shape, generator=generator, dtype=depth.dtype)
        measured = quantize_depth(
            depth + noise * axial_noise_std(depth, self.noise_base, self.noise_quadratic), self.quantization
        )
        return torch.where((depth > 0) & ~lost & (measured > 0), measured, 0.0)


def fixed_size_subset(available: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` indices into ``available >= 1`` items: a random subset when there are more, otherwise every item
    once and random ones again to fill up. (count,) long."""
    if available >= count:
        return torch.randperm(available, generator=generator)[:count]
    return torch.cat([torch.arange(available), torch.randint(available, (count - available,), generator=generator)])


def sample_partial_points(
    depth: torch.Tensor, K: torch.Tensor, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` camera-frame points back-projected from the pixels with depth: a random subset when there are more
    pixels, otherwise every pixel once and random ones again to fill up.

    (B, 1, H, W), (B, 3, 3) -> points (B, count, 3) (zeros for an item without depth), has (B,) bool."""
    B = depth.shape[0]
    cloud = unproject(depth, K)  # (B, H*W, 3)
    has = depth.flatten(1) > 0
    points = torch.zeros(B, count, 3, dtype=depth.dtype)
    for b in range(B):
        pixels = has[b].nonzero()[:, 0]
        if len(pixels) == 0:
            continue
        points[b] = cloud[b, pixels[fixed_size_subset(len(pixels), count, generator)]]
    return points, has.any(1)


class MultiModalDataset(SingleViewDataset):
    """A split of single-view renders with a simulated depth measurement and partial cloud per item (module
    docstring), computed once at construction in chunks."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        sensor: DepthSensor,
        num_partial_points: int,
        seed: int,
        modality_dropout: float = 0.0,
        chunk: int = 256,
    ):
        super().__init__(arrays)
        generator = torch.Generator().manual_seed(seed)
        n = len(self.rgb)
        self.measured = torch.zeros_like(self.depth)
        self.partial = torch.zeros(n, num_partial_points, 3)
        self.has_depth = torch.zeros(n, dtype=torch.bool)
        for start in range(0, n, chunk):
            part = slice(start, min(start + chunk, n))
            image = self.rgb[part].permute(0, 3, 1, 2).float() / 255.0
            measured = sensor(self.depth[part][:, None], image, self.K[part], generator)[:, 0]
            self.measured[part] = measured
            self.partial[part], self.has_depth[part] = sample_partial_points(
                measured[:, None], self.K[part], num_partial_points, generator
            )
        self.modality_dropout = float(modality_dropout)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(i)
        depth = self.measured[i][None]
        item.update(
            depth=depth,
            depth_mask=depth > 0,
            partial_points=self.partial[i],
            has_image=torch.tensor(True),
            has_depth=self.has_depth[i].clone(),
        )
        if self.modality_dropout and float(torch.rand(())) < self.modality_dropout:
            if float(torch.rand(())) < 0.5:
                item.update(image=torch.zeros_like(item["image"]), has_image=torch.tensor(False))
            else:
                item.update(
                    depth=torch.zeros_like(depth),
                    depth_mask=torch.zeros_like(item["depth_mask"]),
                    partial_points=torch.zeros_like(item["partial_points"]),
                    has_depth=torch.tensor(False),
                )
        return item


class MultiModalDataModule(SingleViewDataModule):
    """Synthetic multi-modal items (module docstring): the single-view renders plus a simulated depth sensor.

    Args (beyond :class:`~recon.data.single_view.SingleViewDataModule`'s):
        sensor: :class:`DepthSensor` fields.
        num_partial_points: N, points per partial cloud.
        modality_dropout: training items lose their image or their depth (half each) with this probability.
    """

    problem = "multi_modal"

    def __init__(
        self,
        synthetic: dict | None = None,
        cache_dir: str = "data/cache",
        batch_size: int = 32,
        num_workers: int = 0,
        render_workers: int = 0,
        pin_memory: bool = False,
        sensor: dict | None = None,
        num_partial_points: int = 1024,
        modality_dropout: float = 0.0,
    ):
        super().__init__(synthetic, cache_dir, batch_size, num_workers, render_workers, pin_memory)
        try:
            self.sensor = DepthSensor(**(sensor or {}))
        except TypeError as e:
            raise ValueError(f"data.sensor: {e}") from None
        if int(num_partial_points) != num_partial_points or num_partial_points < 1:
            raise ValueError(f"data.num_partial_points must be a positive integer, got {num_partial_points}")
        if not 0 <= float(modality_dropout) < 1:
            raise ValueError(f"data.modality_dropout must be in [0, 1), got {modality_dropout}")
        self.num_partial_points, self.modality_dropout = int(num_partial_points), float(modality_dropout)

    def make_dataset(self, split: str, arrays: dict) -> MultiModalDataset:
        return MultiModalDataset(
            arrays,
            self.sensor,
            self.num_partial_points,
            seed=self.config.seed * 1000 + SPLIT_SEEDS[split],
            modality_dropout=self.modality_dropout if split == "train" else 0.0,
        )

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        batch = super().example_batch(batch_size)
        B, N = batch_size, self.num_partial_points
        g = torch.Generator().manual_seed(1)
        batch.update(
            depth_mask=torch.rand(batch["depth"].shape, generator=g) < 0.5,
            partial_points=batch["center"][:, None] + torch.randn(B, N, 3, generator=g) * 0.5,
            has_image=torch.ones(B, dtype=torch.bool),
            has_depth=torch.ones(B, dtype=torch.bool),
        )
        batch["depth"] = torch.where(batch["depth_mask"], batch["depth"], 0.0)
        return batch

    def describe(self) -> dict:
        return {
            **super().describe(),
            "sensor": asdict(self.sensor),
            "num_partial_points": self.num_partial_points,
        }
