"""``recon-predict`` with a multi-modal checkpoint: an RGB-D frame -> the completed cloud.

Request: ``color=<image> depth=<16-bit PNG> depth_scale=<stored value per unit> intrinsics=<file | [fx,fy,cx,cy]>``
(:mod:`recon.data.formats.rgbd` for the conventions). Everything is read and checked before the model runs or
anything is written.

The frame is brought to the training geometry "as in training": the colour image is centre-cropped to the training
aspect and resized to the training size (its K follows), and the measured cloud is scaled by
``s = camera_distance / median measured depth`` so that the observed surface sits where training objects sat
(a uniform scale of the scene leaves every projection unchanged). ``num_partial_points`` of its points (a random
subset, seeded by ``seed``) are the model's partial input. The completion is scaled back by ``1 / s``.

Outputs: ``<stem>.ply``: every measured pixel back-projected (coloured from the image) followed by the model's
completion (grey), in the camera frame and unit of the depth; ``<stem>.png``: input image | measured cloud |
completion, seen from the camera and from the side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from recon.data.formats.rgbd import read_rgbd_frame
from recon.data.multi_modal import fixed_size_subset
from recon.data.synthetic.config import SyntheticConfig
from recon.predict.common import check_request, inference_device, load_model, parse_intrinsics, print_table
from recon.predict.single_view import GREY, crop_resize
from recon.viz.export import write_point_cloud
from recon.viz.figures import CMAP, image_hwc, save_figure


def _intrinsics(value):
    if value is None:
        return None
    if OmegaConf.is_list(value) or isinstance(value, (list, tuple)):
        return parse_intrinsics(value)
    return Path(str(value))


def predict_multi_modal(cfg: DictConfig, checkpoint: dict | None, config: dict) -> dict:
    """Complete the RGB-D frame of ``cfg`` (module docstring) and write ``<stem>.ply`` and ``<stem>.png``.

    Returns ``color``, ``depth``, ``ply``, ``png``, ``measured`` (points from the depth), ``completed`` (points the
    model added) and ``scale`` (the normalisation factor ``s``). Raises ``ValueError`` / ``FileNotFoundError`` naming
    the key or file before anything is written.
    """
    if checkpoint is None:
        raise ValueError("multi-modal predictions need ckpt_path=<trained checkpoint>")
    check_request(
        cfg,
        checkpoint,
        config,
        problem="multi_modal",
        request="an RGB-D frame as color=<image> depth=<16-bit png> depth_scale=<n> intrinsics=<file or list>",
        needs=("color", "depth", "depth_scale"),
        refuses=("inputs", "left", "right"),
    )
    frame = read_rgbd_frame(cfg.color, cfg.depth, _intrinsics(cfg.get("intrinsics")), cfg.depth_scale)
    try:
        data = SyntheticConfig(**dict(config["data"].get("synthetic") or {}))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{cfg.ckpt_path}: stored data.synthetic config is invalid: {e}") from None
    H, W = data.image_size
    image, K = crop_resize(frame["image"], frame["K"], H, W)
    measured = frame["partial_points"]
    scale = float(data.camera_distance[0]) / float(measured[:, 2].median())
    count = int(config["data"].get("num_partial_points", 1024))
    generator = torch.Generator().manual_seed(int(cfg.get("seed", 0) or 0))
    pick = fixed_size_subset(len(measured), count, generator)

    model = load_model(checkpoint, config)
    device = inference_device()
    batch = {
        "image": image[None],
        "has_image": torch.ones(1, dtype=torch.bool),
        "K": K[None].float(),
        "partial_points": measured[pick][None] * scale,
        "has_depth": torch.ones(1, dtype=torch.bool),
    }
    with torch.inference_mode():
        out = model(**{key: batch[key].to(device) for key in model.inputs})
    completion = out["points"][0].float().cpu() / scale
    completion = completion[torch.isfinite(completion).all(-1)]

    colors = frame["image"].permute(1, 2, 0).reshape(-1, 3)[frame["depth_mask"].flatten()]
    points = torch.cat([measured, completion])
    rgb = torch.cat([colors, torch.full_like(completion, GREY)])
    stem, output_dir = Path(str(cfg.color)).stem, Path(str(cfg.output_dir))
    ply = write_point_cloud(output_dir / f"{stem}.ply", points.numpy(), rgb.numpy())
    png = save_figure(completion_figure(frame["image"], measured, completion, frame["K"]), output_dir / f"{stem}.png")
    result = {
        "color": Path(str(cfg.color)),
        "depth": Path(str(cfg.depth)),
        "ply": ply,
        "png": png,
        "measured": len(measured),
        "completed": len(completion),
        "scale": scale,
    }
    print_table(
        f"recon-predict: {cfg.ckpt_path}",
        ("frame", "measured points", "completion points", "point cloud", "figure"),
        [(result["color"].name, str(len(measured)), str(len(completion)), str(ply), str(png))],
    )
    return result


def completion_figure(image: torch.Tensor, measured: torch.Tensor, completion: torch.Tensor, K: torch.Tensor):
    """``input | measured | completion`` from the camera (projected, coloured by depth) over the side view."""
    import matplotlib.pyplot as plt

    from recon.geometry.cameras import project

    img = image_hwc(image)
    clouds = {"measured": measured.numpy(), "measured + completion": torch.cat([measured, completion]).numpy()}
    every = clouds["measured + completion"]
    vmin, vmax = np.percentile(every[:, 2], [1, 99])
    fig, axes = plt.subplots(2, 3, figsize=(10, 6), dpi=100, layout="constrained")
    axes[0, 0].imshow(img)
    axes[0, 0].set_title("input")
    axes[1, 0].axis("off")
    for col, (title, cloud) in enumerate(clouds.items(), start=1):
        step = max(1, len(cloud) // 40000)
        shown = cloud[::step]
        front = shown[shown[:, 2] > 1e-6]
        uv = project(torch.from_numpy(front)[None].float(), K.float()[None])[0].numpy()
        axes[0, col].scatter(uv[:, 0], uv[:, 1], c=front[:, 2], s=0.5, cmap=CMAP, vmin=vmin, vmax=vmax, linewidths=0)
        axes[0, col].set_xlim(0, img.shape[1])
        axes[0, col].set_ylim(img.shape[0], 0)
        axes[0, col].set_title(f"{title} ({len(cloud)} points)")
        axes[1, col].scatter(shown[:, 2], -shown[:, 1], c=shown[:, 2], s=0.5, cmap=CMAP, vmin=vmin, vmax=vmax)
        axes[1, col].set_xlabel("depth")
        axes[1, col].set_title("side view")
    for ax in axes[0]:
        ax.set_aspect("equal")
        ax.axis("off")
    return fig
