"""Multi-view stereo task: range-normalised masked loss, depth metrics against numpy, fused-cloud metrics of perfect
predictions, a short Lightning run on analytic plane scenes, shape errors and the task config."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from recon.tasks.multi_view import MultiViewTask
from tests.helpers.mvs_planes import ConstantDepth, Oracle, PlaneScenesData, collate, four_scenes


def smooth_l1(e: float, beta: float) -> float:
    return 0.5 * e * e / beta if abs(e) < beta else abs(e) - 0.5 * beta


def trainer(**kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        **kwargs,
    )


def hand_batch() -> dict[str, torch.Tensor]:
    depth = torch.tensor([[[[2.0, 4.0, 0.0], [6.0, 3.0, 1.0]]], [[[3.0, 13.0, 2.0], [5.0, 7.0, 1.5]]]])
    mask = depth > 0
    mask[1, 0, 1, 1] = False  # 7.0 has no ground truth
    return {
        "images": torch.rand(2, 3, 3, 2, 3),
        "K": torch.eye(3).expand(2, 3, 3, 3),
        "T_cw": torch.eye(4).expand(2, 3, 4, 4),
        "depth_range": torch.tensor([[1.0, 5.0], [2.0, 12.0]]),
        "depth": depth,
        "mask": mask,
    }


# --- loss --------------------------------------------------------------------------------------------------------


def test_loss_is_range_normalised_over_mask_pixels_inside_the_range():
    task = MultiViewTask(ConstantDepth(value=3.0), smooth_l1_beta=0.1, reference=False)
    terms = task.losses(task(batch := hand_batch()), batch)
    # item 0, range [1, 5] (scale 4): 2, 4, 3, 1 supervised (0 invalid, 6 beyond far); item 1, range [2, 12]
    # (scale 10): 3, 2, 5 (13 beyond far, 1.5 below near, 7 masked)
    errors = [(3 - g) / 4 for g in (2.0, 4.0, 3.0, 1.0)] + [(3 - g) / 10 for g in (3.0, 2.0, 5.0)]
    expected = sum(smooth_l1(e, 0.1) for e in errors) / len(errors)
    assert terms["loss"].item() == pytest.approx(expected) and terms["smooth_l1"].item() == pytest.approx(expected)
    gts = (2.0, 4.0, 3.0, 1.0, 3.0, 2.0, 5.0)
    assert terms["abs_rel"].item() == pytest.approx(np.mean([abs(3 - g) / g for g in gts]))
    terms["loss"].backward()
    assert task.model.value.grad is not None
    # the same scene in other units gives the same loss
    scaled = {**batch, "depth": batch["depth"] * 1000, "depth_range": batch["depth_range"] * 1000}
    task_mm = MultiViewTask(ConstantDepth(value=3000.0), smooth_l1_beta=0.1, reference=False)
    assert task_mm.losses(task_mm(scaled), scaled)["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_beta_zero_is_l1_and_an_unsupervised_batch_gives_zero():
    task = MultiViewTask(ConstantDepth(value=3.0), smooth_l1_beta=0.0, reference=False)
    batch = hand_batch()
    errors = [(3 - g) / 4 for g in (2.0, 4.0, 3.0, 1.0)] + [(3 - g) / 10 for g in (3.0, 2.0, 5.0)]
    assert task.losses(task(batch), batch)["loss"].item() == pytest.approx(np.mean(np.abs(errors)))
    empty = {**batch, "mask": torch.zeros_like(batch["mask"])}
    loss = task.losses(task(empty), empty)["loss"]
    assert loss.item() == 0.0
    loss.backward()


def test_multi_output_weights_align_to_the_last_output():
    task = MultiViewTask(
        ConstantDepth(value=3.0, outputs=2), loss_weights=[0.25, 0.5, 1.0], smooth_l1_beta=0.0, reference=False
    ).train()
    batch = {**hand_batch(), "depth": torch.full((2, 1, 2, 3), 4.0), "mask": torch.ones(2, 1, 2, 3, dtype=bool)}
    terms = task.losses(task(batch), batch)
    # outputs 1.5 and 3.0 against 4.0, in units of 4 (item 0) and 10 (item 1)
    first, last = (2.5 / 4 + 2.5 / 10) / 2, (1 / 4 + 1 / 10) / 2
    assert terms["smooth_l1_0"].item() == pytest.approx(first) and terms["smooth_l1_1"].item() == pytest.approx(last)
    assert terms["loss"].item() == pytest.approx(0.5 * first + 1.0 * last)
    too_many = MultiViewTask(ConstantDepth(outputs=4), reference=False).train()
    with pytest.raises(ValueError, match="returns 4 depth maps but task.loss_weights has 3"):
        too_many.losses(too_many(batch), batch)


class WrongShape(ConstantDepth):
    def forward(self, images, K, T_cw, depth_range):
        out = super().forward(images, K, T_cw, depth_range)
        return {**out, "depth": out["depth"][..., ::2, ::2]}


def test_a_prediction_of_the_wrong_shape_raises_clearly():
    batch = hand_batch()
    for model in (WrongShape(), ConstantDepth()):
        task = MultiViewTask(model, reference=False)
        if isinstance(model, WrongShape):
            match = r"predicts depth \(2, 1, 1, 2\) but the reference depth is \(2, 1, 2, 3\)"
        else:
            batch = {**batch, "depth": batch["depth"][:, :, :1]}
            match = "predict at the reference image's resolution"
        with pytest.raises(ValueError, match=match):
            task.losses(task(batch), batch)
        with pytest.raises(ValueError, match=match):
            task.test_step(batch, 0)
    task = MultiViewTask(ConstantDepth(), reference=False)
    with pytest.raises(ValueError, match="must return a dict with a `depth` tensor"):
        task.losses({"disparity": torch.zeros(2, 1, 2, 3)}, hand_batch())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss_weights": []}, "loss_weights"),
        ({"smooth_l1_beta": -1.0}, "smooth_l1_beta"),
        ({"fusion_min_views": 1.5}, "fusion_min_views"),
        ({"fusion_relative_depth": 0.0}, "fusion_relative_depth"),
    ],
)
def test_bad_task_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiViewTask(ConstantDepth(), reference=False, **kwargs)


# --- training through Lightning --------------------------------------------------------------------------------------


def test_a_short_run_lowers_the_loss():
    data = PlaneScenesData(batch_size=4)
    task = MultiViewTask(
        ConstantDepth(value=1.5),
        reference=False,
        fuse=False,
        optimizer=lambda params: torch.optim.Adam(params, lr=0.05),
    )
    batch = next(iter(DataLoader(data.items, batch_size=len(data.items), collate_fn=collate)))
    before = task.losses(task(batch), batch)["loss"].item()
    fit = trainer(max_epochs=15, num_sanity_val_steps=0)
    fit.fit(task, datamodule=data)
    after = task.losses(task(batch), batch)["loss"].item()
    assert after < 0.2 * before
    # from 1.5 towards the median depth (about 3): AbsRel from about 0.5 to the best constant's
    assert fit.callback_metrics["val/abs_rel"] < 0.15 and "val/delta1" in fit.callback_metrics


# --- test metrics -----------------------------------------------------------------------------------------------------


def test_depth_metrics_match_numpy():
    items = four_scenes()
    task = MultiViewTask(ConstantDepth(value=3.1), reference=False, fuse=False, abs_thresholds=[0.2])
    (logged,) = trainer().test(task, dataloaders=DataLoader(items, batch_size=5, collate_fn=collate))
    gt = torch.stack([i["depth"] for i in items]).double().numpy()
    mask = torch.stack([i["mask"] for i in items]).numpy() & (gt > 0)
    g = gt[mask]
    err = np.abs(3.1 - g)
    expected = {
        "abs_rel": np.mean(err / g),
        "mae": np.mean(err),
        "rmse": np.sqrt(np.mean(err**2)),
        "delta1": 100 * np.mean(np.maximum(3.1 / g, g / 3.1) < 1.25),
        "within0.2": 100 * np.mean(err < 0.2),
    }
    for key, value in expected.items():
        assert logged[f"test/{key}"] == pytest.approx(value, rel=1e-5), key
    assert not any(k.startswith("test/reference/") or k == "test/accuracy" for k in logged)


def test_perfect_depth_fuses_into_the_ground_truth_cloud(tmp_path, monkeypatch):
    """Oracle depth maps of every test item, fused per scene: on the surface and covering it (F-score 1); the
    reference model (here a stand-in for the plane sweep: the oracle again) is scored and fused the same way."""
    stand_in = types.ModuleType("recon.models.plane_sweep")
    stand_in.PlaneSweepStereo = Oracle
    monkeypatch.setitem(sys.modules, "recon.models.plane_sweep", stand_in)
    items = four_scenes()
    task = MultiViewTask(
        Oracle(), reference=True, fusion_min_views=2, fscore_threshold=0.05, fused_dir=str(tmp_path / "fused")
    )
    # the first two items twice, as a distributed sampler pads the split: views are kept once per `index`
    (logged,) = trainer().test(task, dataloaders=DataLoader(items + items[:2], batch_size=5, collate_fn=collate))
    assert logged["test/accuracy"] < 1e-3 and logged["test/completeness"] < 1e-3
    assert logged["test/overall"] == pytest.approx((logged["test/accuracy"] + logged["test/completeness"]) / 2)
    assert logged["test/fscore"] == pytest.approx(1.0)
    assert logged["test/abs_rel"] == 0.0 and logged["test/empty_clouds"] == 0.0
    # every pixel seen by all cameras, once (averaging moves the points by < 1e-3 along the plane)
    assert logged["test/fused_points"] == pytest.approx(np.mean([len(items[3 * s]["points"]) for s in range(4)]))
    assert sorted(p.name for p in (tmp_path / "fused").iterdir()) == sorted(
        f"scene_{s}{suffix}" for s in range(4) for suffix in (".ply", "_cameras.npz")
    )
    with np.load(tmp_path / "fused" / "scene_2_cameras.npz") as cameras:  # the scene's three views, in view order
        scene_items = [item for item in items if int(item["scene"]) == 2]
        np.testing.assert_allclose(cameras["K"], torch.stack([item["K"][0] for item in scene_items]).numpy())
        np.testing.assert_allclose(cameras["T_cw"], torch.stack([item["T_cw"][0] for item in scene_items]).numpy())
        assert cameras["size"].tolist() == list(scene_items[0]["images"].shape[-2:])
    for key in ("abs_rel", "accuracy", "completeness", "overall", "fscore", "fused_points", "empty_clouds"):
        assert logged[f"test/reference/{key}"] == pytest.approx(logged[f"test/{key}"]), key


def test_fused_scenes_caps_the_clouds_written(tmp_path):
    task = MultiViewTask(Oracle(), reference=False, fusion_min_views=2, fused_dir=str(tmp_path), fused_scenes=1)
    trainer().test(task, dataloaders=DataLoader(four_scenes(), batch_size=4, collate_fn=collate), verbose=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene_0.ply", "scene_0_cameras.npz"]
    with pytest.raises(ValueError, match="task.fused_scenes must be an integer >= 0"):
        MultiViewTask(Oracle(), fused_scenes=-1)


def diagonal(points: torch.Tensor) -> float:
    """Brute force: the largest distance between two corners of the points' bounding box."""
    lo, hi = points.min(0).values.numpy(), points.max(0).values.numpy()
    corners = np.array([[(lo, hi)[b][i] for i, b in enumerate(bits)] for bits in np.ndindex(2, 2, 2)])
    return max(np.linalg.norm(a - b) for a in corners for b in corners)


