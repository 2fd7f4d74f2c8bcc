"""recon-compare: tables and plots from real tiny runs; mismatched, failed and unreadable summaries are flagged."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recon.cli.compare import main
from recon.compare.plots import mean_curve, read_curve
from recon.compare.study import compare, direction
from recon.engine.runner import train
from recon.engine.summary import SUMMARY_FORMAT
from tests.helpers.configs import TINY_DATA, TINY_MODEL, compose_config
from tests.helpers.paths import ROOT

COMMON = ["logger=csv", "callbacks=none", "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "print_config=false"]
JOBS = [  # laid out like a Hydra multirun: <sweep dir>/<job num>/
    ["model=cnn_points", *TINY_MODEL, "seed=1"],
    ["model=cnn_points", *TINY_MODEL, "seed=2"],
    ["model=cnn_fold", *TINY_MODEL, "seed=1"],
    ["model=cnn_fold", *TINY_MODEL, "seed=2"],
    ["model=medoid_shape", "seed=1"],
]


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, cache_dir) -> Path:
    """Five real runs (two learned families x two seeds, one non-learned baseline): ~10 s on 2 cores."""
    study = tmp_path_factory.mktemp("multirun")
    for num, job in enumerate(JOBS):
        train(compose_config("train", TINY_DATA + COMMON + job, study / str(num), cache_dir))
    return study


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_compare_tiny_runs_end_to_end(tiny_study, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(tiny_study), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    for name in (
        "results.md",
        "results.csv",
        "runs.csv",
        "plots/test_chamfer_l1.png",
        "plots/test_fscore.png",
        "plots/curve_val_chamfer_l1.png",
        "plots/curve_train_loss.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.rglob(".*tmp")) and not list(out.rglob(".*.png"))  # no temporary files left

    summaries = [json.loads(p.read_text()) for p in sorted(tiny_study.glob("*/summary.json"))]
    rows = {r["group"]: r for r in read_csv(out / "results.csv")}
    assert list(rows) == ["PointSetCNN", "FoldingCNN", "MedoidShape", "reference (medoid shape)"]
    for family in ("PointSetCNN", "FoldingCNN"):
        mine = [s for s in summaries if s["model_family"] == family]
        row = rows[family]
        assert row["kind"] == "learned" and int(row["n"]) == 2 and row["seeds"] == "1 2"
        for metric in ("test/chamfer_l1", "test/chamfer_l2", "test/fscore"):
            values = np.array([s["metrics"][metric] for s in mine])
            assert float(row[f"{metric}_mean"]) == pytest.approx(values.mean(), rel=1e-12)
            assert float(row[f"{metric}_std"]) == pytest.approx(values.std(ddof=1), rel=1e-12)
            assert int(row[f"{metric}_n"]) == 2
        assert float(row["wall_time_s_mean"]) == pytest.approx(np.mean([s["wall_time_s"] for s in mine]))
    baseline = rows["MedoidShape"]
    assert baseline["kind"] == "baseline" and int(baseline["n"]) == 1 and baseline["test/chamfer_l1_std"] == ""
    reference = rows["reference (medoid shape)"]
    ref_values = np.array([s["metrics"]["test/reference/chamfer_l1"] for s in summaries])
    assert int(reference["n"]) == 5
    assert float(reference["test/chamfer_l1_mean"]) == pytest.approx(ref_values.mean(), rel=1e-12)

    md = (out / "results.md").read_text()
    assert "test/chamfer_l1 ↓" in md and "test/fscore ↑" in md and "Excluded" not in md
    best = min(float(r["test/chamfer_l1_mean"]) for r in rows.values())
    best_rows = [g for g, r in rows.items() if float(r["test/chamfer_l1_mean"]) == best]
    for line in md.splitlines():
        if line.startswith("| ") and line.split(" | ")[0][2:] in rows:
            chamfer_cell = line.split(" | ")[4]
            assert chamfer_cell.startswith("**") == (line.split(" | ")[0][2:] in best_rows), line
    assert "![curve_val_chamfer_l1](plots/curve_val_chamfer_l1.png)" in md
    assert len(read_csv(out / "runs.csv")) == 5
    for family in ("PointSetCNN", "FoldingCNN", "MedoidShape", "reference (medoid shape)"):
        assert family in stdout


def test_learning_curve_is_the_per_epoch_mean_over_runs(tiny_study):
    """The plotted curve equals numpy on the raw CSV rows: per run, per epoch; then mean/std over runs."""
    curves = [read_curve(tiny_study / str(n) / "csv" / "metrics.csv", "train/loss") for n in (0, 1)]
    for n, curve in zip((0, 1), curves):
        rows = read_csv(tiny_study / str(n) / "csv" / "metrics.csv")
        for epoch in (0, 1):
            values = [float(r["train/loss"]) for r in rows if r["train/loss"] and int(r["epoch"]) == epoch]
            assert curve[epoch] == pytest.approx(np.mean(values))
    epochs, mean, std, count = mean_curve(curves)
    assert epochs.tolist() == [0, 1] and count.tolist() == [2, 2]
    assert std[1] == pytest.approx(np.std([curves[0][1], curves[1][1]], ddof=1))


# --- synthetic summaries: written by hand, no training ---------------------------------------------------------

TEST_IDS = [f"test-{i:06d}/view0" for i in range(8)]


def fake_run(
    root: Path,
    name: str,
    family: str = "ModelA",
    seed: int = 1,
    chamfer: float = 0.1,
    *,
    status: str = "completed",
    test_ids=TEST_IDS,
    generator_hash: str = "abc123",
    lr: float = 1e-3,
    optimized_metric: str = "val/chamfer_l1",
    trainable: bool = True,
    epochs: int = 3,
) -> Path:
    """A minimal format-1 summary.json and csv/metrics.csv in ``root/name``."""
    run_dir = root / name
    (run_dir / "csv").mkdir(parents=True)
    config = {
        "model": {"_target_": f"recon.models.fake.{family}", "num_points": 8},
        "seed": seed,
        "task": {"fscore_threshold": 0.05, "optimizer": {"lr": lr}},
        "optimized_metric": optimized_metric,
        "trainer": {"default_root_dir": str(run_dir)},
        "paths": {"output_dir": str(run_dir)},
    }
    summary = {
        "format": SUMMARY_FORMAT,
        "status": status,
        "run_dir": str(run_dir),
        "config": config,
        "wall_time_s": 10.0 * seed,
        "model_family": family,
        "trainable": trainable,
    }
    if status == "completed":
        summary.update(
            data={"generator": {"seed": 0, "num_test": len(test_ids)}, "generator_hash": generator_hash},
            splits={"train": ["train-000000/view0"], "test": list(test_ids)},
            metrics={
                "test/chamfer_l1": chamfer,
                "test/fscore": 1 - chamfer,
                "test/reference/chamfer_l1": 0.5,
                "test/reference/fscore": 0.2,
            },
        )
    else:
        summary["error"] = "RuntimeError: CUDA out of memory"
    (run_dir / "summary.json").write_text(json.dumps(summary))
    lines = ["epoch,step,train/loss,val/chamfer_l1"]
    for e in range(epochs):
        lines += [
            f"{e},{2 * e},{chamfer + 0.2 / (e + 1)},",
            f"{e},{2 * e + 1},{chamfer + 0.1 / (e + 1)},",
            f"{e},{2 * e + 1},,{chamfer + 0.1 / (e + 1)}",
        ]
    (run_dir / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    return run_dir


def four_good_runs(root: Path) -> None:
    fake_run(root, "0", "ModelA", 1, 0.10)
    fake_run(root, "1", "ModelA", 2, 0.12)
    fake_run(root, "2", "ModelB", 1, 0.20)
    fake_run(root, "3", "ModelB", 2, 0.26)


def group_rows(out: Path) -> dict[str, dict]:
    return {r["group"]: r for r in read_csv(out / "results.csv")}


def test_mismatched_test_split_or_data_is_flagged_and_excluded(tmp_path, capsys):
    four_good_runs(tmp_path)
    fake_run(tmp_path, "4", "ModelA", 3, 0.90, test_ids=TEST_IDS[:-1] + ["test-999999/view0"])
    fake_run(tmp_path, "5", "ModelB", 3, 0.90, generator_hash="other")
    fake_run(tmp_path, "6", "ModelB", 4, 0.90, test_ids=TEST_IDS[:4])
    assert main([str(tmp_path), "--no-plots"]) == 0
    stdout = capsys.readouterr().out
    rows = group_rows(tmp_path)
    assert int(rows["ModelA"]["n"]) == 2 and float(rows["ModelA"]["test/chamfer_l1_mean"]) == pytest.approx(0.11)
    assert int(rows["ModelB"]["n"]) == 2 and float(rows["ModelB"]["test/chamfer_l1_mean"]) == pytest.approx(0.23)
    assert float(rows["ModelB"]["test/chamfer_l1_std"]) == pytest.approx(np.std([0.20, 0.26], ddof=1))
    md = (tmp_path / "results.md").read_text()
    flagged = md.split("## ⚠ Excluded / flagged")[1]
    assert "`4/summary.json`: **excluded** — test split ids differ" in flagged
    assert "`5/summary.json`: **excluded** — data differs (generator_hash='other' vs 'abc123')" in flagged
    assert "`6/summary.json`: **excluded** — test set has 4 samples, the majority 8" in flagged
    for name in ("4/summary.json", "5/summary.json", "6/summary.json"):
        assert f"⚠ {name}: excluded" in stdout

    capsys.readouterr()
    assert main([str(tmp_path), "--no-plots", "--allow-mismatch"]) == 0
    rows = group_rows(tmp_path)
    assert int(rows["ModelA"]["n"]) == 3 and int(rows["ModelB"]["n"]) == 4
    assert "**included** — test split ids differ" in (tmp_path / "results.md").read_text()


def test_unreadable_and_other_format_summaries_are_reported_and_skipped(tmp_path, capsys):
    four_good_runs(tmp_path)
    truncated = fake_run(tmp_path, "4", "ModelA", 3, 0.5) / "summary.json"
    truncated.write_text(truncated.read_text()[:200])
    old = fake_run(tmp_path, "5", "ModelA", 4, 0.5) / "summary.json"
    old.write_text(json.dumps({**json.loads(old.read_text()), "format": 0}))
    no_format = fake_run(tmp_path, "6", "ModelA", 5, 0.5) / "summary.json"
    no_format.write_text(json.dumps({k: v for k, v in json.loads(no_format.read_text()).items() if k != "format"}))
    no_metrics = fake_run(tmp_path, "7", "ModelA", 6, 0.5) / "summary.json"
    no_metrics.write_text(json.dumps({k: v for k, v in json.loads(no_metrics.read_text()).items() if k != "metrics"}))
    (tmp_path / "8").mkdir()
    (tmp_path / "8" / "summary.json").write_text("[1, 2]")

    assert main([str(tmp_path)]) == 0
    stdout = capsys.readouterr().out
    rows = group_rows(tmp_path)
    assert int(rows["ModelA"]["n"]) == 2 and int(rows["ModelB"]["n"]) == 2
    md = (tmp_path / "results.md").read_text()
    expected = {
        "4": "not valid JSON",
        "5": "format 0",
        "6": "no 'format' key",
        "7": "missing keys: metrics",
        "8": "not a JSON object",
    }
    for name, reason in expected.items():
        assert f"`{name}/summary.json`: **skipped** — {reason}" in md
        assert f"⚠ {name}/summary.json: skipped — {reason}" in stdout
    assert {r["summary"]: r["status"] for r in read_csv(tmp_path / "runs.csv")}["4/summary.json"] == "unreadable"


def test_failed_run_is_listed_with_its_error(tmp_path, capsys):
    four_good_runs(tmp_path)
    fake_run(tmp_path, "4", "ModelA", 3, status="failed")
    assert main([str(tmp_path), "--no-plots"]) == 0
    reason = "status 'failed': RuntimeError: CUDA out of memory"
    assert f"⚠ 4/summary.json: excluded — {reason}" in capsys.readouterr().out
    assert f"`4/summary.json`: **excluded** — {reason}" in (tmp_path / "results.md").read_text()
    assert int(group_rows(tmp_path)["ModelA"]["n"]) == 2


def test_baselines_reference_row_and_best_marks(tmp_path):
    four_good_runs(tmp_path)
    fake_run(tmp_path, "4", "Classical", 1, 0.15, trainable=False)
    assert main([str(tmp_path), "--metrics", "chamfer_l1", "test/fscore"]) == 0
    rows = read_csv(tmp_path / "results.csv")
    assert [(r["group"], r["kind"]) for r in rows] == [
        ("ModelA", "learned"),
        ("ModelB", "learned"),
        ("Classical", "baseline"),
        ("reference (medoid shape)", "reference"),
    ]
    assert float(rows[-1]["test/chamfer_l1_mean"]) == 0.5 and int(rows[-1]["n"]) == 5
    table = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("| ")]
    assert table[0] == "| group | kind | n | seeds | test/chamfer_l1 ↓ | test/fscore ↑ | wall time (s) |"
    assert table[1].startswith("| ModelA | learned | 2 | 1, 2 | **0.11 ± 0.014** | **0.89 ± 0.014** |")
    assert "| Classical | baseline | 1 | 1 | 0.15 ± – | 0.85 ± – |" in table[3]
    assert (tmp_path / "plots" / "curve_val_chamfer_l1.png").is_file()


def test_a_setting_added_later_with_a_null_default_describes_the_same_test_set(tmp_path):
    four_good_runs(tmp_path)
    newer = tmp_path / "0" / "summary.json"
    summary = json.loads(newer.read_text())
    summary["data"]["generator"]["test_families"] = None  # written after the setting existed
    newer.write_text(json.dumps(summary))
    assert main([str(tmp_path), "--no-plots"]) == 0
    assert int(group_rows(tmp_path)["ModelA"]["n"]) == 2
    summary["data"]["generator"]["test_families"] = ["mesh"]  # a real difference still excludes the run
    newer.write_text(json.dumps(summary))
    assert main([str(tmp_path), "--no-plots"]) == 0
    assert int(group_rows(tmp_path)["ModelA"]["n"]) == 1


def test_config_differences_inside_a_group_are_noted_and_group_by_splits_them(tmp_path, capsys):
    for i, (seed, lr) in enumerate([(1, 1e-3), (2, 1e-3), (1, 3e-4), (2, 3e-4)]):
        fake_run(tmp_path, str(i), "ModelA", seed, 0.1 + i / 100, lr=lr)
    study = compare(tmp_path)
    assert [row.n for row in study.rows if row.kind == "learned"] == [4]
    assert any("task.optimizer.lr" in note and "0.0003, 0.001" in note for note in study.notes)

    study = compare(tmp_path, group_by=["model", "task.optimizer.lr"])
    learned = [row for row in study.rows if row.kind == "learned"]
    assert [(row.label, row.n) for row in learned] == [
        ("ModelA task.optimizer.lr=0.001", 2),
        ("ModelA task.optimizer.lr=0.0003", 2),
    ]
    assert learned[1].stats["test/chamfer_l1"][0] == pytest.approx(np.mean([0.12, 0.13]))
    assert not [n for n in study.notes if "optimizer" in n]


def test_model_settings_that_vary_within_a_family_make_groups(tmp_path):
    fake_run(tmp_path, "0", "ModelA", 1, 0.1)
    fake_run(tmp_path, "1", "ModelB", 1, 0.2)
    summary_path = fake_run(tmp_path, "2", "ModelA", 1, 0.3) / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["config"]["model"]["num_points"] = 16
    summary_path.write_text(json.dumps(summary))
    labels = [row.label for row in compare(tmp_path).rows if row.kind == "learned"]
    assert labels == ["ModelA num_points=8", "ModelB", "ModelA num_points=16"]


def test_different_optimized_metric_is_flagged(tmp_path):
    four_good_runs(tmp_path)
    fake_run(tmp_path, "4", "ModelA", 3, 0.11, optimized_metric="val/fscore")
    study = compare(tmp_path)
    assert any(note.startswith("`4/summary.json`: optimized_metric 'val/fscore'") for note in study.notes)
    assert [row.n for row in study.rows][:2] == [3, 2]


def test_empty_or_missing_directory_is_an_error_naming_it(tmp_path):
    empty = tmp_path / "empty_study"
    empty.mkdir()
    with pytest.raises(SystemExit, match="no summary.json found under .*empty_study"):
        main([str(empty)])
    with pytest.raises(SystemExit, match="no_such_dir is not a directory"):
        main([str(tmp_path / "no_such_dir")])
    fake_run(tmp_path / "bad", "0", status="failed")
    with pytest.raises(SystemExit, match="no comparable completed run"):
        main([str(tmp_path / "bad")])
    four_good_runs(tmp_path / "ok")
    with pytest.raises(SystemExit, match="no included run logged test/iou"):
        main([str(tmp_path / "ok"), "--metrics", "iou"])


def test_command_line_exit_codes(tmp_path):
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "recon.cli.compare", str(empty)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode != 0 and "nothing_here" in done.stderr
    four_good_runs(tmp_path / "study")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recon.cli.compare",
            str(tmp_path / "study"),
            "--out",
            str(tmp_path / "o"),
            "--no-plots",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "results.md").is_file() and not (tmp_path / "study" / "results.md").exists()


def test_rerun_replaces_results_in_place(tmp_path):
    four_good_runs(tmp_path)
    main([str(tmp_path), "--no-plots"])
    shutil.rmtree(tmp_path / "3")
    main([str(tmp_path), "--no-plots"])
    assert int(group_rows(tmp_path)["ModelB"]["n"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["results.csv", "results.md", "runs.csv"]


@pytest.mark.parametrize(
    "metric, better",
    [
        ("test/chamfer_l1", "min"),
        ("test/chamfer_l2", "min"),
        ("test/accuracy", "min"),
        ("test/completeness", "min"),
        ("test/fscore", "max"),
        ("test/precision", "max"),
        ("test/recall", "max"),
        ("test/iou", "max"),
        ("test/epe", "min"),
        ("test/reference/chamfer_l1", "min"),
        ("test/auc@10", "max"),
        ("test/wide/auc@10", "max"),
        ("test/rotation_error", "min"),
        ("test/failure_rate", "min"),
        ("test/something_new", None),
    ],
)
def test_metric_direction(metric, better):
    assert direction(metric) == better


def test_stereo_reference_row_is_labelled_sgbm(tmp_path):
    four_good_runs(tmp_path)
    for path in tmp_path.glob("*/summary.json"):
        summary = json.loads(path.read_text())
        summary["config"].setdefault("task", {})["_target_"] = "recon.tasks.stereo.StereoTask"
        path.write_text(json.dumps(summary))
    assert main([str(tmp_path), "--metrics", "chamfer_l1"]) == 0
    assert read_csv(tmp_path / "results.csv")[-1]["group"] == "reference (OpenCV SGBM, holes filled)"


def test_each_reference_namespace_is_its_own_row_named_for_the_problem(tmp_path):
    """Stereo tests log SGBM twice: filled (``test/reference/*``) and raw (``test/reference_raw/*``)."""
    for name, seed, epe in (("0", 1, 2.0), ("1", 2, 3.0)):
        path = fake_run(tmp_path, name, "GwcStereo", seed, 0.1) / "summary.json"
        summary = json.loads(path.read_text())
        summary["config"]["task"]["_target_"] = "recon.tasks.stereo.StereoTask"
        summary["metrics"] = {"test/epe_all": epe, "test/reference/epe_all": 5.0, "test/reference_raw/epe_all": 9.0}
        path.write_text(json.dumps(summary))
    assert main([str(tmp_path), "--metrics", "test/epe_all", "--no-plots"]) == 0
    rows = {r["group"]: r for r in read_csv(tmp_path / "results.csv")}
    assert list(rows) == [
        "GwcStereo",
        "reference (OpenCV SGBM, holes filled)",
        "reference (OpenCV SGBM raw, holes as errors)",
    ]
    assert [float(r["test/epe_all_mean"]) for r in rows.values()] == [2.5, 5.0, 9.0]
    runs = read_csv(tmp_path / "runs.csv")
    assert [(r["test/reference/epe_all"], r["test/reference_raw/epe_all"]) for r in runs] == [("5.0", "9.0")] * 2


def test_multi_modal_runs_get_both_baseline_rows(tmp_path):
    """Multi-modal tests log the medoid completion (``test/reference/*``) and the partial input alone
    (``test/partial_input/*``); each is its own row, named for the problem."""
    for name, seed, cd in (("0", 1, 0.05), ("1", 2, 0.07)):
        path = fake_run(tmp_path, name, "GraphCompletion", seed, 0.1) / "summary.json"
        summary = json.loads(path.read_text())
        summary["config"]["task"]["_target_"] = "recon.tasks.multi_modal.MultiModalTask"
        summary["metrics"] = {
            "test/chamfer_l1": cd,
            "test/reference/chamfer_l1": 0.11,
            "test/partial_input/chamfer_l1": 0.15,
        }
        path.write_text(json.dumps(summary))
    assert main([str(tmp_path), "--metrics", "test/chamfer_l1", "--no-plots"]) == 0
    rows = {r["group"]: float(r["test/chamfer_l1_mean"]) for r in read_csv(tmp_path / "results.csv")}
    assert rows == pytest.approx(
        {
            "GraphCompletion": 0.06,
            "reference (partial input + medoid shape placed by ICP)": 0.11,
            "reference (partial input alone)": 0.15,
        }
    )
