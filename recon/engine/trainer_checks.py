"""Checks of the trainer, logger and callbacks config groups, run before any data or model is built: unknown
arguments and values of the wrong type stop a run with a message naming the key, not deep inside Lightning."""

import inspect
import re
from collections.abc import Callable

import torch
from hydra.utils import get_class
from omegaconf import DictConfig
from pytorch_lightning.accelerators import AcceleratorRegistry
from pytorch_lightning.strategies import StrategyRegistry

from recon.engine.validation import ConfigError

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
PRECISIONS = {"64", "32", "16", "bf16", "16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true"}
PRECISIONS |= {"transformer-engine", "transformer-engine-float16"}
GPU_ACCELERATORS = ("gpu", "cuda")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer_at_least(low: int, optional: bool = False) -> tuple[Callable, str]:
    return lambda v: (optional and v is None) or (_is_int(v) and v >= low), f"an integer >= {low}"


def _devices(value) -> bool:
    if value == "auto" or (_is_int(value) and (value >= 1 or value == -1)):
        return True
    if isinstance(value, str):  # "2", "-1", "0,1"
        return bool(re.fullmatch(r"-1|\d+|(\d+\s*,\s*)*\d+\s*,?", value.strip())) and value.strip() not in ("0",)
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return len(value) > 0 and all(_is_int(d) and d >= 0 for d in value)
    return False


def _fraction_or_count(value) -> bool:
    return value is None or (_is_int(value) and value >= 0) or (isinstance(value, float) and 0.0 <= value <= 1.0)


def _max_time(value) -> bool:
    if value is None or isinstance(value, DictConfig):  # a dict of days/hours/minutes/seconds
        return True
    return isinstance(value, str) and bool(re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", value))


TRAINER_VALUES: dict[str, tuple[Callable, str]] = {
    "max_epochs": integer_at_least(-1, optional=True),
    "min_epochs": integer_at_least(0, optional=True),
    "max_steps": integer_at_least(-1),
    "min_steps": integer_at_least(0, optional=True),
    "num_nodes": integer_at_least(1),
    "check_val_every_n_epoch": integer_at_least(1, optional=True),
    "log_every_n_steps": integer_at_least(0, optional=True),
    "num_sanity_val_steps": integer_at_least(-1, optional=True),
    "accumulate_grad_batches": integer_at_least(1),
    "devices": (_devices, "a positive integer, -1, 'auto', a list of device indices or a string of them"),
    "precision": (lambda v: v is None or str(v) in PRECISIONS, f"one of {sorted(PRECISIONS)}"),
    "gradient_clip_val": (lambda v: v is None or (_is_number(v) and v >= 0), "a number >= 0 or null"),
    "max_time": (_max_time, "null, 'DD:HH:MM:SS' or a dict of days/hours/minutes/seconds"),
    "val_check_interval": (
        lambda v: v is None or (_is_int(v) and v >= 1) or (isinstance(v, float) and 0.0 < v <= 1.0),
        "null, an integer >= 1 (batches) or a fraction in (0, 1]",
    ),
    "fast_dev_run": (lambda v: isinstance(v, bool) or (_is_int(v) and v >= 0), "true/false or an integer >= 0"),
    "deterministic": (lambda v: v is None or isinstance(v, bool) or v == "warn", "true, false, 'warn' or null"),
    **{
        f"limit_{split}_batches": (_fraction_or_count, "null, an integer >= 0 or a fraction in [0, 1]")
        for split in ("train", "val", "test", "predict")
    },
}


def _target(node: DictConfig, key: str) -> type:
    try:
        return get_class(node._target_)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"{key}._target_ = {node._target_!r} cannot be imported: {e}") from None


def check_arguments(node: DictConfig, key: str, provided: tuple[str, ...] = ()) -> type:
    """``node``'s ``_target_`` imports and takes every key of ``node`` as an argument (``provided``: arguments the
    runner passes itself, which the config must not set); returns the target class."""
    cls = _target(node, key)
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name in node:
        if name in HYDRA_KEYS:
            continue
        if name in provided:
            raise ConfigError(f"{key}.{name}: set by recon itself (from the {name} config group), remove it here")
        if name not in parameters and not takes_any:
            known = ", ".join(p for p in parameters if p not in ("self", *provided))
            raise ConfigError(f"{key}.{name}: not an argument of {node._target_} (its arguments: {known})")
    return cls


def _check_value(key: str, value, rule: tuple[Callable, str]) -> None:
    accepts, expected = rule
    if not accepts(value):
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def validate_trainer(node: DictConfig | None, key: str = "trainer") -> None:
    """The trainer config names a Trainer, its keys are Trainer arguments, and the usual ones have valid values."""
    if node is None or "_target_" not in node:
        raise ConfigError(f"config group '{key}' is missing or has no _target_ (choose one with {key}=<name>)")
    check_arguments(node, key, provided=("callbacks", "logger"))
    for name, rule in TRAINER_VALUES.items():
        if name in node:
            _check_value(f"{key}.{name}", node[name], rule)
    accelerator = node.get("accelerator")
    if isinstance(accelerator, str):
        names = {"auto", "gpu", *AcceleratorRegistry.available_accelerators()}
        if accelerator not in names:
            raise ConfigError(f"{key}.accelerator: expected one of {sorted(names)}, got {accelerator!r}")
        if accelerator in GPU_ACCELERATORS and not torch.cuda.is_available():
            raise ConfigError(f"{key}.accelerator = {accelerator!r} but this machine has no CUDA GPU (use trainer=cpu)")
    strategy = node.get("strategy")
    if isinstance(strategy, DictConfig) and "_target_" in strategy:
        check_arguments(strategy, f"{key}.strategy")
    elif isinstance(strategy, str) and strategy not in {"auto", *StrategyRegistry.available_strategies()}:
        raise ConfigError(
            f"{key}.strategy: expected 'auto', one of Lightning's strategies or a _target_ node, got {strategy!r}"
        )


def validate_group(node: DictConfig | None, key: str) -> None:
    """Every entry of a logger or callbacks group with a ``_target_`` imports and takes its keys as arguments."""
    for name, entry in (node or {}).items():
        if isinstance(entry, DictConfig) and "_target_" in entry:
            check_arguments(entry, f"{key}.{name}")


def validate_run_components(cfg: DictConfig) -> None:
    """The trainer, logger and callbacks groups of ``cfg`` (see the module docstring)."""
    validate_trainer(cfg.get("trainer"))
    validate_group(cfg.get("logger"), "logger")
    validate_group(cfg.get("callbacks"), "callbacks")
