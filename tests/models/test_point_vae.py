"""PointVAE: shapes, train/eval behaviour, sampling and KL."""

import pytest
import torch

from recon.models.point_vae import PointVAE

TINY = dict(
    num_points=64,
    widths=(8, 16),
    feature_dim=32,
    hidden_dim=64,
    latent_dim=4,
    shape_points=100,
    shape_widths=(16, 32),
    latent_hidden_dim=32,
    init_depth=3.0,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return PointVAE(**TINY)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 32, 32, generator=g), torch.randn(3, 200, 3, generator=g) * 0.5 + torch.tensor([0, 0, 3.0])


def test_training_forward_uses_the_posterior_and_returns_kl(model, batch):
    image, points = batch
    model.train()
    torch.nn.init.normal_(model.latent.posterior_head[-1].weight, std=0.1)  # q != p
    out = model(image, points)
    assert set(out) == {"points", "kl"}
    assert out["points"].shape == (3, 64, 3) and out["kl"].shape == (3,)
    assert (out["kl"] > 0).all()
    (out["points"].sum() + out["kl"].sum()).backward()
    assert model.shape_encoder.mlp[0].weight.grad.abs().sum() > 0
    assert model.latent.prior_head[0].weight.grad.abs().sum() > 0


def test_eval_predicts_from_the_prior_mean_whatever_the_points(model, batch):
    image, points = batch
    model.eval()
    a = model(image)
    b = model(image, points)
    assert set(a) == {"points"} and torch.equal(a["points"], b["points"])
    h = model.encoder(image)
    assert torch.allclose(a["points"], model.decode(h, model.latent.prior(h)[0]))


def test_starts_as_a_sphere_around_the_initial_depth(model, batch):
    model.eval()
    with torch.no_grad():
        p = model(batch[0])["points"]
    centre = p.mean(1)
    assert torch.allclose(centre[:, 2], torch.full((3,), 3.0), atol=0.3)
    r = (p - centre[:, None]).norm(dim=-1)
    assert 0.3 < r.mean() < 0.7


def test_samples_differ_are_reproducible_and_centred_on_the_prior(model, batch):
    model.eval()
    image = batch[0]
    s = model.sample(image, 6, torch.Generator().manual_seed(0))
    assert s.shape == (3, 6, 64, 3)
    assert not torch.allclose(s[:, 0], s[:, 1])
    assert torch.equal(s, model.sample(image, 6, torch.Generator().manual_seed(0)))
    # zero prior variance: every sample is the mean prediction
    model.latent.prior_head[-1].bias.data[TINY["latent_dim"] :] = -1e4
    model.latent.prior_head[-1].weight.data[TINY["latent_dim"] :] = 0
    s = model.sample(image, 2)
    assert torch.allclose(s[:, 0], model(image)["points"], atol=1e-3)


def test_kl_per_dim_sums_to_the_training_kl(model, batch):
    image, points = batch
    torch.nn.init.normal_(model.latent.posterior_head[-1].weight, std=0.1)
    model.eval()  # batch-norm statistics fixed, so both paths see the same features
    per_dim = model.kl_per_dim(image, points)
    assert per_dim.shape == (3, TINY["latent_dim"]) and (per_dim >= 0).all()
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    assert torch.allclose(model(image, points)["kl"], per_dim.sum(-1), atol=1e-5)


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        PointVAE(num_points=0)
    with pytest.raises(ValueError, match="latent_dim"):
        PointVAE(latent_dim=0)
