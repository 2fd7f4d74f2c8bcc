"""Exact nearest neighbours and Chamfer distances between batched point clouds.

Point clouds are ``(B, N, 3)`` tensors. Every function here returns *exact* nearest
neighbours, so that evaluation numbers are comparable with the occupancy_networks
(Mescheder et al., 2019) and F-score (Tatarchenko et al., 2019) protocols:

- the neighbour search runs without autograd and only chooses indices;
- the returned squared distance is recomputed from the chosen pair,
  ``((x - y[idx]) ** 2).sum(-1)``, so its value carries no matrix-product cancellation
  error and its gradient w.r.t. ``x`` and ``y`` is that of the brute-force definition.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.spatial import cKDTree

__all__ = ["KDTREE_MIN_PAIRS", "chamfer_distances", "chamfer_loss", "fibonacci_sphere", "nearest_neighbors"]

# "auto" uses scipy's cKDTree for CPU tensors once one batch element has at least this many
# candidate pairs N * M. Measured on the 2-core reference machine (see
# experiments/benchmarks/results/chamfer.md), whatever the batch size: brute force wins up to
# 256 x 512 points, the tree from 512 x 1024 on (4x faster at B=32, N=1024, M=2048 with backward).
KDTREE_MIN_PAIRS = 2**18


def _check_cloud(name: str, p: torch.Tensor) -> None:
    if not isinstance(p, torch.Tensor) or p.dim() != 3 or p.shape[-1] != 3:
        shape = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
        raise ValueError(f"{name} must be (B, N, 3), got {shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty point cloud, got {tuple(p.shape)}")
    if not p.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {p.dtype}")
    if not bool(torch.isfinite(p).all()):
        raise ValueError(f"{name} contains NaN or Inf")


def _check_pair(x: torch.Tensor, y: torch.Tensor, x_name: str, y_name: str) -> None:
    _check_cloud(x_name, x)
    _check_cloud(y_name, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same batch size, got {x.shape[0]} and {y.shape[0]}")
    if x.dtype != y.dtype or x.device != y.device:
        raise ValueError(
            f"{x_name} and {y_name} must share dtype and device, got {x.dtype}/{x.device} and {y.dtype}/{y.device}"
        )


def _argmin_torch(x: torch.Tensor, y: torch.Tensor, chunk_elements: int) -> torch.Tensor:
    B, N, _ = x.shape
    M = y.shape[1]
    rows = min(N, max(1, chunk_elements // M))  # query points per chunk and batch element
    batch = min(B, max(1, chunk_elements // (rows * M)))  # batch elements per chunk
    idx = torch.empty(B, N, dtype=torch.long, device=x.device)
    for b in range(0, B, batch):
        yb = y[b : b + batch]
        for i in range(0, N, rows):
            # Direct differences (not ||x||^2 - 2x.y + ||y||^2): the ordering is exact up to
            # rounding of the distances themselves, and TF32 matmul settings do not apply.
            d = torch.cdist(x[b : b + batch, i : i + rows], yb, compute_mode="donot_use_mm_for_euclid_dist")
            idx[b : b + batch, i : i + rows] = d.argmin(-1)
            del d  # free before the next chunk is allocated
    return idx


@functools.cache
def _tree_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="recon-kdtree")


# Points per k-d tree leaf: scipy's default is 16; 32 puts more of the search in the vectorised leaf scan (both
# directions of 32 clouds of 2048 and 1024 points: 61 ms of CPU time against 71 ms on the 2-core machine).
KDTREE_LEAF_SIZE = 32


def _tree(points: np.ndarray) -> cKDTree:
    return cKDTree(points, leafsize=KDTREE_LEAF_SIZE)


def _argmin_kdtree(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xs = x.detach().double().numpy()
    ys = y.detach().double().numpy()
    if len(xs) == 1:  # one large cloud: parallelise the queries
        idx = _tree(ys[0]).query(xs[0], k=1, workers=-1)[1][None]
    else:  # many small clouds: one thread per batch element (starting threads per query costs more)
        idx = np.stack(list(_tree_pool().map(lambda b: _tree(ys[b]).query(xs[b], k=1, workers=1)[1], range(len(xs)))))
    return torch.from_numpy(idx.astype(np.int64, copy=False))


def nearest_neighbors(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    chunk_elements: int = 2**24,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest neighbour in ``y`` of every point of ``x``.

    "kdtree" searches in float64. "torch" compares direct coordinate differences in the input
    dtype (no ``||x||^2 - 2 x.y + ||y||^2`` expansion, whose cancellation grows with the
    distance from the origin), so it can only pick a different neighbour where two candidate
    distances agree to within their own rounding error; the returned distance is then the
    true minimum to that precision.

    Args:
        x: ``(B, N, 3)`` query points.
        y: ``(B, M, 3)`` reference points (same batch size, dtype and device as ``x``).
        chunk_elements: "torch" backend only: at most this many pairwise distances are held
            at once (``2**24`` float32 = 64 MiB), whatever ``N`` and ``M``.
        backend: ``"torch"`` (chunked brute force, any device), ``"kdtree"`` (scipy cKDTree,
            CPU tensors only) or ``"auto"`` (kdtree for CPU tensors with
            ``N * M >= KDTREE_MIN_PAIRS``, torch otherwise).

    Returns:
        sq_dist: ``(B, N)`` squared distance ``||x - y[idx]||^2``, differentiable w.r.t. both.
        idx: ``(B, N)`` long index into ``y``'s point dimension.

    Raises:
        ValueError: wrong shapes, empty clouds, NaN/Inf values, unknown or unusable backend.
    """
    _check_pair(x, y, "x", "y")
    return _nearest(x, y, chunk_elements, backend)


