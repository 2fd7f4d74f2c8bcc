"""recon-report without a browser: the page of a real tiny run written at the end of training (referenced from
summary.json, within its time and size), its content against the run's own files, the CLI's errors, and the figure
helpers against hand-derived cases and brute force. The pages in a real browser: tests/viz/test_report_browser.py."""

import json
import re
import time

import numpy as np
import pytest

from recon.cli.report import main
from recon.engine.runner import train
from recon.engine.validation import ConfigError
from recon.viz.export import write_point_cloud
from recon.viz.report import _backprojected, fused_sections, metrics_table, write_report
from recon.viz.report_figures import camera_traces, nearest_distances, subsample
from tests.helpers.configs import TINY_DATA, TINY_MODEL, compose_config

REPORTED = [
    "logger=csv",
    "trainer.max_epochs=2",
    "print_config=false",
    "report=true",
    "callbacks.prediction_media.num_samples=2",
]


@pytest.fixture(scope="module")
def reported_run(tmp_path_factory, cache_dir):
    """The default family (cnn_points on single-view data), tiny, trained with report=true."""
    run = tmp_path_factory.mktemp("reported") / "run"
    started = time.perf_counter()
    train(compose_config("train", TINY_DATA + TINY_MODEL + REPORTED, run, cache_dir))
    return run, time.perf_counter() - started


def test_training_writes_the_report_and_names_it_in_the_summary(reported_run):
    run, _ = reported_run
    summary = json.loads((run / "summary.json").read_text())
    page = run / "report.html"
    assert summary["report"] == "report.html" and page.is_file()
    assert page.stat().st_size < 15e6
    text = page.read_text()
    # self-contained: plotly.js inlined once, no script or stylesheet fetched from anywhere
    assert text.count("<script>") >= 1 and not re.search(r"<script[^>]+src=|<link[^>]+href=", text)
    assert re.search(r"plotly\.js v\d", text)
    # the test metrics and the reference row, as the summary has them
    for key in ("test/chamfer_l1", "test/reference/chamfer_l1"):
        assert f"{summary['metrics'][key]:.4g}" in text
    # both test samples, each with its image and its 3D figure with the point counts
    assert text.count("test 0: input") == 1 and text.count("test 1: input") == 1
    with np.load(run / "media" / "test_0.npz") as sample:
        assert str(sample["problem"]) == "points" and sample["image"].dtype == np.uint8
        assert f"ground truth ({len(sample['gt']):,} points)" in text
        assert f"prediction ({len(sample['pred']):,} points)" in text


def test_the_report_takes_seconds_not_minutes(reported_run, tmp_path):
    run, _ = reported_run
    started = time.perf_counter()
    write_report(run, tmp_path / "again.html")
    # the budget is 10 s at the end of training; measured here ~0.5 s
    assert time.perf_counter() - started < 10


def test_cli_writes_and_refuses(reported_run, tmp_path, capsys):
    run, _ = reported_run
    assert main([str(run), "--out", str(tmp_path / "page.html")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "page.html").is_file()
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no summary.json in or below" in capsys.readouterr().err
    assert main([str(run), "--max-points", "0"]) == 2


def test_a_nonsense_report_value_is_refused_before_training(tmp_path, cache_dir):
    cfg = compose_config("train", TINY_DATA + TINY_MODEL + ["report=maybe"], tmp_path / "run", cache_dir)
    with pytest.raises(ConfigError, match="report must be true or false.*'maybe'"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_metrics_table_rows_are_model_and_references():
    html = metrics_table(
        {
            "test/chamfer_l1": 0.5,
            "test/reference/chamfer_l1": 0.25,
            "test/reference_raw/bad2_all": 3.0,
            "test/wide/auc@10": 0.125,
            "test/reference/wide/auc@10": 0.0625,
            "val/loss": 9.0,
        }
    )
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    cells = [re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in rows]
    assert cells[0] == ["row", "bad2_all", "chamfer_l1", "wide/auc@10"]
    assert cells[1:] == [
        ["model", "–", "0.5", "0.125"],
        ["reference", "–", "0.25", "0.0625"],
        ["reference_raw", "3", "–", "–"],
    ]
    assert "val/loss" not in html


def test_subsample_is_reproducible_and_bounded():
    points = np.random.default_rng(0).normal(size=(1000, 3))
    keep = subsample(points, 100)
    assert len(keep) == 100 == len(set(keep.tolist())) and np.array_equal(keep, subsample(points, 100))
    assert np.array_equal(subsample(points, 5000), np.arange(1000))


def test_nearest_distances_match_brute_force():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(70, 3))
    brute = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(nearest_distances(a, b), brute)


def test_backprojection_of_a_hand_case():
    K = np.array([[2.0, 0, 1], [0, 2.0, 1], [0, 0, 1]])
    depth = np.array([[0.0, 4.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    T_cw = np.eye(4)
    T_cw[:3, 3] = [0.0, 0.0, 1.0]  # the world origin one unit in front of the camera
    points, keep = _backprojected(depth, K, T_cw)
    assert keep.tolist() == [1, 8]
    # pixel (u=1, v=0) at z 4: x = 0, y = (0 - 1) / 2 * 4 = -2; pixel (2, 2) at z 2: x = y = 1; world z = z - 1
    np.testing.assert_allclose(points, [[0.0, -2.0, 3.0], [1.0, 1.0, 1.0]])


def test_camera_frustum_goes_from_the_centre_to_the_image_corners():
    K = np.array([[[100.0, 0, 49.5], [0, 100.0, 39.5], [0, 0, 1]]])
    T_cw = np.eye(4)[None]
    T_cw[0, :3, 3] = [-1.0, 0.0, 0.0]  # camera centre at world x = 1
    (trace,) = camera_traces(K, T_cw, (80, 100), scale=2.0)
    xyz = np.c_[trace.x, trace.y, trace.z]
    np.testing.assert_allclose(xyz[0], [1.0, 0.0, 0.0])
    # the top-left pixel (0, 0) at depth 2: x = (0 - 49.5) / 100 * 2, y = (0 - 39.5) / 100 * 2, shifted by the centre
    np.testing.assert_allclose(xyz[1], [1.0 - 0.99, -0.79, 2.0])
    np.testing.assert_allclose(xyz[2], [1.0 + 0.99, -0.79, 2.0])


def test_fused_clouds_are_drawn_with_their_cameras(tmp_path):
    folder = tmp_path / "media" / "fused"
    points = np.random.default_rng(2).normal(size=(5000, 3)).astype(np.float32)
    write_point_cloud(folder / "scene_3.ply", points, np.full((5000, 3), 0.5))
    K = np.tile(np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]]), (3, 1, 1))
    T_cw = np.tile(np.eye(4), (3, 1, 1))
    T_cw[:, 2, 3] = [4.0, 5.0, 6.0]
    np.savez(folder / "scene_3_cameras.npz", K=K, T_cw=T_cw, size=np.array([48, 64]))
    (section,) = fused_sections(tmp_path, max_points=1000)
    assert "scene 3: the fused cloud" in section and "its 3 cameras" in section
    assert "reference camera" not in section  # a scene's cameras are all alike
    assert "fused cloud (1,000 of 5,000 points)" in section
