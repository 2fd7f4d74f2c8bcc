"""Bundle adjustment: the residuals against OpenCV's projectPoints, and a perturbed synthetic scene refined back to
zero reprojection error with the cameras of the truth (up to the free scale)."""

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from recon.geometry.bundle_adjustment import bundle_adjust, reprojection_residuals


def scene(num_cameras=4, num_points=60, seed=0):
    """Cameras on an arc 2 units from a cloud of points around the origin, all looking at it."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-0.4, 0.4, (num_points, 3))
    rvecs, tvecs = [], []
    for angle in np.radians(np.linspace(-30, 30, num_cameras)):
        R = Rotation.from_euler("y", -angle).as_matrix()
        centre = np.array([2 * np.sin(angle), 0.0, -2 * np.cos(angle)])
        rvecs.append(Rotation.from_matrix(R).as_rotvec())
        tvecs.append(-R @ centre)
    K = np.tile(np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]]), (num_cameras, 1, 1))
    cams, pts = np.meshgrid(np.arange(num_cameras), np.arange(num_points), indexing="ij")
    return np.array(rvecs), np.array(tvecs), points, K, cams.ravel(), pts.ravel()


def test_residuals_match_opencv_projection():
    rvecs, tvecs, points, K, cams, pts = scene()
    uv = np.zeros((len(cams), 2))
    residuals = reprojection_residuals(rvecs, tvecs, points, K, cams, pts, uv)
    for c in range(len(rvecs)):
        expected, _ = cv2.projectPoints(points, rvecs[c], tvecs[c], K[c], None)
        np.testing.assert_allclose(residuals[cams == c], expected.reshape(-1, 2), atol=1e-9)


def test_perturbed_scene_is_refined_to_the_truth():
    rvecs, tvecs, points, K, cams, pts = scene()
    uv = reprojection_residuals(rvecs, tvecs, points, K, cams, pts, np.zeros((len(cams), 2)))
    rng = np.random.default_rng(1)
    r0, t0 = rvecs + rng.normal(0, 0.02, rvecs.shape), tvecs + rng.normal(0, 0.05, tvecs.shape)
    r0[0], t0[0] = rvecs[0], tvecs[0]  # the fixed camera holds the gauge
    X0 = points + rng.normal(0, 0.03, points.shape)
    before = np.abs(reprojection_residuals(r0, t0, X0, K, cams, pts, uv)).max()
    r, t, X = bundle_adjust(r0, t0, X0, K, cams, pts, uv, fixed=0)
    after = np.abs(reprojection_residuals(r, t, X, K, cams, pts, uv)).max()
    assert before > 5 and after < 1e-3
    np.testing.assert_array_equal(r[0], rvecs[0])
    np.testing.assert_array_equal(t[0], tvecs[0])
    for c in range(1, len(rvecs)):  # rotations are free of the scale ambiguity
        error = Rotation.from_rotvec(r[c]) * Rotation.from_rotvec(rvecs[c]).inv()
        assert error.magnitude() == pytest.approx(0, abs=1e-4)
    # positions: the truth up to one scale about the fixed camera
    centres = np.stack([-Rotation.from_rotvec(r[c]).inv().apply(t[c]) for c in range(len(r))])
    truth = np.stack([-Rotation.from_rotvec(rvecs[c]).inv().apply(tvecs[c]) for c in range(len(r))])
    scale = np.linalg.norm(centres[1:] - centres[0], axis=1) / np.linalg.norm(truth[1:] - truth[0], axis=1)
    np.testing.assert_allclose(scale, scale[0], rtol=1e-4)
    np.testing.assert_allclose(centres - centres[0], scale[0] * (truth - truth[0]), atol=1e-4)
