"""Plain folders of pairs: matching by file name, optional PFM/PNG ground truth with a scale, errors."""

import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from recon.data.formats.base import check_stereo_item
from recon.data.formats.folder_pairs import FolderPairsStereo
from recon.data.formats.pfm import write_pfm

H, W = 3, 4


def make_pairs(root, names=("b.png", "a.png"), rgba_left=False):
    rng = np.random.default_rng(0)
    (root / "left").mkdir(parents=True)
    (root / "right").mkdir()
    for name in names:
        channels = 4 if rgba_left else 3
        Image.fromarray(rng.integers(0, 256, (H, W, channels), dtype=np.uint8)).save(root / "left" / name)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "right" / name)
    (root / "left" / "notes.txt").write_text("ignored")


def test_pairs_without_ground_truth(tmp_path):
    make_pairs(tmp_path, rgba_left=True)
    dataset = FolderPairsStereo(tmp_path, focal=500.0)
    assert dataset.ids == ["a", "b"] and len(dataset) == 2
    item = dataset[0]
    check_stereo_item(item)
    assert not item["valid"].any() and not item["nonoccluded"].any() and not item["disparity"].any()
    assert item["focal"] == 500.0 and math.isnan(item["baseline"].item())
    rgba = np.asarray(Image.open(tmp_path / "left" / "a.png"))
    np.testing.assert_array_equal(item["left"].numpy(), rgba[..., :3].transpose(2, 0, 1) / np.float32(255))


def test_pfm_and_scaled_png_ground_truth(tmp_path):
    make_pairs(tmp_path)
    (tmp_path / "disparity").mkdir()
    pfm = np.array([[1.5, np.inf, 0.0, 2.0]] * H, np.float32)
    write_pfm(tmp_path / "disparity" / "a.pfm", pfm)
    png = np.array([[0, 256, 512, 1000]] * H, np.uint16)
    Image.fromarray(png).save(tmp_path / "disparity" / "b.png")
    a, b = FolderPairsStereo(tmp_path)[0], FolderPairsStereo(tmp_path)[1]
    for item in (a, b):
        check_stereo_item(item)
    np.testing.assert_array_equal(a["valid"][0].numpy(), np.isfinite(pfm) & (pfm > 0))
    np.testing.assert_array_equal(a["disparity"][0].numpy(), np.where(np.isfinite(pfm), pfm, 0))
    np.testing.assert_array_equal(b["disparity"][0].numpy(), png / np.float32(256))
    np.testing.assert_array_equal(
        FolderPairsStereo(tmp_path, png_scale=4)[1]["disparity"][0].numpy(), png / np.float32(4)
    )
    batch = next(iter(torch.utils.data.DataLoader(FolderPairsStereo(tmp_path), batch_size=2)))
    assert batch["disparity"].shape == (2, 1, H, W) and batch["index"].tolist() == [0, 1]


def test_errors_name_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "left"))):
        FolderPairsStereo(tmp_path)
    with pytest.raises(ValueError, match="png_scale must be positive"):
        FolderPairsStereo(tmp_path, png_scale=0)
    make_pairs(tmp_path)
    (tmp_path / "right" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "right" / "b.png"))):
        FolderPairsStereo(tmp_path)
    Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(tmp_path / "right" / "b.png")
    with pytest.raises(
        ValueError,
        match=re.escape(str(tmp_path / "left" / "b.png"))
        + f" is {W}x{H} .*"
        + re.escape(str(tmp_path / "right" / "b.png"))
        + f" is {W}x{H + 1}",
    ):
        FolderPairsStereo(tmp_path)[1]
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "right" / "b.png")
    (tmp_path / "disparity").mkdir()
    write_pfm(tmp_path / "disparity" / "a.pfm", np.ones((H, W), np.float32))
    with pytest.raises(FileNotFoundError, match="missing disparity for " + re.escape(str(tmp_path / "left" / "b.png"))):
        FolderPairsStereo(tmp_path)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "disparity" / "b.png")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "disparity" / "b.png")) + ".*single-channel"):
        FolderPairsStereo(tmp_path)[1]
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "left" / "b.jpg")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "right" / "b.jpg")
    with pytest.raises(ValueError, match="share a file stem"):
        FolderPairsStereo(tmp_path)
