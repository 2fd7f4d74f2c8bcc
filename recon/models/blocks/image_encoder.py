"""Strided CNN encoder of a single image into one global feature vector."""

import torch
from torch import nn

from recon.models.blocks.conv import conv_norm_act


class ImageEncoder(nn.Module):
    """Image (B, 3, H, W) -> global feature (B, feature_dim).

    ``convs``: per width, a stride-2 and a stride-1 :func:`conv_norm_act`, giving a (B, widths[-1], H / 2^n, W / 2^n)
    feature map; ``head``: that map average-pooled to ``pool x pool``, flattened, a linear layer and ReLU.
    """

    def __init__(
        self, widths: tuple[int, ...] = (32, 64, 128, 256), feature_dim: int = 512, pool: int = 2, norm: str = "batch"
    ):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [conv_norm_act(c, w, norm, stride=2), conv_norm_act(w, w, norm)]
            c = w
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(pool * pool * c, feature_dim), nn.ReLU(inplace=True)
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # channels-last activations: oneDNN's convolutions and batch norm run ~10% faster on them (same values)
        return self.head(self.convs(image.contiguous(memory_format=torch.channels_last)))
