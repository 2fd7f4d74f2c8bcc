"""The config directory and every ``${recon_...:}`` resolver the configs use, registered in one place."""

from pathlib import Path

from omegaconf import OmegaConf

from recon.engine.precision import gpu_precision
from recon.engine.resume import run_dir_for
from recon.engine.slurm import slurm_gpus, slurm_tasks
from recon.engine.sweep import sweep_group


def join(items, separator: str = "+") -> str:
    """``${recon_join:${model.modalities}}`` -> ``image+depth``: a list as one name part."""
    return separator.join(str(item) for item in items)


CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")
RESOLVERS = {
    "recon_run_dir": run_dir_for,
    "recon_sweep_group": sweep_group,
    "recon_slurm_tasks": slurm_tasks,
    "recon_gpu_precision": gpu_precision,
    "recon_slurm_gpus": slurm_gpus,
    "recon_join": join,
}


def register_resolvers() -> None:
    """Register recon's resolvers with OmegaConf (idempotent)."""
    for name, function in RESOLVERS.items():
        OmegaConf.register_new_resolver(name, function, replace=True)
