"""MVSNet-style multi-view stereo (Yao et al., "MVSNet: Depth Inference for Unstructured Multi-view Stereo", ECCV
2018), sized for CPU.

Pipeline, for ``images (B, V, 3, H, W)`` (view 0 = reference, ``S = V - 1 >= 1`` sources) with cameras and a per-item
``depth_range`` (contract: :mod:`recon.models.blocks.depth_planes`):

1. All views are padded (edge replication, right and bottom) to a multiple of :attr:`MVSNet.stride` = 4; padding
   right and bottom leaves the intrinsics unchanged.
2. A shared 2D CNN (MVSNet's eight 3x3 convolutions, two of stride 2, the last linear) maps every view to
   ``feature_channels`` features at 1/4 resolution. A stride-2 3x3 convolution with padding 1 centres output ``j``
   on input ``2 j``, so feature cell ``j`` sits on image pixel ``4 j``: the features' intrinsics are ``K`` with its
   first two rows divided by 4 (``u' = u / 4``; not the pooled-map convention of :mod:`recon.geometry.multiview`).
3. ``num_depths`` fronto-parallel planes over ``depth_range``, uniform in inverse depth (default) or depth
   (``depth_sampling``; why inverse: :mod:`recon.models.blocks.depth_planes`). Source features are warped onto them with
   :func:`~recon.geometry.multiview.homography_warp` (:func:`~recon.models.blocks.depth_planes.sweep_sources`).
4. Cost volume, ``cost``:

   - ``"variance"`` (MVSNet): per channel, the variance over the reference and the sources that see the plane point
     (:func:`variance_volume`). MVSNet averages over all views with zero-padded warps, so a source that does not
     see a point drags the mean towards 0 and inflates the variance; here such sources are left out.
   - ``"groupwise"``: group-wise correlation of reference and source features (GwcNet's, ``groups`` groups)
     averaged over the sources that see the point (:func:`groupwise_volume`; 0 where none does).

   Either way a visibility channel (the fraction of sources that see the point) is appended: with no source seeing
   it, the variance is 0, the same as a perfect match, and only this channel tells the two apart.
   The volume is stored ``(B, C, h, w, D)``, hypotheses LAST, for the fast CPU 3D convolutions (see
   :mod:`recon.models.gwc_stereo`).
5. 3D regularisation: two 3D convolutions (``volume_channels``), then ``num_hourglasses`` stacked
   :class:`~recon.models.blocks.cost_volume.Hourglass` encoder-decoders (MVSNet's 3D U-Net, two scales), and a
   :class:`~recon.models.blocks.cost_volume.CostHead` per hourglass (on the stem without hourglasses) giving a cost
   ``(B, D, h, w)``.
6. Soft-argmin over hypothesis indices (:func:`~recon.models.blocks.cost_volume.soft_argmin` of ``softmax(-cost)``):
   the expected index ``k`` in ``[0, D - 1]``, i.e. the expected inverse depth (or depth) since hypotheses are
   uniform in it. ``k`` is upsampled x4 (:func:`~recon.models.blocks.upsampling.upsample_aligned`), cropped to
   (H, W) and mapped to depth (:func:`~recon.models.blocks.depth_planes.depth_at_index`): interpolating inverse depth
   is exact on planes (1 / z is affine in the pixel coordinates), interpolating depth is not. The depth lies in
   ``depth_range``.
7. Confidence (MVSNet's photometric confidence, :func:`photometric_confidence`): the probability mass of the four
   hypotheses around ``k``, upsampled the same way.

In training mode ``forward`` also returns ``depths`` (one full-resolution map per head, last = ``depth``) when there
is more than one head (``num_hourglasses >= 2``). Not done: MVSNet's depth refinement network and cascade
(coarse-to-fine) hypotheses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.models.blocks import (
    NORMS,
    SAMPLING,
    CostHead,
    Hourglass,
    check_views,
    conv_norm_act,
    depth_at_index,
    soft_argmin,
    sweep_sources,
    upsample_aligned,
)

COSTS = ("variance", "groupwise")


def variance_volume(ref: Tensor, warped: Tensor, inside: Tensor) -> Tensor:
    """Per-channel variance over the reference and the sources that see each plane point.

    The variance is shift invariant, so it is computed from deviations from the reference (whose deviation is 0):
    ``var = sum_s m_s (x_s - r)^2 / n - (sum_s m_s (x_s - r) / n)^2`` with ``n = 1 + sum_s m_s``, which is exactly 0
    where the seeing sources agree with the reference and avoids the cancellation of ``E[x^2] - E[x]^2``.

    Args:
        ref: (B, C, h, w) reference features.
        warped: (B, S, C, D, h, w) source features on the planes.
        inside: (B, S, 1, D, h, w) bool, the source sees the plane point.
    Returns:
        (B, C, h, w, D).
    """
    m = inside.to(warped.dtype)
    deviation = (warped - ref[:, None, :, None]) * m
    n = 1 + m.sum(1)
    mean = deviation.sum(1) / n
    return (deviation.square().sum(1) / n - mean.square()).permute(0, 1, 3, 4, 2)


def groupwise_volume(ref: Tensor, warped: Tensor, inside: Tensor, groups: int) -> Tensor:
    """Group-wise correlation of reference and source features, averaged over the sources that see each point.

    Args:
        ref: (B, C, h, w); warped: (B, S, C, D, h, w); inside: (B, S, 1, D, h, w) bool; ``C`` divisible by ``groups``.
    Returns:
        (B, G, h, w, D): ``mean_{s seeing} mean_{c in group g} ref[c] * warped[s, c]``, 0 where no source sees.
    """
    B, S, C, D, h, w = warped.shape
    if C % groups:
        raise ValueError(f"{C} feature channels cannot be split into {groups} groups")
    m = inside.to(warped.dtype)
    correlation = (ref[:, None, :, None] * warped).view(B, S, groups, C // groups, D, h, w).mean(3)
    volume = (correlation * m).sum(1) / m.sum(1).clamp_min(1)
    return volume.permute(0, 1, 3, 4, 2)


def photometric_confidence(probability: Tensor, index: Tensor) -> Tensor:
    """MVSNet's confidence: the probability of the four hypotheses around the expected index.

    The window is ``floor(k) - 1 ... floor(k) + 2``: two hypotheses on either side of ``k`` (MVSNet centres it on
    ``round(k)`` instead), truncated at the ends of the sweep.

    Args:
        probability: (B, D, h, w) per-hypothesis probabilities.
        index: (B, 1, h, w) expected index ``k`` in ``[0, D - 1]``.
    Returns:
        (B, 1, h, w) in [0, 1].
    """
    D = probability.shape[1]
    window = F.pad(probability, (0, 0, 0, 0, 1, 2)).unfold(1, 4, 1).sum(-1)  # [k] = p[k - 1] + ... + p[k + 2]
    start = index.detach().floor().long().clamp(0, D - 1)
    return window.gather(1, start).clamp(0, 1)


class FeatureNet(nn.Module):
    """MVSNet's 2D feature tower scaled to ``C`` channels: (N, 3, H, W) -> (N, C, H/4, W/4)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        c1, c2, c = max(channels // 4, 1), max(channels // 2, 1), channels
        self.net = nn.Sequential(
            conv_norm_act(3, c1, norm),
            conv_norm_act(c1, c1, norm),
            conv_norm_act(c1, c2, norm, stride=2),
            conv_norm_act(c2, c2, norm),
            conv_norm_act(c2, c2, norm),
            conv_norm_act(c2, c, norm, stride=2),
            conv_norm_act(c, c, norm),
            nn.Conv2d(c, c, 3, padding=1),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images * 2 - 1)


