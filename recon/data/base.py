"""The datamodule contract of recon and the base class that implements its shared part.

The runner and its checks use a datamodule through :class:`DataModuleContract` (``problem``, ``example_batch``,
``split_ids``, ``describe``) and Lightning's loader hooks; :class:`ReconDataModule` holds what every recon
datamodule shares (the splits' datasets, the loaders, ``split_ids``), so a datamodule writes only its own part:
``problem``, ``setup`` filling ``datasets``, ``example_batch`` and ``describe``.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Protocol, runtime_checkable

import pytorch_lightning as pl
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from recon.data.loaders import split_loader
from recon.data.synthetic.config import GeneratorConfig, config_hash
from recon.data.synthetic.generator import load_or_generate, load_or_generate_splits

SPLITS = ("train", "val", "test")


@runtime_checkable
class DataModuleContract(Protocol):
    """What recon asks of a datamodule beyond Lightning's ``setup`` and ``*_dataloader`` hooks.

    Optional members, read where present: ``max_disparity`` (float, stereo: the largest ground-truth disparity in
    pixels; validation checks that the model's range covers it), ``datasets`` (the splits' datasets; non-learned
    single-view models are fitted on ``datasets["train"]``), ``occupancy_resolution`` and ``occupancy_extent``
    (single-view occupancy ground truth; the task checks that an occupancy model's grid equals them).
    """

    problem: str
    """The problem the items are examples of (``single_view``, ``stereo``, ``multi_view``): it selects the task,
    and the model must declare the same one."""

    def example_batch(self, batch_size: int = 2) -> dict[str, Tensor]:
        """A collated batch with the keys, shapes and value ranges of real items, built without reading or rendering
        anything: validation runs the model and the task's losses on it before any data is prepared."""

    def split_ids(self) -> dict[str, list[str]]:
        """The item ids of the ``train``, ``val`` and ``test`` splits, in loader order (set up on demand); the run
        summary records them, so runs can be compared on the same test items."""

    def describe(self) -> dict:
        """JSON-serialisable settings that define the items (not the loaders): the run summary records them, and
        runs are comparable when their descriptions agree."""


class ReconDataModule(pl.LightningDataModule):
    """The shared part of recon's datamodules (see :class:`DataModuleContract` for the whole contract).

    Attributes:
        problem: class attribute, the problem the items belong to.
        datasets: split name -> dataset, filled by ``setup``; every dataset has ``ids``, one name per item.
        batch_size, num_workers, pin_memory: the loaders' settings.

    Loaders come from :func:`~recon.data.loaders.split_loader`: the train split shuffled (its last incomplete batch
    dropped), the other splits in item order.
    """

    problem: str

    def __init__(self, batch_size: int, num_workers: int = 0, pin_memory: bool = False):
        super().__init__()
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.datasets: dict[str, Dataset] = {}

    def split_ids(self) -> dict[str, list[str]]:
        """Item ids of the train, val and test splits, in loader order."""
        self.setup()
        return {split: list(self.datasets[split].ids) for split in SPLITS}

    def dataloader(self, split: str) -> DataLoader:
        """The loader of ``split``, shuffled for ``train`` only."""
        return split_loader(self.datasets[split], self.batch_size, split == "train", self.num_workers, self.pin_memory)

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train")

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")


class SyntheticDataModule(ReconDataModule):
    """A datamodule of synthetic scenes, rendered once and cached under ``cache_dir`` keyed by the generator config.

    A subclass parses its generator config, passes it here, and builds a split's dataset from the split's cached
    arrays in :meth:`make_dataset`.
    """

    def __init__(
        self,
        config: GeneratorConfig,
        cache_dir: str,
        batch_size: int,
        num_workers: int,
        render_workers: int,
        pin_memory: bool,
    ):
        super().__init__(batch_size, num_workers, pin_memory)
        if batch_size <= 0:
            raise ValueError(f"data.batch_size must be positive, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
        self.config = config
        self.cache_dir, self.render_workers = Path(cache_dir), render_workers

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the rendered images."""
        return tuple(self.config.image_size)

    def load(self, split: str) -> dict:
        """The split's rendered arrays, generated and cached on first use."""
        return load_or_generate(self.config, self.cache_dir, split, workers=self.render_workers)

    def make_dataset(self, split: str, arrays: dict) -> Dataset:
        raise NotImplementedError

    def prepare_data(self) -> None:
        load_or_generate_splits(self.config, self.cache_dir, SPLITS, workers=self.render_workers)

    def setup(self, stage: str | None = None) -> None:
        for split in SPLITS:
            if split not in self.datasets:
                self.datasets[split] = self.make_dataset(split, self.load(split))

    def describe(self) -> dict:
        """The generator settings (subclasses add what else changes the items)."""
        return {"generator": asdict(self.config), "generator_hash": config_hash(self.config)}
