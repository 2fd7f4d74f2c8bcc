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

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import nn

from recon.data.formats.images import check_same_size, read_rgb
from recon.data.formats.pfm import write_pfm
from recon.engine.checkpoint import restore_task
from recon.geometry.cameras import intrinsics_from_focal, unproject
from recon.geometry.disparity import disparity_to_depth
from recon.io import atomic_path
from recon.viz.export import write_point_cloud
from recon.viz.figures import _image_hwc, save_figure
from recon.viz.stereo import DISPARITY_CMAP

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N"}
COLOR_MODES = {"RGB", "RGBA", "P", "PA"}  # palettes are expanded to RGB


@dataclass(frozen=True)
class Calibration:
    """A calibrated pair: left intrinsics ``K (3, 3)`` (``K[0, 0]`` is the focal), baseline, disparity offset."""

    K: torch.Tensor
    baseline: float
    doffs: float


def model_problem(model_config: dict) -> str | None:
    """The ``problem`` class attribute of the model a config's ``_target_`` names (e.g. ``"stereo"``)."""
    target = model_config.get("_target_")
    try:
        return getattr(get_class(str(target)), "problem", None)
    except Exception as e:  # noqa: BLE001 - any import failure: say which target
        raise ValueError(f"model._target_ = {target!r} cannot be imported: {e}") from None


def _number(key: str, value, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0):
        raise ValueError(f"{key} must be a finite{' positive' if positive else ''} number, got {value!r}")
    return x


def calibration(cfg: DictConfig, H: int, W: int) -> Calibration | None:
    """The pair's calibration from ``focal``, ``baseline``, ``doffs`` and ``intrinsics``; None without focal and
    baseline. Raises ``ValueError`` naming the key for one of focal/baseline without the other, non-positive or
    non-finite values, malformed intrinsics or a focal that contradicts ``intrinsics``' fx."""
    focal, baseline, intrinsics = cfg.get("focal"), cfg.get("baseline"), cfg.get("intrinsics")
    doffs = _number("doffs", cfg.get("doffs") or 0.0)
    if focal is not None:
        focal = _number("focal", focal, positive=True)
    if intrinsics is not None:
        if not (OmegaConf.is_list(intrinsics) or isinstance(intrinsics, (list, tuple))) or len(intrinsics) != 4:
            raise ValueError(f"intrinsics must be [fx, fy, cx, cy] in pixels, got {intrinsics}")
        fx, fy, cx, cy = (
            _number(f"intrinsics.{k}", v, positive=k in ("fx", "fy"))
            for k, v in zip(("fx", "fy", "cx", "cy"), intrinsics)
        )
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
    baseline = _number("baseline", baseline, positive=True)
    K = (
        intrinsics_from_focal(focal, H, W)
        if intrinsics is None
        else torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    )
    return Calibration(K, baseline, doffs)


