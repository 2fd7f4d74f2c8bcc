"""Pose pairs against the documented conventions: the relative pose maps view 0's camera frame to view 1's (checked by
projecting ground-truth points), pairs within the angle limit and seeing a common point, subsets by their thresholds,
the roll augmentation an exact camera rotation, the swap the inverse pose, and bad settings named."""

import math

import pytest
import torch

from recon.data.pose_pairs import PosePairDataModule, mean_gradient, random_rotations, roll_view, rotation_z
from recon.geometry.cameras import camera_centers, project, transform_points
from recon.geometry.poses import rotation_error_deg

SYN = dict(num_train=3, num_val=1, num_test=2, image_size=(32, 48), num_views=6, num_points=256, seed=3)


@pytest.fixture(scope="module")
def dm(cache_dir):
    datamodule = PosePairDataModule(synthetic=SYN, cache_dir=str(cache_dir), batch_size=4, roll_deg=20.0)
    datamodule.setup()
    return datamodule


def test_items_follow_the_contract_and_the_pose_moves_points_between_the_cameras(dm):
    ds = dm.datasets["test"]
    arrays = dm.load("test")
    assert len(ds) > 0 and len(ds.ids) == len(ds) == len(set(ds.ids))
    for n in range(len(ds)):
        item = ds[n]
        assert item["images"].shape == (2, 3, 32, 48) and item["K"].shape == (2, 3, 3)
        s, a, b = ds.pairs[n].tolist()
        T_cw = torch.from_numpy(arrays["T_cw"][s]).double()
        world = torch.from_numpy(arrays["points"][s]).double()
        in_a, in_b = transform_points(T_cw[a], world), transform_points(T_cw[b], world)
        R, t = item["R"].double(), item["t"].double()
        torch.testing.assert_close(in_a @ R.T + t, in_b, atol=1e-4, rtol=1e-4)
        assert a < b and float(item["angle"]) <= dm.max_angle_deg + 1e-3
        assert float(item["angle"]) == pytest.approx(
            float(rotation_error_deg(R, torch.eye(3, dtype=R.dtype))), abs=1e-3
        )
        assert bool(item["wide"]) == (float(item["angle"]) >= dm.wide_angle_deg)
        # images are the renders of those views
        rgb = torch.from_numpy(arrays["rgb"][s, [a, b]]).permute(0, 3, 1, 2).float() / 255
        torch.testing.assert_close(item["images"], rgb)
    gradient = mean_gradient(torch.from_numpy(arrays["rgb"]))
    low = [bool(gradient[s, [a, b]].min() < dm.low_texture_gradient) for s, a, b in ds.pairs.tolist()]
    assert ds.low_texture.tolist() == low


def test_mean_gradient_of_a_ramp():
    ramp = (torch.arange(20, dtype=torch.float32) * 3)[None, :, None].expand(10, 20, 3).to(torch.uint8)
    # Sobel / 8 of a ramp rising 3 grey levels per column: 3 everywhere inside
    assert float(mean_gradient(ramp[None])[0]) == pytest.approx(3.0)


def smooth_image(H=40, W=56) -> torch.Tensor:
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    return torch.stack([torch.sin(u / 7) * torch.cos(v / 5), torch.cos(u / 9 + v / 11), u / W]).float() * 0.5 + 0.5


