"""Real-format multi-view datamodules (data=multi_view_<format>): items of the contract from tiny MVSNet, COLMAP and
Middlebury folders the tests write, view selection against a brute-force reference, image_scale against blobs drawn
at known projections, configuration errors, and the real dinoSparseRing config."""

import itertools
import re

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf.errors import MissingMandatoryValue
from PIL import Image

from recon.data.formats.colmap_text import read_colmap_text
from recon.data.formats.middlebury_mvs import read_middlebury_mvs
from recon.data.formats.mvsnet import read_mvsnet
from recon.data.multi_view_formats import MultiViewFormatDataModule, scale_intrinsics
from recon.engine.validation import validate_components
from recon.geometry.cameras import look_at
from recon.models.mvsnet import MVSNet
from recon.tasks.multi_view import MultiViewTask
from tests.helpers import colmap_files as colmap
from tests.helpers import middlebury_mvs_files as middlebury
from tests.helpers import mvsnet_files as mvsnet
from tests.helpers.paths import DINO, DINO_BOX

TARGET = "recon.data.multi_view_formats.MultiViewFormatDataModule"


def check_item(item: dict, V: int, H: int, W: int) -> None:
    """The multi-view contract's keys, shapes and dtypes (single item)."""
    expected = {
        "images": ((V, 3, H, W), torch.float32),
        "K": ((V, 3, 3), torch.float32),
        "T_cw": ((V, 4, 4), torch.float32),
        "depth_range": ((2,), torch.float32),
        "depth": ((1, H, W), torch.float32),
        "mask": ((1, H, W), torch.bool),
        "points": ((0, 3), torch.float32),
        "index": ((), torch.int64),
        "scene": ((), torch.int64),
    }
    assert set(item) == set(expected)
    for key, (shape, dtype) in expected.items():
        assert tuple(item[key].shape) == shape and item[key].dtype == dtype, key
    near, far = item["depth_range"].tolist()
    assert 0 < near < far and item["images"].min() >= 0 and item["images"].max() <= 1
    assert torch.equal(item["mask"], item["depth"] > 0)


def project(K: np.ndarray, T_cw: np.ndarray, point: np.ndarray) -> np.ndarray:
    x = K @ (T_cw[:3, :3] @ point + T_cw[:3, 3])
    return x[:2] / x[2]


def test_mvsnet_folder_items_follow_the_contract(tmp_path):
    poses = mvsnet.make_poses()
    mvsnet.write_scene(tmp_path, poses)  # pair.txt: 0 -> (1, 2), 1 -> (0, 2), 2 -> (1); a depth map for view 0
    cameras = read_mvsnet(tmp_path)
    dm = MultiViewFormatDataModule("mvsnet", root=str(tmp_path), num_source=2)
    dm.setup()
    ds = dm.datasets["test"]
    assert ds.ids == ["00000000", "00000001", "00000002"] and dm.split_ids()["train"] == ds.ids
    assert [views for _, views, _ in ds.items] == [(0, 1, 2), (1, 0, 2), (2, 1, 0)]  # pair.txt, topped up for 2
    for i, (_, views, _) in enumerate(ds.items):
        item = ds[i]
        check_item(item, 3, mvsnet.H, mvsnet.W)
        np.testing.assert_allclose(item["K"].numpy(), cameras.K[list(views)], rtol=1e-6)
        np.testing.assert_allclose(item["T_cw"].numpy(), cameras.T_cw[list(views)], rtol=1e-6, atol=1e-6)
        for k, v in enumerate(views):
            assert torch.equal(item["images"][k], cameras.load_image(v))
        assert item["depth_range"].tolist() == [425.0, 935.0] and item["index"] == i and item["scene"] == 0
    assert (ds[0]["depth"] == 430.0).all() and ds[0]["mask"].all()  # the format's depth map
    assert (ds[1]["depth"] == 0).all() and not ds[1]["mask"].any()  # none: zeros, all False
    batch = next(iter(dm.test_dataloader()))
    assert batch["images"].shape == (1, 3, 3, mvsnet.H, mvsnet.W) and batch["points"].shape == (1, 0, 3)


def axis_reference(T_cw: np.ndarray, ref: int, min_baseline: float) -> list[int]:
    """Brute force: other views by (centre closer than min_baseline, angle between optical axes, index)."""
    centres = np.array([-T[:3, :3].T @ T[:3, 3] for T in T_cw])
    keys = []
    for j in range(len(T_cw)):
        if j != ref:
            angle = np.degrees(np.arccos(np.clip(T_cw[ref, 2, :3] @ T_cw[j, 2, :3], -1, 1)))
            keys.append((np.linalg.norm(centres[j] - centres[ref]) < min_baseline, round(angle, 9), j))
    return [j for *_, j in sorted(keys)]


