"""summary.json: what a run did and measured, written atomically so it is never half-written."""

import contextlib
import logging
import os
import platform
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from recon.io import write_json_atomic

SUMMARY_FORMAT = 1
PACKAGES = (
    "recon",
    "torch",
    "pytorch-lightning",
    "hydra-core",
    "omegaconf",
    "torchmetrics",
    "open3d-cpu",
    "open3d",
    "numpy",
    "wandb",
)
log = logging.getLogger(__name__)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def run_info(cfg: DictConfig, status: str, started: float) -> dict:
    return {
        "format": SUMMARY_FORMAT,
        "status": status,
        "run_dir": str(Path(cfg.paths.output_dir).resolve()),
        "job": job_info(),
        "config": _resolved(cfg),
        "started_at": _timestamp(started),
        "wall_time_s": round(time.time() - started, 3),
        "finished_at": _timestamp(time.time()),
        "versions": versions(),
    }


def _timestamp(seconds: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))
        + f".{int(seconds % 1 * 1000):03d}"
        + time.strftime("%z", time.localtime(seconds))
    )


def job_info() -> dict:
    """Which sweep job this is (Hydra's job number and command-line overrides), and where it ran."""
    info = {"pid": os.getpid(), "parent_pid": os.getppid(), "host": platform.node()}
    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        info.update(
            num=hydra.job.get("num"),
            mode=str(hydra.mode.name) if hydra.mode else None,
            overrides=list(hydra.overrides.task),
        )
    return info


def _resolved(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - a broken interpolation must not hide the original failure
        return OmegaConf.to_container(cfg, resolve=False)


def write_summary(run_dir: Path, payload: dict) -> Path:
    path = Path(run_dir) / "summary.json"
    write_json_atomic(path, payload)
    return path


def describe_error(error: BaseException) -> str:
    """``Type: message`` of the error that matters: Hydra's instantiation wrapper is replaced by its cause."""
    if type(error).__name__ == "InstantiationException" and error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {error}"


def record_failure(
    run_dir: Path, cfg: DictConfig, error: BaseException, started: float, extra: dict | None = None
) -> None:
    """Save the traceback in the run dir and a summary with status 'failed' and ``extra`` (only on rank zero)."""
    if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) != 0:
        return
    try:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        trace = "".join(traceback.format_exception(error))
        (run_dir / "error.txt").write_text(trace)
        checkpoints = sorted(str(p) for p in (run_dir / "checkpoints").glob("*.ckpt") if p.exists())
        write_summary(
            run_dir,
            {
                **run_info(cfg, status="failed", started=started),
                "error": describe_error(error),
                "traceback_file": str(run_dir / "error.txt"),
                "checkpoints_left": checkpoints,
                **(extra or {}),
            },
        )
        log.error("run failed; traceback saved to %s", run_dir / "error.txt")
    except OSError as e:  # an unwritable run dir: the original error is the one to report
        log.error("could not record the failure in %s: %s", run_dir, e)
