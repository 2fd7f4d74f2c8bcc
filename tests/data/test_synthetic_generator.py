"""Synthetic generator: ground-truth consistency, determinism, cache, mesh files."""

import shutil
from dataclasses import replace

import numpy as np
import open3d as o3d
import pytest
import torch

from recon.data.synthetic import (
    MultiViewSceneConfig,
    StereoSceneConfig,
    SyntheticConfig,
    config_hash,
    generator,
    load_or_generate,
    shapes,
)
from recon.data.synthetic.generator import generate_split
from recon.data.synthetic.scene import sample_scene
from recon.geometry.cameras import invert_pose, project, transform_points, unproject
from tests.helpers.paths import MESH_DIR

FAMILIES = ("primitive", "composite", "deformed", "mesh")

# H != W catches swapped axes
CFG = SyntheticConfig(
    num_train=24,
    num_val=3,
    num_test=3,
    image_size=(40, 48),
    num_points=512,
    shape_families=FAMILIES,
    mesh_dir=str(MESH_DIR),
    seed=3,
)


@pytest.fixture(scope="module")
def train():
    return generate_split(CFG, "train", progress=False)


def _mesh_distance(meshes, pts):
    scene = o3d.t.geometry.RaycastingScene()
    for m in meshes:
        scene.add_triangles(m.vertices.astype(np.float32), m.faces.astype(np.uint32))
    return scene.compute_distance(np.ascontiguousarray(pts, np.float32)).numpy()


def _winding_number(vertices, faces, pts):
    """Generalised winding number (sum of signed solid angles / 4 pi): ~1 inside a closed mesh, ~0 outside."""
    tri = vertices[faces][None] - pts[:, None, None]  # (N, F, 3, 3)
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    num = np.einsum("nfi,nfi->nf", a, np.cross(b, c))
    den = (
        la * lb * lc
        + np.einsum("nfi,nfi->nf", a, b) * lc
        + np.einsum("nfi,nfi->nf", b, c) * la
        + np.einsum("nfi,nfi->nf", c, a) * lb
    )
    return (2 * np.arctan2(num, den)).sum(1) / (4 * np.pi)


def test_shapes_and_dtypes(train):
    S, V, (H, W), P = 24, 1, CFG.image_size, CFG.num_points
    expect = {
        "rgb": ((S, V, H, W, 3), np.uint8),
        "depth": ((S, V, H, W), np.float32),
        "mask": ((S, V, H, W), np.bool_),
        "normals": ((S, V, H, W, 3), np.float16),
        "K": ((S, V, 3, 3), np.float32),
        "T_cw": ((S, V, 4, 4), np.float32),
        "points": ((S, P, 3), np.float32),
        "point_normals": ((S, P, 3), np.float32),
        "center": ((S, 3), np.float32),
        "radius": ((S,), np.float32),
    }
    for k, (shape, dtype) in expect.items():
        assert train[k].shape == shape and train[k].dtype == dtype, k
    assert list(train["ids"][:2]) == ["train-000000", "train-000001"]
    assert set(train["family"]) == set(FAMILIES)


def test_mask_depth_normals_consistent(train):
    np.testing.assert_array_equal(train["mask"], train["depth"] > 0)
    n = train["normals"].astype(np.float32)
    norm = np.linalg.norm(n, axis=-1)
    np.testing.assert_allclose(norm[train["mask"]], 1.0, atol=2e-3)  # float16 storage
    assert (norm[~train["mask"]] == 0).all()
    # normals face the camera: dot with the viewing ray is negative
    K = torch.from_numpy(train["K"][:, 0]).double()
    rays = unproject(torch.ones(len(K), 1, *CFG.image_size, dtype=torch.float64), K).numpy()
    dots = np.einsum("spi,spi->sp", rays, n[:, 0].reshape(len(K), -1, 3))
    assert (dots[train["mask"][:, 0].reshape(len(K), -1)] < 1e-3).all()


def test_every_family_renders_nonempty_centred_objects(train):
    frac = train["mask"].mean(axis=(1, 2, 3))
    assert (frac > 0.02).all(), frac
    for fam in FAMILIES:
        assert (train["family"] == fam).any()
    m = train["mask"]
    border = m[..., 0, :].any(-1) | m[..., -1, :].any(-1) | m[..., :, 0].any(-1) | m[..., :, -1].any(-1)
    assert not border.any(), "objects must be fully inside the frame"
    obj = train["rgb"][train["mask"]]
    assert obj.mean() > 20 and obj.std() > 5  # lit and not flat
    assert len({tuple(c) for c in train["rgb"][:, 0, 0, 0]}) > 1  # varied backgrounds


