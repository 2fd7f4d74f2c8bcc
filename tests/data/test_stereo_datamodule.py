"""Synthetic stereo data: photometric consistency under the ground-truth disparity, geometry, occlusion, splits,
augmentation, caching."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recon.data.stereo import StereoAugment, SyntheticStereoDataModule, SyntheticStereoDataset, gaussian_blur
from recon.data.synthetic import config_hash, generator
from recon.data.synthetic.config import StereoSceneConfig
from recon.data.synthetic.generator import generate_split, load_or_generate
from recon.data.synthetic.renderer import render
from recon.data.synthetic.stereo_scene import sample_stereo_scene
from recon.geometry.cameras import camera_centers, invert_pose, project, transform_points, unproject

# tiny pairs (H != W catches swapped axes); focal and disparities scaled down with the image; half the scenes
# without a back wall, so that some pixels have no ground truth
SYN = dict(
    num_train=6,
    num_val=8,
    num_test=4,
    image_size=(48, 64),
    focal_px=60.0,
    disparity_range=(1.0, 16.0),
    num_objects=(3, 5),
    num_thin=(1, 2),
    wall_probability=0.5,
    num_points=64,
    seed=5,
)
MAX_DISPARITY = 16
AUG = dict(crop_size=(32, 48), brightness=0.2, contrast=0.2, gamma=0.2, colour=0.1)
KEYS = {
    "left": ((3,), torch.float32),
    "right": ((3,), torch.float32),
    "disparity": ((1,), torch.float32),
    "valid": ((1,), torch.bool),
    "nonoccluded": ((1,), torch.bool),
    "disparity_right": ((1,), torch.float32),
}


@pytest.fixture(scope="module")
def dm(cache_dir):
    datamodule = SyntheticStereoDataModule(
        synthetic=SYN,
        cache_dir=str(cache_dir),
        batch_size=4,
        render_workers=0,
        max_disparity=MAX_DISPARITY,
        augment=AUG,
    )
    datamodule.setup()
    return datamodule


@pytest.fixture(scope="module")
def val(dm):
    """All validation pairs as one batch (no augmentation)."""
    ds = dm.datasets["val"]
    return torch.utils.data.default_collate([ds[i] for i in range(len(ds))])


def warp_right_to_left(right: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """The right image sampled at (x - d, y) for every left pixel (bilinear); (B, 3, H, W), (B, 1, H, W)."""
    B, _, H, W = right.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=right.dtype), torch.arange(W, dtype=right.dtype), indexing="ij")
    grid = torch.stack([(xs - disparity[:, 0]) / (W - 1) * 2 - 1, (ys / (H - 1) * 2 - 1).expand(B, H, W)], -1)
    return F.grid_sample(right, grid, mode="bilinear", align_corners=True)


def erode(mask: torch.Tensor) -> torch.Tensor:
    """3x3 binary erosion, outside the image counting as False; (B, 1, H, W) bool."""
    return -F.max_pool2d(-F.pad(mask.float(), (1, 1, 1, 1)), 3, stride=1) > 0.5


def near_discontinuity(d: torch.Tensor, tol: float = 0.25) -> torch.Tensor:
    """Pixels within 1 px of a disparity discontinuity. Disparity is an affine function of (x, y) on a plane
    (1 / depth is), so second differences vanish there and stay small on smooth curved surfaces."""
    p = F.pad(d, (1, 1, 1, 1), mode="replicate")
    sx = (p[..., 1:-1, 2:] - 2 * d + p[..., 1:-1, :-2]).abs()
    sy = (p[..., 2:, 1:-1] - 2 * d + p[..., :-2, 1:-1]).abs()
    return F.max_pool2d(torch.maximum(sx, sy), 3, stride=1, padding=1) > tol


def consistent_pixels(batch) -> torch.Tensor:
    return erode(batch["nonoccluded"]) & ~near_discontinuity(batch["disparity"])


def test_items_follow_the_batch_contract(dm, val):
    B, (H, W) = len(val["index"]), SYN["image_size"]
    for key, (channels, dtype) in KEYS.items():
        assert val[key].shape == (B,) + channels + (H, W) and val[key].dtype == dtype, key
    assert val["focal"].shape == val["baseline"].shape == (B,) and val["focal"].dtype == torch.float32
    assert val["K"].shape == (B, 3, 3) and val["index"].dtype == torch.int64
    assert torch.equal(val["index"], torch.arange(B))
    for key in ("left", "right"):
        assert val[key].min() >= 0 and val[key].max() <= 1
    assert (val["disparity"][~val["valid"]] == 0).all() and (val["disparity"][val["valid"]] > 0).all()
    # the validation example batch has the same keys, shapes and dtypes (for the runner's config checks)
    example = dm.example_batch(2)
    assert example.keys() == val.keys()
    for key in example:
        assert example[key].shape[1:] == val[key].shape[1:] and example[key].dtype == val[key].dtype, key


def test_warping_the_right_image_by_the_ground_truth_reproduces_the_left(val):
    """THE consistency check: right sampled at (x - d, y) == left wherever both cameras see the same point.

    Tolerance: 0.01 (2.5 grey levels) mean absolute error. Lambertian shading makes a point's radiance the same
    in both views; what remains is bilinear interpolation of textures that carry detail down to ~1 px, the 2x2
    box filter of anti-aliasing covering slightly different surface patches on slanted surfaces, and uint8
    rounding (<= 0.5/255 per view). Measured ~0.004 here; shifting by d = 0 instead gives ~0.08."""
    keep = consistent_pixels(val)
    assert keep.float().mean() > 0.25  # most of the image is tested, not just a few flat patches
    err = (warp_right_to_left(val["right"], val["disparity"]) - val["left"]).abs().mean(1, keepdim=True)
    err0 = (warp_right_to_left(val["right"], 0 * val["disparity"]) - val["left"]).abs().mean(1, keepdim=True)
    assert err[keep].mean() < 0.01, err[keep].mean()
    assert err[keep].mean() < 0.15 * err0[keep].mean(), (err[keep].mean(), err0[keep].mean())
    for i in range(len(err)):
        if keep[i].sum() > 50:
            assert err[i][keep[i]].mean() < 0.02, (i, err[i][keep[i]].mean())
    # one pixel off, the match is clearly worse: the ground truth is sub-pixel accurate, not merely close
    err1 = (warp_right_to_left(val["right"], val["disparity"] + 1) - val["left"]).abs().mean(1, keepdim=True)
    assert err[keep].mean() < 0.5 * err1[keep].mean()


def test_disparity_is_focal_times_baseline_over_depth_and_moves_pixels_along_rows(dm, val, cache_dir):
    arrays = load_or_generate(dm.config, cache_dir, "val", progress=False)
    T = torch.from_numpy(arrays["T_cw"]).double()  # (S, 2, 4, 4)
    K = torch.from_numpy(arrays["K"]).double()
    depth = torch.from_numpy(arrays["depth"]).double()
    # rectified pair: same rotation and intrinsics; the right centre is the left one moved by b along the left x axis
    assert torch.equal(T[:, 0, :3, :3], T[:, 1, :3, :3]) and torch.equal(K[:, 0], K[:, 1])
    C = camera_centers(T)
    b = (C[:, 1] - C[:, 0]).norm(dim=-1)
    np.testing.assert_allclose((C[:, 1] - C[:, 0]).numpy(), (b[:, None] * T[:, 0, 0, :3]).numpy(), atol=1e-6)
    np.testing.assert_allclose(val["baseline"].double().numpy(), b.numpy(), rtol=1e-5)
    np.testing.assert_allclose(val["focal"].numpy(), arrays["K"][:, 0, 0, 0])
    ref = np.where(
        arrays["mask"][:, 0],
        arrays["K"][:, 0, 0, 0, None, None]
        * b.numpy()[:, None, None]
        / np.where(arrays["mask"][:, 0], arrays["depth"][:, 0], 1),
        0,
    )
    np.testing.assert_allclose(val["disparity"][:, 0].numpy(), ref, rtol=1e-5, atol=0)
    # independent of the formula: unproject each left pixel, move it into the right camera, project it
    S, (H, W) = len(depth), SYN["image_size"]
    pts = unproject(depth[:, :1], K[:, 0])  # (S, H*W, 3) left camera frame
    right_from_left = T[:, 1] @ invert_pose(T[:, 0])
    uv = project(transform_points(right_from_left, pts), K[:, 1]).reshape(S, H, W, 2)
    valid = val["valid"][:, 0]
    xs = torch.arange(W, dtype=torch.float64).expand(S, H, W)
    ys = torch.arange(H, dtype=torch.float64)[:, None].expand(S, H, W)
    x_right = xs - val["disparity"][:, 0].double()
    np.testing.assert_allclose(uv[..., 0][valid].numpy(), x_right[valid].numpy(), atol=2e-4)
    np.testing.assert_allclose(uv[..., 1][valid].numpy(), ys[valid].numpy(), atol=2e-4)


def test_disparities_lie_in_the_configured_range(dm, val):
    lo, hi = SYN["disparity_range"]
    d = val["disparity"][val["valid"]]
    assert d.min() >= lo * (1 - 1e-5) and d.max() <= hi * (1 + 1e-5) and hi <= dm.max_disparity
    assert d.max() > 0.6 * hi and d.min() < 2 * lo  # the range is used, not just respected
    d_right = val["disparity_right"][val["disparity_right"] > 0]
    assert d_right.min() >= lo * (1 - 1e-5) and d_right.max() <= hi * (1 + 1e-5)  # the right view's too


def test_several_objects_sky_and_thin_rods(cache_dir):
    cfg = StereoSceneConfig(**SYN)
    arrays = load_or_generate(cfg, cache_dir, "train", progress=False)
    kinds = [k.split("-") for k in arrays["kind"]]
    objects = [int(k[0].removesuffix("obj")) for k in kinds]
    assert min(objects) >= 2 and max(objects) <= SYN["num_objects"][1]
    assert any(int(k[1].removesuffix("thin")) > 0 for k in kinds)
    # scenes with a back wall have ground truth everywhere; open scenes have sky pixels (no ground truth), the same
    # backdrop in both views
    sky = np.array([k[2] == "sky" for k in kinds])
    full = arrays["mask"][:, 0].all(axis=(1, 2))
    assert sky.any() and (~sky).any()
    np.testing.assert_array_equal(full, ~sky)
    scene = sample_stereo_scene(cfg, "train", int(np.flatnonzero(sky)[0]))
    np.testing.assert_array_equal(scene.background[0], scene.background[1])
    # lambertian only: no highlight term, so a surface point has one colour for every viewpoint
    assert scene.light.specular == 0


def test_nonoccluded_is_a_subset_of_valid_and_agrees_with_the_right_views_depth(val):
    valid, noc = val["valid"], val["nonoccluded"]
    assert not (noc & ~valid).any()
    occluded = valid & ~noc
    for i in range(len(valid)):
        assert occluded[i].any(), f"pair {i}: several objects but no occlusion"
    assert 0.03 < occluded.float().mean() < 0.5
    # left-right consistency, independent of the ray casting that produced the mask: on nonoccluded pixels the
    # right view sees the same depth at x - d; on occluded pixels whose match lies in the image it sees something
    # nearer (a larger disparity) at both neighbouring columns
    d = val["disparity"]
    H, W = d.shape[-2:]
    x_right = torch.arange(W, dtype=d.dtype) - d
    d_right = val["disparity_right"]
    lo = torch.gather(d_right, 3, x_right.floor().clamp(0, W - 1).long())
    hi = torch.gather(d_right, 3, x_right.ceil().clamp(0, W - 1).long())
    keep = consistent_pixels(val)
    frac = x_right - x_right.floor()
    d_at_match = lo * (1 - frac) + hi * frac
    gap = (d_at_match - d)[keep].abs()
    # a few matches lie within a pixel of an occluding contour of the RIGHT view, where interpolation mixes surfaces
    assert gap.median() < 0.01 and (gap < 0.05).float().mean() > 0.995 and gap.max() < 0.5, gap.max()
    hidden = erode(occluded) & (x_right >= 0)
    assert hidden.sum() > 20
    nearer = (torch.minimum(lo, hi) > d + 0.1)[hidden].float().mean()
    assert nearer > 0.95, nearer


def test_same_seed_same_pairs_other_seed_other_pairs(dm, cache_dir):
    cached = load_or_generate(dm.config, cache_dir, "test", progress=False)
    again = generate_split(dm.config, "test", progress=False)
    for key in cached:
        np.testing.assert_array_equal(cached[key], again[key], err_msg=key)
    other = generate_split(replace(dm.config, seed=6, num_test=2), "test", progress=False)
    assert not np.array_equal(other["rgb"], cached["rgb"][:2])
    # pair i depends only on (seed, split, i)
    first = generate_split(replace(dm.config, num_test=2), "test", progress=False)
    np.testing.assert_array_equal(first["depth"], cached["depth"][:2])


def test_cached_and_described(dm, cache_dir, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("re-rendered although cached")

    monkeypatch.setattr(generator, "generate_splits", boom)
    again = SyntheticStereoDataModule(synthetic=SYN, cache_dir=str(cache_dir), max_disparity=MAX_DISPARITY)
    again.setup()
    ids = again.split_ids()
    assert [len(ids[s]) for s in ("train", "val", "test")] == [6, 8, 4]
    assert ids["val"][:2] == ["val-000000", "val-000001"] and ids == dm.split_ids()
    described = dm.describe()
    assert described["generator_hash"] == config_hash(StereoSceneConfig(**SYN)) and described["max_disparity"] == 16
    assert described["generator"]["disparity_range"] == (1.0, 16.0)


def test_augmentation_only_on_the_train_split(dm, val, cache_dir):
    assert dm.datasets["train"].augment is not None
    assert dm.datasets["val"].augment is None and dm.datasets["test"].augment is None
    raw = load_or_generate(dm.config, cache_dir, "val", progress=False)["rgb"]
    np.testing.assert_array_equal((val["left"] * 255).round().byte().permute(0, 2, 3, 1).numpy(), raw[:, 0])
    np.testing.assert_array_equal((val["right"] * 255).round().byte().permute(0, 2, 3, 1).numpy(), raw[:, 1])
    torch.manual_seed(0)
    loader = dm.train_dataloader()
    batch = next(iter(loader))
    h, w = AUG["crop_size"]
    assert batch["left"].shape == (4, 3, h, w) and batch["disparity"].shape == (4, 1, h, w)
    assert batch["K"].shape == (4, 3, 3) and batch["focal"].shape == (4,)
    # seeded: the same torch seed gives the same augmented batch
    torch.manual_seed(0)
    again = next(iter(dm.train_dataloader()))
    for key in batch:
        assert torch.equal(batch[key], again[key]), key


def test_crop_keeps_geometry_and_moves_the_principal_point(val):
    item = {k: v[1] for k, v in val.items()}
    h, w = 32, 40
    torch.manual_seed(3)
    crops = [StereoAugment(crop_size=(h, w))(item) for _ in range(6)]
    H, W = item["left"].shape[-2:]
    for crop in crops:
        for key, (channels, _) in KEYS.items():
            assert crop[key].shape == channels + (h, w), key
        # the window's corner from the principal point's move, then every map must be exactly that window
        x0 = round(float(item["K"][0, 2] - crop["K"][0, 2]))
        y0 = round(float(item["K"][1, 2] - crop["K"][1, 2]))
        assert 0 <= x0 <= W - w and 0 <= y0 <= H - h
        for key in ("left", "right", "disparity", "valid", "disparity_right"):
            assert torch.equal(crop[key], item[key][..., y0 : y0 + h, x0 : x0 + w]), key
        torch.testing.assert_close(crop["K"][:2, :2], item["K"][:2, :2])
        # a match that leaves the crop on the left is no longer "nonoccluded"
        xs = torch.arange(w, dtype=torch.float32)
        expected = item["nonoccluded"][..., y0 : y0 + h, x0 : x0 + w] & (xs - crop["disparity"] >= 0)
        assert torch.equal(crop["nonoccluded"], expected)
    # and the cropped pairs are still consistent under their ground truth
    c = torch.utils.data.default_collate(crops)
    keep = consistent_pixels(c)
    err = (warp_right_to_left(c["right"], c["disparity"]) - c["left"]).abs().mean(1, keepdim=True)
    assert keep.sum() > 300 and err[keep].mean() < 0.01
    assert len({(float(c["K"][0, 2]), float(c["K"][1, 2])) for c in crops}) > 1  # random windows


def test_photometric_change_differs_between_views_and_leaves_geometry_alone(val):
    item = {k: v[0] for k, v in val.items()}
    aug = StereoAugment(brightness=0.3, contrast=0.3, gamma=0.3, colour=0.2)
    torch.manual_seed(1)
    out = aug(item)
    for key in ("disparity", "valid", "nonoccluded", "disparity_right", "K", "focal", "baseline"):
        assert torch.equal(out[key], item[key]), key
    for key in ("left", "right"):
        assert out[key].shape == item[key].shape and out[key].min() >= 0 and out[key].max() <= 1
        assert not torch.allclose(out[key], item[key], atol=0.01)
    # asymmetric: the per-channel means change by different factors in the two views
    ratio = lambda k: out[k].mean((1, 2)) / item[k].mean((1, 2))  # noqa: E731
    assert (ratio("left") - ratio("right")).abs().max() > 0.02
    # each view's change is a monotone intensity mapping: the pixel ordering within a channel is kept
    for key in ("left", "right"):
        a, b = item[key][0].flatten(), out[key][0].flatten()
        inner = (b > 0.001) & (b < 0.999)
        order = torch.argsort(a[inner])
        assert (b[inner][order].diff() >= -1e-6).all()
    torch.manual_seed(1)
    assert torch.equal(aug(item)["right"], out["right"])


def test_vertical_shift_of_the_right_image_only(val):
    item = {k: v[0] for k, v in val.items()}
    H, W = item["left"].shape[-2:]
    ramp = torch.arange(H, dtype=torch.float32)[:, None].expand(3, H, W) / H
    item = {**item, "right": ramp.clone()}
    torch.manual_seed(2)
    out = StereoAugment(y_shift=1.0)(item)
    assert torch.equal(out["left"], item["left"]) and torch.equal(out["disparity"], item["disparity"])
    dy = (out["right"] - ramp)[:, 2:-2] * H  # a constant sub-pixel row offset away from the borders
    assert dy.std() < 1e-4 and 0 < dy.mean().abs() <= 1.0
    assert torch.equal(StereoAugment()(item)["right"], item["right"])


def test_anti_aliasing_changes_colour_only():
    cfg = StereoSceneConfig(**{**SYN, "image_size": (24, 32), "focal_px": 30.0, "disparity_range": (1.0, 8.0)})
    scene = sample_stereo_scene(cfg, "val", 0)
    one = render(scene.meshes, scene.K, scene.T_cw, 24, 32, light=scene.light, background=scene.background)
    two = render(
        scene.meshes, scene.K, scene.T_cw, 24, 32, light=scene.light, background=scene.background, supersample=2
    )
    for key in ("depth", "mask", "normals", "part", "points"):
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    one_rgb, two_rgb = one["rgb"].astype(float), two["rgb"].astype(float)
    assert np.abs(one_rgb - two_rgb).max() > 10  # edges and fine texture are filtered ...
    assert abs(one_rgb.mean() - two_rgb.mean()) < 2  # ... by a box filter, which keeps the mean brightness


def test_config_errors_name_the_keys(cache_dir):
    with pytest.raises(ValueError, match=r"data.synthetic.disparity_range\[1\] = 16.0 exceeds data.max_disparity = 12"):
        SyntheticStereoDataModule(synthetic=SYN, cache_dir=str(cache_dir), max_disparity=12)
    with pytest.raises(ValueError, match="data.augment.crop_size"):
        SyntheticStereoDataModule(
            synthetic=SYN, cache_dir=str(cache_dir), max_disparity=16, augment={"crop_size": [64, 64]}
        )
    with pytest.raises(ValueError, match="data.augment.gamma"):
        StereoAugment(gamma=1.5)
    with pytest.raises(ValueError, match="data.synthetic"):
        SyntheticStereoDataModule(synthetic={**SYN, "specular": [0, 0.2]}, cache_dir=str(cache_dir))
    with pytest.raises(ValueError, match="do not fit into disparity_range"):
        StereoSceneConfig(**{**SYN, "disparity_range": (10.0, 12.0)})
    with pytest.raises(ValueError, match="pitch_deg"):
        StereoSceneConfig(**{**SYN, "pitch_deg": (-40.0, 0.0)})


def test_dataset_from_arrays_without_the_datamodule(cache_dir):
    arrays = load_or_generate(StereoSceneConfig(**SYN), cache_dir, "test", progress=False)
    ds = SyntheticStereoDataset(arrays)
    assert len(ds) == SYN["num_test"] and ds.ids[0] == "test-000000"
    assert isinstance(ds[0]["index"], torch.Tensor) and ds[0]["index"].item() == 0


def test_gaussian_blur_matches_scipy_and_keeps_the_mean():
    from scipy.ndimage import gaussian_filter

    torch.manual_seed(5)
    img = torch.rand(3, 20, 30, dtype=torch.float64)
    blurred = gaussian_blur(img, 1.5)
    expected = np.stack([gaussian_filter(c, 1.5, mode="nearest", truncate=3.0) for c in img.numpy()])
    np.testing.assert_allclose(blurred.numpy(), expected, atol=1e-10)
    assert gaussian_blur(img, 0.05) is img


def test_noise_and_blur_change_each_view_independently_and_leave_geometry(val):
    item = {k: v[1] for k, v in val.items()}
    torch.manual_seed(6)
    out = StereoAugment(noise=0.05, blur=1.0)(item)
    for view in ("left", "right"):
        diff = out[view] - item[view]
        assert 0 < diff.abs().mean() < 0.1 and out[view].min() >= 0 and out[view].max() <= 1, view
    assert not torch.equal(out["left"] - item["left"], out["right"] - item["right"])
    for key in ("disparity", "valid", "nonoccluded"):
        assert torch.equal(out[key], item[key]), key
    for bad in ({"noise": 1.5}, {"blur": -1.0}):
        with pytest.raises(ValueError, match=f"data.augment.{next(iter(bad))}"):
            StereoAugment(**bad)


@pytest.mark.parametrize("factor", [2.0, 0.75])
def test_rescaling_keeps_the_pair_consistent_under_the_scaled_ground_truth(val, factor):
    """A pair resized by s with its disparities times s is still a pair: the right image warped by the new ground
    truth reproduces the new left image (the same check and tolerance as the rendered pairs), and one pixel off is
    clearly worse. ``K`` and ``focal`` follow the pixel-centre convention."""
    item = {k: v[2] for k, v in val.items()}
    scaled = StereoAugment(scale=(factor, factor))(item)
    H, W = item["left"].shape[-2:]
    size = (round(H * factor), round(W * factor))
    for key, (channels, dtype) in KEYS.items():
        assert scaled[key].shape == channels + size and scaled[key].dtype == dtype, key
    sx = size[1] / W
    # nearest neighbour: every new pixel carries the value of the old pixel its centre falls in, times s
    rows = ((torch.arange(size[0]) + 0.5) * H / size[0]).floor().long()
    cols = ((torch.arange(size[1]) + 0.5) * W / size[1]).floor().long()
    torch.testing.assert_close(scaled["disparity"], item["disparity"][:, rows][:, :, cols] * sx)
    assert torch.equal(scaled["valid"], item["valid"][:, rows][:, :, cols])
    torch.testing.assert_close(scaled["focal"], item["focal"] * sx)
    torch.testing.assert_close(scaled["K"][0, 2], (item["K"][0, 2] + 0.5) * sx - 0.5)
    batch = {k: v[None] for k, v in scaled.items()}
    keep = consistent_pixels(batch)
    err = (warp_right_to_left(batch["right"], batch["disparity"]) - batch["left"]).abs().mean(1, keepdim=True)
    err1 = (warp_right_to_left(batch["right"], batch["disparity"] + 1) - batch["left"]).abs().mean(1, keepdim=True)
    assert keep.sum() > 200 and err[keep].mean() < 0.015, err[keep].mean()
    assert err[keep].mean() < 0.6 * err1[keep].mean()


def test_random_scales_span_the_range_and_leave_room_for_the_crop(val):
    item = {k: v[0] for k, v in val.items()}
    torch.manual_seed(0)
    augment = StereoAugment(scale=(0.5, 2.0), crop_size=(32, 48))
    focals = torch.stack([augment(item)["focal"] for _ in range(40)]) / item["focal"]
    assert focals.min() >= 48 / 64 - 1e-6  # the crop needs >= 48 of the 64 columns: scales below 0.75 are raised
    assert focals.max() > 1.5 and focals.min() < 0.85
    assert all(augment(item)["left"].shape == (3, 32, 48) for _ in range(5))
    for bad in ([0.0, 1.0], [2.0, 1.0], [1.0]):
        with pytest.raises(ValueError, match="data.augment.scale"):
            StereoAugment(scale=bad)
