"""Real stereo datasets behind the datamodule interface: ``data=stereo_<format> data.root=...``.

Any reader of :mod:`recon.data.formats` (items of its contract, the same keys as the synthetic stereo data) becomes
a datamodule, so every stereo model trains on it or is evaluated on it:

- ``test``: every pair of the dataset (the usual use: score a model trained elsewhere on real photographs), or
  only the held-out pairs with ``test_split: val``;
- ``val``: a fixed ``val_fraction`` of the pairs, drawn with ``split_seed``; ``train``: the others, through
  :class:`~recon.data.stereo.StereoAugment` (random crops make pairs of different sizes batchable; without
  ``augment.crop_size`` training needs ``batch_size: 1``).

Validation and test batches hold one pair (datasets mix image sizes; stereo models pad internally).

``max_disparity`` declares the largest ground-truth disparity of the data, which the models' range must cover
(checked against ``model.max_disparity`` before anything runs). ``disparities_above_max`` says what happens to
ground truth beyond it:

- ``refuse`` (default): a pair whose ground truth exceeds ``max_disparity`` is refused when it is read, naming the
  pair and the key to raise (a benchmark whose every pixel must be scored, e.g. Middlebury, KITTI).
- ``exclude``: pixels with ground truth ``>= max_disparity`` leave ``valid`` and ``nonoccluded`` (disparity 0
  there), so they are neither trained on nor scored. This is the standard SceneFlow protocol (PSMNet, GwcNet:
  ``mask = (gt > 0) & (gt < maxdisp)`` with maxdisp 192), whose frames hold disparities up to several hundred
  pixels; ``data=stereo_sceneflow`` sets it.

``setup`` reads every file's header first (:meth:`~recon.data.formats.base.StereoPairDataset.check_headers`), so
a corrupt header, a truncated PFM or a left/right size mismatch stops a run before its first batch, naming the
file. Truncated image pixel data shows only when the image is decoded; that error names the file too.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from recon.data.base import ReconDataModule
from recon.data.formats import (
    FolderPairsStereo,
    KittiStereo,
    Middlebury2014Stereo,
    MiddleburyClassicStereo,
    SceneFlowStereo,
    motorcycle_pair,
)
from recon.data.loaders import split_loader
from recon.data.stereo import StereoAugment

READERS = {
    "middlebury2014": Middlebury2014Stereo,
    "middlebury_classic": MiddleburyClassicStereo,
    "kitti": KittiStereo,
    "sceneflow": SceneFlowStereo,
    "folder_pairs": FolderPairsStereo,
}
BUNDLED = {"motorcycle": motorcycle_pair}  # datasets shipped with a dependency: no root


class BundledPairs(Dataset):
    """One or more in-memory items (e.g. scikit-image's Motorcycle pair) as a dataset with ``ids``."""

    def __init__(self, name: str):
        item, _ = BUNDLED[name]()
        self.items, self.ids = [item], [name]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return dict(self.items[index])


ABOVE_MAX = ("refuse", "exclude")


class CheckedSubset(Dataset):
    """Items ``indices`` of a stereo dataset, their ground truth checked against ``max_disparity`` (``above_max``:
    ``refuse`` or ``exclude``, see the module docstring), optionally augmented; ``index`` is the position in the
    subset."""

    def __init__(
        self,
        dataset: Dataset,
        indices: list[int],
        max_disparity: float,
        augment: StereoAugment | None = None,
        above_max: str = "refuse",
    ):
        self.dataset, self.indices, self.max_disparity, self.augment = dataset, list(indices), max_disparity, augment
        self.above_max = above_max
        self.ids = [dataset.ids[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.dataset[self.indices[i]]
        if self.above_max == "exclude":
            beyond = item["disparity"] >= self.max_disparity
            item["valid"] = item["valid"] & ~beyond
            item["nonoccluded"] = item["nonoccluded"] & ~beyond
            item["disparity"] = torch.where(beyond, torch.zeros_like(item["disparity"]), item["disparity"])
        largest = float(item["disparity"].max())
        if largest > self.max_disparity:
            raise ValueError(
                f"stereo pair {self.ids[i]!r} has ground-truth disparities up to {largest:.1f} px, "
                f"above data.max_disparity = {self.max_disparity:g}: raise data.max_disparity (and "
                "use a model whose max_disparity covers it), or set data.disparities_above_max=exclude to leave "
                "those pixels out of the ground truth"
            )
        item["index"] = torch.tensor(i, dtype=torch.int64)
        return self.augment(item) if self.augment is not None else item


class StereoFormatDataModule(ReconDataModule):
    """A real stereo dataset in one of :data:`READERS` (``root`` required) or :data:`BUNDLED` (no ``root``).

    Args:
        format: reader name.
        root: the dataset folder the reader expects (see its docstring).
        options: further reader arguments (e.g. ``{year: 2015}`` for KITTI).
        max_disparity: largest ground-truth disparity in pixels (module docstring).
        disparities_above_max: ``refuse`` (default) or ``exclude`` ground truth beyond ``max_disparity``.
        val_fraction: share of pairs held out for validation, in [0, 1).
        split_seed: seeds the draw of the validation pairs.
        test_split: ``all`` or ``val``.
        augment: :class:`~recon.data.stereo.StereoAugment` fields for training pairs (null: none).
    """

    problem = "stereo"

    def __init__(
        self,
        format: str,
        root: str | None = None,
        options: dict | None = None,
        max_disparity: float = 192,
        batch_size: int = 1,
        num_workers: int = 0,
        val_fraction: float = 0.0,
        split_seed: int = 0,
        test_split: str = "all",
        augment: dict | None = None,
        pin_memory: bool = False,
        disparities_above_max: str = "refuse",
    ):
        super().__init__(batch_size, num_workers, pin_memory)
        if format not in READERS and format not in BUNDLED:
            raise ValueError(f"data.format must be one of {sorted(READERS) + sorted(BUNDLED)}, got {format!r}")
        if format in READERS and not root:
            raise ValueError(
                f"data.root is required for data.format={format}: the dataset folder "
                f"(e.g. data.root=/datasets/{format})"
            )
        if format in READERS and not Path(root).is_dir():
            raise FileNotFoundError(f"data.root = {root} is not a folder")
        if not max_disparity > 0:
            raise ValueError(f"data.max_disparity must be positive, got {max_disparity}")
        if disparities_above_max not in ABOVE_MAX:
            raise ValueError(f"data.disparities_above_max must be one of {ABOVE_MAX}, got {disparities_above_max!r}")
        if not 0 <= val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        if test_split not in ("all", "val"):
            raise ValueError(f"data.test_split must be 'all' or 'val', got {test_split!r}")
        if batch_size <= 0 or num_workers < 0:
            raise ValueError(
                f"data.batch_size must be positive and data.num_workers >= 0, got {batch_size}, {num_workers}"
            )
        try:
            self.augment = None if augment is None else StereoAugment(**augment)
        except TypeError as e:
            raise ValueError(f"data.augment: {e}") from None
        if batch_size > 1 and (self.augment is None or self.augment.crop_size is None):
            raise ValueError(
                f"data.batch_size = {batch_size} needs data.augment.crop_size: real pairs differ in "
                "size, so only crops of one size can be batched"
            )
        self.format, self.root, self.options = format, root, dict(options or {})
        self.max_disparity, self.above_max = float(max_disparity), disparities_above_max
        self.val_fraction, self.split_seed, self.test_split = float(val_fraction), int(split_seed), test_split

    def _read(self) -> Dataset:
        if self.format in BUNDLED:
            return BundledPairs(self.format)
        try:
            return READERS[self.format](self.root, **self.options)
        except TypeError as e:
            raise ValueError(f"data.options for format {self.format}: {e}") from None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        dataset = self._read()
        if hasattr(dataset, "check_headers"):
            dataset.check_headers()
        n = len(dataset)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        held_out = sorted(order[: math.floor(self.val_fraction * n)])
        kept = sorted(set(range(n)) - set(held_out))
        test = held_out if self.test_split == "val" else list(range(n))
        self.datasets = {
            "train": CheckedSubset(dataset, kept, self.max_disparity, self.augment, self.above_max),
            "val": CheckedSubset(dataset, held_out, self.max_disparity, above_max=self.above_max),
            "test": CheckedSubset(dataset, test, self.max_disparity, above_max=self.above_max),
        }

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A small random batch with the keys of the item contract (for config checks; reads no files)."""
        B, H, W = batch_size, 64, 128
        g = torch.Generator().manual_seed(0)
        disparity = 1 + (min(self.max_disparity, W / 2) - 1) * torch.rand(B, 1, H, W, generator=g)
        return {
            "left": torch.rand(B, 3, H, W, generator=g),
            "right": torch.rand(B, 3, H, W, generator=g),
            "disparity": disparity,
            "valid": torch.ones(B, 1, H, W, dtype=torch.bool),
            "nonoccluded": torch.ones(B, 1, H, W, dtype=torch.bool),
            "focal": torch.full((B,), math.nan),
            "baseline": torch.full((B,), math.nan),
            "index": torch.arange(B),
        }

    def describe(self) -> dict:
        return {
            "format": self.format,
            "root": None if self.root is None else str(Path(self.root).resolve()),
            "options": self.options,
            "max_disparity": self.max_disparity,
            "disparities_above_max": self.above_max,
            "test_split": self.test_split,
        }

    def dataloader(self, split: str) -> DataLoader:
        """The loader of ``split``; validation and test batches hold one pair (real pairs differ in size)."""
        train = split == "train"
        return split_loader(
            self.datasets[split], self.batch_size if train else 1, train, self.num_workers, self.pin_memory
        )

    def train_dataloader(self) -> DataLoader:
        if not len(self.datasets["train"]):
            raise ValueError(f"no training pairs: data.val_fraction = {self.val_fraction} holds out every pair")
        return super().train_dataloader()
