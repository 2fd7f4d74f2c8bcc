"""``recon-report PATH``: one self-contained HTML page for a run directory or a study / sweep directory.

Every script is inlined (plotly.js, once), so the page opens from disk with no network. A run page holds:

- the run's status, model and time; its test metrics beside the non-learned reference rows the test logged
  (``test/reference/*``, ``test/reference_raw/*``, ``test/partial_input/*``); the config, collapsible;
- the learning curves of its ``metrics.csv`` (:func:`~recon.viz.report_figures.curves_figure`);
- its test samples, from the ``media/test_<i>.npz`` files the
  :class:`~recon.callbacks.prediction_media.PredictionMedia` callback writes: single view and multi-modal: the
  input image beside ground truth and prediction in 3D (toggle each, or colour either by its distance to the other);
  stereo: left image, ground truth, prediction and error maps with values on hover, and the back-projected
  prediction in 3D where ``focal`` and ``baseline`` are known; multi-view: reference image, true and predicted
  depth, confidence, and the back-projected prediction in 3D with the item's cameras drawn; and the fused clouds
  the multi-view task wrote (``media/fused/scene_<id>.ply``, ``task.fused_scenes`` of them) with their scene's
  cameras.

A study page (a directory with summaries below it, e.g. ``experiments/<study>`` or a multirun directory) holds the
comparison table of :mod:`recon.compare` (with the study's ``compare.yaml``), the plots recon-compare wrote
(``plots/*.png``, embedded), and the first test sample of each group side by side, where its runs kept their media.

Clouds are subsampled to ``max_points`` per trace and maps to ``max_map_side`` pixels on the longer side, with the
counts and sizes shown, to keep pages small (the default run's is about 5 MB, 4.6 MB of it plotly.js).
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from pathlib import Path

import numpy as np
import plotly.io as pio
import torch
from omegaconf import OmegaConf
from plotly.offline import get_plotlyjs

from recon.compare.options import study_options
from recon.compare.plots import mean_curve, read_curve
from recon.compare.records import find_metrics_csv, natural_key
from recon.compare.report import table
from recon.compare.study import compare, find_summaries
from recon.geometry.cameras import transform_points, unproject
from recon.io import write_text_atomic
from recon.viz.export import read_point_cloud
from recon.viz.report_figures import (
    DEPTH_SCALE,
    DISPARITY_SCALE,
    ERROR_SCALE,
    camera_traces,
    cloud_trace,
    curves_figure,
    group_curves_figure,
    image_figure,
    maps_figure,
    points_figure,
    scene_figure,
)

REFERENCE_NAMESPACES = ("reference", "reference_raw", "partial_input")
GT = "#7f7f7f"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f3f3f3; }
.grid { display: grid; grid-template-columns: minmax(260px, 1fr) 2fr; gap: 1em; align-items: start; }
.stack { display: grid; grid-template-columns: 1fr; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1em; }
.note { color: #666; font-size: .85em; } pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .8em; }
img.plot { max-width: 48%; margin: .3em; border: 1px solid #eee; }
"""


def _figure_html(fig) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _table(header: list[str], rows: list[list[str]], bold: set[tuple[int, int]] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{'<b>' if (r, c) in bold else ''}{html.escape(str(v))}{'</b>' if (r, c) in bold else ''}</td>"
            for c, v in enumerate(row)
        )
        + "</tr>"
        for r, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and math.isfinite(value) else "–"


def metrics_table(metrics: dict[str, float]) -> str:
    """The run's ``test/*`` metrics: one row for the model, one per reference namespace, one column per metric."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if not key.startswith("test/"):
            continue
        rest = key.removeprefix("test/")
        first, _, remainder = rest.partition("/")
        row, metric = (first, remainder) if first in REFERENCE_NAMESPACES and remainder else ("model", rest)
        rows.setdefault(row, {})[metric] = value
    if not rows:
        return "<p class='note'>no test metrics in summary.json</p>"
    columns = sorted({m for values in rows.values() for m in values})
    order = ["model"] + [r for r in REFERENCE_NAMESPACES if r in rows]
    return _table(["row"] + columns, [[r] + [_fmt(rows[r].get(c)) for c in columns] for r in order if r in rows])


def _downsized(array: np.ndarray, max_side: int) -> np.ndarray:
    """Every k-th pixel so that the longer side is at most ``max_side``."""
    step = max(1, math.ceil(max(array.shape[:2]) / max_side))
    return array[::step, ::step]


def _backprojected(depth: np.ndarray, K: np.ndarray, T_cw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points of the pixels with a finite depth > 0 (:func:`~recon.geometry.cameras.unproject`), and their flat
    pixel indices."""
    keep = np.flatnonzero((depth > 0) & np.isfinite(depth))
    depth = torch.from_numpy(np.nan_to_num(depth, posinf=0.0)).double()[None, None]
    camera = unproject(depth, torch.from_numpy(K).double()[None])[0, keep]
    T_wc = torch.linalg.inv(torch.from_numpy(T_cw).double())
    return transform_points(T_wc[None], camera[None])[0].numpy(), keep


