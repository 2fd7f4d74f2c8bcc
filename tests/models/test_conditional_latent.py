"""Conditional-VAE building blocks: KL of diagonal Gaussians, reparameterisation, residual posterior, PointNet."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from recon.models.blocks import (
    ConditionalLatent,
    PointNetEncoder,
    gaussian_kl,
    hybrid_latent,
    reparameterize,
)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu_q, mu_p = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    lv_q, lv_p = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    expected = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp()))
    assert torch.allclose(gaussian_kl(mu_q, lv_q, mu_p, lv_p), expected, atol=1e-5)
    assert torch.allclose(gaussian_kl(mu_p, lv_p, mu_p, lv_p), torch.zeros(4, 6), atol=1e-6)


def test_kl_gradients():
    g = torch.Generator().manual_seed(1)
    args = [torch.randn(3, 2, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    assert torch.autograd.gradcheck(gaussian_kl, args)


def test_reparameterisation_statistics_and_gradient():
    mu, logvar = torch.tensor([1.5, -2.0]), torch.tensor([0.0, math.log(0.25)])
    z = reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2), torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), mu, atol=0.01)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 0.5]), atol=0.01)
    # dz/dmu = 1 and dz/dlogvar = eps * std / 2 for the same noise
    mu_r, lv_r = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    z = reparameterize(mu_r, lv_r, torch.Generator().manual_seed(3))
    z.sum().backward()
    eps = (z.detach() - mu) / (0.5 * logvar).exp()
    assert torch.allclose(mu_r.grad, torch.ones(2))
    assert torch.allclose(lv_r.grad, 0.5 * eps * (0.5 * logvar).exp(), atol=1e-6)
    same = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(same, z.detach()), "a seeded generator reproduces the draw"


def test_posterior_starts_equal_to_the_prior_and_is_a_residual():
    torch.manual_seed(0)
    latent = ConditionalLatent(feature_dim=8, shape_dim=5, latent_dim=3)
    h, s = torch.randn(4, 8), torch.randn(4, 5)
    prior = latent.prior(h)
    post = latent.posterior(h, s, prior)
    assert torch.equal(post[0], prior[0]) and torch.equal(post[1], prior[1])
    torch.nn.init.normal_(latent.posterior_head[-1].weight)
    moved = latent.posterior(h, s, prior)
    assert not torch.allclose(moved[0], prior[0])
    assert ((moved[1] >= -10) & (moved[1] <= 5)).all()


def test_pointnet_ignores_order_and_position_and_uses_the_prefix():
    torch.manual_seed(0)
    enc = PointNetEncoder((16, 32), num_points=50)
    pts = torch.randn(2, 80, 3)
    code = enc(pts)
    assert code.shape == (2, 32) and enc.out_dim == 32
    perm = torch.cat([torch.randperm(50), torch.arange(50, 80)])
    assert torch.allclose(enc(pts[:, perm]), code, atol=1e-6)
    assert torch.allclose(enc(pts + torch.tensor([0.0, 0.0, 3.0])), code, atol=1e-5)
    assert torch.allclose(enc(torch.cat([pts[:, :50], torch.randn(2, 30, 3)], 1)), code), "only the first 50 count"
    with pytest.raises(ValueError):
        PointNetEncoder((), 10)


def test_hybrid_latent_takes_the_prior_mean_for_the_first_rows():
    z, mu = torch.randn(6, 3), torch.randn(6, 3)
    mixed = hybrid_latent(z, mu, 0.5)
    assert torch.equal(mixed[:3], mu[:3]) and torch.equal(mixed[3:], z[3:])
    assert torch.equal(hybrid_latent(z, mu, 0.0), z) and torch.equal(hybrid_latent(z, mu, 1.0), mu)
