"""``recon-predict`` on a rectified stereo pair: ``left=... right=...`` with a stereo checkpoint or a model that
needs no training (``model=sgbm``).

Both images are read and checked (exist, decode, same size, both gray or both colour) and the calibration keys are
checked before the model runs, so a bad request writes nothing. The model gets ``left``/``right`` as
``(1, 3, H, W)`` float RGB in [0, 1] at the images' own resolution. Outputs in ``output_dir``, ``<stem>`` being the
left image's stem:

- ``<stem>_disparity.pfm``: the left disparity in pixels, ``(H, W)`` float32 exactly as the model returned it;
- ``<stem>_disparity.png``: that disparity in the ``turbo`` colormap from 0 to the map's maximum;
- ``<stem>.png``: a figure ``left | disparity`` with a colourbar;
- with ``focal`` (px) and ``baseline``: ``<stem>_depth.pfm``, the z-depth ``focal * baseline / (d + doffs)`` in the
  baseline's units (0 where ``d + doffs <= 0``), and ``<stem>.ply``, the pixels of positive depth back-projected
  (pinhole ``fx = fy = focal``, principal point ``((W - 1) / 2, (H - 1) / 2)``, or ``intrinsics = [fx, fy, cx, cy]``
  whose ``fx`` is then the focal) and coloured by the left image, in the left camera frame (OpenCV axes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from omegaconf import DictConfig

from recon.data.formats.images import check_same_size, is_gray, read_image
from recon.geometry.cameras import intrinsics_from_focal, unproject
from recon.geometry.disparity import disparity_to_depth
from recon.predict.common import (
    check_request,
    colorize,
    finite_number,
    inference_device,
    load_model,
    parse_intrinsics,
    print_table,
    source_name,
    write_pfm_file,
    write_png,
)
from recon.viz.export import write_point_cloud
from recon.viz.figures import image_hwc, save_figure
from recon.viz.stereo import DISPARITY_CMAP


@dataclass(frozen=True)
class Calibration:
    """A calibrated pair: left intrinsics ``K (3, 3)`` (``K[0, 0]`` is the focal), baseline, disparity offset."""

    K: torch.Tensor
    baseline: float
    doffs: float


def calibration(cfg: DictConfig, H: int, W: int) -> Calibration | None:
    """The pair's calibration from ``focal``, ``baseline``, ``doffs`` and ``intrinsics``; None without focal and
    baseline. Raises ``ValueError`` naming the key for one of focal/baseline without the other, non-positive or
    non-finite values, malformed intrinsics or a focal that contradicts ``intrinsics``' fx."""
    focal, baseline, intrinsics = cfg.get("focal"), cfg.get("baseline"), cfg.get("intrinsics")
    doffs = finite_number("doffs", cfg.get("doffs") or 0.0)
    if focal is not None:
        focal = finite_number("focal", focal, positive=True)
    K = None
    if intrinsics is not None:
        K = parse_intrinsics(intrinsics)
        fx = float(K[0, 0])
        if focal is not None and not math.isclose(focal, fx, rel_tol=1e-6):
            raise ValueError(f"focal={focal} contradicts intrinsics fx={fx}: give one of them")
        focal = fx
    if (focal is None) != (baseline is None):
        given, missing = ("focal (or intrinsics)", "baseline") if baseline is None else ("baseline", "focal")
        raise ValueError(
            f"{given} given without {missing}: depth and the point cloud need both focal (px) and baseline"
        )
    if focal is None:
        return None
    baseline = finite_number("baseline", baseline, positive=True)
    return Calibration(intrinsics_from_focal(focal, H, W) if K is None else K, baseline, doffs)


