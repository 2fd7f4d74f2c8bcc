"""COLMAP text models: quaternions vs scipy, COLMAP's (0.5, 0.5) pixel-centre convention, models, bad inputs."""

import re

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from recon.data.formats.colmap_text import quaternion_to_rotation, read_colmap_cameras, read_colmap_text
from recon.geometry.cameras import intrinsics_from_focal
from tests.helpers.colmap_files import CAMERAS, H, W, image_line, make_poses, write_model


def test_quaternion_to_rotation_matches_scipy():
    rng = np.random.default_rng(3)
    for q in rng.normal(size=(20, 4)):  # any sign of w, not normalised
        expected = Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix()
        np.testing.assert_allclose(quaternion_to_rotation(q), expected, atol=1e-12)
    np.testing.assert_allclose(
        quaternion_to_rotation([np.cos(0.5), 0, 0, np.sin(0.5)]),  # 1 rad about z
        [[np.cos(1), -np.sin(1), 0], [np.sin(1), np.cos(1), 0], [0, 0, 1]],
        atol=1e-12,
    )


def test_reads_cameras_and_poses_in_image_id_order(tmp_path):
    poses = make_poses()
    write_model(tmp_path, poses)
    scene = read_colmap_text(tmp_path / "sparse")
    assert scene.ids == [f"view_{i}.png" for i in range(4)]
    np.testing.assert_allclose(scene.T_cw, poses, rtol=0, atol=1e-9)
    np.testing.assert_allclose(scene.K, [CAMERAS[i + 1][2] for i in range(4)], rtol=0, atol=1e-9)
    assert all(view.size == (H, W) and view.depth_range is None and view.depth is None for view in scene.views)
    assert scene.neighbours is None and scene[2].image == tmp_path / "images" / "view_2.png"
    assert scene.load_image(3).shape == (3, H, W)


def test_pixel_centre_convention_against_colmap_projection(tmp_path):
    """COLMAP projects to ``f X/Z + cx`` with the top-left pixel centre at (0.5, 0.5); recon's pixel is 0.5 less."""
    poses = make_poses()
    write_model(tmp_path, poses)
    scene = read_colmap_text(tmp_path / "sparse")
    point = np.array([0.2, 0.1, 0.6])
    for i, (view, T_cw) in enumerate(zip(scene.views, poses)):
        model, params, _ = CAMERAS[i + 1]
        fx, fy, cx, cy = params[:4] if model == "PINHOLE" else (params[0], params[0], params[1], params[2])
        X, Y, Z = T_cw[:3, :3] @ point + T_cw[:3, 3]
        colmap_pixel = np.array([fx * X / Z + cx, fy * Y / Z + cy])
        x = view.K @ (view.T_cw[:3, :3] @ point + view.T_cw[:3, 3])
        np.testing.assert_allclose(x[:2] / x[2], colmap_pixel - 0.5, atol=1e-9)


def test_colmap_faq_example_centred_principal_point(tmp_path):
    """COLMAP doc/faq.rst: an 800x600 image's centred principal point is (400, 300) in COLMAP, (399.5, 299.5) in
    OpenCV; recon's image centre is ((W-1)/2, (H-1)/2)."""
    (tmp_path / "cameras.txt").write_text("1 SIMPLE_PINHOLE 800 600 700 400 300\n")
    K, size = read_colmap_cameras(tmp_path / "cameras.txt")[1]
    np.testing.assert_array_equal(K, intrinsics_from_focal(700.0, 600, 800, dtype=torch.float64).numpy())
    assert size == (600, 800)


def test_image_folder_argument_and_size_check(tmp_path):
    write_model(tmp_path, make_poses())
    (tmp_path / "images").rename(tmp_path / "elsewhere")
    scene = read_colmap_text(tmp_path / "sparse", image_dir=tmp_path / "elsewhere")
    Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(scene[0].image)
    with pytest.raises(
        ValueError,
        match=r"view_0\.png is 16x13 \(WxH\) but its camera 'view_0\.png' was "
        r"calibrated for 16x12",
    ):
        scene.load_image(0)