def test_centre_projects_to_principal_point(train):
    c_cam = transform_points(
        torch.from_numpy(train["T_cw"][:, 0]).double(), torch.from_numpy(train["center"]).double()[:, None]
    )
    uv = project(c_cam, torch.from_numpy(train["K"][:, 0]).double())[:, 0].numpy()
    H, W = CFG.image_size
    np.testing.assert_allclose(uv, np.broadcast_to([(W - 1) / 2, (H - 1) / 2], uv.shape), atol=1e-3)


@pytest.mark.parametrize("index", [0, 1, 2, 3, 5, 8])
def test_depth_unprojects_onto_the_surface(train, index):
    """Depth + K + T_cw -> world points on the mesh (to float32 ray precision) and near the GT cloud."""
    scene = sample_scene(CFG, "train", index)
    depth = torch.from_numpy(train["depth"][index]).double()[:, None]  # (V, 1, H, W)
    pts_cam = unproject(depth, torch.from_numpy(train["K"][index]).double())
    pts = transform_points(invert_pose(torch.from_numpy(train["T_cw"][index]).double()), pts_cam).numpy()
    pts = pts[train["mask"][index].reshape(len(pts), -1)]
    # float32 rays at distance ~3: ~1e-6 error; 1e-4 is 1e-4 of the object radius
    assert _mesh_distance(scene.meshes, pts).max() < 1e-4
    # every visible point is close to a GT sample: the spacing of 512 points on area <= ~4 pi r^2
    from scipy.spatial import cKDTree

    d, _ = cKDTree(train["points"][index]).query(pts)
    spacing = np.sqrt(4 * np.pi * train["radius"][index] ** 2 / CFG.num_points)
    assert np.median(d) < spacing and d.max() < 3 * spacing


def test_gt_points_lie_on_the_surface(train):
    for index in range(8):
        scene = sample_scene(CFG, "train", index)
        np.testing.assert_array_equal(scene.points, train["points"][index])
        assert _mesh_distance(scene.meshes, train["points"][index]).max() < 1e-5
        nrm = np.linalg.norm(train["point_normals"][index], axis=1)
        np.testing.assert_allclose(nrm, 1, atol=1e-5)
        r = np.linalg.norm(train["points"][index] - train["center"][index], axis=1)
        assert r.max() <= train["radius"][index] * (1 + 1e-5)


def test_composite_points_not_inside_other_parts(train):
    checked = 0
    for index in np.flatnonzero(train["family"] == "composite")[:4]:
        scene = sample_scene(CFG, "train", int(index))
        pts = train["points"][index].astype(np.float64)
        for m in scene.meshes:
            on = _mesh_distance([m], pts) < 1e-5
            w = _winding_number(m.vertices, m.faces, pts[~on])
            assert (w < 0.5).all(), f"scene {index}: {np.sum(w >= 0.5)} points inside a part"
        checked += 1
    assert checked > 0


def test_union_sampler_analytic_two_boxes():
    a = shapes.box([2.0, 2.0, 2.0])  # [-1, 1]^3
    shift = np.array([1.0, 0.5, 0.5])
    b = shapes.box([2.0, 2.0, 2.0]).transformed(np.eye(3), shift)  # overlap: [0,1]x[-.5,1]x[-.5,1]
    parts = [a, b]
    normals = [shapes.corner_normals(p.vertices, p.faces) for p in parts]
    pts, nrm = shapes.sample_surface(parts, normals, 20000, np.random.default_rng(0))
    eps = 1e-6
    assert not (np.abs(pts) < 1 - eps).all(1).any()
    assert not (np.abs(pts - shift) < 1 - eps).all(1).any()
    # uniform by area on the union surface: 48 - 2 * (2.25 + 1.5 + 1.5) hidden = 37.5;
    # a's top (z = 1) keeps 4 - 1.5 = 2.5, b's top (z = 1.5) all of its 4
    for z, area in ((1.0, 2.5), (1.5, 4.0)):
        share = np.isclose(pts[:, 2], z, atol=1e-9).mean()
        assert abs(share - area / 37.5) < 0.01, (z, share)
    # normals of points on a's top face point up
    top = nrm[np.isclose(pts[:, 2], 1.0, atol=1e-9)]
    np.testing.assert_allclose(top, np.broadcast_to([0.0, 0.0, 1.0], top.shape), atol=1e-6)


