"""Matplotlib figures of single-view reconstructions (Agg backend: no display needed).

:func:`point_cloud_figure` draws ``input | ground truth | prediction``: the top row projects both clouds into the
input camera (pixels coloured by z-depth, one colour scale), the bottom row shows them from the side (an
orthographic view after a 90-degree turn about the camera's vertical axis, around the object), where depth
errors that the projection hides become visible. Points are in the camera frame (OpenCV: x right, y down,
z forward), as the single-view datamodule documents.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: figures are written to files, never shown

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from recon.geometry.cameras import project
from recon.io import atomic_path

CMAP = "viridis_r"  # near = bright yellow, far = dark blue


def as_numpy(x, name: str) -> np.ndarray:
    """A tensor (detached, moved to the CPU) or array-like as a float32 numpy array; ``name`` is the argument named
    in the error for something non-numeric."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric tensor or array, got {type(x).__name__}: {e}") from None


def image_hwc(image) -> np.ndarray:
    """(3, H, W) or (H, W, 3) in [0, 1] -> (H, W, 3) float32 clipped to [0, 1]."""
    img = as_numpy(image, "image")
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3), got shape {tuple(img.shape)}")
    return np.clip(img, 0.0, 1.0)


def _cloud(points, name: str) -> np.ndarray:
    p = as_numpy(points, name)
    if p.ndim != 2 or p.shape[-1] != 3:
        raise ValueError(f"{name} must be (N, 3), got shape {tuple(p.shape)}")
    return p[np.isfinite(p).all(axis=1)]