def test_empty_fused_clouds_count_as_nothing_reconstructed():
    """With the default fusion_min_views=3 no pixel of a three-view scene can pass: every cloud is empty, F-score,
    precision and recall are 0, completeness is the mean diagonal of the ground truths' boxes, accuracy undefined."""
    task = MultiViewTask(Oracle(), reference=False)
    items = four_scenes()
    with pytest.warns(UserWarning, match=r"model: the fused cloud of scene \d is empty"):
        (logged,) = trainer().test(task, dataloaders=DataLoader(items, batch_size=6, collate_fn=collate))
    assert logged["test/empty_clouds"] == 4.0 and logged["test/fused_points"] == 0.0
    assert logged["test/fscore"] == logged["test/precision"] == logged["test/recall"] == 0.0
    expected = np.mean([diagonal(items[3 * s]["points"]) for s in range(4)])
    assert logged["test/completeness"] == pytest.approx(expected, rel=1e-5)
    assert "test/accuracy" not in logged and "test/overall" not in logged


def test_one_empty_scene_among_perfect_ones_is_counted_in_every_mean():
    """Scene 2's items score no pixel (an empty object mask): 3 perfect scenes and one empty one."""
    items = [
        {**item, "object_mask": torch.full_like(item["mask"], item["scene"].item() != 2)} for item in four_scenes()
    ]
    task = MultiViewTask(Oracle(), reference=False, fusion_min_views=2)
    with pytest.warns(UserWarning, match="scene 2 is empty"):
        (logged,) = trainer().test(task, dataloaders=DataLoader(items, batch_size=5, collate_fn=collate))
    assert logged["test/empty_clouds"] == 1.0
    for key in ("fscore", "precision", "recall"):
        assert logged[f"test/{key}"] == pytest.approx(0.75), key
    assert logged["test/accuracy"] < 1e-3  # the mean over the three non-empty scenes
    empty = diagonal(items[6]["points"])
    assert logged["test/completeness"] == pytest.approx(empty / 4, abs=1e-3)
    assert logged["test/overall"] == pytest.approx((logged["test/accuracy"] + logged["test/completeness"]) / 2)
    points = [len(items[3 * s]["points"]) for s in (0, 1, 3)]
    assert logged["test/fused_points"] == pytest.approx(sum(points) / 4)


