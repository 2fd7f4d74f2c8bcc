"""Runs that survive: a NaN loss stops training cleanly; a run killed with SIGKILL mid-epoch resumes to the same
result."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from recon.callbacks.loss_guard import NonFiniteLossError
from recon.engine.resume import newest_checkpoint
from recon.engine.runner import train
from recon.engine.validation import ConfigError
from tests.helpers.configs import TINY_DATA, TINY_MODEL
from tests.helpers.paths import ROOT
from tests.helpers.pause_at_step import ENV as PAUSE_ENV
from tests.helpers.pause_at_step import MARKER as PAUSE_MARKER

STEPS_PER_EPOCH = 6  # 48 training items, batch 8


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_nan_loss_stops_with_step_and_batch_and_keeps_the_last_good_checkpoint(make_config, tmp_path):
    nan_at = STEPS_PER_EPOCH + 2  # third batch of the second epoch
    cfg = make_config(
        TINY_DATA
        + TINY_MODEL
        + [
            "model._target_=tests.helpers.fault_models.NaNAfterSteps",
            f"+model.nan_at={nan_at}",
            "trainer.max_epochs=3",
            "logger=csv",
            "callbacks=model_checkpoint",
            "callbacks.model_checkpoint.save_top_k=-1",
        ]
    )
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, global step 8, batch 2 \(dataset items \[.*\]\): loss nan"):
        train(cfg)
    run = tmp_path / "run"
    summary = read_summary(run)
    assert summary["status"] == "failed" and "NonFiniteLossError" in summary["error"]
    assert "global step 8" in (run / "error.txt").read_text()
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert checkpoints == ["epoch000.ckpt", "last.ckpt"], checkpoints  # nothing written after the bad step
    assert [Path(p).name for p in summary["checkpoints_left"]] == checkpoints
    path, state = newest_checkpoint(run)
    assert path.name == "epoch000.ckpt" and state["global_step"] == STEPS_PER_EPOCH
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_resume_refuses_a_changed_config_and_an_empty_run(make_config, tmp_path):
    base = TINY_DATA + TINY_MODEL + ["trainer.max_epochs=1", "logger=none", "callbacks=model_checkpoint"]
    train(make_config(base))
    with pytest.raises(ConfigError, match=r"differs .* at model.hidden_dim"):
        train(make_config(base + ["model.hidden_dim=32", f"resume={tmp_path / 'run'}"]))
    with pytest.raises(ConfigError, match="no loadable checkpoint"):
        train(make_config(base + [f"resume={tmp_path / 'empty'}"], run_dir=tmp_path / "empty"))


def test_newest_checkpoint_skips_a_truncated_file_and_a_dangling_link(tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    torch.save({"global_step": 6}, ckpts / "epoch000.ckpt")
    time.sleep(0.01)
    good = (ckpts / "epoch000.ckpt").read_bytes()
    (ckpts / "epoch001.ckpt").write_bytes(good[: len(good) // 2])  # newer but truncated
    (ckpts / "last.ckpt").symlink_to("epoch002.ckpt")  # points at a file that was never written
    path, state = newest_checkpoint(tmp_path)
    assert path.name == "epoch000.ckpt" and state["global_step"] == 6


def _train_cmd(run_dir: Path, cache: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        *TINY_DATA,
        *TINY_MODEL,
        "trainer.max_epochs=6",
        "trainer.deterministic=true",
        "logger=many",
        "logger.wandb.offline=true",
        "callbacks=model_checkpoint",
        "callbacks.model_checkpoint.save_top_k=-1",
        "+callbacks.pause._target_=tests.helpers.pause_at_step.PauseAtStep",  # active only with its env variable
        "print_config=false",
        f"paths.cache_dir={cache}",
        f"paths.log_dir={run_dir.parent / 'logs'}",
        *extra,
    ]


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, cache_dir):
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(
        _train_cmd(full, cache_dir, f"hydra.run.dir={full}"),
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
        capture_output=True,
    )

    kill_at = 3 * STEPS_PER_EPOCH + 3  # three of the fourth epoch's six steps taken
    job = subprocess.Popen(
        _train_cmd(killed, cache_dir, f"hydra.run.dir={killed}"),
        cwd=tmp_path,
        env={**env, PAUSE_ENV: str(kill_at)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not (killed / PAUSE_MARKER).exists():
        assert job.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert (killed / PAUSE_MARKER).read_text().split() == [str(kill_at), "3", "2"]  # global step, epoch, batch
    assert not (killed / "summary.json").exists()
    _, state = newest_checkpoint(killed)
    assert state["global_step"] == 3 * STEPS_PER_EPOCH  # the end of epoch 2: the three steps after it are redone

    resumed = subprocess.run(
        _train_cmd(killed, cache_dir, f"resume={killed}"),
        cwd=tmp_path,
        env=env,
        timeout=600,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Restoring states from the checkpoint path at" in resumed.stdout + resumed.stderr
    a, b = read_summary(full), read_summary(killed)
    assert b["status"] == "completed" and b["global_steps"] == a["global_steps"] == 6 * STEPS_PER_EPOCH
    test_metrics = {k: v for k, v in a["metrics"].items() if k.startswith("test/")}
    assert test_metrics and all(b["metrics"][k] == pytest.approx(v, rel=1e-6) for k, v in test_metrics.items()), {
        k: (v, b["metrics"][k]) for k, v in test_metrics.items()
    }
    runs = sorted((killed / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({run.name.rsplit("-", 1)[1] for run in runs}) == 1  # same wandb run id
    rows = (killed / "csv" / "metrics.csv").read_text().splitlines()
    epochs = [line.split(",")[0] for line in rows[1:]]
    assert {"0", "1", "2", "5"} <= set(epochs)  # logs from before the kill were flushed with the checkpoints
    full_rows = (full / "csv" / "metrics.csv").read_text().splitlines()
    assert len(rows) == len(full_rows)  # the redone steps are logged once
