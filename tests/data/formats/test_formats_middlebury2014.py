"""Middlebury 2014: calib.txt parsing, scene folders (2014 and MiddEval3 naming), and the real Motorcycle pair."""

import math
import re

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from recon.data.formats.base import check_stereo_item
from recon.data.formats.middlebury2014 import MOTORCYCLE_FULL_CALIB, Middlebury2014Stereo, motorcycle_pair, parse_calib
from recon.data.formats.pfm import write_pfm
from tests.helpers.middlebury2014_files import calib_text, make_scene
from tests.helpers.photometric import photometric_error

MOTORCYCLE_CALIB_TXT = """cam0=[3979.911 0 1244.772; 0 3979.911 1019.507; 0 0 1]
cam1=[3979.911 0 1369.115; 0 3979.911 1019.507; 0 0 1]
doffs=124.343
baseline=193.001
width=2964
height=2000
ndisp=270
isint=0
vmin=23
vmax=245
dyavg=0
dymax=0
"""


def test_parses_the_official_motorcycle_calib(tmp_path):
    (tmp_path / "calib.txt").write_text(MOTORCYCLE_CALIB_TXT)
    calib = parse_calib(tmp_path / "calib.txt")
    np.testing.assert_array_equal(calib.cam0, MOTORCYCLE_FULL_CALIB.cam0)
    np.testing.assert_array_equal(calib.cam1, MOTORCYCLE_FULL_CALIB.cam1)
    assert (calib.focal, calib.doffs, calib.baseline) == (3979.911, 124.343, 193.001)
    assert (calib.width, calib.height, calib.ndisp, calib.vmin, calib.vmax) == (2964, 2000, 270, 23, 245)
    assert calib.extra == {"isint": "0", "dyavg": "0", "dymax": "0"}
    assert calib.doffs == pytest.approx(calib.cam1[0, 2] - calib.cam0[0, 2])


def test_calib_doffs_defaults_to_principal_point_difference_and_blank_lines_are_skipped(tmp_path):
    text = "\n".join(line for line in calib_text(cx0=10, cx1=14).splitlines() if not line.startswith("doffs"))
    (tmp_path / "calib.txt").write_text("\n" + text.replace("\n", "\n\n") + "\n\n")
    calib = parse_calib(tmp_path / "calib.txt")
    assert calib.doffs == 4.0 and math.isnan(calib.vmin)


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("cam0 [1 0 0; 0 1 0; 0 0 1]", r"line 1: expected 'key=value'"),
        ("cam0=[1 0 0; 0 1 0]", r"line 1: bad value for 'cam0'.*3 rows"),
        ("cam0=1 0 0; 0 1 0; 0 0 1", r"line 1: bad value for 'cam0'.*bracketed"),
        ("cam0=[1 0 x; 0 1 0; 0 0 1]", r"line 1: bad value for 'cam0'"),
    ],
)
def test_calib_errors_name_file_and_line(tmp_path, bad_line, message):
    lines = calib_text().splitlines()
    (tmp_path / "calib.txt").write_text("\n".join([bad_line] + lines[1:]))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "calib.txt")) + ", " + message):
        parse_calib(tmp_path / "calib.txt")


@pytest.mark.parametrize(
    "key, replacement, message",
    [
        ("baseline", "baseline=160mm", r"line 4: bad value for 'baseline'"),
        ("width", "width=6.5", r"line 5: bad value for 'width'.*positive integer"),
        ("height", "", r"missing required key 'height'"),
    ],
)
def test_calib_bad_or_missing_values(tmp_path, key, replacement, message):
    lines = [replacement if line.startswith(key) else line for line in calib_text().splitlines()]
    (tmp_path / "calib.txt").write_text("\n".join(line for line in lines if line))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "calib.txt")) + ".*" + message):
        parse_calib(tmp_path / "calib.txt")


