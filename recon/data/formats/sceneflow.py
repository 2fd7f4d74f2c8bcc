"""SceneFlow synthetic stereo (FlyingThings3D, Monkaa, Driving): dense PFM ground truth.

Layout under ``root`` (one subset's download)::

    frames_cleanpass/<path>/left/<frame>.png     (frames_finalpass/ for the final, motion-blurred pass)
    frames_cleanpass/<path>/right/<frame>.png
    disparity/<path>/left/<frame>.pfm            left-view disparity in pixels, positive, dense

where ``<path>`` is e.g. ``TRAIN/A/0000`` (FlyingThings3D), ``a_rain_of_stones_x2`` (Monkaa) or
``35mm_focallength/scene_forwards/fast`` (Driving). Every finite, positive ground-truth pixel is valid;
occlusions are not marked, so ``nonoccluded`` equals ``valid``.

Calibration (from the dataset's documentation, not from files): ``focal`` = 1050 px (35 mm lens, all of
FlyingThings3D and Monkaa and Driving's ``35mm_focallength``), 450 px for Driving's ``15mm_focallength``;
``baseline`` = 1.0 in the renderer's scene units ("1 Blender unit", not metres).
"""

from pathlib import Path

import numpy as np

from recon.data.formats.base import StereoPairDataset, StereoSample
from recon.data.formats.pfm import read_pfm

PASSES = ("clean", "final")
FOCAL_35MM, FOCAL_15MM = 1050.0, 450.0
BASELINE = 1.0
IMAGE_EXTENSIONS = (".png", ".webp", ".jpg")


def focal_length(relative_path: str | Path) -> float:
    """Focal length in pixels of a frame from its path inside the subset (450 px only for 15 mm frames)."""
    return FOCAL_15MM if "15mm_focallength" in Path(relative_path).parts else FOCAL_35MM


class SceneFlowStereo(StereoPairDataset):
    """SceneFlow frames of one subset (see the module docstring for layout and units).

    Args:
        root: the subset folder holding ``frames_<pass>pass/`` and (optionally) ``disparity/``.
        pass_: ``"clean"`` or ``"final"`` rendering pass.
        prefix: keep only frames whose ``<path>`` starts with these path parts, e.g. ``"TRAIN"`` or
            ``"TEST/A"`` (FlyingThings3D splits); default all.

    ``ids`` are ``<path>/<frame>`` (e.g. ``TRAIN/A/0000/0006``), sorted. Without a ``disparity/`` folder items
    carry no ground truth; with one, every frame needs its PFM.
    """

    def __init__(self, root: str | Path, pass_: str = "clean", prefix: str | None = None):
        if pass_ not in PASSES:
            raise ValueError(f"SceneFlow pass must be one of {PASSES}, got {pass_!r}")
        root = Path(root)
        frames_dir, disparity_dir = root / f"frames_{pass_}pass", root / "disparity"
        if not frames_dir.is_dir():
            raise FileNotFoundError(f"SceneFlow frames folder not found: {frames_dir}")
        lefts = sorted(p for p in frames_dir.rglob("*") if p.suffix in IMAGE_EXTENSIONS and p.parent.name == "left")
        wanted = Path(prefix).parts if prefix else ()
        samples = []
        for left in lefts:
            sequence = left.parent.parent.relative_to(frames_dir)
            if sequence.parts[: len(wanted)] != wanted:
                continue
            samples.append(
                StereoSample(
                    id=(sequence / left.stem).as_posix(),
                    left=left,
                    right=left.parent.parent / "right" / left.name,
                    disparity=disparity_dir / sequence / "left" / f"{left.stem}.pfm"
                    if disparity_dir.is_dir()
                    else None,
                    focal=focal_length(sequence),
                    baseline=BASELINE,
                )
            )
        if not samples:
            raise FileNotFoundError(
                f"no SceneFlow frames (<path>/left/<frame>{IMAGE_EXTENSIONS}) under {frames_dir}"
                + (f" with prefix {prefix!r}" if prefix else "")
            )
        super().__init__(samples)

    def read_disparity(self, path: Path) -> np.ndarray:
        disparity = read_pfm(path)
        if disparity.ndim != 2:
            raise ValueError(f"{path}: expected a 1-channel (Pf) disparity PFM, got shape {disparity.shape}")
        return disparity
