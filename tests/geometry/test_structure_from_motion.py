"""Structure from motion: tracks joined by hand, and the poses of five real dino views from their images alone
against the calibrated poses of the set's camera file (after the similarity the scale leaves free)."""

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from recon.data.formats.images import grey_uint8
from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.geometry.poses import umeyama_alignment
from recon.geometry.structure_from_motion import Reconstruction, detect, incremental_sfm, tracks_from_matches
from tests.helpers.paths import DINO


def test_tracks_join_matches_across_pairs_and_drop_contradictions():
    matches = {
        (0, 1): np.array([[0, 0], [1, 1], [2, 2]]),
        (1, 2): np.array([[0, 5], [1, 6]]),
        (0, 2): np.array([[0, 5], [2, 7]]),
    }
    # (0, 0) meets (2, 5) directly and through view 1; (0, 1) reaches (2, 6) through view 1 only; (0, 2) meets (2, 7)
    tracks = tracks_from_matches(matches, counts=[3, 3, 8])
    assert sorted(sorted(t.items()) for t in tracks) == [
        [(0, 0), (1, 0), (2, 5)],
        [(0, 1), (1, 1), (2, 6)],
        [(0, 2), (1, 2), (2, 7)],
    ]
    contradicting = {**matches, (1, 2): np.array([[0, 5], [1, 5]])}  # view 2's keypoint 5 in two tracks: merged
    tracks = tracks_from_matches(contradicting, counts=[3, 3, 8])
    assert all(len(set(t)) == len(t) for t in tracks)
    assert sorted(sorted(t.items()) for t in tracks) == [[(0, 2), (1, 2), (2, 7)]]  # the merged track saw view 0 twice


def test_depth_range_of_a_view_spans_its_points():
    z = np.linspace(2.0, 3.0, 101)
    points = np.c_[np.zeros_like(z), np.zeros_like(z), z]
    T_cw = np.eye(4)[None]
    reconstruction = Reconstruction(T_cw, np.ones(1, bool), points, np.full(101, 2), 0.0, {})
    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    near, far = reconstruction.depth_range(0, K, (101, 101), margin=0.1)
    assert near == pytest.approx(2.02 - 0.1 * 0.96) and far == pytest.approx(2.98 + 0.1 * 0.96)
    behind = Reconstruction(T_cw, np.ones(1, bool), -points, np.full(101, 2), 0.0, {})
    with pytest.raises(ValueError, match="sees 0 reconstructed points"):
        behind.depth_range(0, K, (101, 101))


def test_large_images_are_detected_shrunk_with_keypoints_in_full_resolution():
    image = grey_uint8(read_middlebury_mvs(DINO).load_image(0))  # 640x480
    points, descriptors = detect(image, 0, 0.005)
    large = cv2.resize(image, (2560, 1920), interpolation=cv2.INTER_CUBIC)  # 4x
    shrunk_points, shrunk_descriptors = detect(large, 0, 0.005, max_side=640)
    assert descriptors.shape[1] == shrunk_descriptors.shape[1] == 128
    assert 0.7 < len(shrunk_points) / len(points) < 1.3  # the same image again, up to resampling
    # most keypoints land (in full-resolution pixels) on 4x a keypoint of the original
    nearest = np.linalg.norm((shrunk_points / 4 - 3 / 8)[:, None] - points[None], axis=-1).min(1)  # u = 4 u0 + 1.5
    assert np.median(nearest) < 0.5
    assert shrunk_points[:, 0].max() > 2000 and shrunk_points[:, 1].max() > 1500


def test_featureless_images_cannot_start_a_reconstruction():
    K = np.tile(np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]]), (2, 1, 1))
    with pytest.raises(ValueError, match="no image pair to start from"):
        incremental_sfm([np.zeros((48, 64), np.uint8)] * 2, K)
    with pytest.raises(ValueError, match="two or more images"):
        incremental_sfm([np.zeros((48, 64), np.uint8)], K[:1])


@pytest.fixture(scope="module")
def dino_five():
    cameras = read_middlebury_mvs(DINO)
    views = [0, 1, 2, 3, 4]
    return cameras, views, incremental_sfm([grey_uint8(cameras.load_image(v)) for v in views], cameras.K[views])


def test_five_dino_views_get_their_calibrated_poses(dino_five):
    cameras, views, reconstruction = dino_five
    assert reconstruction.registered.all() and len(reconstruction.points) > 300
    assert reconstruction.reprojection_px < 0.5
    estimated, truth = reconstruction.T_cw, cameras.T_cw[views]
    centres = [np.stack([-T[:3, :3].T @ T[:3, 3] for T in Ts]) for Ts in (estimated, truth)]
    s, R, t = (x.numpy() for x in umeyama_alignment(*(torch.from_numpy(c) for c in centres)))
    aligned = s * centres[0] @ R.T + t
    # measured: centres within 6 mm of the calibrated ones (cameras 0.65 m from the dino), rotations within 0.5 deg
    assert np.linalg.norm(aligned - centres[1], axis=1).max() < 0.01
    for k in range(len(views)):
        error = Rotation.from_matrix(estimated[k, :3, :3] @ R.T @ truth[k, :3, :3].T).magnitude()
        assert np.degrees(error) < 1.0
    # normalised: median point depth 1 in the first view
    first = reconstruction.points @ estimated[0, :3, :3].T + estimated[0, :3, 3]
    assert np.median(first[:, 2]) == pytest.approx(1.0)
