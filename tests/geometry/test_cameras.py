"""Camera functions against hand-derived cases, numpy references and gradcheck."""

import math

import numpy as np
import pytest
import torch

from recon.geometry.cameras import (
    camera_centers,
    crop_resize_intrinsics,
    intrinsics_from_focal,
    intrinsics_from_fov,
    invert_pose,
    look_at,
    pixel_grid,
    project,
    transform_points,
    unproject,
)


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_look_at_identity_case():
    # camera at (0,0,-3) looking at the origin with world -y up: camera axes == world axes
    T = look_at(_t([[0, 0, -3]]), _t([[0, 0, 0]]), _t([[0, -1, 0]]))
    expected = np.eye(4)
    expected[2, 3] = 3
    np.testing.assert_allclose(T[0].numpy(), expected, atol=1e-12)
    origin_cam = transform_points(T, _t([[[0, 0, 0]]]))
    np.testing.assert_allclose(origin_cam[0, 0].numpy(), [0, 0, 3], atol=1e-12)


def test_look_at_z_up_orientation():
    # camera on +x axis looking at the origin, world z up: z_cam=-x, x_cam=+y, y_cam=-z
    T = look_at(_t([[3, 0, 0]]), _t([[0, 0, 0]]), _t([[0, 0, 1]]))
    np.testing.assert_allclose(T[0, :3, :3].numpy(), [[0, 1, 0], [0, 0, -1], [-1, 0, 0]], atol=1e-12)
    K = intrinsics_from_fov(60.0, 48, 64, dtype=torch.float64)[None]
    uv = project(transform_points(T, _t([[[0, 0, 0], [0, 0, 1], [0, 1, 0]]])), K)[0].numpy()
    cx, cy = 31.5, 23.5
    np.testing.assert_allclose(uv[0], [cx, cy], atol=1e-9)  # target -> principal point
    assert uv[1, 1] < cy and abs(uv[1, 0] - cx) < 1e-9  # world up appears up in the image
    assert uv[2, 0] > cx and abs(uv[2, 1] - cy) < 1e-9  # world +y appears right


