"""Depth-map metrics: AbsRel, MAE, RMSE, delta accuracies and absolute-threshold accuracies, DDP-safe.

Definitions, for the valid pixels ``p`` (inside the given mask and with ``gt_p > 0``), ``e_p = pred_p - gt_p`` in
scene units:

- ``abs_rel``: mean ``|e_p| / gt_p`` (Eigen et al., NIPS 2014).
- ``mae``: mean ``|e_p|`` (MVSNet's "abs depth error"), scene units.
- ``rmse``: ``sqrt(mean e_p^2)``, scene units.
- ``delta1`` / ``delta2`` / ``delta3``: percentage of pixels with ``pred_p > 0`` and
  ``max(pred_p / gt_p, gt_p / pred_p) < 1.25 ** k`` (Eigen et al.); a non-positive prediction always fails.
- ``within{t}``: percentage of pixels with ``|e_p| < t`` for every absolute threshold ``t`` in scene units
  (MVS "accuracy at 2 mm / 4 mm"; the complement of MVSNet's ``thres{t}_error``), e.g. ``within0.002``.

Every value is pixel-weighted over the split: sums over all valid pixels of every image, divided by their number
(``rmse`` is the root of the split-wide mean squared error, not a mean of per-image RMSEs). An empty evaluation
(no valid pixel) gives NaN, never 0: an undefined mean is not a perfect score. Predictions with NaN or Inf raise
``ValueError``; ground truth must be finite inside the mask.

States are per-quantity sums and a pixel count with ``dist_reduce_fx="sum"``, so ``compute()`` is exact over all
processes. In a LightningModule::

    self.test_depth = DepthMetrics(abs_thresholds=(0.002, 0.004), prefix="test/")
    self.test_depth.update(out["depth"], batch["depth"], batch["valid"])          # test_step
    self.log_dict(self.test_depth.compute()); self.test_depth.reset()               # on_test_epoch_end

:func:`depth_errors` gives ``abs_rel`` and ``delta1`` of a single map (figure captions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from recon.metrics.maps import check_map_inputs, item_map

__all__ = ["DELTA_BASE", "DepthMetrics", "depth_errors"]

DELTA_BASE = 1.25


def _within_name(threshold: float) -> str:
    return f"within{threshold:g}"


class DepthMetrics(Metric):
    """AbsRel, MAE, RMSE, delta accuracies and absolute-threshold accuracies of z-depth maps.

    Args:
        abs_thresholds: thresholds ``t`` in scene units for the ``within{t}`` keys (default: none, since they
            depend on the scene scale; e.g. ``(0.002, 0.004)`` for 2 and 4 mm on DTU in metres).
        prefix: prepended to every key, e.g. ``"test/"``.

    ``update(pred (B, 1, H, W), gt (B, 1, H, W), mask (B, 1, H, W) bool)``: pixels count where ``mask`` and
    ``gt > 0``. ``compute() -> {prefix + name: () float32}`` with names ``abs_rel``, ``mae``, ``rmse``,
    ``delta1``, ``delta2``, ``delta3`` and ``within{t}`` (percentages in [0, 100] for the last two kinds).
    """

    is_differentiable = False
    higher_is_better = None  # mixed: errors down, accuracies up
    full_state_update = False

    def __init__(self, abs_thresholds: Sequence[float] = (), prefix: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        thresholds = tuple(float(t) for t in abs_thresholds)
        if any(not t > 0 for t in thresholds) or len(set(map(_within_name, thresholds))) != len(thresholds):
            raise ValueError(f"abs_thresholds must be distinct positive numbers, got {tuple(abs_thresholds)}")
        self.abs_thresholds, self.prefix = thresholds, prefix
        self.names = ("abs_rel", "mae", "rmse", "delta1", "delta2", "delta3", *map(_within_name, thresholds))
        self.add_state("sums", torch.zeros(len(self.names), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor) -> None:
        """Accumulate a batch: ``pred``, ``gt`` (B, 1, H, W) z-depths, ``mask`` (B, 1, H, W) bool."""
        check_map_inputs(pred, gt, mask, "depth")
        valid = mask & (gt > 0)
        gt = torch.where(valid, gt.detach().double(), 1.0)  # no division by 0 or inf outside the mask
        pred = torch.where(valid, pred.detach().double(), 1.0)
        err = (pred - gt).abs()
        ratio = torch.where(pred > 0, torch.maximum(pred / gt, gt / pred), torch.inf)
        per_pixel = [
            err / gt,
            err,
            err.square(),
            *(ratio < DELTA_BASE**k for k in (1, 2, 3)),
            *(err < t for t in self.abs_thresholds),
        ]
        self.sums += torch.stack([(v * valid).sum(dtype=torch.float64) for v in per_pixel])
        self.count += valid.sum()

    def compute(self) -> dict[str, Tensor]:
        values = self.sums / self.count  # 0 / 0 -> NaN for an empty evaluation
        values[2] = values[2].sqrt()
        values[3:] *= 100.0
        return {f"{self.prefix}{name}": v.float() for name, v in zip(self.names, values)}


def depth_errors(pred: Tensor | np.ndarray, gt: Tensor | np.ndarray, mask: Tensor | np.ndarray) -> dict[str, float]:
    """``abs_rel`` and ``delta1`` (percent) of one depth map as :class:`DepthMetrics` defines them, over the pixels
    of ``mask`` with ``gt > 0``; inputs ``(1, H, W)`` or ``(H, W)`` tensors or arrays. Empty dict when no pixel is
    valid."""
    gt, pred = item_map(gt, "gt"), item_map(pred, "pred")
    valid = item_map(mask, "valid").astype(bool) & (gt > 0)
    if not valid.any():
        return {}
    g, p = gt[valid].astype(np.float64), pred[valid].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "delta1": float(np.mean((p > 0) & (ratio < DELTA_BASE)) * 100),
    }
