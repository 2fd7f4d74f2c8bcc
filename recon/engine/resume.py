"""Resuming a killed or finished run in its own run dir: ``python train.py resume=latest`` (or ``resume=<run dir>``).

``hydra.run.dir`` is resolved through :func:`run_dir_for`, so a resumed run writes into the directory it continues
(its checkpoints, CSV/TensorBoard logs and wandb run id carry on). The checkpoint is the newest one in
``<run dir>/checkpoints`` that loads (Lightning writes checkpoint files atomically; a kill between writing a file
and re-linking ``last.ckpt`` can leave the link dangling, so the link is not trusted blindly).
"""

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from recon.engine.validation import ConfigError

RESUMED_SECTIONS = ("data", "model", "task")


def has_checkpoint(run_dir: Path) -> bool:
    return any(p.exists() for p in (run_dir / "checkpoints").glob("*.ckpt"))


def run_dir_for(resume: str | None, runs_root: str, new_name: str) -> str:
    """``hydra.run.dir``: a fresh ``runs_root/new_name``, the newest run with a checkpoint (``latest``), or the
    given run dir."""
    if resume is None or str(resume).lower() in ("", "none", "null", "false"):
        return f"{runs_root}/{new_name}"
    if str(resume) == "latest":
        runs = [p for p in Path(runs_root).glob("*") if p.is_dir() and has_checkpoint(p)]
        if not runs:
            raise ConfigError(f"resume=latest: no run with a checkpoint under {runs_root}")
        return str(max(runs, key=lambda p: p.stat().st_mtime))
    run_dir = Path(str(resume))
    if not run_dir.is_dir():
        raise ConfigError(f"resume={resume}: no such run directory")
    return str(run_dir)


def newest_checkpoint(run_dir: Path) -> tuple[Path, dict]:
    """The most recently written checkpoint of ``run_dir`` that loads (weights only), and its contents."""
    files = {p.resolve() for p in (Path(run_dir) / "checkpoints").glob("*.ckpt") if p.exists()}
    problems = []
    for path in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            return path, torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a truncated or foreign file: try the next one
            problems.append(f"{path.name}: {type(e).__name__}")
    raise ConfigError(
        f"resume: no loadable checkpoint in {Path(run_dir) / 'checkpoints'}"
        + (f" ({'; '.join(problems)})" if problems else "")
    )


def prepare_resume(cfg: DictConfig) -> str | None:
    """For ``resume=...``: the checkpoint path to continue from, after checking the run's stored data/model/task
    config equals this one; also points a wandb logger at the same wandb run. ``None`` without ``resume``."""
    if not cfg.get("resume"):
        return None
    if cfg.get("ckpt_path"):
        raise ConfigError(
            "set either resume (continue a run in its own dir) or ckpt_path (start a new run from a "
            "checkpoint), not both"
        )
    run_dir = Path(cfg.paths.output_dir)
    path, checkpoint = newest_checkpoint(run_dir)
    stored = checkpoint.get("recon", {})
    current = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in RESUMED_SECTIONS}
    changed = sorted(_differences(stored.get("config", {}), current))
    if changed:
        raise ConfigError(
            f"resume: the config differs from the run being resumed ({run_dir}) at {', '.join(changed)};"
            f" resume with the run's own config, or start a new run with ckpt_path={path}"
        )
    wandb_id = stored.get("wandb_run_id")
    for node in (cfg.get("logger") or {}).values():
        if wandb_id and isinstance(node, DictConfig) and str(node.get("_target_", "")).endswith("WandbLogger"):
            with open_dict(node):
                node.id, node.resume = wandb_id, "allow"
    return str(path)


def _differences(old, new, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d
            for key in old.keys() | new.keys()
            for d in _differences(old.get(key), new.get(key), f"{where}.{key}" if where else key)
        ]
    return [] if old == new else [where]
