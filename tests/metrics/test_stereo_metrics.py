"""Stereo torchmetrics against a numpy brute force: both reductions, masks, the matchable region, holes scored raw,
empty masks, bad inputs, DDP sums."""

import os
import socket

import numpy as np
import pytest
import torch

from recon.metrics.stereo import (
    BadPixelRate,
    D1Error,
    EndPointError,
    StereoMetrics,
    disparity_errors,
    matchable_mask,
)

NAMES = ("epe", "bad1", "bad2", "bad3", "d1")


def per_pixel_reference(pred, gt, holes=None):
    """float64 per-pixel values from the definitions (SceneFlow EPE, Middlebury bad-t, KITTI 2015 D1); a hole is
    the disparity 0 for the EPE and an outlier for every rate."""
    holes = np.zeros(gt.shape, bool) if holes is None else holes
    e = np.where(holes, np.abs(gt.astype(np.float64)), np.abs(pred.astype(np.float64) - gt.astype(np.float64)))
    return {
        "epe": e,
        "bad1": 100.0 * ((e > 1) | holes),
        "bad2": 100.0 * ((e > 2) | holes),
        "bad3": 100.0 * ((e > 3) | holes),
        "d1": 100.0 * (((e > 3) & (e / np.abs(gt) > 0.05)) | holes),
    }


def reference(batches, reduction, holes=None):
    """Brute force over images; ``holes`` (one bool tensor per batch) scores those pixels as holes."""
    holes = holes or [torch.zeros_like(mask) for _, _, mask in batches]
    images = [
        (p, g, m, h)
        for (pred, gt, mask), hole in zip(batches, holes)
        for p, g, m, h in zip(pred.numpy(), gt.numpy(), mask.numpy(), hole.numpy())
    ]
    out = {}
    for name in NAMES:
        if reduction == "pixels":
            vals = np.concatenate([per_pixel_reference(p[m], g[m], h[m])[name] for p, g, m, h in images])
            out[name] = vals.mean() if len(vals) else np.nan
        else:
            means = [per_pixel_reference(p[m], g[m], h[m])[name].mean() for p, g, m, h in images if m.any()]
            out[name] = np.mean(means) if means else np.nan
    return out


def random_batches(sizes, H=12, W=17, seed=0, empty_image=False):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for i, b in enumerate(sizes):
        gt = 1 + 79 * torch.rand(b, 1, H, W, generator=g)
        # Laplace-like errors at several scales so every threshold (1, 2, 3 px, 5 %) splits the pixels.
        scale = torch.tensor([0.5, 2.0, 6.0])[torch.randint(0, 3, (b, 1, H, W), generator=g)]
        sign = torch.sign(torch.randn(b, 1, H, W, generator=g))
        noise = -scale * torch.log(torch.rand(b, 1, H, W, generator=g)) * sign
        pred = gt + noise
        # Masks of very different densities per image, so pixel- and image-weighted means differ.
        density = torch.rand(b, 1, 1, 1, generator=g)
        mask = torch.rand(b, 1, H, W, generator=g) < density
        if empty_image and i == 0:
            mask[0] = False
        gt = torch.where(mask, gt, torch.full_like(gt, float("inf")))  # Middlebury-style inf outside the mask
        batches.append((pred, gt, mask))
    return batches


@pytest.mark.parametrize("reduction", ["pixels", "images"])
@pytest.mark.parametrize("region,tag", [("all", "all"), ("nonoccluded", "noc"), ("matchable", "matchable")])
def test_matches_brute_force(reduction, region, tag):
    batches = random_batches([3, 1, 4], empty_image=True)
    metric = StereoMetrics(region=region, reduction=reduction, prefix="test/")
    for batch in batches:
        metric.update(*batch)
    out = metric.compute()
    assert set(out) == {f"test/{n}_{tag}" for n in NAMES}
    assert metric.mask_key == {"all": "valid", "nonoccluded": "nonoccluded", "matchable": "matchable"}[region]
    expected = reference(batches, reduction)
    for name in NAMES:
        assert out[f"test/{name}_{tag}"].shape == () and out[f"test/{name}_{tag}"].dtype == torch.float32
        np.testing.assert_allclose(out[f"test/{name}_{tag}"].item(), expected[name], rtol=1e-5)
    for name in ("bad1", "bad3", "d1"):  # thresholds are informative on this data
        assert 5 < expected[name] < 95


