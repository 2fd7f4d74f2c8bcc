"""Point-cloud reconstruction metrics: Chamfer distances and F-score, DDP-safe.

All metrics accumulate the *sum* of per-sample values and the number of samples
(``dist_reduce_fx="sum"``), so ``compute()`` is the mean over every sample seen by every
process. Nearest neighbours are exact (:func:`recon.geometry.pointcloud.chamfer_distances`,
``backend="auto"``: scipy cKDTree on CPU, chunked brute force on GPU).

Default F-score threshold: 0.05 scene units. Objects are normalised to a unit bounding
sphere (radius 1), so 0.05 is 2.5% of the object diameter.

Use :class:`PointCloudMetrics` when several values are wanted: it searches neighbours once
per ``update`` for all of them. In a LightningModule::

    self.test_metrics = PointCloudMetrics(prefix="test/")
    ...
    self.test_metrics.update(pred_points, gt_points)        # in test_step
    ...
    self.log_dict(self.test_metrics.compute()); self.test_metrics.reset()   # on_test_epoch_end

The single-value metrics (:class:`ChamferL1`, :class:`ChamferL2`, :class:`FScore`, ...)
return a scalar and can be passed to ``self.log`` as metric objects.

Fused multi-view clouds (DTU-style evaluation): ``update`` also takes sequences of clouds with a
different number of points per sample, and ``max_distance`` leaves out nearest-neighbour distances
at or above it from the mean distances, as the DTU evaluation does with 20 mm. DTU's "overall" is
``chamfer_l1``, the mean of accuracy and completeness. With a DTU scene in millimetres::

    metric = PointCloudMetrics(threshold=1.0, max_distance=20.0,
                               keys=("accuracy", "completeness", "chamfer_l1", "fscore"))
    metric.update([fused_scan_1, fused_scan_2], [stl_scan_1, stl_scan_2])    # (N_i, 3), (M_i, 3)

DTU's observation masks and ground-plane cropping of the clouds are data preparation, not done here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from recon.geometry.pointcloud import chamfer_distances

__all__ = [
    "DEFAULT_FSCORE_THRESHOLD",
    "Accuracy",
    "ChamferL1",
    "ChamferL2",
    "Completeness",
    "FScore",
    "PointCloudMetrics",
]

DEFAULT_FSCORE_THRESHOLD = 0.05

ALL_KEYS = ("chamfer_l1", "chamfer_l2", "fscore", "precision", "recall", "accuracy", "completeness")


class PointCloudMetrics(Metric):
    """Mean per-sample Chamfer-L1/L2, F-score, precision, recall, accuracy, completeness.

    Args:
        threshold: F-score distance threshold in scene units (default 0.05 = 2.5% of the
            diameter of an object normalised to the unit bounding sphere).
        max_distance: if given, nearest-neighbour distances ``>= max_distance`` (scene units) are
            left out of the mean distances (DTU's outlier rule), see
            :func:`recon.geometry.pointcloud.chamfer_distances`.
        keys: which values ``compute()`` returns (subset of :data:`ALL_KEYS`).
        prefix: prepended to every key of the returned dict, e.g. ``"test/"``.
        backend, chunk_elements: nearest-neighbour options, see
            :func:`recon.geometry.pointcloud.nearest_neighbors`.

    ``update(pred (B, N, 3), gt (B, M, 3))`` or ``update([pred_i (N_i, 3)], [gt_i (M_i, 3)])``;
    ``compute() -> {prefix + key: () tensor}``.
    """

    is_differentiable = False
    higher_is_better = None  # mixed: F-score up, Chamfer down
    full_state_update = False

    def __init__(
        self,
        threshold: float = DEFAULT_FSCORE_THRESHOLD,
        keys: tuple[str, ...] = ALL_KEYS,
        prefix: str = "",
        backend: str = "auto",
        chunk_elements: int = 2**24,
        max_distance: float | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        unknown = set(keys) - set(ALL_KEYS)
        if unknown or not keys:
            raise ValueError(f"keys must be a non-empty subset of {ALL_KEYS}, got {tuple(keys)}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if max_distance is not None and not max_distance > 0:
            raise ValueError(f"max_distance must be > 0, got {max_distance}")
        self.threshold = float(threshold)
        self.max_distance = None if max_distance is None else float(max_distance)
        self.keys = tuple(keys)
        self.prefix = prefix
        self.nn_kwargs = {"backend": backend, "chunk_elements": chunk_elements}
        for key in self.keys:
            self.add_state(key, torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor | Sequence[torch.Tensor], gt: torch.Tensor | Sequence[torch.Tensor]) -> None:
        """Accumulate a batch: ``pred (B, N, 3)`` and ``gt (B, M, 3)``, or B clouds each,
        ``pred[i] (N_i, 3)`` and ``gt[i] (M_i, 3)``, of any sizes."""
        per_batch = [
            chamfer_distances(
                p.detach(), g.detach(), threshold=self.threshold, max_distance=self.max_distance, **self.nn_kwargs
            )
            for p, g in _as_batches(pred, gt)
        ]  # all computed (and checked) before any state changes
        for values in per_batch:
            for key in self.keys:
                setattr(self, key, getattr(self, key) + values[key].sum().to(torch.float64))
            self.count += len(values["accuracy"])

    def compute(self) -> dict[str, torch.Tensor]:
        return {self.prefix + key: (getattr(self, key) / self.count).float() for key in self.keys}


def _as_batches(pred, gt) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(B, N, 3)`` and ``(B, M, 3)`` batches as one pair; sequences of clouds as one ``(1, N_i, 3)`` pair each."""
    if isinstance(pred, torch.Tensor) and isinstance(gt, torch.Tensor):
        return [(pred, gt)]
    pred, gt = list(pred), list(gt)
    if len(pred) != len(gt):
        raise ValueError(f"pred and gt must hold one cloud per sample, got {len(pred)} and {len(gt)}")
    for name, clouds in (("pred", pred), ("gt", gt)):
        for i, cloud in enumerate(clouds):
            if not isinstance(cloud, torch.Tensor) or cloud.ndim != 2 or cloud.shape[-1] != 3:
                got = tuple(cloud.shape) if isinstance(cloud, torch.Tensor) else type(cloud).__name__
                raise ValueError(f"{name}[{i}] must be an (N, 3) point cloud, got {got}")
    return [(p[None], g[None]) for p, g in zip(pred, gt)]


class _SingleValue(PointCloudMetrics):
    """One key of :class:`PointCloudMetrics` as a plain metric; by default a distance (lower is better, >= 0)."""

    key: str
    higher_is_better = False
    plot_lower_bound = 0.0

    def __init__(self, threshold: float = DEFAULT_FSCORE_THRESHOLD, **kwargs) -> None:
        super().__init__(threshold=threshold, keys=(self.key,), **kwargs)

    def compute(self) -> torch.Tensor:
        return super().compute()[self.prefix + self.key]


class ChamferL1(_SingleValue):
    """Mean per-sample ``(accuracy + completeness) / 2`` (Euclidean distances). ``update(pred, gt)``."""

    key = "chamfer_l1"


class ChamferL2(_SingleValue):
    """Mean per-sample ``(accuracy_sq + completeness_sq) / 2`` (squared distances). ``update(pred, gt)``."""

    key = "chamfer_l2"


class FScore(_SingleValue):
    """Mean per-sample F-score at ``threshold``.

    Default 0.05 scene units = 2.5% of the diameter of an object normalised to the unit
    bounding sphere. ``update(pred, gt)``.
    """

    key = "fscore"
    higher_is_better = True
    plot_upper_bound = 1.0


class Accuracy(_SingleValue):
    """Mean per-sample distance from predicted points to the nearest ground-truth point."""

    key = "accuracy"


class Completeness(_SingleValue):
    """Mean per-sample distance from ground-truth points to the nearest predicted point."""

    key = "completeness"
