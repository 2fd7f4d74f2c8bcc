"""Multi-modal autoencoder: an image encoder and a point encoder fused into one code, decoded to the complete shape.

The image (:class:`~recon.models.blocks.image_encoder.ImageEncoder`) gives appearance and silhouette; the partial
cloud back-projected from the depth measurement (:class:`~recon.models.blocks.conditional_latent.PointNetEncoder`,
centred on its own mean) gives the visible geometry at metric scale. Each code is multiplied by its modality's
presence flag (``has_image``, ``has_depth``: 0 where modality dropout or a sensor without returns removed it), the
flags are appended, and an MLP fuses them into one ``feature_dim`` code that the PSGN-style fully connected decoder
(:func:`~recon.models.blocks.point_set.point_set_decoder`) turns into ``num_points`` points.

Where the object is: with depth the decoder works relative to the partial cloud's centroid (the depth places the
object), otherwise relative to ``(0, 0, init_depth)`` like the single-view models. ``modalities`` chooses the
encoders, and with them the batch keys the model reads (:attr:`inputs`): the modality ablation of a study trains
one model per choice.

:class:`MultiModalVAE` adds the conditional latent of :class:`~recon.models.point_vae.PointVAE` (prior from the fused
code, residual posterior that also sees the ground-truth shape in training, hybrid objective): the VAE variant.
"""

from __future__ import annotations

import torch
from torch import nn

from recon.models.blocks import (
    ConditionalLatent,
    ImageEncoder,
    PointNetEncoder,
    check_positive,
    gaussian_kl,
    hybrid_latent,
    point_set_decoder,
    reparameterize,
)
from recon.models.blocks.modalities import MODALITIES, check_modalities, measured_then_decoded


class MultiModalAutoencoder(nn.Module):
    """Image + partial cloud -> complete point cloud (module docstring).

    ``forward(**batch)`` with the keys of :attr:`inputs` -- ``image (B, 3, H, W)`` and ``has_image (B,)`` for the
    image, ``partial_points (B, K, 3)`` and ``has_depth (B,)`` for the depth -- returns ``{"points": (B, K + N, 3)}``
    in the camera frame (``(B, N, 3)`` without depth or ``keep_measured``).

    Args:
        modalities: a non-empty subset of ``("image", "depth")``.
        num_points: N.
        widths, pool, norm: the image encoder's.
        point_widths, partial_points: the point encoder's widths and how many of the partial points it reads.
        feature_dim: width of each modality's code and of the fused code.
        hidden_dim: the decoder's hidden width.
        init_depth: the object depth the decoder starts from without depth.
        keep_measured: with depth, return the measured points followed by the decoded ones (``K + N`` points): the
            completion keeps what the sensor saw exactly (as the partial-input baselines do) and the decoder learns
            the rest.
        latent_dim: extra decoder inputs (a subclass's latent code; 0 here).
    """

    problem = "multi_modal"

    def __init__(
        self,
        modalities: tuple[str, ...] = MODALITIES,
        num_points: int = 1024,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        pool: int = 2,
        norm: str = "batch",
        point_widths: tuple[int, ...] = (64, 128, 256),
        partial_points: int = 512,
        feature_dim: int = 256,
        hidden_dim: int = 1024,
        init_depth: float = 3.2,
        keep_measured: bool = True,
        latent_dim: int = 0,
    ):
        super().__init__()
        modalities = check_modalities(modalities)
        check_positive(num_points=num_points, feature_dim=feature_dim, hidden_dim=hidden_dim)
        self.modalities, self.num_points, self.feature_dim = modalities, num_points, feature_dim
        self.keep_measured = bool(keep_measured) and "depth" in modalities
        keys: list[str] = []
        if "image" in modalities:
            self.image_encoder = ImageEncoder(tuple(widths), feature_dim, pool, norm)
            keys += ["image", "has_image"]
        if "depth" in modalities:
            self.point_encoder = PointNetEncoder(tuple(point_widths), partial_points)
            self.point_head = nn.Sequential(nn.Linear(self.point_encoder.out_dim, feature_dim), nn.ReLU(inplace=True))
            keys += ["partial_points", "has_depth"]
        self.inputs = tuple(keys)
        self.fuse = nn.Sequential(
            nn.Linear(len(modalities) * (feature_dim + 1), feature_dim),
            nn.ReLU(inplace=True),
            nn.Linear(feature_dim, feature_dim),
            nn.ReLU(inplace=True),
        )
        self.decoder = point_set_decoder(feature_dim + latent_dim, hidden_dim, num_points)
        self.register_buffer("default_anchor", torch.tensor([0.0, 0.0, float(init_depth)]), persistent=False)

    def encode(self, **batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused code ``(B, feature_dim)`` and the anchor ``(B, 3)`` the decoded points are relative to."""
        codes = []
        anchor = None
        if "image" in self.modalities:
            present = batch["has_image"].to(batch["image"].dtype)[:, None]
            codes += [self.image_encoder(batch["image"]) * present, present]
        if "depth" in self.modalities:
            partial = batch["partial_points"]
            present = batch["has_depth"].to(partial.dtype)[:, None]
            codes += [self.point_head(self.point_encoder(partial)) * present, present]
            anchor = torch.where(present > 0, partial.mean(1), self.default_anchor)
        if anchor is None:
            anchor = self.default_anchor.expand(len(codes[0]), 3)
        return self.fuse(torch.cat(codes, dim=-1)), anchor

    def decode(self, code: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        """``(..., decoder input)``, ``(..., 3)`` -> ``(..., N, 3)``."""
        out = self.decoder(code)
        return out.view(*out.shape[:-1], self.num_points, 3) + anchor[..., None, :]

    def with_measured(self, decoded: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``keep_measured``: :func:`~recon.models.blocks.modalities.measured_then_decoded`; otherwise ``decoded``."""
        if not self.keep_measured:
            return decoded
        return measured_then_decoded(decoded, batch["partial_points"], batch["has_depth"])

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"points": self.with_measured(self.decode(*self.encode(**batch)), batch)}


