"""Convex upsampling against a per-pixel loop, its gradients, and the image-guided refinement's contract; GwcStereo
with both."""

import pytest
import torch

from recon.models.blocks import DisparityRefinement, convex_upsample
from recon.models.gwc_stereo import GwcStereo

TINY = dict(feature_channels=16, feature_blocks=1)


def _loop_reference(coarse, logits, f):
    """Each fine pixel (f y + i, f x + j): softmax over the 9 logits of (i, j) times the replicate-padded 3x3 window."""
    B, C, h, w = coarse.shape
    padded = torch.nn.functional.pad(coarse, (1, 1, 1, 1), mode="replicate")
    out = torch.zeros(B, C, f * h, f * w, dtype=coarse.dtype)
    for y in range(h):
        for x in range(w):
            window = padded[:, :, y : y + 3, x : x + 3].reshape(B, C, 9)
            for i in range(f):
                for j in range(f):
                    k = [n * f * f + i * f + j for n in range(9)]
                    weights = logits[:, k, y, x].softmax(dim=1)  # (B, 9)
                    out[:, :, f * y + i, f * x + j] = (window * weights[:, None]).sum(-1)
    return out


def test_convex_upsample_matches_a_per_pixel_loop():
    torch.manual_seed(0)
    coarse, logits = torch.randn(2, 3, 4, 5, dtype=torch.float64), torch.randn(2, 9 * 4, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(convex_upsample(coarse, logits, 2), _loop_reference(coarse, logits, 2))


def test_convex_upsample_keeps_constants_and_stays_inside_the_neighbourhood():
    torch.manual_seed(1)
    logits = torch.randn(1, 9 * 16, 6, 7) * 5
    constant = torch.full((1, 1, 6, 7), 3.25)
    torch.testing.assert_close(convex_upsample(constant, logits, 4), torch.full((1, 1, 24, 28), 3.25))
    coarse = torch.rand(1, 1, 6, 7) * 10
    fine = convex_upsample(coarse, logits, 4)
    assert fine.min() >= coarse.min() - 1e-5 and fine.max() <= coarse.max() + 1e-5
    # uniform logits: every fine pixel of a cell is the mean of its 3x3 window
    window_mean = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(coarse, (1,) * 4, mode="replicate"), 3, 1)
    torch.testing.assert_close(convex_upsample(coarse, torch.zeros_like(logits), 4)[..., ::4, ::4], window_mean)


def test_convex_upsample_gradcheck_and_shape_errors():
    torch.manual_seed(2)
    coarse = torch.randn(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(1, 9 * 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c, m: convex_upsample(c, m, 2), (coarse, logits))
    with pytest.raises(ValueError, match="logits must be"):
        convex_upsample(torch.rand(1, 1, 3, 3), torch.rand(1, 9, 3, 3), 2)


def test_refinement_starts_as_identity_and_is_equivariant_to_the_range():
    torch.manual_seed(3)
    refine = DisparityRefinement(channels=8, dilations=(1, 2))
    disparity, image = torch.rand(2, 1, 12, 16) * 30, torch.rand(2, 3, 12, 16)
    torch.testing.assert_close(refine(disparity, image, 64.0), disparity)  # zero-initialised output layer
    torch.nn.init.normal_(refine.out.weight, std=0.1)
    refine.eval()
    with torch.no_grad():  # the same map in a range twice as wide: the same correction, twice as large
        torch.testing.assert_close(refine(2 * disparity, image, 128.0), 2 * refine(disparity, image, 64.0))


@pytest.mark.parametrize("size", [(29, 45), (12, 20)])
def test_gwc_stereo_with_convex_upsampling_and_refinement(size):
    torch.manual_seed(4)
    model = GwcStereo(max_disparity=16, upsample="convex", refine=True, num_hourglasses=1, **TINY)
    left, right = torch.rand(2, 3, *size), torch.rand(2, 3, *size)
    out = model(left, right)
    assert len(out["disparities"]) == 3 and all(d.shape == (2, 1, *size) for d in out["disparities"])
    assert out["disparity"] is out["disparities"][-1]
    torch.nn.init.normal_(model.refinement.out.weight, std=0.1)  # so the refinement gets gradient everywhere
    out = model(left, right)
    sum(d.mean() for d in out["disparities"]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    model.eval()
    with torch.no_grad():
        together = model(left, right)["disparity"]
        alone = model(left[1:], right[1:])["disparity"]
    assert together.shape == (2, 1, *size) and torch.isfinite(together).all() and together.min() >= 0
    torch.testing.assert_close(together[1:], alone, atol=1e-4, rtol=1e-4)