def test_sources_without_pairs_have_the_closest_optical_axes_and_a_baseline(tmp_path):
    angles = np.radians([0.0, 50.0, 20.0, 75.0, -30.0, 140.0])
    eyes = np.stack([0.6 * np.cos(angles), np.full_like(angles, 0.2), 0.6 * np.sin(angles)], -1)
    poses = look_at(
        torch.from_numpy(eyes),
        torch.zeros(6, 3, dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    ).numpy()
    turned = look_at(
        torch.from_numpy(eyes[:1]),
        torch.tensor([[0.0, 0.0, 0.02]], dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    ).numpy()  # view 0's centre, turned 2 degrees
    poses = np.concatenate([poses, turned])
    middlebury.write_dataset(tmp_path, poses)
    dm = MultiViewFormatDataModule(
        "middlebury_mvs", root=str(tmp_path), num_source=4, depth_range=[0.4, 0.8], min_baseline=0.01
    )
    dm.setup()
    for ref, (_, views, _) in enumerate(dm.datasets["test"].items):
        assert views[0] == ref
        assert list(views[1:]) == axis_reference(poses, ref, 0.01 * 0.4)[:4]
    assert dm.datasets["test"].items[0][1] == (0, 2, 4, 1, 3)  # the turned duplicate (6) is passed over ...
    dm = MultiViewFormatDataModule("middlebury_mvs", root=str(tmp_path), num_source=6, depth_range=[0.4, 0.8])
    dm.setup()
    assert dm.datasets["test"].items[0][1][-1] == 6  # ... and comes last when every view is needed


def test_colmap_model_needs_a_depth_range_and_keeps_its_cameras(tmp_path):
    poses = colmap.make_poses()
    colmap.write_model(tmp_path, poses)
    with pytest.raises(ValueError, match=r"data\.depth_range is required: view 'view_0\.png'"):
        MultiViewFormatDataModule("colmap_text", root=str(tmp_path / "sparse"), num_source=2).setup()
    dm = MultiViewFormatDataModule("colmap_text", root=str(tmp_path / "sparse"), num_source=3, depth_range=[1, 8])
    dm.setup()
    cameras = read_colmap_text(tmp_path / "sparse")
    point = np.array([0.2, 0.1, 0.6])
    for i in range(4):
        item = dm.datasets["test"][i]
        check_item(item, 4, colmap.H, colmap.W)
        views = dm.datasets["test"].items[i][1]
        for k, v in enumerate(views):  # the item's cameras project like the reader's (COLMAP's pixel shift applied)
            np.testing.assert_allclose(
                project(item["K"][k].double().numpy(), item["T_cw"][k].double().numpy(), point),
                project(cameras[v].K, cameras[v].T_cw, point),
                atol=1e-4,
            )


BLOB_POINT = np.array([0.012, -0.008, 0.01])
BLOB_K = np.array([[60.0, 0.0, 25.3], [0.0, 62.0, 17.8], [0.0, 0.0, 1.0]])


def write_blob_set(root, poses, H=40, W=56, sigma=2.0):
    """A Middlebury set whose images show a Gaussian blob at BLOB_POINT's projection."""
    lines = []
    v, u = np.mgrid[0:H, 0:W]
    for i, T_cw in enumerate(poses):
        u0, v0 = project(BLOB_K, T_cw, BLOB_POINT)
        blob = np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / (2 * sigma**2))
        Image.fromarray(np.repeat((255 * blob).round().astype(np.uint8)[..., None], 3, -1)).save(root / f"b{i}.png")
        lines.append(middlebury.par_line(f"b{i}.png", BLOB_K, T_cw))
    (root / "blob_par.txt").write_text(f"{len(lines)}\n" + "\n".join(lines) + "\n")


def centroid(image: torch.Tensor) -> np.ndarray:
    """(u, v) intensity centroid of a (3, H, W) image."""
    w = image[0].double().numpy()
    v, u = np.mgrid[0 : w.shape[0], 0 : w.shape[1]]
    return np.array([(w * u).sum(), (w * v).sum()]) / w.sum()


@pytest.mark.parametrize("scale, size", [(1.0, (40, 56)), (0.5, (20, 28)), (0.3, (12, 17))])
def test_image_scale_resizes_images_and_intrinsics_together(tmp_path, scale, size):
    poses = middlebury.make_poses(3)
    write_blob_set(tmp_path, poses)
    dm = MultiViewFormatDataModule(
        "middlebury_mvs", root=str(tmp_path), num_source=2, depth_range=[0.4, 0.8], image_scale=scale
    )
    dm.setup()
    item = dm.datasets["test"][0]
    check_item(item, 3, *size)
    for k, v in enumerate(dm.datasets["test"].items[0][1]):
        expected = project(item["K"][k].double().numpy(), item["T_cw"][k].double().numpy(), BLOB_POINT)
        np.testing.assert_allclose(centroid(item["images"][k]), expected, atol=0.05)
        u0, v0 = project(BLOB_K, poses[v], BLOB_POINT)  # pixel centres: u' = (u + 0.5) s - 0.5
        sx, sy = size[1] / 56, size[0] / 40
        np.testing.assert_allclose(expected, [(u0 + 0.5) * sx - 0.5, (v0 + 0.5) * sy - 0.5], atol=1e-4)


def test_scale_intrinsics_by_hand():
    K = np.array([[100.0, 2.0, 49.5], [0.0, 110.0, 29.5], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        scale_intrinsics(K, 0.5, 0.25), [[50.0, 1.0, 24.5], [0.0, 27.5, 7.0], [0.0, 0.0, 1.0]]
    )  # (c + 0.5) s - 0.5


def test_views_select_references_and_sources(tmp_path):
    middlebury.write_dataset(tmp_path, middlebury.make_poses(5))
    dm = MultiViewFormatDataModule(
        "middlebury_mvs", root=str(tmp_path), num_source=2, depth_range=[0.4, 0.8], views=["toy0003.png", 1, 0]
    )
    dm.setup()
    assert dm.datasets["test"].ids == ["toy0003.png", "toy0001.png", "toy0000.png"]
    assert all(set(views) == {0, 1, 3} for _, views, _ in dm.datasets["test"].items)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"format": "ply_folder"}, ValueError, "data.format must be one of"),
        ({"root": None}, ValueError, "data.root is required"),
        ({"root": "/nonexistent/set"}, FileNotFoundError, "/nonexistent/set"),
        ({"depth_range": [0.0, 0.8]}, ValueError, r"data\.depth_range must be \[near, far\] with 0 < near < far"),
        ({"depth_range": [-0.4, 0.8]}, ValueError, r"data\.depth_range must be"),
        ({"depth_range": [0.8, 0.4]}, ValueError, r"data\.depth_range must be"),
        ({"depth_range": [0.4]}, ValueError, r"data\.depth_range must be"),
        ({"bounding_box": [[0, 0, 0], [1, -1, 1]]}, ValueError, r"data\.bounding_box must be"),
        ({"bounding_box": [0, 0, 0, 1, 1, 1]}, ValueError, r"data\.bounding_box must be"),
        ({"bounding_box": [["a", 0, 0], [1, 1, 1]]}, ValueError, r"data\.bounding_box must be"),
        ({"num_source": 0}, ValueError, "data.num_source"),
        ({"image_scale": 1.5}, ValueError, "data.image_scale"),
        ({"val_fraction": 1.0}, ValueError, "data.val_fraction"),
        ({"test_split": "train"}, ValueError, "data.test_split"),
        ({"poses": "guessed"}, ValueError, r"data\.poses must be 'calibrated' or 'estimated'"),
    ],
)
def test_bad_arguments_name_the_key(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        MultiViewFormatDataModule(**{"format": "middlebury_mvs", "root": str(tmp_path), **kwargs})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_source": 3}, r"data\.num_source = 3 needs at least 4 views"),
        ({"views": ["toy0009.png"]}, r"data\.views: 'toy0009\.png' is neither a view id"),
        ({"views": [0, 0, 1]}, r"data\.views lists a view twice"),
        ({"options": {"image_dir": "x"}}, r"data\.options for format middlebury_mvs"),
    ],
)
def test_bad_settings_for_the_set_name_the_key(tmp_path, kwargs, match):
    middlebury.write_dataset(tmp_path, middlebury.make_poses(3))
    with pytest.raises(ValueError, match=match):
        MultiViewFormatDataModule(
            **{"format": "middlebury_mvs", "root": str(tmp_path), "depth_range": [0.4, 0.8], "num_source": 2, **kwargs}
        ).setup()


