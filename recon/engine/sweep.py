"""Multirun support: failure isolation for sweep jobs and the end-of-sweep report.

A job that fails inside a multirun has already recorded its traceback (``error.txt``) and a ``failed`` summary in
its own run dir (see :func:`recon.engine.summary.record_failure`); :func:`in_multirun` lets the CLI return
``nan`` instead of re-raising, so Hydra's sweepers go on with the other jobs (Optuna counts a ``nan`` trial as failed).
:class:`SweepReport` then lists every job's status at the end of the sweep and exits non-zero if any failed.
"""

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

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