def sample_section(sample: dict, name: str, max_points: int, max_map_side: int, narrow: bool = False) -> str:
    """The HTML (figures) of one ``test_<i>.npz`` sample (module docstring); ``narrow``: the input above the 3D
    figure instead of beside it (side-by-side columns of a study)."""
    problem = str(sample["problem"])
    if problem == "points":
        image = image_figure(sample["image"], f"{name}: input")
        cloud = points_figure(sample["gt"], sample["pred"], f"{name}: ground truth and prediction", max_points)
        return f"<div class='{'stack' if narrow else 'grid'}'>{_figure_html(image)}{_figure_html(cloud)}</div>"
    if problem == "stereo":
        gt, pred, valid = sample["gt"], sample["pred"], sample["valid"].astype(bool)
        error = np.where(valid, np.abs(pred - gt), np.nan)
        top = float(np.nanmax(np.where(valid, gt, np.nan))) if valid.any() else float(np.nanmax(pred))
        maps = [
            ("left image", sample["left"], "", 0, 1),
            ("ground truth disparity (px)", np.where(valid, gt, np.nan), DISPARITY_SCALE, 0, top),
            ("predicted disparity (px)", pred, DISPARITY_SCALE, 0, top),
            ("|error| (px)", error, ERROR_SCALE, 0, 4.0),
        ]
        parts = [_maps(maps, f"{name}: stereo", max_map_side)]
        if "focal" in sample and "baseline" in sample and "K" in sample:
            f, b, K = float(sample["focal"]), float(sample["baseline"]), sample["K"].astype(np.float64)
            traces = []
            for label, disparity, color in (("prediction", pred, None), ("ground truth", np.where(valid, gt, 0), GT)):
                depth = np.where(disparity > 0, f * b / np.maximum(disparity, 1e-6), 0.0)
                points, keep = _backprojected(depth, K, np.eye(4))
                shown = sample["left"].reshape(-1, 3)[keep] if color is None else color
                traces.append(cloud_trace(points, label, max_points, color=shown, size=1.5))
            title = f"{name}: prediction and ground truth back-projected (left camera frame)"
            parts.append(_figure_html(scene_figure(traces, title)))
        return "".join(parts)
    if problem == "multi_view":
        images, K, T_cw = sample["images"], sample["K"].astype(np.float64), sample["T_cw"].astype(np.float64)
        near, far = (float(x) for x in sample["depth_range"])
        mask = sample["mask"].astype(bool)
        maps = [
            ("reference image", images[0], "", 0, 1),
            ("true depth", np.where(mask, sample["gt"], np.nan), DEPTH_SCALE, near, far),
            ("predicted depth", sample["pred"], DEPTH_SCALE, near, far),
            ("confidence", sample["confidence"], "Greys_r", 0, 1),
        ]
        pred_points, keep = _backprojected(sample["pred"].astype(np.float64), K[0], T_cw[0])
        gt_points, _ = _backprojected(np.where(mask, sample["gt"], 0).astype(np.float64), K[0], T_cw[0])
        traces = [
            cloud_trace(pred_points, "prediction", max_points, color=images[0].reshape(-1, 3)[keep]),
            cloud_trace(gt_points, "ground truth", max_points, color="#7f7f7f", visible="legendonly"),
        ]
        if len(pred_points):  # frustums a quarter of the median depth deep
            depth = float(np.median(sample["pred"][sample["pred"] > 0]))
            traces += camera_traces(K, T_cw, images.shape[1:3], scale=0.25 * depth)
        title = f"{name}: the reference's predicted depth in 3D, the item's {len(K)} cameras"
        scene = scene_figure(traces, title, camera_frame=False)
        return _maps(maps, f"{name}: multi-view depth", max_map_side) + _figure_html(scene)
    return f"<p class='note'>{html.escape(name)}: unknown sample kind {problem!r}</p>"


