"""Figures for recon-compare: a metric per group (mean ± std, runs as dots) and learning curves per group."""

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from recon.compare.records import find_metrics_csv
from recon.viz.figures import save_figure

COLORS = {"learned": "C0", "baseline": "0.1", "reference": "0.5"}  # learned curves take C0, C1, ...; lines stay grey


def plot_metric(rows, metric: str, better: str | None, path: Path) -> Path | None:
    """One horizontal line per row: mean with a ±1 sample-std bar, each run's value as a dot."""
    shown = [row for row in rows if row.stats[metric][2] > 0]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 1.5 + 0.45 * len(shown)))
    for i, row in enumerate(shown):
        mean, std, n = row.stats[metric]
        color = COLORS[row.kind]
        ax.errorbar(mean, i, xerr=std if math.isfinite(std) else None, fmt="o", ms=7, capsize=4, color=color, zorder=3)
        ax.scatter(row.values[metric], [i] * len(row.values[metric]), s=14, color=color, alpha=0.45, zorder=4)
    ax.set_yticks(range(len(shown)), [f"{row.label} (n={row.stats[metric][2]})" for row in shown], fontsize=8)
    ax.invert_yaxis()
    hint = {"min": " (lower is better)", "max": " (higher is better)"}.get(better, "")
    ax.set_xlabel(metric + hint)
    ax.set_title("mean ± sample std over runs; dots: single runs", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def read_curve(metrics_csv: Path, column: str) -> dict[int, float]:
    """{epoch: mean of the column's logged values in that epoch} (step-logged values are averaged)."""
    per_epoch: dict[int, list[float]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            value, epoch = row.get(column), row.get("epoch")
            if not value or not epoch:
                continue
            try:
                per_epoch.setdefault(int(float(epoch)), []).append(float(value))
            except ValueError:
                continue
    return {e: float(np.mean(v)) for e, v in sorted(per_epoch.items())}


def mean_curve(curves: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean, sample std (nan where fewer than 2 runs reached the epoch) and n per epoch."""
    epochs = sorted({e for c in curves for e in c})
    mean, std, count = [], [], []
    for e in epochs:
        values = np.asarray([c[e] for c in curves if e in c])
        mean.append(values.mean())
        std.append(values.std(ddof=1) if len(values) > 1 else np.nan)
        count.append(len(values))
    return np.asarray(epochs), np.asarray(mean), np.asarray(std), np.asarray(count)


def plot_curves(rows, column: str, path: Path) -> Path | None:
    """``column`` (e.g. ``val/chamfer_l1``) per epoch: each learned group's mean over runs with a ±std band.

    Non-learned rows have no curve; for a ``val/X`` column their test value of ``test/X`` is drawn as a
    dashed line (marked "test"), as a level the learned curves can be read against.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    drawn = False
    for i, row in enumerate(r for r in rows if r.kind == "learned"):
        curves = [read_curve(p, column) for p in map(find_metrics_csv, (r.dir for r in row.runs)) if p is not None]
        curves = [c for c in curves if c]
        if not curves:
            continue
        epochs, mean, std, count = mean_curve(curves)
        color = f"C{i % 10}"
        ax.plot(epochs + 1, mean, marker="o", ms=3, color=color, label=f"{row.label} (n={len(curves)})")
        band = count > 1
        if band.any():
            ax.fill_between(epochs[band] + 1, (mean - std)[band], (mean + std)[band], color=color, alpha=0.2, lw=0)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    if column.startswith("val/"):
        name = column.split("/", 1)[1]
        for row in rows:
            if row.kind == "learned":
                continue
            key = f"test/{row.namespace}/{name}" if row.kind == "reference" else f"test/{name}"
            values = [r.metrics[key] for r in row.runs if isinstance(r.metrics.get(key), (int, float))]
            if values:
                style = "--" if row.kind == "reference" else ":"
                ax.axhline(
                    float(np.mean(values)), lw=1.2, color=COLORS[row.kind], ls=style, label=f"{row.label} (test)"
                )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epochs trained")
    ax.set_ylabel(column)
    ax.set_title("mean over runs per epoch; band: ±1 sample std", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
