"""Fronto-parallel depth planes of a reference view and source views warped onto them: the plane sweep (Collins,
CVPR 1996) shared by the multi-view models.

Multi-view contract (``docs/ARCHITECTURE.md``): an item is a reference view (view 0) and ``S = V - 1 >= 1`` source
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

from torch import Tensor

from recon.geometry.multiview import homography_warp

SAMPLING = ("inverse", "linear")


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
