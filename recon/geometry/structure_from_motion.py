"""Incremental structure from motion: the camera poses of an image set with known intrinsics, from the images alone.

The classical pipeline (Snavely et al. 2006; Schoenberger & Frahm, COLMAP, 2016), with OpenCV's features and solvers:

1. SIFT features per image (``contrast_threshold`` below OpenCV's 0.04 keeps the weak texture of matte objects; on a
   copy at most ``max_image_side`` pixels on its longer side),
   matched across every pair with Lowe's ratio test; a pair's matches are verified by an essential matrix
   (MAGSAC++, ``ransac_px``) and kept with at least ``min_inliers`` inliers.
2. Tracks: the verified matches joined across pairs (union-find); a track seeing one image twice is dropped.
3. Initialisation: of the ``init_candidates`` pairs with the most inliers, the one whose ``recoverPose`` triangulates
   the most points at an angle of at least ``min_angle_deg``; its first view is the world frame.
4. Registration, one view at a time, the view that sees the most triangulated tracks first: ``solvePnPRansac`` on
   those 2D-3D matches (at least ``min_pnp_inliers`` inliers, else the view stays unregistered), then every track
   seen by two registered views is triangulated (linear, all its registered views; kept in front of every camera,
   within ``max_reprojection_px`` and at ``min_angle_deg`` or more), then bundle adjustment of all cameras and points
   (:func:`~recon.geometry.bundle_adjustment.bundle_adjust`, 100 evaluations) and observations beyond
   ``max_reprojection_px`` removed; a last adjustment runs longer (up to 300 evaluations).

The scale is unobservable: the reconstruction is normalised to a median point depth of 1 in the first view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from recon.geometry.bundle_adjustment import bundle_adjust, reprojection_residuals

__all__ = ["Reconstruction", "incremental_sfm", "match_pairs", "tracks_from_matches"]


@dataclass
class Reconstruction:
    """``T_cw (N, 4, 4)`` world-to-camera poses (NaN for views not registered), ``registered (N,)``, ``points
    (P, 3)`` the triangulated tracks, ``observations (P,)`` how many registered views see each, ``reprojection_px``
    the median reprojection error, ``pair_inliers`` verified matches per pair ``(i, j)``, ``log`` what happened."""

    T_cw: np.ndarray
    registered: np.ndarray
    points: np.ndarray
    observations: np.ndarray
    reprojection_px: float
    pair_inliers: dict[tuple[int, int], int]
    log: list[str] = field(default_factory=list)

    def depth_range(self, v: int, K: np.ndarray, size: tuple[int, int], margin: float = 0.15) -> tuple[float, float]:
        """The 2nd..98th percentile z-depth of the points in front of registered view ``v`` inside its image of
        ``size`` (H, W) seen with ``K``, widened by ``margin`` of that span on each side."""
        cam = self.points @ self.T_cw[v, :3, :3].T + self.T_cw[v, :3, 3]
        front = cam[:, 2] > 0
        uv = cam[front] @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        H, W = size
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= W - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= H - 1)
        z = cam[front][inside, 2]
        if len(z) < 5:
            raise ValueError(f"view {v} sees {len(z)} reconstructed points: too few for a depth range")
        near, far = np.percentile(z, [2, 98])
        span = far - near
        return float(max(near - margin * span, 0.05 * near)), float(far + margin * span)


def detect(
    image: np.ndarray, num_features: int, contrast_threshold: float, max_side: int = 1600
) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints ``(n, 2)`` (pixels of ``image``) and RootSIFT descriptors ``(n, 128)`` (Arandjelovic &
    Zisserman 2012: the square root of the L1-normalised descriptor) of a grey uint8 image after contrast-limited
    histogram equalisation (CLAHE, OpenCV's). Images larger than ``max_side`` on their longer side are detected on a
    copy shrunk to it (area averaging; phone photos would otherwise give tens of thousands of features each), the
    keypoints mapped back to the full image (pixel centres at integers)."""
    scale = min(1.0, max_side / max(image.shape))
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    equalised = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(image)
    sift = cv2.SIFT_create(nfeatures=num_features, contrastThreshold=contrast_threshold)
    keypoints, descriptors = sift.detectAndCompute(equalised, None)
    if descriptors is None:
        return np.zeros((0, 2)), np.zeros((0, 128), np.float32)
    root = np.sqrt(descriptors / (descriptors.sum(axis=1, keepdims=True) + 1e-7)).astype(np.float32)
    return (np.float64([k.pt for k in keypoints]) + 0.5) / scale - 0.5, root


