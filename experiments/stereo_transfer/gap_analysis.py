"""What the gap to SGBM on the real Motorcycle pair is made of: bad-2 by region, disparity range and texture.

    .venv/bin/python experiments/stereo_transfer/gap_analysis.py [--ckpt zoo:gwc_stereo_synthetic] [--max-disparity 64]

Scores a stereo checkpoint and OpenCV SGBM (holes filled, the stereo task's reference; and raw, holes as errors) on
the Motorcycle pair scikit-image ships (741x500, all valid ground-truth pixels, as ``data=stereo_motorcycle``) and
splits every valid pixel into disjoint subsets:

- ``occluded (left-right check)``: the ground truth has no occlusion mask, so a pixel counts as occluded when its
  match in the right view lies behind a nearer surface: ``d(x) < max_{x' : x' - d(x') = x - d(x) (rounded)} d(x') -
  1`` (a z-buffer of the left ground truth forward-warped to the right view); ``visible``: the others;
- ``disparity`` bins of the ground truth (px);
- ``texture``: terciles of the local grey-level standard deviation (7x7 window) of the left image;
- ``depth edge``: within 3 px of a ground-truth disparity jump > 1 px.

Each cell is bad-2 (%) of the subset; the share column says how much of the model's excess of bad pixels over SGBM
filled lies in that subset. Writes ``gap.md`` and ``gap.png`` (error maps) into ``--out`` (default: next to this
script).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import ndimage

from recon.data.formats.middlebury2014 import motorcycle_pair
from recon.engine.checkpoint import load_checkpoint, restore_task
from recon.models.sgbm import SGBMStereo

HERE = Path(__file__).resolve().parent
BINS = (0, 16, 32, 48, 64)


def occluded_by_forward_warp(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(H, W) ground truth -> bool map of left pixels hidden in the right view by a nearer surface (>1 px nearer)."""
    H, W = disparity.shape
    target = np.round(np.arange(W)[None] - np.where(valid, disparity, 0)).astype(int)
    nearest = np.full((H, W), -np.inf)
    rows = np.repeat(np.arange(H)[:, None], W, 1)
    inside = valid & (target >= 0) & (target < W)
    np.maximum.at(nearest, (rows[inside], target[inside]), disparity[inside])
    seen = np.full((H, W), -np.inf)
    seen[inside] = nearest[rows[inside], target[inside]]
    return valid & (disparity < seen - 1)


