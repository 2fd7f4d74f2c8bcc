"""Hydra callback: the end-of-sweep report ``sweep_report.json`` listing every job's status."""

import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from recon.io import write_json_atomic

log = logging.getLogger(__name__)
REPORT = "sweep_report.json"


def job_statuses(sweep_dir: Path) -> list[dict[str, Any]]:
    """One entry per job run dir under ``sweep_dir`` (every folder holding a summary.json or an error.txt)."""
    jobs = []
    run_dirs = {p.parent for pattern in ("summary.json", "error.txt") for p in sweep_dir.rglob(pattern)}
    for run_dir in sorted(run_dirs, key=lambda p: (len(p.parts), str(p))):
        entry: dict[str, Any] = {"run_dir": str(run_dir), "status": "unknown"}
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
            entry.update(
                status=summary.get("status", "unknown"),
                error=summary.get("error"),
                overrides=summary.get("job", {}).get("overrides"),
            )
            if "process" in summary:  # a job whose process died: its exit code and signal
                entry["process"] = summary["process"]
        except (OSError, ValueError) as e:
            entry["error"] = f"no readable summary.json ({type(e).__name__})"
        jobs.append(entry)
    return jobs


class SweepReport(Callback):
    """Hydra callback: at the end of a multirun, write ``<sweep dir>/sweep_report.json``, log a line per failed
    job, and exit with status 1 when ``fail_on_error`` and any job failed (so scripts and CI notice)."""

    def __init__(self, fail_on_error: bool = True):
        self.fail_on_error = fail_on_error

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        jobs = job_statuses(sweep_dir)
        failed = [job for job in jobs if job["status"] != "completed"]
        write_json_atomic(sweep_dir / REPORT, {"jobs": jobs, "failed": len(failed), "total": len(jobs)})
        if not failed:
            log.info("sweep finished: all %d jobs completed (%s)", len(jobs), sweep_dir / REPORT)
            return
        lines = [f"  {job['run_dir']}: {(job.get('error') or job['status']).splitlines()[0]}" for job in failed]
        log.error(
            "sweep finished: %d of %d jobs failed (tracebacks in each run dir's error.txt):\n%s",
            len(failed),
            len(jobs),
            "\n".join(lines),
        )
        if self.fail_on_error:
            sys.exit(1)