def test_matchable_mask_matches_a_pixel_loop():
    """x >= band and x - gt >= 0 inside valid, checked pixel by pixel on a hand-made map with both edges exact."""
    gt = torch.tensor(
        [
            [0.0, 1.0, 2.0, 3.0, 3.0, 6.0, 7.0, 1.0],  # x - gt: 0, 0, 0, 0, 1, -1, -1, 6
            [9.0, 9.0, 9.0, 2.5, 4.0, 5.5, 0.5, 7.0],  # x - gt: <0, <0, <0, 0.5, 0, -0.5, 5.5, 0
        ]
    ).reshape(1, 1, 2, 8)
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[0, 0, 1, 7] = False
    band = 3
    got = matchable_mask(valid, gt, band)
    expected = np.zeros((2, 8), bool)
    for y in range(2):
        for x in range(8):
            expected[y, x] = bool(valid[0, 0, y, x]) and x >= band and x - float(gt[0, 0, y, x]) >= 0
    np.testing.assert_array_equal(got[0, 0].numpy(), expected)
    assert got.dtype == torch.bool and got.shape == gt.shape
    assert expected.tolist() == [
        [False, False, False, True, True, False, False, True],
        [False, False, False, True, True, False, True, False],
    ]


@pytest.mark.parametrize("reduction", ["pixels", "images"])
def test_holes_match_brute_force(reduction):
    batches = random_batches([3, 2], seed=11, empty_image=True)
    g = torch.Generator().manual_seed(12)
    holes = [torch.rand(mask.shape, generator=g) < 0.3 for _, _, mask in batches]
    for hole in holes:  # a left band without estimates, like SGBM's
        hole[..., :4] = True
    metric = StereoMetrics(reduction=reduction)
    for batch, hole in zip(batches, holes):
        metric.update(*batch, holes=hole)
    out = metric.compute()
    expected = reference(batches, reduction, holes)
    for name in NAMES:
        np.testing.assert_allclose(out[f"{name}_all"].item(), expected[name], rtol=1e-5)
    plain = StereoMetrics(reduction=reduction)
    for batch in batches:
        plain.update(*batch)
    assert out["bad1_all"] > plain.compute()["bad1_all"] + 5  # the holes count


def test_hand_made_holes_are_disparity_zero_and_always_bad():
    gt = torch.tensor([0.5, 10.0, 10.0, 10.0, 4.0]).reshape(1, 1, 1, 5)
    pred = torch.tensor([0.5, 10.0, 9.0, 3.0, 4.0]).reshape(1, 1, 1, 5)
    holes = torch.tensor([True, True, False, False, False]).reshape(1, 1, 1, 5)
    mask = torch.tensor([True, True, True, True, False]).reshape(1, 1, 1, 5)
    # in the mask: a hole at gt 0.5 (error 0.5, still bad), a hole at gt 10 (error 10), errors 1 and 7.
    metric = StereoMetrics()
    metric.update(pred, gt, mask, holes=holes)
    out = {k: round(v.item(), 4) for k, v in metric.compute().items()}
    assert out == {
        "epe_all": round((0.5 + 10 + 1 + 7) / 4, 4),
        "bad1_all": 75.0,  # the holes and the error 7; the error 1 is not > 1
        "bad2_all": 75.0,
        "bad3_all": 75.0,
        "d1_all": 75.0,
    }
    with pytest.raises(ValueError, match="holes must be a bool tensor"):
        metric.update(pred, gt, mask, holes=holes.float())


def test_reductions_differ_on_unequal_masks():
    batches = random_batches([4], seed=3)
    pixels, images = StereoMetrics(reduction="pixels"), StereoMetrics(reduction="images")
    for m in (pixels, images):
        m.update(*batches[0])
    assert abs(pixels.compute()["epe_all"] - images.compute()["epe_all"]) > 1e-3


def test_hand_made_thresholds_are_strict():
    gt = torch.tensor([10.0, 10.0, 100.0, 100.0, 10.0, 10.0]).reshape(1, 1, 1, 6)
    pred = torch.tensor([12.0, 11.0, 104.0, 106.0, 13.5, 10.0]).reshape(1, 1, 1, 6)
    # errors 2, 1, 4, 6, 3.5, 0 -> bad1: 4/6 (the exact 1 is not > 1); bad2: 3/6; bad3: 3/6;
    # D1: 104 vs 100 is > 3 px but < 5 % -> inlier; 106 vs 100 and 13.5 vs 10 are outliers -> 2/6.
    metric = StereoMetrics(bad_thresholds=(1, 2, 3, 0.5))
    metric.update(pred, gt, torch.ones_like(gt, dtype=torch.bool))
    out = {k: round(v.item(), 4) for k, v in metric.compute().items()}
    assert out == {
        "epe_all": round(16.5 / 6, 4),
        "bad1_all": round(400 / 6, 4),
        "bad2_all": 50.0,
        "bad3_all": 50.0,
        "bad0.5_all": round(500 / 6, 4),
        "d1_all": round(200 / 6, 4),
    }


