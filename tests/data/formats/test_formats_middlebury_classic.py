"""Middlebury 2001-2006: per-year file names and 8-bit disparity scales, 0 = unknown."""

import math
import re

import numpy as np
import pytest
from PIL import Image

from recon.data.formats.base import check_stereo_item
from recon.data.formats.middlebury_classic import MiddleburyClassicStereo

H, W = 5, 7


def make_scene(folder, left, right, disparity_name, stored, ext_gray=".png", rgb=True, nonocc=None):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    shape = (H, W, 3) if rgb else (H, W)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / left)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / right)
    Image.fromarray(stored).save(folder / disparity_name)
    if nonocc is not None:
        Image.fromarray(nonocc).save(folder / "nonocc.png")


def stored_values():
    stored = np.arange(H * W, dtype=np.uint8).reshape(H, W) * 7
    stored[0, :3] = 0
    return stored


@pytest.mark.parametrize(
    "year, names, scale",
    [
        (2005, ("view1.png", "view5.png", "disp1.png"), 1.0),
        (2006, ("view1.png", "view5.png", "disp1.png"), 1.0),
        (2003, ("im2.png", "im6.png", "disp2.png"), 4.0),
        (2001, ("im2.ppm", "im6.ppm", "disp2.pgm"), 8.0),
    ],
)
def test_default_layout_and_scale_per_year(tmp_path, year, names, scale):
    stored = stored_values()
    make_scene(tmp_path / "Scene", *names, stored)
    dataset = MiddleburyClassicStereo(tmp_path, year=year)
    assert dataset.ids == ["Scene"] and dataset.scale == scale
    item = dataset[0]
    check_stereo_item(item)
    np.testing.assert_array_equal(item["disparity"][0].numpy(), stored.astype(np.float32) / np.float32(scale))
    np.testing.assert_array_equal(item["valid"][0].numpy(), stored > 0)
    assert item["nonoccluded"].equal(item["valid"])
    assert math.isnan(item["focal"].item()) and math.isnan(item["baseline"].item())


def test_scale_override_names_override_nonocc_mask_and_gray_views(tmp_path):
    stored = stored_values()
    nonocc = np.where(np.arange(W)[None] < 2, 0, 255).repeat(H, axis=0).astype(np.uint8)
    make_scene(tmp_path / "Art", "view1.png", "view5.png", "disp1.png", stored, nonocc=nonocc, rgb=False)
    item = MiddleburyClassicStereo(tmp_path, year=2005, scale=3, focal=1247.0, baseline=160.0)[0]
    check_stereo_item(item)
    np.testing.assert_allclose(item["disparity"][0].numpy(), stored / 3.0, rtol=1e-6)
    np.testing.assert_array_equal(item["nonoccluded"][0].numpy(), (stored > 0) & (nonocc == 255))
    assert item["focal"] == 1247.0 and item["baseline"] == 160.0
    assert item["left"][0].equal(item["left"][2])
    make_scene(tmp_path / "tsukuba", "scene1.row3.col3.ppm", "scene1.row3.col4.ppm", "truedisp.row3.col3.pgm", stored)
    tsukuba = MiddleburyClassicStereo(
        tmp_path / "tsukuba",
        year=2001,
        scale=16,
        left="scene1.row3.col3.ppm",
        right="scene1.row3.col4.ppm",
        disparity="truedisp.row3.col3.pgm",
    )
    np.testing.assert_array_equal(tsukuba[0]["disparity"][0].numpy(), stored / np.float32(16))


def test_several_scenes_selection_and_missing_ground_truth(tmp_path):
    for name in ("Cones", "Teddy"):
        make_scene(tmp_path / name, "im2.png", "im6.png", "disp2.png", stored_values())
    (tmp_path / "Teddy" / "disp2.png").unlink()
    dataset = MiddleburyClassicStereo(tmp_path, year=2003)
    assert dataset.ids == ["Cones", "Teddy"]
    assert dataset[0]["valid"].any() and not dataset[1]["valid"].any()
    assert MiddleburyClassicStereo(tmp_path, year=2003, scenes=["Teddy"]).ids == ["Teddy"]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="year must be one of"):
        MiddleburyClassicStereo(tmp_path, year=2014)
    with pytest.raises(ValueError, match="scale must be positive"):
        MiddleburyClassicStereo(tmp_path, year=2005, scale=0)
    with pytest.raises(FileNotFoundError, match="no Middlebury 2005 scenes"):
        MiddleburyClassicStereo(tmp_path, year=2005)
    make_scene(tmp_path / "Art", "view1.png", "view5.png", "disp1.png", stored_values())
    (tmp_path / "Art" / "view5.png").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "Art" / "view5.png"))):
        MiddleburyClassicStereo(tmp_path, year=2005)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "Art" / "gt.pgm"))):
        MiddleburyClassicStereo(tmp_path, year=2005, disparity="gt.pgm")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "Books"))):
        MiddleburyClassicStereo(tmp_path, year=2005, scenes=["Books"])
    make_scene(tmp_path / "Dolls", "view1.png", "view5.png", "disp1.png", np.zeros((H, W + 1), np.uint8))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "Dolls" / "disp1.png")) + f" is {W + 1}x{H}"):
        MiddleburyClassicStereo(tmp_path, year=2005, scenes=["Dolls"])[0]
