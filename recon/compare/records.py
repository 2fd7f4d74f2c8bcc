"""A study's committed run records, and runs that started but never wrote a ``summary.json``.

Layout of a study (``experiments/<study>/``)::

    compare.yaml                               # recon-compare options of the study (recon/compare/options.py)
    runs/<run>/summary.json                    # the runner's summary (completed or failed)
    runs/<run>/metrics.csv                     # copy of the run's csv/metrics.csv (learning curves)
    runs/<run>/eval/<eval>/summary.json        # optional: a recon-eval summary of the run's checkpoint
    runs/<run>/config_resolved.yaml            # only for a run that left no summary.json (killed, hung)

``collect`` copies exactly these files out of run directories (or sweep directories holding them), so a study's
records are built with one command and nothing else (checkpoints, media, logs) ends up in the repository.
"""

import contextlib
import csv
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

STARTED_MARKERS = ("config_resolved.yaml", ".hydra/config.yaml", "csv/metrics.csv", "metrics.csv")
EVAL_DIR = "eval"


def natural_key(path: Path) -> list:
    """Sort job dirs 0, 1, 2, ..., 10 as numbers, not as text."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


@dataclass
class Incomplete:
    """A run directory that started (config or metrics written) but has no summary.json."""

    dir: Path
    description: str


def run_dir_of(path: Path, root: Path) -> Path:
    """The run directory a marker file belongs to (``<run>/csv/version_0/metrics.csv`` -> ``<run>``)."""
    parts = path.relative_to(root).parts
    if path.name == "config.yaml" and path.parent.name == ".hydra":
        return path.parent.parent
    if path.name == "metrics.csv" and "csv" in parts[:-1]:
        last_csv = len(parts) - 2 - parts[:-1][::-1].index("csv")
        return root.joinpath(*parts[:last_csv])
    return path.parent


def started_run_dirs(root: Path) -> list[Path]:
    """Every directory under ``root`` (itself included) holding a started-run marker (see ``STARTED_MARKERS``)."""
    found = set()
    for name in ("config_resolved.yaml", "config.yaml", "metrics.csv"):
        for path in root.rglob(name):
            if path.is_file() and (name != "config.yaml" or path.parent.name == ".hydra"):
                found.add(run_dir_of(path, root))
    return sorted(found, key=natural_key)


def find_metrics_csv(run_dir: Path) -> Path | None:
    """A run's learning curve: ``metrics.csv`` of a record, else the CSV logger's ``csv/[version_*/]metrics.csv``."""
    for candidate in (run_dir / "metrics.csv", run_dir / "csv" / "metrics.csv"):
        if candidate.is_file():
            return candidate
    found = sorted((run_dir / "csv").glob("**/metrics.csv"), key=natural_key) if (run_dir / "csv").is_dir() else []
    return found[-1] if found else None


def _read_config(run_dir: Path) -> dict:
    for name in ("config_resolved.yaml", ".hydra/config.yaml"):
        path = run_dir / name
        if path.is_file():
            try:
                loaded = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(loaded, dict):
                return loaded
    return {}


def _progress(metrics_csv: Path) -> tuple[int | None, int | None]:
    """(largest 0-based epoch, largest step) logged in a metrics.csv; None where nothing was logged."""
    epochs, steps = [], []
    try:
        with open(metrics_csv, newline="") as f:
            for row in csv.DictReader(f):
                for key, into in (("epoch", epochs), ("step", steps)):
                    with contextlib.suppress(ValueError):
                        into.append(int(float(row.get(key) or "")))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None, None
    return (max(epochs) if epochs else None), (max(steps) if steps else None)


def describe_incomplete(run_dir: Path) -> str:
    """What a started run left behind: its model, seed and how far its metrics.csv got."""
    config = _read_config(run_dir)
    parts = ["no summary.json (killed, hung or still running)"]
    model = config.get("model")
    if isinstance(model, dict) and isinstance(model.get("_target_"), str):
        parts.append(f"model {model['_target_'].rsplit('.', 1)[-1]}")
    if config.get("seed") is not None:
        parts.append(f"seed {config['seed']}")
    metrics_csv = find_metrics_csv(run_dir)
    if metrics_csv is None:
        parts.append("no metrics.csv")
    else:
        epoch, step = _progress(metrics_csv)
        if epoch is None:
            parts.append("metrics.csv has no epoch logged")
        else:
            planned = (
                (config.get("trainer") or {}).get("max_epochs") if isinstance(config.get("trainer"), dict) else None
            )
            of = f" of {planned}" if isinstance(planned, int) else ""
            parts.append(f"metrics.csv reached epoch {epoch + 1}{of} (step {step})")
    return "; ".join(parts)


def find_incomplete(root: Path) -> list[Incomplete]:
    return [Incomplete(d, describe_incomplete(d)) for d in started_run_dirs(root) if not (d / "summary.json").is_file()]


# --- collecting records out of run directories -----------------------------------------------------------------


def record_name(run_dir: Path) -> str:
    """The record's folder name: the run dir's name; a sweep job (``<sweep>/3``) is ``<sweep>_3``."""
    run_dir = Path(run_dir)
    return f"{run_dir.parent.name}_{run_dir.name}" if run_dir.name.isdigit() else run_dir.name


def _is_run_dir(path: Path) -> bool:
    return (path / "summary.json").is_file() or any((path / m).is_file() for m in STARTED_MARKERS)


def _runs_below(source: Path) -> list[Path]:
    """``source`` itself if it is a run dir, else every run dir below it (a sweep), eval dirs of runs excluded."""
    if _is_run_dir(source):
        return [source]
    dirs = {p.parent for p in source.rglob("summary.json") if p.is_file()} | set(started_run_dirs(source))
    return sorted((d for d in dirs if not _is_eval_of_run(d)), key=natural_key)


def _is_eval_of_run(path: Path) -> bool:
    return path.parent.name == EVAL_DIR and (path.parent.parent / "summary.json").is_file()


def _run_files(run_dir: Path) -> dict[str, Path]:
    """record-relative path -> source file, for one run (its eval summaries included)."""
    files = {}
    if (run_dir / "summary.json").is_file():
        files["summary.json"] = run_dir / "summary.json"
    else:
        for name in ("config_resolved.yaml", ".hydra/config.yaml"):
            if (run_dir / name).is_file():
                files[name] = run_dir / name
    metrics_csv = find_metrics_csv(run_dir)
    if metrics_csv is not None:
        files["metrics.csv"] = metrics_csv
    for summary in sorted((run_dir / EVAL_DIR).glob("*/summary.json")):
        files[f"{EVAL_DIR}/{summary.parent.name}/summary.json"] = summary
    return files


def _eval_run_dir(summary_path: Path) -> Path:
    """The training run whose checkpoint a recon-eval summary scored (``<run>/checkpoints/<ckpt>``)."""
    try:
        checkpoint = json.loads(summary_path.read_text()).get("evaluated_checkpoint")
    except (OSError, ValueError, AttributeError):
        checkpoint = None
    if not isinstance(checkpoint, str) or Path(checkpoint).parent.name != "checkpoints":
        raise SystemExit(
            f"recon-compare --collect: {summary_path} has no evaluated_checkpoint inside a run's checkpoints/ "
            "folder, so it cannot be matched to a run (is it a recon-eval summary of a completed evaluation?)"
        )
    return Path(checkpoint).parent.parent


def _refuse_other_run(recorded: Path, run_dir: Path) -> None:
    """A record may be refreshed from its own run, never overwritten by another run of the same name."""
    if not recorded.is_file() or not (run_dir / "summary.json").is_file():
        return
    try:
        theirs = json.loads(recorded.read_text()).get("run_dir")
        mine = json.loads((run_dir / "summary.json").read_text()).get("run_dir")
    except (OSError, ValueError):
        return
    if theirs and mine and Path(theirs) != Path(mine):
        raise SystemExit(
            f"recon-compare --collect: {recorded.parent} already records the run {theirs}; {run_dir} would overwrite "
            "it: rename the run dir or collect into another folder"
        )


def plan_collect(sources: list[Path], into: Path, eval_name: str | None = None) -> dict[Path, Path]:
    """Destination -> source file for every record file to copy; checks everything before anything is copied."""
    plan: dict[Path, Path] = {}
    origin: dict[str, Path] = {}
    for source in map(Path, sources):
        if not source.is_dir():
            raise SystemExit(f"recon-compare --collect: {source} is not a directory")
        if eval_name is None:
            runs = _runs_below(source)
            if not runs:
                raise SystemExit(
                    f"recon-compare --collect: no run (summary.json, config or metrics.csv) under {source}"
                )
            for run_dir in runs:
                name = record_name(run_dir)
                if origin.setdefault(name, run_dir) != run_dir:
                    raise SystemExit(
                        f"recon-compare --collect: {origin[name]} and {run_dir} would both be recorded as {name!r}"
                    )
                _refuse_other_run(into / name / "summary.json", run_dir)
                for rel, src in _run_files(run_dir).items():
                    plan[into / name / rel] = src
        else:
            summaries = [source / "summary.json"] if (source / "summary.json").is_file() else []
            summaries = summaries or sorted((p for p in source.rglob("summary.json") if p.is_file()), key=natural_key)
            if not summaries:
                raise SystemExit(f"recon-compare --collect: no summary.json under {source}")
            for summary in summaries:
                name = record_name(_eval_run_dir(summary))
                target = into / name / EVAL_DIR / eval_name / "summary.json"
                run_summary = into / name / "summary.json"
                if not run_summary.is_file() and run_summary not in plan:
                    raise SystemExit(
                        f"recon-compare --collect: {summary} evaluates run {name!r}, which has no record in {into} "
                        "yet; collect the run first"
                    )
                if target in plan:
                    raise SystemExit(f"recon-compare --collect: {plan[target]} and {summary} both evaluate {name!r}")
                plan[target] = summary
    return plan


def collect(sources: list[Path], into: Path, eval_name: str | None = None) -> list[Path]:
    """Copy the record files of the runs in ``sources`` into ``into/<record name>/`` (see the module doc).

    With ``eval_name`` the sources are recon-eval output dirs; each summary goes to
    ``into/<run>/eval/<eval_name>/summary.json`` of the run whose checkpoint it scored. Returns the written paths.
    """
    if eval_name is not None and (not eval_name or "/" in eval_name or eval_name.startswith(".")):
        raise SystemExit(f"recon-compare --collect: --eval {eval_name!r} must be a plain folder name")
    into = Path(into)
    plan = plan_collect(sources, into, eval_name)
    for target, source in plan.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return sorted(plan, key=natural_key)