class MVSNet(nn.Module):
    """Plane-sweep cost volume over learned features, 3D hourglass regularisation, soft-argmin (module docstring).

    ``forward(images, K, T_cw, depth_range)`` with ``images (B, V, 3, H, W)`` in [0, 1] (any H, W >= 1, V >= 2),
    ``K (B, V, 3, 3)``, ``T_cw (B, V, 4, 4)``, ``depth_range (B, 2)`` returns ``{"depth": (B, 1, H, W)}`` inside
    each item's ``[near, far]`` and ``"confidence": (B, 1, H, W)`` in [0, 1]; in training mode also ``"depths"``
    when ``num_hourglasses >= 2``.

    Args:
        num_depths: ``D >= 2`` depth hypotheses.
        depth_sampling: ``"inverse"`` (default) or ``"linear"``.
        feature_channels: ``C``, channels of the 1/4-resolution 2D features.
        cost: ``"variance"`` (MVSNet) or ``"groupwise"`` (correlation averaged over sources).
        groups: correlation groups for ``cost="groupwise"`` (must divide ``feature_channels``).
        volume_channels: channels of the 3D regularisation (the hourglasses use 1x, 2x, 4x that).
        num_hourglasses: stacked hourglasses (>= 0; from 2 on each adds a training output).
        norm: ``batch``, ``group`` or ``none``.
    """

    problem = "multi_view"
    inputs = ("images", "K", "T_cw", "depth_range")
    stride = 4

    def __init__(
        self,
        num_depths: int = 48,
        depth_sampling: str = "inverse",
        feature_channels: int = 16,
        cost: str = "variance",
        groups: int = 4,
        volume_channels: int = 8,
        num_hourglasses: int = 1,
        norm: str = "batch",
    ):
        super().__init__()
        if num_depths < 2:
            raise ValueError(f"model.num_depths must be >= 2, got {num_depths}")
        if depth_sampling not in SAMPLING:
            raise ValueError(f"model.depth_sampling must be one of {SAMPLING}, got {depth_sampling!r}")
        if cost not in COSTS:
            raise ValueError(f"model.cost must be one of {COSTS}, got {cost!r}")
        if min(feature_channels, volume_channels, groups) < 1:
            raise ValueError(
                "model.feature_channels, model.volume_channels and model.groups must be >= 1, got "
                f"{feature_channels}, {volume_channels}, {groups}"
            )
        if cost == "groupwise" and feature_channels % groups:
            raise ValueError(f"model.groups = {groups} must divide model.feature_channels = {feature_channels}")
        if num_hourglasses < 0:
            raise ValueError(f"model.num_hourglasses must be >= 0, got {num_hourglasses}")
        if norm not in NORMS:
            raise ValueError(f"model.norm must be one of {NORMS}, got {norm!r}")
        self.num_depths, self.depth_sampling, self.cost, self.groups = num_depths, depth_sampling, cost, groups
        self.features = FeatureNet(feature_channels, norm)
        c = volume_channels
        volume_in = (feature_channels if cost == "variance" else groups) + 1
        self.stem = nn.Sequential(conv_norm_act(volume_in, c, norm, dims=3), conv_norm_act(c, c, norm, dims=3))
        self.hourglasses = nn.ModuleList([Hourglass(c, norm) for _ in range(num_hourglasses)])
        self.heads = nn.ModuleList([CostHead(c, norm) for _ in range(max(num_hourglasses, 1))])

    def cost_volume(self, images: Tensor, K: Tensor, T_cw: Tensor, depths: Tensor) -> Tensor:
        """Padded ``images (B, V, 3, H, W)``, ``depths (B, D)`` -> (B, C_cost + 1, H/4, W/4, D) (module docstring)."""
        B, V = images.shape[:2]
        features = self.features(images.flatten(0, 1))
        features = features.view(B, V, *features.shape[1:])
        K_features = torch.cat([K[..., :2, :] / self.stride, K[..., 2:, :]], dim=-2)
        warped, inside = sweep_sources(features, K_features, T_cw, depths)
        if self.cost == "variance":
            volume = variance_volume(features[:, 0], warped, inside)
        else:
            volume = groupwise_volume(features[:, 0], warped, inside, self.groups)
        visibility = inside.to(volume.dtype).mean(1).permute(0, 1, 3, 4, 2)
        return torch.cat([volume, visibility], dim=1)

    def _regress(self, cost: Tensor, depth_range: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """(B, D, h, w) cost -> depth and confidence, (B, 1, H, W) each."""
        D = cost.shape[1]
        index = soft_argmin(cost, torch.arange(D, dtype=cost.dtype, device=cost.device))
        confidence = photometric_confidence(torch.softmax(-cost, dim=1), index)
        index, confidence = (upsample_aligned(x, self.stride)[..., : size[0], : size[1]] for x in (index, confidence))
        return depth_at_index(index, depth_range, D, self.depth_sampling), confidence.clamp(0, 1)

    def forward(self, images: Tensor, K: Tensor, T_cw: Tensor, depth_range: Tensor) -> dict[str, Tensor | list[Tensor]]:
        B, V, H, W = check_views(images, K, T_cw, depth_range)
        s = self.stride
        if H % s or W % s:
            images = F.pad(images.flatten(0, 1), (0, -W % s, 0, -H % s), mode="replicate")
            images = images.view(B, V, *images.shape[1:])
        D = self.num_depths
        depths = depth_at_index(
            torch.arange(D, dtype=images.dtype, device=images.device).expand(B, D), depth_range, D, self.depth_sampling
        )
        volume = self.stem(self.cost_volume(images, K, T_cw, depths))
        stages = [volume]
        for hourglass in self.hourglasses:
            stages.append(hourglass(stages[-1]))
        stages = stages[-len(self.heads) :]
        if not self.training or len(self.heads) == 1:
            depth, confidence = self._regress(self.heads[-1](stages[-1]), depth_range, (H, W))
            return {"depth": depth, "confidence": confidence}
        outputs = [self._regress(head(stage), depth_range, (H, W)) for head, stage in zip(self.heads, stages)]
        return {"depth": outputs[-1][0], "confidence": outputs[-1][1], "depths": [d for d, _ in outputs]}