def read_pair(left: str | Path, right: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as ``(3, H, W)`` float32 RGB in [0, 1]. Raises naming the file(s) for a missing or undecodable
    file, a mode that is neither gray nor RGB(A), one gray and one colour image, or different sizes."""
    images, kinds = [], []
    for path in (Path(str(left)), Path(str(right))):
        images.append(read_rgb(path))
        with Image.open(path) as im:
            mode = im.mode
        if mode not in GRAY_MODES | COLOR_MODES:
            raise ValueError(f"{path}: image mode {mode!r} is neither gray nor RGB(A); convert it to RGB")
        kinds.append((path, mode, "gray" if mode in GRAY_MODES else "colour"))
    (lp, lm, lk), (rp, rm, rk) = kinds
    if lk != rk:
        raise ValueError(
            f"left {lp} is {lk} (mode {lm!r}) but right {rp} is {rk} (mode {rm!r}): give both gray or both colour"
        )
    check_same_size(images[0].shape, lp, images[1].shape, rp)
    return images[0], images[1]


def load_stereo_model(checkpoint: dict | None, config: dict) -> nn.Module:
    """The checkpoint's restored model, or a model without trainable state instantiated from ``config["model"]``."""
    if checkpoint is not None:
        return restore_task(checkpoint).model
    return instantiate(config["model"]).eval()


def check_request(cfg: DictConfig, checkpoint: dict | None, config: dict, source: str) -> None:
    """Raise ``ValueError`` unless the model is stereo, runs without checkpoint if none is given, and the request
    names both ``left`` and ``right`` and no single-view ``inputs``."""
    problem = model_problem(config["model"])
    if problem != "stereo":
        raise ValueError(
            f"{source} is a {problem} model, not stereo: left/right need a stereo checkpoint or "
            "model=sgbm (single-view images go in inputs=[...])"
        )
    if checkpoint is None and getattr(get_class(config["model"]["_target_"]), "trainable", True):
        raise ValueError(
            f"{source} is trainable: give ckpt_path=<a trained checkpoint>; only models without training "
            "(e.g. model=sgbm) run from model=<name>"
        )
    if cfg.get("inputs") is not None:
        raise ValueError(f"{source} is a stereo model: give the pair as left=<image> right=<image>, not inputs")
    if cfg.get("left") is None or cfg.get("right") is None:
        raise ValueError(f"{source} is a stereo model: give both left=<image> and right=<image>")


def colorize(disparity: np.ndarray, vmax: float) -> np.ndarray:
    """``(H, W)`` disparity -> ``(H, W, 3)`` uint8 in the disparity colormap over ``[0, vmax]`` (NaN: grey)."""
    cmap = matplotlib.colormaps[DISPARITY_CMAP].with_extremes(bad="#d9d9d9")
    rgba = cmap(np.clip(disparity / vmax, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def prediction_figure(left: torch.Tensor, disparity: np.ndarray, vmax: float, title: str):
    """``left | disparity`` (``(3, H, W)`` image, ``(H, W)`` disparity in ``[0, vmax]``) with a colourbar."""
    H, W = disparity.shape
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2 * H / W + 0.8), dpi=100, layout="constrained")
    axes[0].imshow(_image_hwc(left), interpolation="nearest")
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


def _write_pfm(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path, "PFM map") as tmp:
        write_pfm(tmp, array)
    return path


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    with atomic_path(path, "image") as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return path


def predict_stereo(cfg: DictConfig, checkpoint: dict | None, config: dict) -> dict:
    """Run a stereo model on ``cfg.left``/``cfg.right`` and write the outputs of the module docstring.

    Args:
        cfg: ``left``, ``right``, ``output_dir``; optional ``focal``, ``baseline``, ``doffs``, ``intrinsics``.
        checkpoint: a loaded recon checkpoint, or None to instantiate ``config["model"]`` (non-trainable only).
        config: the checkpoint's inference config, or ``{"model": <model config>}``.
    Returns:
        ``left``, ``right``, ``size``, ``disparity``/``disparity_png``/``png``/``depth``/``ply`` paths (the last two
        None without calibration or, for the cloud, without a point of positive depth), ``points`` and ``range``
        (the disparity's min and max).
    Raises:
        ValueError / FileNotFoundError naming the key or file, before anything is written.
    """
    name = str(config["model"]["_target_"]).rsplit(".", 1)[-1]
    source = str(cfg.ckpt_path) if checkpoint is not None else f"model={name}"
    check_request(cfg, checkpoint, config, source)
    left, right = read_pair(cfg.left, cfg.right)
    H, W = left.shape[-2:]
    calib = calibration(cfg, H, W)
    model = load_stereo_model(checkpoint, config)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
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
    result["disparity"] = _write_pfm(out / f"{stem}_disparity.pfm", d)
    result["disparity_png"] = _write_png(out / f"{stem}_disparity.png", colorize(d, vmax))
    result["png"] = save_figure(figure, out / f"{stem}.png")
    if calib is not None:
        depth, points, colors = back_project(disparity, left, calib)
        result["depth"] = _write_pfm(out / f"{stem}_depth.pfm", depth.numpy())
        result["points"] = len(points)
        if len(points):
            result["ply"] = write_point_cloud(out / f"{stem}.ply", points.numpy(), colors.numpy())
    _print_table(result, source, out)
    return result


def _print_table(r: dict, source: str, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"recon-predict (stereo): {source}", caption=f"written to {out}")
    for column in ("left", "right", "size", "disparity (px)", "points", "outputs"):
        table.add_column(column)
    outputs = [r[k].name for k in ("disparity", "disparity_png", "png", "depth", "ply") if r[k] is not None]
    points = str(r["points"]) if r["depth"] is not None else "- (no focal/baseline)"
    table.add_row(
        str(r["left"]),
        str(r["right"]),
        r["size"],
        f"{r['range'][0]:.2f} .. {r['range'][1]:.2f}",
        points,
        "\n".join(outputs),
    )
    Console().print(table)
