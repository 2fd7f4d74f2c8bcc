"""The stereo item contract shared by every real-format reader (and the synthetic stereo data).

Each item is a dict of tensors:

- ``left``, ``right``  (3, H, W) float32 RGB in [0, 1], rectified (gray replicated, alpha dropped)
- ``disparity``        (1, H, W) float32 LEFT-view disparity in pixels, positive, ``x_right = x_left - d``;
  0 where invalid
- ``valid``            (1, H, W) bool, ground truth exists (finite and > 0 after the format's scale)
- ``nonoccluded``      (1, H, W) bool, ``valid`` and visible in the right image; the format's own
  non-occluded ground truth where it has one, else equal to ``valid``
- ``focal``            () float32 focal length of the left camera in pixels (fx), NaN if unknown
- ``baseline``         () float32 camera distance in the dataset's units (each reader says which), NaN if unknown
- ``index``            () int64 position in the dataset; its string id is ``dataset.ids[index]``

Without ground truth ``disparity`` is all 0 and both masks are all False.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from recon.data.formats.images import check_same_size, image_size, read_rgb
from recon.data.formats.pfm import read_pfm_header

STEREO_KEYS = ("left", "right", "disparity", "valid", "nonoccluded", "focal", "baseline", "index")


@dataclass(frozen=True)
class StereoSample:
    """Files of one rectified pair; ``disparity``/``nonoccluded`` are None where the format has none."""

    id: str
    left: Path
    right: Path
    disparity: Path | None = None
    nonoccluded: Path | None = None
    focal: float = math.nan
    baseline: float = math.nan


def require_files(*paths: Path | None) -> None:
    """Raise FileNotFoundError naming the first of ``paths`` (None skipped) that is not a file."""
    for path in paths:
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"missing file: {path}")


class StereoPairDataset(Dataset):
    """Reads :class:`StereoSample` s into items of the module-level contract.

    Subclasses list their samples and decode their ground-truth files: :meth:`read_disparity` returns
    ``(H, W)`` float32 disparity in pixels (anything not finite or <= 0 is invalid), :meth:`read_nonoccluded`
    ``(H, W)`` bool.
    """

    def __init__(self, samples: list[StereoSample]):
        for sample in samples:
            require_files(sample.left, sample.right, sample.disparity, sample.nonoccluded)
        self.samples = list(samples)
        self.ids = [sample.id for sample in samples]

    def read_disparity(self, path: Path) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no disparity decoder ({path})")

    def read_nonoccluded(self, path: Path) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no non-occlusion decoder ({path})")

    def __len__(self) -> int:
        return len(self.samples)

    def check_headers(self) -> None:
        """Read every file's header (not its pixels) and raise naming the file on a corrupt header, a truncated
        PFM or a size mismatch between the files of a pair: the cheap checks a run makes before it starts."""
        for sample in self.samples:
            size = image_size(sample.left)
            check_same_size(size, sample.left, image_size(sample.right), sample.right)
            for path in (sample.disparity, sample.nonoccluded):
                if path is not None:
                    other = read_pfm_header(path)[:2] if path.suffix.lower() == ".pfm" else image_size(path)
                    check_same_size(size, sample.left, other, path)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        left, right = read_rgb(sample.left), read_rgb(sample.right)
        check_same_size(left.shape, sample.left, right.shape, sample.right)
        disparity = nonoccluded = None
        if sample.disparity is not None:
            disparity = self.read_disparity(sample.disparity)
            check_same_size(left.shape, sample.left, disparity.shape, sample.disparity)
        if sample.nonoccluded is not None:
            nonoccluded = self.read_nonoccluded(sample.nonoccluded)
            check_same_size(left.shape, sample.left, nonoccluded.shape, sample.nonoccluded)
        item = make_stereo_item(left, right, disparity, nonoccluded, sample.focal, sample.baseline)
        item["index"] = torch.tensor(index, dtype=torch.int64)
        return item


def make_stereo_item(
    left: torch.Tensor,
    right: torch.Tensor,
    disparity: np.ndarray | None,
    nonoccluded: np.ndarray | None,
    focal: float,
    baseline: float,
) -> dict[str, torch.Tensor]:
    """Item dict (without ``index``) from ``(3, H, W)`` images, ``(H, W)`` raw disparity and non-occlusion.

    ``valid = isfinite(disparity) & (disparity > 0)``; ``nonoccluded = valid & nonoccluded`` (``valid`` if None).
    """
    H, W = left.shape[-2:]
    if disparity is None:
        disparity = np.zeros((H, W), np.float32)
    disparity = np.asarray(disparity, dtype=np.float32)
    valid = np.isfinite(disparity) & (disparity > 0)
    nonocc = valid.copy() if nonoccluded is None else valid & np.asarray(nonoccluded, dtype=bool)
    return {
        "left": left,
        "right": right,
        "disparity": torch.from_numpy(np.where(valid, disparity, 0.0).astype(np.float32))[None],
        "valid": torch.from_numpy(valid)[None],
        "nonoccluded": torch.from_numpy(nonocc)[None],
        "focal": torch.tensor(focal, dtype=torch.float32),
        "baseline": torch.tensor(baseline, dtype=torch.float32),
    }


def check_stereo_item(item: dict[str, torch.Tensor]) -> None:
    """Raise ValueError unless ``item`` (one unbatched item) follows the contract of this module."""
    if set(item) != set(STEREO_KEYS):
        raise ValueError(f"stereo item keys {sorted(item)} != {sorted(STEREO_KEYS)}")
    H, W = item["left"].shape[-2:]
    expected = {
        "left": ((3, H, W), torch.float32),
        "right": ((3, H, W), torch.float32),
        "disparity": ((1, H, W), torch.float32),
        "valid": ((1, H, W), torch.bool),
        "nonoccluded": ((1, H, W), torch.bool),
        "focal": ((), torch.float32),
        "baseline": ((), torch.float32),
        "index": ((), torch.int64),
    }
    for key, (shape, dtype) in expected.items():
        if tuple(item[key].shape) != shape or item[key].dtype != dtype:
            raise ValueError(
                f"stereo item {key!r}: {tuple(item[key].shape)} {item[key].dtype}, expected {shape} {dtype}"
            )
    for key in ("left", "right"):
        if not (item[key].isfinite().all() and item[key].min() >= 0 and item[key].max() <= 1):
            raise ValueError(f"stereo item {key!r} has values outside [0, 1]")
    disparity, valid = item["disparity"], item["valid"]
    if not (disparity[valid] > 0).all() or not disparity[valid].isfinite().all() or (disparity[~valid] != 0).any():
        raise ValueError("stereo item 'disparity' must be finite and > 0 where valid, 0 elsewhere")
    if (item["nonoccluded"] & ~valid).any():
        raise ValueError("stereo item 'nonoccluded' must be a subset of 'valid'")
