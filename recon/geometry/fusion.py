"""Depth-map fusion: the per-view depth maps of one scene into one coloured world-frame point cloud.

The filter of MVSNet's evaluation (Yao et al., ECCV 2018, after Gipuma / fusibile, Galliani et al., ICCV 2015):
a pixel of view ``i`` is kept when its confidence is at least ``confidence_threshold`` and its depth is
geometrically consistent (:func:`~recon.geometry.multiview.geometric_consistency`: forward-backward reprojection
error below ``pixel_threshold`` pixels and relative depth difference below ``relative_depth_threshold``) with at
least ``min_views`` of the other views. Depths below the confidence threshold are treated as missing everywhere:
they neither give points nor vouch for other views' pixels. With ``average`` (fusibile) a kept pixel's point is the
mean of its own point and the points of the consistent views, each sampled bilinearly from that view's point map
at the pixel's projection (the location the consistency check sampled).

Every view is checked against every other: ``V * (V - 1)`` consistency checks of ``H x W`` pixels. The views of
one call share one ``(H, W)``; ``K`` is in pixels of the depth maps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from recon.geometry.multiview import depth_to_world_points, geometric_consistency, homography_warp

__all__ = ["consistent_points", "fuse_depth_maps"]


def _check_views(depth: Tensor, K: Tensor, T_cw: Tensor, **maps: Tensor | None) -> None:
    if not isinstance(depth, Tensor) or depth.ndim != 4 or depth.shape[1] != 1 or len(depth) == 0:
        raise ValueError(
            f"depth must be (V, 1, H, W) with V >= 1, got "
            f"{tuple(depth.shape) if isinstance(depth, Tensor) else type(depth).__name__}"
        )
    V, _, H, W = depth.shape
    want = {
        "K": (V, 3, 3),
        "T_cw": (V, 4, 4),
        "images": (V, 3, H, W),
        "confidence": (V, 1, H, W),
        "region": (V, 1, H, W),
    }
    for name, t in {"K": K, "T_cw": T_cw, **maps}.items():
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != want[name]):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be {want[name]} for depth {tuple(depth.shape)}, got {got}")


def consistent_points(
    depth: Tensor,
    K: Tensor,
    T_cw: Tensor,
    confidence: Tensor | None = None,
    *,
    confidence_threshold: float = 0.8,
    min_views: int = 3,
    pixel_threshold: float = 1.0,
    relative_depth_threshold: float = 0.01,
    average: bool = True,
) -> tuple[Tensor, Tensor]:
    """Which pixels of each view survive the fusion filter, and their (averaged) world points.

    Args:
        depth: (V, 1, H, W) z-depth maps of one scene, 0 = no depth.
        K: (V, 3, 3) intrinsics in pixels of ``depth``; T_cw: (V, 4, 4) world-to-camera poses.
        confidence: (V, 1, H, W) per-pixel confidence, or None (every depth counts).
        confidence_threshold: pixels need ``confidence >= confidence_threshold``.
        min_views: pixels need at least this many consistent *other* views (0: no consistency check).
        pixel_threshold, relative_depth_threshold: see :func:`~recon.geometry.multiview.geometric_consistency`.
        average: average the point with those of the consistent views (else: the pixel's own point).
    Returns:
        keep: (V, 1, H, W) bool; points: (V, H, W, 3) world points (meaningful where ``keep``).
    """
    _check_views(depth, K, T_cw, confidence=confidence)
    if int(min_views) != min_views or min_views < 0:
        raise ValueError(f"min_views must be an integer >= 0, got {min_views}")
    if confidence is not None:
        depth = torch.where(confidence >= confidence_threshold, depth, 0.0)
    V = len(depth)
    points = depth_to_world_points(depth, K, T_cw)  # (V, H, W, 3)
    keep = depth > 0
    if V == 1 or (min_views == 0 and not average):
        return keep & (min_views == 0), points
    fused = torch.empty_like(points)
    for i in range(V):
        src = [j for j in range(V) if j != i]
        ref = [i] * len(src)
        ok = geometric_consistency(
            depth[ref],
            K[ref],
            T_cw[ref],
            depth[src],
            K[src],
            T_cw[src],
            pixel_threshold=pixel_threshold,
            relative_depth_threshold=relative_depth_threshold,
        )  # (V-1, 1, H, W)
        count = ok.sum(0)  # (1, H, W)
        keep[i] &= count >= min_views
        if average:
            # Sampled where the consistency check sampled: the projection of the pixel's point into each source.
            sampled, _ = homography_warp(
                points[src].permute(0, 3, 1, 2), K[ref], K[src], T_cw[ref], T_cw[src], depth[ref]
            )  # (V-1, 3, 1, H, W)
            sampled = sampled[:, :, 0].permute(0, 2, 3, 1).to(points.dtype)  # (V-1, H, W, 3)
            total = points[i] + torch.where(ok[:, 0, ..., None], sampled, 0.0).sum(0)
            fused[i] = total / (1 + count[0, ..., None])
        else:
            fused[i] = points[i]
    return keep, fused


def fuse_depth_maps(
    depth: Tensor,
    K: Tensor,
    T_cw: Tensor,
    images: Tensor,
    confidence: Tensor | None = None,
    region: Tensor | None = None,
    **filter_kwargs,
) -> tuple[Tensor, Tensor]:
    """One coloured world-frame point cloud from the depth maps of one scene's views.

    Args:
        depth: (V, 1, H, W) z-depth maps, 0 = no depth; K: (V, 3, 3); T_cw: (V, 4, 4) world-to-camera.
        images: (V, 3, H, W) RGB in [0, 1]: a point takes its pixel's colour in its own view.
        confidence: (V, 1, H, W) or None.
        region: (V, 1, H, W) bool or None: only pixels inside it give points (an evaluation region, e.g. the
            objects' masks); the filter itself still checks every view against all depths of the others.
        **filter_kwargs: ``confidence_threshold``, ``min_views``, ``pixel_threshold``,
            ``relative_depth_threshold``, ``average`` of :func:`consistent_points`.
    Returns:
        points: (N, 3) world points; colors: (N, 3) RGB; view by view, pixels in row-major order. N may be 0.
        Write them with :func:`recon.viz.export.write_point_cloud` (needs N >= 1).
    """
    _check_views(depth, K, T_cw, images=images, region=region)
    keep, points = consistent_points(depth, K, T_cw, confidence, **filter_kwargs)
    mask = keep[:, 0] if region is None else keep[:, 0] & region[:, 0].bool()  # (V, H, W)
    return points[mask], images.permute(0, 2, 3, 1)[mask].to(points.dtype)
