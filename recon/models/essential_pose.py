"""Non-learned relative pose and the pose task's reference: OpenCV SIFT features, Lowe's ratio test, the essential
matrix by RANSAC (``cv2.findEssentialMat``) and its decomposition with the cheirality check (``cv2.recoverPose``).

Per pair, in this order:

1. SIFT keypoints of both images (grey, 8-bit); matches that pass the ratio test. Fewer than ``min_matches``: failed.
2. No parallax (the median match moves less than ``min_parallax_px``, e.g. two identical images): ``R = I``,
   ``t = 0``, translation undefined.
3. A rotation explains the matches (the homography fitted to the normalised matches, projected to the closest
   rotation, moves them to within ``rotation_px`` pixels of their match, median): that rotation, translation
   undefined (a camera turning on the spot has no epipolar geometry).
4. Otherwise the essential matrix by each robust estimator of ``estimators`` (OpenCV's RANSAC, and its USAC MAGSAC++
   and USAC accurate variants), each candidate decomposed by ``recoverPose``; the pose with the most matches in
   front of both cameras wins (near-degenerate pairs, e.g. narrow fields of view, can give an essential matrix that
   fits the matches but that almost no match passes in front of both cameras). Fewer than ``min_inliers`` such
   matches: failed. ``t`` is a unit direction (the scale is unobservable).

Output (``B`` pairs): ``R (B, 3, 3)``, ``t (B, 3)`` mapping view 0's frame to view 1's (``x_1 = R x_0 + t``),
``valid (B,)`` (False: failed; R = I, t = 0 then), ``translation_defined (B,)``, ``inliers (B,)``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from recon.data.formats.images import grey_uint8

__all__ = ["ESTIMATORS", "EssentialPose", "two_view_pose"]

ESTIMATORS = {"ransac": cv2.RANSAC, "magsac": cv2.USAC_MAGSAC, "accurate": cv2.USAC_ACCURATE}


def _normalised(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    return cv2.undistortPoints(points.reshape(-1, 1, 2), K, None).reshape(-1, 2)


def _closest_rotation(M: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(M)
    R = U @ Vt
    return R if np.linalg.det(R) > 0 else -R


def two_view_pose(
    image0: np.ndarray,
    image1: np.ndarray,
    K0: np.ndarray,
    K1: np.ndarray,
    *,
    num_features: int = 4000,
    ratio: float = 0.8,
    ransac_px: float = 1.0,
    min_matches: int = 15,
    min_inliers: int = 15,
    min_parallax_px: float = 0.5,
    rotation_px: float = 1.0,
    estimators: tuple[str, ...] = ("ransac", "magsac", "accurate"),
) -> dict:
    """The pose of one pair of grey uint8 images (module docstring): ``{"R", "t", "valid", "translation_defined",
    "inliers", "matches", "reason"}`` (numpy; ``reason`` says why a pair failed or was a rotation)."""
    failed = {"R": np.eye(3), "t": np.zeros(3), "valid": False, "translation_defined": False, "inliers": 0}
    sift = cv2.SIFT_create(nfeatures=num_features)
    kp0, desc0 = sift.detectAndCompute(image0, None)
    kp1, desc1 = sift.detectAndCompute(image1, None)
    if desc0 is None or desc1 is None or len(kp0) < 2 or len(kp1) < 2:
        return {**failed, "matches": 0, "reason": "too few features"}
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc0, desc1, k=2)
    good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < ratio * n.distance]
    if len(good) < min_matches:
        return {**failed, "matches": len(good), "reason": f"{len(good)} matches < {min_matches}"}
    p0 = np.float64([kp0[m.queryIdx].pt for m in good])
    p1 = np.float64([kp1[m.trainIdx].pt for m in good])
    base = {"matches": len(good)}
    if np.median(np.linalg.norm(p1 - p0, axis=1)) < min_parallax_px:
        return {**base, "R": np.eye(3), "t": np.zeros(3), "valid": True, "translation_defined": False,
                "inliers": len(good), "reason": "no parallax"}  # fmt: skip
    n0, n1 = _normalised(p0, K0), _normalised(p1, K1)
    focal = float(np.mean([K0[0, 0], K0[1, 1], K1[0, 0], K1[1, 1]]))
    H, _ = cv2.findHomography(n0, n1, cv2.RANSAC, ransac_px / focal)
    if H is not None:
        R_h = _closest_rotation(H / np.cbrt(np.linalg.det(H)) if np.linalg.det(H) != 0 else H)
        rotated = np.c_[n0, np.ones(len(n0))] @ R_h.T
        residual = np.linalg.norm(rotated[:, :2] / rotated[:, 2:] - n1, axis=1) * focal
        if np.median(residual) < rotation_px:
            return {**base, "R": R_h, "t": np.zeros(3), "valid": True, "translation_defined": False,
                    "inliers": int((residual < 2 * rotation_px).sum()), "reason": "rotation only"}  # fmt: skip
    # both views in view 0's pixel frame (p1 re-imaged through K0), so the RANSAC threshold is in pixels
    q1 = np.c_[n1, np.ones(len(n1))] @ K0.T
    q1 = q1[:, :2] / q1[:, 2:]
    best, error = (0, None, None), "no essential matrix"
    for method in estimators:
        try:
            E, mask = cv2.findEssentialMat(p0, q1, K0, method=ESTIMATORS[method], prob=0.999, threshold=ransac_px)
        except cv2.error as e:  # a degenerate sample in the five-point solver
            error = f"essential matrix solver: {str(e).strip().splitlines()[-1]}"
            continue
        for k in range(0 if E is None else len(E) // 3):  # the solver may return several candidates
            count, R, t, _ = cv2.recoverPose(E[3 * k : 3 * k + 3], p0, q1, K0, mask=mask.copy())
            if count > best[0]:
                best = (count, R, t)
    inliers, R, t = best
    if R is None:
        return {**failed, **base, "reason": error}
    if inliers < min_inliers:
        return {**failed, **base, "inliers": int(inliers), "reason": f"{inliers} inliers < {min_inliers}"}
    return {**base, "R": R, "t": t.ravel(), "valid": True, "translation_defined": True, "inliers": int(inliers),
            "reason": ""}  # fmt: skip


class EssentialPose(nn.Module):
    """Relative pose of image pairs by SIFT + essential matrix + RANSAC (module docstring); not learned.

    ``forward(images (B, 2, 3, H, W), K (B, 2, 3, 3))``. Args: see :func:`two_view_pose`.
    """

    problem = "pose"
    inputs = ("images", "K")
    trainable = False

    def __init__(
        self,
        num_features: int = 4000,
        ratio: float = 0.8,
        ransac_px: float = 1.0,
        min_matches: int = 15,
        min_inliers: int = 15,
        min_parallax_px: float = 0.5,
        rotation_px: float = 1.0,
        estimators: tuple[str, ...] = ("ransac", "magsac", "accurate"),
    ):
        super().__init__()
        if not 0 < ratio <= 1:
            raise ValueError(f"model.ratio must be in (0, 1], got {ratio}")
        for name, value in (
            ("ransac_px", ransac_px),
            ("min_parallax_px", min_parallax_px),
            ("rotation_px", rotation_px),
        ):
            if not value > 0:
                raise ValueError(f"model.{name} must be positive, got {value}")
        if min_matches < 5 or min_inliers < 5 or num_features < 8:
            raise ValueError("model.min_matches and model.min_inliers must be >= 5 and model.num_features >= 8")
        estimators = tuple(estimators)
        if not estimators or set(estimators) - set(ESTIMATORS):
            raise ValueError(f"model.estimators must be a non-empty subset of {sorted(ESTIMATORS)}, got {estimators}")
        self.settings = dict(
            num_features=num_features,
            ratio=ratio,
            ransac_px=ransac_px,
            min_matches=min_matches,
            min_inliers=min_inliers,
            min_parallax_px=min_parallax_px,
            rotation_px=rotation_px,
            estimators=estimators,
        )
        self.register_buffer("_device", torch.zeros(0), persistent=False)

    def forward(self, images: Tensor, K: Tensor) -> dict[str, Tensor]:
        if images.ndim != 5 or images.shape[1] != 2 or K.shape[-3:] != (2, 3, 3):
            raise ValueError(
                f"images must be (B, 2, 3, H, W) and K (B, 2, 3, 3), got {tuple(images.shape)}, {tuple(K.shape)}"
            )
        results = [
            two_view_pose(grey_uint8(pair[0]), grey_uint8(pair[1]), *K_pair.double().cpu().numpy(), **self.settings)
            for pair, K_pair in zip(images, K, strict=True)
        ]
        device = images.device

        def stack(key, dtype):
            return torch.as_tensor(np.stack([r[key] for r in results]), dtype=dtype, device=device)

        return {
            "R": stack("R", torch.float32),
            "t": stack("t", torch.float32),
            "valid": stack("valid", torch.bool),
            "translation_defined": stack("translation_defined", torch.bool),
            "inliers": stack("inliers", torch.float32),
        }
