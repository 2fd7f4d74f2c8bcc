"""Shared fixtures: Hydra configs on tiny synthetic data, composed once per session, copied into each test's run dir.

``make_config(overrides)`` composes each distinct (config name, overrides) once per session and hands every test its
own deep copy; ``cfg_train`` is the copy of the tiny single-view training config (``cfg_train_global``).
"""

import functools
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers.configs import TINY_DATA, TINY_MODEL, compose_with_cache, for_run


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One synthetic cache for the whole session (the generator keys it by config)."""
    return Path(os.environ.get("RECON_TEST_CACHE") or tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def composed(cache_dir) -> Callable[[str, tuple[str, ...]], DictConfig]:
    """``composed(config_name, overrides)``: the session's one composition of that config; copy it before use."""

    @functools.cache
    def compose_once(config_name: str, overrides: tuple[str, ...]) -> DictConfig:
        return compose_with_cache(config_name, list(overrides), cache_dir)

    return compose_once


@pytest.fixture(scope="session")
def cfg_train_global(composed) -> DictConfig:
    """The tiny single-view training config, composed once per session."""
    return composed("train", (*TINY_DATA, *TINY_MODEL))


@pytest.fixture
def cfg_train(cfg_train_global, tmp_path) -> DictConfig:
    """A copy of the tiny single-view training config that runs in ``tmp_path / "run"``."""
    return for_run(cfg_train_global, tmp_path / "run")


@pytest.fixture
def make_config(composed, tmp_path):
    def make(overrides: list[str] = (), config_name: str = "train", run_dir: Path | None = None) -> DictConfig:
        return for_run(composed(config_name, tuple(overrides)), run_dir or tmp_path / "run")

    return make
