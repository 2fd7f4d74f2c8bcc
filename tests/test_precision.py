"""Precision per accelerator: half precision on CPU is refused where it cannot help, before anything is built."""

import pytest

import recon.engine.precision
from recon.engine.precision import bf16_slowdown, check_cpu_precision, gpu_precision
from recon.engine.runner import train
from recon.engine.validation import ConfigError
from tests.conftest import TINY_DATA, TINY_MODEL


def test_fp16_on_cpu_is_refused_before_anything_is_written(make_config, tmp_path):
    with pytest.raises(ConfigError, match="trainer.precision=16-mixed needs a GPU"):
        train(make_config(TINY_DATA + TINY_MODEL + ["trainer.precision=16-mixed"]))
    assert not list((tmp_path / "run").glob("checkpoints/*")) and not list(tmp_path.rglob("*.npz"))


def test_bf16_on_cpu_is_refused_only_where_it_is_measured_slow(monkeypatch):
    monkeypatch.setattr(recon.engine.precision, "bf16_slowdown", lambda: 600.0)
    with pytest.raises(ConfigError, match="bf16 matmul is 600x slower than fp32 on this CPU"):
        check_cpu_precision("cpu", "bf16-mixed")
    monkeypatch.setattr(recon.engine.precision, "bf16_slowdown", lambda: 0.5)
    check_cpu_precision("cpu", "bf16-mixed")  # a CPU with native bf16 may use it
    check_cpu_precision("gpu", "16-mixed")
    check_cpu_precision("cpu", "32-true")


def test_bf16_slowdown_is_a_positive_ratio_and_gpu_precision_is_a_lightning_setting():
    assert bf16_slowdown(n=32, repeats=1) > 0
    assert gpu_precision() in ("bf16-mixed", "16-mixed")
