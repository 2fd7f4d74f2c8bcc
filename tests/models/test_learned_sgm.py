"""Learned-cost SGM stereo: matching cost and semi-global aggregation against pixel-by-pixel numpy loops,
gradients (gradcheck), a hand-made pair it must solve, any input size, argument checks."""

import math

import numpy as np
import pytest
import torch

from recon.models.learned_sgm import LearnedSGMStereo, matching_cost, semi_global_aggregation

TINY = dict(feature_channels=8, feature_layers=2)


def brute_force_sgm(cost: np.ndarray, p1: float, p2: float) -> np.ndarray:
    """Hirschmueller's recursion written out pixel by pixel for the 4 directions, (D, H, W) -> (D, H, W)."""
    D, H, W = cost.shape
    total = np.zeros_like(cost)
    for dy, dx in [(0, 1), (0, -1), (1, 0), (-1, 0)]:
        L = np.zeros_like(cost)
        ys = range(H) if dy >= 0 else range(H - 1, -1, -1)
        xs = list(range(W) if dx >= 0 else range(W - 1, -1, -1))
        for y in ys:
            for x in xs:
                py, px = y - dy, x - dx
                if not (0 <= py < H and 0 <= px < W):
                    L[:, y, x] = cost[:, y, x]
                    continue
                prev = L[:, py, px]
                low = prev.min()
                for d in range(D):
                    options = [prev[d], low + p2]
                    if d > 0:
                        options.append(prev[d - 1] + p1)
                    if d < D - 1:
                        options.append(prev[d + 1] + p1)
                    L[d, y, x] = cost[d, y, x] + min(options) - low
        total += L
    return total


def test_interface_and_candidates():
    model = LearnedSGMStereo(max_disparity=64, **TINY)
    assert (model.problem, model.inputs, model.max_disparity, model.num_candidates) == (
        "stereo",
        ("left", "right"),
        64.0,
        33,
    )  # 0, 2, ..., 64 at half resolution
    assert LearnedSGMStereo(max_disparity=62.5, **TINY).num_candidates == 33
    assert LearnedSGMStereo(max_disparity=62.5, stride=1, **TINY).num_candidates == 64
    learned = model.describe()
    assert math.isclose(learned["p1"], 0.05, rel_tol=1e-5) and math.isclose(learned["p2"], 0.5, rel_tol=1e-5)
    assert math.isclose(learned["scale"], 20.0, rel_tol=1e-5)


def test_matching_cost_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    B, C, H, W, D = 2, 5, 3, 7, 9  # D > W: candidates beyond the image
    left, right = torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    cost = matching_cost(left, right, D)
    assert cost.shape == (B, D, H, W)
    for d in range(D):
        for x in range(W):
            expected = 1 - (left[..., x] * right[..., x - d]).sum(1) if x - d >= 0 else torch.ones(B, H)
            torch.testing.assert_close(cost[:, d, :, x], expected)


def test_aggregation_matches_the_pixel_loop():
    g = torch.Generator().manual_seed(1)
    cost = torch.rand(2, 6, 5, 7, generator=g, dtype=torch.float64) * 2
    p1, p2 = 0.1, 0.7
    total = semi_global_aggregation(cost, p1, p2)
    for b in range(2):
        np.testing.assert_allclose(total[b].numpy(), brute_force_sgm(cost[b].numpy(), p1, p2), rtol=1e-12)


