"""Interactive figures of ``recon-report`` (plotly): point clouds in 3D with cameras, image maps with hover values,
learning curves. Each function returns a ``plotly.graph_objects.Figure``; :mod:`recon.viz.report` puts them on the
page. Clouds larger than ``max_points`` are subsampled (a fixed seed, so a page is reproducible) and their trace
names say how many points of how many are shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from recon.compare.plots import read_curve
from recon.geometry.pointcloud import nearest_neighbors
from recon.viz.figures import GT_COLOR, PRED_COLOR

ERROR_SCALE = "Turbo"
DEPTH_SCALE = "Turbo_r"  # near = red, far = blue, as the static figures
DISPARITY_SCALE = "Turbo"  # large disparity = near = red
BEHIND_CAMERA = {"up": {"x": 0, "y": -1, "z": 0}, "eye": {"x": 0.4, "y": -0.8, "z": -1.6}}  # plotly scene camera


def subsample(points: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Indices of at most ``max_points`` of ``points (N, 3)``, drawn without replacement with ``seed`` (sorted)."""
    if len(points) <= max_points:
        return np.arange(len(points))
    return np.sort(np.random.default_rng(seed).choice(len(points), max_points, replace=False))


def _counted(name: str, shown: int, total: int) -> str:
    return f"{name} ({shown:,} points)" if shown == total else f"{name} ({shown:,} of {total:,} points)"


def cloud_trace(
    points: np.ndarray,
    name: str,
    max_points: int,
    color: str | np.ndarray | None = None,
    values: np.ndarray | None = None,
    value_label: str = "",
    visible: bool | str = True,
    size: float = 2.0,
) -> go.Scatter3d:
    """A 3D scatter of ``points (N, 3)``: one ``color`` (CSS string), per-point ``color (N, 3)`` uint8, or
    ``values (N,)`` on :data:`ERROR_SCALE` with a colour bar (hover shows the value)."""
    keep = subsample(points, max_points)
    p = points[keep]
    marker: dict = {"size": size}
    hover = None
    if values is not None:
        v = values[keep]
        marker.update(color=v, colorscale=ERROR_SCALE, cmin=0, cmax=float(np.percentile(values, 98)) or 1.0)
        marker["colorbar"] = {"title": {"text": value_label}, "len": 0.6}
        hover = [f"{value_label} {x:.4g}" for x in v]
    elif isinstance(color, np.ndarray):
        marker["color"] = [f"rgb({r},{g},{b})" for r, g, b in color[keep].astype(int)]
    else:
        marker["color"] = color
    return go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", marker=marker, name=_counted(name, len(keep), len(points)),
        visible=visible, hovertext=hover, hoverinfo="text" if hover else "x+y+z",
    )  # fmt: skip


def camera_traces(
    K: np.ndarray, T_cw: np.ndarray, size: tuple[int, int], scale: float, reference_first: bool = True
) -> list[go.Scatter3d]:
    """Each camera ``K (V, 3, 3)``, ``T_cw (V, 4, 4)`` of images of ``size (H, W)`` as a wire frustum ``scale`` deep
    (scene units); with ``reference_first`` the first one (an item's reference view) in red."""
    H, W = size
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [W - 1, H - 1, 1], [0, H - 1, 1]], dtype=np.float64)
    traces = []
    for v in range(len(K)):
        rays = corners @ np.linalg.inv(K[v]).T * scale
        T_wc = np.linalg.inv(T_cw[v])
        centre = T_wc[:3, 3]
        ends = rays @ T_wc[:3, :3].T + centre
        path = [centre, ends[0], ends[1], centre, ends[2], ends[3], centre, ends[0], ends[3], ends[2], ends[1]]
        xyz = np.array(path)
        traces.append(
            go.Scatter3d(
                x=xyz[:, 0],
                y=xyz[:, 1],
                z=xyz[:, 2],
                mode="lines",
                name="reference camera" if reference_first and v == 0 else "cameras",
                line={"color": "#d62728" if reference_first and v == 0 else "#444", "width": 3},
                legendgroup="cameras",
                showlegend=v <= int(reference_first),
                hoverinfo="name",
            )
        )
    return traces


def scene_figure(traces: list, title: str, height: int = 460, camera_frame: bool = True) -> go.Figure:
    """A 3D figure of ``traces`` with equal axes (``aspectmode='data'``) and the legend as the toggle; points in a
    camera's frame (recon's convention: x right, y down, z forward) are first seen from behind that camera, a little
    above it; world-frame scenes from plotly's default viewpoint."""
    fig = go.Figure(traces)
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        height=height,
        margin={"l": 0, "r": 0, "t": 36, "b": 0},
        scene={
            "aspectmode": "data",
            "xaxis_title": "x",
            "yaxis_title": "y",
            "zaxis_title": "z",
            **({"camera": BEHIND_CAMERA} if camera_frame else {}),
        },
        legend={"itemsizing": "constant", "x": 0, "y": 1},
    )
    return fig


