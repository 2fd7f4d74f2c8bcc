"""``recon-predict`` on a calibrated image set: ``data=multi_view_<format>`` with a multi-view checkpoint or a model
that needs no training (``model=plane_sweep``)::

    recon-predict model=plane_sweep data=multi_view_dino [data.image_scale=0.5] [data.views=[0,1,2,3]]
    recon-predict ckpt_path=<mvs ckpt> data=multi_view_mvsnet data.root=/datasets/dtu/scan9
    recon-predict model=plane_sweep data=multi_view_middlebury data.root=<folder> data.depth_range=[near,far]

The set is read by the datamodule (:mod:`recon.data.multi_view_formats`; its setup parses every camera file and
checks every image header and depth range), every item (each view the reference once, with its sources) is decoded
and run through the model, the depth maps are fused, and only then is anything written: a bad request writes
nothing. Outputs in ``output_dir`` at the items' resolution, ``<view>`` being the view id without its image suffix:

- ``depth/<view>.pfm``: the reference z-depth ``(H, W)`` float32 as predicted (scene units);
- ``depth/<view>.png``: that depth in ``turbo_r`` over the item's depth range (near = red, far = blue);
- ``confidence/<view>.png``: the confidence, 8-bit grey (255 = 1);
- ``fused.ply``: the depth maps fused into one world-frame cloud coloured by the images
  (:func:`~recon.geometry.fusion.fuse_depth_maps` with ``fusion.*``; not written when no point survives);
- ``fused.png``: ``first view | fused cloud`` seen through the first view's camera (:func:`fused_figure`);
- ``summary.json``: the run's config and ``metrics``: ``real/fused_points`` and, with ``checks.bounding_box``,
  ``real/in_box_fraction`` (:func:`~recon.metrics.cloud_checks.in_box_fraction`), with
  ``checks.silhouette_threshold``, ``real/silhouette_agreement`` (the points' projections into every view that
  land on its dark-background silhouette, :func:`~recon.metrics.cloud_checks.silhouette_agreement`);

and a table is printed.

With ``data.poses=estimated`` the poses come from structure from motion on the images
(:mod:`recon.data.estimated_poses`), up to a similarity: the cloud is written in that frame, and for the checks it is
mapped into the calibrated frame by the Sim(3) that best aligns the estimated camera centres to the withheld
calibrated ones (:func:`~recon.geometry.poses.umeyama_alignment`); ``real/registered_views`` and
``real/camera_position_error`` (the centres' RMSE after that alignment, scene units: the ATE) are added (the
latter only where the set has poses: ``data=multi_view_images``, a folder of images, has none).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from recon.engine.summary import run_info, write_summary
from recon.geometry.cameras import project, transform_points
from recon.geometry.fusion import fuse_depth_maps
from recon.geometry.poses import absolute_trajectory_error, umeyama_alignment
from recon.metrics.cloud_checks import dark_background_silhouettes, in_box_fraction, silhouette_agreement
from recon.predict.common import (
    check_request,
    colorize,
    finite_number,
    inference_device,
    load_model,
    output_stems,
    print_table,
    source_name,
    write_pfm_file,
    write_png,
)
from recon.tasks.multi_view import check_prediction
from recon.viz.export import write_point_cloud
from recon.viz.figures import image_hwc, save_figure
from recon.viz.multi_view import DEPTH_CMAP

FUSION = {"confidence": 0.3, "min_views": 2, "pixel_threshold": 1.0, "relative_depth": 0.01, "average": True}
REQUEST = "the calibrated image set as data=multi_view_<format> data.root=<folder> (e.g. data=multi_view_dino)"


def check_data(cfg: DictConfig) -> None:
    """Raise ``ValueError`` unless ``data`` names a multi-view datamodule."""
    data = cfg.data
    if "_target_" not in data:
        raise ValueError(f"data has no _target_: give a multi-view image set as {REQUEST}")
    data_problem = getattr(get_class(data._target_), "problem", None)
    if data_problem != "multi_view":
        raise ValueError(
            f"data={data._target_.rsplit('.', 1)[-1]} is {data_problem} data: give a multi-view image "
            "set, data=multi_view_<format>"
        )


def fusion_settings(cfg: DictConfig) -> dict:
    """``fusion.*`` (defaults :data:`FUSION`) as :func:`~recon.geometry.fusion.fuse_depth_maps` arguments; raises
    ``ValueError`` naming the key for a value out of range."""
    given = cfg.get("fusion") or {}
    given = OmegaConf.to_container(given, resolve=True) if OmegaConf.is_config(given) else dict(given)
    unknown = sorted(set(given) - set(FUSION))
    if unknown:
        raise ValueError(f"fusion: unknown keys {unknown}; known: {sorted(FUSION)}")
    f = {**FUSION, **given}
    if not 0 <= float(f["confidence"]) <= 1:
        raise ValueError(f"fusion.confidence must be in [0, 1], got {f['confidence']}")
    if int(f["min_views"]) != f["min_views"] or f["min_views"] < 0:
        raise ValueError(f"fusion.min_views must be an integer >= 0, got {f['min_views']}")
    for key in ("pixel_threshold", "relative_depth"):
        if not float(f[key]) > 0:
            raise ValueError(f"fusion.{key} must be > 0, got {f[key]}")
    return {
        "confidence_threshold": float(f["confidence"]),
        "min_views": int(f["min_views"]),
        "pixel_threshold": float(f["pixel_threshold"]),
        "relative_depth_threshold": float(f["relative_depth"]),
        "average": bool(f["average"]),
    }


def load_datamodule(cfg: DictConfig):
    """The configured datamodule after its setup (the pre-flight); its own errors are raised as they are."""
    try:
        datamodule = instantiate(cfg.data)
    except InstantiationException as e:
        if isinstance(e.__cause__, (ValueError, FileNotFoundError)):
            raise e.__cause__ from None
        raise
    datamodule.setup("predict")
    sets = datamodule.datasets["predict"].sets
    if len(sets) != 1:
        raise ValueError(f"recon-predict fuses one image set at a time, but data.scenes lists {len(sets)}: give one")
    return datamodule


def colorize_depth(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """``(H, W)`` z-depth -> ``(H, W, 3)`` uint8 in :data:`DEPTH_CMAP` over ``[near, far]`` (<= 0 or not finite:
    grey)."""
    shown = np.where((depth > 0) & np.isfinite(depth), (depth - near) / (far - near), np.nan)
    return colorize(shown, DEPTH_CMAP)


def fused_figure(
    points: torch.Tensor, colors: torch.Tensor, image: torch.Tensor, K: torch.Tensor, T_cw: torch.Tensor, title: str
):
    """``image | fused cloud`` through the image's camera: ``points (N, 3)`` world frame, projected with ``K (3, 3)``
    and ``T_cw (4, 4)``, drawn far to near (painter's algorithm: nearer points cover farther ones) as squares of
    about 1.5 pixels in their ``colors (N, 3)`` on black; ``image (3, H, W)``."""
    H, W = image.shape[-2:]
    cam = transform_points(T_cw[None].double(), points[None].double())[0]
    front = cam[:, 2] > 1e-9
    uv = project(cam[front][None], K[None].double())[0].numpy()
    order = np.argsort(-cam[front, 2].numpy(), kind="stable")
    panel = 4.6  # inches per panel
    fig, axes = plt.subplots(1, 2, figsize=(2 * panel + 0.4, panel * H / W + 0.7), dpi=150, layout="constrained")
    axes[0].imshow(image_hwc(image), interpolation="nearest")
    axes[0].set_title(f"input view ({W}x{H})", fontsize=9)
    axes[1].set_facecolor("black")
    pixel_points = 72.0 * panel / W
    axes[1].scatter(
        uv[order, 0],
        uv[order, 1],
        c=colors[front].numpy()[order].clip(0, 1),
        s=(1.5 * pixel_points) ** 2,
        marker="s",
        linewidths=0,
        rasterized=True,
    )
    axes[1].set_title(f"fused cloud ({len(points)} points) from this camera", fontsize=9)
    for ax in axes:
        ax.set_xlim(-0.5, W - 0.5), ax.set_ylim(H - 0.5, -0.5), ax.set_aspect("equal")
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return fig


def check_settings(cfg: DictConfig) -> tuple[torch.Tensor | None, float | None]:
    """``checks.bounding_box`` as a (2, 3) tensor and ``checks.silhouette_threshold`` (each None when not asked
    for); ``ValueError`` naming the key for a malformed value, before any work."""
    checks = cfg.get("checks") or {}
    box, threshold = checks.get("bounding_box"), checks.get("silhouette_threshold")
    if box is not None:
        box = OmegaConf.to_container(box) if OmegaConf.is_config(box) else box
        try:
            box = torch.tensor(box, dtype=torch.float32)
        except (TypeError, ValueError):
            box = None
        if box is None or box.shape != (2, 3) or not bool((box[0] < box[1]).all()):
            raise ValueError(
                f"checks.bounding_box must be [[x,y,z],[x,y,z]] with min < max, got {checks.get('bounding_box')}"
            )
    if threshold is not None:
        threshold = finite_number("checks.silhouette_threshold", threshold)
    return box, threshold


def cloud_metrics(
    points: torch.Tensor,
    K: torch.Tensor,
    T_cw: torch.Tensor,
    images: torch.Tensor,
    box: torch.Tensor | None,
    threshold: float | None,
    image_scale: float = 1.0,
    in_box_frame: torch.Tensor | None = None,
) -> dict[str, float]:
    """``real/fused_points`` and the checks asked for (module docstring) of the fused ``points`` (N, 3) seen by the
    views ``K`` (V, 3, 3), ``T_cw`` (V, 4, 4) with ``images`` (V, 3, H, W), read at ``image_scale`` times their
    files' size (the silhouettes' 10 px dilation and 7 px erosion are scaled with it); ``in_box_frame``: the same
    points in the box's frame where the cameras' frame is another (estimated poses; default ``points``)."""
    metrics = {"real/fused_points": float(len(points))}
    if box is not None:
        boxed = points if in_box_frame is None else in_box_frame
        metrics["real/in_box_fraction"] = in_box_fraction(boxed, box.to(boxed.dtype))
    if threshold is not None:
        dilate, erode = (max(1, round(r * image_scale)) for r in (10, 7))
        masks = dark_background_silhouettes(images, threshold, dilate, erode)
        metrics["real/silhouette_agreement"] = silhouette_agreement(points, K, T_cw, masks)
    return metrics


def align_to_withheld(points: torch.Tensor, T_cw: torch.Tensor, T_cw_true: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``points (N, 3)`` of a reconstruction with estimated ``T_cw (V, 4, 4)`` mapped into the frame of the
    withheld ``T_cw_true (V, 4, 4)`` by the Sim(3) aligning the camera centres, and the centres' RMSE after it."""
    T_wc, T_wc_true = torch.linalg.inv(T_cw.double()), torch.linalg.inv(T_cw_true.double())
    s, R, t = umeyama_alignment(T_wc[:, :3, 3], T_wc_true[:, :3, 3])
    return (s * points.double() @ R.T + t).to(points.dtype), float(absolute_trajectory_error(T_wc, T_wc_true))


