"""Middlebury multi-view *_par.txt: synthetic round trip, bad inputs, and the real dinoSparseRing."""

import itertools
import re

import numpy as np
import pytest
import torch

from recon.data.formats.images import image_size
from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.geometry.cameras import camera_centers, project, transform_points
from tests.helpers.middlebury_mvs_files import K_TRUE, H, W, make_poses, par_line, write_dataset
from tests.helpers.paths import DINO, DINO_BOX


def test_round_trip_and_projection(tmp_path):
    poses = make_poses()
    write_dataset(tmp_path, poses)
    scene = read_middlebury_mvs(tmp_path)
    assert scene.ids == ["toy0000.png", "toy0001.png", "toy0002.png"] and scene.root == tmp_path
    np.testing.assert_allclose(scene.K, np.broadcast_to(K_TRUE, (3, 3, 3)), rtol=0, atol=1e-9)
    np.testing.assert_allclose(scene.T_cw, poses, rtol=0, atol=1e-9)
    point = np.array([0.02, -0.01, 0.03])
    for view, T_cw in zip(scene.views, poses):
        x = K_TRUE @ (T_cw[:3, :3] @ point + T_cw[:3, 3])  # the format's K [R | t]
        read = project(
            transform_points(torch.from_numpy(view.T_cw), torch.from_numpy(point)[None]), torch.from_numpy(view.K)
        )[0].numpy()
        np.testing.assert_allclose(read, x[:2] / x[2], atol=1e-9)
    assert scene.load_image(1).shape == (3, H, W) and scene.neighbours is None
    assert read_middlebury_mvs(tmp_path / "toy_par.txt").ids == scene.ids


POSE = make_poses(1)[0]


@pytest.mark.parametrize(
    "line, message",
    [
        (par_line("toy0000.png", K_TRUE, POSE).rsplit(" ", 1)[0], r"line 2: expected 'imgname k11..k33 r11..r33"),
        (par_line("toy0000.png", K_TRUE, POSE).replace(" 1.0 ", " one ", 1), r"line 2: camera parameters"),
        (
            par_line("toy0000.png", K_TRUE + [[0, 0, 0], [0, 0, 0], [0, 0.5, 0]], POSE),
            r"line 2: intrinsics must be upper triangular",
        ),
        (par_line("toy0000.png", K_TRUE * [[1], [-1], [1]], POSE), r"line 2: focal lengths must be positive"),
        (par_line("toy0000.png", K_TRUE, POSE * [[1.1], [1], [1], [1]]), r"line 2: pose's 3x3 block is not a rotation"),
        (par_line("toy0000.png", K_TRUE, POSE * [[0], [1], [1], [1]]), r"line 2: pose is not invertible"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    path = write_dataset(tmp_path, make_poses(1), lines=[line])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ", " + message):
        read_middlebury_mvs(path)


def test_count_mismatch_missing_image_and_missing_file(tmp_path):
    path = write_dataset(tmp_path, make_poses(2))
    path.write_text(path.read_text().replace("2\n", "3\n", 1))
    with pytest.raises(ValueError, match=re.escape(f"{path}: line 1 announces 3 images but 2 lines follow")):
        read_middlebury_mvs(path)
    path.write_text(path.read_text().replace("3\n", "two\n", 1))
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 1: number of images N")):
        read_middlebury_mvs(path)
    path.write_text(path.read_text().replace("two\n", "2\n", 1))
    (tmp_path / "toy0001.png").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"{path}, line 3: image {tmp_path / 'toy0001.png'}")):
        read_middlebury_mvs(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"exactly one \*_par\.txt"):
        read_middlebury_mvs(tmp_path / "empty")


@pytest.fixture(scope="module")
def dino():
    return read_middlebury_mvs(DINO)


def project_all(scene, points: np.ndarray) -> np.ndarray:
    """(N views, P, 2) pixels of (P, 3) world points; asserts they lie in front of every camera."""
    cam = transform_points(torch.from_numpy(scene.T_cw), torch.from_numpy(points)[None].expand(len(scene), -1, -1))
    assert (cam[..., 2] > 0).all()
    return project(cam, torch.from_numpy(scene.K)).numpy()


def inside(pixels: np.ndarray, sizes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Whether pixels lie on the image (pixel centres at integers: the image spans [-0.5, size - 0.5]),
    enlarged by ``margin`` times its size on every side."""
    hw = sizes[:, None, :]
    lo, hi = -0.5 - margin * hw, hw - 0.5 + margin * hw
    return ((pixels[..., ::-1] >= lo) & (pixels[..., ::-1] <= hi)).all(-1)


def test_dino_sparse_ring_loads_16_views(dino):
    assert len(dino) == 16 and dino.ids[0] == "dinoSR0001.png"
    image = dino.load_image(0)
    assert image.shape == (3, 480, 640) and image.dtype == torch.float32 and 0 <= image.min() < image.max() <= 1


def test_dino_bounding_box_projects_into_the_images(dino):
    sizes = np.array([image_size(view.image) for view in dino.views])
    centre = DINO_BOX.mean(0)
    assert inside(project_all(dino, centre[None]), sizes).all()
    corners = np.array(list(itertools.product(*DINO_BOX.T)))
    corners_in = inside(project_all(dino, corners), sizes)  # (16 views, 8 corners)
    # README: "the object is partially outside the field of view in some images"
    assert corners_in.mean() > 0.6 and (corners_in.sum(0) >= 8).all()
    assert inside(project_all(dino, corners), sizes, margin=0.25).all()


def test_dino_cameras_lie_on_a_ring_around_the_object(dino):
    distances = np.linalg.norm(camera_centers(torch.from_numpy(dino.T_cw)).numpy() - DINO_BOX.mean(0), axis=1)
    assert distances.max() / distances.min() < 1.05
