"""Learned relative pose: a siamese CNN, a global correlation volume, and a regression head to a rotation in the
continuous 6D parametrisation and a translation direction (the relative-pose-regression design of e.g. Melekhov et
al., "Relative Camera Pose Estimation Using CNNs", 2017, with the 6D rotation of Zhou et al., CVPR 2019).

1. Both images are resized to ``input_size`` (their intrinsics with them) and get two extra channels, the normalised
   camera coordinates ``((u - cx) / fx, (v - cy) / fy)`` of each pixel, so the network sees the field of view.
2. A shared encoder (stride 8) gives features ``f_0, f_1`` (C, h, w).
3. Correlation: for every position of view 0, the scaled dot products with all ``h w`` positions of view 1, as
   ``h w`` channels on view 0's grid, concatenated with ``f_0``.
4. A strided CNN and global average pooling give a code; linear heads give the 6D rotation (added to the identity's)
   and the translation, normalised to a direction.

Output: ``R (B, 3, 3)``, ``t (B, 3)`` unit (view 0's frame to view 1's, ``x_1 = R x_0 + t``), ``valid`` and
``translation_defined`` (B,) all true (the network always answers).
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
        input_size: (H, W) the images are resized to (the correlation's channel count depends on it).
        widths: encoder widths, one stride-2 stage each (len 3 -> stride 8).
        head_widths: widths of the strided CNN on the correlation volume.
        norm: normalisation of the conv blocks.
    """

    problem = "pose"
    inputs = ("images", "K")

    def __init__(
        self,
        input_size: tuple[int, int] = (96, 128),
        widths: tuple[int, ...] = (32, 64, 128),
        head_widths: tuple[int, ...] = (256, 256, 256),
        norm: str = "batch",
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"model.norm must be one of {NORMS}, got {norm!r}")
        H, W = (int(x) for x in input_size)
        stride = 2 ** len(widths)
        if not widths or H % stride or W % stride or min(H, W) < stride:
            raise ValueError(
                f"model.input_size must be positive multiples of {stride} (the encoder's stride), got {input_size}"
            )
        self.input_size, self.grid = (H, W), (H // stride, W // stride)
        layers, c_in = [], 5
        for width in widths:
            layers += [conv_norm_act(c_in, width, norm, stride=2), conv_norm_act(width, width, norm)]
            c_in = width
        self.encoder = nn.Sequential(*layers)
        positions = (H // stride) * (W // stride)
        head, c_in = [], positions + widths[-1]
        for width in head_widths:
            head.append(conv_norm_act(c_in, width, norm, stride=2))
            c_in = width
        self.head = nn.Sequential(*head)
        self.rotation = nn.Linear(c_in, 6)
        self.translation = nn.Linear(c_in, 3)
        nn.init.zeros_(self.rotation.weight)
        nn.init.zeros_(self.rotation.bias)
        self.register_buffer("identity_6d", torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), persistent=False)

    def prepare(self, images: Tensor, K: Tensor) -> Tensor:
        """``(B, 2, 3, H, W)``, ``(B, 2, 3, 3)`` -> ``(2B, 5, h, w)`` at ``input_size``: RGB in [-1, 1] and the
        normalised camera coordinates of every pixel (centre)."""
        B, V, _, H, W = images.shape
        h, w = self.input_size
        x = images.reshape(B * V, 3, H, W) * 2 - 1
        if images.shape[-2:] != self.input_size:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        K = K.reshape(B * V, 3, 3).to(x.dtype)
        sx, sy = w / W, h / H
        u = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) / sx - 0.5  # pixel centres in the input image
        v = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / sy - 0.5
        rays_x = (u[None, None, :] - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None]
        rays_y = (v[None, :, None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None]
        rays = torch.stack([rays_x.expand(-1, h, -1), rays_y.expand(-1, -1, w)], dim=1)
        return torch.cat([x, rays], dim=1)

    def forward(self, images: Tensor, K: Tensor) -> dict[str, Tensor]:
        if images.ndim != 5 or images.shape[1] != 2 or K.shape[-3:] != (2, 3, 3):
            raise ValueError(
                f"images must be (B, 2, 3, H, W) and K (B, 2, 3, 3), got {tuple(images.shape)}, {tuple(K.shape)}"
            )
        B = len(images)
        features = self.encoder(self.prepare(images, K)).view(B, 2, -1, *self.grid)
        f0, f1 = features[:, 0], features[:, 1]
        C = f0.shape[1]
        correlation = torch.einsum("bchw,bcn->bnhw", f0, f1.flatten(2)) / C**0.5
        code = self.head(torch.cat([correlation, f0], dim=1)).mean((2, 3))
        R = rotation_6d_to_matrix(self.rotation(code) + self.identity_6d)
        t = F.normalize(self.translation(code), dim=-1)
        ones = torch.ones(B, dtype=torch.bool, device=images.device)
        return {"R": R, "t": t, "valid": ones, "translation_defined": ones}
