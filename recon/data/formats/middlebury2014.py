"""Middlebury 2014 stereo scenes (full 2014 release and MiddEval3), plus scikit-image's Motorcycle pair.

A scene folder holds ``im0.png`` (left), ``im1.png`` (right), ``calib.txt``, and for scenes with ground truth
``disp0.pfm`` (2014 release) or ``disp0GT.pfm`` (MiddEval3) and optionally ``mask0nocc.png``
(255 = non-occluded, 128 = occluded, 0 = no ground truth). ``disp0`` is the left-view disparity in pixels of
the stored resolution, ``inf`` where unknown; ``x_right = x_left - d``.

The two cameras' principal points differ by ``doffs = cx1 - cx0`` pixels, so the depth of a left pixel is
``Z = baseline * f / (d + doffs)`` (mm, since ``baseline`` is in mm), not ``baseline * f / d``: use
``dataset.calibs[i].doffs`` (also :meth:`Middlebury2014Calib.depth`) when converting to depth.

Items follow :mod:`recon.data.formats.base`; ``focal`` = ``cam0[0, 0]`` in pixels, ``baseline`` in MILLIMETRES.
"""

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from recon.data.formats.base import StereoPairDataset, StereoSample, make_stereo_item
from recon.data.formats.images import read_single_channel
from recon.data.formats.pfm import read_pfm

LEFT, RIGHT, CALIB, NONOCC_MASK = "im0.png", "im1.png", "calib.txt", "mask0nocc.png"
DISPARITY_NAMES = ("disp0.pfm", "disp0GT.pfm")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True, eq=False)
class Middlebury2014Calib:
    """Contents of a Middlebury 2014 ``calib.txt`` (units: pixels of the stored resolution, baseline in mm).

    ``cam0``/``cam1`` are the (3, 3) intrinsics ``[[f, 0, cx], [0, f, cy], [0, 0, 1]]`` of the left/right
    camera; ``doffs = cx1 - cx0``; ``ndisp`` bounds the disparities; ``vmin``/``vmax`` the range of valid
    disparities (``NaN`` where the file has none). ``extra`` keeps other keys (``isint``, ``dyavg``, ...).
    """

    cam0: np.ndarray
    cam1: np.ndarray
    doffs: float
    baseline: float
    width: int
    height: int
    ndisp: float = math.nan
    vmin: float = math.nan
    vmax: float = math.nan
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def focal(self) -> float:
        return float(self.cam0[0, 0])

    def scaled(self, factor: float) -> "Middlebury2014Calib":
        """Calibration of the images resized by ``factor`` (0.25 = quarter size), pixel quantities scaled."""
        diag = np.diag([factor, factor, 1.0])
        return replace(
            self,
            cam0=diag @ self.cam0,
            cam1=diag @ self.cam1,
            doffs=self.doffs * factor,
            width=round(self.width * factor),
            height=round(self.height * factor),
            ndisp=self.ndisp * factor,
            vmin=self.vmin * factor,
            vmax=self.vmax * factor,
        )

    def depth(self, disparity: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Z-depth in mm ``baseline * f / (d + doffs)`` of ``(..., H, W)`` disparity; 0 where not ``valid``."""
        z = self.baseline * self.focal / (disparity + self.doffs)
        return torch.where(valid, z, torch.zeros_like(z))


def _matrix(text: str) -> np.ndarray:
    rows = text.strip()
    if not (rows.startswith("[") and rows.endswith("]")):
        raise ValueError("expected a bracketed 3x3 matrix '[a b c; d e f; g h i]'")
    values = [row.split() for row in rows[1:-1].split(";")]
    if len(values) != 3 or any(len(row) != 3 for row in values):
        raise ValueError("expected 3 rows of 3 numbers separated by ';'")
    return np.array([[float(v) for v in row] for row in values], dtype=np.float64)


def parse_calib(path: str | Path) -> Middlebury2014Calib:
    """Parse a Middlebury 2014 ``calib.txt`` (``key=value`` lines; blank lines ignored).

    ``cam0``, ``cam1``, ``baseline``, ``width`` and ``height`` are required; ``doffs`` defaults to
    ``cam1[0, 2] - cam0[0, 2]``. Raises FileNotFoundError, or ValueError naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Middlebury calibration not found: {path}")
    entries: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}, line {number}: expected 'key=value', got {line.strip()[:60]!r}")
        entries[key.strip()] = (value.strip(), number)

    def get(key: str, convert, default=None):
        if key not in entries:
            if default is not None:
                return default
            raise ValueError(f"{path}: missing required key {key!r}")
        value, number = entries[key]
        try:
            return convert(value)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: bad value for {key!r} ({value[:60]!r}): {error}") from None

    def number(value: str) -> float:
        if not re.fullmatch(_NUMBER, value):
            raise ValueError("not a number")
        return float(value)

    def integer(value: str) -> int:
        v = number(value)
        if v != int(v) or v <= 0:
            raise ValueError("not a positive integer")
        return int(v)

    cam0, cam1 = get("cam0", _matrix), get("cam1", _matrix)
    known = {"cam0", "cam1", "doffs", "baseline", "width", "height", "ndisp", "vmin", "vmax"}
    return Middlebury2014Calib(
        cam0=cam0,
        cam1=cam1,
        doffs=get("doffs", number, float(cam1[0, 2] - cam0[0, 2])),
        baseline=get("baseline", number),
        width=get("width", integer),
        height=get("height", integer),
        ndisp=get("ndisp", number, math.nan),
        vmin=get("vmin", number, math.nan),
        vmax=get("vmax", number, math.nan),
        extra={k: v for k, (v, _) in entries.items() if k not in known},
    )


