"""recon-compare: one table (markdown + CSV) and plots from the ``summary.json`` files of many runs.

Usage::

    recon-compare logs/train/multiruns/2026-11-25_10-00-00            # a Hydra multirun sweep dir
    recon-compare experiments/my_study --out experiments/my_study/results
    recon-compare DIR --metrics test/chamfer_l1 test/fscore --group-by model task.optimizer.lr
    recon-compare DIR --allow-mismatch                                  # keep runs on another test set

Every ``summary.json`` under DIR (recursively) is one run, except ``<run>/eval/<name>/summary.json``: a recon-eval
summary of that run's checkpoint, shown as ``<name>:<metric>`` columns when ``evals`` asks for them. A directory that
started a run (``config_resolved.yaml``, ``.hydra/config.yaml`` or a ``metrics.csv``) without a ``summary.json`` is
listed as incomplete (``recon/compare/records.py``). ``DIR/compare.yaml`` holds a study's options
(``recon/compare/options.py``). Runs are grouped and each group's metrics are
aggregated over its runs (seeds): mean ± sample std (ddof=1; "–" when n = 1), n, seeds, mean wall time; a learned
group with fewer than 2 distinct completed seeds is marked "(1 seed)".

Groups (``--group-by``, default ``model``): the resolved config values under the given dotted keys, read
from ``summary["config"]`` (``summary["trained_config"]`` for recon-eval summaries). With ``model`` a group is
one model ``_target_`` plus every model setting; it is labelled by the class name and the model settings that
vary between runs of that class in the study (``PointSetCNN num_points=512``). The Hydra choice name
(``model=cnn_points``) is not used: it is only in ``run_name``, which a user may override. Config values that
differ *inside* a group (outside the seed, paths, loggers, progress bars) are listed under "Notes", so a
sweep over e.g. ``task.optimizer.lr`` is never averaged silently; ``--group-by model task.optimizer.lr`` splits it.

Rows: learned groups, then non-learned baselines (``summary["trainable"] is False``), then
"reference (medoid shape)": the ``test/reference/*`` metrics every single-view test logs beside its model,
aggregated over all included runs. Per metric the best mean is bold (↓ lower is better, ↑ higher).

Comparability: runs must share the test set — ``summary["splits"]["test"]``, ``summary["data"]`` (the
datamodule's description: generator config and hash; its ``targets``, extra ground truth such as occupancy grids,
are ignored) and metric thresholds (``task.*threshold*``). Runs that
differ from the majority are listed under "⚠ Excluded / flagged" and left out of the aggregate unless
``--allow-mismatch``. Failed runs (with their error), unreadable or other-format summaries (by path) are
listed and skipped; a different ``optimized_metric`` is flagged. An empty directory is an error (exit 1).

Writes into DIR (or ``--out``): ``results.md``, ``results.csv`` (one row per group), ``runs.csv`` (one row
per run), ``plots/<metric>.png`` (mean ± std per group, runs as dots) and ``plots/curve_<metric>.png``
(each group's mean ± std over seeds per epoch, from ``<run>/csv/metrics.csv``). Files are replaced atomically.
"""

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recon.compare.records import EVAL_DIR, Incomplete, find_incomplete, natural_key
from recon.engine.legacy import upgrade_targets
from recon.engine.summary import SUMMARY_FORMAT

