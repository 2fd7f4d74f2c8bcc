"""Random-dot stereo pairs with exact piecewise-constant disparity, a tiny datamodule serving them, and a constant
stereo "model".

Items follow the stereo contract (:mod:`recon.data.formats.base`), so tests of stereo models, the stereo task and
the runner need neither rendering nor files.
"""

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


def random_dot_item(height: int, width: int, seed: int, max_disparity: float = 16.0) -> dict[str, torch.Tensor]:
    """One rectified pair of blurred random dots: a background plane and a brighter-textured rectangle in front.

    The right image is random; the left is ``left[y, x] = right[y, x - d(y, x)]`` for integer disparities (a
    background ``d_bg`` and a rectangle at ``d_fg > d_bg``, both drawn below ``max_disparity``), so ``d`` is exact
    wherever ``x - d >= 0`` (``nonoccluded``); the left columns without a match get fresh dots. A 3 x 3 block has
    no ground truth (``valid`` False, disparity 0).
    """
    g = torch.Generator().manual_seed(seed)
    top = max(int(max_disparity) - 1, 2)
    d_bg = int(torch.randint(1, max(top // 2, 2), (), generator=g))
    d_fg = int(torch.randint(d_bg + 1, top + 1, (), generator=g))
    right = F.avg_pool2d(torch.rand(1, 3, height + 2, width + 2, generator=g), 3, stride=1)[0]
    disparity = torch.full((height, width), float(d_bg))
    y0 = int(torch.randint(0, height // 2, (), generator=g))
    x0 = int(torch.randint(width // 4, width // 2, (), generator=g))
    disparity[y0 : y0 + height // 2, x0 : x0 + width // 3] = float(d_fg)
    source = torch.arange(width)[None, :] - disparity.long()
    inside = source >= 0
    left = torch.gather(right, 2, source.clamp(min=0)[None].expand(3, -1, -1))
    left = torch.where(inside[None], left, torch.rand(3, height, width, generator=g))
    valid = torch.ones(height, width, dtype=torch.bool)
    valid[1:4, 1:4] = False
    return {
        "left": left.contiguous(),
        "right": right.contiguous(),
        "disparity": torch.where(valid, disparity, 0.0)[None],
        "valid": valid[None],
        "nonoccluded": (valid & inside)[None],
        "focal": torch.tensor(50.0),
        "baseline": torch.tensor(0.1),
        "index": torch.tensor(seed, dtype=torch.int64),
    }


class RandomDotStereoData(pl.LightningDataModule):
    """Train/val/test splits of :func:`random_dot_item` pairs (``index`` = position in the split)."""

    problem = "stereo"

    def __init__(
        self,
        num_train: int = 8,
        num_val: int = 4,
        num_test: int = 4,
        image_size=(32, 64),
        batch_size: int = 4,
        max_disparity: float = 16.0,
        seed: int = 0,
        num_workers: int = 0,
    ):
        super().__init__()
        self.image_size = tuple(int(v) for v in image_size)
        self.batch_size, self.max_disparity, self.seed = batch_size, float(max_disparity), seed
        sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.datasets = {}
        for k, (split, n) in enumerate(sizes.items()):
            items = [
                random_dot_item(*self.image_size, seed=seed * 1000 + 100 * k + i, max_disparity=max_disparity)
                for i in range(n)
            ]
            for i, item in enumerate(items):
                item["index"] = torch.tensor(i, dtype=torch.int64)
            self.datasets[split] = items

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        return torch.utils.data.default_collate(self.datasets["val"][:batch_size])

    def split_ids(self) -> dict[str, list[str]]:
        return {split: [f"{split}_{i}" for i in range(len(items))] for split, items in self.datasets.items()}

    def describe(self) -> dict:
        return {
            "random_dots": {"image_size": list(self.image_size), "seed": self.seed},
            "max_disparity": self.max_disparity,
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.datasets[split], batch_size=self.batch_size, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class ConstantStereo(nn.Module):
    """Predicts ``value`` everywhere; in training with ``outputs > 1`` also the maps ``value * (i + 1) / outputs``
    as ``disparities`` (the last one = ``disparity``)."""

    problem = "stereo"
    inputs = ("left", "right")

    def __init__(self, value: float = 4.0, max_disparity: float = 16.0, outputs: int = 1):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)))
        self.max_disparity, self.outputs = max_disparity, outputs

    def forward(self, left, right):
        d = self.value * torch.ones_like(left[:, :1])
        out = {"disparity": d}
        if self.training and self.outputs > 1:
            out["disparities"] = [d * (i + 1) / self.outputs for i in range(self.outputs)]
        return out