def _is_scene(folder: Path) -> bool:
    return (folder / LEFT).is_file() or (folder / CALIB).is_file()


class Middlebury2014Stereo(StereoPairDataset):
    """Middlebury 2014 / MiddEval3 scenes under ``root`` (see the module docstring for the layout and units).

    Args:
        root: a scene folder, or a folder of scene folders (e.g. ``MiddEval3/trainingQ``).
        scenes: scene folder names to read, in this order; default all, sorted by name.
        right_image: right view file name, e.g. ``"im1E.png"`` / ``"im1L.png"`` for the other exposure/lighting.

    ``ids`` are the scene names; ``calibs[i]`` the parsed ``calib.txt`` (use its ``doffs`` for depth). Scenes
    without ``disp0[GT].pfm`` (test scenes) give items without ground truth.
    """

    def __init__(self, root: str | Path, scenes: list[str] | None = None, right_image: str = RIGHT):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"Middlebury 2014 root not found: {root}")
        if scenes is None:
            folders = [root] if _is_scene(root) else sorted(p for p in root.iterdir() if p.is_dir() and _is_scene(p))
            if not folders:
                raise FileNotFoundError(f"no Middlebury 2014 scenes (folders with {LEFT} or {CALIB}) under {root}")
        else:
            folders = [root / name for name in scenes]
            for folder in folders:
                if not folder.is_dir():
                    raise FileNotFoundError(f"Middlebury 2014 scene folder not found: {folder}")
        self.calibs = [parse_calib(folder / CALIB) for folder in folders]
        samples = []
        for folder, calib in zip(folders, self.calibs):
            disparity = next((folder / n for n in DISPARITY_NAMES if (folder / n).is_file()), None)
            mask = folder / NONOCC_MASK
            samples.append(
                StereoSample(
                    id=folder.name,
                    left=folder / LEFT,
                    right=folder / right_image,
                    disparity=disparity,
                    nonoccluded=mask if disparity is not None and mask.is_file() else None,
                    focal=calib.focal,
                    baseline=calib.baseline,
                )
            )
        super().__init__(samples)

    def read_disparity(self, path: Path) -> np.ndarray:
        return read_pfm(path)

    def read_nonoccluded(self, path: Path) -> np.ndarray:
        return read_single_channel(path) == 255


