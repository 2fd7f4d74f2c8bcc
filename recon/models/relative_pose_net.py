"""Learned relative pose: a siamese CNN, soft correspondences from a global correlation volume, and a network on
those correspondences that regresses a rotation in the continuous 6D parametrisation and a translation direction
(correlation-based relative pose regression, e.g. Melekhov et al., "Relative Camera Pose Estimation Using CNNs",
2017; soft-argmax matching as in LoFTR's coarse stage; the 6D rotation of Zhou et al., CVPR 2019).

1. Both images are resized to ``input_size`` (their intrinsics with them) and get two extra channels, the normalised
   camera coordinates ``((u - cx) / fx, (v - cy) / fy)`` of each pixel, so the network sees the field of view.
2. A shared encoder (stride 8) gives unit-length features ``f_0, f_1`` (C, h, w).
3. Soft correspondences: for every cell of view 0, a softmax over its cosine similarities with all ``h w`` cells of
   view 1 (temperature ``temperature``) gives the expected camera coordinates of its match in view 1 and the
   match's peak probability.
4. Per cell of view 0: (its camera coordinates, its match's, the peak probability) -> a shared MLP (PointNet); max
   and mean pooling give a code; linear heads give the 6D rotation (added to the identity's) and the translation,
   normalised to a direction. The pose is thus regressed from correspondences in camera coordinates, the quantities
   the epipolar constraint relates.

Output: ``R (B, 3, 3)``, ``t (B, 3)`` unit (view 0's frame to view 1's, ``x_1 = R x_0 + t``), ``valid`` and
``translation_defined`` (B,) all true (the network always answers), and ``match_logits (B, h w, h w)`` (row-major
cells of the stride-8 grid; the pose task supervises them with the true correspondences where the data has depth).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.geometry.poses import rotation_6d_to_matrix
from recon.models.blocks import NORMS, conv_norm_act


class RelativePoseNet(nn.Module):
    """Image pair -> relative pose (module docstring).

    Args:
        input_size: (H, W) the images are resized to.
        widths: encoder widths, one stride-2 stage each (len 3 -> stride 8).
        head_widths: widths of the MLP on the correspondences.
        norm: normalisation of the encoder's conv blocks.
        temperature: softmax temperature of the cosine similarities.
    """

    problem = "pose"
    inputs = ("images", "K")

    def __init__(
        self,
        input_size: tuple[int, int] = (48, 64),
        widths: tuple[int, ...] = (32, 64, 128),
        head_widths: tuple[int, ...] = (128, 256, 512),
        norm: str = "batch",
        temperature: float = 0.1,
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"model.norm must be one of {NORMS}, got {norm!r}")
        if not temperature > 0:
            raise ValueError(f"model.temperature must be positive, got {temperature}")
        H, W = (int(x) for x in input_size)
        stride = 2 ** len(widths)
        if not widths or H % stride or W % stride or min(H, W) < stride:
            raise ValueError(
                f"model.input_size must be positive multiples of {stride} (the encoder's stride), got {input_size}"
            )
        self.input_size, self.grid, self.stride = (H, W), (H // stride, W // stride), stride
        self.temperature = float(temperature)
        layers, c_in = [], 5
        for width in widths:
            layers += [conv_norm_act(c_in, width, norm, stride=2), conv_norm_act(width, width, norm)]
            c_in = width
        self.encoder = nn.Sequential(*layers)
        head, c_in = [], 5
        for width in head_widths:
            head += [nn.Linear(c_in, width), nn.ReLU(inplace=True)]
            c_in = width
        self.head = nn.Sequential(*head)
        self.rotation = nn.Linear(2 * c_in, 6)
        self.translation = nn.Linear(2 * c_in, 3)
        nn.init.zeros_(self.rotation.weight)
        nn.init.zeros_(self.rotation.bias)
        self.register_buffer("identity_6d", torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), persistent=False)

    def rays(self, K: Tensor, size: tuple[int, int], H: int, W: int) -> Tensor:
        """Normalised camera coordinates ``(N, 2, h, w)`` of the centres of a ``size`` grid laid over ``H x W``
        input images with intrinsics ``K (N, 3, 3)``."""
        h, w = size
        u = (torch.arange(w, device=K.device, dtype=K.dtype) + 0.5) * (W / w) - 0.5
        v = (torch.arange(h, device=K.device, dtype=K.dtype) + 0.5) * (H / h) - 0.5
        rays_x = (u[None, None, :] - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None]
        rays_y = (v[None, :, None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None]
        return torch.stack([rays_x.expand(-1, h, -1), rays_y.expand(-1, -1, w)], dim=1)

    def prepare(self, images: Tensor, K: Tensor) -> Tensor:
        """``(B, 2, 3, H, W)``, ``(B, 2, 3, 3)`` -> ``(2B, 5, h, w)`` at ``input_size``: RGB in [-1, 1] and the
        normalised camera coordinates of every pixel (centre)."""
        B, V, _, H, W = images.shape
        x = images.reshape(B * V, 3, H, W) * 2 - 1
        if images.shape[-2:] != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        return torch.cat([x, self.rays(K.reshape(B * V, 3, 3).to(x.dtype), self.input_size, H, W)], dim=1)

    def forward(self, images: Tensor, K: Tensor) -> dict[str, Tensor]:
        if images.ndim != 5 or images.shape[1] != 2 or K.shape[-3:] != (2, 3, 3):
            raise ValueError(
                f"images must be (B, 2, 3, H, W) and K (B, 2, 3, 3), got {tuple(images.shape)}, {tuple(K.shape)}"
            )
        B, H, W = len(images), *images.shape[-2:]
        features = F.normalize(self.encoder(self.prepare(images, K)), dim=1).view(B, 2, -1, *self.grid)
        f0, f1 = features[:, 0].flatten(2), features[:, 1].flatten(2)  # (B, C, n)
        logits = torch.einsum("bcn,bcm->bnm", f0, f1) / self.temperature  # (B, n0, n1)
        match = torch.softmax(logits, dim=-1)
        rays = self.rays(K.reshape(B * 2, 3, 3).to(f0.dtype), self.grid, H, W).view(B, 2, 2, -1)
        rays0, rays1 = rays[:, 0].transpose(1, 2), rays[:, 1].transpose(1, 2)  # (B, n, 2)
        matched = match @ rays1
        correspondences = torch.cat([rays0, matched, match.amax(-1, keepdim=True)], dim=-1)  # (B, n, 5)
        x = self.head(correspondences)
        code = torch.cat([x.amax(1), x.mean(1)], dim=-1)
        R = rotation_6d_to_matrix(self.rotation(code) + self.identity_6d)
        t = F.normalize(self.translation(code), dim=-1)
        ones = torch.ones(B, dtype=torch.bool, device=images.device)
        return {"R": R, "t": t, "valid": ones, "translation_defined": ones, "match_logits": logits}
