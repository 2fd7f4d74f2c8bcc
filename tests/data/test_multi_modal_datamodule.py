"""Multi-modal data: the documented item contract, a measured depth that stays within the sensor's error model,
partial clouds that are exactly the back-projected measured pixels, fixed splits, training-only modality dropout."""

import numpy as np
import pytest
import torch

from recon.data.multi_modal import DepthSensor, MultiModalDataModule

SYN = dict(num_train=24, num_val=8, num_test=8, image_size=(32, 40), num_points=256, seed=3)
N = 128


@pytest.fixture(scope="module")
def dm(cache_dir):
    datamodule = MultiModalDataModule(synthetic=SYN, cache_dir=str(cache_dir), num_partial_points=N)
    datamodule.setup()
    return datamodule


@pytest.fixture(scope="module")
def test_batch(dm):
    ds = dm.datasets["test"]
    return torch.utils.data.default_collate([ds[i] for i in range(len(ds))])


def test_items_follow_the_documented_contract(dm, test_batch):
    B, (H, W) = 8, SYN["image_size"]
    shapes = {
        "image": ((B, 3, H, W), torch.float32),
        "depth": ((B, 1, H, W), torch.float32),
        "depth_mask": ((B, 1, H, W), torch.bool),
        "partial_points": ((B, N, 3), torch.float32),
        "has_image": ((B,), torch.bool),
        "has_depth": ((B,), torch.bool),
        "mask": ((B, 1, H, W), torch.bool),
        "points": ((B, 256, 3), torch.float32),
        "K": ((B, 3, 3), torch.float32),
    }
    for key, (shape, dtype) in shapes.items():
        assert tuple(test_batch[key].shape) == shape and test_batch[key].dtype == dtype, key
    assert torch.equal(test_batch["depth_mask"], test_batch["depth"] > 0)
    assert not (test_batch["depth_mask"] & ~test_batch["mask"]).any()  # the sensor sees only the object here
    assert test_batch["has_image"].all() and test_batch["has_depth"].all()
    kept = test_batch["depth_mask"].flatten(1).sum(1) / test_batch["mask"].flatten(1).sum(1)
    assert kept.min() > 0.2 and kept.max() < 1.0  # holes, but most of the object measured
    example = dm.example_batch(2)
    assert example.keys() == test_batch.keys()
    for key in example:
        assert example[key].shape[1:] == test_batch[key].shape[1:] and example[key].dtype == test_batch[key].dtype


def test_measured_depth_stays_within_the_noise_and_quantisation_model(dm, test_batch):
    exact = dm.datasets["test"].depth[:, None]
    kept = test_batch["depth_mask"]
    z, measured = exact[kept], test_batch["depth"][kept]
    sensor = dm.sensor
    sigma = sensor.noise_base + sensor.noise_quadratic * z**2
    step = sensor.quantization * z**2
    error = measured - z
    assert (error.abs() <= 5 * sigma + step).all()
    normalised = (error / torch.sqrt(sigma**2 + step**2 / 12)).numpy()
    assert abs(normalised.mean()) < 0.15 and 0.7 < normalised.std() < 1.3  # unbiased, of the modelled size


def test_partial_points_are_back_projected_measured_pixels(test_batch):
    K, depth, points = test_batch["K"].double(), test_batch["depth"][:, 0].double(), test_batch["partial_points"]
    for b in range(len(points)):
        p = points[b].double().numpy()
        uvw = p @ K[b].numpy().T
        u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
        cols, rows = np.rint(u).astype(int), np.rint(v).astype(int)
        np.testing.assert_allclose(u, cols, atol=1e-3)  # pixel centres
        np.testing.assert_allclose(v, rows, atol=1e-3)
        np.testing.assert_allclose(p[:, 2], depth[b].numpy()[rows, cols], rtol=1e-5)
        assert len({(r, c) for r, c in zip(rows, cols)}) == min(N, int((depth[b] > 0).sum()))  # no repeats


def test_splits_are_fixed_and_differ(cache_dir, dm):
    again = MultiModalDataModule(synthetic=SYN, cache_dir=str(cache_dir), num_partial_points=N)
    again.setup()
    for split in ("train", "test"):
        a, b = dm.datasets[split], again.datasets[split]
        assert torch.equal(a.measured, b.measured) and torch.equal(a.partial, b.partial)
    other = MultiModalDataModule(synthetic={**SYN, "seed": 4}, cache_dir=str(cache_dir), num_partial_points=N)
    other.setup()
    assert not torch.equal(other.datasets["test"].measured, dm.datasets["test"].measured)


def test_modality_dropout_hides_one_modality_of_training_items_only(cache_dir):
    dm = MultiModalDataModule(synthetic=SYN, cache_dir=str(cache_dir), num_partial_points=N, modality_dropout=0.6)
    dm.setup()
    torch.manual_seed(0)
    train = [dm.datasets["train"][i % 24] for i in range(200)]
    no_image = [item for item in train if not item["has_image"]]
    no_depth = [item for item in train if not item["has_depth"]]
    assert 35 < len(no_image) < 85 and 35 < len(no_depth) < 85  # 0.3 each of 200
    assert all(item["image"].eq(0).all() and item["has_depth"] for item in no_image)
    assert all(item["depth"].eq(0).all() and item["partial_points"].eq(0).all() for item in no_depth)
    assert all(not item["depth_mask"].any() and item["has_image"] for item in no_depth)
    test = [dm.datasets["test"][i] for i in range(8)]
    assert all(item["has_image"] and item["has_depth"] for item in test)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sensor": {"dropout": 1.0}}, "data.sensor.dropout"),
        ({"sensor": {"noise_base": -1}}, "data.sensor.noise_base"),
        ({"sensor": {"max_angle_deg": 0}}, "data.sensor.max_angle_deg"),
        ({"sensor": {"edge_width": 1.5}}, "data.sensor.edge_width"),
        ({"sensor": {"laser": True}}, "data.sensor"),
        ({"num_partial_points": 0}, "data.num_partial_points"),
        ({"modality_dropout": 1.0}, "data.modality_dropout"),
    ],
)
def test_bad_settings_name_the_key(cache_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiModalDataModule(synthetic=SYN, cache_dir=str(cache_dir), **kwargs)


def test_a_flat_dark_object_loses_its_returns_as_configured():
    depth = torch.full((1, 1, 12, 12), 2.0)
    K = torch.tensor([[[20.0, 0, 5.5], [0, 20.0, 5.5], [0, 0, 1]]])
    dark = torch.full((1, 3, 12, 12), 0.02)
    g = torch.Generator().manual_seed(0)
    measured = DepthSensor(dark_dropout=0.5, dropout=0.0, edge_jump=1.0)(depth, dark, K, g)
    inner = measured[..., 1:-1, 1:-1] > 0  # the border has no normal: lost as grazing
    assert 0.3 < inner.float().mean() < 0.7 and not (measured[..., 0, :] > 0).any()
    bright = DepthSensor(dark_dropout=0.5, dropout=0.0, edge_jump=1.0)(depth, dark + 0.5, K, g)
    assert (bright[..., 1:-1, 1:-1] > 0).all()