def test_scaled_calib_and_depth_use_doffs():
    quarter = MOTORCYCLE_FULL_CALIB.scaled(0.25)
    assert quarter.focal == pytest.approx(994.97775) and quarter.doffs == pytest.approx(31.08575)
    assert (quarter.width, quarter.height, quarter.baseline) == (741, 500, 193.001)
    assert quarter.cam0[2, 2] == 1 and quarter.cam1[0, 2] == pytest.approx(1369.115 / 4)
    d = torch.tensor([[10.0, 0.0]])
    z = quarter.depth(d, d > 0)
    assert z[0, 0].item() == pytest.approx(193.001 * 994.97775 / (10 + 31.08575)) and z[0, 1] == 0


def test_scene_folders_with_2014_and_middeval3_naming(tmp_path):
    d_a = make_scene(tmp_path / "Adirondack", gt_name="disp0GT.pfm", mask=True, seed=1)
    d_b = make_scene(tmp_path / "Bicycle", gt_name="disp0.pfm", mask=False, seed=2)
    make_scene(tmp_path / "Test", gt_name=None, mask=False, seed=3)
    (tmp_path / "not_a_scene").mkdir()
    dataset = Middlebury2014Stereo(tmp_path)
    assert dataset.ids == ["Adirondack", "Bicycle", "Test"] and len(dataset) == 3
    items = [dataset[i] for i in range(3)]
    for i, item in enumerate(items):
        check_stereo_item(item)
        assert item["index"] == i and item["focal"] == 100.0 and item["baseline"] == 160.0
    assert dataset.calibs[0].doffs == 2.5
    a, b, test = items
    expected_valid = np.ones((4, 6), bool)
    expected_valid[0, 0] = False
    np.testing.assert_array_equal(a["valid"][0].numpy(), expected_valid)
    np.testing.assert_array_equal(a["disparity"][0].numpy(), np.where(expected_valid, d_a, 0))
    nonocc = expected_valid.copy()
    nonocc[1, :2] = False
    np.testing.assert_array_equal(a["nonoccluded"][0].numpy(), nonocc)
    np.testing.assert_array_equal(b["disparity"][0].numpy(), np.where(expected_valid, d_b, 0))
    assert torch.equal(b["nonoccluded"], b["valid"])
    assert not test["valid"].any() and not test["nonoccluded"].any() and not test["disparity"].any()
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    assert batch["left"].shape == (3, 3, 4, 6) and batch["focal"].shape == (3,)


def test_scene_selection_root_as_scene_and_missing_files(tmp_path):
    make_scene(tmp_path / "A", seed=1)
    make_scene(tmp_path / "B", seed=2)
    assert Middlebury2014Stereo(tmp_path, scenes=["B", "A"]).ids == ["B", "A"]
    assert Middlebury2014Stereo(tmp_path / "A").ids == ["A"]
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "C"))):
        Middlebury2014Stereo(tmp_path, scenes=["C"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no Middlebury 2014 scenes .* under " + re.escape(str(tmp_path))):
        Middlebury2014Stereo(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="root not found: " + re.escape(str(tmp_path / "nowhere"))):
        Middlebury2014Stereo(tmp_path / "nowhere")
    (tmp_path / "B" / "im1.png").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "B" / "im1.png"))):
        Middlebury2014Stereo(tmp_path)
    (tmp_path / "A" / "calib.txt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "A" / "calib.txt"))):
        Middlebury2014Stereo(tmp_path, scenes=["A"])


def test_size_mismatches_name_both_files(tmp_path):
    make_scene(tmp_path / "A")
    Image.fromarray(np.zeros((4, 7, 3), np.uint8)).save(tmp_path / "A" / "im1.png")
    with pytest.raises(
        ValueError,
        match=re.escape(str(tmp_path / "A" / "im0.png"))
        + " is 6x4.*"
        + re.escape(str(tmp_path / "A" / "im1.png"))
        + " is 7x4",
    ):
        Middlebury2014Stereo(tmp_path)[0]
    make_scene(tmp_path / "B")
    write_pfm(tmp_path / "B" / "disp0.pfm", np.ones((5, 6), np.float32))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "B" / "disp0.pfm")) + " is 6x5"):
        Middlebury2014Stereo(tmp_path, scenes=["B"])[0]