@pytest.mark.parametrize(
    "camera_line, message",
    [
        (f"2 OPENCV {W} {H} 20 20 8 6 0.1 0 0 0", r"line 4: camera 2 uses COLMAP model OPENCV.*image_undistorter"),
        (f"2 FULL_OPENCV {W} {H} 20 20 8 6 0 0 0 0 0 0 0 0", r"camera 2 uses COLMAP model FULL_OPENCV"),
        (
            f"2 SIMPLE_RADIAL {W} {H} 20 8 6 0.01",
            r"line 4: camera 2 \(SIMPLE_RADIAL\) has non-zero distortion "
            r"\[0\.01\].*image_undistorter",
        ),
        (f"2 RADIAL {W} {H} 20 8 6 0 -0.2", r"camera 2 \(RADIAL\) has non-zero distortion"),
        (f"2 PINHOLE {W} {H} 20 20 8", r"line 4: PINHOLE parameters \(fx fy cx cy\): expected 4 finite numbers"),
        (f"2 PINHOLE {W} {H} 20 -20 8 6", r"line 4: focal lengths must be positive"),
        (f"2 PINHOLE {W}", r"line 4: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...'"),
        (f"2 PINHOLE 0 {H} 20 20 8 6", r"line 4: WIDTH: expected an integer >= 1"),
        (f"1 PINHOLE {W} {H} 20 20 8 6", r"line 4: camera 1 defined twice"),
    ],
)
def test_bad_cameras_name_the_line_camera_and_model(tmp_path, camera_line, message):
    write_model(tmp_path, make_poses(1), camera_lines=["1 PINHOLE 16 12 20 20 8 6", camera_line])
    path = tmp_path / "sparse" / "cameras.txt"
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        read_colmap_text(tmp_path / "sparse")


POSE = make_poses(1)[0]


@pytest.mark.parametrize(
    "line, message",
    [
        ("20 1 0 0", r"line 7: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'"),
        (image_line(20, POSE, 1, "view_0.png").replace(" 1 view_0", " one view_0"), r"line 7: CAMERA_ID"),
        (image_line(20, POSE, 9, "view_0.png"), r"line 7: image 20 uses camera 9, which cameras.txt does not define"),
        (image_line(10, POSE, 1, "view_0.png"), r"line 7: image 10 defined twice"),
        (image_line(20, POSE, 1, "view_0.png", q=[0.5, 0.5, 0.5, 0.0]), r"line 7: quaternion .* has norm 0\.866"),
        (image_line(20, POSE, 1, "view_0.png", q=[0.0, 0.0, 0.0, 0.0]), r"line 7: quaternion .*not a rotation"),
    ],
)
def test_bad_images_name_the_line(tmp_path, line, message):
    write_model(tmp_path, make_poses(1), extra_image_lines=[line, ""])
    path = tmp_path / "sparse" / "images.txt"
    with pytest.raises(ValueError, match=re.escape(str(path)) + ", " + message):
        read_colmap_text(tmp_path / "sparse")


def test_missing_image_names_the_line_and_image(tmp_path):
    write_model(tmp_path, make_poses(1), extra_image_lines=[image_line(20, POSE, 1, "sub dir/gone.png"), ""])
    path = tmp_path / "sparse" / "images.txt"
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(
            f"{path}, line 7: image {tmp_path}/images/sub dir/gone.png named by this camera does not exist"
        ),
    ):
        read_colmap_text(tmp_path / "sparse")


def test_binary_model_gets_a_conversion_hint(tmp_path):
    (tmp_path / "images.bin").write_bytes(b"\0")
    with pytest.raises(FileNotFoundError, match="binary COLMAP model.*model_converter"):
        read_colmap_text(tmp_path)
