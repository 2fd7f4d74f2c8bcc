"""``recon-predict``: reconstruct user images with a trained single-view checkpoint.

Every input is checked (exists, decodes as an image, has usable channels) before anything is written, so a bad
input leaves the output folder untouched. Then each image is brought to the training geometry "as in training":
centre-cropped to the training aspect ratio and resized to the training ``(H, W)``; its intrinsics follow the same
crop and resize (given ``intrinsics`` are in pixels of the original image; without them the training intrinsics
are assumed, i.e. the crop is taken to have the training field of view). Outputs per input ``<stem>``:
``<stem>.ply`` (the predicted cloud in the camera frame of the image, coloured from the image where a point is
visible, grey elsewhere) and ``<stem>.png`` (``input | prediction | side view``). A generative checkpoint (a model
with ``sample``, e.g. ``model=vae_points``) also draws ``samples`` shapes per image: ``<stem>_sample<k>.ply`` and
``<stem>_samples.png`` (each sample from the camera and from the side).

Stereo pairs and calibrated image sets have their own predictors; :func:`recon.predict.predict` picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch.nn import functional as F

from recon.data.formats.images import read_rgb
from recon.data.synthetic.config import SyntheticConfig
from recon.geometry.cameras import crop_resize_intrinsics, project
from recon.predict.common import (
    check_request,
    inference_device,
    load_model,
    output_stems,
    parse_intrinsics,
    print_table,
)
from recon.viz.export import write_point_cloud
from recon.viz.figures import CMAP, image_hwc, point_cloud_figure, save_figure

GREY = 0.6


def crop_box(h: int, w: int, H: int, W: int) -> tuple[int, int, int, int]:
    """Largest centred ``(top, left, height, width)`` window of an ``h x w`` image with the aspect ratio of
    ``H x W``."""
    if w * H > h * W:  # too wide: crop columns
        cw = max(1, round(h * W / H))
        return 0, (w - cw) // 2, h, cw
    ch = max(1, round(w * H / W))
    return (h - ch) // 2, 0, ch, w


def crop_resize(
    image: torch.Tensor, K: torch.Tensor | None, H: int, W: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Centre-crop a ``(3, h, w)`` image to the aspect of ``H x W`` and resize it (bilinear, antialiased) to
    ``(3, H, W)``; ``K (3, 3)`` of the original image follows (:func:`~recon.geometry.cameras.crop_resize_intrinsics`).
    """
    top, left, ch, cw = box = crop_box(*image.shape[-2:], H, W)
    crop = image[None, :, top : top + ch, left : left + cw]
    resized = F.interpolate(crop, size=(H, W), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
    return resized, None if K is None else crop_resize_intrinsics(K, box, (H, W))


def visible_colors(points: torch.Tensor, image: torch.Tensor, K: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Colour each point from the image where it is visible, grey elsewhere.

    A point is visible if it projects inside the image, lies in front of the camera and is within ``tolerance``
    (scene units) of the nearest point projecting into the same 3x3 pixel neighbourhood (a point z-buffer).

    Args:
        points: ``(N, 3)`` camera-frame points.  image: ``(3, H, W)``.  K: ``(3, 3)``.
    Returns:
        ``(N, 3)`` RGB in [0, 1].
    """
    H, W = image.shape[-2:]
    colors = torch.full_like(points, GREY)
    z = points[:, 2]
    uv = project(points[None], K[None])[0].round().long()
    inside = (z > 1e-6) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    if not inside.any():
        return colors
    pix = uv[inside, 1] * W + uv[inside, 0]
    zbuf = torch.full((H * W,), float("inf")).scatter_reduce(0, pix, z[inside], reduce="amin")
    zbuf = -F.max_pool2d(-zbuf.view(1, 1, H, W), 3, stride=1, padding=1).view(-1)
    visible = torch.zeros_like(inside)
    visible[inside] = z[inside] <= zbuf[pix] + tolerance
    colors[visible] = image[:, uv[visible, 1], uv[visible, 0]].T
    return colors


def predict_single_view(cfg: DictConfig, checkpoint: dict | None, config: dict) -> list[dict]:
    """Run a single-view checkpoint on ``cfg.inputs`` (image paths) and write a PLY and a figure per input into
    ``cfg.output_dir``.

    Config keys: ``ckpt_path``; ``inputs`` (a path or a list of paths); ``intrinsics`` (``[fx, fy, cx, cy]`` in
    pixels of the given images, or null for the training field of view); ``output_dir``.
    The batch given to the model has ``image (B, 3, H, W)``, ``K (B, 3, 3)`` and ``center (B, 3)`` =
    ``(0, 0, camera_distance[0])``: the training cameras look at the object's centre from the camera distance,
    and a user photo is assumed framed the same way (the non-learned reference models use ``center``, and the voxel
    model places its grid there).
    ``samples`` (default 5; 0 = none) shapes per image are drawn from a generative model's prior, with a generator
    seeded by ``seed`` (default 0): the same command writes the same samples.
    Returns one dict per input (``input``, ``ply``, ``png``, ``points``; with samples also ``sample_plys`` and
    ``samples_png``).
    Raises ``ValueError`` (no checkpoint, bad input image or intrinsics) before any output is written.
    """
    if checkpoint is None:
        raise ValueError(
            f"model={config['model']['_target_']} is a single_view model: single-view predictions need "
            "ckpt_path=<trained checkpoint> (only stereo and multi-view models run from model=<name>)"
        )
    check_request(
        cfg,
        checkpoint,
        config,
        problem="single_view",
        request="the images as inputs=[a.png,...]",
        needs=("inputs",),
    )
    synthetic = dict(config["data"].get("synthetic") or {})
    try:
        data = SyntheticConfig(**synthetic)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{cfg.ckpt_path}: stored data.synthetic config is invalid: {e}") from None
    H, W = data.image_size
    K_train = data.intrinsics()

    inputs = cfg.inputs
    paths = [Path(str(p)) for p in ([inputs] if isinstance(inputs, (str, Path)) else list(inputs))]
    if not paths:
        raise ValueError("inputs is empty: give one or more image paths")
    intrinsics = cfg.get("intrinsics")
    K_user = None if intrinsics is None else parse_intrinsics(intrinsics)
    images, Ks = [], []
    for path in paths:  # every input is decoded and checked before the model runs or anything is written
        image, K = crop_resize(read_rgb(path, strict=True), K_user, H, W)
        images.append(image)
        Ks.append(K_train if K is None else K)

    model = load_model(checkpoint, config)
    if hasattr(model, "fitted") and not bool(model.fitted):
        raise ValueError(f"{cfg.ckpt_path}: model {type(model).__name__} was never fitted; nothing to predict with")
    device = inference_device()
    batch = {
        "image": torch.stack(images).to(device),
        "K": torch.stack(Ks).float().to(device),
        "center": torch.tensor([0.0, 0.0, float(data.camera_distance[0])]).expand(len(images), 3).to(device),
    }
    num_samples = int(cfg.get("samples", 5) or 0) if hasattr(model, "sample") else 0
    if num_samples < 0:
        raise ValueError(f"samples must be >= 0, got {num_samples}")
    with torch.inference_mode():
        inputs = {key: batch[key] for key in model.inputs}
        points = model(**inputs)["points"].float().cpu()
        samples = None
        if num_samples:
            generator = torch.Generator(device=device).manual_seed(int(cfg.get("seed", 0) or 0))
            samples = model.sample(**inputs, k=num_samples, generator=generator).float().cpu()

    output_dir = Path(str(cfg.output_dir))
    results = []
    for i, (path, stem, image, K, p) in enumerate(
        zip(paths, output_stems([p.name for p in paths]), images, Ks, points)
    ):
        finite = torch.isfinite(p).all(-1)
        p = p[finite]
        ply = _write_cloud(output_dir / f"{stem}.ply", p, image, K)
        png = save_figure(point_cloud_figure(image, None, p, K, title=path.name), output_dir / f"{stem}.png")
        results.append(
            {
                "input": path,
                "ply": ply,
                "png": png,
                "points": len(p),
                "dropped": int((~finite).sum()),
                "size": f"{W}x{H}",
            }
        )
        if samples is not None:
            drawn = [q[torch.isfinite(q).all(-1)] for q in samples[i]]
            results[-1]["sample_plys"] = [
                _write_cloud(output_dir / f"{stem}_sample{k}.ply", q, image, K) for k, q in enumerate(drawn)
            ]
            results[-1]["samples_png"] = save_figure(
                samples_figure(image, drawn, K, title=path.name), output_dir / f"{stem}_samples.png"
            )
    print_table(f"recon-predict: {cfg.ckpt_path}", ("input", "points", "point cloud", "figure"), table_rows(results))
    return results


def _write_cloud(path: Path, p: torch.Tensor, image: torch.Tensor, K: torch.Tensor) -> Path:
    extent = float((p.max(0).values - p.min(0).values).max()) if len(p) else 1.0
    colors = visible_colors(p, image, K.float(), tolerance=0.05 * max(extent, 1e-3))
    return write_point_cloud(path, p.numpy(), colors.numpy())


def samples_figure(image: torch.Tensor, samples: Sequence[torch.Tensor], K: torch.Tensor, title: str | None = None):
    """``input | sample 0 | ... | sample k-1`` over ``side view | ...``: each sample ``(N, 3)`` (camera frame)
    projected into the input camera (coloured by depth) and seen from the side (screen = (z, y), camera on the
    left), with limits shared by all samples so their differences show."""
    import matplotlib.pyplot as plt

    img = image_hwc(image)
    H, W = img.shape[:2]
    clouds = [q.numpy() for q in samples]
    every = np.concatenate(clouds) if clouds else np.zeros((0, 3))
    lo, hi = (every.min(0), every.max(0)) if len(every) else (np.zeros(3), np.ones(3))
    vmin, vmax = float(lo[2]), float(max(hi[2], lo[2] + 1e-3))
    centre, half = (lo + hi) / 2, max(float((hi - lo)[1:].max()) / 2, 1e-3) * 1.1
    n = len(clouds)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.2 * (n + 1), 4.6), dpi=100, layout="constrained", squeeze=False)
    axes[0, 0].imshow(img, interpolation="nearest")
    axes[0, 0].set_title(f"input ({W}x{H})", fontsize=9)
    axes[1, 0].axis("off")
    for k, q in enumerate(clouds):
        top, side = axes[0, k + 1], axes[1, k + 1]
        front = q[q[:, 2] > 1e-6]
        uv = project(torch.from_numpy(front)[None], K.float()[None])[0].numpy()
        order = np.argsort(-front[:, 2])
        top.imshow(img, alpha=0.3, interpolation="nearest")
        top.scatter(
            uv[order, 0],
            uv[order, 1],
            c=front[order, 2],
            s=2,
            cmap=CMAP,
            vmin=vmin,
            vmax=vmax,
            linewidths=0,
            rasterized=True,
        )
        top.set_xlim(-0.5, W - 0.5)
        top.set_ylim(H - 0.5, -0.5)
        top.set_title(f"sample {k}", fontsize=9)
        order = np.argsort(q[:, 0])
        side.scatter(
            q[order, 2], q[order, 1], c=q[order, 2], s=2, cmap=CMAP, vmin=vmin, vmax=vmax, linewidths=0, rasterized=True
        )
        side.set_xlim(centre[2] - half, centre[2] + half)
        side.set_ylim(centre[1] + half, centre[1] - half)
        side.set_title("side view", fontsize=9)
    for ax in axes.flat:
        ax.set_aspect("equal")
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(f"{title}: {n} samples", fontsize=10)
    return fig


def table_rows(results: list[dict]) -> list[tuple[str, ...]]:
    """Rows ``input | points | point cloud | figure`` of the results table, a row for the samples of each input."""
    rows = []
    for r in results:
        points = f"{r['points']}" + (f" ({r['dropped']} non-finite dropped)" if r["dropped"] else "")
        rows.append((str(r["input"]), points, str(r["ply"]), str(r["png"])))
        if "sample_plys" in r:
            samples = r["sample_plys"]
            rows.append(
                ("", f"{len(samples)} samples", str(samples[0].parent / "*_sample*.ply"), str(r["samples_png"]))
            )
    return rows
