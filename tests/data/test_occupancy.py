"""Ground-truth occupancy: analytic volumes, grid axes, agreement with the surface samples, cache, datamodule."""

import math

import numpy as np
import open3d as o3d
import pytest
import torch

from recon.data.single_view import SingleViewDataModule
from recon.data.synthetic import SyntheticConfig, shapes
from recon.data.synthetic import occupancy as occ
from recon.data.synthetic.generator import cache_path
from recon.data.synthetic.scene import sample_scene
from recon.geometry.voxels import grid_offsets, unpack_occupancy, voxel_size
from tests.helpers.paths import MESH_DIR

CFG = SyntheticConfig(
    num_train=12,
    num_val=2,
    num_test=2,
    image_size=(24, 24),
    num_points=400,
    num_views=2,
    shape_families=("primitive", "composite", "deformed", "mesh"),
    mesh_dir=str(MESH_DIR),
    seed=5,
)


def part(mesh: shapes.TriMesh):
    return mesh.vertices, mesh.faces


def test_sphere_volume():
    R, extent, radius = 48, 1.0, 0.8
    sphere = shapes.ellipsoid([radius] * 3, segments=96, rings=48)
    grid = occ.mesh_occupancy([part(sphere)], np.eye(3), np.zeros(3), R, extent)
    volume = grid.sum() * voxel_size(R, extent) ** 3
    mesh_volume = shapes.signed_volume(sphere)  # the tessellated sphere is slightly smaller than the ideal one
    assert volume == pytest.approx(mesh_volume, rel=0.02)
    assert mesh_volume == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.02)


def test_rotated_box_volume_and_axes():
    R, extent = 40, 1.0
    size = np.array([1.2, 0.5, 0.3])  # long along world x
    box = shapes.box(size)
    # a camera whose x axis is world z, y axis world x, z axis world y (rows = camera axes in the world)
    R_cw = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    center = np.array([0.3, -0.2, 0.1])
    grid = occ.mesh_occupancy([part(box.transformed(np.eye(3), center))], R_cw, center, R, extent)
    assert grid.sum() * voxel_size(R, extent) ** 3 == pytest.approx(np.prod(size), rel=0.05)
    spans = [np.ptp(np.nonzero(grid.any(axis=tuple(a for a in range(3) if a != k)))[0]) + 1 for k in range(3)]
    # grid x = world z (0.3), grid y = world x (1.2), grid z = world y (0.5), in voxels of 0.05
    assert spans == pytest.approx([6, 24, 10], abs=1)
    rot = shapes.rotation_matrix([1, 2, 3], 0.7)
    turned = occ.mesh_occupancy([part(box.transformed(rot))], np.eye(3), np.zeros(3), R, extent)
    assert turned.sum() * voxel_size(R, extent) ** 3 == pytest.approx(np.prod(size), rel=0.05)


def test_overlapping_parts_are_a_union():
    R, extent = 40, 1.0
    a = shapes.box([1.0, 0.4, 0.4])
    b = shapes.box([0.4, 1.0, 0.4])  # a cross: the middle 0.4^3 is shared
    grid = occ.mesh_occupancy([part(a), part(b)], np.eye(3), np.zeros(3), R, extent)
    assert grid.sum() * voxel_size(R, extent) ** 3 == pytest.approx(2 * 0.16 - 0.064, rel=0.05)


def test_agrees_with_open3d_point_queries():
    """Exact on closed shapes; scanned meshes with holes (the bunny) are ambiguous inside/outside near the holes."""
    for index in range(6):
        sc = sample_scene(CFG, "train", index)
        parts = [(m.vertices, m.faces) for m in sc.meshes]
        grid = occ.mesh_occupancy(parts, sc.T_cw[0, :3, :3], sc.center, 24, 1.0)
        offsets = grid_offsets(24, 1.0).double().numpy().reshape(-1, 3)
        world = sc.center + offsets @ sc.T_cw[0, :3, :3].astype(np.float64)
        inside = np.zeros(len(world), bool)
        for v, f in parts:
            scene = o3d.t.geometry.RaycastingScene()
            scene.add_triangles(v.astype(np.float32), f.astype(np.uint32))
            inside |= scene.compute_occupancy(world.astype(np.float32), nsamples=5).numpy().astype(bool)
        assert (inside != grid.reshape(-1)).mean() < (0.01 if sc.family == "mesh" else 0.0005), (sc.family, sc.kind)


def boundary_fraction(grid: np.ndarray, points: np.ndarray, extent: float) -> float:
    """Fraction of points whose 2x2x2 surrounding voxel centres hold both occupied and free ones."""
    R = grid.shape[0]
    u = (points + extent) / voxel_size(R, extent) - 0.5  # continuous voxel index
    lo = np.clip(np.floor(u).astype(int), 0, R - 2)
    corners = np.stack(
        [grid[lo[:, 0] + dx, lo[:, 1] + dy, lo[:, 2] + dz] for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)], 1
    )
    return float((corners.any(1) & ~corners.all(1)).mean())