def test_look_at_rotation_is_proper_and_centre_is_eye():
    g = torch.Generator().manual_seed(0)
    eye = torch.randn(16, 3, generator=g, dtype=torch.float64) * 3
    target = torch.randn(16, 3, generator=g, dtype=torch.float64) * 0.1
    T = look_at(eye, target, _t([0, 0, 1]).expand(16, 3))
    R = T[:, :3, :3]
    np.testing.assert_allclose((R @ R.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), (16, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(R).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(camera_centers(T).numpy(), eye.numpy(), atol=1e-12)
    # the target lies on the optical axis in front of the camera
    p = transform_points(T, target[:, None])[:, 0]
    np.testing.assert_allclose(p[:, :2].numpy(), 0, atol=1e-12)
    assert (p[:, 2] > 0).all()


def test_intrinsics():
    K = intrinsics_from_fov(90.0, 48, 64)
    assert K.dtype == torch.float32 and K.shape == (3, 3)
    np.testing.assert_allclose(K.numpy(), [[32, 0, 31.5], [0, 32, 23.5], [0, 0, 1]], atol=1e-5)
    Kb = intrinsics_from_fov(torch.tensor([90.0, 60.0]), 48, 64)
    assert Kb.shape == (2, 3, 3)
    np.testing.assert_allclose(Kb[1, 0, 0].item(), 32 / math.tan(math.radians(30)), rtol=1e-6)
    np.testing.assert_allclose(intrinsics_from_focal(100.0, 10, 20).numpy()[:2, 2], [9.5, 4.5])


def test_project_hand_case():
    K = _t([[[100, 0, 50], [0, 100, 40], [0, 0, 1]]])
    uv = project(_t([[[1, 2, 10], [0, 0, 5]]]), K)
    np.testing.assert_allclose(uv[0].numpy(), [[60, 60], [50, 40]])


def test_unproject_project_roundtrip():
    H, W = 5, 7
    g = torch.Generator().manual_seed(1)
    depth = torch.rand(2, 1, H, W, generator=g, dtype=torch.float64) + 0.5
    K = _t([[[20, 0, 3], [0, 22, 2], [0, 0, 1]], [[9, 0.5, 3.5], [0, 8, 2.2], [0, 0, 1]]])
    pts = unproject(depth, K)
    assert pts.shape == (2, H * W, 3)
    np.testing.assert_allclose(pts[..., 2].numpy(), depth.reshape(2, -1).numpy(), atol=1e-12)  # z-depth
    uv = project(pts, K)
    np.testing.assert_allclose(
        uv.numpy(), np.broadcast_to(pixel_grid(H, W, dtype=torch.float64)[:, :2].numpy(), (2, H * W, 2)), atol=1e-9
    )


def test_transform_and_invert_against_numpy():
    rng = np.random.default_rng(0)
    from scipy.spatial.transform import Rotation

    T = np.tile(np.eye(4), (3, 1, 1))
    T[:, :3, :3] = Rotation.random(3, random_state=1).as_matrix()
    T[:, :3, 3] = rng.normal(size=(3, 3))
    p = rng.normal(size=(3, 10, 3))
    ref = np.einsum("bij,bnj->bni", T[:, :3, :3], p) + T[:, None, :3, 3]
    np.testing.assert_allclose(transform_points(_t(T), _t(p)).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(invert_pose(_t(T)).numpy(), np.linalg.inv(T), atol=1e-12)


def test_gradcheck_project_unproject():
    g = torch.Generator().manual_seed(2)
    pts = (torch.rand(2, 6, 3, generator=g, dtype=torch.float64) + _t([0, 0, 1])).requires_grad_()
    K = _t([[[30, 0, 8], [0, 31, 6], [0, 0, 1]]] * 2).requires_grad_()
    assert torch.autograd.gradcheck(project, (pts, K))
    depth = (torch.rand(2, 1, 3, 4, generator=g, dtype=torch.float64) + 1).requires_grad_()
    assert torch.autograd.gradcheck(unproject, (depth, K))
    eye = _t([[3.0, 0.5, 1.0]]).requires_grad_()
    assert torch.autograd.gradcheck(lambda e: look_at(e, _t([[0, 0, 0]]), _t([[0, 0, 1]])), (eye,))


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 4, 4)])
def test_invert_pose_batches(shape):
    T = look_at(_t([[1, 2, 3]]), _t([[0, 0, 0]]), _t([[0, 0, 1]]))[0].expand(shape)
    I = T @ invert_pose(T)
    np.testing.assert_allclose(I.numpy(), np.broadcast_to(np.eye(4), shape), atol=1e-12)


def test_crop_resize_intrinsics_by_hand():
    # 200x160 image (W x H), f = (100, 80), c = (50, 40); crop 60x60 at (top 10, left 20), resize to 30x30: s = 1/2
    K = _t([[100.0, 0.0, 50.0], [0.0, 80.0, 40.0], [0.0, 0.0, 1.0]])
    out = crop_resize_intrinsics(torch.stack([K, 2 * K]), (10, 20, 60, 60), (30, 30))
    assert out.shape == (2, 3, 3) and out.dtype == torch.float64
    # cx' = (50 - 20 + 0.5) / 2 - 0.5 = 14.75, cy' = (40 - 10 + 0.5) / 2 - 0.5 = 14.75
    expected = _t([[50.0, 0.0, 14.75], [0.0, 40.0, 14.75], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(out[0], expected)
    # the resized pixel (0, 0) averages crop pixels 0 and 1, whose centre is the full image's (20.5, 10.5)
    point = _t([[[(20.5 - 50.0) / 100.0, (10.5 - 40.0) / 80.0, 1.0]]])
    torch.testing.assert_close(project(point, out[:1]), _t([[[0.0, 0.0]]]))
    # K2 = 2 K (row 2 as well): fx' = 100, fy' = 80, cx' = (100 - 20 + 0.5) / 2 - 0.5 = 39.75, cy' = 34.75
    torch.testing.assert_close(out[1, :2], _t([[100.0, 0.0, 39.75], [0.0, 80.0, 34.75]]))
    # the whole image at its own size is the identity; a pure resize scales cx + 0.5
    torch.testing.assert_close(crop_resize_intrinsics(K, (0, 0, 160, 200), (160, 200)), K)
    torch.testing.assert_close(crop_resize_intrinsics(K, (0, 0, 160, 200), (80, 400))[:2, 2], _t([100.5, 19.75]))
