"""Relative-pose metrics as the relative-pose literature reports them (SuperGlue, LoFTR): rotation error and
translation-direction error in degrees, and the AUC of the pose error (the larger of the two) at 5 / 10 / 20
degrees.

A failed estimate (the method says it found no pose) counts as 180 degrees in both errors -- it is scored, never
dropped. Where the true translation has no direction (the cameras share their centre: a pure rotation), the pose
error is the rotation error alone. Where the true translation has a direction but the estimate gives none, the
translation error is 180 degrees. The translation error is sign-invariant (``min(e, 180 - e)``, the convention of
essential-matrix evaluations) for every method alike.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from recon.geometry.poses import pose_auc, rotation_error_deg, translation_error_deg

__all__ = ["AUC_THRESHOLDS", "RelativePoseMetrics", "pose_errors"]

AUC_THRESHOLDS = (5.0, 10.0, 20.0)
FAILED = 180.0


def pose_errors(
    R_pred: torch.Tensor, t_pred: torch.Tensor, valid: torch.Tensor, R_true: torch.Tensor, t_true: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair ``(rotation, translation, pose)`` errors in degrees (module docstring): ``R (B, 3, 3)``, ``t (B, 3)``,
    ``valid (B,)`` bool -> three ``(B,)`` float64; translation is NaN where the true translation has no direction."""
    rotation = rotation_error_deg(R_pred.double(), R_true.double())
    translation = translation_error_deg(t_pred.double(), t_true.double(), sign_invariant=True)
    true_direction = t_true.double().norm(dim=-1) > 1e-9
    translation = torch.where(true_direction & translation.isnan(), FAILED, translation)
    rotation = torch.where(valid, rotation, FAILED)
    translation = torch.where(valid & true_direction, translation, torch.where(true_direction, FAILED, float("nan")))
    pose = torch.where(true_direction, torch.maximum(rotation, translation), rotation)
    return rotation, translation, pose


class RelativePoseMetrics(Metric):
    """``update(R_pred (B,3,3), t_pred (B,3), valid (B,), R_true (B,3,3), t_true (B,3))``; ``compute()`` ->
    ``rotation_error`` and ``translation_error`` (medians, degrees), ``auc@5`` / ``auc@10`` / ``auc@20``,
    ``failure_rate`` and ``pairs``, each a () tensor with ``prefix`` prepended."""

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, prefix: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        for name in ("rotation", "translation", "pose", "failed"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, R_pred, t_pred, valid, R_true, t_true) -> None:
        valid = valid.bool()
        rotation, translation, pose = pose_errors(R_pred, t_pred, valid, R_true, t_true)
        self.rotation.append(rotation)
        self.translation.append(translation)
        self.pose.append(pose)
        self.failed.append((~valid).double())

    def compute(self) -> dict[str, torch.Tensor]:
        if not self.pose:
            return {}
        cat = [torch.cat(x) if isinstance(x, list) else x for x in (self.rotation, self.translation, self.pose)]
        rotation, translation, pose = cat
        failed = torch.cat(self.failed) if isinstance(self.failed, list) else self.failed
        if len(pose) == 0:  # only empty updates (a subset absent from the split)
            return {}
        out = {
            "rotation_error": rotation.median(),
            "translation_error": translation.nanmedian(),
            "failure_rate": failed.mean(),
            "pairs": torch.tensor(float(len(pose)), dtype=torch.float64),
        }
        for threshold, auc in zip(AUC_THRESHOLDS, pose_auc(pose, AUC_THRESHOLDS), strict=True):
            out[f"auc@{threshold:g}"] = auc
        return {self.prefix + k: v.to(self.device) for k, v in out.items()}
