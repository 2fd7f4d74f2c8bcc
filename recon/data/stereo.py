"""Stereo matching data: rectified left/right pairs of synthetic cluttered scenes -> left-view disparity.

Every item is a dict of tensors; real-format stereo readers return the same keys, so any stereo model or task
runs on either:

- ``left``, ``right``  (3, H, W) float32 RGB in [0, 1], a rectified pair (epipolar lines are image rows)
- ``disparity``        (1, H, W) float32 LEFT disparity in pixels, positive: the left pixel ``(x, y)`` is seen in
  the right image at ``(x - d, y)``; ``d = focal * baseline / depth``; 0 where ``valid`` is False
- ``valid``            (1, H, W) bool: ground truth exists (the left pixel sees a surface, not the sky)
- ``nonoccluded``      (1, H, W) bool: ``valid`` and the same surface point is visible in the right image, inside
  it (``x - d >= 0``); the complement inside ``valid`` is occluded or out of the right view
- ``disparity_right``  (1, H, W) float32 RIGHT-view disparity (the right pixel ``x`` is seen in the left image at
  ``x + d``), 0 where the right pixel sees no surface
- ``focal`` () float32 pixels; ``baseline`` () float32 scene units; ``K`` (3, 3) left intrinsics (a crop moves its
  principal point); ``index`` () int64 item index in its split

Synthetic ground truth is exact: depth comes from ray casting at pixel centres, occlusion from casting rays from
the right camera towards every left surface point (:mod:`recon.data.synthetic.stereo_scene`).

Training items (train split only) pass through :class:`StereoAugment`: the same random crop of both views and of
the ground truth, independent photometric changes per view, optionally a small vertical shift of the right image.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from recon.data.base import SyntheticDataModule
from recon.data.synthetic.config import StereoSceneConfig

_SPATIAL = ("left", "right", "disparity", "valid", "nonoccluded", "disparity_right")


def right_view_in_frame(disparity: torch.Tensor) -> torch.Tensor:
    """Left pixels whose correspondence ``x - d`` lies in the right image: ``x - d >= 0``. (..., H, W) -> bool."""
    x = torch.arange(disparity.shape[-1], dtype=disparity.dtype, device=disparity.device)
    return x - disparity >= 0


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """(C, H, W) blurred by a separable Gaussian of standard deviation ``sigma`` px (replicated borders); ``sigma``
    below 0.1 px returns ``img``."""
    if sigma < 0.1:
        return img
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=img.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    C = img.shape[0]
    out = F.pad(img[None], (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)[0]


@dataclass
class StereoAugment:
    """Training augmentation of stereo items (dicts with the keys of this module), drawn from torch's global RNG.

    With Lightning's ``seed_everything`` (the runner's ``seed``) the draws are reproducible, also in DataLoader
    workers (seeded per worker) and across a resumed run (the RNG state is checkpointed).

    - ``scale`` (low, high): first, both views and the ground truth are resized by one factor ``s`` drawn
      log-uniformly from the range (raised to what ``crop_size`` needs), as if the pair had been shot at ``s`` times
      the resolution: images bilinearly (anti-aliased when shrinking), the disparity maps and masks by nearest
      neighbour (no mixing across depth edges) with the disparities times ``s``; ``focal`` and ``K`` scale too
      (pixel-centre convention, ``c' = (c + 0.5) s - 0.5``). Disparities beyond the model's range are left to the
      loss's mask. Real pairs come at any resolution and their objects at any size in pixels; training on one
      image size teaches a matcher one scale of texture and of structures.
    - ``crop_size`` (h, w): one random window for both views and every ground-truth map; ``K``'s principal point
      (when the item has one) moves with it, and ``nonoccluded`` drops left pixels whose match leaves the
      crop (``x - d < 0``).
    - per view, independently (the views of a real rig differ in exposure and colour response): gamma
      ``1 +- gamma``, contrast ``1 +- contrast`` about the image mean, brightness ``1 +- brightness``, a gain per
      colour channel ``1 +- colour``; clipped to [0, 1]. Geometry and ground truth are untouched.
    - ``blur``: per view, a Gaussian blur of standard deviation uniform in ``[0, blur]`` px (focus, motion, the
      optics of a real camera; the renders are sharp), then ``noise``: per view, Gaussian sensor noise of standard
      deviation uniform in ``[0, noise]`` (image values in [0, 1]), clipped to [0, 1].
    - ``y_shift``: the right image moves vertically by a uniform ``dy`` in ``[-y_shift, y_shift]`` px (bilinear;
      imperfect rectification). The ground truth is NOT shifted: a match is then off its row by ``|dy|``, which is
      why the default is 0; 0.5-1 px trains robustness to real rigs.
    """

    crop_size: tuple[int, int] | None = None
    scale: tuple[float, float] | None = None
    brightness: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0
    colour: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    y_shift: float = 0.0

    def __post_init__(self) -> None:
        if self.crop_size is not None:
            self.crop_size = tuple(int(v) for v in self.crop_size)
            if len(self.crop_size) != 2 or min(self.crop_size) < 1:
                raise ValueError(f"data.augment.crop_size must be two positive ints (h, w), got {list(self.crop_size)}")
        if self.scale is not None:
            self.scale = tuple(float(v) for v in self.scale)
            if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1] or not math.isfinite(self.scale[1]):
                raise ValueError(f"data.augment.scale must be [low, high] with 0 < low <= high, got {list(self.scale)}")
        for name in ("brightness", "contrast", "gamma", "colour", "noise", "blur", "y_shift"):
            value = float(getattr(self, name))
            setattr(self, name, value)
            if value < 0 or (name not in ("y_shift", "blur") and value >= 1):
                raise ValueError(f"data.augment.{name} must be in [0, 1) (blur, y_shift: >= 0 px), got {value}")

    @staticmethod
    def _uniform(spread: float, *shape: int) -> torch.Tensor:
        return 1 + (torch.rand(shape or (1,)) * 2 - 1) * spread

    def _photometric(self, img: torch.Tensor) -> torch.Tensor:
        if self.gamma:
            img = img.clamp(0, 1) ** self._uniform(self.gamma)
        if self.contrast:
            mean = img.mean()
            img = (img - mean) * self._uniform(self.contrast) + mean
        if self.brightness or self.colour:
            img = img * self._uniform(self.brightness) * self._uniform(self.colour, 3, 1, 1)
        if self.blur:
            img = gaussian_blur(img, float(torch.rand(())) * self.blur)
        if self.noise:
            img = img + torch.randn_like(img) * (float(torch.rand(())) * self.noise)
        return img.clamp(0, 1)

    def _rescale(self, item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        H, W = item["left"].shape[-2:]
        low, high = self.scale
        if self.crop_size is not None:
            low = max(low, self.crop_size[0] / H, self.crop_size[1] / W)
            high = max(high, low)
        s = math.exp(math.log(low) + float(torch.rand(())) * (math.log(high) - math.log(low)))
        size = (max(1, round(H * s)), max(1, round(W * s)))
        if self.crop_size is not None:
            size = (max(size[0], self.crop_size[0]), max(size[1], self.crop_size[1]))
        if size == (H, W):
            return dict(item)
        sy, sx = size[0] / H, size[1] / W
        out = dict(item)
        for key in _SPATIAL:
            if key not in item:
                continue
            x = item[key][None]
            if key in ("left", "right"):
                out[key] = F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=sx < 1)[0]
            else:
                resized = F.interpolate(x.float(), size, mode="nearest-exact")[0]
                out[key] = resized.to(item[key].dtype) if item[key].dtype == torch.bool else resized * sx
        if "K" in item:
            K = item["K"].clone()
            K[0] = K[0] * sx
            K[1] = K[1] * sy
            K[0, 2] += 0.5 * sx - 0.5
            K[1, 2] += 0.5 * sy - 0.5
            out["K"] = K
        if "focal" in item:
            out["focal"] = item["focal"] * sx
        out["nonoccluded"] = out["nonoccluded"] & right_view_in_frame(out["disparity"])
        return out

    def _crop(self, item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h, w = self.crop_size
        H, W = item["left"].shape[-2:]
        y0 = int(torch.randint(0, H - h + 1, ()))
        x0 = int(torch.randint(0, W - w + 1, ()))
        out = dict(item)
        for key in _SPATIAL:
            if key in item:
                out[key] = item[key][..., y0 : y0 + h, x0 : x0 + w]
        if "K" in item:  # real-format items carry no intrinsics
            K = item["K"].clone()
            K[0, 2] -= x0
            K[1, 2] -= y0
            out["K"] = K
        out["nonoccluded"] = out["nonoccluded"] & right_view_in_frame(out["disparity"])
        return out

    def _shift_rows(self, img: torch.Tensor, dy: float) -> torch.Tensor:
        H, W = img.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(H, dtype=img.dtype), torch.arange(W, dtype=img.dtype), indexing="ij")
        grid = torch.stack([xs / (W - 1) * 2 - 1, (ys + dy) / (H - 1) * 2 - 1], -1)
        return F.grid_sample(img[None], grid[None], mode="bilinear", padding_mode="border", align_corners=True)[0]

    def __call__(self, item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.scale is not None:
            item = self._rescale(item)
        if self.crop_size is not None:
            item = self._crop(item)
        else:
            item = dict(item)
        item["left"] = self._photometric(item["left"])
        item["right"] = self._photometric(item["right"])
        if self.y_shift > 0:
            dy = float((torch.rand(()) * 2 - 1) * self.y_shift)
            item["right"] = self._shift_rows(item["right"], dy)
        return item


class SyntheticStereoDataset(Dataset):
    """Items of one split, built from the generator's stereo arrays (see the module docstring for the keys)."""

    def __init__(self, arrays: dict[str, np.ndarray], augment: StereoAugment | None = None):
        self.rgb = torch.from_numpy(arrays["rgb"])  # (S, 2, H, W, 3) uint8
        self.depth = torch.from_numpy(arrays["depth"])  # (S, 2, H, W) float32
        self.covisible = torch.from_numpy(arrays["covisible"])  # (S, 2, H, W) bool
        self.K = torch.from_numpy(arrays["K"][:, 0]).float()
        T = arrays["T_cw"].astype(np.float64)
        # right = left shifted by b along +x_cam: t_right = t_left - (b, 0, 0)
        self.baseline = torch.from_numpy(T[:, 0, 0, 3] - T[:, 1, 0, 3]).float()
        self.focal = self.K[:, 0, 0].clone()
        self.ids = arrays["ids"].tolist()
        self.augment = augment

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        f, b = self.focal[i], self.baseline[i]
        depth = self.depth[i][:, None]  # (2, 1, H, W)
        seen = depth > 0
        disparity = torch.where(seen, f * b / torch.where(seen, depth, 1.0), 0.0)
        item = {
            "left": self.rgb[i, 0].permute(2, 0, 1).float().div_(255.0),
            "right": self.rgb[i, 1].permute(2, 0, 1).float().div_(255.0),
            "disparity": disparity[0],
            "valid": seen[0],
            "nonoccluded": seen[0] & self.covisible[i, 0][None] & right_view_in_frame(disparity[0]),
            "disparity_right": disparity[1],
            "focal": f,
            "baseline": b,
            "K": self.K[i],
            "index": torch.tensor(i),
        }
        return self.augment(item) if self.augment is not None else item


class SyntheticStereoDataModule(SyntheticDataModule):
    """Synthetic stereo pairs, rendered once and cached under ``cache_dir`` keyed by the generator config.

    ``synthetic`` holds :class:`~recon.data.synthetic.config.StereoSceneConfig` fields (focal length, baseline,
    resolution, disparity range, scene content). ``max_disparity`` is the largest disparity models must handle
    (e.g. a cost volume's range); every ground-truth disparity is <= ``synthetic.disparity_range[1]``, which must
    not exceed it. ``augment`` holds :class:`StereoAugment` fields, applied to the train split only (null: none).
    """

    problem = "stereo"

    def __init__(
        self,
        synthetic: dict | None = None,
        cache_dir: str = "data/cache",
        batch_size: int = 8,
        num_workers: int = 0,
        render_workers: int = 0,
        pin_memory: bool = False,
        max_disparity: float = 64,
        augment: dict | None = None,
    ):
        try:
            config = StereoSceneConfig(**(synthetic or {}))
        except (TypeError, ValueError) as e:
            raise ValueError(f"data.synthetic: {e}") from None
        super().__init__(config, cache_dir, batch_size, num_workers, render_workers, pin_memory)
        d_max = self.config.disparity_range[1]
        if d_max > max_disparity:
            raise ValueError(
                f"data.synthetic.disparity_range[1] = {d_max} exceeds data.max_disparity = "
                f"{max_disparity}: ground-truth disparities would not fit the models' range; lower the "
                "first or raise the second"
            )
        try:
            self.augment = None if augment is None else StereoAugment(**augment)
        except TypeError as e:
            raise ValueError(f"data.augment: {e}") from None  # value errors of StereoAugment name their key
        if self.augment is not None and self.augment.crop_size is not None:
            h, w = self.augment.crop_size
            H, W = self.config.image_size
            if h > H or w > W:
                raise ValueError(
                    f"data.augment.crop_size = {[h, w]} is larger than data.synthetic.image_size = {[H, W]}"
                )
        self.max_disparity = float(max_disparity)

    def make_dataset(self, split: str, arrays: dict) -> SyntheticStereoDataset:
        return SyntheticStereoDataset(arrays, self.augment if split == "train" else None)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A batch with the shapes and value ranges of validation items, built without rendering (for config checks)."""
        (H, W), B = self.image_size, batch_size
        g = torch.Generator().manual_seed(0)
        lo, hi = self.config.disparity_range
        disparity = lo + (hi - lo) * torch.rand(B, 1, H, W, generator=g)
        return {
            "left": torch.rand(B, 3, H, W, generator=g),
            "right": torch.rand(B, 3, H, W, generator=g),
            "disparity": disparity,
            "valid": torch.ones(B, 1, H, W, dtype=torch.bool),
            "nonoccluded": torch.rand(B, 1, H, W, generator=g) < 0.9,
            "disparity_right": disparity.clone(),
            "focal": torch.full((B,), self.config.focal_px),
            "baseline": torch.full((B,), self.config.baseline[0]),
            "K": self.config.intrinsics().expand(B, 3, 3).clone(),
            "index": torch.arange(B),
        }

    def describe(self) -> dict:
        """What a run summary records about the data (the test set: augmentation is training-only, so not here)."""
        return {**super().describe(), "max_disparity": self.max_disparity}
