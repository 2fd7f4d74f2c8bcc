"""Occupancy-grid helpers: grid convention, IoU, bit packing and the iso-surface read-out."""

import numpy as np
import pytest
import torch

from recon.geometry.voxels import (
    grid_offsets,
    grid_points,
    occupancy_iou,
    pack_occupancy,
    surface_points,
    unpack_occupancy,
    voxel_size,
)


def test_grid_convention_index_i_j_k_is_x_y_z():
    R, e = 4, 1.0
    offsets = grid_offsets(R, e)
    assert offsets.shape == (R, R, R, 3)
    # hand-derived: voxel side 0.5, first centre at -0.75
    assert torch.allclose(offsets[0, 0, 0], torch.tensor([-0.75, -0.75, -0.75]))
    assert torch.allclose(offsets[3, 1, 2], torch.tensor([0.75, -0.25, 0.25]))
    center = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(grid_points(center, R, e)[0, 3, 1, 2], center[0] + torch.tensor([0.75, -0.25, 0.25]))
    assert voxel_size(R, e) == 0.5


def test_iou_matches_set_definition():
    g = torch.Generator().manual_seed(0)
    pred, gt = torch.rand(5, 1, 6, 6, 6, generator=g) < 0.3, torch.rand(5, 1, 6, 6, 6, generator=g) < 0.3
    expected = [np.logical_and(p, t).sum() / np.logical_or(p, t).sum() for p, t in zip(pred.numpy(), gt.numpy())]
    assert torch.allclose(occupancy_iou(pred, gt), torch.tensor(expected, dtype=torch.float32))
    empty = torch.zeros(2, 1, 3, 3, 3, dtype=torch.bool)
    assert occupancy_iou(empty, empty).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="same shape"):
        occupancy_iou(empty, empty[:, :, :2])


@pytest.mark.parametrize("R", [3, 8, 16])
def test_pack_round_trip(R):
    grids = np.random.default_rng(R).random((2, 3, R, R, R)) < 0.4
    packed = pack_occupancy(grids)
    assert packed.shape == (2, 3, (R**3 + 7) // 8) and packed.dtype == np.uint8
    assert torch.equal(unpack_occupancy(packed, R), torch.from_numpy(grids))
    assert torch.equal(unpack_occupancy(torch.from_numpy(packed[0, 1]), R), torch.from_numpy(grids[0, 1]))


def test_surface_points_of_a_sphere_lie_on_it():
    R, extent, radius = 32, 1.0, 0.6
    center = torch.tensor([[0.2, -0.1, 3.0]])
    d = grid_offsets(R, extent).norm(dim=-1)
    # a smooth probability (p = 0.5 exactly on the sphere), so the iso-surface is accurate to well below a voxel
    prob = torch.sigmoid((radius - d) / voxel_size(R, extent))[None, None]
    pts = surface_points(prob, center, extent, num_points=500)
    assert pts.shape == (1, 500, 3)
    r = (pts[0] - center[0]).norm(dim=-1)
    assert (r - radius).abs().max() < 0.1 * voxel_size(R, extent)
    # uniform by area: the mean direction is near zero
    assert ((pts[0] - center[0]) / r[:, None]).mean(0).norm() < 0.15
    again = surface_points(prob, center, extent, num_points=500)
    assert torch.equal(pts, again), "the read-out must be deterministic"


def test_surface_points_of_a_binary_box_stay_within_half_a_voxel():
    R, extent = 16, 1.0
    grid = torch.zeros(1, 1, R, R, R)
    grid[0, 0, 4:12, 6:10, 2:14] = 1.0  # x in [-0.5, 0.5), y in [-0.25, 0.25), z in [-0.75, 0.75)
    pts = surface_points(grid, torch.zeros(1, 3), extent, num_points=300)[0]
    half = voxel_size(R, extent) / 2
    box = torch.tensor([0.5, 0.25, 0.75])
    assert (pts.abs() <= box + half + 1e-6).all()
    # every point lies near one of the box faces (within half a voxel)
    gap = (box - pts.abs()).abs().min(dim=-1).values
    assert (gap <= half + 1e-6).all()


def test_empty_grid_gives_its_most_probable_voxel():
    R = 8
    prob = torch.full((2, 1, R, R, R), 0.1)
    prob[1, 0, 1, 2, 3] = 0.4
    pts = surface_points(prob, torch.zeros(2, 3), 1.0, num_points=7)
    assert pts.shape == (2, 7, 3)
    assert torch.allclose(pts[1], grid_offsets(R, 1.0)[1, 2, 3].expand(7, 3))
