"""Stereo task: masked multi-scale loss, metrics and the SGBM reference, runs through the runner (learned and
non-learned), figures, the optimized metric, and a GwcNet overfit check on random-dot pairs."""

import csv
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn
from torch.utils.data import DataLoader

from recon.engine.runner import evaluate, train
from recon.engine.validation import ConfigError
from recon.metrics.stereo import StereoMetrics
from recon.models.gwc_stereo import GwcStereo
from recon.models.learned_sgm import LearnedSGMStereo
from recon.models.sgbm import SGBMStereo
from recon.tasks.stereo import StereoTask
from tests.helpers.configs import TINY_GWC, TINY_STEREO_DATA
from tests.helpers.stereo_pairs import ConstantStereo, random_dot_item

RANDOM_DOTS = {
    "_target_": "tests.helpers.stereo_pairs.RandomDotStereoData",
    "num_train": 8,
    "num_val": 4,
    "num_test": 4,
    "image_size": [32, 64],
    "batch_size": 4,
    "max_disparity": 16.0,
}
REGION_KEYS = [f"{name}_{tag}" for name in ("epe", "bad1", "bad2", "bad3", "d1") for tag in ("all", "noc", "matchable")]


def smooth_l1(e: float) -> float:
    return 0.5 * e * e if abs(e) < 1 else abs(e) - 0.5


def stereo_config(make_config, overrides=(), model: str = "gwc_stereo", random_dots: bool = True):
    """``data=stereo model=<model>`` composed like the CLI (a tiny GwcNet); with ``random_dots`` the data is swapped
    for the in-test random-dot datamodule (no rendering)."""
    cfg = make_config([*TINY_STEREO_DATA, f"model={model}", *(TINY_GWC if model == "gwc_stereo" else []), *overrides])
    if random_dots:
        with open_dict(cfg):
            cfg.data = OmegaConf.create(RANDOM_DOTS)
    return cfg


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


# --- loss --------------------------------------------------------------------------------------------------------


def test_loss_masks_invalid_and_out_of_range_pixels():
    task = StereoTask(ConstantStereo(value=4.0, max_disparity=16.0), reference=False)
    gt = torch.tensor([[2.0, 4.5, 0.0], [20.0, 16.0, 8.0]]).view(1, 1, 2, 3)
    valid = torch.tensor([[True, True, False], [True, True, True]]).view(1, 1, 2, 3)
    batch = {
        "left": torch.rand(1, 3, 2, 3),
        "right": torch.rand(1, 3, 2, 3),
        "disparity": gt,
        "valid": valid,
        "nonoccluded": valid,
    }
    terms = task.losses(task(batch), batch)
    # supervised: valid and gt < 16 -> 2.0, 4.5, 8.0 (not the invalid 0, not 20 or 16): errors 2, -0.5, -4
    expected = (smooth_l1(2.0) + smooth_l1(-0.5) + smooth_l1(-4.0)) / 3
    assert terms["loss"].item() == pytest.approx(expected)
    assert terms["smooth_l1"].item() == pytest.approx(expected)
    assert terms["epe"].item() == pytest.approx((2.0 + 0.5 + 4.0) / 3)
    terms["loss"].backward()
    assert task.model.value.grad is not None


def test_a_batch_without_supervised_pixels_gives_zero_not_nan():
    task = StereoTask(ConstantStereo(), reference=False)
    batch = {
        "left": torch.rand(2, 3, 4, 5),
        "right": torch.rand(2, 3, 4, 5),
        "disparity": torch.full((2, 1, 4, 5), 30.0),
        "valid": torch.ones(2, 1, 4, 5, dtype=torch.bool),
    }
    loss = task.losses(task(batch), batch)["loss"]
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph


