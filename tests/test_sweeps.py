"""Sweeps through Hydra's own launchers and sweepers: parallel jobs, failure isolation, Optuna, SLURM, DDP."""

import json
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from recon.cli.slurm_preview import preview
from tests.helpers.configs import TINY_DATA, TINY_MODEL
from tests.helpers.paths import ROOT
from tests.helpers.wandb_offline import records

TINY = TINY_DATA + TINY_MODEL + ["print_config=false"]


def run_train(tmp_path: Path, cache: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    flags = [o for o in overrides if o.startswith("-")]  # argparse wants -m before the overrides
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        *flags,
        *TINY,
        f"paths.cache_dir={cache}",
        f"paths.log_dir={tmp_path / 'logs'}",
        *[o for o in overrides if not o.startswith("-")],
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def sweep_dir(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    return found


def summaries(root: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob("*/summary.json"))}


def max_concurrency(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


# a multirun through the parallel launcher (2 jobs at a time, 1 thread each) of one-epoch jobs without logs or media
PARALLEL_ONE_EPOCH = (
    "-m",
    "hydra/launcher=parallel",
    "threads=1",
    "trainer.max_epochs=1",
    "logger=none",
    "callbacks=none",
)


def test_parallel_sweep_runs_two_at_a_time_and_isolates_a_failing_job(tmp_path, cache_dir):
    done = run_train(
        tmp_path,
        cache_dir,
        *PARALLEL_ONE_EPOCH,
        "model.hidden_dim=64,64,-1,64",
        check=False,
    )
    assert done.returncode == 1, "a sweep with a failed job must exit non-zero"
    root = sweep_dir(tmp_path)
    jobs = summaries(root)
    assert sorted(jobs) == ["0", "1", "2", "3"]
    assert {k: v["status"] for k, v in jobs.items()} == {
        "0": "completed",
        "1": "completed",
        "2": "failed",
        "3": "completed",
    }
    assert "hidden_dim must be positive" in jobs["2"]["error"] and (root / "2" / "error.txt").is_file()
    assert all("test/chamfer_l1" in jobs[k]["metrics"] for k in ("0", "1", "3"))

    intervals = [
        (datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["finished_at"])) for s in jobs.values()
    ]
    assert max_concurrency(intervals) == 2  # n_jobs=2: two at a time, never more
    assert len({s["job"]["parent_pid"] for s in jobs.values()}) == 2  # two workers, each forking a process per job
    assert len({s["job"]["pid"] for s in jobs.values()}) == 4

    report = json.loads((root / "sweep_report.json").read_text())
    assert report["failed"] == 1 and report["total"] == 4
    assert [Path(j["run_dir"]).name for j in report["jobs"] if j["status"] == "failed"] == ["2"]
    assert "1 of 4 jobs failed" in done.stdout + done.stderr and f"{root / '2'}:" in done.stdout + done.stderr


@pytest.mark.slow  # about 60 s on the shared 2-core machine (three jobs, two at a time)
def test_a_job_whose_process_dies_is_listed_and_the_others_complete(tmp_path, cache_dir):
    """Job 1 SIGKILLs its own process (as the OOM killer or a segfault would end it) while job 0 runs beside it."""
    done = run_train(
        tmp_path,
        cache_dir,
        *PARALLEL_ONE_EPOCH,
        "model._target_=tests.helpers.fault_models.KillsItsProcess",
        f"+model.signal_number=null,{int(signal.SIGKILL)},null",
        check=False,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-4000:]
    root = sweep_dir(tmp_path)
    jobs = summaries(root)
    assert {k: v["status"] for k, v in jobs.items()} == {"0": "completed", "1": "failed", "2": "completed"}
    assert all("test/chamfer_l1" in jobs[k]["metrics"] for k in ("0", "2"))
    assert jobs["1"]["process"] == {"exit_code": -signal.SIGKILL, "signal": "SIGKILL"}
    assert "killed by signal SIGKILL" in jobs["1"]["error"] and (root / "1" / "error.txt").is_file()
    report = json.loads((root / "sweep_report.json").read_text())
    assert report["failed"] == 1 and report["total"] == 3
    (dead,) = [j for j in report["jobs"] if j["status"] != "completed"]
    assert Path(dead["run_dir"]).name == "1" and dead["status"] == "failed" and "SIGKILL" in dead["error"]
    assert dead["process"]["signal"] == "SIGKILL"


@pytest.mark.slow
def test_optuna_sweep_completes_and_reports_the_best_trial(tmp_path, cache_dir):
    run_train(
        tmp_path,
        cache_dir,
        "hparams_search=single_view_optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=2",
        "trainer.max_epochs=1",
        "logger=none",
        "callbacks=model_checkpoint",
    )
    root = sweep_dir(tmp_path)
    result = yaml.safe_load((root / "optimization_results.yaml").read_text())
    jobs = summaries(root)
    assert len(jobs) == 4 and all(s["status"] == "completed" for s in jobs.values())
    assert all(s["optimized"]["metric"] == "val/chamfer_l1" for s in jobs.values())
    values = {k: s["optimized"]["value"] for k, s in jobs.items()}
    best = min(values, key=values.get)
    assert result["best_value"] == pytest.approx(values[best], rel=1e-6)
    lr = jobs[best]["config"]["task"]["optimizer"]["lr"]
    assert result["best_params"]["task.optimizer.lr"] == pytest.approx(lr)
    assert len({s["config"]["task"]["optimizer"]["lr"] for s in jobs.values()}) == 4  # the sweeper chose the values


def test_slurm_launcher_renders_the_job_array_it_would_submit():
    script = preview(
        [
            "model=cnn_points,cnn_fold",
            "seed=1,2",
            "trainer=ddp",
            "trainer.devices=4",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.timeout_min=90",
        ]
    )
    for line in (
        "#SBATCH --array=0-3%4",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --job-name=train",
        "#SBATCH --nodes=1",
    ):
        assert line in script, line
    assert "srun" in script and "submitit.core._submit" in script and sys.executable in script
    assert "#   3: model=cnn_fold seed=2" in script

    cpu = preview(["trainer=cpu"])
    assert "--gpus-per-node" not in cpu and "#SBATCH --ntasks-per-node=1" in cpu and "--array=0-0" in cpu
    with pytest.raises(Exception, match="trainer.devices=-1: on SLURM give the number of devices"):
        preview(["trainer=ddp"])  # "all visible GPUs" has no meaning before the job lands on a node


def wandb_group(run_dir: Path) -> str:
    (path,) = run_dir.glob("wandb/offline-run-*/*.wandb")
    return next(r.run.run_group for r in records(path) if r.WhichOneof("record_type") == "run")


@pytest.mark.slow
def test_ddp_sweep_writes_one_run_dir_per_job_and_one_wandb_group(tmp_path, cache_dir):
    run_train(
        tmp_path,
        cache_dir,
        "-m",
        "trainer=ddp_cpu",
        "data.batch_size=4",
        "trainer.max_epochs=1",
        "logger=wandb",
        "callbacks=model_checkpoint",
        "seed=1,2",
    )
    root = sweep_dir(tmp_path)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["0", "1"]  # no stray dirs from rank 1
    assert not (tmp_path / "logs" / "train" / "runs").exists()
    jobs = summaries(root)
    assert [s["status"] for s in jobs.values()] == ["completed", "completed"]
    assert all(s["config"]["trainer"]["devices"] == 2 for s in jobs.values())
    groups = {wandb_group(root / k) for k in jobs}  # each job: exactly one wandb run (rank 0)
    assert groups == {f"train/{root.name}"}


@pytest.mark.slow
def test_ddp_on_two_processes_matches_one_process_with_the_same_global_batch(tmp_path, cache_dir):
    common = [
        "trainer=ddp_cpu",
        "trainer.max_epochs=3",
        "trainer.deterministic=true",
        "model.norm=group",
        "logger=none",
        "callbacks=model_checkpoint",
        "seed=3",
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    run_train(tmp_path, cache_dir, *common, "trainer.devices=1", "data.batch_size=8", f"hydra.run.dir={one}")
    run_train(tmp_path, cache_dir, *common, "trainer.devices=2", "data.batch_size=4", f"hydra.run.dir={two}")
    a, b = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    assert a["global_steps"] == b["global_steps"] == 3 * 6
    # With per-sample normalisation the two runs differ only by float rounding (gradients averaged over two
    # half-batches instead of one batch), amplified by 18 optimiser steps: 1.1e-4 relative on the 2-core CI machine
    # (with the code before and after the 2026-12 layout change alike), 1e-6 on another host. 5e-4 keeps that
    # headroom (batch norm, whose statistics depend on the split, differed by 7e-4 where this test was written).
    # The F-score counts points within a threshold, so such shifts move a few points across it: 7e-4 absolute on
    # the CI machine.
    assert b["metrics"]["test/chamfer_l1"] == pytest.approx(a["metrics"]["test/chamfer_l1"], rel=5e-4)
    assert b["metrics"]["test/fscore"] == pytest.approx(a["metrics"]["test/fscore"], abs=2e-3)
    assert b["optimized"]["value"] == pytest.approx(a["optimized"]["value"], rel=5e-4)  # best val/chamfer_l1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # nothing else written


@pytest.mark.parametrize("name", ["single_view_optuna", "stereo_optuna"])
def test_hparams_search_sweeps_keys_that_exist(make_config, name):
    from omegaconf import OmegaConf

    cfg = make_config([f"hparams_search={name}"])
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.optimized_metric == {"single_view_optuna": "val/chamfer_l1", "stereo_optuna": "val/epe_all"}[name]
    for key in cfg.hydra.sweeper.params:  # a typo here would make Optuna tune a key nothing reads
        assert OmegaConf.select(cfg, key, default=None) is not None, key


@pytest.mark.slow
def test_parallel_sweep_jobs_can_render_with_worker_processes(tmp_path):
    """Inside a joblib (loky) worker the start method is loky's; the renderer's spawn pool must still start."""
    run_train(
        tmp_path,
        tmp_path / "fresh_cache",
        "-m",
        "hydra/launcher=parallel",
        "threads=1",
        "data.render_workers=2",
        "data.synthetic.num_train=16",
        "data.synthetic.num_val=8",
        "data.synthetic.num_test=8",
        "trainer.max_epochs=1",
        "logger=none",
        "callbacks=none",
        "seed=1,2",
    )
    jobs = summaries(sweep_dir(tmp_path))
    assert [s["status"] for s in jobs.values()] == ["completed", "completed"]
    assert len(list((tmp_path / "fresh_cache").rglob("*.npz"))) == 3  # one render per split, shared by both jobs
