"""recon-compare's outputs: results.md, results.csv, runs.csv, plots (all replaced atomically) and stdout.

results.md is a pure function of the records: rows and runs in a fixed order, fixed number formats, paths relative
to the study, no dates, hosts or absolute paths, so ``recon-compare`` over a study's committed records rewrites it
byte for byte. ``view`` holds the presentation options of compare.yaml (title, intro, labels, formats)."""

import csv
import io
import math
from collections import Counter
from pathlib import Path

from recon.compare.study import Study, column_value, direction, eval_of
from recon.io import write_text_atomic

ARROWS = {"min": "↓", "max": "↑", None: ""}
ONE_SEED = "(1 seed)"


def fmt_stat(mean: float, std: float, n: int, row_n: int, spec: str | None = None) -> str:
    """'0.07426 ± 0.0012' (``spec`` formats both, else .4g and .2g); '–' for the std of one run; '(n=k)' when
    fewer runs than the row logged it."""
    if n == 0:
        return "–"
    mean_text = format(mean, spec or ".4g")
    std_text = format(std, spec or ".2g") if math.isfinite(std) else "–"
    return f"{mean_text} ± {std_text}" + (f" (n={n})" if n != row_n else "")


def one_seed(row) -> bool:
    """A learned group with fewer than 2 distinct completed seeds: it has no spread over seeds."""
    return row.kind == "learned" and len(row.seeds) < 2


def best_rows(study: Study) -> dict[str, set[int]]:
    """metric -> indices of the rows with the best mean (ties all count)."""
    best = {}
    for metric in study.metrics:
        better = direction(metric)
        means = [(i, row.stats[metric][0]) for i, row in enumerate(study.rows) if row.stats[metric][2] > 0]
        if better is None or not means:
            best[metric] = set()
            continue
        target = (min if better == "min" else max)(m for _, m in means)
        best[metric] = {i for i, m in means if m == target}
    return best


def table(study: Study, view: dict | None = None) -> tuple[list[str], list[list[str]], dict[str, set[int]]]:
    """Header, cells (plain text) and the best row indices per metric."""
    view = view or {}
    labels, formats = view.get("labels") or {}, view.get("formats") or {}
    header = (
        ["group", "kind", "n", "seeds"]
        + [f"{labels.get(m, m)} {ARROWS[direction(m)]}".strip() for m in study.metrics]
        + ["wall time (s)"]
    )
    cells = []
    for row in study.rows:
        wall = f"{row.wall_time_s:.1f}" if math.isfinite(row.wall_time_s) else "–"
        seeds = "–" if row.kind == "reference" else ", ".join(str(s) for s in row.seeds)
        label = f"{row.label} {ONE_SEED}" if one_seed(row) else row.label
        stats = [fmt_stat(*row.stats[m], row.n, formats.get(m, formats.get("default"))) for m in study.metrics]
        cells.append([label, row.kind, str(row.n), seeds] + stats + [wall])
    return header, cells, best_rows(study)


def flagged(study: Study) -> list[tuple[str, str, str]]:
    """(path relative to the study, what happened, why) for every skipped, excluded or flagged run."""
    items = [(_rel(p, study.root), "skipped", why) for p, why in study.skipped]
    for run in study.runs:
        if run.reason:
            items.append((_rel(run.path, study.root), "included" if run.included else "excluded", run.reason))
    return items


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def study_name(study: Study) -> str:
    return study.root.resolve().name


