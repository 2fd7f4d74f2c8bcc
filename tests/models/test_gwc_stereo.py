"""GwcNet-style stereo network: cost volumes against brute force, soft-argmin, aligned upsampling, any input size,
gradients, argument checks."""

import math

import pytest
import torch

from recon.models.blocks import soft_argmin, upsample_aligned
from recon.models.gwc_stereo import GwcStereo, concatenation_volume, groupwise_correlation_volume

TINY = dict(feature_channels=16, feature_blocks=1)


def test_interface():
    model = GwcStereo(max_disparity=64, **TINY)
    assert (model.problem, model.inputs, model.max_disparity) == ("stereo", ("left", "right"), 64.0)
    assert getattr(model, "trainable", True)
    # candidates 0, 4, ..., 4 (D - 1) >= max_disparity
    for max_disparity, count in [(64, 17), (62, 17), (65, 18), (1, 2), (4, 2), (192, 49)]:
        D = GwcStereo(max_disparity=max_disparity, **TINY).num_candidates
        assert count == D and max_disparity <= 4 * (D - 1) and max_disparity > 4 * (D - 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_disparity": 0}, "max_disparity must be positive"),
        ({"max_disparity": -8}, "max_disparity must be positive"),
        ({"groups": 5}, "groups"),
        ({"upsample": "nearest"}, "upsample"),
        ({"norm": "layer"}, "norm"),
        ({"num_hourglasses": -1}, "num_hourglasses"),
        ({"volume_channels": 0}, "volume_channels"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GwcStereo(**{**TINY, **kwargs})


def test_volumes_match_brute_force():
    g = torch.Generator().manual_seed(0)
    B, C, H, W, D, G = 2, 8, 3, 10, 4, 2
    left, right = torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    gwc, concat = groupwise_correlation_volume(left, right, D, G), concatenation_volume(left, right, D)
    assert gwc.shape == (B, G, H, W, D) and concat.shape == (B, 2 * C, H, W, D)
    for d in range(D):
        for x in range(W):
            if x - d >= 0:
                expected = (left[..., x] * right[..., x - d]).view(B, G, C // G, H).mean(2)
                torch.testing.assert_close(gwc[..., x, d], expected)
                torch.testing.assert_close(concat[:, C:, :, x, d], right[..., x - d])
            else:
                assert (gwc[..., x, d] == 0).all() and (concat[:, C:, :, x, d] == 0).all()
            torch.testing.assert_close(concat[:, :C, :, x, d], left[..., x])
    with pytest.raises(ValueError, match="groups"):
        groupwise_correlation_volume(left, right, D, 3)


def test_soft_argmin_of_one_hot_costs_is_the_exact_disparity():
    candidates = torch.tensor([0.0, 4.0, 8.0, 12.0, 16.0])
    winner = torch.tensor([[0, 3], [4, 1]])  # (H, W) index of the best candidate
    cost = torch.full((1, 5, 2, 2), 1e4)
    cost.scatter_(1, winner[None, None], 0.0)  # 0 at the winner, huge elsewhere
    torch.testing.assert_close(soft_argmin(cost, candidates), candidates[winner][None, None])
    # equal costs: the mean candidate; two tied winners: their midpoint
    torch.testing.assert_close(soft_argmin(torch.zeros(1, 5, 1, 1), candidates), torch.full((1, 1, 1, 1), 8.0))
    tied = torch.tensor([1e4, 0.0, 0.0, 1e4, 1e4]).view(1, 5, 1, 1)
    torch.testing.assert_close(soft_argmin(tied, candidates), torch.full((1, 1, 1, 1), 6.0))
    with pytest.raises(ValueError, match="disparities"):
        soft_argmin(cost, candidates[:3])


def test_soft_argmin_gradient():
    cost = torch.randn(1, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c: soft_argmin(c, torch.arange(4.0, dtype=torch.float64)), (cost,))


def test_upsampling_puts_coarse_cell_j_on_pixel_4j():
    h, w, D = 3, 5, 4
    ramp = torch.arange(w, dtype=torch.float32).expand(1, 1, h, w)  # coarse value = coarse column
    fine = upsample_aligned(ramp, 4)
    assert fine.shape == (1, 1, 4 * h, 4 * w)
    x = torch.arange(4 * w, dtype=torch.float32)
    torch.testing.assert_close(fine[0, 0, 0], (x / 4).clamp(max=w - 1))  # linear up to 4 (w - 1), then repeated
    rows = torch.arange(h, dtype=torch.float32)[:, None, None].expand(h, w, D)[None, None].permute(0, 1, 4, 2, 3)
    fine = upsample_aligned(rows.contiguous(), 4, candidates=True)  # (1, 1, D, h, w) -> candidates too
    assert fine.shape == (1, 1, 4 * (D - 1) + 1, 4 * h, 4 * w)
    torch.testing.assert_close(fine[0, 0, 5, :, 7], (torch.arange(4 * h) / 4).clamp(max=h - 1))


@pytest.mark.parametrize(
    "size, upsample",
    [((29, 45), "disparity"), ((17, 23), "disparity"), ((5, 6), "disparity"), ((29, 45), "cost"), ((17, 23), "convex")],
)
def test_any_input_size_gives_full_resolution_outputs(size, upsample):
    torch.manual_seed(0)
    model = GwcStereo(max_disparity=16, upsample=upsample, num_hourglasses=2, **TINY)
    left, right = torch.rand(2, 3, *size), torch.rand(2, 3, *size)
    out = model(left, right)
    assert out["disparity"].shape == (2, 1, *size)
    assert len(out["disparities"]) == 3 and all(d.shape == (2, 1, *size) for d in out["disparities"])
    assert out["disparity"] is out["disparities"][-1]
    model.eval()
    with torch.no_grad():
        out = model(left, right)
    assert set(out) == {"disparity"} and out["disparity"].shape == (2, 1, *size)
    top = 4 * (model.num_candidates - 1)
    assert torch.isfinite(out["disparity"]).all()
    assert out["disparity"].min() >= 0 and out["disparity"].max() <= top + 1e-4


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = GwcStereo(max_disparity=16, **TINY)
    out = model(torch.rand(2, 3, 24, 40), torch.rand(2, 3, 24, 40))
    sum(d.mean() for d in out["disparities"]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_batch_items_are_independent_in_eval_mode():
    torch.manual_seed(0)
    model = GwcStereo(max_disparity=16, **TINY).eval()
    left, right = torch.rand(3, 3, 20, 36), torch.rand(3, 3, 20, 36)
    with torch.no_grad():
        together = model(left, right)["disparity"]
        alone = model(left[1:2], right[1:2])["disparity"]
    torch.testing.assert_close(together[1:2], alone, atol=1e-4, rtol=1e-4)


def test_input_checks():
    model = GwcStereo(max_disparity=16, **TINY)
    with pytest.raises(ValueError, match="one shape"):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 12))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_default_config_size():
    """The default network stays CPU-sized (a few hundred thousand parameters)."""
    params = sum(p.numel() for p in GwcStereo().parameters())
    assert 1e5 < params < 1e6, params
    assert math.isclose(GwcStereo().max_disparity, 64.0)
