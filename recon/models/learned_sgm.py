"""Learned matching cost + semi-global aggregation, trained end to end (in the spirit of MC-CNN, Zbontar & LeCun,
JMLR 2016, fed into SGM, Hirschmueller, TPAMI 2008, with SGM made differentiable as in SGM-Net-like pipelines).

A different kind of stereo network from the cost-volume CNN (:mod:`recon.models.gwc_stereo`): no 3D convolutions,
everything at full resolution, and the regulariser is the classical one with learned penalties.

Pipeline, for a rectified pair ``left``, ``right`` (B, 3, H, W) in [0, 1]:

1. Both images are padded (edge replication, right and bottom) to a multiple of ``stride``.
2. A small siamese 2D CNN (``feature_layers`` 3x3 convolutions, ReLU between, the first with stride ``stride``,
   the middle ones dilated) maps each image to unit-length ``feature_channels``-vectors per feature pixel
   (MC-CNN-fast's cosine-similarity design).
3. Matching cost ``C(x, d) = 1 - <f_left(x), f_right(x - d)>`` in [0, 2] for the integer feature-pixel candidates
   ``d = 0, 1, ..., D - 1`` with ``D = ceil(max_disparity / stride) + 1``; where ``x - d`` leaves the right image the
   cost is 1 (no information).
4. Semi-global aggregation along 4 scanline directions ``r`` (left-right, right-left, top-down, bottom-up),
   Hirschmueller's recursion with the previous pixel ``p - r``::

       L_r(p, d) = C(p, d) + min(L_r(p-r, d), L_r(p-r, d +- 1) + P1, min_k L_r(p-r, k) + P2) - min_k L_r(p-r, k)

   summed over the directions (:func:`semi_global_aggregation`). ``P1 < P2`` are learned (softplus-parametrised)
   and every operation is a min, a sum or a difference, so gradients reach the features through the paths.
5. Soft-argmin over ``-scale * S / 4`` with a learned ``scale`` gives a sub-pixel disparity map (in eval mode,
   with ``local_radius`` r, only over the ``2 r + 1`` candidates around the best one: a mean over a bimodal
   distribution, e.g. at repetitive texture, lands between its modes).
6. With ``refine_channels`` > 0, a small 2D CNN (dilations 1, 2, 4, 1) reads that disparity, its confidence (the
   largest candidate probability) and the left features, and adds a residual: the learned context an SGM cannot
   bring to occlusions and textureless regions (MC-CNN needed hand-made post-processing for this).
7. With ``stride`` 2 (default) the disparity is scaled to input pixels and upsampled bilinearly with feature cell
   ``j`` on input pixel ``2 j`` (as :func:`~recon.models.blocks.upsampling.upsample_aligned` does for the cost-volume
   network), then cropped to (H, W).

``stride`` 1 is MC-CNN's full resolution; 2 is the default because differentiating through the sequential
scanline recursion is the expensive part of training (8x fewer cost cells: a 96x192 batch of 8 trains in about
0.5 s on one core instead of about 4 s).

Cost per pair: about ``feature_layers * feature_channels**2 * 9`` multiply-adds per feature pixel and view for the
CNN and ``4 D`` operations per feature pixel for the aggregation, whose scanline loops are sequential (``W / stride``
and ``H / stride`` steps).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from recon.models.blocks import upsample_aligned


def matching_cost(left: torch.Tensor, right: torch.Tensor, num_disparities: int) -> torch.Tensor:
    """Cosine matching cost of unit feature vectors for integer disparities.

    Args:
        left, right: (B, C, H, W) features (unit length along C for a cost in [0, 2]).
        num_disparities: ``D``; candidate ``d`` compares left ``x`` with right ``x - d``.
    Returns:
        (B, D, H, W): ``1 - sum_c left[c, y, x] * right[c, y, x - d]``, and 1 where ``x - d < 0``.
    """
    W = left.shape[-1]
    costs = []
    for d in range(num_disparities):
        if d >= W:
            costs.append(torch.ones_like(left[:, 0]))
            continue
        similarity = (left[..., d:] * right[..., : W - d]).sum(1)
        costs.append(F.pad(1 - similarity, (d, 0), value=1.0))
    return torch.stack(costs, dim=1)


def _scan(cost: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """Aggregate (N, D, L, S) along the last axis, forward: ``L(s) = C(s) + min(...) - min_k L(s - 1, k)``."""
    steps = cost.unbind(-1)  # one backward stack instead of a full-size zero gradient per indexed step
    inf = torch.full_like(steps[0][:, :1], math.inf)
    previous = steps[0]
    out = [previous]
    for step in steps[1:]:
        low = previous.min(1, keepdim=True).values
        neighbours = torch.minimum(torch.cat([inf, previous[:, :-1]], 1), torch.cat([previous[:, 1:], inf], 1))
        best = torch.minimum(torch.minimum(previous, neighbours + p1), low + p2)
        previous = step + best - low
        out.append(previous)
    return torch.stack(out, dim=-1)


def semi_global_aggregation(cost: torch.Tensor, p1: torch.Tensor | float, p2: torch.Tensor | float) -> torch.Tensor:
    """Sum of Hirschmueller's path costs ``L_r`` over the 4 scanline directions (left-right, right-left, top-down,
    bottom-up; see the module docstring).

    Args:
        cost: (B, D, H, W) matching cost.
        p1, p2: penalties for a disparity change of 1 and of more than 1 between neighbours (scalars, ``p1 <= p2``).
    Returns:
        (B, D, H, W) aggregated cost ``S = sum_r L_r``.
    """
    if cost.ndim != 4:
        raise ValueError(f"cost must be (B, D, H, W), got {tuple(cost.shape)}")
    p1, p2 = torch.as_tensor(p1, dtype=cost.dtype), torch.as_tensor(p2, dtype=cost.dtype)
    B = cost.shape[0]
    both_ways = torch.cat([cost, cost.flip(-1)])  # left-to-right and right-to-left
    rows = _scan(both_ways, p1, p2)
    total = rows[:B] + rows[B:].flip(-1)
    both_ways = torch.cat([cost, cost.flip(-2)]).transpose(-1, -2)  # top-down and bottom-up
    columns = _scan(both_ways, p1, p2).transpose(-1, -2)
    total = total + columns[:B] + columns[B:].flip(-2)
    return total


def _inverse_softplus(value: float) -> float:
    return math.log(math.expm1(value))


class LearnedSGMStereo(nn.Module):
    """Siamese CNN matching cost, differentiable SGM with learned penalties, soft-argmin (module docstring).

    ``forward(left, right)`` with (B, 3, H, W) float images in [0, 1], any H, W >= 1, returns
    ``{"disparity": (B, 1, H, W)}`` in ``[0, stride (D - 1)]`` pixels.

    Args:
        max_disparity: largest disparity (pixels); candidates ``0, stride, ..., stride (D - 1) >= max_disparity``.
            Must be positive.
        feature_channels: width of the feature CNN and of the per-pixel descriptors.
        feature_layers: 3x3 convolutions in the CNN (>= 2); the middle ones use dilation 2.
        stride: resolution of features, cost and aggregation (1: full, 2: half).
        p1, p2: initial penalties in cost units (the cost is in [0, 2]), ``0 < p1 < p2``.
        scale: initial inverse temperature of the soft-argmin over the direction-averaged aggregated cost.
        local_radius: in eval mode, regress over the candidates within this many of the best (None: all).
        refine_channels: width of the refinement CNN (0: none).

    In training mode with refinement, ``forward`` also returns ``disparities``: ``[SGM, refined]`` (last =
    ``disparity``), both supervised by the task.
    """

    problem = "stereo"
    inputs = ("left", "right")

    def __init__(
        self,
        max_disparity: float = 64,
        feature_channels: int = 32,
        feature_layers: int = 4,
        stride: int = 2,
        p1: float = 0.05,
        p2: float = 0.5,
        scale: float = 20.0,
        local_radius: int | None = None,
        refine_channels: int = 0,
    ):
        super().__init__()
        if not max_disparity > 0:
            raise ValueError(f"model.max_disparity must be positive, got {max_disparity}")
        if feature_channels < 1 or feature_layers < 2:
            raise ValueError(
                f"model.feature_channels must be >= 1 and model.feature_layers >= 2, got "
                f"{feature_channels} and {feature_layers}"
            )
        if stride not in (1, 2):
            raise ValueError(f"model.stride must be 1 or 2, got {stride}")
        if not 0 < p1 < p2:
            raise ValueError(f"model.p1 and model.p2 must satisfy 0 < p1 < p2, got {p1} and {p2}")
        if not scale > 0:
            raise ValueError(f"model.scale must be positive, got {scale}")
        if local_radius is not None and local_radius < 0:
            raise ValueError(f"model.local_radius must be >= 0 or null, got {local_radius}")
        if refine_channels < 0:
            raise ValueError(f"model.refine_channels must be >= 0, got {refine_channels}")
        self.max_disparity = float(max_disparity)
        self.stride = stride
        self.num_candidates = math.ceil(max_disparity / stride) + 1
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(feature_layers):
            dilation = 2 if 0 < i < feature_layers - 1 else 1
            layers.append(
                nn.Conv2d(
                    c_in,
                    feature_channels,
                    3,
                    stride=stride if i == 0 else 1,
                    padding=dilation,
                    dilation=dilation,
                    padding_mode="replicate",
                )
            )
            if i < feature_layers - 1:
                layers.append(nn.ReLU(inplace=True))
            c_in = feature_channels
        self.features = nn.Sequential(*layers)
        self.raw_p1 = nn.Parameter(torch.tensor(_inverse_softplus(p1)))
        self.raw_gap = nn.Parameter(torch.tensor(_inverse_softplus(p2 - p1)))  # p2 = p1 + gap keeps p1 < p2
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        self.local_radius = local_radius
        self.refine = None
        if refine_channels > 0:
            c, blocks = refine_channels, []
            for i, dilation in enumerate((1, 2, 4, 1)):
                blocks += [
                    nn.Conv2d(
                        feature_channels + 2 if i == 0 else c,
                        c,
                        3,
                        padding=dilation,
                        dilation=dilation,
                        padding_mode="replicate",
                    ),
                    nn.ReLU(inplace=True),
                ]
            self.refine = nn.Sequential(*blocks, nn.Conv2d(c, 1, 3, padding=1, padding_mode="replicate"))

    @property
    def penalties(self) -> tuple[torch.Tensor, torch.Tensor]:
        p1 = F.softplus(self.raw_p1)
        return p1, p1 + F.softplus(self.raw_gap)

    def describe(self) -> dict[str, float]:
        """The learned SGM penalties and soft-argmin scale (worth a look after training)."""
        with torch.no_grad():
            p1, p2 = self.penalties
            return {"p1": float(p1), "p2": float(p2), "scale": float(self.log_scale.exp())}

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, t in (("left", left), ("right", right)):
            if t.ndim != 4 or t.shape[1] != 3:
                raise ValueError(f"{name} must be (B, 3, H, W), got {tuple(t.shape)}")
        if left.shape != right.shape:
            raise ValueError(f"left and right must have one shape, got {tuple(left.shape)} and {tuple(right.shape)}")
        B, _, H, W = left.shape
        s = self.stride
        pad = (0, -W % s, 0, -H % s)
        if any(pad):
            left, right = F.pad(left, pad, mode="replicate"), F.pad(right, pad, mode="replicate")
        features = F.normalize(self.features(torch.cat([left, right]) * 2 - 1), dim=1)
        cost = matching_cost(features[:B], features[B:], self.num_candidates)
        p1, p2 = self.penalties
        logits = -self.log_scale.exp() * semi_global_aggregation(cost, p1, p2) / 4
        if self.local_radius is not None and not self.training:
            k = torch.arange(self.num_candidates, device=cost.device).view(1, -1, 1, 1)
            logits = logits.masked_fill((k - logits.argmax(1, keepdim=True)).abs() > self.local_radius, -math.inf)
        probability = torch.softmax(logits, dim=1)
        candidates = torch.arange(self.num_candidates, dtype=cost.dtype, device=cost.device).view(1, -1, 1, 1)
        disparities = [(probability * candidates).sum(1, keepdim=True)]  # in feature pixels
        if self.refine is not None:
            confidence = probability.max(1, keepdim=True).values
            context = torch.cat([disparities[0] / (self.num_candidates - 1), confidence, features[:B]], 1)
            disparities.append((disparities[0] + self.refine(context)).clamp(min=0))
        disparities = [self.to_input_pixels(d, H, W) for d in disparities]
        if self.training and len(disparities) > 1:
            return {"disparity": disparities[-1], "disparities": disparities}
        return {"disparity": disparities[-1]}

    def to_input_pixels(self, disparity: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """(B, 1, h, w) disparity in feature pixels -> (B, 1, H, W) in input pixels."""
        if self.stride > 1:
            disparity = upsample_aligned(disparity * self.stride, self.stride)
        return disparity[..., :H, :W]