@pytest.mark.parametrize("reduction", ["pixels", "images"])
def test_empty_evaluation_is_nan(reduction):
    metric = StereoMetrics(reduction=reduction)
    gt = torch.full((2, 1, 4, 4), float("inf"))
    metric.update(torch.zeros(2, 1, 4, 4), gt, torch.zeros(2, 1, 4, 4, dtype=torch.bool))
    assert all(torch.isnan(v) for v in metric.compute().values())


def test_rejects_bad_inputs():
    metric = StereoMetrics()
    gt, mask = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3, dtype=torch.bool)
    pred = torch.ones(1, 1, 3, 3)
    pred[0, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="pred contains 1 NaN/Inf"):
        metric.update(pred, gt, mask)
    pred[0, 0, 2, 2] = 0.0
    gt_inf = gt.clone()
    gt_inf[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="gt has NaN/Inf inside mask"):
        metric.update(pred, gt_inf, mask)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        metric.update(pred, gt, mask.float())
    with pytest.raises(ValueError, match=r"pred must be a floating-point \(B, 1, H, W\)"):
        metric.update(pred[:, 0], gt, mask)
    with pytest.raises(ValueError, match="one shape"):
        metric.update(pred, gt[..., :2], mask)
    with pytest.raises(ValueError, match="region"):
        StereoMetrics(region="occluded")
    with pytest.raises(ValueError, match="reduction"):
        StereoMetrics(reduction="mean")
    assert metric.count == 0  # nothing was accumulated by the rejected updates


def test_single_value_metrics_agree_with_the_collection():
    batches = random_batches([2, 3], seed=5)
    full = StereoMetrics(region="nonoccluded", reduction="images", bad_thresholds=(2.0,))
    singles = {
        "epe_noc": EndPointError(region="nonoccluded", reduction="images"),
        "bad2_noc": BadPixelRate(2.0, region="nonoccluded", reduction="images"),
        "d1_noc": D1Error(region="nonoccluded", reduction="images"),
    }
    for batch in batches:
        full.update(*batch)
        for m in singles.values():
            m.update(*batch)
    out = full.compute()
    for key, m in singles.items():
        assert m.compute().shape == ()
        torch.testing.assert_close(m.compute(), out[key])


@pytest.mark.parametrize("reduction", ["pixels", "images"])
def test_merged_states_equal_one_pass(reduction):
    """What DDP's sum-reduction does: states of two shards merged = one metric over all data."""
    batches = random_batches([2, 3, 1, 2], seed=7)
    whole, a, b = (StereoMetrics(reduction=reduction) for _ in range(3))
    for i, batch in enumerate(batches):
        whole.update(*batch)
        (a if i % 2 else b).update(*batch)
    a.merge_state(b)
    for key, value in whole.compute().items():
        torch.testing.assert_close(a.compute()[key], value)


def _ddp_worker(rank, world, port, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        metric = StereoMetrics(reduction="images")
        for i, batch in enumerate(random_batches([2, 3, 1, 2], seed=7)):
            if i % world == rank:
                metric.update(*batch)
        torch.save({k: v.item() for k, v in metric.compute().items()}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_gloo_two_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2)
    expected = reference(random_batches([2, 3, 1, 2], seed=7), "images")
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        for name in NAMES:
            np.testing.assert_allclose(got[f"{name}_all"], expected[name], rtol=1e-5)


def test_disparity_errors_of_one_map_match_the_metric():
    g = torch.Generator().manual_seed(4)
    gt = torch.rand(1, 1, 5, 8, generator=g) * 20
    pred = gt + (torch.rand(1, 1, 5, 8, generator=g) - 0.5) * 8
    mask = torch.rand(1, 1, 5, 8, generator=g) > 0.2
    metric = StereoMetrics("all", bad_thresholds=(2.0,))
    metric.update(pred, gt, mask)
    expected = metric.compute()
    errors = disparity_errors(pred[0], gt[0], mask[0])
    assert set(errors) == {"epe", "bad2"}
    assert errors["epe"] == pytest.approx(float(expected["epe_all"]), rel=1e-6)
    assert errors["bad2"] == pytest.approx(float(expected["bad2_all"]), rel=1e-6)
    assert set(disparity_errors(pred[0], gt[0], mask[0], bad_threshold=0.5)) == {"epe", "bad0.5"}
    assert disparity_errors(pred[0], gt[0], torch.zeros_like(mask[0])) == {}