def predict_multi_view(cfg: DictConfig, checkpoint: dict | None, config: dict) -> dict:
    """Run a multi-view model on every view of ``cfg.data`` and write the outputs of the module docstring.

    Args:
        cfg: ``data`` (a multi-view datamodule config), ``output_dir``; optional ``fusion`` (:data:`FUSION` keys).
        checkpoint: a loaded recon checkpoint, or None to instantiate ``config["model"]`` (non-trainable only).
        config: the checkpoint's inference config, or ``{"model": <model config>}``.
    Returns:
        ``views`` (per view: ``id``, ``sources`` (ids), ``depth_range``, ``median_depth`` (of depths > 0),
        ``depth``/``depth_png``/``confidence_png`` paths), ``size`` ``"WxH"``, ``points`` (fused), ``ply`` (None
        for an empty cloud), ``png``, ``seconds`` (model and fusion).
    Raises:
        ValueError / FileNotFoundError naming the key or file, before anything is written.
    """
    source = source_name(cfg, checkpoint, config)
    check_request(
        cfg,
        checkpoint,
        config,
        problem="multi_view",
        request=REQUEST,
        untrained="model=plane_sweep",
        needs=("data",),
        refuses=("inputs", "left", "right"),
    )
    check_data(cfg)
    fusion = fusion_settings(cfg)
    box, silhouette_threshold = check_settings(cfg)
    datamodule = load_datamodule(cfg)
    dataset = datamodule.datasets["predict"]
    model = load_model(checkpoint, config)
    device = inference_device()

    started, started_at = time.perf_counter(), time.time()
    depths, confidences, Ks, poses, images = [], [], [], [], []
    with torch.inference_mode():
        for i in range(len(dataset)):
            item = dataset[i]
            out = model(**{key: item[key][None].to(device) for key in model.inputs})
            check_prediction(out, item["depth"][None], model)
            depth = out["depth"].float().cpu()[0]
            depths.append(torch.where(torch.isfinite(depth) & (depth > 0), depth, 0.0))
            confidence = out.get("confidence")
            confidences.append(torch.ones_like(depth) if confidence is None else confidence.float().cpu()[0])
            Ks.append(item["K"][0]), poses.append(item["T_cw"][0]), images.append(item["images"][0])
    depth, confidence = torch.stack(depths), torch.stack(confidences).nan_to_num(0.0)  # (V, 1, H, W)
    K, T_cw, image = torch.stack(Ks), torch.stack(poses), torch.stack(images)
    points, colors = fuse_depth_maps(depth, K, T_cw, image, confidence, **fusion)
    seconds = time.perf_counter() - started
    H, W = depth.shape[-2:]
    figure = fused_figure(points, colors, image[0], K[0], T_cw[0], title=f"{source}: {len(points)} fused points")

    out, ids = Path(str(cfg.output_dir)), dataset.ids
    views = []
    for i, stem in enumerate(output_stems(ids)):
        s, indices, (near, far) = dataset.items[i]
        d = depth[i, 0].numpy()
        views.append(
            {
                "id": ids[i],
                "sources": [dataset.sets[s].cameras[v].id for v in indices[1:]],
                "depth_range": (near, far),
                "median_depth": float(np.median(d[d > 0])) if (d > 0).any() else math.nan,
                "depth": write_pfm_file(out / "depth" / f"{stem}.pfm", d),
                "depth_png": write_png(out / "depth" / f"{stem}.png", colorize_depth(d, near, far)),
                "confidence_png": write_png(
                    out / "confidence" / f"{stem}.png",
                    (confidence[i, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8),
                ),
            }
        )
    ply = write_point_cloud(out / "fused.ply", points.numpy(), colors.clamp(0, 1).numpy()) if len(points) else None
    scale = float(cfg.data.get("image_scale") or 1.0)
    withheld = getattr(datamodule, "withheld_T_cw", {})
    aligned, pose_metrics = None, {}
    if 0 in withheld:  # data.poses=estimated
        pose_metrics["real/registered_views"] = float(len(T_cw))
        if withheld[0] is not None:
            aligned, error = align_to_withheld(points, T_cw, torch.from_numpy(withheld[0]))
            pose_metrics["real/camera_position_error"] = error
    metrics = {**cloud_metrics(points, K, T_cw, image, box, silhouette_threshold, scale, aligned), **pose_metrics}
    if cfg.get("paths") is not None:
        write_summary(out, {**run_info(cfg, status="completed", started=started_at), "metrics": metrics})
    result = {
        "views": views,
        "size": f"{W}x{H}",
        "points": len(points),
        "ply": ply,
        "png": save_figure(figure, out / "fused.png"),
        "seconds": seconds,
        "metrics": metrics,
    }
    threshold = fusion["confidence_threshold"]
    checked = "".join(
        f", {k.removeprefix('real/').replace('_', ' ')} {v:.3f}" for k, v in metrics.items() if "/f" not in k
    )
    fused = (
        f"{len(points)} fused points -> {ply.name}{checked}"
        if ply
        else "no fused point (lower fusion.confidence or fusion.min_views)"
    )
    print_table(
        f"recon-predict (multi-view): {source}",
        ("view", "sources", "depth range", "median depth", f"confidence >= {threshold:g}"),
        [
            (
                v["depth"].stem,  # ids shown as file stems
                " ".join(output_stems(v["sources"])),
                "{:.4g} .. {:.4g}".format(*v["depth_range"]),
                f"{v['median_depth']:.4g}",
                f"{100 * float((c >= threshold).float().mean()):.1f}%",
            )
            for v, c in zip(views, confidence)
        ],
        caption=f"{W}x{H} (WxH), {seconds:.1f} s; {fused}; written to {out}",
    )
    return result
