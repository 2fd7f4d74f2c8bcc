"""A plain folder of rectified pairs, for user data::

    root/left/<name>        left images (.png, .jpg, .jpeg, .ppm, .bmp, .tif, .tiff, .webp)
    root/right/<name>       right images, matched to the left ones by the same file name
    root/disparity/<stem>.pfm | <stem>.png     optional left-view ground truth

PFM disparities are taken in pixels as stored. PNG disparities must be single-channel 8- or 16-bit and are
divided by ``png_scale`` (default 256, KITTI's 16-bit convention; pass 1 for PNGs storing whole pixels).
Non-finite and non-positive values are invalid. Without ``disparity/`` items carry no ground truth
(``disparity`` 0, ``valid`` and ``nonoccluded`` all False); with it, every pair needs its file.
``nonoccluded`` equals ``valid``. ``focal`` (px) and ``baseline`` (any unit) are NaN unless given.
"""

import math
from pathlib import Path

import numpy as np

from recon.data.formats.base import StereoPairDataset, StereoSample
from recon.data.formats.images import read_single_channel
from recon.data.formats.pfm import read_pfm

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
DISPARITY_EXTENSIONS = (".pfm", ".png")


class FolderPairsStereo(StereoPairDataset):
    """Pairs from ``root/left`` and ``root/right`` (see the module docstring).

    Args:
        root: the folder holding ``left/``, ``right/`` and optionally ``disparity/``.
        png_scale: stored PNG disparity value / ``png_scale`` = pixels.
        focal, baseline: calibration shared by all pairs if known.

    ``ids`` are the left file stems, sorted by file name.
    """

    def __init__(self, root: str | Path, png_scale: float = 256.0, focal: float = math.nan, baseline: float = math.nan):
        if not png_scale > 0:
            raise ValueError(f"png_scale must be positive, got {png_scale}")
        self.png_scale = float(png_scale)
        root = Path(root)
        left_dir, right_dir, disparity_dir = root / "left", root / "right", root / "disparity"
        for folder in (left_dir, right_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"stereo pair folder not found: {folder}")
        lefts = sorted(p for p in left_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not lefts:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {left_dir}")
        samples = []
        for left in lefts:
            disparity = None
            if disparity_dir.is_dir():
                candidates = [disparity_dir / (left.stem + ext) for ext in DISPARITY_EXTENSIONS]
                disparity = next((p for p in candidates if p.is_file()), None)
                if disparity is None:
                    raise FileNotFoundError(
                        f"missing disparity for {left}: none of {', '.join(str(p) for p in candidates)}"
                    )
            samples.append(
                StereoSample(
                    id=left.stem,
                    left=left,
                    right=right_dir / left.name,
                    disparity=disparity,
                    focal=focal,
                    baseline=baseline,
                )
            )
        stems = [sample.id for sample in samples]
        if len(set(stems)) != len(stems):
            raise ValueError(f"{left_dir}: several images share a file stem; ids must be unique")
        super().__init__(samples)

    def read_disparity(self, path: Path) -> np.ndarray:
        if path.suffix == ".pfm":
            disparity = read_pfm(path)
            if disparity.ndim != 2:
                raise ValueError(f"{path}: expected a 1-channel (Pf) disparity PFM, got shape {disparity.shape}")
            return disparity
        return read_single_channel(path).astype(np.float32) / np.float32(self.png_scale)
