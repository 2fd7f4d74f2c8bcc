"""Loss terms shared by the dense-map tasks (stereo disparity, multi-view depth): masked smooth L1 of every output of
a multi-scale model, weighted by weights aligned to the last (final) output."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def masked_smooth_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean smooth-L1 of ``pred - gt`` over ``mask`` (all (B, 1, H, W)); 0 (keeping the graph) for an empty mask."""
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return F.smooth_l1_loss(pred[mask], gt[mask], beta=beta)


def last_weights(weights: Sequence[float], count: int, model: nn.Module, maps: str) -> list[float]:
    """The last ``count`` of ``weights`` (aligned to the final output); a ``ValueError`` naming ``model`` and its
    ``count`` ``maps`` (e.g. "depth maps") when there are fewer weights than outputs."""
    if count > len(weights):
        raise ValueError(
            f"model {type(model).__name__} returns {count} {maps} but task.loss_weights "
            f"has {len(weights)} weights {weights}: give one per output"
        )
    return list(weights[len(weights) - count :])


def multi_scale_smooth_l1(
    predictions: Sequence[torch.Tensor], gt: torch.Tensor, mask: torch.Tensor, beta: float, weights: Sequence[float]
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Loss terms of a model's outputs (last = final) against ``gt`` over ``mask`` and their weights (``weights``
    aligned to the final output, see :func:`last_weights`): ``smooth_l1`` of the final output and, when there are
    several, ``smooth_l1_<i>`` of each, which then carry the weights (``smooth_l1`` is only logged)."""
    terms = [masked_smooth_l1(pred, gt, mask, beta) for pred in predictions]
    named = {"smooth_l1": terms[-1]}
    if len(terms) == 1:
        return named, {"smooth_l1": weights[-1]}
    named.update({f"smooth_l1_{i}": t for i, t in enumerate(terms)})
    return named, {f"smooth_l1_{i}": w for i, w in enumerate(weights)}
