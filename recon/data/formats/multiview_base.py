"""The calibrated image set shared by every multi-view reader (:mod:`.mvsnet`, :mod:`.colmap_text`,
:mod:`.middlebury_mvs`), and the checks and line parsing they share.

A reader returns a :class:`CameraSet`: a tuple of :class:`CalibratedView` s plus optional view-selection
neighbours. Each view holds, in recon's conventions (docs/ARCHITECTURE.md):

- ``image``        path of the view's image (decoded lazily by :meth:`CameraSet.load_image` as ``(3, H, W)``
  float32 RGB in [0, 1])
- ``K``            ``(3, 3)`` float64 intrinsics in pixels, upper triangular, ``fx, fy > 0``, ``K[2, 2] = 1``;
  pixel centres at INTEGER coordinates (the top-left pixel's centre is ``(0, 0)``); readers of formats
  with another convention convert
- ``T_cw``         ``(4, 4)`` float64 world-to-camera transform, OpenCV axes (x right, y down, z forward):
  ``x_cam = R @ x_world + t``; ``R`` a rotation (orthonormal, det +1, to :data:`ROTATION_TOL`)
- ``depth_range``  ``(near, far)`` z-depths in scene units, ``0 < near < far``, or None where the format has none
- ``depth``        path of a PFM z-depth map in scene units (0 = invalid), or None
- ``size``         ``(H, W)`` the calibration was made for, where the format states it, else None

``CameraSet.neighbours[i]`` lists the source views chosen for reference view ``i`` as ``(view index, score)``
pairs in the file's order (best first for MVSNet's ``pair.txt``); None where the format has no view selection.

Every error names the file, and the line where one is to blame.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recon.data.formats.images import read_rgb
from recon.data.formats.pfm import read_pfm

ROTATION_TOL = 1e-4  # max |R R^T - I| and |det R - 1|: text files round rotations to ~6+ digits


@dataclass(frozen=True, eq=False)
class CalibratedView:
    """One calibrated image (fields and conventions in the module docstring)."""

    id: str
    image: Path
    K: np.ndarray
    T_cw: np.ndarray
    depth_range: tuple[float, float] | None = None
    depth: Path | None = None
    size: tuple[int, int] | None = None


@dataclass(frozen=True, eq=False)
class CameraSet:
    """A calibrated image set: ``views`` in the reader's order, ``neighbours`` keyed by view index."""

    root: Path
    views: tuple[CalibratedView, ...]
    neighbours: dict[int, tuple[tuple[int, float], ...]] | None = None

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, index: int) -> CalibratedView:
        return self.views[index]

    @property
    def ids(self) -> list[str]:
        return [view.id for view in self.views]

    @property
    def K(self) -> np.ndarray:
        """``(N, 3, 3)`` float64 intrinsics of all views."""
        return np.stack([view.K for view in self.views])

    @property
    def T_cw(self) -> np.ndarray:
        """``(N, 4, 4)`` float64 world-to-camera transforms of all views."""
        return np.stack([view.T_cw for view in self.views])

    def load_image(self, index: int) -> torch.Tensor:
        """``(3, H, W)`` float32 RGB in [0, 1] of view ``index``; ValueError if its size differs from ``size``."""
        view = self.views[index]
        image = read_rgb(view.image)
        if view.size is not None and tuple(image.shape[-2:]) != view.size:
            raise ValueError(
                f"{view.image} is {image.shape[-1]}x{image.shape[-2]} (WxH) but its camera "
                f"{view.id!r} was calibrated for {view.size[1]}x{view.size[0]}"
            )
        return image

    def load_depth(self, index: int) -> np.ndarray | None:
        """``(H, W)`` float32 z-depth of view ``index`` as stored (0 = invalid), or None without a depth map."""
        view = self.views[index]
        return None if view.depth is None else read_pfm(view.depth)


