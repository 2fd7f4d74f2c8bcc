"""Checkpoints that carry their own recon config, and loading them without running foreign code.

``torch.load(weights_only=True)`` refuses pickled objects, and the stored config is instantiated only where every
``_target_`` names one of recon's own classes, so a checkpoint from elsewhere cannot execute arbitrary code.
"""

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from recon.callbacks.config_in_checkpoint import CONFIG_KEY
from recon.engine import zoo
from recon.engine.legacy import upgrade_targets

TRUSTED_PREFIX = "recon."


def load_checkpoint(path: str | Path) -> dict:
    """Load a recon checkpoint (a file, or ``zoo:<name>`` for a shipped one, :mod:`recon.engine.zoo`) with tensor-only
    unpickling; clear errors for missing or foreign files."""
    path = zoo.resolve(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means: not a safe recon checkpoint
        raise ValueError(f"{path} cannot be loaded as a weights-only checkpoint: {e}") from None
    if not isinstance(checkpoint, dict) or CONFIG_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a recon checkpoint (no '{CONFIG_KEY}' config or 'state_dict')")
    return checkpoint


def check_trusted_targets(node: Any, where: str) -> None:
    """Raise if any ``_target_`` in ``node`` is not one of recon's classes."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(TRUSTED_PREFIX):
            raise ValueError(
                f"{where}._target_ = {target!r} is not a recon class; refusing to instantiate it from a checkpoint"
            )
        for key, value in node.items():
            check_trusted_targets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_trusted_targets(value, f"{where}[{i}]")


def inference_config(checkpoint: dict) -> dict:
    """The stored data/model/task config without the training-only optimizer and scheduler, with moved class
    paths upgraded (:mod:`recon.engine.legacy`), checked to name only recon classes (raises before anything is
    instantiated)."""
    config = upgrade_targets(checkpoint[CONFIG_KEY]["config"])
    for key in ("data", "model", "task"):
        if not isinstance(config.get(key), dict):
            raise ValueError(f"checkpoint config has no '{key}' section")
    config = {**config, "task": {k: v for k, v in config["task"].items() if k not in ("optimizer", "scheduler")}}
    for key, node in config.items():
        check_trusted_targets(node, key)
    return config


def restore_task(
    checkpoint: dict, overrides: dict | None = None, model_overrides: dict | None = None
) -> pl.LightningModule:
    """Rebuild the task (with its model) from a checkpoint's stored config and load its weights.

    ``overrides`` replace settings of the stored task (e.g. ``{"fusion_confidence": 0.3}`` for an evaluation) and
    ``model_overrides`` settings of its model that its weights do not depend on (e.g. a stereo model's
    ``max_disparity``); neither can change a class.
    """
    config = inference_config(checkpoint)
    overrides, model_overrides = dict(overrides or {}), dict(model_overrides or {})
    for name, changed, stored in (("task", overrides, config["task"]), ("model", model_overrides, config["model"])):
        if changed.get("_target_", stored["_target_"]) != stored["_target_"]:
            raise ValueError(f"{name} overrides cannot change the checkpoint's {name} class {stored['_target_']}")
    model = instantiate({**config["model"], **model_overrides})
    task = instantiate({**config["task"], **overrides}, model=model)
    task.load_state_dict(checkpoint["state_dict"])
    return task.eval()


def load_model_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Copy the model weights of the checkpoint ``path`` (a file or ``zoo:<name>``) into ``model`` (``init_from``:
    fine-tuning starts from them with this run's task, optimizer and schedule). The checkpoint's model class must be
    ``model``'s and every weight must fit; otherwise a ``ValueError`` naming both."""
    checkpoint = load_checkpoint(path)
    stored = inference_config(checkpoint)["model"]["_target_"]
    mine = f"{type(model).__module__}.{type(model).__qualname__}"
    if stored != mine:
        raise ValueError(f"init_from={path}: its model is {stored}, this run's is {mine}")
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"init_from={path}: its weights do not fit this run's model settings: {e}") from None