# Official calib.txt of the full-size (2964 x 2000) Middlebury 2014 "Motorcycle" scene.
MOTORCYCLE_FULL_CALIB = Middlebury2014Calib(
    cam0=np.array([[3979.911, 0.0, 1244.772], [0.0, 3979.911, 1019.507], [0.0, 0.0, 1.0]]),
    cam1=np.array([[3979.911, 0.0, 1369.115], [0.0, 3979.911, 1019.507], [0.0, 0.0, 1.0]]),
    doffs=124.343,
    baseline=193.001,
    width=2964,
    height=2000,
    ndisp=270,
    vmin=23,
    vmax=245,
    extra={"isint": "0", "dyavg": "0", "dymax": "0"},
)
# scikit-image ships the pair downscaled 4x (skimage.transform.downscale_local_mean) to 741 x 500.
MOTORCYCLE_SCALE = 0.25


def motorcycle_pair() -> tuple[dict[str, torch.Tensor], Middlebury2014Calib]:
    """The Middlebury 2014 Motorcycle pair bundled with scikit-image, as an item of the stereo contract.

    scikit-image stores ``motorcycle_left.png``/``motorcycle_right.png`` (741 x 500 RGB) and
    ``motorcycle_disp.npz`` (float32 left disparity of that resolution, ``inf`` where unknown) in its
    ``skimage/data`` folder. The images are the full-size scene downscaled by 4, so the calibration is the
    official one times 0.25: f = 994.978 px, doffs = 31.086 px, baseline = 193.001 mm.

    Returns:
        ``(item, calib)``: the item dict (``index`` 0; ``nonoccluded`` equals ``valid`` as no occlusion mask
        is shipped) and the scaled :class:`Middlebury2014Calib`.
    """
    from skimage.data import stereo_motorcycle

    left, right, disparity = stereo_motorcycle()
    calib = MOTORCYCLE_FULL_CALIB.scaled(MOTORCYCLE_SCALE)
    if left.shape != (calib.height, calib.width, 3) or disparity.shape != left.shape[:2]:
        raise ValueError(
            f"unexpected scikit-image motorcycle shapes {left.shape}, {right.shape}, "
            f"{disparity.shape}; expected ({calib.height}, {calib.width}, 3)"
        )

    def to_tensor(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0

    item = make_stereo_item(to_tensor(left), to_tensor(right), disparity, None, calib.focal, calib.baseline)
    item["index"] = torch.tensor(0, dtype=torch.int64)
    return item, calib


def write_motorcycle_rgbd(folder: str | Path) -> dict[str, Path]:
    """The Motorcycle pair's left view as an RGB-D frame in the common conventions (:mod:`recon.data.formats.rgbd`):
    ``color.png``, ``depth.png`` (16-bit millimetres: ``depth_scale`` 1000 gives metres) from the ground-truth
    disparity, ``Z = f * baseline / (d + doffs)``, 0 where it has none, and ``K.txt`` (the scaled ``cam0``).

    Returns the three paths (keys ``color``, ``depth``, ``intrinsics``)."""
    from PIL import Image

    from recon.data.formats.rgbd import write_depth_png

    item, calib = motorcycle_pair()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"color": folder / "color.png", "depth": folder / "depth.png", "intrinsics": folder / "K.txt"}
    rgb = (item["left"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(paths["color"])
    disparity, valid = item["disparity"][0].numpy(), item["valid"][0].numpy()
    depth_m = np.where(valid, calib.focal * calib.baseline / (disparity + calib.doffs) / 1000.0, 0.0)
    write_depth_png(paths["depth"], depth_m, 1000.0)
    paths["intrinsics"].write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in calib.cam0) + "\n")
    return paths