PREFERRED_METRICS = (
    "test/chamfer_l1",
    "test/chamfer_l2",
    "test/fscore",
    "test/iou",
    "test/accuracy",
    "test/completeness",
    "test/epe_all",
    "test/bad2_all",
    "test/d1_all",
    "test/epe_noc",
    "test/bad2_noc",
)
# The non-learned references a task scores beside every test, by metric namespace (``test/<namespace>/*``), and
# their row labels per problem (the task's module name).
REFERENCE_NAMESPACES = ("reference", "reference_raw", "partial_input")
REFERENCE_LABELS = {
    ("single_view", "reference"): "reference (medoid shape)",
    ("single_view", "reference_raw"): "reference (raw)",
    ("stereo", "reference"): "reference (OpenCV SGBM, holes filled)",
    ("stereo", "reference_raw"): "reference (OpenCV SGBM raw, holes as errors)",
    ("multi_view", "reference"): "reference (plane sweep)",
    ("multi_modal", "reference"): "reference (partial input + medoid shape placed by ICP)",
    ("multi_modal", "partial_input"): "reference (partial input alone)",
    ("pose", "reference"): "reference (SIFT + essential matrix + RANSAC)",
}
# Config keys that say where or how verbosely a run was logged, not what it computed.
BOOKKEEPING = (
    "seed",
    "paths",
    "hydra",
    "run_name",
    "tags",
    "task_name",
    "print_config",
    "logger",
    "ckpt_path",
    "resume",
    "threads",
    "callbacks.rich_progress_bar",
    "callbacks.lr_monitor",
    "callbacks.prediction_media",
    "data.cache_dir",
    "data.num_workers",
    "data.render_workers",
    "data.pin_memory",
    "data.synthetic",
)  # the generator is part of the test-set check (summary["data"])
COMPLETED_KEYS = ("metrics", "splits", "data", "model_family", "wall_time_s")
# Metric names (last path component) and whether lower is better. Chamfer "accuracy"/"completeness" are
# distances (Occupancy Networks), so lower is better; unknown names get no arrow and no bold.
LOWER = re.compile(r"chamfer|^accuracy$|^completeness$|loss|err|epe|rmse|mae|abs_rel|sq_rel|^d1|bad|outlier|failure")
HIGHER = re.compile(r"fscore|^f1|precision|recall|iou|^delta|^a[123]$|psnr|ssim|^auc")


class InvalidSummary(ValueError):
    """A summary.json that cannot be compared: unreadable, another format, or missing keys."""


@dataclass
class Run:
    path: Path  # the summary.json
    summary: dict
    included: bool = True
    reason: str = ""  # why it is excluded or flagged
    group: tuple = ()
    label: str = ""
    notes: list[str] = field(default_factory=list)
    evals: dict[str, "Run"] = field(default_factory=dict)  # eval name -> recon-eval summary of this run's checkpoint

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def status(self) -> str:
        return self.summary.get("status", "?")

    @property
    def config(self) -> dict:
        """The config that built the model (a recon-eval summary keeps it as ``trained_config``)."""
        return self.summary.get("trained_config") or self.summary.get("config") or {}

    @property
    def seed(self):
        return self.config.get("seed")

    @property
    def metrics(self) -> dict[str, float]:
        return self.summary.get("metrics") or {}

    @property
    def trainable(self) -> bool:
        return self.summary.get("trainable", True) is not False

    @property
    def model_target(self) -> str:
        model = self.config.get("model")
        return model.get("_target_", "") if isinstance(model, dict) else self.summary.get("model_family", "?")

    @property
    def family(self) -> str:
        return self.summary.get("model_family") or self.model_target.rsplit(".", 1)[-1]

    def test_ids(self) -> list:
        return (self.summary.get("splits") or {}).get("test") or []

    def thresholds(self) -> dict:
        task = self.config.get("task") or {}
        return {k: v for k, v in flatten(task, "task").items() if "threshold" in k}

    def is_own_path(self, value) -> bool:
        """A config string naming this run's directory (checkpoint dirs, logger dirs) says nothing about the model."""
        if not isinstance(value, str) or "/" not in value:
            return False
        roots = {str(self.dir), str(self.summary.get("run_dir") or self.dir)}
        return any(root and root in value for root in roots)


def column_value(run: Run, column: str, reference: str | None = None):
    """A table column's value for one run: ``test/x`` from its own test, ``<eval>:test/x`` from its eval
    ``<eval>``; with ``reference`` (a namespace of :data:`REFERENCE_NAMESPACES`) the non-learned reference scored
    beside it (``test/<reference>/x``)."""
    source, _, metric = column.rpartition(":")
    if reference:
        metric = metric.replace("test/", f"test/{reference}/", 1)
    if source:
        run = run.evals.get(source)
        if run is None:
            return None
    value = run.metrics.get(metric)
    return float(value) if _is_number(value) else None


@dataclass
class Row:
    """One line of the table: a group of runs (or the reference), its metric statistics."""

    label: str
    kind: str  # learned | baseline | reference
    family: str
    runs: list[Run]
    stats: dict[str, tuple[float, float, int]]  # metric -> (mean, sample std or nan, n)
    values: dict[str, list[float]]  # metric -> the runs' values (for plots)
    wall_time_s: float
    seeds: list
    namespace: str | None = None  # reference rows: the metric namespace they read (``test/<namespace>/*``)

    @property
    def n(self) -> int:
        return len(self.runs)


