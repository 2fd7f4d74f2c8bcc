"""Toy Middlebury 2014 scene folders: random images, calib.txt, disparity PFM and occlusion mask."""

from pathlib import Path

import numpy as np
from PIL import Image

from recon.data.formats.pfm import write_pfm


def calib_text(f=100.0, cx0=3.0, cx1=5.5, baseline=160.0, width=6, height=4) -> str:
    return (
        f"cam0=[{f} 0 {cx0}; 0 {f} 2; 0 0 1]\ncam1=[{f} 0 {cx1}; 0 {f} 2; 0 0 1]\n"
        f"doffs={cx1 - cx0}\nbaseline={baseline}\nwidth={width}\nheight={height}\nndisp=16\n"
    )


def make_scene(folder: Path, H=4, W=6, gt_name="disp0.pfm", mask=True, seed=0):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / "im0.png")
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / "im1.png")
    (folder / "calib.txt").write_text(calib_text(width=W, height=H))
    disparity = rng.uniform(1, 5, (H, W)).astype(np.float32)
    disparity[0, 0] = np.inf  # Middlebury 2014: no ground truth
    if gt_name:
        write_pfm(folder / gt_name, disparity)
    occlusion = np.full((H, W), 255, np.uint8)
    occlusion[1, :2] = 128  # occluded in the right view
    occlusion[0, 0] = 0
    if mask:
        Image.fromarray(occlusion).save(folder / "mask0nocc.png")
    return disparity