def _maps(maps: list, title: str, max_side: int) -> str:
    shown = [(n, _downsized(a, max_side), s, lo, hi) for n, a, s, lo, hi in maps]
    size = maps[1][1].shape
    note = "" if shown[1][1].shape == size else f" (every {math.ceil(max(size) / max_side)}th pixel shown)"
    return _figure_html(maps_figure(shown, title + note))


def fused_sections(run_dir: Path, max_points: int) -> list[str]:
    """Per ``media/fused/scene_<id>.ply`` the multi-view task wrote (with its ``_cameras.npz``): the fused cloud in
    3D, coloured by the images, with every camera of the scene."""
    parts = []
    for ply in sorted((run_dir / "media" / "fused").glob("scene_*.ply"), key=natural_key):
        points, colors = read_point_cloud(ply, with_colors=True)
        color = "#7f7f7f" if colors is None else (colors * 255).round()
        traces = [cloud_trace(points, "fused cloud", max_points, color=color)]
        cameras = ply.with_name(f"{ply.stem}_cameras.npz")
        if cameras.is_file() and len(points):
            with np.load(cameras) as c:
                K, T_cw, size = c["K"].astype(np.float64), c["T_cw"].astype(np.float64), tuple(c["size"].tolist())
            centres = np.linalg.inv(T_cw)[:, :3, 3]
            depth = float(np.median(np.linalg.norm(points.mean(0) - centres, axis=1)))
            traces += camera_traces(K, T_cw, size, scale=0.2 * depth, reference_first=False)
        title = f"{ply.stem.replace('_', ' ')}: the fused cloud (task.fusion_*), its {len(traces) - 1} cameras"
        parts.append(_figure_html(scene_figure(traces, title, camera_frame=False)))
    return parts


def load_samples(run_dir: Path) -> list[tuple[str, dict]]:
    """``(name, arrays)`` of the run's ``media/test_<i>.npz`` in order."""
    paths = sorted((run_dir / "media").glob("test_*.npz"), key=natural_key)
    out = []
    for path in paths:
        with np.load(path) as data:
            out.append((path.stem.replace("_", " "), {k: data[k] for k in data.files}))
    return out


def run_page(run_dir: Path, max_points: int, max_map_side: int) -> tuple[str, str]:
    """(title, body HTML) of a run directory's page."""
    summary = json.loads((run_dir / "summary.json").read_text())
    config = summary.get("config") or {}
    title = f"{config.get('run_name') or run_dir.name} ({summary.get('model_family', '?')})"
    facts = [
        f"status {summary.get('status', '?')}",
        f"{summary.get('epochs', '?')} epochs, {summary.get('global_steps', '?')} steps" if "epochs" in summary else "",
        f"wall time {summary['wall_time_s']:.0f} s" if isinstance(summary.get("wall_time_s"), (int, float)) else "",
        f"finished {summary.get('finished_at', '?')}",
    ]
    parts = [
        f"<h1>{html.escape(title)}</h1><p class='note'>{html.escape(str(run_dir))}: "
        f"{html.escape(', '.join(f for f in facts if f))}</p>",
        "<h2>Test metrics</h2>",
        metrics_table(summary.get("metrics") or {}),
        "<details><summary>config</summary><pre>"
        + html.escape(OmegaConf.to_yaml(OmegaConf.create(config)))
        + "</pre></details>",
    ]
    metrics_csv = find_metrics_csv(run_dir)
    optimized = (summary.get("optimized") or {}).get("metric") or config.get("optimized_metric")
    curves = curves_figure(metrics_csv, ("train/loss", "train/loss_epoch", optimized)) if metrics_csv else None
    parts += ["<h2>Learning curves</h2>", _figure_html(curves) if curves else "<p class='note'>no curve logged</p>"]
    samples = load_samples(run_dir)
    parts.append("<h2>Test samples</h2>")
    if not samples:
        parts.append("<p class='note'>no test samples (media/test_*.npz) in this run</p>")
    for name, sample in samples:
        parts.append(sample_section(sample, name, max_points, max_map_side))
    fused = fused_sections(run_dir, max_points)
    if fused:
        parts += ["<h2>Fused clouds</h2>", *fused]
    return title, "".join(parts)


