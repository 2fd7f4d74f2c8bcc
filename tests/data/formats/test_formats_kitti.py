"""KITTI 2012/2015: exact uint16/256 decoding, occ vs noc masks, calibration, testing split, errors."""

import math
import re

import numpy as np
import pytest
from PIL import Image

from recon.data.formats.base import check_stereo_item
from recon.data.formats.kitti import KittiStereo, parse_calib, read_uint16_disparity

H, W = 4, 6
# Realistic rectified projections (KITTI calibration day 2011_09_26 for 2015, 2011_10_03 for 2012).
P_RECT_02 = (
    "7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 "
    "0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 "
    "0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03"
)
P_RECT_03 = (
    "7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 "
    "0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 "
    "0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03"
)
P0 = (
    "7.070912e+02 0.000000e+00 6.018873e+02 0.000000e+00 "
    "0.000000e+00 7.070912e+02 1.831104e+02 0.000000e+00 "
    "0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00"
)
P1 = (
    "7.070912e+02 0.000000e+00 6.018873e+02 -3.798145e+02 "
    "0.000000e+00 7.070912e+02 1.831104e+02 0.000000e+00 "
    "0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00"
)


def occ_values():
    values = np.array([[0, 1, 255, 256, 257, 65535]] * H, np.uint16)
    values[1] = np.arange(W) * 1000 + 3
    return values


def noc_values():
    noc = occ_values()
    noc[:, 4] = 0  # occluded pixels: in disp_occ only
    return noc


def make_kitti(root, year, frames=("000000_10", "000001_10"), split="training", gt=True, calib=True):
    names = (
        dict(left="image_0", right="image_1", occ="disp_occ", noc="disp_noc")
        if year == 2012
        else dict(left="image_2", right="image_3", occ="disp_occ_0", noc="disp_noc_0")
    )
    base = root / split
    for folder in names.values():
        if gt or folder in (names["left"], names["right"]):
            (base / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    shape = (H, W) if year == 2012 else (H, W, 3)
    for frame in frames:
        for side in ("left", "right"):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(base / names[side] / f"{frame}.png")
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
            base / names["left"] / f"{frame[:-3]}_11.png"
        )  # next frame (scene flow): not a stereo item
        if gt:
            Image.fromarray(occ_values()).save(base / names["occ"] / f"{frame}.png")
            Image.fromarray(noc_values()).save(base / names["noc"] / f"{frame}.png")
        if calib:
            folder = base / ("calib" if year == 2012 else "calib_cam_to_cam")
            folder.mkdir(exist_ok=True)
            if year == 2012:
                text = f"P0: {P0}\nP1: {P1}\nP2: {P0}\nP3: {P1}\n"
            else:
                text = (
                    f"calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
                    f"P_rect_02: {P_RECT_02}\nP_rect_03: {P_RECT_03}\n"
                )
            (folder / f"{frame[:6]}.txt").write_text(text)
    return names


@pytest.mark.parametrize("year", [2012, 2015])
def test_decodes_disparity_exactly_and_masks(tmp_path, year):
    make_kitti(tmp_path, year)
    dataset = KittiStereo(tmp_path, year=year)
    assert dataset.ids == ["000000_10", "000001_10"]
    item = dataset[1]
    check_stereo_item(item)
    assert item["index"] == 1
    expected = occ_values().astype(np.float64) / 256.0
    np.testing.assert_array_equal(item["disparity"][0].numpy().astype(np.float64), expected)
    assert item["disparity"][0, 0, 2].item() == 255 / 256 and item["disparity"][0, 0, 5].item() == 65535 / 256
    np.testing.assert_array_equal(item["valid"][0].numpy(), occ_values() > 0)
    np.testing.assert_array_equal(item["nonoccluded"][0].numpy(), noc_values() > 0)
    if year == 2012:
        assert item["left"][0].equal(item["left"][1]) and item["left"][1].equal(item["left"][2])  # gray -> RGB


