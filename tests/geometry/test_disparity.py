"""Disparity geometry: hand-derived warps and depths, gradcheck, a hand-made left-right check, KITTI hole filling."""

import numpy as np
import pytest
import torch

from recon.geometry.disparity import (
    depth_to_disparity,
    disparity_to_depth,
    fill_disparity_holes,
    left_right_consistency,
    warp_right_to_left,
)


def row(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype).reshape(1, 1, 1, -1)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_integer_shift_reproduces_columns(dtype, atol):
    g = torch.Generator().manual_seed(0)
    right = torch.rand(2, 3, 6, 11, generator=g, dtype=dtype)
    shifts = [0, 3]
    disparity = torch.stack([torch.full((1, 6, 11), float(s), dtype=dtype) for s in shifts])
    warped, in_bounds = warp_right_to_left(right, disparity)
    assert warped.shape == right.shape and warped.dtype == dtype and in_bounds.shape == (2, 1, 6, 11)
    for b, s in enumerate(shifts):
        torch.testing.assert_close(warped[b, :, :, s:], right[b, :, :, : 11 - s], atol=atol, rtol=0)
        assert in_bounds[b, 0].equal((torch.arange(11) >= s).expand(6, 11))
        if s:  # whole pixels outside the image: zero padding
            assert warped[b, :, :, :s].abs().max() <= atol


def test_per_pixel_integer_disparity_matches_indexing():
    g = torch.Generator().manual_seed(1)
    B, C, H, W = 2, 2, 5, 9
    right = torch.rand(B, C, H, W, generator=g, dtype=torch.float64)
    disparity = torch.randint(0, 5, (B, 1, H, W), generator=g).double()
    warped, in_bounds = warp_right_to_left(right, disparity)
    r, d = right.numpy(), disparity.numpy().astype(int)
    expected = np.zeros_like(r)
    for b, y, x in np.ndindex(B, H, W):
        if x - d[b, 0, y, x] >= 0:
            expected[b, :, y, x] = r[b, :, y, x - d[b, 0, y, x]]
    np.testing.assert_allclose(warped.numpy(), expected, atol=1e-12)
    np.testing.assert_array_equal(in_bounds.numpy()[:, 0], np.arange(W)[None, None] - d[:, 0] >= 0)


def test_fractional_disparity_interpolates_linearly_along_the_row():
    # right[x] = 10 x; bilinear sampling of a linear ramp is exact: warped[x] = 10 (x - d).
    W = 8
    right = (10.0 * torch.arange(W, dtype=torch.float64)).reshape(1, 1, 1, W).expand(1, 1, 3, W).contiguous()
    disparity = torch.full((1, 1, 3, W), 2.25, dtype=torch.float64)
    warped, in_bounds = warp_right_to_left(right, disparity)
    x = torch.arange(W, dtype=torch.float64)
    torch.testing.assert_close(warped[0, 0, :, 3:], (10 * (x[3:] - 2.25)).expand(3, -1))
    assert in_bounds[0, 0, 0].tolist() == [False, False, False] + [True] * 5
    # Beyond the right border (negative disparity), too.
    warped, in_bounds = warp_right_to_left(right, torch.full_like(disparity, -0.5))
    assert in_bounds[0, 0, 0, -1].item() is False and in_bounds[0, 0, 0, :-1].all()


def test_nearest_mode_rounds_the_source_column():
    right = torch.arange(6.0).reshape(1, 1, 1, 6)
    warped, _ = warp_right_to_left(right, torch.full((1, 1, 1, 6), 1.4), mode="nearest")
    assert warped[0, 0, 0, 2:].tolist() == [1.0, 2.0, 3.0, 4.0]  # round(x - 1.4) = x - 1


