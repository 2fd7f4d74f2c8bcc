"""The one runner behind recon-train and recon-eval: validate -> instantiate -> fit -> test -> summary.json."""

import logging
import math
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor

from recon.callbacks.config_in_checkpoint import ConfigInCheckpoint
from recon.callbacks.flush_logs import LogsFlushedWithCheckpoint
from recon.callbacks.loss_guard import FiniteLossGuard
from recon.engine.checkpoint import inference_config, load_checkpoint, load_model_weights, restore_task
from recon.engine.ddp import distributed_job
from recon.engine.precision import check_cpu_precision
from recon.engine.resume import prepare_resume
from recon.engine.summary import describe_error, record_failure, run_info, write_summary
from recon.engine.trainer_checks import validate_run_components
from recon.engine.validation import ConfigError, check_output_dir, validate_components, validate_config
from recon.models.base import is_trainable
from recon.viz.report import write_report

log = logging.getLogger(__name__)


def instantiate_group(node: DictConfig | None, key: str = "") -> list:
    """Instantiate every entry with a ``_target_`` of a config group such as callbacks or logger; an entry whose
    arguments its class refuses raises a ConfigError naming ``<key>.<entry>``."""
    built = []
    for name, entry in (node or {}).items():
        if isinstance(entry, DictConfig) and "_target_" in entry:
            try:
                built.append(instantiate(entry))
            except Exception as e:
                raise ConfigError(f"{key + '.' if key else ''}{name}: {describe_error(e)}") from e
    return built


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> pl.Trainer:
    if not loggers:  # an LR monitor has nothing to write to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if torch.as_tensor(v).numel() == 1}


def train(cfg: DictConfig) -> float | None:
    """Train and test the configured model; return ``cfg.optimized_metric`` (for sweepers)."""
    with distributed_job():
        return _train(cfg)


def _train(cfg: DictConfig) -> float | None:
    output_dir = Path(cfg.paths.output_dir)
    check_output_dir(output_dir)
    started = time.time()
    try:
        validate_config(cfg)
        if not isinstance(cfg.get("report", False), bool):
            raise ConfigError(f"report must be true or false (write report.html at the end), got {cfg.report!r}")
        validate_run_components(cfg)
        check_cpu_precision(cfg.trainer.accelerator, cfg.trainer.precision)
        resume_from = prepare_resume(cfg)
        if cfg.get("init_from") and cfg.get("ckpt_path"):
            raise ConfigError("set either ckpt_path (weights, optimizer and loop state) or init_from (weights only)")
        if cfg.get("threads"):
            torch.set_num_threads(int(cfg.threads))
        pl.seed_everything(cfg.seed, workers=True)
        callbacks = instantiate_group(cfg.get("callbacks"), "callbacks") + [  # their value checks, before any data
            ConfigInCheckpoint(cfg),
            FiniteLossGuard(),
            LogsFlushedWithCheckpoint(),
        ]
        datamodule = instantiate(cfg.data)
        model = instantiate(cfg.model)
        if cfg.get("init_from"):
            load_model_weights(model, cfg.init_from)
        task = instantiate(cfg.task, model=model)
        validate_components(datamodule, model, task)

        loggers = instantiate_group(cfg.get("logger"), "logger")
        trainer = build_trainer(cfg, callbacks, loggers)
        for logger in loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

        trainable = is_trainable(model)
        if cfg.train and trainable:
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from or cfg.get("ckpt_path"))
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if cfg.test:
            trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics = final_metrics(trainer)
        optimized = _optimized_value(cfg, trainer, metrics)

        if trainer.is_global_zero:
            summary = {
                **run_info(cfg, status="completed", started=started),
                "model_family": model.__class__.__name__,
                "trainable": trainable,
                "data": datamodule.describe(),
                "splits": datamodule.split_ids(),
                "metrics": metrics,
                "optimized": {"metric": cfg.get("optimized_metric"), "value": optimized},  # what sweepers got
                "checkpoints": {"best": best or None, "last": _last_checkpoint(trainer)},
                "epochs": trainer.current_epoch,
                "global_steps": trainer.global_step,
            }
            write_summary(output_dir, summary)
            if cfg.get("report"):
                summary["report"] = write_run_report(output_dir)
                if summary["report"]:
                    write_summary(output_dir, summary)
            log.info("summary: %s", output_dir / "summary.json")
        return optimized
    except BaseException as error:
        record_failure(output_dir, cfg, error, started)
        raise
    finally:
        close_loggers()