def test_images_of_one_set_must_share_a_size(tmp_path):
    middlebury.write_dataset(tmp_path, middlebury.make_poses(3))
    Image.fromarray(np.zeros((12, 18), np.uint8)).save(tmp_path / "toy0002.png")
    dm = MultiViewFormatDataModule("middlebury_mvs", root=str(tmp_path), num_source=2, depth_range=[0.4, 0.8])
    with pytest.raises(
        ValueError,
        match=re.escape(f"{tmp_path / 'toy0000.png'} is 16x12 (WxH) but {tmp_path / 'toy0002.png'} is 18x12"),
    ):
        dm.setup()


def test_scenes_are_numbered_and_batched(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        middlebury.write_dataset(tmp_path / name, middlebury.make_poses(3))
    dm = MultiViewFormatDataModule(
        "middlebury_mvs",
        root=str(tmp_path),
        scenes=["b", "a"],
        num_source=1,
        depth_range=[0.4, 0.8],
        batch_size=3,
        val_fraction=0.5,
    )
    ids = dm.split_ids()
    assert len(ids["val"]) == 3 and sorted(ids["train"] + ids["val"]) == sorted(ids["test"])
    assert ids["test"][:2] == ["b/toy0000.png", "b/toy0001.png"]
    assert [int(dm.datasets["test"][i]["scene"]) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    assert next(iter(dm.test_dataloader()))["images"].shape == (3, 2, 3, middlebury.H, middlebury.W)


def test_a_trainable_model_passes_the_config_check(tmp_path):
    dm = MultiViewFormatDataModule("middlebury_mvs", root=str(tmp_path), num_source=2, depth_range=[0.4, 0.8])
    model = MVSNet(num_depths=8, feature_channels=8, volume_channels=4, num_hourglasses=0)
    validate_components(dm, model, MultiViewTask(model, reference=False, fuse=False))


@pytest.mark.parametrize("name", ["multi_view_mvsnet", "multi_view_colmap", "multi_view_middlebury"])
def test_format_configs_compose_and_require_a_root(make_config, name):
    cfg = make_config([f"data={name}", "model=plane_sweep"])
    assert cfg.data._target_ == TARGET and cfg.task._target_ == "recon.tasks.multi_view.MultiViewTask"
    with pytest.raises((MissingMandatoryValue, InstantiationException), match="root"):
        instantiate(cfg.data)


@pytest.fixture(scope="module")
def dino_corners() -> np.ndarray:
    return np.array(list(itertools.product(*DINO_BOX.T)))


def test_dino_config_loads_16_items_whose_depth_range_holds_the_object(make_config, dino_corners):
    dm = instantiate(make_config(["data=multi_view_dino", "model=plane_sweep"]).data)
    dm.setup()
    ds = dm.datasets["test"]
    assert len(ds) == 16 and ds.ids == read_middlebury_mvs(DINO).ids
    centre = DINO_BOX.mean(0)
    enlarged = centre + 1.2 * (dino_corners - centre)
    for i in range(16):
        _, views, (near, far) = ds.items[i]
        T_cw = ds.sets[0].T_cw[views[0]].double().numpy()
        for corners in (dino_corners, enlarged):
            z = corners @ T_cw[2, :3] + T_cw[2, 3]
            assert near < z.min() and z.max() < far, (i, z.min(), z.max())
        assert len(set(views)) == 5 and views[0] == i
    item = ds[3]
    check_item(item, 5, 480, 640)
    assert not item["mask"].any()  # Middlebury: no ground-truth depth


def test_dino_bounding_box_gives_each_view_the_box_depth_range(make_config, dino_corners):
    """``data.bounding_box`` = the README's box: each reference's range is the z-range of the box's corners in its
    camera (the box lies inside every image, so its extreme depths are at corners, up to the pixel grid)."""
    box = [DINO_BOX[0].tolist(), DINO_BOX[1].tolist()]
    overrides = ["data=multi_view_dino", "model=plane_sweep", "data.depth_range=null", f"data.bounding_box={box}"]
    dm = instantiate(make_config(overrides).data)
    dm.setup()
    ds = dm.datasets["test"]
    for i in range(16):
        _, views, (near, far) = ds.items[i]
        T_cw = ds.sets[0].T_cw[views[0]].double().numpy()
        z = dino_corners @ T_cw[2, :3] + T_cw[2, 3]
        span = z.max() - z.min()
        assert abs(near - z.min()) < 0.02 * span and abs(far - z.max()) < 0.02 * span, (i, near, far, z)
    assert dm.describe()["bounding_box"] == box
