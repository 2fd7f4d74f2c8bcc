"""MVSNet-style network: cost volumes against brute force and an exact-shift sweep, photometric confidence, any input
size and number of sources, gradients, a tiny overfit, argument and input checks."""

import pytest
import torch

from recon.models.blocks import sweep_sources
from recon.models.mvsnet import MVSNet, groupwise_volume, photometric_confidence, variance_volume
from tests.helpers.mvs_scenes import batch_of, textured_plane_item

TINY = dict(num_depths=8, feature_channels=8, volume_channels=4)


def _args(batch):
    return [batch[k] for k in MVSNet.inputs]


def test_interface():
    model = MVSNet(**TINY)
    assert (model.problem, model.inputs) == ("multi_view", ("images", "K", "T_cw", "depth_range"))
    assert getattr(model, "trainable", True)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"num_depths": 1}, "model.num_depths"),
        ({"depth_sampling": "log"}, "model.depth_sampling"),
        ({"cost": "concat"}, "model.cost"),
        ({"feature_channels": 0}, "model.feature_channels"),
        ({"volume_channels": 0}, "model.volume_channels"),
        ({"cost": "groupwise", "groups": 3}, "model.groups"),
        ({"num_hourglasses": -1}, "model.num_hourglasses"),
        ({"norm": "layer"}, "model.norm"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        MVSNet(**{**TINY, **kwargs})


def _random_volumes(seed, B=2, S=3, C=4, D=3, h=2, w=3):
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(B, C, h, w, generator=g, dtype=torch.float64)
    warped = torch.randn(B, S, C, D, h, w, generator=g, dtype=torch.float64)
    inside = torch.rand(B, S, 1, D, h, w, generator=g) > 0.4
    inside[:, :, :, 0, 0, 0] = False  # a point no source sees
    return ref, warped, inside


def test_variance_volume_matches_brute_force():
    ref, warped, inside = _random_volumes(0)
    B, S, C, D, h, w = warped.shape
    volume = variance_volume(ref, warped, inside)
    assert volume.shape == (B, C, h, w, D)
    for b in range(B):
        for d in range(D):
            for y in range(h):
                for x in range(w):
                    views = [ref[b, :, y, x]] + [warped[b, s, :, d, y, x] for s in range(S) if inside[b, s, 0, d, y, x]]
                    expected = torch.stack(views).var(dim=0, unbiased=False)
                    torch.testing.assert_close(volume[b, :, y, x, d], expected)
    assert (volume[:, :, 0, 0, 0] == 0).all()  # only the reference: variance 0


def test_groupwise_volume_matches_brute_force():
    ref, warped, inside = _random_volumes(1)
    B, S, C, D, h, w = warped.shape
    G = 2
    volume = groupwise_volume(ref, warped, inside, G)
    assert volume.shape == (B, G, h, w, D)
    for b in range(B):
        for d in range(D):
            for y in range(h):
                for x in range(w):
                    seen = [
                        (ref[b, :, y, x] * warped[b, s, :, d, y, x]).view(G, C // G).mean(1)
                        for s in range(S)
                        if inside[b, s, 0, d, y, x]
                    ]
                    expected = torch.stack(seen).mean(0) if seen else torch.zeros(G, dtype=ref.dtype)
                    torch.testing.assert_close(volume[b, :, y, x, d], expected)
    with pytest.raises(ValueError, match="groups"):
        groupwise_volume(ref, warped, inside, 3)


def test_variance_is_zero_at_the_true_depth_of_an_exact_shift():
    """Cameras translated along the reference x axis by ``b_k`` see a reference pixel at z-depth ``z`` shifted by
    ``s_k = f b_k / z`` columns (tests/geometry/test_multiview.py). Sources whose features are the reference's
    rolled by ``s_k`` (``src[x] = ref[x + s_k]``) therefore agree with it exactly on the plane ``z`` wherever they
    see it, and disagree on the other planes."""
    B, C, H, W, f = 2, 5, 6, 10, 10.0
    baselines = [0.5, -1.0]  # shifts 1 and -2 columns at z = 5
    depths = torch.tensor([[2.5, 5.0, 10.0]] * B, dtype=torch.float64)
    ref = torch.randn(B, C, H, W, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sources = [torch.roll(ref, -int(f * b / 5.0), dims=-1) for b in baselines]
    K = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    T_cw = torch.eye(4, dtype=torch.float64).repeat(1 + len(baselines), 1, 1)
    for k, b in enumerate(baselines):
        T_cw[1 + k, 0, 3] = -b  # camera centre at x = b
    maps = torch.stack([ref] + sources, dim=1)  # (B, V, C, H, W)
    warped, inside = sweep_sources(maps, K.expand(B, 3, 3, 3), T_cw.expand(B, 3, 4, 4), depths)
    volume = variance_volume(ref, warped, inside)  # (B, C, H, W, D)
    assert inside[:, :, :, 1].any(1).all()  # every pixel is seen at the true plane
    torch.testing.assert_close(volume[..., 1], torch.zeros_like(volume[..., 1]), atol=1e-12, rtol=0)
    assert (volume[..., [0, 2]].sum(1) > 1e-3).float().mean() > 0.9


class _EveryFourthPixel(torch.nn.Module):
    """Stand-in feature net whose cell ``j`` is image pixel ``4 j``, the alignment of MVSNet's stride-2 convolutions."""

    def forward(self, images):
        return images[..., ::4, ::4]


def test_model_warps_quarter_resolution_features_with_scaled_intrinsics():
    """The exact-shift setup at image resolution with shifts of 4 and -8 pixels (1 and -2 feature cells): with
    features sampled at pixels ``4 j``, the model's cost volume (intrinsics ``K / 4``) is 0 at the true plane. (A
    translation shifts every pixel equally, so this checks the focal scaling; the principal point cancels.)"""
    B, H, W, f = 1, 8, 24, 10.0
    baselines = [2.0, -4.0]  # 4 and -8 pixels at z = 5
    depths = torch.tensor([[2.5, 5.0, 10.0]], dtype=torch.float64)
    ref = torch.rand(B, 3, H, W, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    images = torch.stack([ref] + [torch.roll(ref, -int(f * b / 5.0), dims=-1) for b in baselines], dim=1)
    K = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], dtype=torch.float64).expand(B, 3, 3, 3)
    T_cw = torch.eye(4, dtype=torch.float64).repeat(B, 3, 1, 1)
    T_cw[0, 1:, 0, 3] = -torch.tensor(baselines, dtype=torch.float64)
    model = MVSNet(**TINY)
    model.features = _EveryFourthPixel()
    volume = model.cost_volume(images, K, T_cw, depths)  # (B, 3 + 1, H/4, W/4, D)
    assert volume.shape == (B, 4, H // 4, W // 4, 3)
    torch.testing.assert_close(volume[:, :3, ..., 1], torch.zeros_like(volume[:, :3, ..., 1]), atol=1e-12, rtol=0)
    assert (volume[:, :3, ..., [0, 2]].sum(1) > 1e-4).float().mean() > 0.8
    assert (volume[:, 3] > 0).all() and (volume[:, 3] <= 1).all()  # visibility: fraction of sources


def test_photometric_confidence_against_brute_force():
    g = torch.Generator().manual_seed(3)
    D = 6
    probability = torch.softmax(torch.randn(2, D, 3, 4, generator=g), dim=1)
    index = torch.rand(2, 1, 3, 4, generator=g) * (D - 1)
    index[0, 0, 0, :2] = torch.tensor([0.0, float(D - 1)])  # both ends of the sweep
    confidence = photometric_confidence(probability, index)
    for b, y, x in zip(
        *[t.flatten() for t in torch.meshgrid(torch.arange(2), torch.arange(3), torch.arange(4), indexing="ij")]
    ):
        k = int(index[b, 0, y, x].floor())
        expected = probability[b, max(k - 1, 0) : k + 3, y, x].sum()
        torch.testing.assert_close(confidence[b, 0, y, x], expected)
    one_hot = torch.zeros(1, D, 1, 1)
    one_hot[0, 3] = 1
    assert photometric_confidence(one_hot, torch.full((1, 1, 1, 1), 3.0)).item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "size, sources, kwargs",
    [
        ((29, 37), 1, {}),
        ((17, 23), 3, {"cost": "groupwise", "groups": 2}),
        ((5, 6), 3, {"num_hourglasses": 2}),
        ((12, 16), 2, {"num_hourglasses": 0, "depth_sampling": "linear"}),
    ],
)
def test_any_size_and_number_of_sources(size, sources, kwargs):
    torch.manual_seed(0)
    model = MVSNet(**{**TINY, **kwargs})
    batch = batch_of([textured_plane_item(*size, sources, seed=s) for s in range(2)])
    near, far = (x.view(2, 1, 1, 1) for x in batch["depth_range"].unbind(-1))
    for training in (True, False):
        model.train(training)
        with torch.no_grad():
            out = model(*_args(batch))
        heads = kwargs.get("num_hourglasses", 1)
        assert set(out) == ({"depth", "confidence", "depths"} if training and heads > 1 else {"depth", "confidence"})
        if "depths" in out:
            assert len(out["depths"]) == heads and out["depths"][-1] is out["depth"]
            assert all(d.shape == (2, 1, *size) for d in out["depths"])
        depth, confidence = out["depth"], out["confidence"]
        assert depth.shape == confidence.shape == (2, 1, *size)
        assert torch.isfinite(depth).all() and torch.isfinite(confidence).all()
        assert (depth >= near * (1 - 1e-5)).all() and (depth <= far * (1 + 1e-5)).all()
        assert (confidence >= 0).all() and (confidence <= 1).all()


@pytest.mark.parametrize("cost", ["variance", "groupwise"])
def test_gradients_reach_every_parameter(cost):
    torch.manual_seed(0)
    model = MVSNet(**{**TINY, "cost": cost, "groups": 2, "num_hourglasses": 2})
    batch = batch_of([textured_plane_item(16, 20, 2, seed=s) for s in range(2)])
    out = model(*_args(batch))
    (sum(d.mean() for d in out["depths"]) + out["confidence"].mean()).backward()
    # the cost heads' last bias shifts every hypothesis' cost equally: softmax ignores it (gradient 0 up to rounding)
    missing = [
        n
        for n, p in model.named_parameters()
        if (p.grad is None or not p.grad.abs().sum() > 0) and not (n.startswith("heads.") and n.endswith(".net.1.bias"))
    ]
    assert not missing, missing


def test_batch_items_are_independent_in_eval_mode():
    torch.manual_seed(0)
    model = MVSNet(**TINY).eval()
    batch = batch_of([textured_plane_item(16, 20, 2, seed=s) for s in range(3)])
    with torch.no_grad():
        together = model(*_args(batch))
        alone = model(*[x[1:2] for x in _args(batch)])
    for key in ("depth", "confidence"):
        torch.testing.assert_close(together[key][1:2], alone[key], atol=1e-4, rtol=1e-4)


def test_overfits_four_tiny_scenes():
    """Wiring check: an L1 depth loss drives the (eval-mode) depth error below 20 % of its start in 100 steps."""
    torch.manual_seed(0)
    batch = batch_of([textured_plane_item(32, 40, 2, seed=s) for s in range(4)])
    model = MVSNet(num_depths=16, feature_channels=8, volume_channels=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    mask, scale = batch["mask"], (batch["depth_range"][:, 1] - batch["depth_range"][:, 0]).view(-1, 1, 1, 1)

    def eval_error():
        model.eval()
        with torch.no_grad():
            error = (model(*_args(batch))["depth"] - batch["depth"]).abs()[mask].mean().item()
        model.train()
        return error

    start = eval_error()
    for _ in range(100):
        loss = ((model(*_args(batch))["depth"] - batch["depth"]).abs() / scale)[mask].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert eval_error() < 0.2 * start


def test_input_checks():
    batch = batch_of([textured_plane_item(8, 12, 2, seed=0)] * 2)
    model = MVSNet(**TINY)
    args = {k: batch[k] for k in model.inputs}
    bad = [
        ({"K": batch["K"][:, :2]}, r"K must be a floating \(2, 3, 3, 3\) tensor to match images"),
        ({"T_cw": batch["T_cw"][:, :, :3]}, r"T_cw must be a floating \(2, 3, 4, 4\)"),
        ({"depth_range": batch["depth_range"][0]}, r"depth_range must be a floating \(2, 2\)"),
        ({"depth_range": torch.tensor([[0.0, 1.0], [1.0, 2.0]])}, "0 < near < far"),
        ({"images": batch["images"][:, :1]}, "V >= 2"),
        ({"images": batch["images"][0]}, r"\(B, V, 3, H, W\)"),
    ]
    for change, match in bad:
        with pytest.raises(ValueError, match=match):
            model(**{**args, **change})


def test_default_config_size():
    """The default network stays CPU-sized."""
    params = sum(p.numel() for p in MVSNet().parameters())
    assert 3e4 < params < 3e5, params
