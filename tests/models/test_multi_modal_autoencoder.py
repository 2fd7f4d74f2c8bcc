"""Multi-modal autoencoder: every modality subset, presence flags that really remove a modality, translation with
the depth, gradients everywhere, the VAE variant's sampling and KL, bad settings named."""

import pytest
import torch

from recon.models.multi_modal_autoencoder import MultiModalAutoencoder, MultiModalVAE

SMALL = dict(num_points=64, widths=(8, 16), feature_dim=32, hidden_dim=64, point_widths=(16, 32), partial_points=100)


def batch(B: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(B, 3, 32, 32, generator=g),
        "has_image": torch.ones(B, dtype=torch.bool),
        "partial_points": torch.randn(B, 100, 3, generator=g) * 0.3 + torch.tensor([0.1, -0.2, 3.0]),
        "has_depth": torch.ones(B, dtype=torch.bool),
        "points": torch.randn(B, 200, 3, generator=g) + torch.tensor([0.0, 0.0, 3.0]),
    }


@pytest.mark.parametrize("modalities", [("image",), ("depth",), ("image", "depth")])
@pytest.mark.parametrize("variational", [False, True])
def test_every_subset_reads_its_keys_and_every_weight_learns(modalities, variational):
    torch.manual_seed(0)
    model = (MultiModalVAE if variational else MultiModalAutoencoder)(modalities=modalities, **SMALL)
    expected = {"image": ("image", "has_image"), "depth": ("partial_points", "has_depth")}
    assert model.inputs == tuple(k for m in modalities for k in expected[m])
    data = batch()
    keys = model.train_inputs if variational else model.inputs
    out = model(**{k: data[k] for k in keys})
    count = 64 + (100 if "depth" in modalities else 0)  # the measured points come first
    assert out["points"].shape == (3, count, 3) and torch.isfinite(out["points"]).all()
    loss = out["points"].square().mean() + (out["kl"].mean() if variational else 0)
    if variational:
        assert out["kl"].shape == (3,) and (out["kl"] >= 0).all()
        torch.nn.init.normal_(model.latent.posterior_head[-1].weight, std=0.1)  # zero at init: no gradient yet
        out = model(**{k: data[k] for k in keys})
        loss = out["points"].square().mean() + out["kl"].mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_a_missing_modality_is_ignored_whatever_its_tensor_holds():
    model = MultiModalAutoencoder(**SMALL).eval()
    a, b = batch(seed=1), batch(seed=2)
    for key, flag in (("image", "has_image"), ("partial_points", "has_depth")):
        first, second = dict(a), dict(a)
        first[flag] = second[flag] = torch.tensor([False, True, True])
        second[key] = b[key]
        with torch.no_grad():
            p1, p2 = model(**{k: first[k] for k in model.inputs}), model(**{k: second[k] for k in model.inputs})
        torch.testing.assert_close(p1["points"][0], p2["points"][0])  # item 0 does not see the swapped modality
        assert not torch.allclose(p1["points"][1:], p2["points"][1:])


def test_the_measured_points_are_kept_exactly_and_only_where_there_is_depth():
    model = MultiModalAutoencoder(**SMALL).eval()
    data = batch()
    data["has_depth"] = torch.tensor([True, False, True])
    with torch.no_grad():
        points = model(**{k: data[k] for k in model.inputs})["points"]
        decoded = MultiModalAutoencoder(**SMALL, keep_measured=False).eval()
        decoded.load_state_dict(model.state_dict())
        alone = decoded(**{k: data[k] for k in model.inputs})["points"]
    assert points.shape == (3, 164, 3) and alone.shape == (3, 64, 3)
    torch.testing.assert_close(points[[0, 2], :100], data["partial_points"][[0, 2]])
    torch.testing.assert_close(points[:, 100:], alone)
    assert set(map(tuple, points[1, :100].tolist())) <= set(map(tuple, alone[1].tolist()))  # no depth: no zeros


def test_the_completion_moves_with_the_measured_cloud():
    model = MultiModalAutoencoder(modalities=("depth",), **SMALL).eval()
    data = batch()
    shift = torch.tensor([0.5, -0.25, 1.0])
    with torch.no_grad():
        here = model(partial_points=data["partial_points"], has_depth=data["has_depth"])["points"]
        there = model(partial_points=data["partial_points"] + shift, has_depth=data["has_depth"])["points"]
    torch.testing.assert_close(there, here + shift, atol=1e-5, rtol=1e-5)


def test_the_vae_samples_k_shapes_around_its_mean():
    model = MultiModalVAE(**SMALL).eval()
    data = batch()
    inputs = {k: data[k] for k in model.inputs}
    samples = model.sample(4, generator=torch.Generator().manual_seed(0), **inputs)
    assert samples.shape == (3, 4, 64, 3) and not torch.allclose(samples[:, 0], samples[:, 1])
    assert not hasattr(MultiModalAutoencoder(**SMALL), "sample")  # the task samples only generative models


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modalities": ()}, "model.modalities"),
        ({"modalities": ("image", "lidar")}, "model.modalities"),
        ({"modalities": ("depth", "depth")}, "model.modalities"),
        ({"num_points": 0}, "num_points"),
        ({"prior_fraction": 1.5}, "model.prior_fraction"),
        ({"latent_dim": 0}, "latent_dim"),
    ],
)
def test_bad_settings_name_the_key(kwargs, match):
    model = MultiModalVAE if {"prior_fraction", "latent_dim"} & set(kwargs) else MultiModalAutoencoder
    with pytest.raises(ValueError, match=match):
        model(**{**SMALL, **kwargs})
