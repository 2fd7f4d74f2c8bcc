"""Input checks and conversions shared by the metrics of dense maps (disparity, depth)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def check_map_inputs(pred: Tensor, gt: Tensor, mask: Tensor, quantity: str) -> None:
    """Raise ValueError unless ``pred`` and ``gt`` are floating (B, 1, H, W) ``quantity`` maps of one shape, ``mask``
    a bool map of that shape, ``pred`` finite everywhere and ``gt`` finite inside ``mask``."""
    for name, t in (("pred", pred), ("gt", gt)):
        if not isinstance(t, Tensor) or t.ndim != 4 or t.shape[1] != 1 or not t.is_floating_point():
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a floating-point (B, 1, H, W) {quantity} map, got {got}")
    if gt.shape != pred.shape:
        raise ValueError(f"pred and gt must have one shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != pred.shape:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor of shape {tuple(pred.shape)}, got {got}")
    if not bool(torch.isfinite(pred).all()):
        bad = int((~torch.isfinite(pred)).sum())
        raise ValueError(f"pred contains {bad} NaN/Inf {quantity} values; refusing to score a broken prediction")
    if not bool(torch.isfinite(gt[mask]).all()):
        raise ValueError("gt has NaN/Inf inside mask; invalid ground-truth pixels must be excluded by the mask")


def item_map(x: Tensor | np.ndarray, name: str) -> np.ndarray:
    """One item's map, ``(1, H, W)`` or ``(H, W)`` tensor or array -> ``(H, W)`` float32 array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().float().numpy()
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (1, H, W) or (H, W), got shape {tuple(a.shape)}")
    return a