def test_items_without_scene_ids_skip_fusion():
    items = [{k: v for k, v in item.items() if k != "scene"} for item in four_scenes()]
    loader = DataLoader(items, batch_size=6, collate_fn=collate)
    (logged,) = trainer().test(MultiViewTask(Oracle(), reference=False), dataloaders=loader)
    assert logged["test/abs_rel"] == 0.0 and "test/accuracy" not in logged and "test/fused_points" not in logged


DDP_SCRIPT = """
import json, sys
import pytorch_lightning as pl
from torch.utils.data import DataLoader
from recon.tasks.multi_view import MultiViewTask
from tests.helpers.mvs_planes import Oracle, collate, four_scenes
trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
                     enable_model_summary=False, enable_checkpointing=False)
loader = DataLoader(four_scenes()[:11], batch_size=5, collate_fn=collate)
(logged,) = trainer.test(MultiViewTask(Oracle(), reference=False, fusion_min_views=1), loader, verbose=False)
if trainer.global_rank == 0:
    json.dump({k: float(v) for k, v in logged.items()}, open(sys.argv[1], "w"))
import torch.distributed as dist
if dist.is_initialized():  # a live gloo thread at interpreter exit aborts the process ("terminate called ...")
    dist.barrier()
    dist.destroy_process_group()
"""


