"""Building blocks of the image-conditioned VAEs: a PointNet shape encoder and a conditional Gaussian latent.

The latent follows the conditional VAE of Sohn, Lee and Yan (NeurIPS 2015): a learned prior ``p(z | image)``
used at test time and a posterior ``q(z | image, shape)`` used in training. The posterior is parameterised as a
residual on the prior (as in NVAE, Vahdat and Kautz 2020): its head predicts the change of mean and log-variance,
zero at initialisation, so training starts with ``q = p`` (KL = 0) and the KL term only has to pay for what the
shape adds to the image.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

LOGVAR_RANGE = (-10.0, 5.0)  # std from 0.007 to 12: keeps exp() finite whatever the heads output


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) per dimension of diagonal Gaussians (input shape)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).square()) / logvar_p.exp() - 1.0)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample ``mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``, differentiable w.r.t. ``mu`` and ``logvar``."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def hybrid_latent(z_posterior: torch.Tensor, mu_prior: torch.Tensor, prior_fraction: float) -> torch.Tensor:
    """Training latents of the hybrid objective (Sohn et al. 2015, eq. 10: CVAE + "GSNN" terms, as one batch):
    the first ``round(prior_fraction * B)`` rows take the prior mean, the test-time code, so the mean prediction
    is trained directly; the others take posterior samples. Batches are shuffled, so which rows does not matter."""
    m = round(float(prior_fraction) * z_posterior.shape[0])
    return z_posterior if m == 0 else torch.cat([mu_prior[:m], z_posterior[m:]])


def mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims[:-1]):
        layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(dims[-2], dims[-1]))


class PointNetEncoder(nn.Module):
    """Shape encoder: shared MLP on each point, max-pooled (Qi et al., CVPR 2017, without the transform nets).

    Input ``points (B, P, 3)``; the first ``num_points`` of them are used (the datamodule's surface samples are
    i.i.d., so a prefix is a uniform random subset), centred on their own mean, so the code describes the shape and
    not where the object is. Output ``(B, widths[-1])``.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), num_points: int = 512):
        super().__init__()
        if not widths or num_points < 1:
            raise ValueError(f"shape encoder needs widths and num_points >= 1, got {widths}, {num_points}")
        self.num_points = num_points
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            layers.append(nn.Linear(c, w))
            if i < len(widths) - 1:
                layers.append(nn.ReLU(inplace=True))
            c = w
        self.mlp = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        p = points[:, : self.num_points]
        return self.mlp(p - p.mean(1, keepdim=True)).amax(1)


class ConditionalLatent(nn.Module):
    """Prior ``p(z | h)`` and residual posterior ``q(z | h, s)``: diagonal Gaussians of ``latent_dim`` dimensions.

    ``h (B, feature_dim)`` is the image feature, ``s (B, shape_dim)`` the shape code.
    """

    def __init__(self, feature_dim: int, shape_dim: int, latent_dim: int, hidden_dim: int = 256):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.prior_head = mlp([feature_dim, hidden_dim, 2 * latent_dim])
        self.posterior_head = mlp([feature_dim + shape_dim, hidden_dim, 2 * latent_dim])
        with torch.no_grad():  # q = p at initialisation
            self.posterior_head[-1].weight.zero_()
            self.posterior_head[-1].bias.zero_()

    def prior(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(B, latent_dim)``."""
        mu, logvar = self.prior_head(h).chunk(2, dim=-1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def posterior(
        self, h: torch.Tensor, s: torch.Tensor, prior: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``q(z | h, s)`` given the prior's ``(mu, logvar)``."""
        d_mu, d_logvar = self.posterior_head(torch.cat([h, s], dim=-1)).chunk(2, dim=-1)
        return prior[0] + d_mu, (prior[1] + d_logvar).clamp(*LOGVAR_RANGE)