class MultiModalVAE(MultiModalAutoencoder):
    """:class:`MultiModalAutoencoder` with the conditional latent of :class:`~recon.models.point_vae.PointVAE`: the
    prior ``p(z | fused code)``, a residual posterior that also sees the ground-truth ``points`` (relative to the
    anchor) in training, the hybrid objective (``prior_fraction`` of a batch decoded from the prior mean), and
    :meth:`sample`. ``forward`` in training with ``points`` also returns ``"kl"`` (B,).

    Args (beyond the autoencoder's): ``latent_dim``, ``prior_fraction``, ``shape_widths``, ``shape_points``,
    ``latent_hidden_dim`` as in :class:`~recon.models.point_vae.PointVAE`.
    """

    def __init__(
        self,
        *args,
        latent_dim: int = 32,
        prior_fraction: float = 0.5,
        shape_widths: tuple[int, ...] = (32, 64, 128),
        shape_points: int = 512,
        latent_hidden_dim: int = 256,
        **kwargs,
    ):
        if not 0 <= prior_fraction <= 1:
            raise ValueError(f"model.prior_fraction must be in [0, 1], got {prior_fraction}")
        check_positive(latent_dim=latent_dim)
        super().__init__(*args, latent_dim=latent_dim, **kwargs)
        self.latent_dim, self.prior_fraction = latent_dim, float(prior_fraction)
        self.train_inputs = (*self.inputs, "points")
        self.shape_encoder = PointNetEncoder(tuple(shape_widths), shape_points)
        self.latent = ConditionalLatent(self.feature_dim, self.shape_encoder.out_dim, latent_dim, latent_hidden_dim)

    def forward(self, points: torch.Tensor | None = None, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        h, anchor = self.encode(**batch)
        prior = self.latent.prior(h)
        if points is None or not self.training:
            return {"points": self.with_measured(self.decode(torch.cat([h, prior[0]], -1), anchor), batch)}
        mu_q, logvar_q = self.latent.posterior(h, self.shape_encoder(points - anchor[:, None]), prior)
        z = hybrid_latent(reparameterize(mu_q, logvar_q), prior[0], self.prior_fraction)
        decoded = self.with_measured(self.decode(torch.cat([h, z], -1), anchor), batch)
        return {"points": decoded, "kl": gaussian_kl(mu_q, logvar_q, *prior).sum(-1)}

    @torch.no_grad()
    def sample(self, k: int, generator: torch.Generator | None = None, **batch: torch.Tensor) -> torch.Tensor:
        """``k`` shapes per item from the prior: ``(B, k, N, 3)``."""
        h, anchor = self.encode(**batch)
        mu, logvar = self.latent.prior(h)
        z = reparameterize(mu[:, None].expand(-1, k, -1), logvar[:, None].expand(-1, k, -1), generator)
        return self.decode(torch.cat([h[:, None].expand(-1, k, -1), z], -1), anchor[:, None])
