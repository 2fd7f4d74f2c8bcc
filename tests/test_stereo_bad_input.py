"""Bad stereo input through the real entry points: a corrupt PFM header, a truncated image, a left/right size
mismatch and a disparity range the model does not cover each stop the run with an error naming the file or key
(before the first pair is scored; truncated pixel data when its pair is decoded), leaving no metrics, media or
checkpoints, only the run's record (its config, log, failed summary.json and error.txt) - also with the default
callbacks, whose media of the pairs scored before the bad one are removed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from recon.callbacks import prediction_media
from recon.engine.runner import train
from recon.engine.validation import ConfigError
from recon.viz.figures import save_figure
from tests.helpers.middlebury2014_files import make_scene

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def scenes(tmp_path):
    root = tmp_path / "middlebury"
    for i in range(3):
        make_scene(root / f"scene{i}", H=24, W=40, seed=i)
    return root


def sgbm_on(make_config, root: Path, run_dir: Path, *overrides: str):
    return make_config(
        [
            "model=sgbm",
            "data=stereo_middlebury2014",
            f"data.root={root}",
            "data.max_disparity=16",
            "logger=none",
            *overrides,
        ],
        run_dir=run_dir,
    )


def assert_failed_cleanly(run_dir: Path, match: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and match in summary["error"]
    assert "metrics" not in summary
    records = {"error.txt", "summary.json", "config_resolved.yaml", "train.log"}  # the run's own record
    assert {p.name for p in run_dir.iterdir() if not p.name.startswith(".")} <= records  # no media, no checkpoints


def test_the_intact_folder_is_scored(make_config, scenes, tmp_path):
    train(sgbm_on(make_config, scenes, tmp_path / "ok", "callbacks=none"))
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["splits"]["test"] == ["scene0", "scene1", "scene2"]


def test_corrupt_pfm_header_names_the_file(make_config, scenes, tmp_path):
    bad = scenes / "scene2" / "disp0.pfm"
    bad.write_bytes(b"Pf\n40 twenty-four\n-1.0\n" + bad.read_bytes().split(b"\n", 3)[3])
    with pytest.raises(ValueError, match=f"{bad}: corrupt PFM header"):
        train(sgbm_on(make_config, scenes, tmp_path / "run", "callbacks=none"))
    assert_failed_cleanly(tmp_path / "run", str(bad))


def test_truncated_pfm_names_the_file(make_config, scenes, tmp_path):
    bad = scenes / "scene1" / "disp0.pfm"
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(ValueError, match=f"{bad}: truncated PFM data"):
        train(sgbm_on(make_config, scenes, tmp_path / "run", "callbacks=none"))
    assert_failed_cleanly(tmp_path / "run", str(bad))


def test_truncated_image_names_the_file(make_config, scenes, tmp_path):
    bad = scenes / "scene2" / "im1.png"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # the header survives, the pixels do not
    with pytest.raises(ValueError, match=f"cannot decode image {bad}"):
        train(sgbm_on(make_config, scenes, tmp_path / "run", "callbacks=none"))
    assert_failed_cleanly(tmp_path / "run", str(bad))


def test_left_right_size_mismatch_names_both_files(make_config, scenes, tmp_path):
    right = scenes / "scene1" / "im1.png"
    Image.open(right).crop((0, 0, 38, 24)).save(right)
    with pytest.raises(ValueError, match=f"size mismatch: {scenes / 'scene1' / 'im0.png'} is 40x24.*{right} is 38x24"):
        train(sgbm_on(make_config, scenes, tmp_path / "run", "callbacks=none"))
    assert_failed_cleanly(tmp_path / "run", str(right))


def test_a_disparity_range_the_model_does_not_cover_is_refused_before_reading(make_config, scenes, tmp_path):
    with pytest.raises(ConfigError, match="data.max_disparity = 16 exceeds model.max_disparity = 8"):
        train(sgbm_on(make_config, scenes, tmp_path / "run", "callbacks=none", "model.max_disparity=8"))
    assert_failed_cleanly(tmp_path / "run", "model.max_disparity")


def test_ground_truth_beyond_the_data_range_names_the_pair(make_config, scenes, tmp_path):
    with pytest.raises(ValueError, match="'scene0' has ground-truth disparities up to"):
        train(
            sgbm_on(
                make_config,
                scenes,
                tmp_path / "run",
                "callbacks=none",
                "data.max_disparity=2",
                "model.max_disparity=16",
            )
        )
    assert_failed_cleanly(tmp_path / "run", "data.max_disparity = 2")


def test_the_console_command_reports_a_corrupt_pfm(scenes, tmp_path):
    bad = scenes / "scene0" / "disp0.pfm"
    bad.write_bytes(b"P7\n" + bad.read_bytes()[3:])
    run_dir = tmp_path / "cli"
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "model=sgbm",
            "data=stereo_middlebury2014",
            f"data.root={scenes}",
            "data.max_disparity=16",
            "logger=none",
            "callbacks=none",
            f"hydra.run.dir={run_dir}",
            "print_config=false",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        timeout=300,
    )
    assert result.returncode != 0
    assert f"{bad}: not a PFM file" in result.stderr
    assert_failed_cleanly(run_dir, str(bad))


def test_a_late_bad_pair_with_the_default_callbacks_leaves_no_media(make_config, scenes, tmp_path, monkeypatch):
    """The prediction media callback draws the first pairs before the truncated last one is decoded; the failed
    run must not keep those figures."""
    saved = []

    def save_and_record(fig, path):
        saved.append(save_figure(fig, path))
        return saved[-1]

    monkeypatch.setattr(prediction_media, "save_figure", save_and_record)
    bad = scenes / "scene2" / "im1.png"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    run = tmp_path / "run"
    cfg = sgbm_on(make_config, scenes, run)  # callbacks=default: checkpoints, early stopping, media, ...
    assert "prediction_media" in cfg.callbacks and cfg.callbacks.prediction_media.num_samples >= 3
    with pytest.raises(ValueError, match=f"cannot decode image {bad}"):
        train(cfg)
    assert_failed_cleanly(run, str(bad))
    assert [p.name for p in saved] == ["test_0.png", "test_1.png"]  # drawn before the failure, then removed
    assert not any(p.exists() for p in saved)
