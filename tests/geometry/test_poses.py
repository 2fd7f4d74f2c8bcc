"""Pose geometry against hand-derived cases, scipy and gradcheck: 6D rotations, rotation / translation errors, the
pose AUC, Umeyama alignment, ATE and RPE."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from recon.geometry.poses import (
    absolute_trajectory_error,
    cell_correspondences,
    matrix_to_rotation_6d,
    pose_auc,
    relative_pose_error,
    rotation_6d_to_matrix,
    rotation_error_deg,
    translation_error_deg,
    umeyama_alignment,
)


def rotations(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(Rotation.random(n, random_state=seed).as_matrix())


def rot_z(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_6d_round_trip_and_orthonormal_output():
    R = rotations(20)
    torch.testing.assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(R)), R)
    x = torch.randn(50, 6, dtype=torch.float64)
    M = rotation_6d_to_matrix(x)
    torch.testing.assert_close(M.transpose(-1, -2) @ M, torch.eye(3, dtype=torch.float64).expand(50, 3, 3))
    torch.testing.assert_close(torch.linalg.det(M), torch.ones(50, dtype=torch.float64))
    # hand case: the first column is x[:3] normalised; the second is x[3:] minus its part along the first
    M = rotation_6d_to_matrix(torch.tensor([2.0, 0.0, 0.0, 1.0, 3.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(M, torch.eye(3, dtype=torch.float64))
    assert torch.autograd.gradcheck(
        rotation_6d_to_matrix, (torch.randn(4, 6, dtype=torch.float64, requires_grad=True),)
    )
    with pytest.raises(ValueError, match="6D rotation"):
        rotation_6d_to_matrix(torch.zeros(3, 5))


def test_rotation_error_is_the_geodesic_angle():
    R = rotations(10, seed=1)
    for deg in (0.0, 3.0, 90.0, 179.0):
        # R (R_z(deg)) differs from R by a rotation of deg about z
        errors = rotation_error_deg(R, R @ rot_z(deg).expand(10, 3, 3))
        torch.testing.assert_close(errors, torch.full((10,), deg, dtype=torch.float64), atol=1e-5, rtol=0)
    A, B = rotations(30, seed=2), rotations(30, seed=3)
    scipy_angles = np.degrees((Rotation.from_matrix(A.numpy()).inv() * Rotation.from_matrix(B.numpy())).magnitude())
    torch.testing.assert_close(rotation_error_deg(A, B), torch.from_numpy(scipy_angles), atol=1e-6, rtol=0)


def test_translation_error_angles_and_undefined_directions():
    x = torch.tensor([1.0, 0.0, 0.0])
    cases = [(x, 90.0, torch.tensor([0.0, 2.0, 0.0])), (x, 180.0, -3 * x), (x, 45.0, torch.tensor([1.0, 1.0, 0.0]))]
    for a, deg, b in cases:
        assert float(translation_error_deg(a, b)) == pytest.approx(deg, abs=1e-4)
    assert float(translation_error_deg(x, -x, sign_invariant=True)) == pytest.approx(0.0, abs=1e-4)
    assert float(translation_error_deg(x, torch.tensor([1.0, 3**0.5, 0.0]), sign_invariant=True)) == pytest.approx(60)
    assert torch.isnan(translation_error_deg(x, torch.zeros(3)))


def test_pose_auc_hand_cases_and_the_papers_formula():
    # all exact: 1 at every threshold; all failed: 0
    assert pose_auc(torch.zeros(4)).tolist() == [1.0, 1.0, 1.0]
    assert pose_auc(torch.full((3,), 180.0)).tolist() == [0.0, 0.0, 0.0]
    # one pair at 2.5 degrees: the curve rises linearly to 1 at 2.5 then stays -> (1.25 + 2.5) / 5 = 0.75 at 5
    assert pose_auc(torch.tensor([2.5]), (5.0, 10.0)).tolist() == pytest.approx([0.75, 0.875])
    # two pairs, 0 and 180: half the pairs exact -> 0.5
    assert pose_auc(torch.tensor([0.0, 180.0]), (10.0,)).tolist() == pytest.approx([0.5])
    # against a direct numerical integration of the piecewise-linear recall curve
    errors = torch.rand(200, generator=torch.Generator().manual_seed(0)) * 30
    e = np.r_[0.0, np.sort(errors.numpy().astype(np.float64))]
    r = np.arange(len(e)) / (len(e) - 1)
    grid = np.linspace(0, 10, 200001)
    expected = np.interp(grid, e, r).mean()  # the mean of the curve over [0, 10] is its normalised area
    assert float(pose_auc(errors, (10.0,))[0]) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="180 degrees"):
        pose_auc(torch.tensor([float("nan")]))


def test_umeyama_recovers_a_similarity_and_refuses_degenerate_input():
    g = torch.Generator().manual_seed(0)
    source = torch.randn(40, 3, generator=g, dtype=torch.float64)
    R_true, t_true, s_true = rotations(1, seed=4)[0], torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64), 2.5
    target = s_true * source @ R_true.T + t_true
    s, R, t = umeyama_alignment(source, target)
    assert float(s) == pytest.approx(s_true)
    torch.testing.assert_close(R, R_true)
    torch.testing.assert_close(t, t_true)
    s, R, t = umeyama_alignment(source, source @ R_true.T + t_true, with_scale=False)
    assert float(s) == 1.0 and float(rotation_error_deg(R, R_true)) < 1e-4
    # a mirrored target still gives a rotation (det +1)
    _, R, _ = umeyama_alignment(source, source * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    assert float(torch.linalg.det(R)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="N >= 3"):
        umeyama_alignment(source[:2], target[:2])


def trajectory(n: int) -> torch.Tensor:
    T = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    for i in range(n):
        T[i, :3, :3] = rot_z(10.0 * i)
        T[i, :3, 3] = torch.tensor([math.cos(i / 3), math.sin(i / 3), 0.1 * i], dtype=torch.float64)
    return T


def test_ate_and_rpe_are_zero_up_to_a_similarity_and_measure_a_known_offset():
    true = trajectory(8)
    R, s, t = rotations(1, seed=5)[0], 3.0, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    moved = true.clone()
    moved[:, :3, :3] = R @ true[:, :3, :3]
    moved[:, :3, 3] = s * true[:, :3, 3] @ R.T + t
    assert float(absolute_trajectory_error(moved, true)) == pytest.approx(0.0, abs=1e-9)
    translation, rotation = relative_pose_error(moved, true)
    assert float(translation) == pytest.approx(0.0, abs=1e-9) and float(rotation) == pytest.approx(0.0, abs=1e-4)
    # the trajectory doubled about its centroid, fitted without scale: the best rigid fit is the identity about the
    # centroid (the cross-covariance is 2x the symmetric covariance), so each error is the distance to the centroid
    doubled = true.clone()
    centroid = true[:, :3, 3].mean(0)
    doubled[:, :3, 3] = centroid + 2 * (true[:, :3, 3] - centroid)
    expected = (true[:, :3, 3] - centroid).square().sum(-1).mean().sqrt()
    assert float(absolute_trajectory_error(doubled, true, with_scale=False)) == pytest.approx(float(expected))
    assert float(absolute_trajectory_error(doubled, true)) == pytest.approx(0.0, abs=1e-9)
    # one relative motion's rotation off by 6 degrees (the last camera turned) -> mean over the 7 steps = 6 / 7
    turned = true.clone()
    turned[7, :3, :3] = turned[7, :3, :3] @ rot_z(6.0)
    assert float(relative_pose_error(turned, true)[1]) == pytest.approx(6.0 / 7, abs=1e-4)
    with pytest.raises(ValueError, match="delta"):
        relative_pose_error(true, true, delta=8)


def test_cell_correspondences_hand_cases():
    """A fronto-parallel plane at depth 2 seen by two cameras 16 px-of-disparity apart, an 8x8 image on a 2x2 grid of
    4-px cells: the identity maps each cell to itself; moving the second camera left by 0.5 (x_1 = x_0 + (0.5,0,0))
    shifts every point by f * 0.5 / 2 = 4 px, one cell to the right, and the right column leaves the view; a nearer
    surface in view 1 (occlusion) or no depth in view 0 gives -1."""
    K = torch.tensor([[16.0, 0.0, 3.5], [0.0, 16.0, 3.5], [0.0, 0.0, 1.0]]).expand(1, 3, 3)
    depth = torch.full((1, 1, 8, 8), 2.0)
    eye, zero = torch.eye(3).expand(1, 3, 3), torch.zeros(1, 3)
    assert cell_correspondences(depth, depth, K, K, eye, zero, (2, 2)).tolist() == [[0, 1, 2, 3]]
    shifted = cell_correspondences(depth, depth, K, K, eye, torch.tensor([[0.5, 0.0, 0.0]]), (2, 2))
    assert shifted.tolist() == [[1, -1, 3, -1]]
    occluder = depth.clone()
    occluder[..., :, 4:] = 1.0  # view 1 sees something nearer on its right half
    assert cell_correspondences(depth, occluder, K, K, eye, zero, (2, 2)).tolist() == [[0, -1, 2, -1]]
    holes = depth.clone()
    holes[..., :4, :] = 0.0
    assert cell_correspondences(holes, depth, K, K, eye, zero, (2, 2)).tolist() == [[-1, -1, 2, 3]]
