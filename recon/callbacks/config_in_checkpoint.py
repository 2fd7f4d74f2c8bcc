"""The recon section of every checkpoint: the config that rebuilds the model, and the RNG states a resume needs."""

import random

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

import recon

CONFIG_KEY = "recon"


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
        checkpoint[CONFIG_KEY] = {
            **self.stored,
            "rng": rng_states(),
            **({"wandb_run_id": wandb_ids[0]} if wandb_ids else {}),
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if "rng" in checkpoint.get(CONFIG_KEY, {}):
            set_rng_states(checkpoint[CONFIG_KEY]["rng"])


def rng_states() -> dict:
    """torch, numpy and python RNG states in types a weights-only checkpoint can hold."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": random.getstate(),
    }


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
