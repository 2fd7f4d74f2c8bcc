"""OpenCV SGBM stereo reference: interface, a synthetic random-dot pair, any size, the real Middlebury Motorcycle."""

import copy
import pickle
import time

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from recon.geometry.disparity import fill_disparity_holes
from recon.metrics.stereo import StereoMetrics
from recon.models.sgbm import SGBMStereo


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float in [0, 1] -> (1, 3, H, W) float32 in [0, 1]."""
    image = image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32)
    return torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()


def random_dot_pair(H=96, W=160, seed=0):
    """Right image: blurred random dots. Left image: ``left[y, x] = right[y, x - d(y, x)]`` for a piecewise
    constant integer disparity (background 8 px, a 40 x 50 foreground rectangle at 16 px), so ``d`` is the exact
    left ground truth wherever ``x - d >= 0``."""
    rng = np.random.default_rng(seed)
    right = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), 0.7)
    d = np.full((H, W), 8)
    d[30:70, 70:120] = 16
    source = np.clip(np.arange(W)[None, :] - d, 0, W - 1)
    left = np.take_along_axis(right, np.repeat(source[..., None], 3, axis=-1), axis=1)
    return left, right, d.astype(np.float32)


def test_interface_and_parameters():
    model = SGBMStereo(max_disparity=42)
    assert (model.problem, model.inputs, model.trainable) == ("stereo", ("left", "right"), False)
    assert list(model.parameters()) == []
    assert model.max_disparity == 42 and model.num_disparities == 48
    assert SGBMStereo(max_disparity=16).num_disparities == 16 and SGBMStereo(max_disparity=1).num_disparities == 16
    assert (model.p1, model.p2) == (8 * 25, 32 * 25)  # grey, block 5
    colour = SGBMStereo(block_size=3, color=True)
    assert (colour.p1, colour.p2) == (8 * 3 * 9, 32 * 3 * 9)
    assert SGBMStereo(p1=10, p2=50).p2 == 50
    copy.deepcopy(model), pickle.loads(pickle.dumps(model))  # no OpenCV object held
    for kwargs, match in [
        ({"block_size": 4}, "odd"),
        ({"p1": 100, "p2": 100}, "p1 < p2"),
        ({"mode": "bm"}, "mode"),
        ({"max_disparity": 0}, "max_disparity"),
    ]:
        with pytest.raises(ValueError, match=match):
            SGBMStereo(**kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"mode": "sgbm_3way"}, {"color": True}])
def test_recovers_random_dot_disparity(kwargs):
    left, right, gt = random_dot_pair()
    out = SGBMStereo(max_disparity=32, **kwargs)(to_tensor(left), to_tensor(right))
    assert out["disparity"].shape == (1, 1, 96, 160) and out["disparity"].dtype == torch.float32
    pred = out["disparity"][0, 0].numpy()
    interior = np.zeros_like(gt, dtype=bool)
    interior[5:-5, 40:-5] = True  # away from the borders (and from the unmatched left band)
    epe = np.abs(pred - gt)[interior].mean()
    assert epe < 0.5, epe
    # Median error is sub-pixel on the background and on the foreground.
    assert np.median(np.abs(pred - gt)[interior & (gt == 16)]) < 0.25
    assert np.median(np.abs(pred - gt)[interior & (gt == 8)]) < 0.25


def test_hole_filling_and_unfilled_output():
    left, right, _ = random_dot_pair(seed=1)
    filled = SGBMStereo(max_disparity=32)(to_tensor(left), to_tensor(right))
    raw = SGBMStereo(max_disparity=32, fill_holes=False)(to_tensor(left), to_tensor(right))
    matched = raw["matched"]
    assert matched.equal(filled["matched"]) and matched.dtype == torch.bool
    assert not matched[..., :32].any()  # SGBM never matches the num_disparities left-most columns
    assert raw["disparity"][~matched].eq(0).all()
    assert filled["disparity"][matched].equal(raw["disparity"][matched])
    torch.testing.assert_close(filled["disparity"], fill_disparity_holes(raw["disparity"], matched))
    assert (filled["disparity"] > 0).all()


@pytest.mark.parametrize(
    "shape", [(1, 3, 5, 7), (1, 3, 1, 40), (2, 3, 37, 53), (1, 3, 64, 17), (1, 3, 9, 20), (2, 1, 20, 30)]
)
def test_any_input_size(shape):
    g = torch.Generator().manual_seed(0)
    left = torch.rand(shape, generator=g)
    right = torch.roll(left, -3, dims=-1)
    out = SGBMStereo(max_disparity=16, block_size=3)(left, right)
    assert out["disparity"].shape == (shape[0], 1, *shape[2:]) and out["matched"].shape == out["disparity"].shape
    assert torch.isfinite(out["disparity"]).all() and (out["disparity"] >= 0).all()
    assert out["disparity"].device == left.device


def test_rejects_mismatched_inputs():
    model = SGBMStereo(max_disparity=16)
    with pytest.raises(ValueError, match="one shape"):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8))


def downsample_middlebury(left, right, disparity, width):
    """Resize a pair to ``width`` columns (aspect kept) and its left ground truth with it.

    Images: area averaging. Ground truth: nearest sample at each new pixel centre (no averaging across depth
    edges or with ``inf``), times ``width / W``: disparities are horizontal pixel offsets, so they scale with the
    horizontal factor.
    """
    H, W = disparity.shape
    s = width / W
    height = round(H * s)
    cols = np.clip(np.rint((np.arange(width) + 0.5) * W / width - 0.5).astype(int), 0, W - 1)
    rows = np.clip(np.rint((np.arange(height) + 0.5) * H / height - 0.5).astype(int), 0, H - 1)
    resize = lambda im: cv2.resize(im, (width, height), interpolation=cv2.INTER_AREA)  # noqa: E731
    return resize(left), resize(right), disparity[np.ix_(rows, cols)] * s


def test_middlebury_motorcycle():
    left, right, gt = skimage.data.stereo_motorcycle()
    assert left.shape == right.shape == (500, 741, 3) and gt.shape == (500, 741)
    left, right, gt = downsample_middlebury(left, right, gt, width=450)
    valid = np.isfinite(gt)  # inf marks unknown disparity
    assert left.shape == (304, 450, 3) and 0.85 < valid.mean() < 0.99
    max_disparity = int(np.ceil(gt[valid].max() * 1.15))  # ~ Middlebury's conservative nd
    model = SGBMStereo(max_disparity=max_disparity)
    model(to_tensor(left), to_tensor(right))  # warm-up
    start = time.perf_counter()
    out = model(to_tensor(left), to_tensor(right))
    seconds = time.perf_counter() - start
    metric = StereoMetrics()
    metric.update(
        out["disparity"],
        torch.from_numpy(np.where(valid, gt, 0)).float()[None, None],
        torch.from_numpy(valid)[None, None],
    )
    values = {k: round(v.item(), 2) for k, v in metric.compute().items()}
    print(
        f"\nSGBM on Motorcycle 450x304, num_disparities={model.num_disparities}: {values}, "
        f"matched {out['matched'].float().mean().item():.1%}, {seconds * 1000:.0f} ms"
    )
    assert values["bad2_all"] < 40 and values["epe_all"] < 5