@dataclass
class Study:
    root: Path
    runs: list[Run]  # every readable summary (included or not)
    skipped: list[tuple[Path, str]]  # unreadable / other-format summaries and why
    rows: list[Row]
    metrics: list[str]  # table columns: test metrics, then ``<eval>:<metric>`` columns of eval summaries
    group_by: list[str]
    notes: list[str]
    test_set: dict  # what the majority's test set is
    incomplete: list[Incomplete] = field(default_factory=list)  # started runs without a summary.json

    @property
    def included(self) -> list[Run]:
        return [r for r in self.runs if r.included]


def direction(metric: str) -> str | None:
    """'min', 'max' or None (unknown) for a metric name such as ``test/chamfer_l1``."""
    name = metric.rsplit("/", 1)[-1].lower()
    if HIGHER.search(name):
        return "max"
    if LOWER.search(name):
        return "min"
    return None


def flatten(node, prefix: str = "") -> dict:
    """Nested dicts -> {"a.b.c": leaf}; lists and scalars are leaves; an empty dict is a leaf too."""
    if isinstance(node, dict) and node:
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def read_summary(path: Path) -> dict:
    """Parse and check one summary.json; raise :class:`InvalidSummary` with a reason a user can act on."""
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InvalidSummary(f"not valid JSON (truncated or corrupt): {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidSummary(f"cannot be read: {e}") from None
    if not isinstance(summary, dict):
        raise InvalidSummary("not a JSON object")
    fmt = summary.get("format")
    if fmt != SUMMARY_FORMAT:
        found = "no 'format' key" if fmt is None else f"format {fmt!r}"
        raise InvalidSummary(
            f"{found}; this recon reads summary format {SUMMARY_FORMAT} (written by another recon version)"
        )
    required = ("status", "config") + (COMPLETED_KEYS if summary.get("status") == "completed" else ())
    missing = [k for k in required if k not in summary]
    if missing:
        raise InvalidSummary(f"missing keys: {', '.join(missing)}")
    kinds = {"config": dict, "metrics": dict, "splits": dict, "data": dict}
    wrong = [k for k, kind in kinds.items() if k in summary and not isinstance(summary[k], kind)]
    if summary.get("status") == "completed" and not isinstance(summary["splits"].get("test"), list):
        wrong.append("splits.test")
    if wrong:
        raise InvalidSummary(f"malformed keys: {', '.join(wrong)}")
    for key in ("config", "trained_config"):
        if key in summary:
            summary[key] = upgrade_targets(summary[key])
    return summary


def find_summaries(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("summary.json") if p.is_file()), key=natural_key)


def eval_of(path: Path) -> tuple[Path, str] | None:
    """(the run's summary.json, eval name) for ``<run>/eval/<name>/summary.json`` beside a run summary, else None."""
    run_summary = path.parent.parent.parent / "summary.json"
    if path.parent.parent.name == EVAL_DIR and run_summary.is_file():
        return run_summary, path.parent.name
    return None


def load_runs(root: Path) -> tuple[list[Run], list[tuple[Path, str]]]:
    """The runs under ``root`` with their eval summaries attached; unreadable summaries (and failed evals)
    are returned as skipped with the reason."""
    runs, skipped, evals = [], [], []
    for path in find_summaries(root):
        owner = eval_of(path)
        try:
            run = Run(path, read_summary(path))
        except InvalidSummary as e:
            skipped.append((path, str(e)))
            continue
        (runs if owner is None else evals).append((run, owner))
    by_path = {run.path: run for run, _ in runs}
    for run, (run_summary, name) in evals:
        if run.status != "completed":
            skipped.append((run.path, f"eval status {run.status!r}: {run.summary.get('error', 'no error recorded')}"))
        elif run_summary in by_path:
            by_path[run_summary].evals[name] = run
        else:
            skipped.append((run.path, "the run it evaluates has no readable summary.json"))
    return [run for run, _ in runs], skipped


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def test_set_data(run: Run) -> dict:
    """The run's data description without ``targets`` (extra ground truth of the same scenes, such as occupancy
    grids for voxel models: it adds labels, not test items) and without null settings (a setting added later with
    a null default, e.g. ``test_families``, describes the same data as a record written before it existed)."""
    return _without_nulls({k: v for k, v in (run.summary.get("data") or {}).items() if k != "targets"})


