"""RGB-D frames: 16-bit depth PNGs and their scale, the three intrinsics formats, the real Motorcycle frame against
its calibration, and every bad input refused with the file or key named."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from recon.data.formats.middlebury2014 import motorcycle_pair, write_motorcycle_rgbd
from recon.data.formats.rgbd import read_depth_png, read_intrinsics, read_rgbd_frame, write_depth_png

K = np.array([[500.0, 0.0, 31.5], [0.0, 510.0, 23.5], [0.0, 0.0, 1.0]])


def open3d_json(width: int, height: int) -> str:
    return json.dumps({"width": width, "height": height, "intrinsic_matrix": K.T.ravel().tolist()})  # column-major


@pytest.fixture
def frame(tmp_path):
    """A 48x64 frame: a plane at 1.25 m stored in TUM's 1/5000 m units, a hole, and K as fx fy cx cy."""
    depth = np.full((48, 64), 1.25)
    depth[10:20, 5:9] = 0
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(tmp_path / "rgb.png")
    write_depth_png(tmp_path / "depth.png", depth, 5000)
    (tmp_path / "cam.txt").write_text("500 510 31.5 23.5\n")
    return tmp_path


def test_a_frame_back_projects_its_measured_pixels_with_its_intrinsics(frame):
    item = read_rgbd_frame(frame / "rgb.png", frame / "depth.png", frame / "cam.txt", depth_scale=5000)
    assert item["image"].shape == (3, 48, 64) and item["depth"].shape == (1, 48, 64)
    assert int(item["depth_mask"].sum()) == 48 * 64 - 40
    torch.testing.assert_close(item["K"], torch.tensor(K, dtype=torch.float32))
    points = item["partial_points"].double().numpy()
    assert points.shape == (48 * 64 - 40, 3)
    np.testing.assert_allclose(points[:, 2], 1.25, atol=1e-6)
    rows, cols = np.nonzero(item["depth_mask"][0].numpy())
    np.testing.assert_allclose(points[:, 0], (cols - 31.5) * 1.25 / 500, atol=1e-6)
    np.testing.assert_allclose(points[:, 1], (rows - 23.5) * 1.25 / 510, atol=1e-6)


def test_the_three_intrinsics_formats_agree(tmp_path):
    (tmp_path / "K.txt").write_text("\n".join(" ".join(str(v) for v in row) for row in K))
    (tmp_path / "o3d.json").write_text(open3d_json(64, 48))
    (tmp_path / "tum.txt").write_text("500, 510, 31.5, 23.5")
    for name in ("K.txt", "o3d.json", "tum.txt"):
        matrix, size = read_intrinsics(tmp_path / name)
        np.testing.assert_allclose(matrix.numpy(), K, err_msg=name)
        assert size == ((48, 64) if name.endswith(".json") else None)


def test_the_motorcycle_frame_matches_its_calibration(tmp_path):
    paths = write_motorcycle_rgbd(tmp_path)
    item = read_rgbd_frame(paths["color"], paths["depth"], paths["intrinsics"], depth_scale=1000)
    pair, calib = motorcycle_pair()
    valid = pair["valid"][0].numpy()
    assert np.array_equal(item["depth_mask"][0].numpy(), valid)
    expected = calib.focal * calib.baseline / (pair["disparity"][0].numpy() + calib.doffs) / 1000
    np.testing.assert_allclose(item["depth"][0].numpy()[valid], expected[valid], atol=5e-4)  # millimetre storage
    assert expected[valid].min() > 2.0 and expected[valid].max() < 5.5  # metres: the scene's real extent
    np.testing.assert_allclose(item["K"].numpy(), calib.cam0, rtol=1e-6)
    assert len(item["partial_points"]) == valid.sum() and torch.isfinite(item["partial_points"]).all()


def test_bad_frames_are_refused_naming_the_file_or_key(frame, tmp_path):
    good = dict(color=frame / "rgb.png", depth=frame / "depth.png", intrinsics=frame / "cam.txt", depth_scale=5000)
    Image.fromarray(np.full((48, 64), 7, np.uint8)).save(tmp_path / "depth8.png")
    Image.fromarray(np.full((40, 64), 7, np.uint16)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((48, 64), np.uint16)).save(tmp_path / "empty.png")
    (tmp_path / "three.txt").write_text("1 2 3")
    (tmp_path / "bad.json").write_text(json.dumps({"width": 64}))
    (tmp_path / "wide.json").write_text(open3d_json(80, 48))
    (tmp_path / "neg.txt").write_text("-500 510 31.5 23.5")
    cases = [
        ({"depth": tmp_path / "depth8.png"}, ValueError, "depth8.png: a depth PNG must be 16-bit"),
        ({"depth": tmp_path / "small.png"}, ValueError, "size mismatch"),
        ({"depth": tmp_path / "empty.png"}, ValueError, "empty.png: no pixel has a depth"),
        ({"depth": tmp_path / "missing.png"}, FileNotFoundError, "missing.png"),
        ({"intrinsics": None}, ValueError, "intrinsics are required"),
        ({"intrinsics": tmp_path / "none.txt"}, FileNotFoundError, "none.txt"),
        ({"intrinsics": tmp_path / "three.txt"}, ValueError, "three.txt: expected 9 numbers"),
        ({"intrinsics": tmp_path / "bad.json"}, ValueError, "bad.json: not an Open3D intrinsics JSON"),
        ({"intrinsics": tmp_path / "wide.json"}, ValueError, "is for 80x48 images"),
        ({"intrinsics": tmp_path / "neg.txt"}, ValueError, "neg.txt: not a pinhole"),
        ({"depth_scale": 0}, ValueError, "depth_scale must be a positive number"),
        ({"depth_scale": None}, ValueError, "depth_scale must be a positive number"),
        ({"depth_scale": "nan"}, ValueError, "depth_scale must be a positive number"),
    ]
    for change, error, match in cases:
        with pytest.raises(error, match=match):
            read_rgbd_frame(**{**good, **change})
    with pytest.raises(ValueError, match="does not fit 16 bits"):
        write_depth_png(tmp_path / "far.png", np.full((2, 2), 20.0), 5000)
    assert not (tmp_path / "far.png").exists()


def test_depth_png_round_trip_keeps_zero_as_no_measurement(tmp_path):
    depth = np.array([[0.0, 1.0005, np.nan], [2.5, -1.0, np.inf]])
    write_depth_png(tmp_path / "d.png", depth, 1000)
    read = read_depth_png(tmp_path / "d.png", 1000)[0].numpy()
    np.testing.assert_allclose(read, [[0.0, 1.0, 0.0], [2.5, 0.0, 0.0]], atol=1e-6)  # rint(1000.5) = 1000