def occluded_in_right_view(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(H, W) bool: a valid left pixel is occluded when a pixel to its right lands further left in the
    right image (x' > x but x' - d' < x - d means x' is nearer and covers x)."""
    H, W = disparity.shape
    x_right = np.where(valid, np.arange(W)[None] - disparity, np.inf)
    to_the_right = np.minimum.accumulate(x_right[:, ::-1], axis=1)[:, ::-1]  # min over x' >= x
    later = np.concatenate([to_the_right[:, 1:], np.full((H, 1), np.inf)], axis=1)  # min over x' > x
    return valid & (later < x_right - 0.5)


@pytest.fixture(scope="module")
def motorcycle():
    return motorcycle_pair()


def test_motorcycle_pair_shapes_calibration_and_ground_truth(motorcycle):
    item, calib = motorcycle
    check_stereo_item(item)
    assert item["left"].shape == (3, 500, 741)  # 2964 x 2000 / 4
    # scikit-image's documented values for its downsampled copy
    assert calib.focal == pytest.approx(994.978, abs=1e-3) and calib.doffs == pytest.approx(31.086, abs=1e-3)
    assert calib.cam0[0, 2] == pytest.approx(311.193, abs=1e-3)
    assert calib.cam0[1, 2] == pytest.approx(254.877, abs=1e-3)
    assert item["focal"].item() == pytest.approx(994.978, abs=1e-3)
    assert item["baseline"].item() == pytest.approx(193.001)
    valid = item["valid"][0]
    assert 0.85 < valid.float().mean().item() < 0.98  # inf marks the rest
    d = item["disparity"][0][valid]
    assert calib.vmin - 2 < d.min().item() and d.max().item() < calib.vmax + 2 < calib.ndisp
    _, _, raw = skimage.data.stereo_motorcycle()
    np.testing.assert_array_equal(valid.numpy(), np.isfinite(raw))


def test_motorcycle_disparity_warps_right_view_onto_left(motorcycle):
    item, _ = motorcycle
    d, valid = item["disparity"][0], item["valid"][0]
    visible = valid & ~torch.from_numpy(occluded_in_right_view(d.numpy(), valid.numpy()))
    assert 0.8 < visible.float().mean().item() <= valid.float().mean().item()
    error = photometric_error(item, d, visible)
    assert error < 0.04
    assert error < 0.3 * photometric_error(item, torch.zeros_like(d), visible)  # no shift
    assert error < 0.3 * photometric_error(item, -d, visible)  # wrong sign
    assert error < 0.5 * photometric_error(item, 1.1 * d, visible)  # wrong scale
    assert error < 0.5 * photometric_error(item, 0.9 * d, visible)
    assert error < 0.3 * photometric_error(item, 4 * d, visible)  # full-size disparities


def test_reader_loads_the_motorcycle_scene_folder_like_the_adapter(tmp_path, motorcycle):
    item, calib = motorcycle
    scene = tmp_path / "Motorcycle"
    scene.mkdir()
    left, right, disparity = skimage.data.stereo_motorcycle()  # wherever scikit-image keeps the files
    Image.fromarray(left).save(scene / "im0.png")
    Image.fromarray(right).save(scene / "im1.png")
    write_pfm(scene / "disp0.pfm", disparity)

    def fmt(m):
        return "[" + "; ".join(" ".join(f"{v:.6f}" for v in row) for row in m) + "]"

    (scene / "calib.txt").write_text(
        f"cam0={fmt(calib.cam0)}\ncam1={fmt(calib.cam1)}\ndoffs={calib.doffs}\nbaseline={calib.baseline}\n"
        f"width={calib.width}\nheight={calib.height}\nndisp={calib.ndisp}\nvmin={calib.vmin}\nvmax={calib.vmax}\n"
    )
    loaded = Middlebury2014Stereo(tmp_path)[0]
    for key in item:
        assert torch.equal(loaded[key], item[key]), key