def match_pairs(
    features: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray, ratio: float, ransac_px: float, min_inliers: int
) -> dict[tuple[int, int], np.ndarray]:
    """Verified matches of every pair ``i < j``: ``(m, 2)`` keypoint indices (module docstring, step 1)."""
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    verified = {}
    for i in range(len(features)):
        for j in range(i + 1, len(features)):
            (p0, d0), (p1, d1) = features[i], features[j]
            if len(p0) < 5 or len(p1) < 5:
                continue
            candidates = (p for p in matcher.knnMatch(d0, d1, k=2) if len(p) == 2)
            good = [m for m, n in candidates if m.distance < ratio * n.distance]
            if len(good) < min_inliers:
                continue
            index = np.array([(m.queryIdx, m.trainIdx) for m in good])
            a, b = p0[index[:, 0]], _reimaged(p1[index[:, 1]], K[j], K[i])
            try:
                E, mask = cv2.findEssentialMat(a, b, K[i], method=cv2.USAC_MAGSAC, prob=0.999, threshold=ransac_px)
            except cv2.error:
                continue
            if E is not None and mask is not None and int(mask.sum()) >= min_inliers:
                verified[i, j] = index[mask.ravel().astype(bool)]
    return verified


def _reimaged(points: np.ndarray, K_from: np.ndarray, K_to: np.ndarray) -> np.ndarray:
    """Pixels of one camera's intrinsics re-imaged through another's (same rays)."""
    rays = np.c_[points, np.ones(len(points))] @ np.linalg.inv(K_from).T
    pixels = rays @ K_to.T
    return pixels[:, :2] / pixels[:, 2:]


def tracks_from_matches(matches: dict[tuple[int, int], np.ndarray], counts: list[int]) -> list[dict[int, int]]:
    """Tracks ``{view: keypoint}`` joining the pairwise ``matches`` (union-find over keypoints, ``counts`` per view);
    tracks with two keypoints in one view are dropped."""
    offset = np.concatenate([[0], np.cumsum(counts)])
    parent = np.arange(offset[-1])

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for (i, j), index in matches.items():
        for a, b in index:
            ra, rb = find(offset[i] + a), find(offset[j] + b)
            if ra != rb:
                parent[rb] = ra
    groups: dict[int, dict[int, int]] = {}
    broken = set()
    for (i, j), index in matches.items():
        for view, column in ((i, 0), (j, 1)):
            for k in index[:, column]:
                track = groups.setdefault(find(offset[view] + k), {})
                if track.get(view, k) != k:
                    broken.add(find(offset[view] + k))
                track[view] = int(k)
    return [track for root, track in groups.items() if root not in broken and len(track) >= 2]


def _triangulate(P: list[np.ndarray], uv: list[np.ndarray]) -> np.ndarray:
    """Linear (DLT) triangulation of one point from its ``(3, 4)`` projection matrices and pixels."""
    A = np.concatenate([[x[0] * p[2] - p[0], x[1] * p[2] - p[1]] for p, x in zip(P, uv, strict=True)])
    X = np.linalg.svd(A)[2][-1]
    return X[:3] / X[3] if abs(X[3]) > 1e-12 else np.full(3, np.nan)


def _angle_deg(X: np.ndarray, centres: np.ndarray) -> float:
    rays = centres - X
    rays = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    cosines = np.clip(rays @ rays.T, -1, 1)
    return float(np.degrees(np.arccos(cosines.min())))