def test_deterministic_and_seeded(train):
    again = generate_split(CFG, "train", progress=False)
    for k in train:
        np.testing.assert_array_equal(train[k], again[k], err_msg=k)
    other = generate_split(replace(CFG, seed=4, num_train=4), "train", progress=False)
    assert not np.array_equal(other["rgb"], train["rgb"][:4])
    assert not np.array_equal(other["points"], train["points"][:4])
    # scene i depends only on (seed, split, i), not on the split size
    first = generate_split(replace(CFG, num_train=4), "train", progress=False)
    np.testing.assert_array_equal(first["points"], train["points"][:4])


def test_workers_give_identical_output():
    cfg = replace(CFG, num_train=0, num_val=60)  # > 2 chunks, so both workers render
    a = generate_split(cfg, "val", workers=0, progress=False)
    b = generate_split(cfg, "val", workers=2, progress=False)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_missing_splits_render_through_one_pool_and_only_they(tmp_path, monkeypatch):
    """Spawned workers take seconds to start, so the splits a datamodule lacks share one pool; cached splits are
    read, not rendered again, and every split equals its in-process rendering."""
    cfg = replace(CFG, num_train=30, num_val=4, num_test=3, shape_families=("primitive",), mesh_dir=None)
    cached_test = load_or_generate(cfg, tmp_path, "test", progress=False)
    pools, rendered, spawn_pool = [], [], generator.spawn_pool
    real_generate = generator.generate_splits

    def counting_pool(workers):
        pools.append(workers)
        return spawn_pool(workers)

    def recording_generate(cfg, splits, **kwargs):
        rendered.append(splits)
        return real_generate(cfg, splits, **kwargs)

    monkeypatch.setattr(generator, "spawn_pool", counting_pool)
    monkeypatch.setattr(generator, "generate_splits", recording_generate)
    data = generator.load_or_generate_splits(cfg, tmp_path, ("train", "val", "test"), workers=2, progress=False)
    assert pools == [2] and rendered == [("train", "val")]
    assert all((tmp_path / config_hash(cfg) / f"{split}.npz").exists() for split in ("train", "val"))
    for split in ("train", "val"):
        alone = generate_split(cfg, split, workers=0, progress=False)
        for k in alone:
            np.testing.assert_array_equal(data[split][k], alone[k], err_msg=f"{split}/{k}")
    for k in cached_test:
        np.testing.assert_array_equal(data["test"][k], cached_test[k], err_msg=k)


def test_cache_roundtrip_and_no_rerender(tmp_path, monkeypatch):
    cfg = replace(CFG, num_train=4, shape_families=("primitive",), mesh_dir=None)
    first = load_or_generate(cfg, tmp_path, "train", progress=False)
    path = tmp_path / config_hash(cfg) / "train.npz"
    assert path.exists() and (path.parent / "config.json").exists()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]

    def boom(*a, **k):
        raise AssertionError("re-rendered although cached")

    monkeypatch.setattr(generator, "generate_splits", boom)
    second = load_or_generate(cfg, tmp_path, "train", progress=False)
    for k in first:
        np.testing.assert_array_equal(first[k], second[k], err_msg=k)


def test_config_hash():
    cfg = SyntheticConfig()
    assert config_hash(cfg) == config_hash(SyntheticConfig())
    assert (
        len(
            {
                config_hash(cfg),
                config_hash(replace(cfg, seed=1)),
                config_hash(replace(cfg, num_views=2)),
                config_hash(replace(cfg, image_size=(32, 32))),
            }
        )
        == 4
    )
    # Hydra passes lists: same hash as tuples
    assert config_hash(SyntheticConfig(image_size=[64, 64])) == config_hash(cfg)


def test_default_cache_keys_are_stable():
    """The keys of existing render caches: a change of a config class must not rename the default caches (multi-view
    scenes: version 2 added object_mask)."""
    assert config_hash(SyntheticConfig()) == "a38c5029f3f2"
    assert config_hash(StereoSceneConfig()) == "9d54e78f9ecf"
    assert config_hash(MultiViewSceneConfig()) == "8b5373acea6f"
    assert config_hash(MultiViewSceneConfig(layout="trajectory")) == "20eff0ee4a9b"


