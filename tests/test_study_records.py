"""Study records: every committed results.md is rewritten byte for byte from its records; incomplete runs and
single-seed groups are shown; --collect copies exactly the record files; compare.yaml is read and checked."""

import json
import platform
from pathlib import Path

import pytest
import yaml

from recon.cli.compare import main
from recon.compare.study import compare
from tests.helpers.paths import ROOT
from tests.test_compare import fake_run, four_good_runs, group_rows, read_csv

STUDIES = sorted(p.parent for p in (ROOT / "experiments").glob("*/compare.yaml"))


def test_the_foundation_run_is_a_committed_study():
    assert ROOT / "experiments" / "foundation" in STUDIES
    assert (ROOT / "experiments" / "foundation" / "runs").is_dir()


@pytest.mark.parametrize("study", STUDIES, ids=[s.name for s in STUDIES])
def test_committed_results_are_rewritten_byte_for_byte_from_the_records(study, tmp_path):
    assert main([str(study), "--out", str(tmp_path)]) == 0
    for name in ("results.md", "results.csv"):
        assert (tmp_path / name).read_bytes() == (study / name).read_bytes(), f"{study.name}/{name} is stale"
    md = (tmp_path / "results.md").read_text()
    assert str(ROOT) not in md and str(tmp_path) not in md and platform.node() not in md
    for summary in study.glob("runs/*/summary.json"):
        run_dir = json.loads(summary.read_text()).get("run_dir")
        assert not run_dir or run_dir not in md


def write_config(run_dir: Path, family: str, seed: int, max_epochs: int = 18, hydra: bool = False) -> None:
    path = run_dir / (".hydra/config.yaml" if hydra else "config_resolved.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"model": {"_target_": f"recon.models.fake.{family}"}, "seed": seed, "trainer": {"max_epochs": max_epochs}}
    path.write_text(yaml.safe_dump(config))


def test_runs_that_started_but_left_no_summary_are_listed_as_incomplete(tmp_path, capsys):
    four_good_runs(tmp_path)
    killed = tmp_path / "4"
    write_config(killed, "ModelA", 3)
    (killed / "csv").mkdir()
    (killed / "csv" / "metrics.csv").write_text("epoch,step,train/loss\n0,10,0.5\n1,20,0.4\n2,31,0.3\n2,33,\n")
    write_config(tmp_path / "5", "ModelB", 4, hydra=True)  # hung before the first logged step
    (tmp_path / "6" / "csv" / "version_0").mkdir(parents=True)  # a versioned CSV logger folder, nothing else
    (tmp_path / "6" / "csv" / "version_0" / "metrics.csv").write_text("epoch,step,train/loss\n0,4,0.9\n")

    assert main([str(tmp_path), "--no-plots"]) == 0
    stdout = capsys.readouterr().out
    md = (tmp_path / "results.md").read_text()
    assert "4 of 4 runs compared (3 more started but left no summary: see below)" in md
    section = md.split("## ⚠ Incomplete runs (started, no summary.json)")[1].split("##")[0]
    expected = {
        "4": "no summary.json (killed, hung or still running); model ModelA; seed 3; "
        "metrics.csv reached epoch 3 of 18 (step 33)",
        "5": "no summary.json (killed, hung or still running); model ModelB; seed 4; no metrics.csv",
        "6": "no summary.json (killed, hung or still running); metrics.csv reached epoch 1 (step 4)",
    }
    for name, description in expected.items():
        assert f"- `{name}`: {description}" in section
        assert f"{name}: incomplete — {description}" in stdout
    assert int(group_rows(tmp_path)["ModelA"]["n"]) == 2  # nothing of theirs in the table
    statuses = {r["summary"]: r["status"] for r in read_csv(tmp_path / "runs.csv")}
    assert statuses["4/summary.json"] == statuses["5/summary.json"] == "incomplete"


def test_a_study_of_only_incomplete_runs_is_an_error_listing_them(tmp_path):
    write_config(tmp_path / "0", "ModelA", 1)
    with pytest.raises(SystemExit, match=r"no run under .* wrote a summary.json:\n.*0: no summary.json"):
        main([str(tmp_path)])


def test_groups_with_fewer_than_two_completed_seeds_are_marked(tmp_path):
    fake_run(tmp_path, "0", "ModelA", 1, 0.10)
    fake_run(tmp_path, "1", "ModelA", 2, 0.12)
    fake_run(tmp_path, "2", "ModelB", 1, 0.20)
    fake_run(tmp_path, "3", "ModelC", 5, 0.30)
    fake_run(tmp_path, "4", "ModelC", 5, 0.32)  # a repeat of seed 5 is not a second seed
    fake_run(tmp_path, "5", "ModelB", 2, status="failed")  # a failed seed does not count
    fake_run(tmp_path, "6", "Classical", 1, 0.15, trainable=False)  # non-learned: seeds do not apply
    assert main([str(tmp_path), "--no-plots"]) == 0
    table = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("| ")][1:]
    labels = [line.split(" | ")[0][2:] for line in table]
    assert labels == ["ModelA", "ModelB (1 seed)", "ModelC (1 seed)", "Classical", "reference (medoid shape)"]
    assert "(1 seed): a learned group with fewer than 2 completed seeds" in (tmp_path / "results.md").read_text()