def _nearest(x: torch.Tensor, y: torch.Tensor, chunk_elements: int, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    if backend == "auto":
        on_cpu = x.device.type == "cpu"
        backend = "kdtree" if on_cpu and x.shape[1] * y.shape[1] >= KDTREE_MIN_PAIRS else "torch"
    with torch.no_grad():
        if backend == "torch":
            idx = _argmin_torch(x, y, int(chunk_elements))
        elif backend == "kdtree":
            if x.device.type != "cpu":
                raise ValueError(f"backend='kdtree' needs CPU tensors, got {x.device}")
            idx = _argmin_kdtree(x, y)
        else:
            raise ValueError(f"backend must be 'auto', 'torch' or 'kdtree', got {backend!r}")
    nearest = y.gather(1, idx.unsqueeze(-1).expand(-1, -1, 3))
    return (x - nearest).square().sum(-1), idx


def _safe_sqrt(sq: torch.Tensor) -> torch.Tensor:
    # Exact forward value; at sq == 0 the gradient is 0 instead of inf/NaN (no eps bias).
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))


def chamfer_distances(
    pred: torch.Tensor,
    gt: torch.Tensor,
    threshold: float | None = None,
    max_distance: float | None = None,
    **nn_kwargs,
) -> dict[str, torch.Tensor]:
    """Per-sample Chamfer distances (occupancy_networks definitions) and optional F-score.

    Args:
        pred: ``(B, N, 3)`` predicted points.
        gt: ``(B, M, 3)`` ground-truth points.
        threshold: if given, also return ``precision``, ``recall`` and ``fscore`` at this
            distance (Tatarchenko et al., 2019), in scene units.
        max_distance: if given, the four mean distances leave out nearest-neighbour distances
            ``>= max_distance`` as outliers (the DTU MVS evaluation does this with 20 mm); a mean
            over no remaining point is NaN. Precision, recall and F-score count every point.
        **nn_kwargs: ``chunk_elements`` / ``backend`` for :func:`nearest_neighbors`.

    Returns:
        dict of ``(B,)`` tensors:
        ``accuracy`` mean over pred of the distance to the nearest gt point;
        ``completeness`` mean over gt of the distance to the nearest pred point;
        ``accuracy_sq`` / ``completeness_sq`` the same with squared distances;
        ``chamfer_l1 = (accuracy + completeness) / 2``;
        ``chamfer_l2 = (accuracy_sq + completeness_sq) / 2``;
        with ``threshold``: ``precision`` fraction of pred points with distance < threshold,
        ``recall`` fraction of gt points with distance < threshold,
        ``fscore = 2PR / (P + R)`` (0 where P + R = 0).
    """
    _check_pair(pred, gt, "pred", "gt")
    if max_distance is not None and not max_distance > 0:
        raise ValueError(f"max_distance must be > 0, got {max_distance}")
    nn_kwargs = {"chunk_elements": 2**24, "backend": "auto", **nn_kwargs}
    sq_pred, _ = _nearest(pred, gt, **nn_kwargs)
    sq_gt, _ = _nearest(gt, pred, **nn_kwargs)
    d_pred, d_gt = _safe_sqrt(sq_pred), _safe_sqrt(sq_gt)

    def mean(values: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
        if max_distance is None:
            return values.mean(-1)
        kept = distances.detach() < max_distance
        return torch.where(kept, values, 0.0).sum(-1) / kept.sum(-1)

    out = {
        "accuracy": mean(d_pred, d_pred),
        "completeness": mean(d_gt, d_gt),
        "accuracy_sq": mean(sq_pred, d_pred),
        "completeness_sq": mean(sq_gt, d_gt),
    }
    out["chamfer_l1"] = 0.5 * (out["accuracy"] + out["completeness"])
    out["chamfer_l2"] = 0.5 * (out["accuracy_sq"] + out["completeness_sq"])
    if threshold is not None:
        p = (d_pred.detach() < threshold).to(pred.dtype).mean(-1)
        r = (d_gt.detach() < threshold).to(pred.dtype).mean(-1)
        out["precision"], out["recall"] = p, r
        out["fscore"] = torch.where(p + r > 0, 2 * p * r / (p + r).clamp_min(torch.finfo(p.dtype).tiny), 0.0)
    return out


def chamfer_loss(pred: torch.Tensor, gt: torch.Tensor, kind: str = "l1", **nn_kwargs) -> torch.Tensor:
    """Differentiable Chamfer training loss, mean over the batch.

    Args:
        pred: ``(B, N, 3)`` predicted points.
        gt: ``(B, M, 3)`` ground-truth points.
        kind: ``"l1"`` (mean Euclidean distances) or ``"l2"`` (mean squared distances),
            both symmetric and halved as in :func:`chamfer_distances`.
        **nn_kwargs: ``chunk_elements`` / ``backend`` for :func:`nearest_neighbors`.

    Returns:
        ``()`` scalar; NaN when ``pred`` holds NaN or Inf (a diverged model), so that the training loop reports
        the bad step (:class:`recon.callbacks.loss_guard.FiniteLossGuard`) instead of the metric raising on its input.
    """
    if kind not in ("l1", "l2"):
        raise ValueError(f"kind must be 'l1' or 'l2', got {kind!r}")
    if isinstance(pred, torch.Tensor) and pred.is_floating_point() and not bool(torch.isfinite(pred).all()):
        return pred.sum() * float("nan")
    return chamfer_distances(pred, gt, **nn_kwargs)[f"chamfer_{kind}"].mean()


def fibonacci_sphere(n: int) -> torch.Tensor:
    """``n`` nearly uniform points on the unit sphere, (n, 3)."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    r = torch.sqrt(1 - z * z)
    phi = math.pi * (3 - math.sqrt(5)) * i
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=1).float()
