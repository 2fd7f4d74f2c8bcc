"""Plane-sweep multi-view stereo (Collins, CVPR 1996): the sweep shared by the multi-view models, and the classical
ZNCC baseline :class:`PlaneSweepStereo` (no learning).

Multi-view contract (``.notes/CONVENTIONS.md``): an item is a reference view (view 0) and ``S = V - 1 >= 1`` source
views; ``images (B, V, 3, H, W)`` in [0, 1], ``K (B, V, 3, 3)`` pixels, ``T_cw (B, V, 4, 4)`` world-to-camera
(OpenCV), ``depth_range (B, 2)`` = (near, far). Models return the reference ``depth`` and a ``confidence`` in [0, 1],
both ``(B, 1, H, W)``.

Depth hypotheses: ``D`` fronto-parallel planes of the reference camera spanning ``[near, far]`` uniformly in inverse
depth (``"inverse"``, default) or in depth (``"linear"``). A plane at depth ``d`` moves a source pixel by about
``f * baseline / d``, so uniform inverse depth gives every step the same image motion: linear steps over a wide range
are much finer than a pixel near ``far`` (wasted) and coarser than a pixel near ``near`` (aliased). For narrow
ranges (DTU: far / near ~ 2) the two nearly coincide.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.geometry.multiview import homography_warp

SAMPLING = ("inverse", "linear")
GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as OpenCV's RGB2GRAY
ZNCC_EPS = 1e-4  # added to both window variances (intensities in [0, 1]): flat windows score ~0
CHUNK_ELEMENTS = 1 << 22  # warped samples (B * S * planes * H * W) per chunk of planes in PlaneSweepStereo


def check_views(images: Tensor, K: Tensor, T_cw: Tensor, depth_range: Tensor) -> tuple[int, int, int, int]:
    """Raise ``ValueError`` naming the input unless the tensors follow the multi-view contract; returns B, V, H, W.

    Shapes: images (B, V, 3, H, W) with V >= 2, K (B, V, 3, 3), T_cw (B, V, 4, 4), depth_range (B, 2) with
    ``0 < near < far``.
    """
    if not isinstance(images, Tensor) or images.ndim != 5 or images.shape[2] != 3 or images.shape[1] < 2:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be (B, V, 3, H, W) with V >= 2 views (reference + sources), got {got}")
    B, V, _, H, W = images.shape
    for name, t, shape in (("K", K, (B, V, 3, 3)), ("T_cw", T_cw, (B, V, 4, 4)), ("depth_range", depth_range, (B, 2))):
        if not isinstance(t, Tensor) or tuple(t.shape) != shape or not t.is_floating_point():
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(
                f"{name} must be a floating {shape} tensor to match images {tuple(images.shape)}, got {got}"
            )
    near, far = depth_range.detach().unbind(-1)
    if not bool(((near > 0) & (far > near)).all()):
        raise ValueError(f"depth_range must hold 0 < near < far per item, got {depth_range.tolist()}")
    return B, V, H, W


def depth_at_index(index: Tensor, depth_range: Tensor, num_depths: int, sampling: str) -> Tensor:
    """Depth of (fractional) hypothesis ``index`` in ``[0, D - 1]``: 0 is ``near``, ``D - 1`` is ``far``.

    Args:
        index: (B, ...) hypothesis indices (float; fractional indices interpolate in the sampled coordinate).
        depth_range: (B, 2) (near, far).
        num_depths: ``D >= 2``.
        sampling: ``"inverse"`` (uniform in 1 / depth) or ``"linear"`` (uniform in depth).
    Returns:
        (B, ...) depths, increasing with ``index``.
    """
    shape = (-1,) + (1,) * (index.ndim - 1)
    near, far = (x.reshape(shape).to(index.dtype) for x in depth_range.unbind(-1))
    t = index / (num_depths - 1)
    if sampling == "linear":
        return near + t * (far - near)
    return 1.0 / (1.0 / near + t * (1.0 / far - 1.0 / near))


def sweep_sources(maps: Tensor, K: Tensor, T_cw: Tensor, depths: Tensor) -> tuple[Tensor, Tensor]:
    """Warp every source view's map onto the reference view's depth planes (one batched ``homography_warp``).

    Args:
        maps: (B, V, C, h, w) per-view maps (view 0 = reference; its map only sets the grid).
        K: (B, V, 3, 3) intrinsics in pixels of ``maps``.
        T_cw: (B, V, 4, 4) world-to-camera poses.
        depths: (B, D) plane depths in the reference camera.
    Returns:
        warped: (B, S, C, D, h, w) source maps seen through the planes (0 outside a source).
        inside: (B, S, 1, D, h, w) bool, the plane point projects inside the source (see ``homography_warp``).
    """
    B, V, C, h, w = maps.shape
    S, D = V - 1, depths.shape[1]

    def per_source(t: Tensor) -> Tensor:  # (B, ...) reference quantity repeated for each source -> (B * S, ...)
        return t[:, None].expand(B, S, *t.shape[1:]).reshape(B * S, *t.shape[1:])

    warped, inside = homography_warp(
        maps[:, 1:].reshape(B * S, C, h, w),
        per_source(K[:, 0]),
        K[:, 1:].reshape(B * S, 3, 3),
        per_source(T_cw[:, 0]),
        T_cw[:, 1:].reshape(B * S, 4, 4),
        per_source(depths),
    )
    return warped.view(B, S, C, D, h, w), inside.view(B, S, 1, D, h, w)


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
