"""Image-conditioned VAE that reconstructs the object as a solid occupancy grid (3D-conv decoder).

Same conditional-VAE structure as :class:`~recon.models.point_vae.PointVAE` (image encoder, PointNet posterior,
learned prior, see :mod:`recon.models.blocks.conditional_latent`); the decoder maps ``(image feature, z)`` through
transposed 3D convolutions to occupancy logits on the camera-axis-aligned cube ``center + [-extent, extent]^3``
(grid convention of :mod:`recon.geometry.voxels`). The grid is placed at ``center``, the point the camera looks at
(the object's bounding-sphere centre, on the optical axis at the camera distance: a constant in the default data,
so it tells the model nothing a learned depth offset would not).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from recon.geometry.voxels import surface_points
from recon.models.blocks import (
    ConditionalLatent,
    ImageEncoder,
    PointNetEncoder,
    check_positive,
    gaussian_kl,
    hybrid_latent,
    reparameterize,
)

BASE = 4  # side of the first decoder grid; each transposed convolution doubles it


class VoxelVAE(nn.Module):
    """Conditional occupancy VAE.

    Batch keys: ``image`` (B, 3, H, W) and ``center`` (B, 3) camera frame (:attr:`inputs`); in training also
    ``points`` (B, P, 3) for the posterior (:attr:`train_inputs`). The loss needs ``occupancy`` (B, 1, R, R, R)
    (:attr:`targets`; ``data.occupancy_resolution`` = ``resolution``).

    ``forward`` returns ``occupancy_logits`` (B, 1, R, R, R); in training mode with ``points`` also ``kl`` (B,)
    (posterior samples decoded; the prior mean for ``prior_fraction`` of the batch, as in
    :class:`~recon.models.point_vae.PointVAE`, but 0 by default: trained on the prior mean, the grid becomes the
    blurry BCE-optimal average whose 0.5 level set is too small — IoU 0.33 instead of 0.46 in a short run); in eval
    mode (prior mean) also
    ``points`` (B, num_points, 3):
    samples on the 0.5 iso-surface of the predicted occupancy (marching cubes, not differentiable) so point metrics
    compare with the point-cloud models. ``resolution`` must be ``4 * 2**n``, n >= 1: the decoder starts at
    ``channels`` channels on a
    4^3 grid and doubles the grid ``n`` times with transposed convolutions (kernel 4, stride 2), halving the channels
    (down to 8); the last one gives the logits directly (no normalisation or activation at full resolution, where
    they would cost most of the step on a CPU).
    """

    problem = "single_view"
    inputs = ("image", "center")
    train_inputs = ("image", "center", "points")
    targets = ("occupancy",)

    def __init__(
        self,
        num_points: int = 1024,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        feature_dim: int = 512,
        hidden_dim: int = 512,
        latent_dim: int = 32,
        resolution: int = 32,
        extent: float = 1.0,
        channels: int = 64,
        pool: int = 2,
        shape_widths: tuple[int, ...] = (32, 64, 128),
        shape_points: int = 512,
        latent_hidden_dim: int = 256,
        prior_fraction: float = 0.0,
        occupancy_prior: float = 0.1,
        image_aligned: bool = True,
    ):
        super().__init__()
        ups = math.log2(resolution / BASE) if resolution >= 2 * BASE else 0
        if ups < 1 or ups != int(ups):
            raise ValueError(f"resolution must be 4 * 2**n with n >= 1 (8, 16, 32, 64...), got {resolution}")
        check_positive(
            num_points=num_points, feature_dim=feature_dim, hidden_dim=hidden_dim, channels=channels, extent=extent
        )
        if not 0 < occupancy_prior < 1:
            raise ValueError(f"occupancy_prior must be in (0, 1), got {occupancy_prior}")
        if not 0 <= prior_fraction <= 1:
            raise ValueError(f"prior_fraction must be in [0, 1], got {prior_fraction}")
        self.num_points, self.latent_dim, self.prior_fraction = num_points, latent_dim, prior_fraction
        self.resolution, self.extent, self.channels = resolution, float(extent), channels
        self.encoder = ImageEncoder(tuple(widths), feature_dim, pool)
        self.shape_encoder = PointNetEncoder(tuple(shape_widths), shape_points)
        self.latent = ConditionalLatent(feature_dim, self.shape_encoder.out_dim, latent_dim, latent_hidden_dim)
        self.fc = nn.Sequential(
            nn.Linear(feature_dim + latent_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, channels * BASE**3),
            nn.ReLU(inplace=True),
        )
        # image-aligned path: each cell of the encoder's feature map (pooled to 4 x 4) predicts the features of the
        # 4 grid cells behind it along the optical axis
        self.lift = nn.Conv2d(widths[-1], channels * BASE, 1) if image_aligned else None
        layers: list[nn.Module] = []
        c = channels
        for _ in range(int(ups) - 1):
            c_out = max(c // 2, 8)
            layers += [
                nn.ConvTranspose3d(c, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
            c = c_out
        layers.append(nn.ConvTranspose3d(c, 1, 4, stride=2, padding=1))
        self.deconv = nn.Sequential(*layers)
        with torch.no_grad():  # start at the typical fraction of occupied voxels, not at p = 0.5 everywhere
            self.deconv[-1].bias.fill_(math.log(occupancy_prior / (1 - occupancy_prior)))

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Global feature ``h (B, feature_dim)`` and image-aligned grid features ``(B, channels, 4, 4, 4)``
        (or None)."""
        fmap = self.encoder.convs(image)
        h = self.encoder.head(fmap)
        if self.lift is None:
            return h, None
        cells = self.lift(F.adaptive_avg_pool2d(fmap, BASE))  # (B, C * 4, v, u)
        # (B, C, z, y, x) -> grid order (B, C, x, y, z): image rows are camera y, columns camera x
        return h, cells.view(-1, self.channels, BASE, BASE, BASE).permute(0, 1, 4, 3, 2)

    def decode(self, h: torch.Tensor, z: torch.Tensor, aligned: torch.Tensor | None = None) -> torch.Tensor:
        """``h (B, feature_dim)``, ``z (B, latent_dim)``, aligned features ``(B, channels, 4, 4, 4)`` or None
        -> occupancy logits ``(B, 1, R, R, R)``."""
        x = self.fc(torch.cat([h, z], dim=-1)).view(-1, self.channels, BASE, BASE, BASE)
        return self.deconv(x if aligned is None else x + aligned)

    def to_points(self, logits: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """Surface samples of predicted grids ``(B, 1, R, R, R)`` placed at ``center (B, 3)``: ``(B, N, 3)``."""
        return surface_points(logits.detach().sigmoid(), center, self.extent, self.num_points)

    def forward(
        self, image: torch.Tensor, center: torch.Tensor, points: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        h, aligned = self.encode(image)
        prior = self.latent.prior(h)
        if points is None or not self.training:
            logits = self.decode(h, prior[0], aligned)
            return {"occupancy_logits": logits, "points": self.to_points(logits, center)}
        mu_q, logvar_q = self.latent.posterior(h, self.shape_encoder(points), prior)
        z = hybrid_latent(reparameterize(mu_q, logvar_q), prior[0], self.prior_fraction)
        return {"occupancy_logits": self.decode(h, z, aligned), "kl": gaussian_kl(mu_q, logvar_q, *prior).sum(-1)}

    @torch.no_grad()
    def sample(
        self, image: torch.Tensor, center: torch.Tensor, k: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``k`` shapes per image from the prior, as surface points: ``(B, k, N, 3)``."""
        B = image.shape[0]
        h, aligned = self.encode(image)
        mu, logvar = self.latent.prior(h)
        z = reparameterize(mu[:, None].expand(-1, k, -1), logvar[:, None].expand(-1, k, -1), generator)
        if aligned is not None:
            aligned = aligned.repeat_interleave(k, dim=0)
        logits = self.decode(h.repeat_interleave(k, dim=0), z.reshape(B * k, -1), aligned)
        centers = center[:, None].expand(-1, k, -1).reshape(B * k, 3)
        return self.to_points(logits, centers).view(B, k, self.num_points, 3)

    @torch.no_grad()
    def kl_per_dim(self, image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """KL(q(z | image, points) || p(z | image)) per latent dimension: ``(B, latent_dim)``."""
        h = self.encode(image)[0]
        prior = self.latent.prior(h)
        return gaussian_kl(*self.latent.posterior(h, self.shape_encoder(points), prior), *prior)
