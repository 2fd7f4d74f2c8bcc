"""Matplotlib figures of stereo predictions: ``left | ground-truth disparity | prediction | error`` (Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from recon.viz.figures import as_numpy, image_hwc  # first: selects matplotlib's Agg backend

DISPARITY_CMAP = "turbo"  # near (large disparity) = red, far = blue
ERROR_CMAP = "RdBu_r"  # diverging: prediction too large = red, too small = blue
INVALID_COLOR = "#d9d9d9"  # pixels without ground truth


def as_map(x, name: str) -> np.ndarray:
    """(1, H, W) or (H, W) tensor/array -> (H, W) float32."""
    a = as_numpy(x, name)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (1, H, W) or (H, W), got shape {tuple(a.shape)}")
    return a


def disparity_figure(
    left,
    gt,
    pred,
    valid,
    title: str | None = None,
    metrics: Mapping[str, float] | None = None,
    error_limit: float = 3.0,
) -> Figure:
    """Left image, ground-truth and predicted disparity (one colour scale) and the signed error, in a 2 x 2 grid.

    Args:
        left: ``(3, H, W)`` (or ``(H, W, 3)``) RGB in [0, 1].
        gt: ``(1, H, W)`` or ``(H, W)`` left disparity in pixels.
        pred: the prediction, same shape.
        valid: bool map of the ground truth's valid pixels (same shape); the others are drawn grey in the ground
            truth and error panels.
        title: figure title.
        metrics: values printed in the error panel's title, e.g. ``{"EPE": 0.8, "bad2": 4.1}``.
        error_limit: the error colour scale spans ``[-error_limit, +error_limit]`` pixels (saturated beyond);
            the default 3 px is KITTI's D1 outlier threshold.
    Returns:
        A 2 x 2 figure: ``left | ground truth`` over ``prediction | error = prediction - ground truth``. Both
        disparity panels share one ``turbo`` scale from 0 to the larger of the ground truth's maximum and the
        prediction's 99th percentile; the error uses the diverging ``RdBu_r`` map (white = exact).
    """
    img = image_hwc(left)
    gt, pred = as_map(gt, "gt"), as_map(pred, "pred")
    valid = as_map(valid, "valid").astype(bool)
    if not gt.shape == pred.shape == valid.shape == img.shape[:2]:
        raise ValueError(
            f"left {img.shape[:2]}, gt {gt.shape}, pred {pred.shape} and valid {valid.shape} must have one size"
        )
    H, W = gt.shape
    finite = pred[np.isfinite(pred)]
    vmax = max(
        float(gt[valid].max()) if valid.any() else 0.0, float(np.percentile(finite, 99)) if finite.size else 0.0, 1.0
    )
    gt_shown = np.ma.masked_array(gt, ~valid)
    error = np.ma.masked_array(pred - gt, ~valid)

    panel_w = 4.2
    fig, axes = plt.subplots(
        2, 2, figsize=(2 * panel_w + 1.2, 2 * panel_w * H / W + 1.0), dpi=100, layout="constrained"
    )
    disparity_cmap = plt.get_cmap(DISPARITY_CMAP).with_extremes(bad=INVALID_COLOR)
    error_cmap = plt.get_cmap(ERROR_CMAP).with_extremes(bad=INVALID_COLOR)
    axes[0, 0].imshow(img, interpolation="nearest")
    axes[0, 0].set_title(f"left ({W}x{H})", fontsize=10)
    shown = axes[0, 1].imshow(gt_shown, cmap=disparity_cmap, vmin=0, vmax=vmax, interpolation="nearest")
    axes[0, 1].set_title(f"ground truth ({100 * valid.mean():.1f}% valid)", fontsize=10)
    axes[1, 0].imshow(pred, cmap=disparity_cmap, vmin=0, vmax=vmax, interpolation="nearest")
    axes[1, 0].set_title("prediction (scale of the ground truth)", fontsize=10)
    err = axes[1, 1].imshow(error, cmap=error_cmap, vmin=-error_limit, vmax=error_limit, interpolation="nearest")
    label = "error: prediction - ground truth"
    if metrics:
        label += "\n" + ", ".join(f"{k} {float(v):.3g}" for k, v in metrics.items())
    axes[1, 1].set_title(label, fontsize=10)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(shown, ax=axes[0, 1], shrink=0.9, pad=0.01, label="disparity (px)")
    fig.colorbar(
        err, ax=axes[1, 1], shrink=0.9, pad=0.01, label=f"px (clipped at \u00b1{error_limit:g})", extend="both"
    )
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