def test_aggregation_gradients():
    g = torch.Generator().manual_seed(2)
    cost = (torch.rand(1, 4, 3, 4, generator=g, dtype=torch.float64) * 2).requires_grad_()
    p1 = torch.tensor(0.13, dtype=torch.float64, requires_grad=True)
    p2 = torch.tensor(0.61, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(semi_global_aggregation, (cost, p1, p2))


def test_smooth_penalties_fill_a_textureless_gap():
    """A pixel with a flat cost takes its neighbours' disparity after aggregation (P1, P2 > 0)."""
    D, H, W = 8, 5, 9
    cost = torch.ones(1, D, H, W)
    cost[:, 3] = 0.0  # every pixel prefers d = 3 ...
    cost[:, :, 2, 4] = 1.0  # ... but the centre pixel is ambiguous
    winner = semi_global_aggregation(cost, 0.1, 0.5).argmin(1)
    assert (winner == 3).all()


def test_forward_any_size_and_recovers_a_shifted_texture():
    torch.manual_seed(0)
    model = LearnedSGMStereo(max_disparity=8, stride=1, **TINY).eval()
    for H, W in [(5, 7), (17, 30)]:
        half = LearnedSGMStereo(max_disparity=8, **TINY).eval()
        out = half(torch.rand(2, 3, H, W), torch.rand(2, 3, H, W))["disparity"]
        assert out.shape == (2, 1, H, W) and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 8
        out = model(torch.rand(2, 3, H, W), torch.rand(2, 3, H, W))["disparity"]
        assert out.shape == (2, 1, H, W) and torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 8
    # identity-like features: with one 1x1-equivalent channel per colour a random texture shifted by 5 px is found
    texture = torch.rand(1, 3, 24, 48, generator=torch.Generator().manual_seed(3))
    left, right = texture[..., 0:40], texture[..., 5:45]  # left x is right x - 5: d = 5 everywhere
    with torch.no_grad():
        for conv in [m for m in model.features if isinstance(m, torch.nn.Conv2d)]:
            conv.weight.zero_(), conv.bias.zero_()
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
        model.features[0].bias[:3] = 1.0  # x * 2 - 1 + 1 = 2 x >= 0 survives the ReLU
        model.log_scale.fill_(math.log(1e3))  # a sharp soft-argmin: colour cosines are close to 1 everywhere
    d = model(left, right)["disparity"]
    assert (d[..., 8:] - 5).abs().mean() < 0.05


def identity_features(model):
    """Features = the image's colour (the first three channels), so matching compares colours."""
    with torch.no_grad():
        for conv in [m for m in model.features if isinstance(m, torch.nn.Conv2d)]:
            conv.weight.zero_(), conv.bias.zero_()
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
        model.features[0].bias[:3] = 1.0


def test_local_regression_ignores_far_candidates():
    """Colour cosines are close to 1 for many candidates: a soft-argmin over all of them is pulled towards the
    middle of the range, one over the 3 around the best candidate is not."""
    texture = torch.rand(1, 3, 24, 48, generator=torch.Generator().manual_seed(3))
    left, right = texture[..., 0:40], texture[..., 5:45]  # d = 5 everywhere
    errors = {}
    for radius in (None, 1):
        model = LearnedSGMStereo(max_disparity=32, stride=1, local_radius=radius, scale=5.0, **TINY).eval()
        identity_features(model)
        with torch.no_grad():
            errors[radius] = (model(left, right)["disparity"][..., 16:] - 5).abs().mean().item()
    assert errors[1] < 0.2 and errors[None] > 2.0
    model.train()  # training always regresses over every candidate (gradients for all of them)
    with torch.no_grad():
        assert (model(left, right)["disparity"][..., 16:] - 5).abs().mean().item() == pytest.approx(errors[None])


def test_refinement_adds_a_supervised_output_in_training():
    model = LearnedSGMStereo(max_disparity=8, refine_channels=8, **TINY)
    left, right = torch.rand(2, 3, 10, 14), torch.rand(2, 3, 10, 14)
    out = model(left, right)
    assert len(out["disparities"]) == 2 and out["disparities"][-1] is out["disparity"]
    assert all(d.shape == (2, 1, 10, 14) and (d >= 0).all() for d in out["disparities"])
    assert list(model.eval()(left, right)) == ["disparity"]


def test_gradients_reach_every_parameter():
    model = LearnedSGMStereo(max_disparity=8, refine_channels=4, **TINY)
    out = model(torch.rand(1, 3, 8, 12), torch.rand(1, 3, 8, 12))
    sum(d.mean() for d in out["disparities"]).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_disparity": 0}, "max_disparity must be positive"),
        ({"feature_layers": 1}, "feature_layers"),
        ({"p1": 0.5, "p2": 0.2}, "p1 < p2"),
        ({"scale": 0}, "scale"),
        ({"stride": 4}, "stride"),
        ({"local_radius": -1}, "local_radius"),
        ({"refine_channels": -1}, "refine_channels"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LearnedSGMStereo(**{**TINY, **kwargs})


def test_mismatched_views_are_refused():
    model = LearnedSGMStereo(max_disparity=8, **TINY)
    with pytest.raises(ValueError, match="one shape"):
        model(torch.rand(1, 3, 8, 12), torch.rand(1, 3, 8, 10))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 8, 12), torch.rand(1, 1, 8, 12))
