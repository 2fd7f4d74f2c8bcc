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
data's resolution): EPE, bad-1/2/3 (%) and KITTI D1 (%) on every valid pixel (``_all``), on the non-occluded ones
(``_noc``) and on the pixels every method can match (``_matchable``: valid, ``x - gt >= 0`` and ``x`` outside the
``sgbm_band(max_disparity)`` left-most columns SGBM never matches; :func:`~recon.metrics.stereo.matchable_mask`),
for ``val/`` and ``test/``. :meth:`StereoTask.region_masks` builds the three masks once per batch from the ground
truth alone, and every method is scored on exactly those masks.

Beside the model, the task scores OpenCV's semi-global matching (:class:`~recon.models.sgbm.SGBMStereo` with the
model's ``max_disparity``) on the test split (``reference: true``), so every results table carries the classical
baseline, twice: ``test/reference/*`` with its unmatched pixels filled as the KITTI devkit does ("filled"), and
``test/reference_raw/*`` with them scored as holes (disparity 0 and an outlier for every bad-t and D1; "raw").
"""

from collections.abc import Callable, Sequence

import torch
from torch import nn

from recon.metrics.stereo import REGIONS, StereoMetrics, matchable_mask
from recon.models.sgbm import SGBMStereo, sgbm_band
from recon.tasks.base import ReconTask, metric_collection
from recon.tasks.losses import last_weights, multi_scale_smooth_l1


def region_metrics(prefix: str):
    """EPE, bad-t and D1 on each region of :data:`~recon.metrics.stereo.REGIONS` (``_all``, ``_noc``,
    ``_matchable``), logged under ``prefix``."""
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
        self.matchable_band = sgbm_band(self.max_disparity)
        self.reference = SGBMStereo(max_disparity=self.max_disparity) if reference else None
        self.reference_metrics = region_metrics("test/reference/") if reference else None
        self.reference_raw_metrics = region_metrics("test/reference_raw/") if reference else None

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

    def region_masks(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mask of each region (keyed by :attr:`StereoMetrics.mask_key`), (B, 1, H, W) bool, from the batch's
        ground truth and :attr:`matchable_band` only: the same for every method scored on the batch."""
        return {
            "valid": batch["valid"],
            "nonoccluded": batch["nonoccluded"],
            "matchable": matchable_mask(batch["valid"], batch["disparity"], self.matchable_band),
        }

    def update_metrics(self, metrics, out: dict, batch: dict[str, torch.Tensor], holes: torch.Tensor | None = None):
        """Score ``out["disparity"]`` on every region; ``holes`` (B, 1, H, W) bool: pixels without an estimate."""
        masks = self.region_masks(batch)
        for metric in metrics.values():
            metric.update(out["disparity"], batch["disparity"], masks[metric.mask_key], holes)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.update_metrics(self.test_metrics, self(batch), batch)
        if self.reference is not None:
            out = self.reference_outputs(batch)
            self.update_metrics(self.reference_metrics, out, batch)
            self.update_metrics(self.reference_raw_metrics, out, batch, holes=~out["matched"])

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self.log_metrics(self.reference_raw_metrics)
