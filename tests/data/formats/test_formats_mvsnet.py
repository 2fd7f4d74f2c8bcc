"""MVSNet/DTU layout: cam files, pair.txt, depth PFMs; read back against known cameras, and bad inputs."""

import re

import numpy as np
import pytest
import torch

from recon.data.formats.multiview_base import CameraSet
from recon.data.formats.mvsnet import read_mvsnet, read_mvsnet_cam
from recon.geometry.cameras import project, transform_points
from tests.helpers.mvsnet_files import K_TRUE, H, W, cam_text, make_poses, write_scene


def test_reads_cameras_pairs_and_depth_maps(tmp_path):
    poses = make_poses()
    write_scene(tmp_path, poses)
    scene = read_mvsnet(tmp_path)
    assert isinstance(scene, CameraSet) and len(scene) == 3
    assert scene.ids == ["00000000", "00000001", "00000002"]
    np.testing.assert_allclose(scene.K, np.broadcast_to(K_TRUE, (3, 3, 3)), rtol=0, atol=1e-9)
    np.testing.assert_allclose(scene.T_cw, poses, rtol=0, atol=1e-9)
    assert scene.K.dtype == scene.T_cw.dtype == np.float64
    assert scene[1].image == tmp_path / "images" / "00000001.jpg"
    assert all(view.depth_range == (425.0, 935.0) for view in scene.views)
    assert scene.neighbours == {0: ((1, 2518.5), (2, 1004.25)), 1: ((0, 2518.5), (2, 30.0)), 2: ((1, 7.0),)}
    assert scene[0].depth == tmp_path / "depths" / "00000000.pfm" and scene[1].depth is None
    np.testing.assert_array_equal(scene.load_depth(0), np.full((H, W), 430.0, np.float32))
    assert scene.load_depth(1) is None
    image = scene.load_image(2)
    assert image.shape == (3, H, W) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1


def test_a_point_projects_to_the_same_pixel_as_through_the_original_cameras(tmp_path):
    poses = make_poses()
    write_scene(tmp_path, poses, ext=".png")
    scene = read_mvsnet(tmp_path)
    point = np.array([0.3, -0.2, 0.4])
    for view, T_cw in zip(scene.views, poses):
        x_cam = T_cw[:3, :3] @ point + T_cw[:3, 3]
        expected = (K_TRUE @ x_cam)[:2] / (K_TRUE @ x_cam)[2]
        read = project(
            transform_points(torch.from_numpy(view.T_cw), torch.from_numpy(point)[None]), torch.from_numpy(view.K)
        )[0].numpy()
        np.testing.assert_allclose(read, expected, atol=1e-9)
        assert 0 <= expected[0] <= W - 1 and 0 <= expected[1] <= H - 1  # the point is in view: a real check


@pytest.mark.parametrize(
    "depth_line, num_depth, expected",
    [
        ("425 2.5", 192, (425.0, 425.0 + 2.5 * 191)),  # num_depth absent: MVSNet's default 192 planes
        ("425 2.5", 64, (425.0, 425.0 + 2.5 * 63)),
        ("425.0 2.5 128.0", 192, (425.0, 425.0 + 2.5 * 127)),  # last of 128 hypotheses
        ("425 2.5 128 900", 192, (425.0, 900.0)),  # depth_max wins
        (None, 192, None),
    ],
)
def test_depth_range_convention(tmp_path, depth_line, num_depth, expected):
    path = tmp_path / "00000000_cam.txt"
    path.write_text(cam_text(make_poses(1)[0], depth_line=depth_line))
    assert read_mvsnet_cam(path, num_depth=num_depth)[2] == expected


def reflect(T):
    T = T.copy()
    T[0, :3] *= -1
    return T


# written cam file: line 1 "extrinsic", 2-5 rows, 6 blank, 7 "intrinsic", 8-10 rows, 11 blank, 12 depth line
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda T, K, d: (T[:3], K, d), r"line 6: extrinsic row 4: expected 4 finite numbers, got 'intrinsic'"),
        (lambda T, K, d: (T - np.diag([0, 0, 0, 1.0]), K, d), r"line 1: pose's last row must be \[0 0 0 1\]"),
        (lambda T, K, d: (np.diag([2.0, 2.0, 2.0, 1.0]), K, d), r"line 1: pose's 3x3 block is not a rotation"),
        (lambda T, K, d: (reflect(T), K, d), r"line 1: pose's 3x3 block is not a rotation.*det R = -1"),
        (lambda T, K, d: (np.diag([0.0, 1.0, 1.0, 1.0]), K, d), r"line 1: pose is not invertible"),
        (lambda T, K, d: (T, K + np.array([[0, 0, 0], [0.5, 0, 0], [0, 0, 0]]), d), r"line 7: .*upper triangular"),
        (lambda T, K, d: (T, K * np.array([[-1], [1], [1]]), d), r"line 7: focal lengths must be positive"),
        (lambda T, K, d: (T, K, "-1 2.5"), r"line 12: depth range must satisfy 0 < near < far"),
        (lambda T, K, d: (T, K, "0 2.5 192"), r"line 12: depth range must satisfy 0 < near < far"),
        (lambda T, K, d: (T, K, "425 2.5 128 400"), r"line 12: depth range must satisfy 0 < near < far"),
        (lambda T, K, d: (T, K, "425 0"), r"line 12: need depth_interval > 0"),
        (lambda T, K, d: (T, K, "425 2.5 12.5"), r"line 12: need .*integer num_depth"),
        (lambda T, K, d: (T, K, "425 abc"), r"line 12: depth line: expected 2 finite numbers"),
        (lambda T, K, d: (T, K, "425 2.5 128 935 7"), r"line 12: expected 'depth_min depth_interval"),
    ],
)
def test_bad_camera_files_name_the_file_and_line(tmp_path, edit, message):
    T_cw, K, depth_line = edit(make_poses(1)[0], K_TRUE.copy(), "425 2.5 128 935")
    path = tmp_path / "00000000_cam.txt"
    path.write_text(cam_text(T_cw, K, depth_line))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ", " + message):
        read_mvsnet_cam(path)