def test_set_signature(run: Run) -> str:
    return json.dumps(
        {"data": test_set_data(run), "test": run.test_ids(), "thresholds": run.thresholds()},
        sort_keys=True,
        default=str,
    )


def _mismatch_reason(run: Run, ref: Run) -> str:
    parts = []
    ids, ref_ids = run.test_ids(), ref.test_ids()
    if len(ids) != len(ref_ids):
        parts.append(f"test set has {len(ids)} samples, the majority {len(ref_ids)}")
    elif ids != ref_ids:
        differing = sum(a != b for a, b in zip(ids, ref_ids))
        parts.append(f"test split ids differ from the majority's ({differing} of {len(ids)})")
    data, ref_data = test_set_data(run), test_set_data(ref)
    if data != ref_data:
        mine, theirs = flatten(data), flatten(ref_data)
        keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        shown = [k for k in keys if k != "generator_hash"][:4] or keys[:4]
        detail = ", ".join(f"{k}={mine.get(k)!r} vs {theirs.get(k)!r}" for k in shown)
        parts.append(f"data differs ({detail})")
    if run.thresholds() != ref.thresholds():
        parts.append(f"metric thresholds {run.thresholds()} vs {ref.thresholds()}")
    return "; ".join(parts) or "test set differs from the majority"


def check_comparable(runs: list[Run], allow_mismatch: bool) -> dict:
    """Exclude failed runs and runs on another test set than the majority; return the majority's test set."""
    for run in runs:
        if run.status != "completed":
            run.included = False
            run.reason = f"status {run.status!r}: {run.summary.get('error', 'no error recorded')}"
    completed = [r for r in runs if r.status == "completed"]
    if not completed:
        return {}
    signatures = Counter(test_set_signature(r) for r in completed)  # ties: the first run's test set wins
    majority = signatures.most_common(1)[0][0]
    ref = next(r for r in completed if test_set_signature(r) == majority)
    for run in completed:
        if test_set_signature(run) != majority:
            run.reason = _mismatch_reason(run, ref)
            run.included = allow_mismatch
    metric_names = Counter(r.config.get("optimized_metric") for r in completed if r.included)
    if len(metric_names) > 1:
        usual = metric_names.most_common(1)[0][0]
        for run in completed:
            if run.included and run.config.get("optimized_metric") != usual:
                run.notes.append(
                    f"optimized_metric {run.config.get('optimized_metric')!r}, the others {usual!r} "
                    "(a sweeper tuned it for another metric)"
                )
    data = ref.summary.get("data") or {}
    return {"n_test": len(ref.test_ids()), "generator_hash": data.get("generator_hash"), "runs": signatures[majority]}


def check_evals(runs: list[Run], allow_mismatch: bool) -> list[tuple[Path, str]]:
    """Per eval name, drop the evals on another test set than the majority's; return them with the reason."""
    dropped = []
    for name in sorted({n for r in runs for n in r.evals}):
        evals = [r.evals[name] for r in runs if name in r.evals]
        signatures = Counter(test_set_signature(e) for e in evals)
        majority = signatures.most_common(1)[0][0]
        ref = next(e for e in evals if test_set_signature(e) == majority)
        for run in runs:
            found = run.evals.get(name)
            if found is not None and test_set_signature(found) != majority:
                what = "included" if allow_mismatch else "excluded"
                dropped.append((found.path, f"eval {name!r} {what}: {_mismatch_reason(found, ref)}"))
                if not allow_mismatch:
                    del run.evals[name]
    return dropped


def _group_leaves(run: Run, group_by: list[str]) -> dict[str, str]:
    leaves = {}
    for key in group_by:
        node = lookup(run.config, key)
        leaves.update(flatten(node, key) if isinstance(node, dict) else {key: node})
    return {k: json.dumps(v, sort_keys=True) for k, v in leaves.items() if not run.is_own_path(v)}


def _show(encoded: str | None) -> str:
    """A JSON-encoded config value as a user would type it (strings without quotes)."""
    if encoded is None:
        return "unset"
    value = json.loads(encoded)
    return value if isinstance(value, str) else encoded