def subsets(item: dict) -> dict[str, np.ndarray]:
    gt = item["disparity"][0].numpy()
    valid = item["valid"][0].numpy().astype(bool)
    grey = item["left"].mean(0).numpy()
    mean = ndimage.uniform_filter(grey, 7)
    texture = np.sqrt(np.maximum(ndimage.uniform_filter(grey**2, 7) - mean**2, 0))
    low, high = np.quantile(texture[valid], [1 / 3, 2 / 3])
    filled = np.where(valid, gt, 0)
    jump = np.maximum(
        np.abs(np.diff(filled, axis=1, append=filled[:, -1:])), np.abs(np.diff(filled, axis=0, append=filled[-1:]))
    )
    edges = ndimage.binary_dilation((jump > 1) & valid, iterations=3)
    occluded = occluded_by_forward_warp(gt, valid)
    out = {"all valid": valid, "occluded (left-right check)": occluded, "visible": valid & ~occluded}
    for a, b in itertools.pairwise(BINS):
        out[f"disparity {a}-{b} px"] = valid & (gt >= a) & (gt < b)
    out[f"disparity >= {BINS[-1]} px"] = valid & (gt >= BINS[-1])
    out["texture: lowest third"] = valid & (texture < low)
    out["texture: middle third"] = valid & (texture >= low) & (texture < high)
    out["texture: highest third"] = valid & (texture >= high)
    out["depth edge (3 px)"] = valid & edges
    out["away from depth edges"] = valid & ~edges
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", default="zoo:gwc_stereo_synthetic")
    parser.add_argument("--max-disparity", type=int, default=64)
    parser.add_argument("--out", type=Path, default=HERE / "gap", help="folder for gap.md and gap.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    item, _ = motorcycle_pair()
    left, right = item["left"][None], item["right"][None]
    task = restore_task(load_checkpoint(args.ckpt), model_overrides={"max_disparity": args.max_disparity})
    with torch.inference_mode():
        predictions = {
            "model": task.model(left=left, right=right)["disparity"][0, 0].numpy(),
            "SGBM filled": SGBMStereo(max_disparity=args.max_disparity)(left, right)["disparity"][0, 0].numpy(),
        }
        raw = SGBMStereo(max_disparity=args.max_disparity, fill_holes=False)(left, right)
    matched = raw["matched"][0, 0].numpy()
    gt = item["disparity"][0].numpy()
    bad = {name: np.abs(d - gt) > 2 for name, d in predictions.items()}
    bad["SGBM raw"] = bad["SGBM filled"] | ~matched

    regions = subsets(item)
    valid = regions["all valid"]
    excess = (bad["model"] & valid).sum() - (bad["SGBM filled"] & valid).sum()
    lines = [
        f"# Where `{args.ckpt}` loses to SGBM on Motorcycle (741x500, search 0-{args.max_disparity} px)",
        "",
        "Command: `python experiments/stereo_transfer/gap_analysis.py --ckpt "
        f"{args.ckpt} --max-disparity {args.max_disparity}`. bad-2 (%) per subset of the valid ground-truth pixels; "
        "`share of excess`: the subset's part of (model bad pixels - SGBM filled bad pixels) over all valid pixels "
        f"({excess:+d} pixels).",
        "",
        "| subset | % of valid | model | SGBM filled | SGBM raw | share of excess |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, region in regions.items():
        n = region.sum()
        if n == 0:
            continue
        cells = [100 * (bad[m] & region).sum() / n for m in ("model", "SGBM filled", "SGBM raw")]
        share = ((bad["model"] & region).sum() - (bad["SGBM filled"] & region).sum()) / excess if excess else np.nan
        lines.append(
            f"| {name} | {100 * n / valid.sum():.1f} | {cells[0]:.1f} | {cells[1]:.1f} | {cells[2]:.1f} | "
            f"{100 * share:.0f} % |"
        )
    report = "\n".join(lines) + "\n\n![error maps](gap.png)\n"
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gap.md").write_text(report)

    fig, axes = plt.subplots(2, 3, figsize=(15, 7))
    vmax = float(gt[valid].max())
    panels = [
        ("left image", item["left"].permute(1, 2, 0).numpy(), {}),
        ("ground truth", np.where(valid, gt, np.nan), {"cmap": "magma", "vmin": 0, "vmax": vmax}),
        ("occluded (red) / depth edges (blue)", None, {}),
        ("model", predictions["model"], {"cmap": "magma", "vmin": 0, "vmax": vmax}),
        ("model |error| (px, clipped at 8)", np.where(valid, np.abs(predictions["model"] - gt), np.nan), {}),
        ("SGBM filled |error|", np.where(valid, np.abs(predictions["SGBM filled"] - gt), np.nan), {}),
    ]
    for ax, (title, image, kwargs) in zip(axes.flat, panels):
        if image is None:
            overlay = np.zeros((*gt.shape, 3))
            overlay[regions["occluded (left-right check)"]] = (1, 0, 0)
            overlay[regions["depth edge (3 px)"] & ~regions["occluded (left-right check)"]] = (0.2, 0.4, 1)
            image = overlay
        if "error" in title:
            kwargs = {"cmap": "inferno", "vmin": 0, "vmax": 8}
        ax.imshow(image, **kwargs)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out / "gap.png", dpi=80)


if __name__ == "__main__":
    main()