def test_warp_gradcheck():
    g = torch.Generator().manual_seed(2)
    right = torch.rand(2, 2, 3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    # Sample positions strictly between pixel centres: bilinear interpolation has kinks at integers.
    base = torch.randint(-1, 4, (2, 1, 3, 6), generator=g).double()
    disparity = (base + 0.2 + 0.6 * torch.rand(2, 1, 3, 6, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda r, d: warp_right_to_left(r, d)[0], (right, disparity))


def test_warp_shape_errors():
    right = torch.rand(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"disparity must be \(B, 1, H, W\)"):
        warp_right_to_left(right, torch.rand(2, 2, 4, 5))
    with pytest.raises(ValueError, match=r"disparity must be \(2, 1, 4, 5\)"):
        warp_right_to_left(right, torch.rand(2, 1, 4, 6))
    with pytest.raises(ValueError, match=r"right must be \(B, C, H, W\)"):
        warp_right_to_left(torch.rand(3, 4, 5), torch.rand(2, 1, 4, 5))
    with pytest.raises(ValueError, match="floating-point"):
        warp_right_to_left(right, torch.ones(2, 1, 4, 5, dtype=torch.long))


def test_disparity_to_depth_known_values():
    # KITTI-like rig: f = 720 px, b = 0.54 m -> f b = 388.8; second image f = 500, b = 0.1 -> 50.
    disparity = torch.tensor([[10.0, 0.0, 36.0, 4.0], [25.0, 50.0, -2.0, 5.0]]).reshape(2, 1, 1, 4)
    valid = torch.tensor([[True, True, True, False], [True, True, True, True]]).reshape(2, 1, 1, 4)
    depth = disparity_to_depth(disparity, torch.tensor([720.0, 500.0]), torch.tensor([0.54, 0.1]), valid)
    expected = torch.tensor([[38.88, 0.0, 10.8, 0.0], [2.0, 1.0, 0.0, 10.0]]).reshape(2, 1, 1, 4)
    torch.testing.assert_close(depth, expected)
    # Scalars broadcast over the batch; no mask means "disparity > 0".
    torch.testing.assert_close(disparity_to_depth(disparity[:1], 720.0, 0.54)[0, 0, 0, 3], torch.tensor(97.2))


def test_depth_disparity_round_trip_and_safe_gradients():
    g = torch.Generator().manual_seed(3)
    depth = 0.5 + 20 * torch.rand(3, 1, 4, 5, generator=g, dtype=torch.float64)
    depth[0, 0, 0, 0] = 0.0  # invalid stays invalid
    focal, baseline = torch.tensor([700.0, 320.0, 1000.0], dtype=torch.float64), 0.3
    disparity = depth_to_disparity(depth, focal, baseline)
    torch.testing.assert_close(disparity_to_depth(disparity, focal, baseline), depth)
    assert disparity[0, 0, 0, 0] == 0
    d = disparity.clone().requires_grad_()
    disparity_to_depth(d, focal, baseline).sum().backward()
    assert torch.isfinite(d.grad).all() and d.grad[0, 0, 0, 0] == 0
    positive = disparity.clone()
    positive[0, 0, 0, 0] = 3.0  # away from the 0 = invalid discontinuity
    assert torch.autograd.gradcheck(lambda x: disparity_to_depth(x, focal, baseline), (positive.requires_grad_(),))


def test_depth_conversion_errors():
    with pytest.raises(ValueError, match=r"focal must be a float or a \(2,\) tensor"):
        disparity_to_depth(torch.ones(2, 1, 3, 3), torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="valid must be a bool tensor"):
        disparity_to_depth(torch.ones(2, 1, 3, 3), 1.0, 1.0, valid=torch.ones(2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"depth must be \(B, 1, H, W\)"):
        depth_to_disparity(torch.ones(2, 3, 3), 1.0, 1.0)


def test_left_right_consistency_hand_made_occlusion():
    # A foreground segment (d = 3) at left columns 3-4 in front of a background at d = 1. Left pixels 1-2 map to
    # right columns 0-1, which show the foreground: occluded. Left column 0 maps outside the right image.
    disp_left = row([1, 1, 1, 3, 3, 1, 1, 1])
    disp_right = row([3, 3, 1, 1, 1, 1, 1, 1])  # right view: foreground at columns 0-1
    ok = left_right_consistency(disp_left, disp_right)
    assert ok[0, 0, 0].tolist() == [False, False, False, True, True, True, True, True]
    # Threshold: a 0.5 px disagreement passes at 1 px, fails at 0.25 px.
    noisy = disp_right + 0.5
    assert left_right_consistency(disp_left, noisy, threshold=1.0)[0, 0, 0, 3:].all()
    assert not left_right_consistency(disp_left, noisy, threshold=0.25)[0, 0, 0].any()
    with pytest.raises(ValueError, match="one shape"):
        left_right_consistency(disp_left, row([1, 2]))


def kitti_fill_reference(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Loop transcription of the KITTI devkit rule (row pass, then fully invalid rows from the rows around them)."""
    d = np.where(valid, disparity, -1.0).astype(np.float64)
    H, W = d.shape

    def fill_line(line, ok):
        out, idx = line.copy(), np.flatnonzero(ok)
        if len(idx) == 0:
            return out, False
        for i in np.flatnonzero(~ok):
            before, after = idx[idx < i], idx[idx > i]
            if len(before) and len(after):
                out[i] = min(line[before[-1]], line[after[0]])
            else:
                out[i] = line[before[-1]] if len(before) else line[after[0]]
        return out, True

    row_ok = np.zeros(H, bool)
    for v in range(H):
        d[v], row_ok[v] = fill_line(d[v], d[v] >= 0)
    if not row_ok.any():
        return np.zeros_like(d)
    for u in range(W):
        d[:, u], _ = fill_line(d[:, u], row_ok)
    return d


def test_fill_holes_hand_made_row():
    d = row([-1, 5, -1, -1, 3, -1, 7, -1])
    filled = fill_disparity_holes(d, d >= 0)
    # left border <- 5; gap between 5 and 3 <- min = 3; gap between 3 and 7 <- 3; right border <- 7
    assert filled[0, 0, 0].tolist() == [5, 5, 3, 3, 3, 3, 7, 7]


def test_fill_holes_fully_invalid_rows_and_maps():
    d = torch.tensor([[-1, -1, -1.0], [1, -1, 2], [-1, -1, -1], [4, 5, -1], [-1, -1, -1]]).reshape(1, 1, 5, 3)
    filled = fill_disparity_holes(d, d >= 0)[0, 0]
    # rows: [1,1,2] and [4,5,5]; row 0 <- row 1 (top), row 2 <- min(row 1, row 3), row 4 <- row 3 (bottom)
    assert filled.tolist() == [[1, 1, 2], [1, 1, 2], [1, 1, 2], [4, 5, 5], [4, 5, 5]]
    empty = torch.zeros(2, 1, 3, 4, dtype=torch.bool)
    assert fill_disparity_holes(torch.full((2, 1, 3, 4), 9.0), empty).eq(0).all()


@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_fill_holes_matches_loop_reference(density):
    g = np.random.default_rng(int(density * 100))
    disparity = g.uniform(0, 50, (3, 1, 9, 13)).astype(np.float32)
    valid = g.random((3, 1, 9, 13)) < density
    valid[0, 0, 4] = False  # an interior fully invalid row
    filled = fill_disparity_holes(torch.from_numpy(disparity), torch.from_numpy(valid)).numpy()
    for b in range(3):
        np.testing.assert_allclose(filled[b, 0], kitti_fill_reference(disparity[b, 0], valid[b, 0]), rtol=0, atol=0)
