"""Multi-view geometry against hand-derived cases, numpy plane-induced homographies and gradcheck."""

import numpy as np
import pytest
import torch

from recon.geometry.cameras import intrinsics_from_focal, look_at, pixel_grid, project, transform_points
from recon.geometry.multiview import (
    depth_to_world_points,
    geometric_consistency,
    homography_warp,
    relative_pose,
    reproject_depth,
)

D64 = torch.float64


def _t(x):
    return torch.tensor(x, dtype=D64)


def _K(f, H, W, B):
    return intrinsics_from_focal(f, H, W, dtype=D64).expand(B, 3, 3).clone()


def _pose(R, t):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def _random_pair(B, seed, offset=0.4):
    """Reference cameras around the origin looking at it, source cameras a small random step away."""
    g = torch.Generator().manual_seed(seed)
    eye = torch.nn.functional.normalize(torch.randn(B, 3, generator=g, dtype=D64), dim=-1) * 3
    up = _t([0, 0, 1]).expand(B, 3)
    T_ref = look_at(eye, torch.randn(B, 3, generator=g, dtype=D64) * 0.1, up)
    T_src = look_at(
        eye + offset * torch.randn(B, 3, generator=g, dtype=D64), torch.randn(B, 3, generator=g, dtype=D64) * 0.1, up
    )
    return T_ref, T_src


def _coordinate_maps(B, Hs, Ws):
    """(B, 3, Hs, Ws) features (u, v, 1): bilinear sampling of them returns the sample position exactly."""
    v, u = torch.meshgrid(torch.arange(Hs, dtype=D64), torch.arange(Ws, dtype=D64), indexing="ij")
    return torch.stack([u, v, torch.ones_like(u)])[None].expand(B, 3, Hs, Ws).clone()


def _np_project(K, T, X):
    """numpy pinhole: world points (N, 3) -> pixels (N, 2), z (N,)."""
    Xc = X @ T[:3, :3].T + T[:3, 3]
    p = Xc @ K.T
    return p[:, :2] / p[:, 2:3], Xc[:, 2]


def _np_backproject(K, T, uv, z):
    """numpy inverse of _np_project: pixels (N, 2) at z-depths (N,) -> world points (N, 3)."""
    rays = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(K).T
    Xc = rays / rays[:, 2:3] * z[:, None]
    return (Xc - T[:3, 3]) @ T[:3, :3]


def test_relative_pose_against_numpy():
    T_ref, T_src = _random_pair(3, seed=0)
    expected = T_src.numpy() @ np.linalg.inv(T_ref.numpy())
    np.testing.assert_allclose(relative_pose(T_ref, T_src).numpy(), expected, atol=1e-12)
    X = np.random.default_rng(0).normal(size=(3, 5, 3))
    in_ref = transform_points(T_ref, _t(X))
    np.testing.assert_allclose(
        transform_points(relative_pose(T_ref, T_src), in_ref).numpy(),
        transform_points(T_src, _t(X)).numpy(),
        atol=1e-12,
    )


def test_fronto_parallel_shift_is_exact():
    """Two cameras with one K, the source translated by ``b`` along the reference x axis.

    A reference pixel ``(u, v)`` at z-depth ``z`` is the point ``((u - cx) z / f, (v - cy) z / f, z)``; in the
    source frame its x coordinate is ``(u - cx) z / f - b``, so it projects to ``u_s = f x / z + cx = u - f b / z``
    and ``v_s = v``. With ``f b / z = s`` an integer, the warped plane is the source shifted right by ``s``
    columns: ``warped[..., u] = src[..., u - s]`` where ``u >= s``, and 0 (outside) for ``u < s``.
    """
    B, C, H, W, f, b = 2, 3, 4, 8, 10.0, 0.5
    shifts = [1, 2, 4]
    depths = _t([[f * b / s for s in shifts]] * B)  # 5, 2.5, 1.25: exact in binary
    K = _K(f, H, W, B)
    world = look_at(_t([[0.3, -1.0, -2.0]]), _t([[0.0, 0.2, 1.0]]), _t([[0, -1, 0]])).expand(B, 4, 4)
    T_ref = _t(np.eye(4)).expand(B, 4, 4) @ world  # an arbitrary world frame: only the
    T_src = _t(_pose(np.eye(3), [-b, 0, 0])).expand(B, 4, 4) @ world  # relative pose matters
    src = torch.randn(B, C, H, W, generator=torch.Generator().manual_seed(0), dtype=D64)
    warped, inside = homography_warp(src, K, K, T_ref, T_src, depths)
    assert warped.shape == (B, C, 3, H, W) and inside.shape == (B, 1, 3, H, W) and inside.dtype == torch.bool
    for d, s in enumerate(shifts):
        expected = torch.zeros_like(src)
        expected[..., s:] = src[..., : W - s]
        torch.testing.assert_close(warped[:, :, d], expected, atol=1e-10, rtol=0)
        assert inside[:, :, d, :, s:].all() and not inside[:, :, d, :, :s].any()