def markdown(study: Study, plots: list[Path], out: Path, view: dict | None = None) -> str:
    view = view or {}
    header, cells, best = table(study, view)
    first_metric = len(header) - len(study.metrics) - 1
    n_included = len(study.included)
    ts = study.test_set
    n_runs = len([p for p, _ in study.skipped if eval_of(p) is None]) + len(study.runs)
    incomplete = f" ({len(study.incomplete)} more started but left no summary: see below)" if study.incomplete else ""
    lines = [f"# {view.get('title') or f'recon-compare: `{study_name(study)}`'}", ""]
    if view.get("intro"):
        lines += [view["intro"].strip(), ""]
    lines += [
        f"{n_included} of {n_runs} runs compared{incomplete}, grouped by "
        f"`{' '.join(study.group_by)}`. Test set: {ts.get('n_test')} samples, data `{ts.get('generator_hash')}`. "
        "Cells: mean ± sample std (ddof=1) over the group's runs (– for one run); "
        "↓ lower is better, ↑ higher is better; best mean per column in bold. "
        "Baselines are non-learned models; reference rows are the non-learned references every test "
        "logs beside its model (`test/reference/*`: single view: medoid shape, and for IoU the mean "
        "occupancy grid; stereo: OpenCV SGBM with holes filled, `test/reference_raw/*` the same SGBM with holes "
        "scored as errors; multi-view: plane sweep; multi-modal: the partial input plus the medoid shape placed on "
        "it, `test/partial_input/*` the partial input alone), over all compared runs. "
        "Wall time: mean per run of the group.",
    ]
    evals = sorted({m.split(":", 1)[0] for m in study.metrics if ":" in m})
    if evals:
        lines[-1] += (
            " Columns `<eval>:<metric>` score each run's checkpoint with recon-eval on another test set "
            f"({', '.join(f'`{e}`' for e in evals)}: `<run>/eval/<eval>/summary.json`)."
        )
    if any(one_seed(row) for row in study.rows):
        lines[-1] += (
            f" {ONE_SEED}: a learned group with fewer than 2 completed seeds, so its spread over seeds is unknown."
        )
    lines += [
        "",
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join("---" if i < first_metric else "---:" for i in range(len(header))) + "|",
    ]
    for i, row_cells in enumerate(cells):
        out_cells = []
        for j, cell in enumerate(row_cells):
            metric = study.metrics[j - first_metric] if first_metric <= j < first_metric + len(study.metrics) else None
            cell = _md_escape(cell)
            out_cells.append(f"**{cell}**" if metric and i in best[metric] else cell)
        lines.append("| " + " | ".join(out_cells) + " |")
    if study.incomplete:
        lines += ["", "## ⚠ Incomplete runs (started, no summary.json)", ""]
        lines += [f"- `{_rel(i.dir, study.root)}`: {_md_escape(i.description)}" for i in study.incomplete]
    items = flagged(study)
    if items:
        lines += ["", "## ⚠ Excluded / flagged", ""]
        lines += [f"- `{path}`: **{what}** — {_md_escape(why)}" for path, what, why in items]
        if any(what == "excluded" and "status" not in why for _, what, why in items):
            lines += [
                "",
                "Runs on another test set than the majority are left out of the table; "
                "`--allow-mismatch` includes them.",
            ]
    if study.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in study.notes]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({_rel(p, out)})" for p in plots]
    lines += ["", "Written by `recon-compare`; per-group numbers in `results.csv`, per-run numbers in `runs.csv`.", ""]
    return "\n".join(lines)


def results_csv(study: Study) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["group", "kind", "model_family", "n", "seeds", "wall_time_s_mean"]
        + [f"{m}_{s}" for m in study.metrics for s in ("mean", "std", "n")]
    )
    for row in study.rows:
        stats = [v for m in study.metrics for v in (_num(row.stats[m][0]), _num(row.stats[m][1]), row.stats[m][2])]
        seeds = "" if row.kind == "reference" else " ".join(str(s) for s in row.seeds)
        writer.writerow([row.label, row.kind, row.family, row.n, seeds, _num(row.wall_time_s)] + stats)
    return buf.getvalue()


def runs_csv(study: Study) -> str:
    namespaces = [row.namespace for row in study.rows if row.kind == "reference"]
    references = [_reference_column(m, ns) for ns in namespaces for m in study.metrics]
    label = {id(r): r.label for r in study.included}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "summary",
            "status",
            "included",
            "group",
            "model_family",
            "trainable",
            "seed",
            "wall_time_s",
            "epochs",
            "n_test",
            "generator_hash",
            "reason",
        ]
        + study.metrics
        + references
    )
    for path, why in study.skipped:
        writer.writerow([_rel(path, study.root), "unreadable", "no", "", "", "", "", "", "", "", "", why])
    for item in study.incomplete:
        path = _rel(item.dir / "summary.json", study.root)
        writer.writerow([path, "incomplete", "no", "", "", "", "", "", "", "", "", item.description])
    for run in study.runs:
        writer.writerow(
            [
                _rel(run.path, study.root),
                run.status,
                "yes" if run.included else "no",
                label.get(id(run), ""),
                run.family,
                run.trainable,
                run.seed,
                run.summary.get("wall_time_s", ""),
                run.summary.get("epochs", ""),
                len(run.test_ids()),
                (run.summary.get("data") or {}).get("generator_hash", ""),
                run.reason,
            ]
            + [_csv_value(run, m) for m in study.metrics]
            + [_csv_value(run, m, ns) for ns in namespaces for m in study.metrics]
        )
    return buf.getvalue()


