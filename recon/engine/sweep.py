"""Multirun support: failure isolation for sweep jobs and the end-of-sweep report.

A job that fails inside a multirun has already recorded its traceback (``error.txt``) and a ``failed`` summary in
its own run dir (see :func:`recon.engine.summary.record_failure`); :func:`in_multirun` lets the CLI return
``nan`` instead of re-raising, so Hydra's sweepers go on with the other jobs (Optuna counts a ``nan`` trial as failed).
:class:`SweepReport` then lists every job's status at the end of the sweep and exits non-zero if any failed.

A job whose process dies instead of raising (SIGKILL, a segfault, the OOM killer) would take the launcher's worker and
with it the whole sweep; with the local launchers each job therefore runs in a forked process of its own
(:func:`run_in_own_process`), and a dead one is recorded as failed with its exit code or signal.
"""

import json
import logging
import math
import multiprocessing
import signal
import time
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from recon.engine.summary import record_failure

log = logging.getLogger(__name__)
REPORT = "sweep_report.json"


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_group(task_name: str) -> str | None:
    """``<task name>/<sweep dir name>`` inside a multirun (every job of a sweep shares it), else ``None``.
    Registered as the ``${recon_sweep_group:${task_name}}`` resolver, the wandb logger's ``group``."""
    if not in_multirun():
        return None
    return f"{task_name}/{Path(HydraConfig.get().sweep.dir).name}"


class JobProcessDied(RuntimeError):
    """A sweep job's process ended without recording a result: killed by a signal (SIGKILL from the OOM killer, a
    segfault) or ``os._exit``."""


def isolates_jobs() -> bool:
    """Whether each job of this multirun runs in a process of its own (:func:`run_in_own_process`): with the local
    launchers (basic, joblib), whose jobs share a process, and where a dying job takes the sweep down. Submitit jobs
    are SLURM tasks already, and need the job in the task's own process for SLURM's signals."""
    return in_multirun() and "submitit" not in str(HydraConfig.get().launcher.get("_target_", ""))


def run_in_own_process(job: Callable[[], object], cfg: DictConfig) -> float | None:
    """Run ``job`` (one sweep job, which records its own result in ``summary.json``) in a forked child process and
    return the job's optimized value from its summary (``nan`` for a failed job, as the in-process CLI returns). A
    child that dies leaves a failed summary and ``error.txt`` naming its exit code or signal, and the launcher's
    worker lives on."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    started = time.time()
    child = multiprocessing.get_context("fork").Process(target=job, name=f"sweep-job-{HydraConfig.get().job.num}")
    child.start()
    child.join()
    summary = _read_summary(run_dir)
    if child.exitcode != 0 and summary.get("status") != "failed":
        code = child.exitcode
        how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        process = {"exit_code": code, "signal": signal.Signals(-code).name if code < 0 else None}
        error = JobProcessDied(f"the job's process (pid {child.pid}) {how} before the job finished")
        record_failure(run_dir, cfg, error, started, extra={"process": process})
        log.error("job failed, the sweep goes on: %s (%s)", error, run_dir / "error.txt")
        return math.nan
    if summary.get("status") != "completed":
        return math.nan
    value = summary.get("optimized", {}).get("value")
    return None if value is None else float(value)


def _read_summary(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
