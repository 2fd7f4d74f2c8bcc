"""Classical plane-sweep stereo and the shared sweep helpers: hypotheses, masked ZNCC and source aggregation against
brute force, depth recovery on an analytic textured plane, unseen pixels, argument and input checks."""

import numpy as np
import pytest
import torch

from recon.geometry.multiview import reproject_depth
from recon.models.blocks import check_views, depth_at_index
from recon.models.plane_sweep import ZNCC_EPS, PlaneSweepStereo, aggregate_sources, masked_zncc
from tests.helpers.mvs_scenes import batch_of, textured_plane_item


def _hypothesis_index(depth, depth_range, D, sampling):
    """Inverse of depth_at_index: the fractional hypothesis index of a depth map (B, 1, H, W)."""
    near, far = (x.view(-1, 1, 1, 1) for x in depth_range.unbind(-1))
    if sampling == "linear":
        return (depth - near) / (far - near) * (D - 1)
    return (1 / depth - 1 / near) / (1 / far - 1 / near) * (D - 1)


def test_interface():
    model = PlaneSweepStereo()
    assert (model.problem, model.inputs, model.trainable) == (
        "multi_view",
        ("images", "K", "T_cw", "depth_range"),
        False,
    )
    assert not list(model.parameters())


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"num_depths": 1}, "model.num_depths"),
        ({"depth_sampling": "log"}, "model.depth_sampling"),
        ({"window": 4}, "model.window"),
        ({"window": 0}, "model.window"),
        ({"best_k": 0}, "model.best_k"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        PlaneSweepStereo(**kwargs)


@pytest.mark.parametrize("sampling", ["inverse", "linear"])
def test_depth_hypotheses_span_the_range_uniformly(sampling):
    depth_range = torch.tensor([[1.0, 4.0], [2.0, 3.0]], dtype=torch.float64)
    D = 7
    depths = depth_at_index(torch.arange(D, dtype=torch.float64).expand(2, D), depth_range, D, sampling)
    torch.testing.assert_close(depths[:, 0], depth_range[:, 0])
    torch.testing.assert_close(depths[:, -1], depth_range[:, 1])
    steps = (1 / depths if sampling == "inverse" else depths).diff(dim=1)
    torch.testing.assert_close(steps, steps[:, :1].expand_as(steps))
    fractional = torch.tensor([[2.5], [0.25]], dtype=torch.float64)[..., None, None]  # (B, 1, 1, 1)
    torch.testing.assert_close(
        _hypothesis_index(depth_at_index(fractional, depth_range, D, sampling), depth_range, D, sampling), fractional
    )


def _brute_zncc(ref, src, valid, window):
    """numpy: statistics over the in-image valid pixels of each window."""
    H, W = ref.shape
    r = window // 2
    out = np.zeros((H, W))
    for y in range(H):
        for x in range(W):
            ys, xs = slice(max(y - r, 0), y + r + 1), slice(max(x - r, 0), x + r + 1)
            keep = valid[ys, xs]
            if not keep.any():
                continue
            a, b = ref[ys, xs][keep], src[ys, xs][keep]
            cov = (a * b).mean() - a.mean() * b.mean()
            out[y, x] = cov / np.sqrt((a.var() + ZNCC_EPS) * (b.var() + ZNCC_EPS))
    return out


def test_masked_zncc_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    H, W, window = 6, 9, 3
    ref, src = torch.rand(2, 1, H, W, generator=g, dtype=torch.float64).unbind(0)
    valid = torch.rand(1, H, W, generator=g) > 0.3
    valid[:, :2, :2] = False  # a window with no valid sample
    score = masked_zncc(ref[None], src[None], valid[None], window)[0, 0]
    expected = _brute_zncc(ref[0].numpy(), src[0].numpy(), valid[0].numpy(), window)
    has_valid = torch.nn.functional.max_pool2d(valid[None].double(), window, 1, window // 2)[0, 0] > 0
    np.testing.assert_allclose(score[has_valid].numpy(), expected[has_valid.numpy()], atol=1e-9)
    assert torch.isfinite(score).all()


def test_zncc_is_invariant_to_gain_and_offset():
    g = torch.Generator().manual_seed(1)
    ref = torch.rand(1, 1, 8, 8, generator=g, dtype=torch.float64)
    valid = torch.ones_like(ref, dtype=torch.bool)
    assert (masked_zncc(ref, 0.5 * ref + 0.2, valid, 5) > 0.99).all()
    assert (masked_zncc(ref, 1 - ref, valid, 5) < -0.99).all()
    assert masked_zncc(ref, torch.full_like(ref, 0.3), valid, 5).abs().max() < 1e-6  # flat: no evidence


@pytest.mark.parametrize("best_k", [None, 1, 2, 5])
def test_source_aggregation_against_brute_force(best_k):
    g = torch.Generator().manual_seed(2)
    scores = torch.rand(2, 3, 4, 5, generator=g) * 2 - 1
    valid = torch.rand(2, 3, 4, 5, generator=g) > 0.4
    valid[:, :, 0, 0] = False
    out = aggregate_sources(scores, valid, best_k)
    for index in np.ndindex(2, 4, 5):
        b, rest = index[0], index[1:]
        seen = sorted((float(scores[(b, s) + rest]) for s in range(3) if valid[(b, s) + rest]), reverse=True)
        seen = seen[:best_k] if best_k else seen
        expected = sum(seen) / len(seen) if seen else -1.0
        assert out[index].item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("tilt, sampling", [(0.0, "inverse"), (25.0, "inverse"), (25.0, "linear")])
def test_recovers_a_textured_plane_within_one_hypothesis(tilt, sampling):
    """Pixels whose surface point lies well inside at least two sources (so that best-of-2 aggregation has two
    unclipped windows) get the hypothesis nearest their true depth, up to one step."""
    D, H, W = 32, 48, 64
    items = [textured_plane_item(H, W, 4, seed=seed, tilt_deg=tilt) for seed in range(2)]
    batch = batch_of(items)
    model = PlaneSweepStereo(num_depths=D, depth_sampling=sampling, window=7, best_k=2)
    out = model(batch["images"], batch["K"], batch["T_cw"], batch["depth_range"])
    assert out["depth"].shape == out["confidence"].shape == (2, 1, H, W)
    seen = torch.zeros(2, 1, H, W, dtype=torch.long)
    for s in range(1, 5):
        uv, _ = reproject_depth(
            batch["depth"], batch["K"][:, 0], batch["T_cw"][:, 0], batch["K"][:, s], batch["T_cw"][:, s]
        )
        margin = 3
        inside = (
            (uv[..., 0] >= margin)
            & (uv[..., 0] <= W - 1 - margin)
            & (uv[..., 1] >= margin)
            & (uv[..., 1] <= H - 1 - margin)
        )
        seen += inside[:, None].long()
    evaluated = (seen >= 2) & batch["mask"]
    assert evaluated.float().mean() > 0.7
    error = (
        _hypothesis_index(out["depth"], batch["depth_range"], D, sampling)
        - _hypothesis_index(batch["depth"], batch["depth_range"], D, sampling)
    ).abs()[evaluated]
    assert (error <= 1.0 + 1e-4).float().mean() > 0.98, error.quantile(torch.tensor([0.5, 0.9, 0.99]))
    assert error.median() <= 0.5 + 1e-4
    assert out["confidence"][evaluated].median() > 0.8


def test_pixels_no_source_sees_get_zero_confidence():
    item = textured_plane_item(16, 20, 2, seed=3)
    flip = torch.diag(torch.tensor([-1.0, 1.0, -1.0, 1.0]))  # sources turned around: they see nothing
    item["T_cw"][1:] = flip @ item["T_cw"][1:]
    batch = batch_of([item])
    out = PlaneSweepStereo(num_depths=8)(batch["images"], batch["K"], batch["T_cw"], batch["depth_range"])
    assert torch.isfinite(out["depth"]).all() and (out["confidence"] == 0).all()
    torch.testing.assert_close(out["depth"], batch["depth_range"][:, :1].view(1, 1, 1, 1).expand(1, 1, 16, 20))


def test_input_checks():
    batch = batch_of([textured_plane_item(8, 12, 2, seed=0)] * 2)
    model = PlaneSweepStereo(num_depths=4)
    args = {k: batch[k] for k in model.inputs}
    assert check_views(**args) == (2, 3, 8, 12)
    bad = [
        ({"K": batch["K"][:, :2]}, r"K must be a floating \(2, 3, 3, 3\)"),
        ({"T_cw": batch["T_cw"][:1]}, r"T_cw must be a floating \(2, 3, 4, 4\)"),
        ({"depth_range": batch["depth_range"][:, :1]}, "depth_range must be"),
        ({"depth_range": batch["depth_range"].flip(-1)}, "0 < near < far"),
        ({"images": batch["images"][:, :1]}, "V >= 2"),
        ({"images": batch["images"][:, :, :1]}, r"\(B, V, 3, H, W\)"),
    ]
    for change, match in bad:
        with pytest.raises(ValueError, match=match):
            model(**{**args, **change})
