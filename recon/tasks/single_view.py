"""Single-view reconstruction task: wraps any single-view model, owns its losses, metrics and optimisation.

A model declares the batch keys it consumes (``inputs``) and returns a dict; the task adds a loss term for every
output it knows: ``points`` (Chamfer against the ground-truth surface), ``depth`` (L1 on object pixels) and
``mask_logits`` (binary cross-entropy against the object mask). Metrics are computed on ``points``.
Beside the model, the task scores the non-learned :class:`~recon.models.medoid_shape.MedoidShape` reference
on the test split, so every results table carries it (``test/reference/*``).
"""
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from recon.geometry.pointcloud import chamfer_loss
from recon.metrics.chamfer import PointCloudMetrics
from recon.models.medoid_shape import MedoidShape


class SingleViewTask(pl.LightningModule):
    problem = "single_view"

    def __init__(self, model: nn.Module, optimizer: Callable | None = None, scheduler: Callable | None = None,
                 loss: str = "chamfer_l1", depth_weight: float = 1.0, mask_weight: float = 0.1,
                 fscore_threshold: float = 0.05, reference: bool = True):
        super().__init__()
        if loss not in ("chamfer_l1", "chamfer_l2"):
            raise ValueError(f"task.loss must be 'chamfer_l1' or 'chamfer_l2', got {loss!r}")
        if fscore_threshold <= 0:
            raise ValueError(f"task.fscore_threshold must be positive, got {fscore_threshold}")
        self.model = model
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.loss_kind = loss.removeprefix("chamfer_")
        self.depth_weight, self.mask_weight = depth_weight, mask_weight
        self.val_metrics = PointCloudMetrics(fscore_threshold)
        self.test_metrics = PointCloudMetrics(fscore_threshold)
        self.reference = MedoidShape() if reference else None
        self.reference_metrics = PointCloudMetrics(fscore_threshold) if reference else None

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(**{key: batch[key] for key in self.model.inputs})

    def losses(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        terms = {"chamfer": chamfer_loss(out["points"], batch["points"], kind=self.loss_kind)}
        mask = batch["mask"]
        if "depth" in out:
            terms["depth"] = self.depth_weight * (out["depth"] - batch["depth"]).abs()[mask].mean()
        if "mask_logits" in out:
            terms["mask"] = self.mask_weight * F.binary_cross_entropy_with_logits(out["mask_logits"], mask.float())
        terms["loss"] = sum(terms.values())
        return terms

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms = self.losses(self(batch), batch)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=len(batch["points"]))
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=len(batch["points"]))
        return terms["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self(batch)
        self.log("val/loss", self.losses(out, batch)["loss"], sync_dist=True, batch_size=len(batch["points"]))
        self.val_metrics.update(out["points"], batch["points"])

    def on_validation_epoch_end(self) -> None:
        metrics = self.val_metrics.compute()
        self.log_dict({f"val/{k}": v for k, v in metrics.items() if k != "chamfer_l1"})
        self.log("val/chamfer_l1", metrics["chamfer_l1"], prog_bar=True)
        self.val_metrics.reset()

    def on_test_start(self) -> None:
        """Fit non-learned modules (the reference, or a non-learned model) on the training split: seconds."""
        for module in (self.model, self.reference):
            if module is not None and hasattr(module, "fit") and not bool(module.fitted):
                train = self.trainer.datamodule.datasets["train"]
                module.fit(train.points, train.center).to(self.device)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.test_metrics.update(self(batch)["points"], batch["points"])
        if self.reference is not None:
            self.reference_metrics.update(self.reference(batch["center"])["points"], batch["points"])

    def on_test_epoch_end(self) -> None:
        self.log_dict({f"test/{k}": v for k, v in self.test_metrics.compute().items()})
        self.test_metrics.reset()
        if self.reference is not None:
            self.log_dict({f"test/reference/{k}": v for k, v in self.reference_metrics.compute().items()})
            self.reference_metrics.reset()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int = 0) -> dict[str, torch.Tensor]:
        return self(batch)

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ValueError("task.optimizer is not set: training needs an optimizer config")
        optimizer = self.optimizer_factory(params=self.model.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "epoch"}}