def test_truncated_cache_is_rerendered(tmp_path):
    cfg = replace(CFG, num_train=3, shape_families=("primitive",), mesh_dir=None)
    ref = load_or_generate(cfg, tmp_path, "train", progress=False)
    path = tmp_path / config_hash(cfg) / "train.npz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = load_or_generate(cfg, tmp_path, "train", progress=False)
    np.testing.assert_array_equal(ref["rgb"], again["rgb"])
    assert path.read_bytes() == blob


def test_multi_view_ring_and_stereo():
    cfg = replace(CFG, num_train=3, num_views=3, mesh_dir=None, shape_families=("primitive",))
    d = generate_split(cfg, "train", progress=False)
    assert d["rgb"].shape[:2] == (3, 3) and d["mask"].any(axis=(2, 3)).all()
    c_cam = transform_points(
        torch.from_numpy(d["T_cw"]).double(), torch.from_numpy(d["center"]).double()[:, None, None].expand(3, 3, 1, 3)
    )
    uv = project(c_cam, torch.from_numpy(d["K"]).double())
    np.testing.assert_allclose(uv[..., 0, 0].numpy(), (48 - 1) / 2, atol=1e-3)
    st = generate_split(replace(cfg, num_views=2, camera_layout="stereo"), "train", progress=False)
    T = st["T_cw"]
    np.testing.assert_array_equal(T[:, 0, :3, :3], T[:, 1, :3, :3])  # rectified: same rotation
    dt = T[:, 0, :3, 3] - T[:, 1, :3, 3]
    assert (dt[:, 0] > 0.1).all() and np.allclose(dt[:, 1:], 0)  # right camera along +x_cam


def test_mesh_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="mesh_dir"):
        generate_split(SyntheticConfig(num_train=1, mesh_dir=str(tmp_path / "missing")), "train", progress=False)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(ValueError, match="no mesh files"):
        generate_split(SyntheticConfig(num_train=1, mesh_dir=str(empty)), "train", progress=False)
    for name, content in (("garbage.obj", b"\x00\x01 this is not an obj\nf 1 2 x\n"), ("blank.obj", b"")):
        d = tmp_path / name.split(".")[0]
        d.mkdir()
        shutil.copy(MESH_DIR / "teapot.obj", d / "teapot.obj")
        (d / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            generate_split(SyntheticConfig(num_train=1, mesh_dir=str(d)), "train", progress=False)


def test_bad_config_values():
    with pytest.raises(ValueError, match="mesh_dir"):
        SyntheticConfig(shape_families=("mesh",))
    with pytest.raises(ValueError, match="unknown textures"):
        SyntheticConfig(textures=("wood",))
    with pytest.raises(ValueError, match="split"):
        load_or_generate(SyntheticConfig(), "/tmp", "training")


def test_test_families_hold_meshes_out_of_training_and_keep_earlier_cache_keys():
    cfg = replace(CFG, num_train=12, num_val=4, num_test=6, mesh_dir=str(MESH_DIR), test_families=("mesh",))
    cfg = replace(cfg, shape_families=("primitive", "composite"))
    assert cfg.families_for("train") == cfg.families_for("val") == ("primitive", "composite")
    assert cfg.families_for("test") == ("mesh",)
    for split, allowed in (
        ("train", {"primitive", "composite"}),
        ("val", {"primitive", "composite"}),
        ("test", {"mesh"}),
    ):
        assert set(generate_split(cfg, split, progress=False)["family"]) <= allowed, split
    # unused, the field leaves the config's dict (and so every earlier cache key) as it was
    assert "test_families" not in SyntheticConfig().to_dict() and "test_families" in cfg.to_dict()
    for bad, match in (((), "non-empty"), (("boxes",), "non-empty"), (("mesh",), "needs mesh_dir")):
        with pytest.raises(ValueError, match=match):
            replace(CFG, mesh_dir=None, shape_families=("primitive",), test_families=bad)
    stereo = StereoSceneConfig(num_train=2, num_val=1, num_test=2, mesh_dir=str(MESH_DIR), test_families=["mesh"])
    assert stereo.families_for("test") == ("mesh",) and "mesh" not in stereo.families_for("train")
