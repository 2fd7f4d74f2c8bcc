"""Depth-sensor effects against hand-derived cases: plane normals and obliquity, depth edges, noise, quantisation."""

import math

import pytest
import torch

from recon.geometry.cameras import intrinsics_from_focal, unproject
from recon.geometry.depth_sensor import (
    axial_noise_std,
    depth_edges,
    grazing_mask,
    normals_from_depth,
    quantize_depth,
)

H, W, FOCAL = 21, 31, 40.0


def plane_depth(slope: float, z0: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth of the plane z = z0 + slope * x seen by a camera at the origin: along the ray (x/z = u', y/z = v'),
    z = z0 / (1 - slope * u') with u' = (u - cx) / f."""
    K = intrinsics_from_focal(FOCAL, H, W)[None].double()
    u = (torch.arange(W, dtype=torch.float64) - K[0, 0, 2]) / FOCAL
    depth = (z0 / (1 - slope * u)).expand(H, W)[None, None].clone()
    return depth, K


@pytest.mark.parametrize("slope", [0.0, 0.5, -1.5])
def test_normals_of_a_plane_are_its_analytic_normal_facing_the_camera(slope):
    depth, K = plane_depth(slope)
    normals, defined = normals_from_depth(depth, K)
    expected = torch.tensor([slope, 0.0, -1.0], dtype=torch.float64) / math.hypot(slope, 1.0)
    assert defined[0, 0, 1:-1, 1:-1].all() and not defined[0, 0, 0].any() and not defined[0, 0, :, -1].any()
    inner = normals[0, :, 1:-1, 1:-1].reshape(3, -1).T
    torch.testing.assert_close(inner, expected.expand_as(inner), atol=1e-9, rtol=0)


def test_grazing_mask_flags_pixels_seen_beyond_the_angle():
    depth, K = plane_depth(math.tan(math.radians(60)))
    # the angle between the ray through pixel u and the normal, computed independently
    normal = torch.tensor([math.tan(math.radians(60)), 0.0, -1.0], dtype=torch.float64)
    normal = normal / normal.norm()
    rays = unproject(torch.ones_like(depth), K)[0]
    rays = rays / rays.norm(dim=-1, keepdim=True)
    angle = torch.rad2deg(torch.arccos(-(rays @ normal))).reshape(H, W)
    mask = grazing_mask(depth, K, max_angle_deg=62.0)[0, 0]
    inner = (slice(1, -1), slice(1, -1))
    assert torch.equal(mask[inner], angle[inner] > 62.0)
    assert mask[inner].any() and not mask[inner].all()
    assert mask[0].all() and mask[:, -1].all()  # undefined normals count as unusable


def test_depth_edges_mark_both_sides_of_a_jump_and_the_rim_of_a_hole():
    depth = torch.full((1, 1, 6, 8), 2.0)
    depth[..., 4:] = 3.0  # a 50% jump between columns 3 and 4
    edges = depth_edges(depth, relative_jump=0.1, width=0)[0, 0]
    assert edges[:, 3:5].all() and not edges[:, :3].any() and not edges[:, 5:].any()
    assert not depth_edges(depth, relative_jump=0.6, width=0).any()  # 3 vs 2 is 50% of the nearer
    wide = depth_edges(depth, relative_jump=0.1, width=1)[0, 0]
    assert wide[:, 2:6].all() and not wide[:, :2].any() and not wide[:, 6:].any()
    holed = depth.clone()
    holed[..., 2, 1] = 0
    edges = depth_edges(holed, relative_jump=0.6, width=0)[0, 0]
    assert edges[1, 1] and edges[3, 1] and edges[2, 0] and edges[2, 2] and not edges[2, 1]
    assert edges.sum() == 4


def test_noise_std_and_quantisation_follow_the_squared_distance():
    depth = torch.tensor([0.0, 1.0, 2.0, 4.0]).view(1, 1, 1, 4)
    torch.testing.assert_close(axial_noise_std(depth, 0.001, 0.002).flatten(), torch.tensor([0.0, 0.003, 0.009, 0.033]))
    s = 0.01
    z = torch.linspace(0.5, 4.0, 400).view(1, 1, 20, 20)
    q = quantize_depth(z, s)
    levels = 1 / (s * q)
    torch.testing.assert_close(levels, levels.round(), atol=1e-3, rtol=0)  # on the disparity grid
    assert ((q - z).abs() <= 0.5 * s * z.square() * 1.05).all()  # half a step of ~s z^2
    assert len(q.unique()) < len(z.unique())
    assert quantize_depth(torch.zeros(1, 1, 2, 2), s).eq(0).all()
    torch.testing.assert_close(quantize_depth(z, 0.0), z)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"depth must be \(B, 1, H, W\)"):
        depth_edges(torch.ones(4, 4), 0.1)
