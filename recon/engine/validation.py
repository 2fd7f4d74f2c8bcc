"""Checks that run before any rendering or training, so a bad config fails in seconds with a clear message."""

import os
import uuid
from pathlib import Path

import torch
from hydra.utils import get_class
from omegaconf import DictConfig

from recon.data.base import DataModuleContract
from recon.models.base import ModelContract, is_trainable


class ConfigError(ValueError):
    """A config value or combination that recon cannot run."""


def _problem_of(cfg: DictConfig, key: str) -> str:
    node = cfg.get(key)
    if node is None or "_target_" not in node:
        raise ConfigError(f"config group '{key}' is missing or has no _target_ (choose one with {key}=<name>)")
    try:
        cls = get_class(node._target_)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"{key}._target_ = {node._target_!r} cannot be imported: {e}") from None
    problem = getattr(cls, "problem", None)
    if problem is None:
        raise ConfigError(
            f"{key}._target_ = {node._target_!r} does not declare which problem it solves "
            f"(class attribute `problem`, e.g. 'single_view')"
        )
    return problem


def validate_config(cfg: DictConfig, require: tuple[str, ...] = ("data", "model", "task")) -> None:
    """Every required group resolves to an importable recon class, and all of them solve the same problem."""
    problems = {key: _problem_of(cfg, key) for key in require}
    if len(set(problems.values())) > 1:
        listed = ", ".join(f"{k}={cfg[k]._target_.rsplit('.', 1)[-1]} ({p})" for k, p in problems.items())
        raise ConfigError(f"incompatible data and model: {listed}. Pick a model for the data's problem.")


def contract_members(contract: type) -> list[str]:
    """The attributes and methods a ``typing.Protocol`` lists (methods with a ``()`` suffix)."""
    methods = [f"{name}()" for name, value in vars(contract).items() if callable(value) and not name.startswith("_")]
    return list(contract.__annotations__) + methods


def check_contract(component, contract: type, key: str) -> None:
    """``component`` provides every member of ``contract``; else a ConfigError names its class and what is missing."""
    if isinstance(component, contract):
        return
    missing = [name for name in contract_members(contract) if not hasattr(component, name.removesuffix("()"))]
    cls = type(component)
    raise ConfigError(
        f"{key}._target_ = {cls.__module__}.{cls.__qualname__} does not provide {', '.join(missing)} "
        f"(the contract: {contract.__module__}.{contract.__qualname__})"
    )


def validate_components(datamodule, model, task) -> None:
    """Both components follow their contracts, problems agree, and one tiny forward + loss on an example batch of
    the data's shapes works (no rendering)."""
    check_contract(datamodule, DataModuleContract, "data")
    check_contract(model, ModelContract, "model")
    problems = {"data": datamodule.problem, "model": model.problem, "task": task.problem}
    if len(set(problems.values())) > 1:
        raise ConfigError(f"incompatible components: {problems}")
    data_range, model_range = getattr(datamodule, "max_disparity", None), getattr(model, "max_disparity", None)
    if data_range is not None and model_range is not None and float(data_range) > float(model_range):
        raise ConfigError(
            f"data.max_disparity = {float(data_range):g} exceeds model.max_disparity = "
            f"{float(model_range):g}: the model cannot predict the data's disparities; raise "
            "model.max_disparity (a trained model keeps its own) or evaluate on data whose range it covers"
        )
    if not is_trainable(model):
        return
    batch = datamodule.example_batch(2)
    training = task.training
    task.eval()
    try:
        with torch.no_grad():
            task.losses(task(batch), batch)
    except Exception as e:
        raise ConfigError(
            f"model {type(model).__name__} cannot run on {type(datamodule).__name__} batches "
            f"({ {k: tuple(v.shape) for k, v in batch.items()} }): {e}"
        ) from e
    finally:
        task.train(training)


def check_output_dir(path: Path) -> None:
    """The run dir exists (created if needed) and is writable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"output directory {path} is not writable (set paths.log_dir or hydra.run.dir): {e.strerror or e}"
        ) from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output directory {path} is not writable")