def test_malformed_lines_bad_header_and_truncated_file(tmp_path):
    path = tmp_path / "00000000_cam.txt"
    lines = cam_text(make_poses(1)[0]).splitlines()
    path.write_text("\n".join(lines[:2] + ["0.5 x 0.1 3.0"] + lines[3:]))
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: extrinsic row 2: expected 4 finite numbers")):
        read_mvsnet_cam(path)
    path.write_text("\n".join(lines[:8] + ["0 20.5 nan"] + lines[9:]))
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 9: intrinsic row 2: expected 3 finite numbers")):
        read_mvsnet_cam(path)
    path.write_text("\n".join(lines + ["extra"]))
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 13: unexpected content")):
        read_mvsnet_cam(path)
    path.write_text(cam_text(make_poses(1)[0]).replace("intrinsic", "intrinsics"))
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 7: expected 'intrinsic'")):
        read_mvsnet_cam(path)
    path.write_text("\n".join(cam_text(make_poses(1)[0]).splitlines()[:8]))
    with pytest.raises(ValueError, match=re.escape(f"{path}: truncated camera file: intrinsic row 2 missing")):
        read_mvsnet_cam(path)


def test_missing_image_names_the_camera_file(tmp_path):
    write_scene(tmp_path, make_poses())
    (tmp_path / "images" / "00000001.jpg").unlink()
    cam = tmp_path / "cams" / "00000001_cam.txt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(cam)) + r".*00000001\.jpg.*00000001\.png"):
        read_mvsnet(tmp_path)


@pytest.mark.parametrize(
    "pair_text, message",
    [
        ("3\n0\n2 1 2.0 2 1.0\n1\n1 0 1.0\n2\n1 7 1.0\n", r"line 7: source view 7 has no camera file"),
        ("3\n0\n2 1 2.0 2 1.0\n1\n1 0 1.0\n9\n1 0 1.0\n", r"line 6: reference view 9 has no camera file"),
        ("3\n0\n2 1 2.0 2\n1\n1 0 1.0\n2\n1 0 1.0\n", r"line 3: 2 source views need 4 values"),
        ("3\n0\n1 1 high\n1\n1 0 1.0\n2\n1 0 1.0\n", r"line 3: source view scores"),
        ("3\n0\n1 1 1.0\n0\n1 1 1.0\n2\n1 0 1.0\n", r"line 4: reference view 0 listed twice"),
        ("4\n0\n1 1 1.0\n1\n1 0 1.0\n2\n1 0 1.0\n", r": line 1 announces 4 views"),
        ("three\n", r"line 1: number of views"),
    ],
)
def test_bad_pair_files_name_the_line(tmp_path, pair_text, message):
    write_scene(tmp_path, make_poses(), pairs=False)
    (tmp_path / "pair.txt").write_text(pair_text)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "pair.txt")) + ".*" + message):
        read_mvsnet(tmp_path)


def test_blendedmvs_layout_and_no_pairs(tmp_path):
    write_scene(tmp_path, make_poses(), pairs=False)
    assert read_mvsnet(tmp_path).neighbours is None
    (tmp_path / "images").rename(tmp_path / "blended_images")
    (tmp_path / "depths").rename(tmp_path / "rendered_depth_maps")
    (tmp_path / "cams" / "pair.txt").write_text("1\n2\n1 0 3.5\n")
    scene = read_mvsnet(tmp_path, image_dir="blended_images", depth_dir="rendered_depth_maps")
    assert scene.neighbours == {2: ((0, 3.5),)} and scene[0].depth is not None
    with pytest.raises(FileNotFoundError, match="view-selection file not found"):
        read_mvsnet(tmp_path, image_dir="blended_images", pair_file="missing.txt")
    with pytest.raises(FileNotFoundError, match="no MVSNet camera files"):
        read_mvsnet(tmp_path / "cams")
