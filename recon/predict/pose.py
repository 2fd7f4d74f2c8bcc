"""``recon-predict`` for relative-pose models: the pose between consecutive images of an uncalibrated list.

    recon-predict model=essential_pose 'inputs=[a.jpg,b.jpg,c.jpg]' [intrinsics=[fx,fy,cx,cy]] [fov_deg=60]
    recon-predict ckpt_path=<pose ckpt> 'inputs=[...]'

Intrinsics, per image: ``intrinsics`` (the same for every image), else the focal length from the image's EXIF
(``FocalLengthIn35mmFilm``: ``f = f35 / 36 mm * width``), else a guess from ``fov_deg`` across the longer side with
the principal point at the centre (each pair's source is recorded). Images of different sizes need one of the first
two (a guessed focal length for images of different sizes would be a guess twice).

Output ``poses.json``: per consecutive pair ``(i, i + 1)``: ``R`` (3x3) and ``t`` (a unit direction, or zeros)
mapping image i's camera frame to image i + 1's, ``valid``, ``translation_defined``, ``inliers`` and a ``status``:
``ok``, ``rotation only`` (translation undefined: no parallax or a camera turning on the spot), or ``failed`` (no
pose: e.g. no overlap), never a silent identity. The table is also printed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from recon.data.formats.images import image_intrinsics_guess, read_image
from recon.data.multi_view_formats import scale_intrinsics
from recon.geometry.poses import rotation_error_deg
from recon.predict.common import check_request, finite_number, inference_device, load_model, parse_intrinsics


def image_intrinsics(cfg: DictConfig, paths: list[Path], sizes: list[tuple[int, int]]) -> tuple[list, list[str]]:
    """``K (3, 3)`` per image and where it came from (module docstring); ``ValueError`` for images of different
    sizes whose focal length would be guessed, or a bad ``fov_deg``."""
    if cfg.get("intrinsics") is not None:
        K = parse_intrinsics(cfg.intrinsics)
        return [K] * len(paths), ["intrinsics"] * len(paths)
    fov = finite_number("fov_deg", cfg.get("fov_deg", 60.0), positive=True)
    if not fov < 180:
        raise ValueError(f"fov_deg must be in (0, 180) degrees, got {fov}")
    guesses = [image_intrinsics_guess(path, H, W, fov) for path, (H, W) in zip(paths, sizes, strict=True)]
    Ks, sources = [K for K, _ in guesses], [source for _, source in guesses]
    guessed = [p.name for p, s in zip(paths, sources, strict=True) if s != "EXIF"]
    if guessed and len(set(sizes)) > 1:
        raise ValueError(
            f"the images have different sizes ({sorted(set(f'{w}x{h}' for h, w in sizes))}) and "
            f"{', '.join(guessed)} carry no focal length in EXIF: give intrinsics=[fx,fy,cx,cy]"
        )
    return Ks, sources


def predict_pose(cfg: DictConfig, checkpoint: dict | None, config: dict) -> dict:
    """Estimate the pose of each consecutive pair of ``cfg.inputs`` and write ``poses.json`` (module docstring).
    Raises ``ValueError`` / ``FileNotFoundError`` naming the key or file before anything is written."""
    check_request(
        cfg,
        checkpoint,
        config,
        problem="pose",
        request="two or more images as 'inputs=[a.jpg,b.jpg,...]'",
        untrained="model=essential_pose",
        needs=("inputs",),
        refuses=("left", "right", "color", "depth", "data"),
    )
    inputs = cfg.inputs
    if isinstance(inputs, str) or not (OmegaConf.is_list(inputs) or isinstance(inputs, (list, tuple))):
        raise ValueError(f"inputs must be a list of two or more image paths, got {inputs!r}")
    paths = [Path(str(p)) for p in inputs]
    if len(paths) < 2:
        raise ValueError(f"relative poses need two or more images, got {len(paths)}: {[str(p) for p in paths]}")
    images = [read_image(p, strict=True)[0] for p in paths]
    sizes = [tuple(image.shape[-2:]) for image in images]
    Ks, sources = image_intrinsics(cfg, paths, sizes)
    model = load_model(checkpoint, config)
    device = inference_device()
    pairs = []
    for i in range(len(paths) - 1):
        a, b = images[i], images[i + 1]
        if a.shape != b.shape:  # the model takes one pair tensor: bring b to a's size, its intrinsics with it
            H, W = a.shape[-2:]
            sy, sx = H / b.shape[-2], W / b.shape[-1]
            b = torch.nn.functional.interpolate(b[None], size=(H, W), mode="bilinear", antialias=True)[0]
            K_b = torch.from_numpy(scale_intrinsics(Ks[i + 1].double().numpy(), sx, sy)).float()
        else:
            K_b = Ks[i + 1]
        with torch.inference_mode():
            out = model(images=torch.stack([a, b])[None].to(device), K=torch.stack([Ks[i], K_b])[None].to(device))
        valid, defined = bool(out["valid"][0]), bool(out["translation_defined"][0])
        R, t = out["R"][0].double().cpu(), out["t"][0].double().cpu()
        status = "failed" if not valid else ("ok" if defined else "rotation only")
        pairs.append(
            {
                "from": str(paths[i]),
                "to": str(paths[i + 1]),
                "status": status,
                "valid": valid,
                "translation_defined": defined,
                "rotation_deg": float(rotation_error_deg(R, torch.eye(3, dtype=R.dtype))) if valid else math.nan,
                "R": R.tolist(),
                "t": (t if defined else torch.zeros(3, dtype=t.dtype)).tolist(),
                "inliers": float(out["inliers"][0]) if "inliers" in out else None,
            }
        )
    out_dir = Path(str(cfg.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"intrinsics": dict(zip(map(str, paths), sources, strict=True)), "pairs": pairs}
    path = out_dir / "poses.json"
    path.write_text(json.dumps(result, indent=2, allow_nan=True))
    for pair in pairs:
        names = f"{Path(pair['from']).name} -> {Path(pair['to']).name}"
        print(f"{names}: {pair['status']}, rotation {pair['rotation_deg']:.2f} deg")
    return {**result, "json": path}
