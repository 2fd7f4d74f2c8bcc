"""GwcNet-style stereo matching (Guo et al., "Group-wise Correlation Stereo Network", CVPR 2019), sized for CPU.

Pipeline, for a rectified pair ``left``, ``right`` (B, 3, H, W) in [0, 1]:

1. Both images are padded (edge replication, right and bottom) to a multiple of :attr:`GwcStereo.stride` = 4.
2. A shared 2D feature extractor (three 3x3 convolutions, two of stride 2, then residual blocks without and with
   dilation 2) gives 1/4-resolution features; the outputs of the two residual stages are concatenated as the
   correlation features, and a small head compresses them to ``concat_channels`` for the concatenation volume.
3. Cost volume over ``D = ceil(max_disparity / 4) + 1`` candidates ``0, 4, ..., 4 (D - 1)`` px (the last one is
   >= ``max_disparity``): the group-wise correlation of left and right features (``groups`` groups, the mean of the
   channel products inside each group), plus, when ``concat_channels > 0``, both feature maps stacked (PSMNet's
   concatenation volume), ``(B, groups + 2 * concat_channels, H/4, W/4, D)``; the right features are zero where
   ``x - d`` leaves the image. The disparity axis is stored LAST: the 3x3x3 kernels do not care about the axis
   order, and for a batch of one PyTorch picks its fast oneDNN 3D convolution only when
   ``channels * size(2) * size(3) > 20480``, which (H/4, W/4) passes for much smaller volumes than (D, H/4) (an
   8-channel convolution over a 17 x 94 x 113 volume: 94 ms as (D, H, W), 5 ms as (H, W, D), one CPU core).
4. 3D aggregation: two convolution pairs (the second residual), then ``num_hourglasses`` stacked encoder-decoder
   hourglasses (stride-2 3D convolutions to 1/2 and 1/4 of the volume, transposed convolutions back, 1x1x1 skip
   connections). Each output stage has a head (3x3x3 convolution, then 1x1x1 to one channel) giving a matching
   cost ``(B, H/4, W/4, D)``.
5. Disparity regression (soft-argmin): ``d = sum_k softmax(-cost)_k * d_k``, differentiable and sub-pixel.
   Upsampling to the input resolution, ``upsample``:

   - ``"disparity"`` (default): regress at 1/4 resolution over the candidates ``4 k``, then upsample the disparity
     map bilinearly x4. Cheap (no full-resolution volume).
   - ``"cost"``: upsample the cost volume trilinearly x4 in disparity, height and width, as GwcNet does, and
     regress over the full-resolution candidates ``0, 1, ..., 4 (D - 1)``. Sharper at depth edges in principle,
     at the price of a (B, 4D, H, W) volume: about 0.1 s more per 450x375 pair on one CPU core, and twice the
     training step.

   - ``"convex"``: regress at 1/4 resolution, then each full-resolution pixel is a learned convex combination of
     the 3x3 coarse disparities around it, the weights predicted from the left image's features (RAFT-Stereo's
     upsampling): edges stay as sharp as the coarse map allows. Only the final head's map is upsampled this way;
     the intermediate training outputs are upsampled bilinearly.

   The first two are exactly aligned with the features: a stride-2 3x3 convolution with padding 1 centres its
   output ``j`` on input ``2 j``, so 1/4-resolution cell ``j`` sits on input pixel ``4 j`` (and candidate ``k`` on
   disparity ``4 k``). Upsampling therefore interpolates with ``align_corners=True`` onto ``4 (n - 1) + 1`` samples
   and replicates the last one for the 3 remaining pixels.
6. The result is cropped back to (H, W).
7. ``refine=True``: an image-guided residual refinement at full resolution (the left image and the disparity
   divided by ``max_disparity`` through five dilated 16-channel convolutions, StereoNet-style) corrects the last
   head's map.

In training mode ``forward`` also returns ``disparities``: one full-resolution map per head (the aggregation stem,
then every hourglass, then the refinement when there is one), last = ``disparity``; GwcNet weights them 0.5, 0.5,
0.7, 1.0 (the task's ``loss_weights``). In eval mode only the last head runs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from recon.models.blocks import (
    NORMS,
    ConvexUpsampler,
    CostHead,
    DisparityRefinement,
    Hourglass,
    conv_norm_act,
    soft_argmin,
    upsample_aligned,
)

UPSAMPLE = ("disparity", "cost", "convex")


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions (the given dilation) with an identity shortcut, 2D."""

    def __init__(self, channels: int, dilation: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(channels, channels, norm, dilation=dilation),
            conv_norm_act(channels, channels, norm, dilation=dilation, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class FeatureExtractor(nn.Module):
    """(B, 3, H, W) -> correlation features (B, 2C, H/4, W/4) and concatenation features (B, Cc, H/4, W/4)."""

    def __init__(self, channels: int, blocks: int, concat_channels: int, norm: str):
        super().__init__()
        half = max(channels // 2, 1)
        self.stem = nn.Sequential(
            conv_norm_act(3, half, norm, stride=2),
            conv_norm_act(half, half, norm),
            conv_norm_act(half, channels, norm, stride=2),
        )
        self.stage1 = nn.Sequential(*[ResidualBlock(channels, 1, norm) for _ in range(blocks)])
        self.stage2 = nn.Sequential(*[ResidualBlock(channels, 2, norm) for _ in range(blocks)])
        self.concat = None
        if concat_channels > 0:
            self.concat = nn.Sequential(
                conv_norm_act(2 * channels, channels, norm), nn.Conv2d(channels, concat_channels, 1, bias=False)
            )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x1 = self.stage1(self.stem(image * 2 - 1))
        x2 = self.stage2(x1)
        gwc = torch.cat([x1, x2], dim=1)
        return gwc, (self.concat(gwc) if self.concat is not None else None)


def _reversed_windows(right: torch.Tensor, num_disparities: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W, D) view with ``[..., x, k] = right[..., x - (D - 1 - k)]`` (0 where that leaves
    the image): disparity ``D - 1 - k`` at ``k``. Flipping it into disparity order would copy all ``C`` channels, so
    callers flip their (smaller) result instead."""
    return F.pad(right, (num_disparities - 1, 0)).unfold(-1, num_disparities, 1)


def groupwise_correlation_volume(
    left: torch.Tensor, right: torch.Tensor, num_disparities: int, groups: int
) -> torch.Tensor:
    """Group-wise correlation of left and right features for integer feature-pixel disparities.

    Args:
        left, right: (B, C, H, W) features, ``C`` divisible by ``groups``.
        num_disparities: ``D``; candidate ``d`` compares left ``x`` with right ``x - d``.
        groups: ``G``.
    Returns:
        (B, G, H, W, D) (disparity last, see :class:`GwcStereo`):
        ``mean_{c in group g} left[c, y, x] * right[c, y, x - d]``, 0 where ``x - d < 0``.
    """
    B, C, H, W = left.shape
    if C % groups:
        raise ValueError(f"{C} feature channels cannot be split into {groups} groups")
    product = left[..., None] * _reversed_windows(right, num_disparities)
    return product.view(B, groups, C // groups, H, W, num_disparities).mean(2).flip(-1)


def concatenation_volume(left: torch.Tensor, right: torch.Tensor, num_disparities: int) -> torch.Tensor:
    """(B, C, H, W) features -> (B, 2C, H, W, D): left ``x`` stacked on right ``x - d`` (the right half is 0 where
    ``x - d < 0``)."""
    shifted = _reversed_windows(right, num_disparities)
    return torch.cat([left[..., None].expand_as(shifted), shifted], dim=1).flip(-1)


class GwcStereo(nn.Module):
    """Group-wise correlation + concatenation cost volume, 3D hourglass aggregation, soft-argmin (module docstring).

    ``forward(left, right)`` with (B, 3, H, W) float images in [0, 1], any H, W >= 1, returns
    ``{"disparity": (B, 1, H, W)}`` (left disparity in pixels, in ``[0, 4 (D - 1)]``) and, in training mode,
    ``"disparities"``: a list of ``1 + num_hourglasses`` such maps (last = ``disparity``).

    Args:
        max_disparity: largest disparity (pixels) the cost volume must cover; the candidates are
            ``0, 4, ..., 4 ceil(max_disparity / 4)``. Must be positive.
        feature_channels: ``C``, channels of the 1/4-resolution 2D features (correlation features have ``2 C``).
        feature_blocks: residual blocks in each of the two 2D stages (dilation 1, then 2).
        groups: correlation groups ``G``; ``2 C`` must be divisible by it.
        concat_channels: features per view in the concatenation volume (0: correlation only, as GwcNet-g).
        volume_channels: channels of the 3D aggregation (the hourglasses use 1x, 2x, 4x that).
        num_hourglasses: stacked hourglasses (>= 0; each adds an intermediate training output).
        upsample: ``"disparity"``, ``"cost"`` or ``"convex"`` (module docstring).
        refine: add the full-resolution image-guided refinement (module docstring, step 7).
        norm: ``batch``, ``group`` or ``none``.
    """

    problem = "stereo"
    inputs = ("left", "right")
    stride = 4

    def __init__(
        self,
        max_disparity: float = 64,
        feature_channels: int = 32,
        feature_blocks: int = 2,
        groups: int = 8,
        concat_channels: int = 4,
        volume_channels: int = 16,
        num_hourglasses: int = 2,
        upsample: str = "disparity",
        refine: bool = False,
        norm: str = "batch",
    ):
        super().__init__()
        if not max_disparity > 0:
            raise ValueError(f"model.max_disparity must be positive, got {max_disparity}")
        if min(feature_channels, volume_channels, groups) < 1 or feature_blocks < 0 or concat_channels < 0:
            raise ValueError(
                "model.feature_channels, volume_channels and groups must be >= 1, feature_blocks and "
                f"concat_channels >= 0; got {feature_channels}, {volume_channels}, {groups}, "
                f"{feature_blocks}, {concat_channels}"
            )
        if (2 * feature_channels) % groups:
            raise ValueError(
                f"model.groups = {groups} must divide the 2 * feature_channels = {2 * feature_channels} "
                "correlation features"
            )
        if num_hourglasses < 0:
            raise ValueError(f"model.num_hourglasses must be >= 0, got {num_hourglasses}")
        if upsample not in UPSAMPLE:
            raise ValueError(f"model.upsample must be one of {UPSAMPLE}, got {upsample!r}")
        if norm not in NORMS:
            raise ValueError(f"model.norm must be one of {NORMS}, got {norm!r}")
        self.max_disparity = float(max_disparity)
        self.num_candidates = math.ceil(max_disparity / self.stride) + 1
        self.groups, self.concat_channels, self.upsample = groups, concat_channels, upsample
        self.features = FeatureExtractor(feature_channels, feature_blocks, concat_channels, norm)
        c = volume_channels
        self.stem = nn.Sequential(
            conv_norm_act(groups + 2 * concat_channels, c, norm, dims=3), conv_norm_act(c, c, norm, dims=3)
        )
        self.residual = nn.Sequential(conv_norm_act(c, c, norm, dims=3), conv_norm_act(c, c, norm, dims=3, relu=False))
        self.hourglasses = nn.ModuleList([Hourglass(c, norm) for _ in range(num_hourglasses)])
        self.heads = nn.ModuleList([CostHead(c, norm) for _ in range(1 + num_hourglasses)])
        self.upsampler = ConvexUpsampler(2 * feature_channels, self.stride) if upsample == "convex" else None
        self.refinement = DisparityRefinement(channels=16, norm=norm) if refine else None

    def cost_volume(self, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) padded images -> the volume (B, G + 2 Cc, H/4, W/4, D) and the left correlation features
        (B, 2C, H/4, W/4)."""
        B = left.shape[0]
        gwc, concat = self.features(torch.cat([left, right]))
        volume = groupwise_correlation_volume(gwc[:B], gwc[B:], self.num_candidates, self.groups)
        if concat is not None:
            volume = torch.cat([volume, concatenation_volume(concat[:B], concat[B:], self.num_candidates)], dim=1)
        return volume, gwc[:B]

    def regress(self, cost: torch.Tensor, size: tuple[int, int], features: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D, h, w) cost at 1/4 resolution -> (B, 1, H, W) disparity in input pixels, cropped to ``size``.
        ``features`` (the left features at 1/4) are given for the final head only: the convex upsampler then uses
        them, and the intermediate heads (training outputs) are upsampled bilinearly, which costs far less."""
        s = self.stride
        if self.upsample == "cost":
            fine = upsample_aligned(cost[:, None], s, candidates=True)[:, 0]
            disparity = soft_argmin(fine, torch.arange(fine.shape[1], device=cost.device, dtype=cost.dtype))
        else:
            candidates = s * torch.arange(cost.shape[1], device=cost.device, dtype=cost.dtype)
            coarse = soft_argmin(cost, candidates)
            if self.upsampler is not None and features is not None:
                disparity = self.upsampler(coarse, features)
            else:
                disparity = upsample_aligned(coarse, s)
        return disparity[..., : size[0], : size[1]]

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        for name, t in (("left", left), ("right", right)):
            if t.ndim != 4 or t.shape[1] != 3:
                raise ValueError(f"{name} must be (B, 3, H, W), got {tuple(t.shape)}")
        if left.shape != right.shape:
            raise ValueError(f"left and right must have one shape, got {tuple(left.shape)} and {tuple(right.shape)}")
        H, W = left.shape[-2:]
        s = self.stride
        pad = (0, -W % s, 0, -H % s)
        if any(pad):
            left, right = F.pad(left, pad, mode="replicate"), F.pad(right, pad, mode="replicate")
        image = left[..., :H, :W]
        volume, features = self.cost_volume(left, right)
        volume = self.stem(volume)
        volume = F.relu(volume + self.residual(volume))
        stages = [volume]
        for hourglass in self.hourglasses:
            stages.append(hourglass(stages[-1]))
        if not self.training:
            return {"disparity": self.refined(self.regress(self.heads[-1](stages[-1]), (H, W), features), image)}
        last = len(stages) - 1
        disparities = [
            self.regress(head(stage), (H, W), features if i == last else None)
            for i, (head, stage) in enumerate(zip(self.heads, stages))
        ]
        if self.refinement is not None:
            disparities.append(self.refined(disparities[-1], image))
        return {"disparity": disparities[-1], "disparities": disparities}

    def refined(self, disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """The refinement's output for ``disparity`` (B, 1, H, W) and the left ``image``; unchanged without one."""
        if self.refinement is None:
            return disparity
        return self.refinement(disparity, image, self.max_disparity)