def assign_groups(runs: list[Run], group_by: list[str]) -> None:
    """Set each run's group (all its config values under ``group_by``) and a short label (see module doc)."""
    by_model = any(k == "model" or k.startswith("model.") for k in group_by)
    leaves = {id(r): _group_leaves(r, group_by) for r in runs}
    for run in runs:
        run.group = tuple(sorted(leaves[id(run)].items()))
    for run in runs:
        scope = [r for r in runs if not by_model or r.model_target == run.model_target]
        keys = sorted({k for r in scope for k in leaves[id(r)]})
        varying = [k for k in keys if len({leaves[id(r)].get(k) for r in scope}) > 1 and k != "model._target_"]
        parts = [run.family] if by_model else []
        for key in varying:
            short = key[len("model.") :] if key.startswith("model.") else key
            parts.append(f"{short}={_show(leaves[id(run)].get(key))}")
        run.label = " ".join(parts) or "all runs"
    labels: dict[str, set] = {}
    for run in runs:
        labels.setdefault(run.label, set()).add(run.group)
    for label, groups in labels.items():  # same class name from two modules: say which module
        if len(groups) > 1:
            for run in runs:
                if run.label == label:
                    run.label = f"{label} ({run.model_target})"


def within_group_notes(rows: list[Row], group_by: list[str]) -> list[str]:
    """Config values that differ between the runs of one group (they are averaged together)."""
    notes = []
    for row in rows:
        if row.kind == "reference" or row.n < 2:
            continue
        flat = [
            {
                k: json.dumps(v, sort_keys=True, default=str)
                for k, v in flatten(r.config).items()
                if not r.is_own_path(v)
            }
            for r in row.runs
        ]
        keys = sorted({k for f in flat for k in f})
        skip = tuple(BOOKKEEPING) + tuple(group_by)
        differing = [
            k
            for k in keys
            if not any(k == s or k.startswith(s + ".") for s in skip) and len({f.get(k) for f in flat}) > 1
        ]
        for key in differing[:6]:
            values = ", ".join(sorted({_show(f.get(key)) for f in flat}))
            notes.append(
                f"group **{row.label}** averages runs that differ in `{key}` ({values}); "
                f"`--group-by {' '.join(group_by)} {key}` splits them"
            )
        if len(differing) > 6:
            notes.append(f"group **{row.label}**: {len(differing) - 6} more differing config keys")
        seeds = Counter(r.seed for r in row.runs)
        repeated = sorted(str(s) for s, c in seeds.items() if c > 1)
        if repeated:
            notes.append(
                f"group **{row.label}** has several runs with seed {', '.join(repeated)} "
                "(repeats, not independent seeds)"
            )
    return notes


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def summarize(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1 — nan for n < 2, n) of the finite values."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(finite)
    if n == 0:
        return math.nan, math.nan, 0
    return float(finite.mean()), float(finite.std(ddof=1)) if n > 1 else math.nan, n


def make_row(label: str, kind: str, runs: list[Run], metrics: list[str], namespace: str | None = None) -> Row:
    """A row of ``runs``' own metrics, or with ``namespace`` (kind "reference") of the reference scored beside them."""
    values = {m: [v for r in runs if (v := column_value(r, m, namespace)) is not None] for m in metrics}
    walls = [float(r.summary["wall_time_s"]) for r in runs if _is_number(r.summary.get("wall_time_s"))]
    return Row(
        label=label,
        kind=kind,
        family=runs[0].family if kind != "reference" else label,
        runs=runs,
        stats={m: summarize(v) for m, v in values.items()},
        values=values,
        wall_time_s=float(np.mean(walls)) if walls and kind != "reference" else math.nan,
        seeds=sorted({r.seed for r in runs}, key=str),
        namespace=namespace,
    )


def build_rows(runs: list[Run], metrics: list[str]) -> list[Row]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    learned = [g for g in groups.values() if g[0].trainable]
    baselines = [g for g in groups.values() if not g[0].trainable]
    rows = [make_row(g[0].label, "learned", g, metrics) for g in learned]
    rows += [make_row(g[0].label, "baseline", g, metrics) for g in baselines]
    for namespace in REFERENCE_NAMESPACES:
        referenced = [r for r in runs if any(column_value(r, m, namespace) is not None for m in metrics)]
        if referenced:
            problem = Counter(task_module(r) for r in referenced).most_common(1)[0][0]
            label = REFERENCE_LABELS.get((problem, namespace)) or REFERENCE_LABELS.get(
                ("single_view", namespace), f"reference ({namespace})"
            )
            rows.append(make_row(label, "reference", referenced, metrics, namespace))
    return rows


PROBLEMS = ("single_view", "multi_view", "multi_modal", "stereo", "pose")


