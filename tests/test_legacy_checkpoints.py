"""Checkpoints written by recon before the package layout changed still load, predict and give the same outputs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import torch
from PIL import Image

from recon.compare.study import compare
from recon.engine import legacy
from recon.engine.checkpoint import inference_config, load_checkpoint, restore_task

FIXTURES = Path(__file__).parent / "fixtures" / "legacy_checkpoints"
NAMES = ("single_view_cnn_points", "stereo_gwc_stereo", "multi_view_mvsnet")
PREDICT = Path(sys.executable).with_name("recon-predict")


@pytest.mark.parametrize("name", NAMES)
def test_old_checkpoint_restores_and_reproduces_its_outputs(name):
    task = restore_task(load_checkpoint(FIXTURES / f"{name}.ckpt"))
    reference = torch.load(FIXTURES / f"{name}.reference.pt", weights_only=True)
    with torch.no_grad():
        outputs = task(reference["batch"])
    assert set(outputs) == set(reference["outputs"])
    for key, expected in reference["outputs"].items():
        torch.testing.assert_close(outputs[key], expected, rtol=1e-5, atol=1e-6)


def _save_png(image: torch.Tensor, path: Path) -> Path:
    Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def _recon_predict(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(PREDICT), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_old_single_view_checkpoint_predicts_a_cloud_through_the_console_command(tmp_path):
    batch = torch.load(FIXTURES / "single_view_cnn_points.reference.pt", weights_only=True)["batch"]
    image = _save_png(batch["image"][0], tmp_path / "photo.png")
    out = tmp_path / "out"
    _recon_predict(f"ckpt_path={FIXTURES / 'single_view_cnn_points.ckpt'}", f"inputs=[{image}]", f"output_dir={out}")
    cloud = o3d.io.read_point_cloud(str(out / "photo.ply"))
    assert len(cloud.points) == 64  # the stored model.num_points


def test_old_stereo_checkpoint_predicts_a_disparity_through_the_console_command(tmp_path):
    batch = torch.load(FIXTURES / "stereo_gwc_stereo.reference.pt", weights_only=True)["batch"]
    left = _save_png(batch["left"][0], tmp_path / "left.png")
    right = _save_png(batch["right"][0], tmp_path / "right.png")
    out = tmp_path / "out"
    _recon_predict(
        f"ckpt_path={FIXTURES / 'stereo_gwc_stereo.ckpt'}", f"left={left}", f"right={right}", f"output_dir={out}"
    )
    written = sorted(p.name for p in out.iterdir())
    assert any(name.endswith(".pfm") for name in written), written


def test_moved_targets_are_upgraded_when_a_checkpoint_is_read(monkeypatch):
    checkpoint = load_checkpoint(FIXTURES / "single_view_cnn_points.ckpt")
    current = checkpoint["recon"]["config"]["model"]["_target_"]
    monkeypatch.setitem(legacy.MOVED_TARGETS, "recon.models.retired_module.PointSetCNN", current)
    checkpoint["recon"]["config"]["model"]["_target_"] = "recon.models.retired_module.PointSetCNN"
    assert inference_config(checkpoint)["model"]["_target_"] == current
    restore_task(checkpoint)  # instantiates the current class


def test_compare_groups_runs_stored_under_an_old_class_path_with_new_ones(tmp_path, monkeypatch):
    import json

    summary = json.loads(
        (Path(__file__).parents[1] / "experiments/foundation/runs/main_seed42/summary.json").read_text()
    )
    current = summary["config"]["model"]["_target_"]
    monkeypatch.setitem(legacy.MOVED_TARGETS, "recon.models.retired_module.PointSetCNN", current)
    for seed, target in ((1, current), (2, "recon.models.retired_module.PointSetCNN")):
        run = {
            **summary,
            "config": {**summary["config"], "seed": seed, "model": {**summary["config"]["model"], "_target_": target}},
        }
        (tmp_path / f"run{seed}").mkdir()
        (tmp_path / f"run{seed}" / "summary.json").write_text(json.dumps(run))
    study = compare(tmp_path)
    learned = [row for row in study.rows if row.kind == "learned"]
    assert len(learned) == 1 and len(learned[0].runs) == 2