def _embedded_png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img class='plot' alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'>"


def study_curves_figure(study):
    """The runs' optimized metric per epoch, each learned group's mean over its runs (± sample std on hover)."""
    columns = {r.summary.get("optimized", {}).get("metric") for r in study.included} - {None}
    if len(columns) != 1:
        return None
    (column,) = columns
    groups = {}
    for row in (r for r in study.rows if r.kind == "learned"):
        found = [find_metrics_csv(run.dir) for run in row.runs]
        curves = [read_curve(path, column) for path in found if path]
        if any(curves):
            groups[row.label] = mean_curve([c for c in curves if c])
    return group_curves_figure(groups, column) if groups else None


def study_page(study_dir: Path, max_points: int, max_map_side: int) -> tuple[str, str]:
    """(title, body HTML) of a study or sweep directory's page."""
    options = study_options(study_dir)
    study = compare(
        study_dir,
        metrics=options.get("metrics"),
        group_by=options.get("group_by") or ["model"],
        allow_mismatch=bool(options.get("allow_mismatch")),
        evals=options.get("evals"),
        group_labels=options.get("group_labels"),
    )
    header, cells, best = table(study, options)
    first = 4  # group, kind, n, seeds
    bold = {(r, first + study.metrics.index(m)) for m, rows in best.items() if m in study.metrics for r in rows}
    title = f"study {study_dir.resolve().name}"
    parts = [
        f"<h1>{html.escape(title)}</h1><p class='note'>{html.escape(str(study_dir))}: {len(study.included)} runs "
        f"compared; cells mean ± sample std over runs; best mean per column in bold</p>",
        "<h2>Comparison</h2>",
        _table(header, cells, bold),
    ]
    curves = study_curves_figure(study)
    if curves is not None:
        parts += ["<h2>Learning curves</h2>", _figure_html(curves)]
    plots = sorted((study_dir / "plots").glob("*.png"), key=natural_key) if (study_dir / "plots").is_dir() else []
    if plots:
        parts += ["<h2>Plots (recon-compare)</h2>", "".join(_embedded_png(p) for p in plots)]
    parts.append("<h2>The same test sample, each group</h2>")
    side = []
    for row in (r for r in study.rows if r.kind != "reference"):  # reference rows reuse the runs' samples
        run = next((r for r in row.runs if (r.dir / "media" / "test_0.npz").is_file()), None)
        if run is None:
            continue
        name, sample = load_samples(run.dir)[0]
        figures = sample_section(sample, name, max_points, max_map_side, narrow=True)
        side.append(f"<div><h3>{html.escape(row.label)}</h3>{figures}</div>")
    parts.append(
        f"<div class='side'>{''.join(side)}</div>"
        if side
        else "<p class='note'>no run of this study kept its test samples (media/test_0.npz; committed records "
        "hold summaries and curves only)</p>"
    )
    return title, "".join(parts)


def write_report(
    path: str | Path, out: str | Path | None = None, max_points: int = 4096, max_map_side: int = 256
) -> Path:
    """Write the page of a run or study directory ``path`` (module docstring) to ``out`` (default
    ``<path>/report.html``); ``FileNotFoundError`` / ``ValueError`` naming the path for anything else."""
    path = Path(path)
    if max_points < 1 or max_map_side < 8:
        raise ValueError(f"max_points must be >= 1 and max_map_side >= 8, got {max_points}, {max_map_side}")
    if not path.is_dir():
        raise FileNotFoundError(f"recon-report: {path} is not a directory (give a run or a study directory)")
    started = time.perf_counter()
    if (path / "summary.json").is_file():
        title, body = run_page(path, max_points, max_map_side)
    elif find_summaries(path):
        title, body = study_page(path, max_points, max_map_side)
    else:
        raise FileNotFoundError(f"recon-report: no summary.json in or below {path}: not a run or study directory")
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>{body}"
        f"<p class='note'>written by recon-report in {time.perf_counter() - started:.1f} s; self-contained, "
        "works offline</p></body></html>"
    )
    return write_text_atomic(Path(out) if out else path / "report.html", page)