def test_multi_scale_weights_align_to_the_last_output():
    task = StereoTask(ConstantStereo(value=8.0, outputs=2), loss_weights=[0.5, 0.5, 0.7, 1.0], reference=False)
    batch = {
        "left": torch.rand(1, 3, 3, 3),
        "right": torch.rand(1, 3, 3, 3),
        "disparity": torch.full((1, 1, 3, 3), 6.0),
        "valid": torch.ones(1, 1, 3, 3, dtype=torch.bool),
    }
    terms = task.train().losses(task(batch), batch)
    # outputs 4 (error 2) and 8 (error 2): 0.7 * 1.5 + 1.0 * 1.5
    assert terms["smooth_l1_0"].item() == pytest.approx(1.5) and terms["smooth_l1_1"].item() == pytest.approx(1.5)
    assert terms["loss"].item() == pytest.approx(0.7 * 1.5 + 1.0 * 1.5)
    too_many = StereoTask(ConstantStereo(outputs=5), reference=False).train()
    with pytest.raises(ValueError, match="returns 5 disparity maps but task.loss_weights has 4"):
        too_many.losses(too_many(batch), batch)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss_weights": []}, "loss_weights"),
        ({"loss_weights": [1.0, -1.0]}, "loss_weights"),
        ({"smooth_l1_beta": 0.0}, "smooth_l1_beta"),
    ],
)
def test_bad_task_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StereoTask(ConstantStereo(), **kwargs)


def test_a_model_without_max_disparity_is_refused():
    class NoRange(nn.Module):
        problem, inputs = "stereo", ("left", "right")

    with pytest.raises(ValueError, match="max_disparity"):
        StereoTask(NoRange())


# --- metrics ------------------------------------------------------------------------------------------------------


def quiet_trainer() -> pl.Trainer:
    """A CPU trainer without logs, progress bar, summary or checkpoints (for trainer.test of a task)."""
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def test_metrics_of_a_constant_prediction_and_the_sgbm_reference(tmp_path):
    """EPE of a constant prediction is computed by hand over each region; every key is logged, also for SGBM."""
    items = [random_dot_item(32, 64, seed=s) for s in range(3)]
    task = StereoTask(ConstantStereo(value=5.0), reference=True)
    trainer = quiet_trainer()
    (logged,) = trainer.test(task, dataloaders=DataLoader(items, batch_size=2))
    gt = torch.stack([i["disparity"] for i in items])
    for key, tag in (("valid", "all"), ("nonoccluded", "noc")):
        mask = torch.stack([i[key] for i in items])
        assert logged[f"test/epe_{tag}"] == pytest.approx(float((gt[mask] - 5.0).abs().mean()), rel=1e-5)
        assert logged[f"test/bad2_{tag}"] == pytest.approx(
            float(((gt[mask] - 5.0).abs() > 2).float().mean() * 100), rel=1e-5
        )
    assert {f"test/{k}" for k in REGION_KEYS} | {f"test/reference/{k}" for k in REGION_KEYS} <= set(logged)
    assert {f"test/reference_raw/{k}" for k in REGION_KEYS} <= set(logged)
    # SGBM matches random dots well: far better than a constant
    assert logged["test/reference/epe_noc"] < 0.5 * logged["test/epe_noc"]


def brute_force_scores(pred, gt, region, holes):
    """EPE and bad-2 over a pixel loop: a hole is the disparity 0 and always bad."""
    errors, bad = [], []
    for index in zip(*np.nonzero(region)):
        e = abs(gt[index]) if holes[index] else abs(pred[index] - gt[index])
        errors.append(e)
        bad.append(holes[index] or e > 2)
    return float(np.mean(errors)), 100.0 * float(np.mean(bad))


