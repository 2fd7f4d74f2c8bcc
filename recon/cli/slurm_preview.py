"""``python -m recon.cli.slurm_preview [train overrides]``: print the sbatch script and the jobs a SLURM sweep
(``python train.py -m hydra/launcher=slurm [overrides]``) would submit, without submitting anything."""

import sys

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from recon.cli.resolvers import CONFIG_DIR, register_resolvers
from recon.engine.slurm import sbatch_script


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override list of every job of the sweep, in Hydra's order."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None) for job in batch]


def preview(overrides: list[str]) -> str:
    overrides = [o for o in overrides if not o.startswith("hydra/launcher=")] + ["hydra/launcher=slurm"]
    jobs = sweep_jobs(overrides)
    register_resolvers()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=jobs[0], return_hydra_config=True)
    lines = [sbatch_script(cfg.hydra.launcher, len(jobs)), f"# {len(jobs)} job(s), one array task each:"]
    lines += [f"#   {i}: {' '.join(job)}" for i, job in enumerate(jobs)]
    return "\n".join(lines)


def main() -> None:
    print(preview(sys.argv[1:]))


if __name__ == "__main__":
    main()