def task_module(run: Run) -> str:
    """``stereo`` for ``recon.tasks.stereo.StereoTask`` (and for ``recon.tasks.stereo_adaptation....``): the problem
    the run's task solves, from its module's name."""
    parts = str((run.config.get("task") or {}).get("_target_", "")).split(".")
    module = parts[-2] if len(parts) >= 2 else ""
    return next((problem for problem in PROBLEMS if module.startswith(problem)), module)


def _test_metrics(summaries: list[Run]) -> list[str]:
    return sorted(
        {
            k
            for r in summaries
            for k in r.metrics
            if k.startswith("test/") and k.split("/")[1] not in REFERENCE_NAMESPACES
        }
    )


def choose_metrics(runs: list[Run], requested: list[str] | None) -> list[str]:
    available = _test_metrics(runs)
    if requested:
        chosen = [m if "/" in m else f"test/{m}" for m in requested]
        unknown = [m for m in chosen if m not in available]
        if unknown:
            raise SystemExit(
                f"recon-compare: no included run logged {', '.join(unknown)}; "
                f"available: {', '.join(available) or 'none'}"
            )
        return chosen
    return [m for m in PREFERRED_METRICS if m in available] or available


def eval_columns(runs: list[Run], evals: dict[str, list[str]]) -> list[str]:
    """``<eval>:<metric>`` columns for the requested evals; an eval or metric no run has is an error naming it."""
    columns = []
    for name, metrics in evals.items():
        summaries = [r.evals[name] for r in runs if name in r.evals]
        if not summaries:
            found = sorted({n for r in runs for n in r.evals})
            raise SystemExit(
                f"recon-compare: no included run has an eval {name!r} ({EVAL_DIR}/{name}/summary.json); "
                f"evals found: {', '.join(found) or 'none'}"
            )
        available = _test_metrics(summaries)
        for metric in metrics or [m for m in PREFERRED_METRICS if m in available] or available:
            metric = metric if "/" in metric else f"test/{metric}"
            if metric not in available:
                raise SystemExit(
                    f"recon-compare: no {name!r} eval logged {metric}; available: {', '.join(available) or 'none'}"
                )
            columns.append(f"{name}:{metric}")
    return columns


def compare(
    root: Path,
    metrics: list[str] | None = None,
    group_by: list[str] = ("model",),
    allow_mismatch: bool = False,
    evals: dict[str, list[str]] | None = None,
    group_labels: dict[str, str] | None = None,
) -> Study:
    """Read, check, group and aggregate every summary.json under ``root`` (nothing is written).

    ``evals`` adds columns from the runs' eval summaries (eval name -> metrics, empty for the usual ones);
    ``group_labels`` renames groups (automatic label -> shown label)."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"recon-compare: {root} is not a directory")
    runs, skipped = load_runs(root)
    incomplete = find_incomplete(root)
    if not runs and not skipped:
        if incomplete:
            listed = "\n".join(f"  {i.dir}: {i.description}" for i in incomplete)
            raise SystemExit(f"recon-compare: no run under {root} wrote a summary.json:\n{listed}")
        raise SystemExit(f"recon-compare: no summary.json found under {root}")
    group_by = list(group_by)
    test_set = check_comparable(runs, allow_mismatch)
    included = [r for r in runs if r.included]
    if not included:
        listed = "\n".join([f"  {p}: {why}" for p, why in skipped] + [f"  {r.path}: {r.reason}" for r in runs])
        raise SystemExit(f"recon-compare: no comparable completed run under {root}:\n{listed}")
    skipped = skipped + check_evals(included, allow_mismatch)
    chosen = choose_metrics(included, metrics) + eval_columns(included, evals or {})
    assign_groups(included, group_by)
    for run in included:
        run.label = (group_labels or {}).get(run.label, run.label)
    rows = build_rows(included, chosen)
    notes = within_group_notes(rows, group_by)
    notes += [f"`{r.path.relative_to(root)}`: {n}" for r in included for n in r.notes]
    notes += [
        f"only {n} of {row.n} runs of **{row.label}** logged a finite `{m}`"
        for row in rows
        for m, (_, _, n) in row.stats.items()
        if 0 < n < row.n
    ]  # 0: not its metric
    return Study(
        root=root,
        runs=runs,
        skipped=skipped,
        rows=rows,
        metrics=chosen,
        group_by=group_by,
        notes=notes,
        test_set=test_set,
        incomplete=incomplete,
    )