def nearest_distances(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance from each of ``points (N, 3)`` to its nearest neighbour in ``reference (M, 3)``
    (:func:`~recon.geometry.pointcloud.nearest_neighbors`); NaN against an empty reference."""
    if not len(points) or not len(reference):
        return np.full(len(points), np.nan)
    as_batch = [torch.from_numpy(np.asarray(p, dtype=np.float64))[None] for p in (points, reference)]
    return nearest_neighbors(*as_batch)[0][0].sqrt().numpy()


def points_figure(gt: np.ndarray, pred: np.ndarray, title: str, max_points: int) -> go.Figure:
    """Ground truth (grey) and prediction (orange) in 3D, with each also coloured by its nearest-neighbour distance
    to the other (hidden until switched on in the legend: accuracy on the prediction, completeness on the truth)."""
    traces = [
        cloud_trace(gt, "ground truth", max_points, color=GT_COLOR),
        cloud_trace(pred, "prediction", max_points, color=PRED_COLOR),
        cloud_trace(
            pred, "prediction, by error", max_points, values=nearest_distances(pred, gt),
            value_label="distance to truth", visible="legendonly",
        ),
        cloud_trace(
            gt, "truth, by miss", max_points, values=nearest_distances(gt, pred),
            value_label="distance to prediction", visible="legendonly",
        ),
    ]  # fmt: skip
    return scene_figure(traces, title)


def image_figure(image: np.ndarray, title: str, height: int = 300) -> go.Figure:
    """An ``(H, W, 3)`` uint8 image (hover shows the pixel)."""
    fig = go.Figure(go.Image(z=image))
    fig.update_layout(
        title={"text": title, "font": {"size": 13}}, height=height, margin={"l": 0, "r": 0, "t": 36, "b": 0}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def maps_figure(panels: list[tuple[str, np.ndarray, str, float, float]], title: str, height: int = 320) -> go.Figure:
    """Side-by-side ``(H, W)`` maps with their values on hover: per panel ``(title, map (NaN: no value),
    colorscale, zmin, zmax)``; an ``(H, W, 3)`` uint8 panel is drawn as an image."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels], horizontal_spacing=0.03)
    for k, (name, array, scale, zmin, zmax) in enumerate(panels, start=1):
        if array.ndim == 3:
            fig.add_trace(go.Image(z=array, name=name), row=1, col=k)
        else:
            fig.add_trace(
                go.Heatmap(
                    z=array,
                    colorscale=scale,
                    zmin=zmin,
                    zmax=zmax,
                    name=name,
                    showscale=False,
                    hovertemplate=f"{name}<br>x %{{x}}, y %{{y}}: %{{z:.4g}}<extra></extra>",
                ),
                row=1,
                col=k,
            )
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{k if k > 1 else ''}", visible=False, row=1, col=k)
        fig.update_xaxes(visible=False, row=1, col=k)
    fig.update_layout(
        title={"text": title, "font": {"size": 13}}, height=height, margin={"l": 0, "r": 0, "t": 60, "b": 0}
    )
    return fig


def curves_figure(metrics_csv: Path, shown: tuple[str, ...] = ("train/loss", "val/loss")) -> go.Figure | None:
    """The per-epoch curves of ``metrics_csv``: ``train/loss`` and every ``val/*`` column, one line each, those in
    ``shown`` visible and the others a click on their legend entry away; None when nothing was logged per epoch."""
    with open(metrics_csv) as f:
        header = f.readline().strip().split(",")
    columns = [c for c in header if c.startswith(("train/loss", "val/"))]
    fig = go.Figure()
    for column in columns:
        curve = read_curve(metrics_csv, column)
        if curve:
            fig.add_trace(
                go.Scatter(
                    x=list(curve),
                    y=list(curve.values()),
                    mode="lines+markers",
                    name=column,
                    visible=True if column in shown else "legendonly",
                )
            )
    if not fig.data:
        return None
    fig.update_layout(
        title={"text": "learning curves (per epoch; click a name to show or hide it)", "font": {"size": 13}},
        height=360,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        xaxis_title="epoch",
    )
    return fig


def group_curves_figure(groups: dict[str, tuple], column: str) -> go.Figure:
    """Per group ``(epochs, mean, std, n)`` (:func:`~recon.compare.plots.mean_curve`) of ``column``: the mean
    with a ±1 sample-std band where two or more runs reached the epoch."""
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for k, (label, (epochs, mean, std, count)) in enumerate(groups.items()):
        color = palette[k % len(palette)]
        band = np.isfinite(std)
        if band.any():
            x = np.r_[epochs[band], epochs[band][::-1]]
            y = np.r_[(mean + std)[band], (mean - std)[band][::-1]]
            fig.add_trace(
                go.Scatter(x=x, y=y, fill="toself", line={"width": 0}, fillcolor=color, opacity=0.2,
                           hoverinfo="skip", showlegend=False, legendgroup=label)
            )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=epochs, y=mean, mode="lines+markers", name=label, line={"color": color}, legendgroup=label,
                customdata=np.c_[np.nan_to_num(std), count],
                hovertemplate="epoch %{x}: %{y:.4g} ± %{customdata[0]:.2g} (%{customdata[1]} runs)<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title={"text": f"{column} per epoch, mean over each group's runs", "font": {"size": 13}},
        height=360,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        xaxis_title="epoch",
    )
    return fig