def test_roll_is_an_exact_camera_rotation():
    K = torch.tensor([[50.0, 0.0, 27.5], [0.0, 52.0, 19.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    image = smooth_image()
    angle = torch.tensor(math.radians(12.0), dtype=torch.float64)
    rolled = roll_view(image, K, angle)
    # a point seen at pixel (20, 15) by the old camera; the new camera (x' = R_z x) sees it at K R_z K^-1 u
    point = torch.tensor([[[(20 - 27.5) / 50 * 3, (15 - 19.5) / 52 * 3, 3.0]]], dtype=torch.float64)
    new = project(point @ rotation_z(angle).T, K[None])[0, 0]
    u, v = new.tolist()
    u0, v0 = math.floor(u), math.floor(v)
    fu, fv = u - u0, v - v0
    patch = rolled[:, v0 : v0 + 2, u0 : u0 + 2].double()
    bilinear = (
        patch[:, 0, 0] * (1 - fu) * (1 - fv)
        + patch[:, 0, 1] * fu * (1 - fv)
        + patch[:, 1, 0] * (1 - fu) * fv
        + patch[:, 1, 1] * fu * fv
    )
    torch.testing.assert_close(bilinear, image[:, 15, 20].double(), atol=0.02, rtol=0)
    torch.testing.assert_close(roll_view(image, K, torch.tensor(0.0, dtype=torch.float64)), image, atol=1e-5, rtol=0)


def test_training_augmentation_keeps_the_pose_consistent(dm):
    """Swapping and rolling change the frames, not the geometry: the baseline length |t| and the angle between the
    optical axes (e_z . R e_z) stay those of the true cameras, while the rotation itself changes."""
    ds = dm.datasets["train"]
    assert ds.augment and not dm.datasets["test"].augment
    arrays = dm.load("train")
    torch.manual_seed(0)
    changed = 0
    for n in range(min(len(ds), 8)):
        item = ds[n]
        s, a, b = ds.pairs[n].tolist()
        T = torch.from_numpy(arrays["T_cw"][s]).double()
        R, t = item["R"].double(), item["t"].double()
        baseline = (camera_centers(T[a]) - camera_centers(T[b])).norm()
        assert float(t.norm()) == pytest.approx(float(baseline), rel=1e-4)
        e_z = torch.tensor([0.0, 0.0, 1.0], dtype=R.dtype)
        assert float(e_z @ R @ e_z) == pytest.approx(float(T[a, 2, :3] @ T[b, 2, :3]), abs=1e-4)
        changed += float(rotation_error_deg(R, ds.T[n, :3, :3].double())) > 0.5
    assert changed > 0


@pytest.mark.parametrize(
    "kwargs, key",
    [({"max_angle_deg": 0}, "data.max_angle_deg"), ({"wide_angle_deg": 200}, "data.wide_angle_deg"),
     ({"low_texture_gradient": -1}, "data.low_texture_gradient"), ({"roll_deg": -5}, "data.roll_deg"),
     ({"pure_rotation_deg": [30, 10]}, "data.pure_rotation_deg"),
     ({"pure_rotation_deg": 20}, "data.pure_rotation_deg")],
)  # fmt: skip
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        PosePairDataModule(synthetic=SYN, **kwargs)


def test_random_rotations_have_their_angles():
    R, angles = random_rotations(50, 5.0, 30.0, seed=1)
    torch.testing.assert_close(R @ R.transpose(-1, -2), torch.eye(3).expand(50, 3, 3), atol=1e-5, rtol=0)
    measured = rotation_error_deg(R.double(), torch.eye(3, dtype=torch.float64).expand(50, 3, 3))
    torch.testing.assert_close(measured.float(), angles, atol=1e-3, rtol=0)
    assert float(angles.min()) >= 5 and float(angles.max()) <= 30 and torch.equal(R, random_rotations(50, 5, 30, 1)[0])


@pytest.fixture(scope="module")
def turned(cache_dir):
    datamodule = PosePairDataModule(synthetic=SYN, cache_dir=str(cache_dir), pure_rotation_deg=[10.0, 25.0])
    datamodule.setup()
    return datamodule


def test_pure_rotation_pairs_are_a_camera_turned_on_the_spot(turned):
    """Each view with itself turned by R (t = 0): a pixel of the turned view with its depth, back-projected, turned
    back by R^T and projected, lands where the original view sees the same depth and colour."""
    ds = turned.datasets["test"]
    assert len(ds) == SYN["num_test"] * SYN["num_views"] and all(i.endswith("-turned") for i in ds.ids)
    for n in range(0, len(ds), 3):
        item = ds[n]
        assert float(item["t"].norm()) == 0 and 10 <= float(item["angle"]) <= 25
        K, R = item["K"][0].double(), item["R"].double()
        depth0, depth1 = item["depth"][0, 0].double(), item["depth"][1, 0].double()
        v, u = torch.nonzero(depth1 > 0, as_tuple=True)
        inner = (u > 2) & (u < 45) & (v > 2) & (v < 29)
        u, v = u[inner], v[inner]
        pixels = torch.stack([u, v, torch.ones_like(u)], -1).double()
        points1 = pixels @ torch.linalg.inv(K).T * depth1[v, u][:, None]
        points0 = points1 @ R  # R^T x, row-wise
        uv0 = project(points0[None], K[None])[0].round().long()
        seen = (uv0[:, 0] >= 0) & (uv0[:, 0] < 48) & (uv0[:, 1] >= 0) & (uv0[:, 1] < 32)
        z0 = depth0[uv0[seen, 1], uv0[seen, 0]]
        agree = (z0 - points0[seen, 2]).abs() < 0.05 * points0[seen, 2]
        assert agree.float().mean() > 0.8  # nearest-neighbour sampling and depth edges account for the rest
