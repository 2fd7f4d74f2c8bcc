"""End to end through the runner on tiny synthetic data: summary, checkpoints, loggers, eval, DDP."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recon.engine.checkpoint import load_checkpoint
from recon.engine.runner import evaluate, train
from tests.helpers.configs import TINY_DATA, TINY_MODEL
from tests.helpers.paths import ROOT
from tests.helpers.wandb_offline import logged_values

QUICK = TINY_DATA + TINY_MODEL + ["trainer.max_epochs=2", "trainer.log_every_n_steps=1"]


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_train_writes_summary_checkpoints_and_returns_the_metric(make_config, tmp_path):
    cfg = make_config(QUICK + ["logger=csv"])
    value = train(cfg)
    run = tmp_path / "run"
    summary = read_summary(run)
    assert summary["status"] == "completed"
    assert value == pytest.approx(
        min(
            float(r["val/chamfer_l1"]) for r in csv.DictReader(open(run / "csv/metrics.csv")) if r.get("val/chamfer_l1")
        )
    )
    metrics = summary["metrics"]
    for key in ("test/chamfer_l1", "test/chamfer_l2", "test/fscore", "test/reference/chamfer_l1"):
        assert key in metrics and metrics[key] > 0, key
    assert len(summary["splits"]["train"]) == 48 and len(summary["splits"]["test"]) == 16
    assert not set(summary["splits"]["train"]) & set(summary["splits"]["test"])
    assert summary["config"]["model"]["_target_"].endswith("PointSetCNN")
    assert summary["versions"]["torch"] == torch.__version__
    assert Path(summary["checkpoints"]["best"]).is_file() and Path(summary["checkpoints"]["last"]).is_file()
    assert summary["wall_time_s"] > 0
    checkpoint = load_checkpoint(summary["checkpoints"]["best"])
    assert checkpoint["recon"]["config"]["model"]["num_points"] == 64


def test_eval_scores_a_checkpoint_and_reproduces_test_metrics(make_config, tmp_path):
    train(make_config(QUICK + ["logger=none"], run_dir=tmp_path / "train"))
    trained = read_summary(tmp_path / "train")
    cfg = make_config([f"ckpt_path={trained['checkpoints']['best']}"], config_name="eval", run_dir=tmp_path / "eval")
    metrics = evaluate(cfg)
    evaluated = read_summary(tmp_path / "eval")
    assert evaluated["status"] == "completed"
    assert metrics["test/chamfer_l1"] == pytest.approx(trained["metrics"]["test/chamfer_l1"], rel=1e-5)
    assert evaluated["splits"]["test"] == trained["splits"]["test"]

    other = make_config(
        [f"ckpt_path={trained['checkpoints']['best']}", "data=single_view", *TINY_DATA, "data.synthetic.seed=7"],
        config_name="eval",
        run_dir=tmp_path / "eval_other",
    )
    evaluate(other)
    scored = read_summary(tmp_path / "eval_other")
    assert scored["data"]["generator"]["seed"] == 7 and scored["metrics"]["test/chamfer_l1"] > 0
    assert scored["metrics"]["test/chamfer_l1"] != pytest.approx(trained["metrics"]["test/chamfer_l1"], rel=1e-6)


def test_predict_from_a_trained_checkpoint(make_config, tmp_path):
    """recon-predict on a real training checkpoint (its stored config names torch optimizers, never instantiated)."""
    import open3d as o3d
    from PIL import Image

    from recon.predict import predict

    train(make_config(QUICK + ["logger=none", "callbacks=none"], run_dir=tmp_path / "train"))
    ckpt = read_summary(tmp_path / "train")["checkpoints"]["best"]
    Image.fromarray((np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)).save(tmp_path / "in.png")
    cfg = make_config(
        [f"ckpt_path='{ckpt}'", f"inputs=[{tmp_path / 'in.png'}]", f"output_dir={tmp_path / 'out'}"],
        config_name="predict",
        run_dir=tmp_path / "predict",
    )
    predict(cfg)
    cloud = o3d.io.read_point_cloud(str(tmp_path / "out" / "in.ply"))
    assert len(cloud.points) == 64 and np.isfinite(np.asarray(cloud.points)).all()


def test_non_learned_model_runs_without_training(make_config, tmp_path):
    train(make_config(TINY_DATA + ["model=medoid_shape", "logger=none", "callbacks=none"]))
    summary = read_summary(tmp_path / "run")
    assert summary["trainable"] is False
    assert summary["metrics"]["test/chamfer_l1"] == pytest.approx(summary["metrics"]["test/reference/chamfer_l1"])


@pytest.mark.parametrize("logger", ["csv", "tensorboard", "wandb"])
def test_loggers_leave_readable_metrics(make_config, tmp_path, logger, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(make_config(QUICK + [f"logger={logger}", "callbacks=none"]))
    run = tmp_path / "run"
    if logger == "csv":
        rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
        assert any(r.get("test/chamfer_l1") for r in rows) and any(r.get("train/loss") for r in rows)
    elif logger == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        tags = set()
        for events in run.rglob("events.out.tfevents.*"):
            acc = EventAccumulator(str(events))
            acc.Reload()
            tags |= set(acc.Tags()["scalars"])
        assert {"test/chamfer_l1", "val/chamfer_l1", "train/loss"} <= tags
    else:
        (run_file,) = run.rglob("offline-run-*/run-*.wandb")
        values = logged_values(run_file)
        assert values["test/chamfer_l1"][-1] == pytest.approx(read_summary(run)["metrics"]["test/chamfer_l1"])
        assert "train/loss" in values and "val/chamfer_l1" in values


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_writes_one_run_dir(tmp_path, cache_dir, make_config):
    """Each rank tests half of the split; synced metrics equal a single-process evaluation of the same weights."""
    log_dir = tmp_path / "logs"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "trainer=ddp_cpu",
        "logger=csv",
        *QUICK,
        f"paths.log_dir={log_dir}",
        f"paths.cache_dir={cache_dir}",
        "print_config=false",
    ]
    subprocess.run(cmd, check=True, cwd=tmp_path, timeout=600)
    (summary_path,) = log_dir.rglob("summary.json")
    run_dirs = [p for p in (log_dir / "train" / "runs").iterdir()]
    assert run_dirs == [summary_path.parent]
    assert (summary_path.parent / "config_resolved.yaml").is_file()  # the CLI saves the tree it printed
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "completed"
    assert summary["config"]["trainer"]["devices"] == 2
    single = evaluate(
        make_config([f"ckpt_path={summary['checkpoints']['best']}"], config_name="eval", run_dir=tmp_path / "eval")
    )
    for key in ("test/chamfer_l1", "test/fscore", "test/reference/chamfer_l1"):
        assert summary["metrics"][key] == pytest.approx(single[key], rel=1e-5), key


def test_overfits_one_batch(make_config, tmp_path):
    """Wiring check: on one repeated batch the Chamfer loss must fall far below its starting value."""
    cfg = make_config(
        TINY_DATA
        + TINY_MODEL
        + [
            "model.num_points=256",
            "debug=overfit",
            "trainer.max_epochs=80",
            "logger=csv",
            "trainer.log_every_n_steps=1",
            "task.scheduler=null",
            "task.optimizer.lr=3e-3",
        ]
    )
    train(cfg)
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")) if r.get("train/loss")]
    first, last = float(rows[0]["train/loss"]), float(rows[-1]["train/loss"])
    assert last < 0.25 * first, (first, last)


@pytest.mark.slow
def test_learns_to_beat_the_non_learned_reference(make_config, tmp_path):
    """A short CPU run on held-out synthetic scenes: the CNN's test Chamfer-L1 beats the medoid reference."""
    cfg = make_config(
        [
            "data.synthetic.num_train=400",
            "data.synthetic.num_val=32",
            "data.synthetic.num_test=64",
            "data.synthetic.image_size=[32,32]",
            "data.synthetic.num_points=512",
            "data.batch_size=16",
            "model.num_points=256",
            "model.widths=[16,32,64]",
            "trainer.max_epochs=15",
            "logger=none",
            "callbacks=none",
        ]
    )
    train(cfg)
    metrics = read_summary(tmp_path / "run")["metrics"]
    assert metrics["test/chamfer_l1"] < 0.9 * metrics["test/reference/chamfer_l1"], metrics


@pytest.mark.parametrize(
    "model, overrides",
    [
        ("cnn_points", TINY_MODEL),
        ("cnn_fold", TINY_MODEL),
        ("cnn_depth", ["model.num_points=64", "model.widths=[8,16]"]),
    ],
)
def test_every_learned_model_runs_a_training_step_and_test(make_config, tmp_path, model, overrides):
    train(make_config(TINY_DATA + [f"model={model}", *overrides, "debug=fast_dev_run"]))
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["global_steps"] == 1
    assert np.isfinite(summary["metrics"]["test/chamfer_l1"])