def test_identity_pose_is_identity_warp_at_every_depth():
    B, C, H, W = 2, 3, 5, 6
    T, _ = _random_pair(B, seed=1)
    K = _K(7.0, H, W, B)
    src = torch.randn(B, C, H, W, generator=torch.Generator().manual_seed(1), dtype=D64)
    depths = _t([[0.5, 1.0, 7.3], [2.0, 3.0, 100.0]])
    warped, inside = homography_warp(src, K, K, T, T, depths)
    torch.testing.assert_close(warped, src[:, :, None].expand(B, C, 3, H, W), atol=1e-9, rtol=0)
    assert inside.all()


@pytest.mark.parametrize("per_pixel", [False, True])
def test_matches_numpy_plane_homography(per_pixel):
    """Source features (u_s, v_s, 1) are linear in the source pixel, so bilinear sampling returns exactly
    where each reference pixel lands. Reference: ``p_s ~ K_s (R + t n^T / d) K_r^-1 p`` with ``n = (0, 0, 1)``
    for planes, and point-wise back-projection / projection for per-pixel depths. The source map has another
    resolution than the reference grid."""
    B, H, W, Hs, Ws, D = 2, 5, 7, 6, 9, 3
    T_ref, T_src = _random_pair(B, seed=2)
    K_ref, K_src = _K(8.0, H, W, B), _K(11.0, Hs, Ws, B)
    g = torch.Generator().manual_seed(2)
    depths = 2.0 + 2.0 * torch.rand((B, D, H, W) if per_pixel else (B, D), generator=g, dtype=D64)
    warped, inside = homography_warp(
        _coordinate_maps(B, Hs, Ws), K_ref, K_src, T_ref, T_src, depths, ref_size=None if per_pixel else (H, W)
    )
    p = np.c_[np.stack(np.meshgrid(np.arange(W), np.arange(H)), -1).reshape(-1, 2), np.ones(H * W)]  # (HW, 3)
    n = np.array([0.0, 0.0, 1.0])
    for i in range(B):
        T_sr = T_src[i].numpy() @ np.linalg.inv(T_ref[i].numpy())
        R, t = T_sr[:3, :3], T_sr[:3, 3]
        for k in range(D):
            if per_pixel:
                z = depths[i, k].numpy().reshape(-1)
                X = (p @ np.linalg.inv(K_ref[i].numpy()).T) * z[:, None] @ R.T + t
                q = X @ K_src[i].numpy().T
            else:
                Hmat = K_src[i].numpy() @ (R + np.outer(t, n) / depths[i, k].item()) @ np.linalg.inv(K_ref[i].numpy())
                q = p @ Hmat.T
            uv = q[:, :2] / q[:, 2:3]
            ok = (q[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] <= Ws - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= Hs - 1)
            assert 0.2 < ok.mean() < 1.0  # the test covers both cases
            np.testing.assert_array_equal(inside[i, 0, k].numpy().reshape(-1), ok)
            got = warped[i, :, k].numpy().reshape(3, -1).T
            np.testing.assert_allclose(got[ok], np.c_[uv, np.ones(len(uv))][ok], atol=1e-9)


def test_constant_per_pixel_depths_equal_planes():
    B, C, H, W, D = 2, 4, 5, 6, 3
    T_ref, T_src = _random_pair(B, seed=3)
    K = _K(6.0, H, W, B)
    g = torch.Generator().manual_seed(3)
    src = torch.randn(B, C, H, W, generator=g, dtype=D64)
    depths = 2.0 + torch.rand(B, D, generator=g, dtype=D64)
    planes = homography_warp(src, K, K, T_ref, T_src, depths)
    pixels = homography_warp(src, K, K, T_ref, T_src, depths[:, :, None, None].expand(B, D, H, W))
    torch.testing.assert_close(pixels[0], planes[0], atol=1e-12, rtol=0)
    assert torch.equal(pixels[1], planes[1])