def eval_summary(run_dir: Path, eval_dir: Path, chamfer: float, n_test: int = 1) -> Path:
    """A recon-eval summary of ``run_dir``'s checkpoint on another (one-pair) test set."""
    trained = json.loads((run_dir / "summary.json").read_text())
    summary = {
        "format": trained["format"],
        "status": "completed",
        "run_dir": str(eval_dir),
        "config": {"ckpt_path": str(run_dir / "checkpoints" / "epoch001.ckpt")},
        "evaluated_checkpoint": str(run_dir / "checkpoints" / "epoch001.ckpt"),
        "trained_config": trained["config"],
        "model_family": trained["model_family"],
        "wall_time_s": 1.5,
        "data": {"generator": {"real": "pair"}, "generator_hash": "real"},
        "splits": {"test": [f"real-{i}" for i in range(n_test)]},
        "metrics": {"test/chamfer_l1": chamfer, "test/reference/chamfer_l1": 0.9},
    }
    eval_dir.mkdir(parents=True)
    (eval_dir / "summary.json").write_text(json.dumps(summary))
    return eval_dir


def sweep_with_clutter(sweep: Path) -> None:
    """Four completed jobs, one killed job, and what a run leaves besides its records."""
    four_good_runs(sweep)
    for job in ("0", "1", "2", "3"):
        (sweep / job / "checkpoints").mkdir()
        (sweep / job / "checkpoints" / "last.ckpt").write_bytes(b"weights")
        (sweep / job / "media").mkdir()
        (sweep / job / "media" / "test_0.png").write_bytes(b"png")
        write_config(sweep / job, "ModelA", 1)
        (sweep / job / "train.log").write_text("log")
    write_config(sweep / "4", "ModelA", 3)
    (sweep / "4" / "csv").mkdir()
    (sweep / "4" / "csv" / "metrics.csv").write_text("epoch,step,train/loss\n0,3,0.5\n")
    (sweep / "multirun.yaml").write_text("hydra: {}\n")


def test_collect_copies_exactly_the_record_files(tmp_path, capsys):
    sweep = tmp_path / "logs" / "2026-11-25_06-54-00"
    sweep_with_clutter(sweep)
    records = tmp_path / "study" / "runs"
    assert main(["--collect", str(sweep), "--into", str(records)]) == 0
    assert "copied 10 record files" in capsys.readouterr().out
    files = sorted(str(p.relative_to(records)) for p in records.rglob("*") if p.is_file())
    jobs = [f"2026-11-25_06-54-00_{j}" for j in range(4)]
    assert files == sorted(
        [f"{j}/{name}" for j in jobs for name in ("metrics.csv", "summary.json")]
        + ["2026-11-25_06-54-00_4/config_resolved.yaml", "2026-11-25_06-54-00_4/metrics.csv"]
    )
    for job in range(4):
        for name, source in (("summary.json", "summary.json"), ("metrics.csv", "csv/metrics.csv")):
            copied = records / f"2026-11-25_06-54-00_{job}" / name
            assert copied.read_bytes() == (sweep / str(job) / source).read_bytes()
    assert not list(records.rglob(".*tmp"))

    # The study's tables are those of the original sweep, and the killed job stays listed.
    assert main([str(sweep), "--out", str(tmp_path / "from_logs"), "--no-plots"]) == 0
    assert main([str(tmp_path / "study"), "--no-plots"]) == 0
    from_logs, from_records = tmp_path / "from_logs" / "results.csv", tmp_path / "study" / "results.csv"
    assert from_records.read_bytes() == from_logs.read_bytes()
    assert "- `runs/2026-11-25_06-54-00_4`: no summary.json" in (tmp_path / "study" / "results.md").read_text()


