"""Toy SceneFlow subsets: frames_cleanpass/<sequence>/{left,right}/<frame>.png and disparity/<sequence>/left PFMs."""

from pathlib import Path

import numpy as np
from PIL import Image

from recon.data.formats.pfm import write_pfm


def write_sceneflow_frame(root: Path, sequence: str, frame: str, disparity: np.ndarray, seed: int = 0) -> None:
    """One frame of random images with ``disparity`` (H, W) float32 as its left ground truth."""
    rng = np.random.default_rng(seed)
    H, W = disparity.shape
    for side in ("left", "right"):
        folder = root / "frames_cleanpass" / sequence / side
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / f"{frame}.png")
    folder = root / "disparity" / sequence / "left"
    folder.mkdir(parents=True, exist_ok=True)
    write_pfm(folder / f"{frame}.pfm", disparity.astype(np.float32))