def test_downsampled_source_with_scaled_intrinsics():
    """Pixel centres at integers: a 2x finer source pixel grid has ``u' = 2 u + 0.5``, i.e. K scaled by 2 with
    the principal point shifted by 0.5. Identity pose: reference pixel (u, v) samples source (2u + .5, 2v + .5)."""
    B, H, W = 1, 3, 4
    K_ref = _K(5.0, H, W, B)
    K_src = K_ref.clone()
    K_src[:, :2] *= 2
    K_src[:, :2, 2] += 0.5
    T = _t(np.eye(4))[None]
    warped, inside = homography_warp(
        _coordinate_maps(B, 2 * H, 2 * W), K_ref, K_src, T, T, _t([[3.0]]), ref_size=(H, W)
    )
    grid = pixel_grid(H, W, dtype=D64)[:, :2].T.reshape(2, H, W)
    torch.testing.assert_close(warped[0, :2, 0], 2 * grid + 0.5, atol=1e-12, rtol=0)
    assert inside.all()


def test_behind_the_source_camera_is_masked_and_zero():
    B, H, W = 1, 4, 5
    K = _K(5.0, H, W, B)
    T_ref = _t(np.eye(4))[None]
    T_src = _t(_pose(np.diag([-1.0, 1.0, -1.0]), [0, 0, 0]))[None]  # turned around: looks along -z
    src = torch.ones(B, 2, H, W, dtype=D64)
    warped, inside = homography_warp(src, K, K, T_ref, T_src, _t([[1.0, 2.0]]))
    assert not inside.any() and not warped.any()
    uv, z = reproject_depth(torch.full((B, 1, H, W), 2.0, dtype=D64), K, T_ref, K, T_src)
    assert (z < 0).all() and (uv == -1).all()


def test_gradcheck_features_and_depths():
    B, C, Hs, Ws, H, W, D = 1, 2, 4, 5, 3, 4, 2
    T_ref, T_src = _random_pair(B, seed=4, offset=0.2)
    K_ref, K_src = _K(3.0, H, W, B), _K(3.5, Hs, Ws, B)
    g = torch.Generator().manual_seed(4)
    src = torch.randn(B, C, Hs, Ws, generator=g, dtype=D64, requires_grad=True)
    planes = (2.5 + torch.rand(B, D, generator=g, dtype=D64)).requires_grad_()
    per_pixel = (2.5 + torch.rand(B, D, H, W, generator=g, dtype=D64)).requires_grad_()

    def warp(features, depths):
        return homography_warp(features, K_ref, K_src, T_ref, T_src, depths, ref_size=(H, W))[0]

    assert homography_warp(src, K_ref, K_src, T_ref, T_src, planes, ref_size=(H, W))[1].float().mean() > 0.3
    assert torch.autograd.gradcheck(warp, (src, planes))
    assert torch.autograd.gradcheck(warp, (src, per_pixel))


