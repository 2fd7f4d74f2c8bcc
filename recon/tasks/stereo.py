"""Stereo matching task: the loss and metrics of any stereo model (the rest: :class:`~recon.tasks.base.ReconTask`).

A stereo model declares ``problem = "stereo"``, ``inputs = ("left", "right")`` and ``max_disparity`` (pixels), and
returns ``{"disparity": (B, 1, H, W)}`` (left disparity, ``x_right = x_left - d``); in training it may also return
``"disparities"``, a list of full-resolution intermediate predictions, last = final.

Loss: smooth L1 (Huber with ``smooth_l1_beta`` px) between prediction and ground truth over the pixels with
ground truth (``valid``) and ``disparity < max_disparity`` (GwcNet/PSMNet: a disparity the model cannot represent
is not a training target); with ``disparities`` the terms are weighted by ``loss_weights`` aligned to the LAST
output (GwcNet's 0.5, 0.5, 0.7, 1.0 for its four; a two-output model gets 0.7, 1.0). A batch without any such pixel
contributes 0, not NaN.

Metrics (:class:`~recon.metrics.stereo.StereoMetrics`, pixel-weighted over the split, thresholds in pixels of the
data's resolution): EPE, bad-1/2/3 (%) and KITTI D1 (%) on every valid pixel (``_all``) and on the non-occluded
ones (``_noc``), for ``val/`` and ``test/``. Beside the model, the task scores OpenCV's semi-global matching
(:class:`~recon.models.sgbm.SGBMStereo` with the model's ``max_disparity``, holes filled as the KITTI devkit does)
on the test split as ``test/reference/*`` (``reference: true``), so every results table carries the classical
baseline.
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn

from recon.metrics.stereo import REGIONS, StereoMetrics
from recon.models.sgbm import SGBMStereo
from recon.tasks.base import ReconTask, metric_collection
from recon.tasks.losses import last_weights, multi_scale_smooth_l1


def region_metrics(prefix: str):
    """EPE, bad-t and D1 on every valid pixel (``_all``) and on the non-occluded ones (``_noc``), logged under
    ``prefix``."""
    return metric_collection({region: StereoMetrics(region) for region in REGIONS}, prefix)


class StereoTask(ReconTask):
    problem = "stereo"
    batch_size_key = "left"
    progress_metric = "val/epe_all"

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        loss_weights: Sequence[float] = (0.5, 0.5, 0.7, 1.0),
        smooth_l1_beta: float = 1.0,
        reference: bool = True,
    ):
        max_disparity = getattr(model, "max_disparity", None)
        if max_disparity is None or not float(max_disparity) > 0:
            raise ValueError(
                f"stereo model {type(model).__name__} must declare a positive `max_disparity` "
                f"(pixels), got {max_disparity!r}"
            )
        weights = [float(w) for w in loss_weights]
        if not weights or any(w < 0 for w in weights):
            raise ValueError(f"task.loss_weights must be a non-empty list of weights >= 0, got {list(loss_weights)}")
        if not smooth_l1_beta > 0:
            raise ValueError(f"task.smooth_l1_beta must be positive, got {smooth_l1_beta}")
        super().__init__(model, optimizer, scheduler)
        self.max_disparity = float(max_disparity)
        self.loss_weights, self.beta = weights, float(smooth_l1_beta)
        self.val_metrics = region_metrics("val/")
        self.test_metrics = region_metrics("test/")
        self.reference = SGBMStereo(max_disparity=self.max_disparity) if reference else None
        self.reference_metrics = region_metrics("test/reference/") if reference else None

    def loss_terms(self, out: dict, batch: dict[str, torch.Tensor]) -> tuple[dict, dict]:
        """``smooth_l1`` of the final prediction, ``smooth_l1_<i>`` of each output when there are several, and
        ``epe`` (no gradient, not in the loss) of the final one, over the supervised mask."""
        gt = batch["disparity"]
        predictions = list(out.get("disparities") or [out["disparity"]])
        for pred in predictions:
            if pred.shape != gt.shape:
                raise ValueError(
                    f"model {type(self.model).__name__} predicts disparity {tuple(pred.shape)} but the "
                    f"ground truth is {tuple(gt.shape)}"
                )
        mask = batch["valid"] & (gt < self.max_disparity)
        weights = last_weights(self.loss_weights, len(predictions), self.model, "disparity maps")
        terms, loss_weights = multi_scale_smooth_l1(predictions, gt, mask, self.beta, weights)
        with torch.no_grad():
            final = predictions[-1]
            terms["epe"] = (final - gt).abs()[mask].mean() if bool(mask.any()) else final.new_zeros(())
        return terms, loss_weights

    def update_metrics(self, metrics, out: dict, batch: dict[str, torch.Tensor]) -> None:
        for metric in metrics.values():
            metric.update(out["disparity"], batch["disparity"], batch[metric.mask_key])