def read_pair(left: str | Path, right: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as ``(3, H, W)`` float32 RGB in [0, 1]. Raises naming the file(s) for a missing or undecodable
    file, a mode that is neither gray nor RGB(A), one gray and one colour image, or different sizes."""
    (lp, rp) = paths = Path(str(left)), Path(str(right))
    (li, lm), (ri, rm) = (read_image(path, strict=True) for path in paths)
    lk, rk = ("gray" if is_gray(mode) else "colour" for mode in (lm, rm))
    if lk != rk:
        raise ValueError(
            f"left {lp} is {lk} (mode {lm!r}) but right {rp} is {rk} (mode {rm!r}): give both gray or both colour"
        )
    check_same_size(li.shape, lp, ri.shape, rp)
    return li, ri


def prediction_figure(left: torch.Tensor, disparity: np.ndarray, vmax: float, title: str):
    """``left | disparity`` (``(3, H, W)`` image, ``(H, W)`` disparity in ``[0, vmax]``) with a colourbar."""
    H, W = disparity.shape
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2 * H / W + 0.8), dpi=100, layout="constrained")
    axes[0].imshow(image_hwc(left), interpolation="nearest")
    axes[0].set_title(f"left ({W}x{H})", fontsize=10)
    shown = axes[1].imshow(disparity, cmap=DISPARITY_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    axes[1].set_title("disparity", fontsize=10)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(shown, ax=axes[1], shrink=0.9, pad=0.01, label="disparity (px)")
    fig.suptitle(title, fontsize=11)
    return fig


def back_project(disparity: torch.Tensor, left: torch.Tensor, calib: Calibration):
    """Depth and coloured points of a ``(1, 1, H, W)`` disparity: ``(H, W)`` depth (0 where ``d + doffs <= 0``),
    ``(N, 3)`` points of the pixels with positive depth (row-major order) and their ``(N, 3)`` left colours."""
    focal = float(calib.K[0, 0])
    depth = disparity_to_depth(disparity + calib.doffs, focal, calib.baseline)
    points = unproject(depth, calib.K[None].to(depth))[0]
    keep = (depth > 0).flatten()
    return depth[0, 0], points[keep], left.permute(1, 2, 0).reshape(-1, 3)[keep]


def predict_stereo(cfg: DictConfig, checkpoint: dict | None, config: dict) -> dict:
    """Run a stereo model on ``cfg.left``/``cfg.right`` and write the outputs of the module docstring.

    Args:
        cfg: ``left``, ``right``, ``output_dir``; optional ``focal``, ``baseline``, ``doffs``, ``intrinsics``, and
            ``max_disparity``: the pair's disparity range (px) the model searches, whatever range it was trained
            with (Middlebury's ``calib.txt`` states it as ``ndisp``); None: the model's own.
        checkpoint: a loaded recon checkpoint, or None to instantiate ``config["model"]`` (non-trainable only).
        config: the checkpoint's inference config, or ``{"model": <model config>}``.
    Returns:
        ``left``, ``right``, ``size``, ``disparity``/``disparity_png``/``png``/``depth``/``ply`` paths (the last two
        None without calibration or, for the cloud, without a point of positive depth), ``points`` and ``range``
        (the disparity's min and max).
    Raises:
        ValueError / FileNotFoundError naming the key or file, before anything is written.
    """
    source = source_name(cfg, checkpoint, config)
    check_request(
        cfg,
        checkpoint,
        config,
        problem="stereo",
        request="the pair as left=<image> right=<image>",
        untrained="model=sgbm",
        needs=("left", "right"),
        refuses=("inputs",),
    )
    left, right = read_pair(cfg.left, cfg.right)
    H, W = left.shape[-2:]
    calib = calibration(cfg, H, W)
    search = cfg.get("max_disparity")
    overrides = {} if search is None else {"max_disparity": finite_number("max_disparity", search, positive=True)}
    model = load_model(checkpoint, config, overrides)

    device = inference_device()
    with torch.inference_mode():
        disparity = model(left=left[None].to(device), right=right[None].to(device))["disparity"].float().cpu()
    d = disparity[0, 0].numpy()
    finite = d[np.isfinite(d)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (math.nan, math.nan)
    vmax = high if high > 0 else 1.0

    stem, out = Path(str(cfg.left)).stem, Path(str(cfg.output_dir))
    result = {
        "left": Path(str(cfg.left)),
        "right": Path(str(cfg.right)),
        "size": f"{W}x{H}",
        "range": (low, high),
        "depth": None,
        "ply": None,
        "points": 0,
    }
    figure = prediction_figure(left, d, vmax, title=f"{result['left'].name}: {source}")
    result["disparity"] = write_pfm_file(out / f"{stem}_disparity.pfm", d)
    result["disparity_png"] = write_png(out / f"{stem}_disparity.png", colorize(d / vmax, DISPARITY_CMAP))
    result["png"] = save_figure(figure, out / f"{stem}.png")
    if calib is not None:
        depth, points, colors = back_project(disparity, left, calib)
        result["depth"] = write_pfm_file(out / f"{stem}_depth.pfm", depth.numpy())
        result["points"] = len(points)
        if len(points):
            result["ply"] = write_point_cloud(out / f"{stem}.ply", points.numpy(), colors.numpy())
    outputs = [result[k].name for k in ("disparity", "disparity_png", "png", "depth", "ply") if result[k] is not None]
    print_table(
        f"recon-predict (stereo): {source}",
        ("left", "right", "size", "disparity (px)", "points", "outputs"),
        [
            (
                str(result["left"]),
                str(result["right"]),
                result["size"],
                f"{low:.2f} .. {high:.2f}",
                str(result["points"]) if calib is not None else "- (no focal/baseline)",
                "\n".join(outputs),
            )
        ],
        caption=f"written to {out}",
    )
    return result