def test_surface_points_lie_on_the_occupied_free_boundary():
    for index in range(8):
        sc = sample_scene(CFG, "train", index)
        grids = occ.scene_occupancy(CFG, "train", index, 32, 1.0)
        assert grids.shape == (2, 32, 32, 32)
        for v in range(2):
            R_cw = sc.T_cw[v, :3, :3].astype(np.float64)
            local = (sc.points - sc.center) @ R_cw.T  # camera axes, relative to the centre
            # thin parts (thinner than a voxel) can fall between voxel centres: a few percent at most
            assert boundary_fraction(grids[v], local, 1.0) > 0.9, (sc.family, sc.kind)
            # and an occupied voxel with a free 6-neighbour has the surface within one voxel (between the two)
            g = np.pad(grids[v], 1)
            free_neighbour = ~(
                g[2:, 1:-1, 1:-1]
                & g[:-2, 1:-1, 1:-1]
                & g[1:-1, 2:, 1:-1]
                & g[1:-1, :-2, 1:-1]
                & g[1:-1, 1:-1, 2:]
                & g[1:-1, 1:-1, :-2]
            )
            centres = grid_offsets(32, 1.0).double().numpy()[grids[v] & free_neighbour]
            scene = o3d.t.geometry.RaycastingScene()
            for m in sc.meshes:
                scene.add_triangles(((m.vertices - sc.center) @ R_cw.T).astype(np.float32), m.faces.astype(np.uint32))
            d = scene.compute_distance(centres.astype(np.float32)).numpy()
            assert np.quantile(d, 0.99 if sc.family == "mesh" else 1.0) <= voxel_size(32, 1.0) * 1.001, (
                sc.family,
                sc.kind,
            )


def test_cache_is_beside_the_renders_keyed_by_resolution_and_reused(tmp_path, monkeypatch):
    packed = occ.load_or_compute_occupancy(CFG, tmp_path, "val", 16, 1.0, progress=False)
    assert packed.shape == (2, 2, 512) and packed.dtype == np.uint8
    path = occ.occupancy_cache_path(CFG, tmp_path, "val", 16, 1.0)
    assert path.parent.parent == cache_path(CFG, tmp_path, "val").parent and path.is_file()
    expected = np.stack([occ.scene_occupancy(CFG, "val", i, 16, 1.0) for i in range(2)])
    assert torch.equal(unpack_occupancy(packed, 16), torch.from_numpy(expected))

    monkeypatch.setattr(occ, "compute_split_occupancy", lambda *a, **k: pytest.fail("must load from the cache"))
    assert np.array_equal(occ.load_or_compute_occupancy(CFG, tmp_path, "val", 16, 1.0, progress=False), packed)
    monkeypatch.undo()

    path.write_bytes(b"not an array")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = occ.load_or_compute_occupancy(CFG, tmp_path, "val", 16, 1.0, progress=False)
    assert np.array_equal(again, packed)
    assert not list(path.parent.glob(".*.tmp")), "atomic writes leave no temporary file"


def test_workers_give_the_same_grids(tmp_path):
    cfg = SyntheticConfig(num_train=60, num_val=1, num_test=1, image_size=(16, 16), num_points=64, seed=2)
    serial = occ.compute_split_occupancy(cfg, "train", 8, progress=False)
    parallel = occ.compute_split_occupancy(cfg, "train", 8, workers=2, progress=False)
    assert np.array_equal(serial, parallel)


def test_datamodule_adds_occupancy_without_changing_the_data_hash(tmp_path):
    synthetic = dict(num_train=4, num_val=2, num_test=2, image_size=[24, 24], num_points=300, num_views=2, seed=1)
    plain = SingleViewDataModule(synthetic, cache_dir=str(tmp_path), batch_size=4)
    dm = SingleViewDataModule(synthetic, cache_dir=str(tmp_path), batch_size=4, occupancy_resolution=32)
    assert dm.describe()["generator_hash"] == plain.describe()["generator_hash"]
    assert dm.describe()["targets"] == {"occupancy": {"resolution": 32, "extent": 1.0}}
    assert "targets" not in plain.describe()
    assert "occupancy" not in plain.example_batch(2) and dm.example_batch(2)["occupancy"].shape == (2, 1, 32, 32, 32)
    dm.prepare_data()
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["occupancy"].shape == (4, 1, 32, 32, 32) and batch["occupancy"].dtype == torch.bool
    for i in range(4):  # items (camera frame) agree with their own surface points, view by view
        item = dm.datasets["train"][i]
        local = (item["points"] - item["center"]).numpy()
        assert boundary_fraction(item["occupancy"][0].numpy(), local, 1.0) > 0.9
    plain.setup()
    assert "occupancy" not in plain.datasets["train"][0]


def test_datamodule_rejects_a_grid_smaller_than_the_objects():
    with pytest.raises(ValueError, match="occupancy_extent"):
        SingleViewDataModule({"object_scale": [0.8, 1.2]}, occupancy_resolution=16, occupancy_extent=1.0)
    with pytest.raises(ValueError, match="occupancy_resolution"):
        SingleViewDataModule({}, occupancy_resolution=-1)
