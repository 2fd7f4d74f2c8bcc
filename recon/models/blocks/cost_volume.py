"""3D aggregation of a matching-cost volume and disparity / depth-index regression from it.

Volumes are stored ``(B, C, h, w, D)``, candidates (disparities or depth hypotheses) LAST: 3x3x3 kernels do not care
about the axis order, and PyTorch's fast CPU 3D convolution applies for much smaller volumes in this layout (see
:mod:`recon.models.gwc_stereo`).
"""

import torch
import torch.nn.functional as F
from torch import nn

from recon.models.blocks.conv import conv_norm_act, norm_layer


class Hourglass(nn.Module):
    """3D encoder-decoder: (B, C, h, w, D) -> (B, C, h, w, D), any sizes.

    Stride-2 3D convolutions to 1/2 and 1/4 of the volume (2C and 4C channels), transposed convolutions back, and
    1x1x1 skip connections added at 1/2 and full size.
    """

    def __init__(self, channels: int, norm: str):
        super().__init__()
        c = channels
        self.down1 = nn.Sequential(
            conv_norm_act(c, 2 * c, norm, dims=3, stride=2), conv_norm_act(2 * c, 2 * c, norm, dims=3)
        )
        self.down2 = nn.Sequential(
            conv_norm_act(2 * c, 4 * c, norm, dims=3, stride=2), conv_norm_act(4 * c, 4 * c, norm, dims=3)
        )
        self.up2 = nn.ConvTranspose3d(4 * c, 2 * c, 3, stride=2, padding=1, bias=norm == "none")
        self.up2_norm = norm_layer(norm, 2 * c, 3)
        self.up1 = nn.ConvTranspose3d(2 * c, c, 3, stride=2, padding=1, bias=norm == "none")
        self.up1_norm = norm_layer(norm, c, 3)
        self.skip2 = nn.Sequential(nn.Conv3d(2 * c, 2 * c, 1, bias=norm == "none"), norm_layer(norm, 2 * c, 3))
        self.skip1 = nn.Sequential(nn.Conv3d(c, c, 1, bias=norm == "none"), norm_layer(norm, c, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.down1(x)
        quarter = self.down2(half)
        half = F.relu(self.up2_norm(self.up2(quarter, output_size=half.shape[2:])) + self.skip2(half))
        return F.relu(self.up1_norm(self.up1(half, output_size=x.shape[2:])) + self.skip1(x))


class CostHead(nn.Module):
    """Aggregated volume (B, C, h, w, D) -> matching cost (B, D, h, w): a 3x3x3 unit, then 1x1x1 to one channel."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.net = nn.Sequential(conv_norm_act(channels, channels, norm, dims=3), nn.Conv3d(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0].permute(0, 3, 1, 2)


def soft_argmin(cost: torch.Tensor, disparities: torch.Tensor) -> torch.Tensor:
    """Disparity regression (Kendall et al., GC-Net, ICCV 2017): expected candidate under ``softmax(-cost)``.

    Args:
        cost: (B, D, H, W) matching cost, lower = better.
        disparities: (D,) the candidates' values (disparities in pixels, or hypothesis indices).
    Returns:
        (B, 1, H, W) ``sum_k softmax(-cost)_k * disparities[k]``, differentiable and sub-candidate.
    """
    if cost.ndim != 4 or disparities.shape != (cost.shape[1],):
        raise ValueError(
            f"cost must be (B, D, H, W) with disparities (D,), got {tuple(cost.shape)} and {tuple(disparities.shape)}"
        )
    probability = torch.softmax(-cost, dim=1)
    return (probability * disparities.view(1, -1, 1, 1).to(cost)).sum(1, keepdim=True)
