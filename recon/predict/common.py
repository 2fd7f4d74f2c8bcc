"""What the ``recon-predict`` predictors share: request checks, the model, output names and writers, the table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import matplotlib
import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import nn

from recon.data.formats.pfm import write_pfm
from recon.engine.checkpoint import restore_task
from recon.io import atomic_path, write_bytes_atomic
from recon.viz.stereo import INVALID_COLOR


def model_problem(model_config: dict) -> str | None:
    """The ``problem`` class attribute of the model a config's ``_target_`` names (e.g. ``"stereo"``)."""
    target = model_config.get("_target_")
    try:
        return getattr(get_class(str(target)), "problem", None)
    except Exception as e:  # noqa: BLE001 - any import failure: say which target
        raise ValueError(f"model._target_ = {target!r} cannot be imported: {e}") from None


def source_name(cfg: DictConfig, checkpoint: dict | None, config: dict) -> str:
    """How tables and errors name the model: the checkpoint path, or ``model=<class name>``."""
    if checkpoint is not None:
        return str(cfg.ckpt_path)
    return "model=" + str(config["model"]["_target_"]).rsplit(".", 1)[-1]


def check_request(
    cfg: DictConfig,
    checkpoint: dict | None,
    config: dict,
    *,
    problem: str,
    request: str,
    untrained: str | None = None,
    needs: Sequence[str] = (),
    refuses: Sequence[str] = (),
) -> None:
    """Raise ``ValueError`` unless the model solves ``problem``, a model given without checkpoint needs no
    training, ``cfg`` gives every key of ``needs`` and none of ``refuses`` (the inputs of other problems).

    ``request`` says how this problem's inputs are given (e.g. ``"the pair as left=<image> right=<image>"``) and
    ``untrained`` names a model that runs without training (e.g. ``"model=sgbm"``), if the problem has one; both go
    into the messages.
    """
    source, label = source_name(cfg, checkpoint, config), problem.replace("_", "-")
    found = model_problem(config["model"])
    if found != problem:
        raise ValueError(
            f"{source} is a {found} model, not {label}: give {request} with a {label} checkpoint"
            + (f" or {untrained}" if untrained else "")
        )
    if checkpoint is None and getattr(get_class(config["model"]["_target_"]), "trainable", True):
        raise ValueError(
            f"{source} is trainable: give ckpt_path=<a trained checkpoint>; only models without training"
            + (f" (e.g. {untrained})" if untrained else "")
            + " run from model=<name>"
        )
    for key in refuses:
        if cfg.get(key) is not None:
            raise ValueError(f"{source} is a {label} model: give {request}, not {key}")
    if any(cfg.get(key) is None for key in needs):
        raise ValueError(f"{source} is a {label} model: give {request}")


def load_model(checkpoint: dict | None, config: dict, overrides: dict | None = None) -> nn.Module:
    """The checkpoint's restored model, or the model ``config["model"]`` instantiated, with ``overrides`` of its
    settings, in eval mode on :func:`inference_device`."""
    overrides = dict(overrides or {})
    if checkpoint is not None:
        model = restore_task(checkpoint, model_overrides=overrides).model
    else:
        model = instantiate({**config["model"], **overrides})
    return model.eval().to(inference_device())


def inference_device() -> torch.device:
    """The device predictions run on: the GPU if there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def finite_number(key: str, value, positive: bool = False) -> float:
    """``value`` as a float; raises ``ValueError`` naming ``key`` unless it is a finite (and positive) number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0):
        raise ValueError(f"{key} must be a finite{' positive' if positive else ''} number, got {value!r}")
    return x


def parse_intrinsics(value) -> torch.Tensor:
    """``[fx, fy, cx, cy]`` in pixels -> ``K (3, 3)`` float32; raises ``ValueError`` naming the key for a list of
    another length, a non-finite value or a non-positive focal length."""
    if not (OmegaConf.is_list(value) or isinstance(value, (list, tuple))) or len(value) != 4:
        raise ValueError(f"intrinsics must be [fx, fy, cx, cy] in pixels, got {value}")
    fx, fy, cx, cy = (
        finite_number(f"intrinsics.{k}", v, positive=k in ("fx", "fy")) for k, v in zip(("fx", "fy", "cx", "cy"), value)
    )
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def output_stems(names: Sequence[str]) -> list[str]:
    """File names or view ids as output file stems: suffix dropped, folders joined by ``_``, repeats numbered
    ``name``, ``name-1``, ``name-2``..."""
    stems, seen = [], {}
    for name in names:
        stem = str(PurePosixPath(name).with_suffix("")).replace("/", "_")
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        stems.append(stem if n == 0 else f"{stem}-{n}")
    return stems


def colorize(values: np.ndarray, cmap: str) -> np.ndarray:
    """``(H, W)`` values in [0, 1] (clipped; NaN: grey) -> ``(H, W, 3)`` uint8 in the colormap ``cmap``."""
    rgba = matplotlib.colormaps[cmap].with_extremes(bad=INVALID_COLOR)(np.clip(values, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def write_pfm_file(path: Path, array: np.ndarray) -> Path:
    """Write an ``(H, W)`` float map as PFM, atomically."""
    with atomic_path(path, "PFM map") as tmp:
        write_pfm(tmp, array)
    return path


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` or ``(H, W)`` uint8 image as PNG, atomically."""
    return write_bytes_atomic(path, lambda f: Image.fromarray(image).save(f, format="PNG"), "image")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None = None) -> None:
    """Print the results of a prediction as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