def test_reproject_depth_round_trip_and_world_points():
    B, H, W = 3, 6, 8
    T_ref, T_src = _random_pair(B, seed=5)
    K_ref, K_src = _K(9.0, H, W, B), _K(7.0, 5, 7, B)
    depth = 2.0 + 2.0 * torch.rand(B, 1, H, W, generator=torch.Generator().manual_seed(5), dtype=D64)
    world = depth_to_world_points(depth, K_ref, T_ref)
    uv_src, z_src = reproject_depth(depth, K_ref, T_ref, K_src, T_src)
    assert world.shape == (B, H, W, 3) and uv_src.shape == (B, H, W, 2) and z_src.shape == (B, H, W)
    pixels = pixel_grid(H, W, dtype=D64)[:, :2].numpy()
    for i in range(B):
        Kr, Ks, Tr, Ts = K_ref[i].numpy(), K_src[i].numpy(), T_ref[i].numpy(), T_src[i].numpy()
        X = _np_backproject(Kr, Tr, pixels, depth[i, 0].numpy().reshape(-1))
        np.testing.assert_allclose(world[i].numpy().reshape(-1, 3), X, atol=1e-10)
        uv, z = _np_project(Ks, Ts, X)
        np.testing.assert_allclose(uv_src[i].numpy().reshape(-1, 2), uv, atol=1e-9)
        np.testing.assert_allclose(z_src[i].numpy().reshape(-1), z, atol=1e-10)
        back_uv, back_z = _np_project(
            Kr, Tr, _np_backproject(Ks, Ts, uv_src[i].numpy().reshape(-1, 2), z_src[i].numpy().reshape(-1))
        )
        np.testing.assert_allclose(back_uv, pixels, atol=1e-9)
        np.testing.assert_allclose(back_z, depth[i, 0].numpy().reshape(-1), atol=1e-10)
    # the world points seen from the reference camera are the pixels again
    np.testing.assert_allclose(
        project(transform_points(T_ref, world.reshape(B, -1, 3)), K_ref).numpy(),
        np.broadcast_to(pixels, (B, H * W, 2)),
        atol=1e-9,
    )


def _plane_depth(K, T, H, W):
    """numpy z-depth of the world plane z = 0 seen by camera (K, T): the ray ``C + s R^T K^-1 p`` meets it at
    ``s = -C_z / (R^T K^-1 p)_z``, and ``s`` is the z-depth because ``K^-1 p`` has unit z."""
    p = np.c_[np.stack(np.meshgrid(np.arange(W), np.arange(H)), -1).reshape(-1, 2), np.ones(H * W)]
    R, t = T[:3, :3], T[:3, 3]
    C = -R.T @ t
    rays = p @ np.linalg.inv(K).T @ R  # rows R^T K^-1 p
    return (-C[2] / rays[:, 2]).reshape(1, H, W)


