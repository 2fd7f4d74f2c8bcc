"""Depth-map fusion: exact depth maps of an analytic plane fuse onto the plane; inconsistent and unconfident
depths are dropped; colours come from the images; the cloud writes to PLY."""

import numpy as np
import pytest
import torch

from recon.geometry.fusion import consistent_points, fuse_depth_maps
from recon.viz.export import read_point_cloud, write_point_cloud
from tests.helpers.mvs_planes import EYES, plane_views, texture

NORMAL, OFFSET = [0.2, -0.1, 1.0], 0.3


@pytest.fixture(scope="module")
def views():
    return plane_views(NORMAL, OFFSET, EYES)


def plane_distance(views, points: torch.Tensor) -> torch.Tensor:
    return (points.double() @ views["normal"] - OFFSET).abs()


def cameras(views):
    return views["depth"], views["K"], views["T_cw"]


def visible_in_others(views, margin: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Numpy brute force: per view and pixel, how many other cameras see its exact point inside their image, and
    whether any projection lies within ``margin`` px of an image border (ambiguous, left out of comparisons)."""
    P = views["points"].numpy()  # (V, H, W, 3) float64
    T, K = views["T_cw"].double().numpy(), views["K"].double().numpy()
    V, H, W, _ = P.shape
    count, ambiguous = np.zeros((V, H, W), int), np.zeros((V, H, W), bool)
    for i in range(V):
        for j in range(V):
            if j != i:
                cam = P[i] @ T[j, :3, :3].T + T[j, :3, 3]
                uv = cam @ K[j].T
                u, v = uv[..., 0] / uv[..., 2], uv[..., 1] / uv[..., 2]
                count[i] += (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
                near = np.minimum.reduce([np.abs(u), np.abs(u - (W - 1)), np.abs(v), np.abs(v - (H - 1))])
                ambiguous[i] |= near < margin
    return count, ambiguous


@pytest.mark.parametrize("average", [False, True])
def test_exact_depth_maps_fuse_onto_the_plane(views, average):
    points, colors = fuse_depth_maps(*cameras(views), views["images"], min_views=2, average=average)
    assert points.shape == colors.shape and points.shape[1] == 3 and points.dtype == torch.float32
    assert len(points) > 0.5 * views["depth"].numel()
    assert plane_distance(views, points).max() < 1e-4


@pytest.mark.parametrize("min_views", [0, 1, 2])
def test_kept_pixels_are_those_seen_by_min_views_other_cameras(views, min_views):
    keep, _ = consistent_points(*cameras(views), min_views=min_views)
    count, ambiguous = visible_in_others(views)
    expected = count >= min_views
    keep = keep[:, 0].numpy()
    assert (keep[~ambiguous] == expected[~ambiguous]).all()
    assert expected.any() and not expected.all() if min_views else expected.all()


def test_a_corrupted_region_is_rejected(views):
    depth = views["depth"].clone()
    depth[0, :, 3:8, 5:11] *= 1.05  # 5 % off: beyond the 1 % tolerance
    keep, _ = consistent_points(depth, views["K"], views["T_cw"], min_views=1, average=False)
    assert not keep[0, :, 3:8, 5:11].any()
    assert keep[0].sum() > 0.5 * keep[0].numel()  # the rest of view 0 survives
    points, _ = fuse_depth_maps(depth, views["K"], views["T_cw"], views["images"], min_views=1, average=False)
    assert len(points) == int(keep.sum()) and plane_distance(views, points).max() < 1e-4
    # the same corruption kept by a filter that does not check consistency: off the plane
    unchecked, _ = fuse_depth_maps(depth, views["K"], views["T_cw"], views["images"], min_views=0, average=False)
    assert (plane_distance(views, unchecked) > 1e-2).sum() == 5 * 6


def test_confidence_threshold(views):
    confidence = torch.ones_like(views["depth"])
    confidence[1, :, 2:6, 2:6] = 0.5
    kwargs = {"min_views": 1, "average": False}
    at, _ = consistent_points(*cameras(views), confidence, confidence_threshold=0.5, **kwargs)
    above, _ = consistent_points(*cameras(views), confidence, confidence_threshold=0.6, **kwargs)
    assert at[1, :, 2:6, 2:6].all()  # confidence >= threshold is kept
    assert not above[1, :, 2:6, 2:6].any() and above[1].sum() == at[1].sum() - 16
    # unconfident depths do not vouch for other views: with view 1 unconfident, view 0 has only view 2
    none_of_1 = confidence.clone()
    none_of_1[1] = 0.0
    keep, _ = consistent_points(*cameras(views), none_of_1, min_views=2, average=False)
    assert not keep.any()


def test_colours_come_from_the_images(views):
    keep, _ = consistent_points(*cameras(views), min_views=1, average=False)
    points, colors = fuse_depth_maps(*cameras(views), views["images"], min_views=1, average=False)
    expected = torch.cat([views["images"][v].permute(1, 2, 0)[keep[v, 0]] for v in range(len(keep))])
    assert torch.equal(colors, expected)
    assert torch.allclose(colors.double(), texture(points), atol=1e-4)  # the texture at the fused point


def test_fused_cloud_writes_and_reads_back(views, tmp_path):
    points, colors = fuse_depth_maps(*cameras(views), views["images"], min_views=2)
    read, read_colors = read_point_cloud(write_point_cloud(tmp_path / "fused.ply", points, colors), with_colors=True)
    assert np.allclose(read, points.numpy(), atol=1e-6) and np.allclose(read_colors, colors.numpy(), atol=1 / 255)


def test_a_single_view_keeps_points_only_without_a_consistency_check(views):
    one = {k: views[k][:1] for k in ("depth", "K", "T_cw", "images")}
    assert len(fuse_depth_maps(one["depth"], one["K"], one["T_cw"], one["images"], min_views=1)[0]) == 0
    points, _ = fuse_depth_maps(one["depth"], one["K"], one["T_cw"], one["images"], min_views=0)
    assert len(points) == one["depth"].numel()


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda v: {**v, "K": v["K"][:2]}, r"K must be \(3, 3, 3\)"),
        (lambda v: {**v, "images": v["images"][:, :, :4]}, "images must be"),
        (lambda v: {**v, "depth": v["depth"][:, 0]}, "depth must be"),
    ],
)
def test_bad_shapes_raise(views, change, match):
    bad = change(views)
    with pytest.raises(ValueError, match=match):
        fuse_depth_maps(bad["depth"], bad["K"], bad["T_cw"], bad["images"])
    with pytest.raises(ValueError, match="min_views"):
        consistent_points(*cameras(views), min_views=-1)