def _project(points: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) camera-frame points -> (M, 2) pixels (u, v) and (M,) depths of the points in front of the camera."""
    front = points[points[:, 2] > 1e-6]
    uv = project(torch.from_numpy(front)[None], torch.from_numpy(K)[None])[0].numpy()
    return uv, front[:, 2]


def _scatter_size(n: int, base: float) -> float:
    return float(np.clip(base / max(n, 1) ** 0.5, 0.5, 16.0))


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a figure to an ``(H, W, 3)`` uint8 RGB array (e.g. for TensorBoard)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


GT_COLOR, PRED_COLOR = "#7f7f7f", "#ff7f0e"


def point_cloud_figure(
    image, gt, pred, K, title: str | None = None, metrics: Mapping[str, float] | None = None
) -> Figure:
    """Input image beside the ground-truth and predicted clouds, seen from the input camera and from the side.

    Args:
        image: ``(3, H, W)`` (or ``(H, W, 3)``) RGB in [0, 1], tensor or array.
        gt: ``(P, 3)`` ground-truth points in the camera frame, or ``None`` when there is none.
        pred: ``(N, 3)`` predicted points in the camera frame.
        K: ``(3, 3)`` intrinsics of ``image`` in pixels.
        title: figure title.
        metrics: values printed under the prediction's title, e.g. ``{"Chamfer-L1": 0.031}``.
    Returns:
        With ``gt``: a 2 x 3 figure (9 x 6 in, 100 dpi). Top: ``input | ground truth | prediction``, the clouds
        projected into the input camera over a faded copy of the image (same pixel limits, y down), coloured by
        z-depth on one shared scale. Bottom: an orthographic side view (a 90-degree turn about the camera's
        vertical axis around the object: screen = (z, y), the camera is on the left) of both clouds overlaid,
        then of each cloud, with shared limits, so depth errors invisible in the projection show.
        Without ``gt``: one row ``input | prediction | side view`` (9 x 3.3 in).
        Non-finite points and points behind the camera (in the projection) are skipped.
    """
    img = image_hwc(image)
    H, W = img.shape[:2]
    K = as_numpy(K, "K")
    if K.shape != (3, 3):
        raise ValueError(f"K must be (3, 3), got shape {tuple(K.shape)}")
    clouds = {"prediction": _cloud(pred, "pred")}
    if gt is not None:
        clouds = {"ground truth": _cloud(gt, "gt"), **clouds}

    depths = np.concatenate([p[:, 2] for p in clouds.values()])
    depths = depths[depths > 0]
    vmin, vmax = np.percentile(depths, [1, 99]) if len(depths) else (0.0, 1.0)
    if vmax - vmin < 1e-6:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    everything = np.concatenate(list(clouds.values()))
    if len(everything):
        lo, hi = everything.min(0), everything.max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo)[1:].max()) / 2, 1e-3) * 1.1
    else:
        centre, half = np.array([0.0, 0.0, 1.0]), 1.0

    if gt is not None:
        fig, axes = plt.subplots(2, 3, figsize=(9.0, 6.0), dpi=100, layout="constrained")
        image_ax, camera_axes = axes[0, 0], dict(zip(clouds, axes[0, 1:]))
        overlay_ax, side_axes = axes[1, 0], dict(zip(clouds, axes[1, 1:]))
    else:
        fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.3), dpi=100, layout="constrained")
        image_ax, camera_axes = axes[0], {"prediction": axes[1]}
        overlay_ax, side_axes = None, {"prediction": axes[2]}

    image_ax.imshow(img, interpolation="nearest")
    image_ax.set_title(f"input ({W}x{H})", fontsize=10)
    image_ax.set_xticks([]), image_ax.set_yticks([])

    mappable = None
    for name, ax in camera_axes.items():
        uv, z = _project(clouds[name], K)
        ax.imshow(img, alpha=0.3, interpolation="nearest")
        order = np.argsort(-z)  # far first: near points are drawn on top
        mappable = ax.scatter(
            uv[order, 0],
            uv[order, 1],
            c=z[order],
            s=_scatter_size(len(z), 80.0),
            cmap=CMAP,
            vmin=vmin,
            vmax=vmax,
            linewidths=0,
            rasterized=True,
        )
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)  # y down, like the image
        ax.set_aspect("equal")
        ax.set_xticks([]), ax.set_yticks([])
        label = f"{name} ({len(clouds[name])} pts)"
        if name == "prediction" and metrics:
            label += "\n" + ", ".join(f"{k} {float(v):.4g}" for k, v in metrics.items())
        ax.set_title(label, fontsize=10)
    fig.colorbar(mappable, ax=list(camera_axes.values()), shrink=0.85, pad=0.01, label="depth z")

    if overlay_ax is not None:
        for name, p in clouds.items():
            overlay_ax.scatter(
                p[:, 2],
                p[:, 1],
                s=_scatter_size(len(p), 50.0),
                alpha=0.6,
                linewidths=0,
                color=GT_COLOR if name == "ground truth" else PRED_COLOR,
                label=name,
                rasterized=True,
            )
        overlay_ax.set_title("side view: overlay", fontsize=10)
        overlay_ax.legend(loc="lower right", fontsize=7, markerscale=3, frameon=False)
    for name, ax in side_axes.items():
        p = clouds[name]
        order = np.argsort(p[:, 0])  # the side viewer sits at +x: larger x is nearer to it, drawn last
        ax.scatter(
            p[order, 2],
            p[order, 1],
            c=p[order, 2],
            s=_scatter_size(len(p), 50.0),
            cmap=CMAP,
            vmin=vmin,
            vmax=vmax,
            linewidths=0,
            rasterized=True,
        )
        ax.set_title(f"side view: {name}", fontsize=10)
    side = [ax for ax in (overlay_ax, *side_axes.values()) if ax is not None]
    for ax in side:
        ax.set_xlim(centre[2] - half, centre[2] + half)
        ax.set_ylim(centre[1] + half, centre[1] - half)  # y down
        ax.set_aspect("equal")
        ax.set_xlabel("z (depth, camera on the left) \u2192", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, linewidth=0.3, alpha=0.5)
    side[0].set_ylabel("y (down)", fontsize=8)
    for ax in side[1:]:
        ax.tick_params(labelleft=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float | None = None) -> Path:
    """Write ``fig`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``) and close it.

    The format follows the suffix (``.png``, ``.pdf``, ``.svg``...). Raises ``OSError`` naming ``path`` if it cannot
    be written; no partial file is left behind.
    """
    path = Path(path)
    try:
        with atomic_path(path, "figure") as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi)
    finally:
        plt.close(fig)
    return path