def numbered_lines(path: Path, comment: str | None = None, keep_blank: bool = False) -> list[tuple[int, str]]:
    """``(1-based line number, stripped text)`` of a text file's lines, without comment lines (those starting
    with ``comment``) and, unless ``keep_blank``, without blank lines. FileNotFoundError names ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    lines = enumerate(path.read_text(errors="replace").splitlines(), start=1)
    return [
        (number, text.strip())
        for number, text in lines
        if not (comment and text.lstrip().startswith(comment)) and (keep_blank or text.strip())
    ]


def parse_numbers(tokens: list[str], count: int | None, where: str, what: str) -> np.ndarray:
    """``tokens`` as a float64 array of ``count`` (any if None) finite numbers; ValueError naming ``where``."""
    try:
        values = np.array([float(token) for token in tokens], dtype=np.float64)
    except ValueError:
        values = None
    if values is None or (count is not None and len(values) != count) or not np.isfinite(values).all():
        expected = "finite numbers" if count is None else f"{count} finite numbers"
        raise ValueError(f"{where}: {what}: expected {expected}, got {' '.join(tokens)[:80]!r}")
    return values


def parse_int(token: str, where: str, what: str, minimum: int = 0) -> int:
    """``token`` as an integer >= ``minimum``; ValueError naming ``where``."""
    try:
        value = int(token)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f"{where}: {what}: expected an integer >= {minimum}, got {token[:40]!r}")
    return value


def check_intrinsics(K, where: str) -> np.ndarray:
    """``K`` as a ``(3, 3)`` float64 copy; ValueError naming ``where`` unless it is upper triangular with
    ``K[2, 2] = 1`` and positive finite focal lengths."""
    K = np.array(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all():
        raise ValueError(f"{where}: intrinsics must be a finite 3x3 matrix, got shape {K.shape}")
    if K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or abs(K[2, 2] - 1) > 1e-9:
        raise ValueError(f"{where}: intrinsics must be upper triangular with K[2,2] = 1, got {K.tolist()}")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError(f"{where}: focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
    return K


def check_pose(T_cw, where: str) -> np.ndarray:
    """A ``(3, 4)`` ``[R | t]`` or ``(4, 4)`` rigid transform as a ``(4, 4)`` float64 copy.

    ValueError naming ``where`` unless ``R`` is a rotation to :data:`ROTATION_TOL` (a singular ``R``, a
    reflection or a scaled matrix fails) and a ``(4, 4)`` input's last row is ``[0, 0, 0, 1]``.
    """
    T_cw = np.array(T_cw, dtype=np.float64)
    if T_cw.shape not in ((3, 4), (4, 4)) or not np.isfinite(T_cw).all():
        raise ValueError(f"{where}: pose must be a finite 3x4 or 4x4 matrix, got shape {T_cw.shape}")
    if T_cw.shape == (4, 4) and np.abs(T_cw[3] - [0, 0, 0, 1]).max() > ROTATION_TOL:
        raise ValueError(f"{where}: pose's last row must be [0 0 0 1], got {T_cw[3].tolist()}")
    R = T_cw[:3, :3]
    det = np.linalg.det(R)
    if abs(det) < 1e-12:
        raise ValueError(f"{where}: pose is not invertible (rotation block is singular)")
    deviation = np.abs(R @ R.T - np.eye(3)).max()
    if deviation > ROTATION_TOL or abs(det - 1) > ROTATION_TOL:
        raise ValueError(
            f"{where}: pose's 3x3 block is not a rotation: max |R R^T - I| = {deviation:.2e}, "
            f"det R = {det:.6g} (expected orthonormal with det +1)"
        )
    out = np.eye(4)
    out[:3] = T_cw[:3]
    return out


def check_depth_range(near: float, far: float, where: str) -> tuple[float, float]:
    """``(near, far)`` as floats; ValueError naming ``where`` unless ``0 < near < far`` (finite)."""
    if not (np.isfinite(near) and np.isfinite(far) and 0 < near < far):
        raise ValueError(f"{where}: depth range must satisfy 0 < near < far, got near={near}, far={far}")
    return float(near), float(far)


def require_image(image: Path, where: str) -> Path:
    """``image`` if it is a file; FileNotFoundError naming ``where`` (the camera file/line) and ``image``."""
    if not image.is_file():
        raise FileNotFoundError(f"{where}: image {image} named by this camera does not exist")
    return image
