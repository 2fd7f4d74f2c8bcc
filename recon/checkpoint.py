"""Checkpoints that carry their own recon config, and loading them without running foreign code.

``torch.load(weights_only=True)`` refuses pickled objects, and the stored config is instantiated only where every
``_target_`` names one of recon's own classes, so a checkpoint from elsewhere cannot execute arbitrary code.
"""
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import recon

CONFIG_KEY = "recon"
TRUSTED_PREFIX = "recon."


class ConfigInCheckpoint(pl.Callback):
    """Stores in every checkpoint, under ``checkpoint["recon"]``: the resolved data/model/task config, the wandb run
    id (so a resumed run logs to the same wandb run) and the RNG states, which it restores when training resumes
    from that checkpoint (so data order and augmentation continue exactly as in an uninterrupted run)."""

    def __init__(self, cfg: DictConfig):
        self.stored = {
            "config": {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("data", "model", "task")},
            "version": recon.__version__,
        }

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        wandb_ids = [lg.version for lg in trainer.loggers if type(lg).__name__ == "WandbLogger"]
        checkpoint[CONFIG_KEY] = {**self.stored, "rng": rng_states(),
                                  **({"wandb_run_id": wandb_ids[0]} if wandb_ids else {})}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if "rng" in checkpoint.get(CONFIG_KEY, {}):
            set_rng_states(checkpoint[CONFIG_KEY]["rng"])


def rng_states() -> dict:
    """torch, numpy and python RNG states in types a weights-only checkpoint can hold."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "python": random.getstate(),
    }


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


def load_checkpoint(path: str | Path) -> dict:
    """Load a recon checkpoint with tensor-only unpickling; clear errors for missing or foreign files."""
    path = Path(path)
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
            raise ValueError(f"{where}._target_ = {target!r} is not a recon class; refusing to instantiate it "
                             f"from a checkpoint")
        for key, value in node.items():
            check_trusted_targets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_trusted_targets(value, f"{where}[{i}]")


def inference_config(checkpoint: dict) -> dict:
    """The stored data/model/task config without the training-only optimizer and scheduler, checked to name
    only recon classes (raises before anything is instantiated)."""
    config = checkpoint[CONFIG_KEY]["config"]
    for key in ("data", "model", "task"):
        if not isinstance(config.get(key), dict):
            raise ValueError(f"checkpoint config has no '{key}' section")
    config = {**config, "task": {k: v for k, v in config["task"].items() if k not in ("optimizer", "scheduler")}}
    for key, node in config.items():
        check_trusted_targets(node, key)
    return config


def restore_task(checkpoint: dict, overrides: dict | None = None) -> pl.LightningModule:
    """Rebuild the task (with its model) from a checkpoint's stored config and load its weights.

    ``overrides`` replace settings of the stored task (e.g. ``{"fusion_confidence": 0.3}`` for an evaluation);
    they cannot change its class.
    """
    config = inference_config(checkpoint)
    overrides = dict(overrides or {})
    if overrides.get("_target_", config["task"]["_target_"]) != config["task"]["_target_"]:
        raise ValueError(f"task overrides cannot change the checkpoint's task class {config['task']['_target_']}")
    task = instantiate({**config["task"], **overrides}, model=instantiate(config["model"]))
    task.load_state_dict(checkpoint["state_dict"])
    return task.eval()
