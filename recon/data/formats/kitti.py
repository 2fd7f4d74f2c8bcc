"""KITTI 2012 and 2015 stereo benchmarks (rectified pairs, sparse LiDAR-derived ground truth).

Layout under ``root/<split>`` (``split`` = ``training`` or ``testing``), frames ``<6 digits>_10.png``:

====  ===========================  =================================  ==========================================
year  left / right images          ground truth (training only)        calibration (optional)
====  ===========================  =================================  ==========================================
2012  ``image_0`` / ``image_1``    ``disp_occ`` / ``disp_noc``         ``calib/<frame>.txt``: ``P0``, ``P1``
      (gray, replicated to RGB)
2015  ``image_2`` / ``image_3``    ``disp_occ_0`` / ``disp_noc_0``     ``calib_cam_to_cam/<frame>.txt``:
      (colour)                                                         ``P_rect_02``, ``P_rect_03``
====  ===========================  =================================  ==========================================

Disparities are uint16 PNGs: ``disparity = value / 256`` pixels, 0 = no ground truth. ``disp_occ`` gives
``disparity``/``valid`` (all pixels with a LiDAR measurement), ``disp_noc`` the ``nonoccluded`` mask.
From the rectified projection matrices ``P = K [I | t]``: ``focal = P_left[0, 0]`` and
``baseline = (P_left[0, 3] - P_right[0, 3]) / P_right[0, 0]`` in METRES (about 0.54 m). For 2015's
colour cameras ``P_rect_02[0, 3] != 0`` (camera 2 is offset from camera 0), so ``-P3[0, 3] / P3[0, 0]``
alone would give the camera-0-to-3 distance, not the stereo baseline. Without calibration files both are NaN.
Image sizes vary slightly between frames (about 1242 x 375): batch them with cropping or padding.
"""

from pathlib import Path

import numpy as np

from recon.data.formats.base import StereoPairDataset, StereoSample
from recon.data.formats.images import read_single_channel

LAYOUTS = {  # year -> folders and calibration keys
    2012: dict(
        left="image_0",
        right="image_1",
        occ="disp_occ",
        noc="disp_noc",
        calib="calib",
        left_keys=("P0",),
        right_keys=("P1",),
    ),
    2015: dict(
        left="image_2",
        right="image_3",
        occ="disp_occ_0",
        noc="disp_noc_0",
        calib="calib_cam_to_cam",
        left_keys=("P_rect_02", "P2"),
        right_keys=("P_rect_03", "P3"),
    ),
}
SPLITS = ("training", "testing")
DISPARITY_SCALE = 256.0


def parse_calib(path: str | Path) -> dict[str, np.ndarray]:
    """Read a KITTI calibration text file: ``KEY: v1 v2 ...`` lines -> {KEY: float64 array}.

    Non-numeric entries (e.g. ``calib_time: 09-Jan-2012 ...``) are skipped. Raises ValueError naming the
    file and line for a line without ``:``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KITTI calibration not found: {path}")
    entries = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{path}, line {number}: expected 'KEY: values', got {line.strip()[:60]!r}")
        try:
            entries[key.strip()] = np.array([float(v) for v in value.split()], dtype=np.float64)
        except ValueError:
            continue
    return entries


def stereo_calibration(
    path: str | Path, left_keys: tuple[str, ...], right_keys: tuple[str, ...]
) -> tuple[float, float]:
    """``(focal px, baseline m)`` from the first present key of each of ``left_keys``/``right_keys``."""
    entries = parse_calib(path)

    def projection(keys: tuple[str, ...]) -> np.ndarray:
        for key in keys:
            if key in entries:
                if entries[key].size != 12:
                    raise ValueError(f"{path}: {key} has {entries[key].size} values, expected 12 (3x4 matrix)")
                return entries[key].reshape(3, 4)
        raise ValueError(f"{path}: no projection matrix {' or '.join(keys)}")

    P_left, P_right = projection(left_keys), projection(right_keys)
    return float(P_left[0, 0]), float((P_left[0, 3] - P_right[0, 3]) / P_right[0, 0])


class KittiStereo(StereoPairDataset):
    """KITTI 2012/2015 frames (see the module docstring for layout, decoding and units).

    Args:
        root: the folder holding ``training/`` and ``testing/``.
        year: 2012 or 2015.
        split: ``"training"`` (with ground truth where its folders exist) or ``"testing"`` (none).
        frames: frame ids to read (e.g. ``["000000_10"]``), in this order; default all ``*_10.png``, sorted.

    ``ids`` are the frame ids. A present ground-truth or calibration folder must hold every frame's file.
    """

    def __init__(self, root: str | Path, year: int, split: str = "training", frames: list[str] | None = None):
        if year not in LAYOUTS:
            raise ValueError(f"KITTI year must be one of {sorted(LAYOUTS)}, got {year}")
        if split not in SPLITS:
            raise ValueError(f"KITTI split must be one of {SPLITS}, got {split!r}")
        layout = LAYOUTS[year]
        base = Path(root) / split
        left_dir, right_dir = base / layout["left"], base / layout["right"]
        if not left_dir.is_dir():
            raise FileNotFoundError(f"KITTI {year} left image folder not found: {left_dir}")
        if frames is None:
            frames = sorted(p.stem for p in left_dir.glob("*_10.png"))
            if not frames:
                raise FileNotFoundError(f"no KITTI frames (*_10.png) in {left_dir}")
        occ_dir, noc_dir, calib_dir = (base / layout[k] for k in ("occ", "noc", "calib"))
        disparity_dir = occ_dir if occ_dir.is_dir() else noc_dir if noc_dir.is_dir() else None
        has_noc_mask = disparity_dir == occ_dir and noc_dir.is_dir()
        samples = []
        for frame in frames:
            focal = baseline = float("nan")
            if calib_dir.is_dir():
                focal, baseline = stereo_calibration(
                    calib_dir / f"{frame.split('_')[0]}.txt", layout["left_keys"], layout["right_keys"]
                )
            samples.append(
                StereoSample(
                    id=frame,
                    left=left_dir / f"{frame}.png",
                    right=right_dir / f"{frame}.png",
                    disparity=None if disparity_dir is None else disparity_dir / f"{frame}.png",
                    nonoccluded=noc_dir / f"{frame}.png" if has_noc_mask else None,
                    focal=focal,
                    baseline=baseline,
                )
            )
        super().__init__(samples)

    def read_disparity(self, path: Path) -> np.ndarray:
        return read_uint16_disparity(path)

    def read_nonoccluded(self, path: Path) -> np.ndarray:
        return read_uint16_disparity(path) > 0


def read_uint16_disparity(path: str | Path, scale: float = DISPARITY_SCALE) -> np.ndarray:
    """``(H, W)`` float32 disparity ``value / scale`` from a 16-bit single-channel PNG (0 stays 0 = invalid)."""
    stored = read_single_channel(path)
    if stored.dtype != np.uint16:
        raise ValueError(f"{path}: expected a 16-bit disparity PNG, got {stored.dtype}")
    return stored.astype(np.float32) / np.float32(scale)