def write_run_report(output_dir: Path) -> str | None:
    """``report.html`` of the finished run (recon-report), its file name; a failure is logged, not raised: the run
    itself succeeded and ``recon-report <run dir>`` can be run again."""
    started = time.perf_counter()
    try:
        path = write_report(output_dir)
    except Exception as error:  # noqa: BLE001 - the run's results are written; the page is an extra
        log.warning("report.html not written (%s): run recon-report %s", describe_error(error), output_dir)
        return None
    log.info("report: %s (%.1f s, %.1f MB)", path, time.perf_counter() - started, path.stat().st_size / 1e6)
    return path.name


def close_loggers() -> None:
    """Finish an active wandb run so its files (summary, history) are complete; a sweep's next job starts fresh."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


def _last_checkpoint(trainer: pl.Trainer) -> str | None:
    cb = trainer.checkpoint_callback
    path = getattr(cb, "last_model_path", "") if cb is not None else ""
    return path or None


def _optimized_value(cfg: DictConfig, trainer: pl.Trainer, metrics: dict[str, float]) -> float | None:
    name = cfg.get("optimized_metric")
    if not name:
        return None
    cb = trainer.checkpoint_callback
    if cb is not None and cb.monitor == name and cb.best_model_score is not None:
        return float(cb.best_model_score)
    value = metrics.get(name)
    return None if value is None or math.isnan(value) else value


def search_range(max_disparity, stored: dict) -> dict | None:
    """``max_disparity=`` of recon-eval as a model override, or None; a ``ConfigError`` for a value that is not a
    positive number or a model without a disparity range."""
    if max_disparity is None:
        return None
    try:
        value = float(max_disparity)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"max_disparity must be a positive number of pixels, got {max_disparity!r}")
    if "max_disparity" not in stored["model"]:
        raise ConfigError(
            f"max_disparity={max_disparity}: the checkpoint's model {stored['model']['_target_']} "
            "has no disparity range (stereo models only)"
        )
    return {"max_disparity": value}


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score a checkpoint on the test split of its own or the given datamodule; write summary.json."""
    with distributed_job():
        return _evaluate(cfg)


def _evaluate(cfg: DictConfig) -> dict[str, float]:
    output_dir = Path(cfg.paths.output_dir)
    check_output_dir(output_dir)
    started = time.time()
    try:
        checkpoint = load_checkpoint(cfg.ckpt_path)
        stored = inference_config(checkpoint)  # only recon classes, checked before anything is built
        validate_run_components(cfg)
        if cfg.get("data"):
            validate_config(cfg, require=("data",))
            datamodule = instantiate(cfg.data)
        else:
            datamodule = instantiate(stored["data"])
        overrides = cfg.get("task_overrides")
        task = restore_task(
            checkpoint,
            OmegaConf.to_container(overrides, resolve=True) if overrides else None,
            search_range(cfg.get("max_disparity"), stored),
        )
        validate_components(datamodule, task.model, task)
        pl.seed_everything(cfg.seed, workers=True)
        trainer = build_trainer(
            cfg,
            callbacks=instantiate_group(cfg.get("callbacks"), "callbacks"),
            loggers=instantiate_group(cfg.get("logger"), "logger"),
        )
        trainer.test(task, datamodule=datamodule)
        metrics = final_metrics(trainer)
        if trainer.is_global_zero:
            write_summary(
                output_dir,
                {
                    **run_info(cfg, status="completed", started=started),
                    "evaluated_checkpoint": str(Path(cfg.ckpt_path).resolve()),
                    "trained_config": checkpoint["recon"]["config"],
                    "model_family": task.model.__class__.__name__,
                    "data": datamodule.describe(),
                    "splits": {"test": datamodule.split_ids()["test"]},
                    "metrics": metrics,
                },
            )
        return metrics
    except BaseException as error:
        record_failure(output_dir, cfg, error, started)
        raise
    finally:
        close_loggers()
