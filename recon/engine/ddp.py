"""DDP that starts its other ranks as copies of the current Hydra *job*, also inside a multirun.

Lightning starts ranks 1..N-1 by re-running the command line with ``hydra.run.dir`` pinned. Inside a multirun that
command line is the whole sweep (``-m model=a,b ...``), so every rank would launch the sweep again and write its
own run dirs (the known Hydra + DDP trap). Here the other ranks run the job's own resolved config
(``<run dir>/config_resolved.yaml``, written by the CLI before training) as a single run in the same run dir:
one output dir per job, in single runs and multiruns alike.
"""

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import torch
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.strategies.launchers import subprocess_script
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

RESOLVED_CONFIG = "config_resolved.yaml"
lightning_rank_command = subprocess_script._hydra_subprocess_cmd


def job_rank_command(local_rank: int) -> tuple[list[str], str | None]:
    """The command that runs rank ``local_rank`` of the current Hydra job, and its working directory."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    import __main__

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if not (run_dir / RESOLVED_CONFIG).is_file():  # not started through recon's CLI: Lightning's own command
        return lightning_rank_command(local_rank)
    if __main__.__spec__ is None:
        command = [sys.executable, str(Path(get_original_cwd(), sys.argv[0]).resolve())]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    command += [
        "-cp",
        str(run_dir),
        "-cn",
        Path(RESOLVED_CONFIG).stem,
        f"hydra.run.dir={run_dir}",
        f"hydra.job.name=ddp_rank_{local_rank}",
        "hydra.output_subdir=null",
    ]
    return command, get_original_cwd()


class JobLauncher(_SubprocessScriptLauncher):
    def _call_children_scripts(self) -> None:
        with mock.patch.object(subprocess_script, "_hydra_subprocess_cmd", job_rank_command):
            super()._call_children_scripts()


class HydraJobDDPStrategy(DDPStrategy):
    """Lightning's ``ddp`` strategy whose subprocess ranks replay the current Hydra job (see module docstring)."""

    strategy_name = "ddp"

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if isinstance(self._launcher, _SubprocessScriptLauncher):
            self._launcher = JobLauncher(self.cluster_environment, self.num_processes, self.num_nodes)


LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def distributed_job():
    """One training job's distributed lifetime: on exit, destroy the process group and restore the launcher's
    environment variables, so the next job of a sweep in this process starts its own ranks afresh."""
    before = {key: os.environ.get(key) for key in LAUNCHER_ENV}
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
