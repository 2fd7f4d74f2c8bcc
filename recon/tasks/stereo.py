"""Stereo matching task: wraps any stereo model, owns its loss, metrics and optimisation.

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

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from recon.metrics.stereo import StereoMetrics
from recon.models.sgbm import SGBMStereo
from recon.tasks.optimization import configure_optimization

REGIONS = ("all", "nonoccluded")


def masked_smooth_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean smooth-L1 of ``pred - gt`` over ``mask`` (all (B, 1, H, W)); 0 (keeping the graph) for an empty mask."""
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return F.smooth_l1_loss(pred[mask], gt[mask], beta=beta)


def region_metrics(prefix: str) -> nn.ModuleList:
    return nn.ModuleList([StereoMetrics(region, prefix=prefix) for region in REGIONS])


class StereoTask(pl.LightningModule):
    problem = "stereo"

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        loss_weights: Sequence[float] = (0.5, 0.5, 0.7, 1.0),
        smooth_l1_beta: float = 1.0,
        reference: bool = True,
    ):
        super().__init__()
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
        self.model = model
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.max_disparity = float(max_disparity)
        self.loss_weights, self.beta = weights, float(smooth_l1_beta)
        self.val_metrics = region_metrics("val/")
        self.test_metrics = region_metrics("test/")
        self.reference = SGBMStereo(max_disparity=self.max_disparity) if reference else None
        self.reference_metrics = region_metrics("test/reference/") if reference else None

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(**{key: batch[key] for key in self.model.inputs})

    def weights_for(self, count: int) -> list[float]:
        """The last ``count`` loss weights (aligned to the final output)."""
        if count > len(self.loss_weights):
            raise ValueError(
                f"model {type(self.model).__name__} returns {count} disparity maps but task.loss_weights "
                f"has {len(self.loss_weights)} weights {self.loss_weights}: give one per output"
            )
        return self.loss_weights[len(self.loss_weights) - count :]

    def losses(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms and their weighted sum ``loss``: ``smooth_l1`` of the final prediction, ``smooth_l1_<i>`` of
        each output when there are several, and ``epe`` (no gradient) of the final one, over the supervised mask."""
        gt = batch["disparity"]
        predictions = list(out.get("disparities") or [out["disparity"]])
        for pred in predictions:
            if pred.shape != gt.shape:
                raise ValueError(
                    f"model {type(self.model).__name__} predicts disparity {tuple(pred.shape)} but the "
                    f"ground truth is {tuple(gt.shape)}"
                )
        mask = batch["valid"] & (gt < self.max_disparity)
        terms = [masked_smooth_l1(pred, gt, mask, self.beta) for pred in predictions]
        out_terms = {"smooth_l1": terms[-1]}
        if len(terms) > 1:
            out_terms.update({f"smooth_l1_{i}": t for i, t in enumerate(terms)})
        with torch.no_grad():
            final = predictions[-1]
            out_terms["epe"] = (final - gt).abs()[mask].mean() if bool(mask.any()) else final.new_zeros(())
        out_terms["loss"] = sum(w * t for w, t in zip(self.weights_for(len(terms)), terms))
        return out_terms

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms = self.losses(self(batch), batch)
        B = len(batch["left"])
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=B)
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=B)
        return terms["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self(batch)
        self.log("val/loss", self.losses(out, batch)["loss"], sync_dist=True, batch_size=len(batch["left"]))
        for metric in self.val_metrics:
            metric.update(out["disparity"], batch["disparity"], batch[metric.mask_key])

    def on_validation_epoch_end(self) -> None:
        for metric in self.val_metrics:
            values = metric.compute()
            epe = values.pop("val/epe_all", None)
            self.log_dict(values)
            if epe is not None:
                self.log("val/epe_all", epe, prog_bar=True)
            metric.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        prediction = self(batch)["disparity"]
        reference = None
        if self.reference is not None:
            reference = self.reference(batch["left"], batch["right"])["disparity"]
        for metric in self.test_metrics:
            metric.update(prediction, batch["disparity"], batch[metric.mask_key])
        if reference is not None:
            for metric in self.reference_metrics:
                metric.update(reference, batch["disparity"], batch[metric.mask_key])

    def on_test_epoch_end(self) -> None:
        for metrics in (self.test_metrics, self.reference_metrics):
            for metric in metrics or ():
                self.log_dict(metric.compute())
                metric.reset()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int = 0) -> dict[str, torch.Tensor]:
        return self(batch)

    def configure_optimizers(self):
        return configure_optimization(self.model, self.optimizer_factory, self.scheduler_factory)