def test_collected_records_give_the_same_results_wherever_the_runs_were(tmp_path):
    """Summaries name their run dir and checkpoints by absolute path; the tables must not depend on them."""
    outputs = []
    for place in ("machine_a/logs", "elsewhere/b"):
        sweep = tmp_path / place / "2026-11-25_06-54-00"
        sweep_with_clutter(sweep)
        study = tmp_path / place / "study"
        main(["--collect", str(sweep), "--into", str(study / "runs")])
        main([str(study)])
        outputs.append({n: (study / n).read_bytes() for n in ("results.md", "results.csv", "runs.csv")})
    assert outputs[0] == outputs[1]


def test_collect_eval_summaries_become_columns(tmp_path):
    sweep = tmp_path / "logs" / "sweep"
    four_good_runs(sweep)
    evals = tmp_path / "logs" / "eval_real"
    for job, chamfer in (("0", 0.3), ("1", 0.5), ("2", 0.7)):
        eval_summary(sweep / job, evals / f"sweep_{job}", chamfer)
    records = tmp_path / "study" / "runs"
    with pytest.raises(SystemExit, match="evaluates run 'sweep_0', which has no record"):
        main(["--collect", str(evals), "--eval", "real", "--into", str(records)])
    assert not records.exists()  # refused before anything was copied
    main(["--collect", str(sweep), "--into", str(records)])
    main(["--collect", str(evals), "--eval", "real", "--into", str(records)])
    assert (records / "sweep_1" / "eval" / "real" / "summary.json").is_file()

    (tmp_path / "study" / "compare.yaml").write_text(
        yaml.safe_dump({"metrics": ["test/chamfer_l1"], "evals": {"real": ["test/chamfer_l1"]}, "plots": False})
    )
    assert main([str(tmp_path / "study")]) == 0
    rows = group_rows(tmp_path / "study")
    assert float(rows["ModelA"]["real:test/chamfer_l1_mean"]) == pytest.approx(0.4)
    assert int(rows["ModelA"]["real:test/chamfer_l1_n"]) == 2
    assert float(rows["ModelB"]["real:test/chamfer_l1_mean"]) == pytest.approx(0.7)
    assert int(rows["ModelB"]["real:test/chamfer_l1_n"]) == 1
    assert float(rows["reference (medoid shape)"]["real:test/chamfer_l1_mean"]) == pytest.approx(0.9)
    md = (tmp_path / "study" / "results.md").read_text()
    assert "| ModelB | learned | 2 | 1, 2 | 0.23 ± 0.042 | 0.7 ± – (n=1) |" in md
    assert int(rows["ModelA"]["n"]) == 2  # eval summaries are not runs


def test_an_eval_on_another_test_set_is_excluded_and_listed(tmp_path):
    four_good_runs(tmp_path)
    eval_summary(tmp_path / "0", tmp_path / "0" / "eval" / "real", 0.3)
    eval_summary(tmp_path / "1", tmp_path / "1" / "eval" / "real", 0.5)
    eval_summary(tmp_path / "2", tmp_path / "2" / "eval" / "real", 0.7, n_test=2)
    study = compare(tmp_path, evals={"real": []})
    assert [row.stats["real:test/chamfer_l1"][2] for row in study.rows[:2]] == [2, 0]
    assert any("eval 'real' excluded: test set has 2 samples" in why for _, why in study.skipped)