def incremental_sfm(
    images: list[np.ndarray],
    K: np.ndarray,
    *,
    num_features: int = 0,
    contrast_threshold: float = 0.005,
    ratio: float = 0.85,
    ransac_px: float = 1.0,
    min_inliers: int = 15,
    min_pnp_inliers: int = 12,
    min_angle_deg: float = 1.5,
    max_reprojection_px: float = 2.0,
    init_candidates: int = 5,
    max_image_side: int = 1600,
) -> Reconstruction:
    """Camera poses and a sparse cloud of grey uint8 ``images`` with intrinsics ``K (N, 3, 3)`` (module
    docstring). Raises ``ValueError`` when no pair can initialise the reconstruction."""
    N = len(images)
    if N < 2 or len(K) != N:
        raise ValueError(f"structure from motion needs two or more images with one K each, got {N} and {len(K)}")
    log = []
    cv2.setRNGSeed(0)  # OpenCV's RANSAC draws: the same images give the same reconstruction
    features = [detect(image, num_features, contrast_threshold, max_image_side) for image in images]
    matches = match_pairs(features, K, ratio, ransac_px, min_inliers)
    log.append(f"{sum(len(f[0]) for f in features)} features; {len(matches)} of {N * (N - 1) // 2} pairs verified")
    tracks = tracks_from_matches(matches, [len(f[0]) for f in features])
    uv_of = [{v: features[v][0][k] for v, k in track.items()} for track in tracks]
    point_of = np.full(len(tracks), -1)
    points: list[np.ndarray] = []
    rvecs, tvecs = np.zeros((N, 3)), np.zeros((N, 3))
    registered = np.zeros(N, dtype=bool)

    def projection(v):
        R = Rotation.from_rotvec(rvecs[v]).as_matrix()
        return K[v] @ np.c_[R, tvecs[v]], -R.T @ tvecs[v]

    def triangulate_new():
        added = 0
        for t, track in enumerate(uv_of):
            if point_of[t] >= 0:
                continue
            views = [v for v in track if registered[v]]
            if len(views) < 2:
                continue
            Ps, centres = zip(*(projection(v) for v in views), strict=True)
            X = _triangulate(list(Ps), [track[v] for v in views])
            if not np.isfinite(X).all() or _angle_deg(X, np.array(centres)) < min_angle_deg:
                continue
            ok = True
            for P, v in zip(Ps, views, strict=True):
                x = P @ np.r_[X, 1.0]
                if x[2] <= 0 or np.linalg.norm(x[:2] / x[2] - track[v]) > max_reprojection_px:
                    ok = False
                    break
            if ok:
                point_of[t] = len(points)
                points.append(X)
                added += 1
        return added

    # initialisation
    best = None
    for i, j in sorted(matches, key=lambda pair: -len(matches[pair]))[:init_candidates]:
        index = matches[i, j]
        a, b = features[i][0][index[:, 0]], _reimaged(features[j][0][index[:, 1]], K[j], K[i])
        E, mask = cv2.findEssentialMat(a, b, K[i], method=cv2.USAC_MAGSAC, prob=0.999, threshold=ransac_px)
        if E is None:
            continue
        count, R, t, _ = cv2.recoverPose(E[:3], a, b, K[i], mask=mask.copy())
        if best is None or count > best[0]:
            best = (count, i, j, R, t.ravel())
    if best is None or best[0] < min_inliers:
        raise ValueError(
            f"structure from motion: no image pair to start from ({len(matches)} verified pairs; the best gives "
            f"{0 if best is None else best[0]} points in front of both cameras, < {min_inliers})"
        )
    _, i, j, R, t = best
    rvecs[j], tvecs[j] = Rotation.from_matrix(R).as_rotvec(), t
    registered[[i, j]] = True
    log.append(f"initial pair {i}-{j}: {best[0]} matches in front of both cameras, {triangulate_new()} points")

    def observations():
        rows = [(v, point_of[t], uv) for t, track in enumerate(uv_of) if point_of[t] >= 0 for v, uv in track.items()]
        rows = [r for r in rows if registered[r[0]]]
        cams = np.array([r[0] for r in rows], dtype=np.int64)
        pts = np.array([r[1] for r in rows], dtype=np.int64)
        return cams, pts, np.array([r[2] for r in rows], dtype=np.float64).reshape(-1, 2)

    def adjust(evaluations=100):
        nonlocal points
        cams, pts, uv = observations()
        if not len(cams):
            return
        r, t, X = bundle_adjust(rvecs, tvecs, np.array(points), K, cams, pts, uv, i, 1.0, evaluations)
        rvecs[:], tvecs[:] = r, t
        points = list(X)
        error = np.linalg.norm(reprojection_residuals(r, t, X, K, cams, pts, uv), axis=1)
        track_of = np.zeros(len(X), dtype=np.int64)  # the track of each observed point
        triangulated = np.flatnonzero(point_of >= 0)
        track_of[point_of[triangulated]] = triangulated
        bad = error > max_reprojection_px
        for v, p in zip(cams[bad], pts[bad], strict=True):
            uv_of[track_of[p]].pop(int(v), None)
        for t_index, track in enumerate(uv_of):
            if point_of[t_index] >= 0 and sum(registered[v] for v in track) < 2:
                point_of[t_index] = -1

    adjust()
    failed: set[int] = set()
    while True:
        seen = {
            v: [t for t, track in enumerate(uv_of) if v in track and point_of[t] >= 0]
            for v in range(N)
            if not registered[v] and v not in failed
        }
        if not seen:
            break
        v = max(seen, key=lambda view: len(seen[view]))
        if len(seen[v]) < min_pnp_inliers:
            failed.update(seen)
            break
        obj = np.array([points[point_of[t]] for t in seen[v]])
        img = np.array([uv_of[t][v] for t in seen[v]])
        ok, rvec, tvec, inliers = cv2.solvePnPRansac(
            obj, img, K[v], None, reprojectionError=max_reprojection_px, confidence=0.999, iterationsCount=2000,
            flags=cv2.SOLVEPNP_SQPNP,
        )  # fmt: skip
        if not ok or inliers is None or len(inliers) < min_pnp_inliers:
            failed.add(v)
            log.append(f"view {v}: not registered ({0 if inliers is None else len(inliers)} PnP inliers of {len(obj)})")
            continue
        rvec, tvec = cv2.solvePnPRefineLM(obj[inliers.ravel()], img[inliers.ravel()], K[v], None, rvec, tvec)
        rvecs[v], tvecs[v] = rvec.ravel(), tvec.ravel()
        registered[v] = True
        for t in set(seen[v]) - set(np.array(seen[v])[inliers.ravel()]):
            uv_of[t].pop(v, None)
        added = triangulate_new()
        adjust()
        failed.clear()  # new points may now register a view that failed before
        log.append(f"view {v}: {len(inliers)} PnP inliers of {len(obj)}, {added} new points")

    adjust(evaluations=300)
    cams, pts, uv = observations()
    X = np.array(points)
    error = np.linalg.norm(reprojection_residuals(rvecs, tvecs, X, K, cams, pts, uv), axis=1)
    used = np.unique(pts)
    counts = np.bincount(pts, minlength=len(X))
    keep = np.zeros(len(X), dtype=bool)
    keep[used] = counts[used] >= 2
    T_cw = np.full((N, 4, 4), np.nan)
    depth = np.median((X[keep] @ Rotation.from_rotvec(rvecs[i]).as_matrix().T + tvecs[i])[:, 2])
    for v in np.flatnonzero(registered):
        T_cw[v] = np.eye(4)
        T_cw[v, :3, :3] = Rotation.from_rotvec(rvecs[v]).as_matrix()
        T_cw[v, :3, 3] = tvecs[v] / depth
    log.append(f"{int(registered.sum())} of {N} views registered, {int(keep.sum())} points, median reprojection "
               f"{np.median(error):.2f} px")  # fmt: skip
    return Reconstruction(
        T_cw=T_cw,
        registered=registered,
        points=X[keep] / depth,
        observations=counts[keep],
        reprojection_px=float(np.median(error)),
        pair_inliers={pair: len(index) for pair, index in matches.items()},
        log=log,
    )