def _plane_scene(seed):
    B, H, W, Hs, Ws = 2, 12, 16, 10, 14
    up = _t([0, 1, 0]).expand(B, 3)
    g = torch.Generator().manual_seed(seed)
    T_ref = look_at(_t([[0.2, 0.1, 3.0], [-0.3, 0.2, 2.5]]), torch.rand(B, 3, generator=g, dtype=D64) * 0.2, up)
    T_src = look_at(_t([[0.8, -0.2, 2.8], [0.1, 0.6, 2.7]]), torch.rand(B, 3, generator=g, dtype=D64) * 0.2, up)
    K_ref, K_src = _K(14.0, H, W, B), _K(12.0, Hs, Ws, B)
    depth_ref = torch.stack([_t(_plane_depth(K_ref[i].numpy(), T_ref[i].numpy(), H, W)) for i in range(B)])
    depth_src = torch.stack([_t(_plane_depth(K_src[i].numpy(), T_src[i].numpy(), Hs, Ws)) for i in range(B)])
    assert (depth_ref > 0).all() and (depth_src > 0).all()
    return depth_ref, K_ref, T_ref, depth_src, K_src, T_src


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_geometric_consistency_on_a_plane(dtype):
    depth_ref, K_ref, T_ref, depth_src, K_src, T_src = (t.to(dtype) for t in _plane_scene(seed=6))
    Hs, Ws = depth_src.shape[-2:]
    uv, z = reproject_depth(depth_ref, K_ref, T_ref, K_src, T_src)
    u, v = uv.unbind(-1)
    inside = ((z > 0) & (u >= 0) & (u <= Ws - 1) & (v >= 0) & (v <= Hs - 1)).unsqueeze(1)
    assert 0.3 < inside.double().mean() < 1.0

    mask = geometric_consistency(depth_ref, K_ref, T_ref, depth_src, K_src, T_src)
    assert mask.shape == depth_ref.shape and mask.dtype == torch.bool
    assert torch.equal(mask, inside)
    # a 5 % deeper source surface moves the reprojected point by more than 1 % of its depth
    assert not geometric_consistency(depth_ref, K_ref, T_ref, 1.05 * depth_src, K_src, T_src).any()
    # invalid source pixels reject every reference pixel whose bilinear sample touches one
    holes = depth_src.clone()
    holes[..., : Ws // 2] = 0
    expected = inside & (u >= Ws // 2).unsqueeze(1)
    assert expected.any()
    assert torch.equal(geometric_consistency(depth_ref, K_ref, T_ref, holes, K_src, T_src), expected)
    # invalid reference pixels fail
    depth_ref[..., :3, :] = 0
    assert not geometric_consistency(depth_ref, K_ref, T_ref, depth_src, K_src, T_src)[..., :3, :].any()


def _valid_args():
    B, C, H, W = 2, 3, 4, 5
    K, T = _K(4.0, H, W, B), _t(np.eye(4)).expand(B, 4, 4)
    return dict(src_features=torch.zeros(B, C, H, W), K_ref=K, K_src=K, T_ref_cw=T, T_src_cw=T, depths=torch.ones(B, 2))


@pytest.mark.parametrize(
    "name,value",
    [
        ("src_features", torch.zeros(2, 4, 5)),
        ("src_features", torch.zeros(2, 3, 4, 5, dtype=torch.long)),
        ("K_ref", torch.eye(3)),
        ("K_src", torch.zeros(3, 3, 3)),
        ("T_ref_cw", torch.zeros(2, 3, 4)),
        ("T_src_cw", torch.eye(4)[None]),
        ("depths", torch.ones(2)),
        ("depths", torch.ones(3, 2)),
        ("depths", torch.ones(2, 2, 4)),
    ],
)
def test_homography_warp_rejects_bad_shapes(name, value):
    args = _valid_args()
    args[name] = value
    with pytest.raises(ValueError, match=name):
        homography_warp(**args)


def test_other_bad_inputs_name_the_argument():
    args = _valid_args()
    with pytest.raises(ValueError, match="ref_size"):
        homography_warp(**{**args, "depths": torch.ones(2, 2, 4, 5)}, ref_size=(4, 6))
    with pytest.raises(ValueError, match="hypothesis"):
        homography_warp(**{**args, "depths": torch.ones(2, 0)})
    K, T = args["K_ref"], args["T_ref_cw"]
    depth = torch.ones(2, 1, 4, 5)
    with pytest.raises(ValueError, match="depth_ref"):
        reproject_depth(depth[:, 0], K, T, K, T)
    with pytest.raises(ValueError, match="K_src"):
        reproject_depth(depth, K, T, K[:1], T)
    with pytest.raises(ValueError, match="T_cw"):
        depth_to_world_points(depth, K, T[..., :3])
    with pytest.raises(ValueError, match="depth_src"):
        geometric_consistency(depth, K, T, depth[:1], K, T)
    with pytest.raises(ValueError, match="threshold"):
        geometric_consistency(depth, K, T, depth, K, T, pixel_threshold=0)
    with pytest.raises(ValueError, match="T_src_cw"):
        relative_pose(T, T[..., :3])


def test_half_features_are_sampled_at_float32_positions():
    B, H, W = 1, 4, 6
    T_ref, T_src = _random_pair(B, seed=7, offset=0.1)
    K = _K(6.0, H, W, B).float()
    src = torch.rand(B, 2, H, W, generator=torch.Generator().manual_seed(7))
    depths = torch.tensor([[2.5, 3.5]])
    warped, inside = homography_warp(src.half(), K, K, T_ref.float(), T_src.float(), depths)
    reference, inside32 = homography_warp(src.half().float(), K, K, T_ref.float(), T_src.float(), depths)
    assert warped.dtype == torch.float32 and torch.equal(warped, reference) and torch.equal(inside, inside32)


def test_sample_positions_stay_float32_under_autocast():
    """Mixed precision (CPU bf16 here, the same autocast as CUDA's) must not round pixel coordinates: bf16 holds
    ~3 significant digits, half a pixel at u ~ 100."""
    B, H, W = 1, 96, 128
    T_ref, T_src = _random_pair(B, seed=3, offset=0.1)
    K = _K(100.0, H, W, B).float()
    src = pixel_grid(H, W).T.reshape(1, 3, H, W)  # features = their own pixel coordinates (u, v, 1)
    depths = torch.tensor([[2.5, 3.5]])
    reference, _ = homography_warp(src, K, K, T_ref.float(), T_src.float(), depths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        warped, _ = homography_warp(src, K, K, T_ref.float(), T_src.float(), depths)
    torch.testing.assert_close(warped.float(), reference, atol=1e-3, rtol=0)
