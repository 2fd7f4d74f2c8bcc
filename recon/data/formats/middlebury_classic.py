"""Middlebury 2001, 2003, 2005 and 2006 stereo scenes: 8-bit images with 8-bit scaled disparity PNG/PGM.

Each scene folder holds two views and the left view's ground truth, stored as ``disparity * scale`` in an
8-bit image, 0 where unknown. File stems and default scales per year (any of ``.png``, ``.ppm``, ``.pgm``):

====  ==================  =================  =====================================================
year  left / right        ground truth       default ``scale``
====  ==================  =================  =====================================================
2001  ``im2`` / ``im6``   ``disp2``          8 (Tsukuba's ``truedisp`` uses 16: pass ``scale=16``)
2003  ``im2`` / ``im6``   ``disp2``          4 (quarter-size release)
2005  ``view1``/``view5`` ``disp1``          1 (full size; half size 2, third size 3)
2006  ``view1``/``view5`` ``disp1``          1 (full size; half size 2, third size 3)
====  ==================  =================  =====================================================

An optional ``nonocc.png`` (the v2 evaluation masks: 255 = non-occluded) gives ``nonoccluded``. The
calibration is not part of these releases: ``focal``/``baseline`` are NaN unless given.
Items follow :mod:`recon.data.formats.base`; ``baseline`` is in the units it is given in.
"""

import math
from pathlib import Path

import numpy as np

from recon.data.formats.base import StereoPairDataset, StereoSample
from recon.data.formats.images import read_single_channel

LAYOUTS = {  # year -> (left stem, right stem, disparity stem, default scale)
    2001: ("im2", "im6", "disp2", 8.0),
    2003: ("im2", "im6", "disp2", 4.0),
    2005: ("view1", "view5", "disp1", 1.0),
    2006: ("view1", "view5", "disp1", 1.0),
}
EXTENSIONS = (".png", ".ppm", ".pgm")
NONOCC_MASK = "nonocc.png"


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / (stem + ext) for ext in EXTENSIONS if (folder / (stem + ext)).is_file()), None)


class MiddleburyClassicStereo(StereoPairDataset):
    """Middlebury 2001-2006 scenes under ``root`` (see the module docstring for layouts and scales).

    Args:
        root: a scene folder, or a folder of scene folders.
        year: 2001, 2003, 2005 or 2006; picks the file stems and the default scale.
        scenes: scene folder names to read, in this order; default all folders holding the left view, sorted.
        scale: stored value / ``scale`` = disparity in pixels; default from the year.
        left, right, disparity: file names overriding the year's stems (e.g. ``"truedisp.row3.col3.pgm"``).
        focal, baseline: per-dataset calibration if known (pixels, any length unit); NaN otherwise.
    """

    def __init__(
        self,
        root: str | Path,
        year: int,
        scenes: list[str] | None = None,
        scale: float | None = None,
        left: str | None = None,
        right: str | None = None,
        disparity: str | None = None,
        focal: float = math.nan,
        baseline: float = math.nan,
    ):
        if year not in LAYOUTS:
            raise ValueError(f"Middlebury year must be one of {sorted(LAYOUTS)}, got {year}")
        left_stem, right_stem, disparity_stem, default_scale = LAYOUTS[year]
        self.scale = float(default_scale if scale is None else scale)
        if not self.scale > 0:
            raise ValueError(f"disparity scale must be positive, got {scale}")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"Middlebury {year} root not found: {root}")

        def locate(folder: Path, name: str | None, stem: str) -> Path | None:
            return folder / name if name is not None else _find(folder, stem)

        def is_scene(folder: Path) -> bool:
            path = locate(folder, left, left_stem)
            return path is not None and path.is_file()

        if scenes is None:
            folders = [root] if is_scene(root) else sorted(p for p in root.iterdir() if p.is_dir() and is_scene(p))
            if not folders:
                raise FileNotFoundError(
                    f"no Middlebury {year} scenes (folders with {left or left_stem + '.png'}) under {root}"
                )
        else:
            folders = [root / name for name in scenes]
        samples = []
        for folder in folders:
            if not folder.is_dir():
                raise FileNotFoundError(f"Middlebury {year} scene folder not found: {folder}")
            left_path = locate(folder, left, left_stem) or folder / (left_stem + ".png")
            right_path = locate(folder, right, right_stem) or folder / (right_stem + ".png")
            disparity_path = locate(folder, disparity, disparity_stem)
            if disparity is not None and not disparity_path.is_file():
                raise FileNotFoundError(f"missing file: {disparity_path}")
            mask = folder / NONOCC_MASK
            samples.append(
                StereoSample(
                    id=folder.name,
                    left=left_path,
                    right=right_path,
                    disparity=disparity_path,
                    nonoccluded=mask if disparity_path is not None and mask.is_file() else None,
                    focal=focal,
                    baseline=baseline,
                )
            )
        super().__init__(samples)

    def read_disparity(self, path: Path) -> np.ndarray:
        return read_single_channel(path).astype(np.float32) / self.scale

    def read_nonoccluded(self, path: Path) -> np.ndarray:
        return read_single_channel(path) == 255
