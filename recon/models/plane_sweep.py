"""Classical plane-sweep multi-view stereo (Collins, CVPR 1996): the ZNCC baseline :class:`PlaneSweepStereo`
(no learning), on the depth planes and sweep of :mod:`recon.models.blocks.depth_planes` (multi-view contract and
depth sampling there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.models.blocks import SAMPLING, check_views, depth_at_index, sweep_sources

GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as OpenCV's RGB2GRAY
ZNCC_EPS = 1e-4  # added to both window variances (intensities in [0, 1]): flat windows score ~0
CHUNK_ELEMENTS = 1 << 22  # warped samples (B * S * planes * H * W) per chunk of planes in PlaneSweepStereo


def _box(x: Tensor, window: int) -> Tensor:
    """Separable ``window x window`` box mean of (N, C, H, W), zero padded to the same size."""
    r = window // 2
    x = F.avg_pool2d(x, (1, window), stride=1, padding=(0, r))
    return F.avg_pool2d(x, (window, 1), stride=1, padding=(r, 0))


def masked_zncc(ref: Tensor, src: Tensor, valid: Tensor, window: int) -> Tensor:
    """Zero-mean normalised cross-correlation over the valid pixels of each ``window x window`` window.

    Window statistics are box filters of products (``E[r s] - E[r] E[s]`` etc.) over the pixels where ``valid``;
    ``ZNCC_EPS`` is added to both variances, so flat windows score about 0 instead of dividing by 0.

    Args:
        ref: (N, 1, H, W) reference intensities (broadcastable to ``src``).
        src: (N, 1, H, W) warped source intensities.
        valid: (N, 1, H, W) bool, source samples that exist.
        window: odd window side.
    Returns:
        (N, 1, H, W) scores in [-1, 1]; meaningless (but finite) where the window holds no valid sample.
    """
    m = valid.to(src.dtype)
    ref = ref.expand_as(src)
    stats = _box(torch.cat([m, m * ref, m * src, m * ref * ref, m * src * src, m * ref * src], dim=1), window)
    n = stats[:, :1].clamp_min(1e-6)
    mean_r, mean_s, rr, ss, rs = (stats[:, i : i + 1] / n for i in range(1, 6))
    var_r = (rr - mean_r * mean_r).clamp_min(0) + ZNCC_EPS
    var_s = (ss - mean_s * mean_s).clamp_min(0) + ZNCC_EPS
    return ((rs - mean_r * mean_s) / (var_r * var_s).sqrt()).clamp(-1, 1)


def aggregate_sources(scores: Tensor, valid: Tensor, best_k: int | None) -> Tensor:
    """Per-plane score over the sources that see it: mean of all valid ones, or of the ``best_k`` best valid ones
    (Kang et al., CVPR 2001: occluded sources score low and drop out).

    Args:
        scores: (B, S, ...) per-source scores in [-1, 1].
        valid: (B, S, ...) bool.
        best_k: k >= 1, or None for all.
    Returns:
        (B, ...) mean score, -1 where no source is valid.
    """
    if best_k is not None and best_k < scores.shape[1]:
        scores = torch.where(valid, scores, -3.0).topk(best_k, dim=1).values
        valid = scores > -2
    count = valid.sum(1)
    total = torch.where(valid, scores, 0.0).sum(1)
    return torch.where(count > 0, total / count.clamp_min(1), -1.0)


class PlaneSweepStereo(nn.Module):
    """Classical plane sweep: grey source images warped onto ``num_depths`` reference planes, masked ZNCC over a
    ``window`` against the reference, aggregated over sources, winner-takes-all (no parameters, nothing to train).

    ``forward(images, K, T_cw, depth_range)`` (module docstring for shapes) returns ``{"depth": (B, 1, H, W),
    "confidence": (B, 1, H, W)}``: the depth of the best-scoring plane (a hypothesis depth, no sub-plane
    refinement) and its aggregated ZNCC clamped to [0, 1] (uncorrelated or anti-correlated evidence counts as none).
    A source counts at a plane where the reference pixel's point projects inside it (``homography_warp``'s
    ``inside``); ZNCC windows use only such samples. A pixel that no source sees at any plane gets confidence 0
    and the depth of the nearest plane. Planes are processed in chunks of :data:`CHUNK_ELEMENTS` warped samples.

    Args:
        num_depths: ``D >= 2`` planes.
        depth_sampling: ``"inverse"`` (default) or ``"linear"`` (module docstring).
        window: odd ZNCC window side (pixels).
        best_k: average the ``best_k`` best valid sources per plane (None or >= number of sources: all valid).
    """

    problem = "multi_view"
    inputs = ("images", "K", "T_cw", "depth_range")
    trainable = False

    def __init__(self, num_depths: int = 64, depth_sampling: str = "inverse", window: int = 7, best_k: int | None = 2):
        super().__init__()
        if num_depths < 2:
            raise ValueError(f"model.num_depths must be >= 2, got {num_depths}")
        if depth_sampling not in SAMPLING:
            raise ValueError(f"model.depth_sampling must be one of {SAMPLING}, got {depth_sampling!r}")
        if window < 1 or window % 2 == 0:
            raise ValueError(f"model.window must be an odd number >= 1, got {window}")
        if best_k is not None and best_k < 1:
            raise ValueError(f"model.best_k must be >= 1 or null (all sources), got {best_k}")
        self.num_depths, self.depth_sampling, self.window, self.best_k = num_depths, depth_sampling, window, best_k

    @torch.no_grad()
    def forward(self, images: Tensor, K: Tensor, T_cw: Tensor, depth_range: Tensor) -> dict[str, Tensor]:
        B, V, H, W = check_views(images, K, T_cw, depth_range)
        grey = (images.float() * torch.tensor(GREY, device=images.device).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
        D = self.num_depths
        depths = depth_at_index(
            torch.arange(D, dtype=torch.float32, device=images.device).expand(B, D), depth_range, D, self.depth_sampling
        )
        chunk = max(1, CHUNK_ELEMENTS // (B * (V - 1) * H * W))
        scores = []
        for start in range(0, D, chunk):
            warped, inside = sweep_sources(grey, K, T_cw, depths[:, start : start + chunk])
            n = warped.shape[:4].numel()  # B * S * planes
            ref = grey[:, :1, :, None].expand(B, V - 1, 1, warped.shape[3], H, W).reshape(n, 1, H, W)
            zncc = masked_zncc(ref, warped.reshape(n, 1, H, W), inside.reshape(n, 1, H, W), self.window)
            scores.append(aggregate_sources(zncc.view(inside.shape)[:, :, 0], inside[:, :, 0], self.best_k))
        best, arg = torch.cat(scores, dim=1).max(dim=1, keepdim=True)  # (B, 1, H, W)
        depth = depths.gather(1, arg.flatten(1)).view(B, 1, H, W)
        return {"depth": depth.to(images.dtype), "confidence": best.clamp(0, 1).to(images.dtype)}