def test_every_method_is_scored_on_the_same_regions_and_sgbm_raw_and_filled_match_a_brute_force(monkeypatch):
    """Random-dot pairs (32 x 64, max_disparity 16): SGBM leaves the 16 left-most columns unmatched. The matchable
    region (x >= 16, x - d >= 0, valid) is built by a pixel loop here; the model, SGBM filled and SGBM raw must be
    scored on exactly the masks of each region, and their EPE and bad-2 must equal a pixel loop over SGBM's own
    output (raw: holes as disparity 0 and bad; filled: KITTI's background fill)."""
    items = [random_dot_item(32, 64, seed=s) for s in range(3)]
    seen = []
    update = StereoMetrics.update

    def spy(self, pred, gt, mask, holes=None):
        seen.append((self.region, mask.clone()))
        return update(self, pred, gt, mask, holes)

    monkeypatch.setattr(StereoMetrics, "update", spy)  # before the metrics exist: torchmetrics wraps update
    task = StereoTask(ConstantStereo(value=5.0), reference=True)
    assert task.matchable_band == 16
    trainer = quiet_trainer()
    (logged,) = trainer.test(task, dataloaders=DataLoader(items, batch_size=3))
    # one batch, 3 regions, 3 methods (model, SGBM filled, SGBM raw): one mask per region, shared by every method
    assert len(seen) == 9
    for region in ("all", "nonoccluded", "matchable"):
        masks = [mask for name, mask in seen if name == region]
        assert len(masks) == 3 and all(torch.equal(masks[0], m) for m in masks)
    gt = torch.stack([i["disparity"] for i in items]).numpy()
    valid = torch.stack([i["valid"] for i in items]).numpy()
    matchable = np.zeros_like(valid)
    for index in zip(*np.nonzero(valid)):
        x = index[-1]
        matchable[index] = x >= 16 and x - gt[index] >= 0
    assert torch.equal(next(m for name, m in seen if name == "matchable"), torch.from_numpy(matchable))
    assert matchable.sum() == valid[..., 16:].sum()  # every d < 16 here: only the band (a quarter) is left out

    left, right = torch.stack([i["left"] for i in items]), torch.stack([i["right"] for i in items])
    raw = SGBMStereo(max_disparity=16, fill_holes=False)(left, right)
    filled = SGBMStereo(max_disparity=16)(left, right)["disparity"].numpy()
    holes = ~raw["matched"].numpy()
    assert holes[..., :16].all() and not holes[..., 16:].all()
    no_holes = np.zeros_like(holes)
    constant = np.full_like(gt, 5.0)
    for tag, region in (("all", valid), ("matchable", matchable)):
        for prefix, pred, hole in (
            ("test/", constant, no_holes),
            ("test/reference/", filled, no_holes),
            ("test/reference_raw/", raw["disparity"].numpy(), holes),
        ):
            epe, bad2 = brute_force_scores(pred, gt, region, hole)
            assert logged[f"{prefix}epe_{tag}"] == pytest.approx(epe, rel=1e-5), (prefix, tag)
            assert logged[f"{prefix}bad2_{tag}"] == pytest.approx(bad2, rel=1e-5), (prefix, tag)
    # raw SGBM pays for its unmatched band on all pixels; the matchable region leaves the band out
    assert logged["test/reference_raw/bad2_all"] > logged["test/reference/bad2_all"] + 10
    gap_matchable = logged["test/reference_raw/bad2_matchable"] - logged["test/reference/bad2_matchable"]
    assert gap_matchable < logged["test/reference_raw/bad2_all"] - logged["test/reference/bad2_all"]


# --- through the runner ---------------------------------------------------------------------------------------------


def test_data_stereo_composes_with_the_stereo_task_and_monitors_val_epe(make_config):
    cfg = make_config([*TINY_STEREO_DATA, "model=gwc_stereo"])
    assert cfg.task._target_ == "recon.tasks.stereo.StereoTask"
    assert cfg.optimized_metric == "val/epe_all"
    assert cfg.callbacks.model_checkpoint.monitor == cfg.callbacks.early_stopping.monitor == "val/epe_all"
    assert OmegaConf.to_container(cfg.model, resolve=True)["max_disparity"] == 16  # the data's range
    assert make_config([*TINY_STEREO_DATA, "optimized_metric=val/d1_all"]).optimized_metric == "val/d1_all"
    assert make_config([]).optimized_metric == "val/chamfer_l1"  # single-view keeps its own


def test_gwc_trains_a_step_and_tests_through_the_runner(make_config, tmp_path):
    train(stereo_config(make_config, ["debug=fast_dev_run"]))
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["global_steps"] == 1
    assert summary["model_family"] == "GwcStereo" and summary["trainable"] is True
    metrics = summary["metrics"]
    for key in REGION_KEYS:
        assert np.isfinite(metrics[f"test/{key}"]) and np.isfinite(metrics[f"test/reference/{key}"]), key