def test_calibration_focal_and_baseline_in_metres(tmp_path):
    make_kitti(tmp_path / "k12", 2012)
    make_kitti(tmp_path / "k15", 2015)
    item12, item15 = KittiStereo(tmp_path / "k12", 2012)[0], KittiStereo(tmp_path / "k15", 2015)[0]
    assert item12["focal"].item() == pytest.approx(707.0912)
    assert item12["baseline"].item() == pytest.approx(379.8145 / 707.0912)  # -P1[0,3] / P1[0,0]
    assert item15["focal"].item() == pytest.approx(721.5377)
    # cameras 2 and 3 are both offset from camera 0: the stereo baseline is the difference of their offsets
    assert item15["baseline"].item() == pytest.approx((44.85728 + 339.5242) / 721.5377)
    assert 0.5 < item15["baseline"].item() < 0.56
    calib = parse_calib(tmp_path / "k15" / "training" / "calib_cam_to_cam" / "000000.txt")
    assert calib["P_rect_02"].shape == (12,) and "calib_time" not in calib


def test_without_calibration_or_ground_truth(tmp_path):
    make_kitti(tmp_path, 2015, split="testing", gt=False, calib=False)
    item = KittiStereo(tmp_path, 2015, split="testing")[0]
    check_stereo_item(item)
    assert not item["valid"].any() and not item["disparity"].any()
    assert math.isnan(item["focal"].item()) and math.isnan(item["baseline"].item())


def test_only_noc_ground_truth_and_frame_selection(tmp_path):
    names = make_kitti(tmp_path, 2012)
    for path in (tmp_path / "training" / names["occ"]).iterdir():
        path.unlink()
    (tmp_path / "training" / names["occ"]).rmdir()
    dataset = KittiStereo(tmp_path, 2012, frames=["000001_10"])
    item = dataset[0]
    assert dataset.ids == ["000001_10"]
    np.testing.assert_array_equal(item["valid"][0].numpy(), noc_values() > 0)
    assert item["nonoccluded"].equal(item["valid"])


def test_errors_name_the_files(tmp_path):
    with pytest.raises(ValueError, match="year must be one of"):
        KittiStereo(tmp_path, 2013)
    with pytest.raises(ValueError, match="split must be one of"):
        KittiStereo(tmp_path, 2015, split="val")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "training" / "image_2"))):
        KittiStereo(tmp_path, 2015)
    names = make_kitti(tmp_path, 2015)
    base = tmp_path / "training"
    (base / names["right"] / "000001_10.png").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(base / names["right"] / "000001_10.png"))):
        KittiStereo(tmp_path, 2015)
    (base / "calib_cam_to_cam" / "000000.txt").write_text(f"P_rect_02: {P_RECT_02}\nbroken line\n")
    with pytest.raises(ValueError, match=re.escape(str(base / "calib_cam_to_cam" / "000000.txt")) + ", line 2"):
        KittiStereo(tmp_path, 2015, frames=["000000_10"])
    (base / "calib_cam_to_cam" / "000000.txt").write_text(f"P_rect_02: {P_RECT_02}\nP_rect_03: 1 2 3\n")
    with pytest.raises(ValueError, match="P_rect_03 has 3 values"):
        KittiStereo(tmp_path, 2015, frames=["000000_10"])


def test_eight_bit_and_truncated_disparity_pngs(tmp_path):
    Image.fromarray(np.ones((H, W), np.uint8)).save(tmp_path / "d8.png")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "d8.png")) + ": expected a 16-bit"):
        read_uint16_disparity(tmp_path / "d8.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 65535, (64, 64), dtype=np.uint16)).save(tmp_path / "d.png")
    data = (tmp_path / "d.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot decode image " + re.escape(str(tmp_path / "cut.png"))):
        read_uint16_disparity(tmp_path / "cut.png")
