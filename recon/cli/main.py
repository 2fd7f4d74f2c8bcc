"""Console entry points recon-train, recon-eval, recon-predict: thin Hydra mains around the engine."""

import logging
import math
import os
import time
from pathlib import Path

import hydra
import rich
import rich.syntax
import rich.tree
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from recon.cli.resolvers import CONFIG_DIR, register_resolvers
from recon.engine.summary import describe_error, record_failure
from recon.engine.sweep import in_multirun, isolates_jobs, run_in_own_process

log = logging.getLogger(__name__)
register_resolvers()
FIRST = ("data", "model", "task", "trainer", "callbacks", "logger", "paths")


def show_config(cfg: DictConfig) -> None:
    """Print the resolved config as a rich tree and save it as config_resolved.yaml in the run dir."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    tree = rich.tree.Tree("config", style="dim")
    for key in [k for k in FIRST if k in resolved] + [k for k in resolved if k not in FIRST]:
        value = resolved[key]
        text = OmegaConf.to_yaml(value) if isinstance(value, (dict, list)) else str(value)
        tree.add(f"[bold]{key}").add(rich.syntax.Syntax(text, "yaml"))
    if int(os.environ.get("LOCAL_RANK", 0)) != 0:  # a DDP rank replaying the job: rank 0 has shown and saved it
        return
    if cfg.get("print_config", True):
        rich.print(tree)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config_resolved.yaml").write_text(OmegaConf.to_yaml(resolved))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    if isolates_jobs():  # a job whose process dies must not end the sweep
        import recon.engine.runner  # noqa: F401 - imported once here, not in every job's process

        return run_in_own_process(lambda: train_job(cfg), cfg)
    return train_job(cfg)


def train_job(cfg: DictConfig) -> float | None:
    from recon.engine.runner import train as run_train

    try:
        show_config(cfg)
        return run_train(cfg)
    except Exception as error:
        if not in_multirun():
            raise
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        if not (run_dir / "summary.json").exists():  # failed before the runner could record it
            record_failure(run_dir, cfg, error, started=time.time())
        log.error(
            "job failed, the sweep goes on: %s (traceback: %s)",
            describe_error(error).replace("\n", " "),
            run_dir / "error.txt",
        )
        return math.nan


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def evaluate(cfg: DictConfig) -> None:
    from recon.engine.runner import evaluate as run_evaluate

    show_config(cfg)
    run_evaluate(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def predict(cfg: DictConfig) -> None:
    from recon.predict import predict as run_predict

    run_predict(cfg)
