"""Matplotlib figures of multi-view stereo predictions: reference | sources | ground-truth depth | prediction |
relative error | confidence (Agg backend)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from recon.metrics.depth import depth_errors
from recon.viz.figures import as_numpy, image_hwc  # first: selects matplotlib's Agg backend
from recon.viz.stereo import ERROR_CMAP, INVALID_COLOR, as_map

DEPTH_CMAP = "turbo_r"  # near = red, far = blue (as the stereo figure's disparity)
CONFIDENCE_CMAP = "viridis"
DEPTH_ERROR_LABELS = {"abs_rel": "AbsRel", "delta1": "\u03b4<1.25 (%)"}


def labelled_depth_errors(gt, pred, valid) -> dict[str, float]:
    """:func:`~recon.metrics.depth.depth_errors` of one map under the figure's labels (``AbsRel``, delta < 1.25 in
    percent); inputs ``(1, H, W)`` or ``(H, W)``. Empty dict when no pixel is valid."""
    errors = depth_errors(pred, gt, valid)
    return {label: errors[key] for key, label in DEPTH_ERROR_LABELS.items() if key in errors}


def _montage(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """(S, H, W, 3) -> one near-square grid image (white gaps)."""
    S, H, W, _ = images.shape
    cols = math.ceil(math.sqrt(S))
    rows = math.ceil(S / cols)
    canvas = np.ones((rows * H + (rows - 1) * gap, cols * W + (cols - 1) * gap, 3), dtype=np.float32)
    for s, img in enumerate(images):
        r, c = divmod(s, cols)
        canvas[r * (H + gap) : r * (H + gap) + H, c * (W + gap) : c * (W + gap) + W] = img
    return canvas


def depth_figure(
    images,
    gt,
    pred,
    valid,
    depth_range,
    confidence=None,
    title: str | None = None,
    error_limit: float = 0.1,
    max_sources: int = 4,
) -> Figure:
    """One multi-view stereo item in a 2 x 3 grid, its AbsRel and delta < 1.25 in the error panel's title.

    Reading down the columns: reference, sources, ground truth, prediction, relative error, confidence.

    Args:
        images: ``(V, 3, H, W)`` RGB in [0, 1], view 0 the reference (the other views are drawn as small tiles), or
            ``(3, H, W)`` the reference alone.
        gt: ``(1, H, W)`` or ``(H, W)`` reference z-depth ground truth.
        pred: the predicted depth, same shape.
        valid: bool map of the ground truth's valid pixels (same shape; ``gt <= 0`` counts as invalid too); the others
            are grey in the ground truth and error panels.
        depth_range: ``(2,)`` (near, far): the colour scale of both depth panels (saturated beyond).
        confidence: optional ``(1, H, W)`` or ``(H, W)`` in [0, 1].
        title: figure title.
        error_limit: the relative-error colour scale spans ``[-error_limit, +error_limit]`` (default 10 %).
        max_sources: at most this many source views are tiled.
    Returns:
        ``reference | ground truth | (pred - gt) / gt`` over ``sources | prediction | confidence``: both depths
        (one column) on one ``turbo_r`` scale over ``depth_range``, the signed relative error on the diverging
        ``RdBu_r`` map (white = exact, red = too far), the confidence on ``viridis`` over [0, 1]. Panels without
        data (no source views, no confidence) are left blank.
    """
    views = as_numpy(images, "images")
    views = views[None] if views.ndim == 3 else views
    if views.ndim != 4:
        raise ValueError(f"images must be (V, 3, H, W) or (3, H, W), got shape {tuple(views.shape)}")
    ref = image_hwc(views[0])
    sources = [image_hwc(v) for v in views[1 : 1 + max_sources]]
    gt, pred = as_map(gt, "gt"), as_map(pred, "pred")
    valid = as_map(valid, "valid").astype(bool) & (gt > 0)
    conf = None if confidence is None else as_map(confidence, "confidence")
    shapes = {
        "gt": gt.shape,
        "pred": pred.shape,
        "valid": valid.shape,
        "reference image": ref.shape[:2],
        **({} if conf is None else {"confidence": conf.shape}),
    }
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{', '.join(f'{k} {v}' for k, v in shapes.items())} must have one size")
    near, far = (float(x) for x in as_numpy(depth_range, "depth_range").reshape(-1)[:2])
    H, W = gt.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.ma.masked_array((pred - gt) / np.where(valid, gt, 1.0), ~valid)
    metrics = labelled_depth_errors(gt, pred, valid)

    panel_w = 3.6
    fig, axes = plt.subplots(
        2, 3, figsize=(3 * panel_w + 1.8, 2 * panel_w * H / W + 1.2), dpi=100, layout="constrained"
    )
    depth_cmap = plt.get_cmap(DEPTH_CMAP).with_extremes(bad=INVALID_COLOR)
    error_cmap = plt.get_cmap(ERROR_CMAP).with_extremes(bad=INVALID_COLOR)
    axes[0, 0].imshow(ref, interpolation="nearest")
    axes[0, 0].set_title(f"reference ({W}x{H}, {len(views)} views)", fontsize=10)
    if sources:
        axes[1, 0].imshow(_montage(np.stack(sources)), interpolation="nearest")
        axes[1, 0].set_title(f"sources 1-{len(sources)} of {len(views) - 1}", fontsize=10)
    gt_img = axes[0, 1].imshow(
        np.ma.masked_array(gt, ~valid), cmap=depth_cmap, vmin=near, vmax=far, interpolation="nearest"
    )
    axes[0, 1].set_title(f"ground truth ({100 * valid.mean():.1f}% valid)", fontsize=10)
    axes[1, 1].imshow(pred, cmap=depth_cmap, vmin=near, vmax=far, interpolation="nearest")
    axes[1, 1].set_title("prediction", fontsize=10)
    err = axes[0, 2].imshow(relative, cmap=error_cmap, vmin=-error_limit, vmax=error_limit, interpolation="nearest")
    label = "(pred - gt) / gt\n"
    label += ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()) if metrics else "no valid ground truth"
    axes[0, 2].set_title(label, fontsize=10)
    if conf is not None:
        shown = axes[1, 2].imshow(conf, cmap=CONFIDENCE_CMAP, vmin=0, vmax=1, interpolation="nearest")
        axes[1, 2].set_title("confidence", fontsize=10)
        fig.colorbar(shown, ax=axes[1, 2], shrink=0.9, pad=0.01)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        if not ax.images:
            ax.set_axis_off()
    fig.colorbar(gt_img, ax=[axes[0, 1], axes[1, 1]], shrink=0.9, pad=0.01, label="depth", extend="both")
    fig.colorbar(
        err,
        ax=axes[0, 2],
        shrink=0.9,
        pad=0.01,
        extend="both",
        ticks=np.linspace(-error_limit, error_limit, 5),
        format=PercentFormatter(xmax=1, decimals=None),
    )
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
