"""Whole runs on GPUs: two epochs with ``trainer=gpu`` through the runner, and ``trainer=ddp`` on two GPUs through
the CLI, each writing a completed summary.json."""

import json
import math
import subprocess
import sys

import pytest

from recon.engine.precision import gpu_precision
from recon.engine.runner import train
from tests.helpers.configs import TINY_DATA, TINY_MODEL
from tests.helpers.paths import ROOT
from tests.helpers.run_if import run_if

# 48 training items in batches of 8: 6 steps per epoch
TWO_EPOCHS = TINY_DATA + TINY_MODEL + ["trainer.max_epochs=2", "trainer.log_every_n_steps=1", "logger=csv"]
STEPS_PER_EPOCH = 6


def check_summary(summary: dict, devices: int) -> None:
    assert summary["status"] == "completed", summary.get("error")
    trainer = summary["config"]["trainer"]
    assert trainer["accelerator"] == "gpu" and trainer["devices"] == devices
    assert trainer["precision"] == gpu_precision()
    for key in ("test/chamfer_l1", "test/fscore", "test/reference/chamfer_l1"):
        assert math.isfinite(summary["metrics"][key]), key


@pytest.mark.gpu
@pytest.mark.slow
@run_if(min_gpus=1)
def test_two_epochs_with_the_gpu_trainer_write_a_completed_summary(make_config, tmp_path):
    value = train(make_config(TWO_EPOCHS + ["trainer=gpu"]))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    check_summary(summary, devices=1)
    assert summary["global_steps"] == 2 * STEPS_PER_EPOCH
    assert math.isfinite(value)
    assert summary["metrics"]["test/chamfer_l1"] > 0


@pytest.mark.gpu
@pytest.mark.slow
@run_if(min_gpus=2)
def test_ddp_on_two_gpus_writes_one_completed_summary(tmp_path, cache_dir):
    log_dir = tmp_path / "logs"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "trainer=ddp",
        "trainer.devices=2",
        *TWO_EPOCHS,
        f"paths.log_dir={log_dir}",
        f"paths.cache_dir={cache_dir}",
        "print_config=false",
    ]
    subprocess.run(cmd, check=True, cwd=tmp_path, timeout=600)
    (summary_path,) = log_dir.rglob("summary.json")  # one run dir, written by rank 0 only
    summary = json.loads(summary_path.read_text())
    check_summary(summary, devices=2)
    # each process takes batches of 8 from its half of the training split: half the steps of one device
    assert summary["global_steps"] == 2 * STEPS_PER_EPOCH // 2