def test_compare_yaml_gives_the_defaults_and_the_command_line_overrides(tmp_path):
    four_good_runs(tmp_path)
    (tmp_path / "compare.yaml").write_text(
        yaml.safe_dump(
            {
                "title": "My study",
                "intro": "Two models.",
                "metrics": ["test/fscore"],
                "labels": {"test/fscore": "F-score"},
                "group_labels": {"ModelA": "model A"},
                "formats": {"default": ".3f"},
                "plots": False,
            }
        )
    )
    assert main([str(tmp_path)]) == 0
    lines = (tmp_path / "results.md").read_text().splitlines()
    assert lines[0] == "# My study" and lines[2] == "Two models."
    assert "| group | kind | n | seeds | F-score ↑ | wall time (s) |" in lines
    assert "| model A | learned | 2 | 1, 2 | **0.890 ± 0.014** | 15.0 |" in lines
    assert not (tmp_path / "plots").exists()
    assert main([str(tmp_path), "--metrics", "test/chamfer_l1"]) == 0
    assert "| group | kind | n | seeds | test/chamfer_l1 ↓ | wall time (s) |" in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize(
    "content, message",
    [
        ("metric: [test/fscore]\n", "unknown key.*metric; known: title"),
        ("metrics: test/fscore\n", "metrics must be a non-empty list"),
        ("formats: {test/fscore: abc}\n", "formats.test/fscore 'abc' is not a float format spec"),
        ("- a\n", "must be a mapping"),
        ("title: [unclosed\n", "cannot read"),
    ],
)
def test_bad_compare_yaml_is_an_error_naming_file_and_key(tmp_path, content, message):
    four_good_runs(tmp_path)
    (tmp_path / "compare.yaml").write_text(content)
    with pytest.raises(SystemExit, match=message) as error:
        main([str(tmp_path)])
    assert str(tmp_path / "compare.yaml") in str(error.value)
    assert not (tmp_path / "results.md").exists()


def test_an_unknown_eval_or_eval_metric_is_an_error_naming_it(tmp_path):
    four_good_runs(tmp_path)
    eval_summary(tmp_path / "0", tmp_path / "0" / "eval" / "real", 0.3)
    with pytest.raises(SystemExit, match="no included run has an eval 'sim'.*evals found: real"):
        compare(tmp_path, evals={"sim": []})
    with pytest.raises(SystemExit, match="no 'real' eval logged test/iou"):
        compare(tmp_path, evals={"real": ["iou"]})


def test_collect_refuses_two_runs_with_one_record_name(tmp_path):
    fake_run(tmp_path / "a", "run", "ModelA", 1)
    fake_run(tmp_path / "b", "run", "ModelA", 2)
    with pytest.raises(SystemExit, match="would both be recorded as 'run'"):
        main(["--collect", str(tmp_path / "a"), str(tmp_path / "b"), "--into", str(tmp_path / "records")])
    assert not (tmp_path / "records").exists()


def test_collect_refreshes_a_record_from_its_own_run_but_never_overwrites_another_runs(tmp_path):
    fake_run(tmp_path / "a", "run", "ModelA", 1, 0.10)
    records = tmp_path / "records"
    main(["--collect", str(tmp_path / "a"), "--into", str(records)])
    fake_run(tmp_path / "again", "run", "ModelA", 1, 0.30)  # a later run that happens to have the same name
    before = (records / "run" / "summary.json").read_text()
    with pytest.raises(SystemExit, match="already records the run .*/a/run.*would overwrite"):
        main(["--collect", str(tmp_path / "again"), "--into", str(records)])
    assert (records / "run" / "summary.json").read_text() == before
    summary = json.loads((tmp_path / "a" / "run" / "summary.json").read_text())
    summary["metrics"]["test/chamfer_l1"] = 0.05  # the same run, finished after a resume: refreshed
    (tmp_path / "a" / "run" / "summary.json").write_text(json.dumps(summary))
    main(["--collect", str(tmp_path / "a"), "--into", str(records)])
    assert json.loads((records / "run" / "summary.json").read_text())["metrics"]["test/chamfer_l1"] == 0.05