def test_short_run_checkpoints_on_val_epe_and_writes_figures(make_config, tmp_path):
    value = train(
        stereo_config(
            make_config,
            [
                "trainer.max_epochs=2",
                "logger=csv",
                "trainer.log_every_n_steps=1",
                "callbacks.prediction_media.num_samples=2",
            ],
        )
    )
    run = tmp_path / "run"
    summary = read_summary(run)
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    val_epe = [float(r["val/epe_all"]) for r in rows if r.get("val/epe_all")]
    assert len(val_epe) == 2 and value == pytest.approx(min(val_epe))
    assert summary["optimized"] == {"metric": "val/epe_all", "value": value}
    assert Path(summary["checkpoints"]["best"]).is_file()
    assert any(r.get("train/loss") for r in rows) and any(r.get("val/bad2_noc") for r in rows)
    for i in range(2):
        figure = run / "media" / f"test_{i}.png"
        assert figure.is_file() and figure.stat().st_size > 10_000
    assert not (run / "media" / "test_2.png").exists()


def test_sgbm_is_tested_without_training(make_config, tmp_path):
    cfg = stereo_config(make_config, ["logger=none", "callbacks=none"], model="sgbm")
    train(cfg)
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["trainable"] is False
    assert summary["global_steps"] == 0 and summary["checkpoints"]["best"] is None
    metrics = summary["metrics"]
    for key in REGION_KEYS:  # the model is the reference's own configuration
        assert metrics[f"test/{key}"] == pytest.approx(metrics[f"test/reference/{key}"]), key
    assert metrics["test/epe_noc"] < 1.0  # random dots are easy for SGBM


def test_gwc_runs_on_the_synthetic_stereo_datamodule(make_config, tmp_path):
    train(stereo_config(make_config, ["debug=fast_dev_run"], random_dots=False))
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and summary["global_steps"] == 1
    assert summary["data"]["max_disparity"] == 16
    assert np.isfinite(summary["metrics"]["test/epe_all"]) and np.isfinite(summary["metrics"]["test/reference/d1_all"])


def test_recon_eval_max_disparity_widens_a_checkpoints_search_to_the_datas_range(make_config, tmp_path):
    train(stereo_config(make_config, ["trainer.max_epochs=1", "logger=none"], random_dots=False))
    ckpt = read_summary(tmp_path / "run")["checkpoints"]["best"]
    wide_data = [*TINY_STEREO_DATA, "data.max_disparity=32", "data.synthetic.disparity_range=[1.0,30.0]"]

    def evaluation(name: str, *overrides: str):
        return make_config([f"ckpt_path={ckpt}", *wide_data, *overrides], config_name="eval", run_dir=tmp_path / name)

    with pytest.raises(ConfigError, match="data.max_disparity = 32 exceeds model.max_disparity = 16"):
        evaluate(evaluation("narrow"))
    for bad in ("0", "-8", "nan", "wide"):
        with pytest.raises(ConfigError, match="max_disparity must be a positive number"):
            evaluate(evaluation(f"bad_{bad}", f"max_disparity={bad}"))
    metrics = evaluate(evaluation("wide", "max_disparity=32"))
    summary = read_summary(tmp_path / "wide")
    assert summary["status"] == "completed" and summary["data"]["max_disparity"] == 32
    assert np.isfinite(metrics["test/epe_all"])


# --- learning -----------------------------------------------------------------------------------------------------


@contextmanager
def torch_threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    "model",
    [
        lambda: GwcStereo(max_disparity=16, feature_channels=16, feature_blocks=1),
        lambda: LearnedSGMStereo(max_disparity=16, feature_channels=16, refine_channels=8),
    ],
    ids=["gwc_stereo", "learned_sgm"],
)
def test_stereo_models_overfit_four_random_dot_pairs(model):
    """Wiring check of model + loss: on 4 fixed pairs the EPE falls far below its starting value (GwcNet: about
    5 -> 0.4 px in 100 steps, 2 s on one core). One thread: at 32 x 64 synchronising OpenMP threads costs more than
    it saves, and stalls for seconds per step while other processes hold the cores."""
    pl.seed_everything(0)
    batch = torch.utils.data.default_collate([random_dot_item(32, 64, seed=s) for s in range(4)])
    task = StereoTask(model(), reference=False)
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    with torch_threads(1):
        first = None
        for _ in range(100):
            terms = task.train().losses(task(batch), batch)
            optimizer.zero_grad()
            terms["loss"].backward()
            optimizer.step()
            first = terms["epe"].item() if first is None else first
        with torch.no_grad():
            final = task.eval().losses(task(batch), batch)["epe"].item()
    assert final < 0.2 * first, (first, final)
