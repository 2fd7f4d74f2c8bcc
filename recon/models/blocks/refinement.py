"""Full-resolution output of coarse dense predictions: learned convex upsampling and image-guided residual refinement.

Both keep edges and thin structures that bilinear upsampling of a 1/4-resolution map smears over 4 px.
"""

import torch
import torch.nn.functional as F
from torch import nn

from recon.models.blocks.conv import conv_norm_act

NEIGHBOURS = 9  # the 3x3 coarse neighbourhood a fine pixel is combined from


def convex_upsample(coarse: torch.Tensor, logits: torch.Tensor, factor: int) -> torch.Tensor:
    """Each fine pixel a convex combination of the 3x3 coarse neighbourhood of its cell (RAFT's upsampling).

    Args:
        coarse: (B, C, h, w) values (e.g. a disparity map, already in fine-pixel units).
        logits: (B, 9 * factor**2, h, w) unnormalised weights, ``[:, k * f**2 + i * f + j]`` for neighbour ``k``
            (row-major over the 3x3 window) of the fine pixel ``(f y + i, f x + j)`` of cell ``(y, x)``.
        factor: ``f``.
    Returns:
        (B, C, f h, f w). Borders replicate the edge cells, so a constant map stays exactly constant.
    """
    B, C, h, w = coarse.shape
    f = factor
    if logits.shape != (B, NEIGHBOURS * f * f, h, w):
        raise ValueError(f"logits must be {(B, NEIGHBOURS * f * f, h, w)} for coarse {tuple(coarse.shape)}")
    weights = logits.view(B, 1, NEIGHBOURS, f, f, h, w).softmax(dim=2)
    windows = F.unfold(F.pad(coarse, (1, 1, 1, 1), mode="replicate"), 3).view(B, C, NEIGHBOURS, 1, 1, h, w)
    fine = (weights * windows).sum(2)  # (B, C, f, f, h, w)
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(B, C, f * h, f * w)


class ConvexUpsampler(nn.Module):
    """Coarse map + the coarse features it came from -> the map at ``factor`` x the resolution (convex weights
    predicted from the features, scaled by 0.25 as RAFT does for a gentle start)."""

    def __init__(self, feature_channels: int, factor: int, hidden: int = 64):
        super().__init__()
        self.factor = factor
        self.mask = nn.Sequential(
            nn.Conv2d(feature_channels, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, NEIGHBOURS * factor * factor, 1),
        )

    def forward(self, coarse: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w), (B, F, h, w) -> (B, C, f h, f w)."""
        return convex_upsample(coarse, 0.25 * self.mask(features), self.factor)


class DisparityRefinement(nn.Module):
    """Image-guided residual refinement at full resolution (StereoNet-style): the left image and the disparity
    (divided by ``scale``, so the network sees the same range whatever the search range is), plus
    ``guidance_channels`` optional per-pixel cues, through dilated residual convolutions to a correction, returned as
    ``relu(disparity + scale * correction)``.

    ``forward(disparity (B, 1, H, W), image (B, 3, H, W) in [0, 1], scale: float, guidance (B, G, H, W) | None)
    -> (B, 1, H, W)``.
    """

    def __init__(
        self,
        channels: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 1),
        norm: str = "batch",
        guidance_channels: int = 0,
    ):
        super().__init__()
        self.guidance_channels = guidance_channels
        self.stem = conv_norm_act(4 + guidance_channels, channels, norm)
        self.blocks = nn.ModuleList([conv_norm_act(channels, channels, norm, dilation=d) for d in dilations])
        self.out = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, disparity: torch.Tensor, image: torch.Tensor, scale: float, guidance: torch.Tensor | None = None
    ) -> torch.Tensor:
        inputs = [disparity / scale, image * 2 - 1]
        if self.guidance_channels:
            if guidance is None or guidance.shape[1] != self.guidance_channels:
                got = None if guidance is None else tuple(guidance.shape)
                raise ValueError(f"guidance must have {self.guidance_channels} channels, got {got}")
            inputs.append(guidance)
        x = self.stem(torch.cat(inputs, dim=1))
        for block in self.blocks:
            x = x + block(x)
        return F.relu(disparity + scale * self.out(x))
