"""Bundle adjustment: camera poses and 3D points refined together by minimising the reprojection error.

Cameras are ``(rotation vector, translation)`` of ``x_cam = R(rvec) x_world + t``; intrinsics are fixed. The
residuals (pixels) are robustified by the Huber loss and minimised by SciPy's trust-region least squares with the
Jacobian's sparsity pattern (each residual depends on one camera and one point), so large problems stay cheap.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix
from scipy.spatial.transform import Rotation

__all__ = ["bundle_adjust", "reprojection_residuals"]


def reprojection_residuals(
    rvecs: np.ndarray, tvecs: np.ndarray, points: np.ndarray, K: np.ndarray, cams: np.ndarray, pts: np.ndarray,
    uv: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """``(M, 2)`` pixel residuals ``project(K_c, R_c X_p + t_c) - uv`` of the observations ``(cams (M,), pts (M,),
    uv (M, 2))`` with ``rvecs, tvecs (C, 3)``, ``points (P, 3)``, ``K (C, 3, 3)``."""
    cam = Rotation.from_rotvec(rvecs[cams]).apply(points[pts]) + tvecs[cams]
    z = cam[:, 2:3]
    proj = np.einsum("mij,mj->mi", K[cams], cam / np.where(np.abs(z) < 1e-12, 1e-12, z))[:, :2]
    return proj - uv


def bundle_adjust(
    rvecs: np.ndarray,
    tvecs: np.ndarray,
    points: np.ndarray,
    K: np.ndarray,
    cams: np.ndarray,
    pts: np.ndarray,
    uv: np.ndarray,
    fixed: int,
    huber_px: float = 2.0,
    max_evaluations: int = 1000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refine ``rvecs, tvecs (C, 3)`` and ``points (P, 3)`` from the observations ``cams, pts (M,)``, ``uv (M, 2)``
    (pixels, with ``K (C, 3, 3)``); camera ``fixed`` is held (the gauge: its pose defines the world frame; the scale
    stays free, set by the initial points). Returns the refined ``(rvecs, tvecs, points)``."""
    C, P = len(rvecs), len(points)
    free = np.array([c for c in range(C) if c != fixed], dtype=np.int64)
    column = np.full(C, -1, dtype=np.int64)
    column[free] = np.arange(len(free)) * 6

    def unpack(x):
        r, t = rvecs.copy(), tvecs.copy()
        poses = x[: 6 * len(free)].reshape(-1, 6)
        r[free], t[free] = poses[:, :3], poses[:, 3:]
        return r, t, x[6 * len(free) :].reshape(P, 3)

    def residuals(x):
        return reprojection_residuals(*unpack(x), K, cams, pts, uv).ravel()

    sparsity = lil_matrix((2 * len(cams), 6 * len(free) + 3 * P), dtype=np.int8)
    rows = np.arange(len(cams))
    for axis in range(2):
        moving = column[cams] >= 0
        for k in range(6):
            sparsity[2 * rows[moving] + axis, column[cams[moving]] + k] = 1
        for k in range(3):
            sparsity[2 * rows + axis, 6 * len(free) + 3 * pts + k] = 1
    x0 = np.concatenate([np.c_[rvecs[free], tvecs[free]].ravel(), points.ravel()])
    result = least_squares(
        residuals, x0, jac_sparsity=sparsity, loss="huber", f_scale=huber_px, x_scale="jac", method="trf",
        max_nfev=max_evaluations,
    )  # fmt: skip
    return unpack(result.x)
