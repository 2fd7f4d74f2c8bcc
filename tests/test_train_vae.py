"""VAE models end to end through the runner on tiny synthetic data: a training step, metrics, KL warm-up, learning."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from recon.engine.runner import evaluate, train
from recon.engine.validation import ConfigError
from tests.helpers.configs import TINY_DATA, TINY_MODEL

VOXEL = TINY_MODEL + ["model.resolution=16", "model.channels=16"]
MODELS = {"vae_points": TINY_MODEL, "vae_voxel": VOXEL}


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_training_step_and_the_vae_test_metrics(make_config, tmp_path, model):
    train(make_config(TINY_DATA + [f"model={model}", *MODELS[model], "debug=fast_dev_run", "task.num_samples=3"]))
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["global_steps"] == 1
    metrics = summary["metrics"]
    keys = [
        "test/chamfer_l1",
        "test/best_of_k_chamfer_l1",
        "test/diversity",
        "test/kl_per_dim",
        "test/active_dims",
        "test/reference/chamfer_l1",
    ]
    if model == "vae_voxel":
        keys += ["test/iou", "test/reference/iou", "test/reference/iou_tuned"]
        assert summary["data"]["targets"]["occupancy"] == {"resolution": 16, "extent": 1.0}
        assert 0 < metrics["test/reference/iou"] < 1
    for key in keys:
        assert np.isfinite(metrics[key]), key
    assert metrics["test/diversity"] > 0


def test_kl_weight_warms_up_and_eval_reproduces_the_sampled_metrics(make_config, tmp_path):
    cfg = make_config(
        TINY_DATA
        + [
            "model=vae_points",
            *TINY_MODEL,
            "trainer.max_epochs=2",
            "logger=csv",
            "trainer.log_every_n_steps=1",
            "task.kl_weight=0.01",
            "task.kl_warmup_epochs=1",
        ],
        run_dir=tmp_path / "run",
    )
    train(cfg)
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")) if r.get("train/kl_weight")]
    steps_per_epoch = 48 // 8
    weights = [float(r["train/kl_weight"]) for r in rows]
    assert weights == pytest.approx([0.01 * min(1.0, (k + 1) / steps_per_epoch) for k in range(len(weights))], rel=1e-5)
    assert all(float(r["train/kl"]) >= 0 for r in rows)

    trained = read_summary(tmp_path / "run")
    metrics = evaluate(
        make_config([f"ckpt_path={trained['checkpoints']['best']}"], config_name="eval", run_dir=tmp_path / "eval")
    )
    for key in ("test/chamfer_l1", "test/best_of_k_chamfer_l1", "test/diversity", "test/kl_per_dim"):
        assert metrics[key] == pytest.approx(trained["metrics"][key], rel=1e-5), key


def test_voxel_model_without_occupancy_data_fails_naming_the_key(make_config):
    with pytest.raises(ConfigError, match=r"data\.occupancy_resolution=16"):
        train(make_config(TINY_DATA + ["model=vae_voxel", *VOXEL, "data.occupancy_resolution=0", "logger=none"]))


@pytest.mark.parametrize("model, term", [("vae_points", "train/chamfer"), ("vae_voxel", "train/occupancy")])
def test_overfits_one_batch(make_config, tmp_path, model, term):
    """Wiring check: on one repeated batch the reconstruction loss (prior-mean and posterior paths) falls far."""
    cfg = make_config(
        TINY_DATA
        + [
            f"model={model}",
            *MODELS[model],
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
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")) if r.get(term)]
    first, last = float(rows[0][term]), float(rows[-1][term])
    assert last < 0.25 * first, (first, last)


LEARN = [
    "data.synthetic.num_train=400",
    "data.synthetic.num_val=32",
    "data.synthetic.num_test=64",
    "data.synthetic.image_size=[32,32]",
    "data.synthetic.num_points=512",
    "data.batch_size=16",
    "model.widths=[16,32,64]",
    "trainer.max_epochs=15",
    "logger=csv",
    "callbacks=none",
]


@pytest.mark.slow
def test_vae_points_learns_to_beat_the_non_learned_reference(make_config, tmp_path):
    """Held-out scenes after a short CPU run: the prior-mean prediction beats the medoid reference clearly."""
    train(make_config(LEARN + ["model=vae_points", "model.num_points=256"]))
    metrics = read_summary(tmp_path / "run")["metrics"]
    assert metrics["test/chamfer_l1"] < 0.9 * metrics["test/reference/chamfer_l1"], metrics
    assert metrics["test/best_of_k_chamfer_l1"] <= metrics["test/chamfer_l1"] * 1.1, metrics
    assert metrics["test/diversity"] > 0, metrics


@pytest.mark.slow
def test_vae_voxel_learns_to_beat_the_mean_occupancy_grid(make_config, tmp_path):
    """Held-out scenes after a short CPU run: the prior-mean grid's IoU beats the mean training grid's."""
    train(make_config(LEARN + ["model=vae_voxel", "model.resolution=16", "model.channels=32"]))
    metrics = read_summary(tmp_path / "run")["metrics"]
    assert metrics["test/iou"] > metrics["test/reference/iou"], metrics