def _reference_column(column: str, namespace: str) -> str:
    source, _, metric = column.rpartition(":")
    return f"{source}:" * bool(source) + metric.replace("test/", f"test/{namespace}/", 1)


def _csv_value(run, column: str, reference: str | None = None):
    value = column_value(run, column, reference)
    return "" if value is None else value


def _num(value: float) -> str | float:
    return "" if value is None or not math.isfinite(value) else value


def default_curves(study: Study) -> list[str]:
    usual = Counter(r.config.get("optimized_metric") for r in study.included).most_common(1)
    first = usual[0][0] if usual and usual[0][0] else "val/chamfer_l1"
    return [first, "train/loss"]


def write_study(
    study: Study, out: Path, curves: list[str] | None = None, plots: bool = True, view: dict | None = None
) -> list[Path]:
    """Write plots, then the CSVs, then results.md (last, so the plots it links exist). Returns the paths."""
    out = Path(out)
    figures = []
    if plots:
        from recon.compare.plots import plot_curves, plot_metric

        for metric in study.metrics:
            figures.append(plot_metric(study.rows, metric, direction(metric), out / "plots" / f"{_slug(metric)}.png"))
        for column in curves or default_curves(study):
            figures.append(plot_curves(study.rows, column, out / "plots" / f"curve_{_slug(column)}.png"))
        figures = [f for f in figures if f is not None]
    written = [
        write_text_atomic(out / "results.csv", results_csv(study)),
        write_text_atomic(out / "runs.csv", runs_csv(study)),
    ]
    written.append(write_text_atomic(out / "results.md", markdown(study, figures, out, view)))
    return written + figures


def _slug(metric: str) -> str:
    return metric.replace("/", "_").replace(":", "_")


def print_study(study: Study, written: list[Path], view: dict | None = None) -> None:
    """The table (rich), every excluded/flagged run as a warning, and what was written (results.csv first)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    plain = not console.is_terminal
    if plain:  # piped or captured: no colours, so mark the best with "*"; do not squeeze into 80 columns
        console = Console(width=max(console.width, 200))
    header, cells, best = table(study, view)
    if all(m.startswith("test/") for m in study.metrics):
        header = [h[len("test/") :] if h.startswith("test/") else h for h in header]
    first_metric = len(header) - len(study.metrics) - 1
    ts = study.test_set
    console.print(
        escape(
            f"{study.root}: {len(study.included)} runs on a test set of {ts.get('n_test')} "
            f"(data {ts.get('generator_hash')}); test metrics, mean ± sample std (ddof=1) over runs; "
            f"best in bold" + (" (*)" if plain else "")
        )
    )
    rich_table = Table()
    for j, h in enumerate(header):
        rich_table.add_column(escape(h), justify="right" if j >= first_metric or j == 2 else "left")
    for i, row_cells in enumerate(cells):
        styled = []
        for j, cell in enumerate(row_cells):
            metric = study.metrics[j - first_metric] if first_metric <= j < first_metric + len(study.metrics) else None
            if metric and i in best[metric]:
                styled.append(f"[bold green]{escape(cell)}{' *' if plain else ''}[/]")
            else:
                styled.append(escape(cell))
        rich_table.add_row(*styled)
    console.print(rich_table)
    for item in study.incomplete:
        console.print(f"[yellow]⚠ {escape(_rel(item.dir, study.root))}: incomplete — {escape(item.description)}[/]")
    for path, what, why in flagged(study):
        console.print(f"[yellow]⚠ {escape(path)}: {what} — {escape(why)}[/]")
    for note in study.notes:
        console.print(f"[yellow]note:[/] {escape(note.replace('**', '').replace('`', ''))}")
    out = written[0].parent
    console.print(f"wrote into {escape(str(out))}: " + ", ".join(escape(_rel(p, out)) for p in written))