@pytest.mark.slow
def test_two_ddp_processes_fuse_like_one(tmp_path):
    """Views gathered across 2 CPU processes (11 items: the sampler repeats one to pad) give the one-process values."""
    items = four_scenes()[:11]
    (single,) = trainer().test(
        MultiViewTask(Oracle(), reference=False, fusion_min_views=1),
        DataLoader(items, batch_size=5, collate_fn=collate),
        verbose=False,
    )
    script, out = tmp_path / "ddp_test.py", tmp_path / "logged.json"
    script.write_text(DDP_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(script), str(out)], cwd=root, env=env, check=True, timeout=300)
    logged = json.loads(out.read_text())
    assert set(logged) == set(single)
    for key, value in single.items():
        assert logged[key] == pytest.approx(float(value), rel=1e-5, abs=1e-7), key


# --- config ---------------------------------------------------------------------------------------------------------


def test_task_config_composes_and_instantiates(make_config):
    cfg = make_config(["task=multi_view"])
    assert cfg.task._target_ == "recon.tasks.multi_view.MultiViewTask"
    assert cfg.optimized_metric == "val/abs_rel"
    task = instantiate(cfg.task, model=ConstantDepth(), reference=False)
    assert isinstance(task, MultiViewTask) and task.fusion_kwargs["min_views"] == 3
    optimization = task.configure_optimizers()
    assert isinstance(optimization["optimizer"], torch.optim.AdamW)
    assert optimization["lr_scheduler"]["scheduler"].T_max == cfg.trainer.max_epochs


def test_exact_depth_maps_of_rendered_scenes_fuse_onto_the_objects(tmp_path):
    """Rendered ring scenes (objects on a textured ground disc), fused from their exact depth maps: scoring the object
    pixels puts every point on the sampled object surfaces (accuracy ~ the samples' spacing, 8192 samples), while
    the ground points that the same depth maps also hold would be far from them if they were scored."""
    from recon.data.multi_view import MultiViewDataModule

    synthetic = dict(num_train=1, num_val=1, num_test=2, image_size=(48, 64), num_views=6, num_points=8192, seed=5)
    dm = MultiViewDataModule(synthetic=synthetic, cache_dir=str(tmp_path), render_workers=0, num_source=3)
    dm.setup()
    items = [dm.datasets["test"][i] for i in range(len(dm.datasets["test"]))]
    logged = {}
    for name, scored in (("objects", items), ("everything", [{**i, "object_mask": i["mask"]} for i in items])):
        task = MultiViewTask(Oracle(), reference=False)
        (logged[name],) = trainer().test(task, DataLoader(scored, batch_size=6), verbose=False)
    assert logged["objects"]["test/empty_clouds"] == 0.0 and logged["objects"]["test/fused_points"] > 100
    assert logged["objects"]["test/accuracy"] < 0.01 and logged["objects"]["test/precision"] > 0.99
    assert logged["everything"]["test/accuracy"] > 0.2
