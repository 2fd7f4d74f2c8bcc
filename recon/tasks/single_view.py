"""Single-view reconstruction task: wraps any single-view model, owns its losses, metrics and optimisation.

A model declares the batch keys it consumes (``inputs``; ``train_inputs`` when training needs more, e.g. the
ground truth a VAE's posterior encodes) and returns a dict; the task adds a loss term for every output it knows:
``points`` (Chamfer against the ground-truth surface), ``depth`` (L1 on object pixels), ``mask_logits`` (binary
cross-entropy against the object mask), ``occupancy_logits`` (binary cross-entropy against ``batch["occupancy"]``;
such a model's ``points`` are read out of its grid for the metrics and add no loss) and ``kl`` (a VAE's per-sample
KL divergence, weighted by ``kl_weight`` after a linear warm-up from 0 over ``kl_warmup_epochs``).
Metrics are computed on ``points``. Beside the model, the task scores the non-learned
:class:`~recon.models.medoid_shape.MedoidShape` reference on the test split, so every results table carries it
(``test/reference/*``), and, for occupancy models, the :class:`~recon.models.mean_occupancy.MeanOccupancy` grid
(``test/reference/iou`` at p > 0.5 like the model; ``test/reference/iou_tuned`` at its best training threshold).
Models with ``sample`` (VAEs) are also scored on ``num_samples`` shapes per test image
(``test/best_of_k_chamfer_l1``, ``test/diversity``), models with ``kl_per_dim`` on their latent
(``test/kl_per_dim``, ``test/active_dims``) and occupancy models on ``test/iou`` (and ``val/iou``).
"""

from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from recon.geometry.pointcloud import chamfer_loss
from recon.metrics.chamfer import PointCloudMetrics
from recon.metrics.latent import KLPerDimension
from recon.metrics.occupancy import OccupancyIoU
from recon.metrics.samples import BestOfKChamfer, SampleDiversity
from recon.models.mean_occupancy import MeanOccupancy
from recon.models.medoid_shape import MedoidShape
from recon.tasks.optimization import configure_optimization


def predicts_occupancy(model: nn.Module) -> bool:
    return "occupancy" in getattr(model, "targets", ())


class SingleViewTask(pl.LightningModule):
    problem = "single_view"

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        loss: str = "chamfer_l1",
        depth_weight: float = 1.0,
        mask_weight: float = 0.1,
        fscore_threshold: float = 0.05,
        reference: bool = True,
        kl_weight: float = 1.0e-3,
        kl_warmup_epochs: float = 0.0,
        occupancy_weight: float = 1.0,
        num_samples: int = 5,
    ):
        super().__init__()
        if loss not in ("chamfer_l1", "chamfer_l2"):
            raise ValueError(f"task.loss must be 'chamfer_l1' or 'chamfer_l2', got {loss!r}")
        if fscore_threshold <= 0:
            raise ValueError(f"task.fscore_threshold must be positive, got {fscore_threshold}")
        if kl_weight < 0 or kl_warmup_epochs < 0 or occupancy_weight < 0:
            raise ValueError(
                f"task.kl_weight, task.kl_warmup_epochs and task.occupancy_weight must be >= 0, got "
                f"{kl_weight}, {kl_warmup_epochs}, {occupancy_weight}"
            )
        if num_samples < 0:
            raise ValueError(f"task.num_samples must be >= 0, got {num_samples}")
        self.model = model
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.loss_kind = loss.removeprefix("chamfer_")
        self.depth_weight, self.mask_weight = depth_weight, mask_weight
        self.val_metrics = PointCloudMetrics(fscore_threshold)
        self.test_metrics = PointCloudMetrics(fscore_threshold)
        self.reference = MedoidShape() if reference else None
        self.reference_metrics = PointCloudMetrics(fscore_threshold) if reference else None
        self.kl_weight, self.kl_warmup_epochs = float(kl_weight), float(kl_warmup_epochs)
        self.occupancy_weight, self.num_samples = float(occupancy_weight), int(num_samples)
        self.sampling = hasattr(model, "sample") and self.num_samples > 0
        self.best_of_k = BestOfKChamfer() if self.sampling else None
        self.diversity = SampleDiversity() if self.sampling and self.num_samples > 1 else None
        self.latent_metrics = KLPerDimension(model.latent_dim) if hasattr(model, "kl_per_dim") else None
        occupancy = predicts_occupancy(model)
        self.val_iou = OccupancyIoU() if occupancy else None
        self.test_iou = OccupancyIoU() if occupancy else None
        self.occupancy_reference = MeanOccupancy(model.resolution) if occupancy and reference else None
        self.occupancy_reference_iou = OccupancyIoU() if occupancy and reference else None
        self.occupancy_reference_iou_tuned = OccupancyIoU() if occupancy and reference else None

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keys = getattr(self.model, "train_inputs", self.model.inputs) if self.training else self.model.inputs
        return self.model(**{key: batch[key] for key in keys})

    def losses(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], kl_weight: float | None = None
    ) -> dict[str, torch.Tensor]:
        """Loss terms of the outputs in ``out`` and their sum ``loss``. ``kl`` is logged unweighted beside
        ``kl_weight`` (default: the full ``task.kl_weight``)."""
        terms = {}
        if "occupancy_logits" not in out:  # an occupancy model's points are read out of its grid: no gradient
            terms["chamfer"] = chamfer_loss(out["points"], batch["points"], kind=self.loss_kind)
        mask = batch["mask"]
        if "depth" in out:
            terms["depth"] = self.depth_weight * (out["depth"] - batch["depth"]).abs()[mask].mean()
        if "mask_logits" in out:
            terms["mask"] = self.mask_weight * F.binary_cross_entropy_with_logits(out["mask_logits"], mask.float())
        if "occupancy_logits" in out:
            target = self.occupancy_target(out["occupancy_logits"], batch)
            terms["occupancy"] = self.occupancy_weight * F.binary_cross_entropy_with_logits(
                out["occupancy_logits"], target.float()
            )
        loss = sum(terms.values())
        if "kl" in out:
            weight = self.kl_weight if kl_weight is None else float(kl_weight)
            terms["kl"] = out["kl"].mean()
            terms["kl_weight"] = torch.tensor(weight, device=terms["kl"].device)
            loss = loss + weight * terms["kl"]
        terms["loss"] = loss
        return terms

    def occupancy_target(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch["occupancy"]``, checked against the predicted grid (clear errors naming the config keys)."""
        name, R = type(self.model).__name__, logits.shape[-1]
        if "occupancy" not in batch:
            raise ValueError(
                f"model {name} predicts occupancy and needs ground-truth `occupancy` in the batch: "
                f"set data.occupancy_resolution={R} (model.resolution)"
            )
        target = batch["occupancy"]
        if target.shape != logits.shape:
            raise ValueError(
                f"model {name} predicts occupancy grids {tuple(logits.shape[1:])} but the data gives "
                f"{tuple(target.shape[1:])}: set data.occupancy_resolution={R} (model.resolution)"
            )
        return target

    def kl_weight_at(self, batch_idx: int) -> float:
        """``kl_weight`` after a linear warm-up from 0 over ``kl_warmup_epochs`` (fractional epochs, per batch)."""
        if self.kl_warmup_epochs <= 0:
            return self.kl_weight
        batches = self.trainer.num_training_batches
        epoch = self.current_epoch + ((batch_idx + 1) / batches if 0 < batches < float("inf") else 0.0)
        return self.kl_weight * min(1.0, epoch / self.kl_warmup_epochs)

    def setup(self, stage: str) -> None:
        """An occupancy model's grid must be the data's (the resolution is also checked on every batch)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if not predicts_occupancy(self.model) or not hasattr(datamodule, "occupancy_extent"):
            return
        model_grid = (self.model.resolution, float(self.model.extent))
        data_grid = (datamodule.occupancy_resolution, float(datamodule.occupancy_extent))
        if model_grid != data_grid:
            raise ValueError(
                f"model {type(self.model).__name__} predicts a {model_grid[0]}^3 grid of half-size "
                f"{model_grid[1]} but data.occupancy_resolution, data.occupancy_extent = "
                f"{data_grid[0]}, {data_grid[1]}: make them equal"
            )

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms = self.losses(self(batch), batch, kl_weight=self.kl_weight_at(batch_idx))
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=len(batch["points"]))
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=len(batch["points"]))
        return terms["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self(batch)
        self.log("val/loss", self.losses(out, batch)["loss"], sync_dist=True, batch_size=len(batch["points"]))
        self.val_metrics.update(out["points"], batch["points"])
        if self.val_iou is not None:
            self.val_iou.update(out["occupancy_logits"] > 0, batch["occupancy"])

    def on_validation_epoch_end(self) -> None:
        metrics = self.val_metrics.compute()
        self.log_dict({f"val/{k}": v for k, v in metrics.items() if k != "chamfer_l1"})
        self.log("val/chamfer_l1", metrics["chamfer_l1"], prog_bar=True)
        self.val_metrics.reset()
        if self.val_iou is not None:
            self.log("val/iou", self.val_iou.compute())
            self.val_iou.reset()

    def on_test_start(self) -> None:
        """Fit non-learned modules (the reference, or a non-learned model) on the training split: seconds."""
        for module in (self.model, self.reference):
            if module is not None and hasattr(module, "fit") and not bool(module.fitted):
                train = self.trainer.datamodule.datasets["train"]
                module.fit(train.points, train.center).to(self.device)
        reference = self.occupancy_reference
        if reference is not None and not bool(reference.fitted):
            train = self.trainer.datamodule.datasets["train"]
            if getattr(train, "occupancy", None) is None:
                raise ValueError("the mean-occupancy reference needs training occupancy: set data.occupancy_resolution")
            reference.fit(train.occupancy).to(self.device)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self(batch)
        self.test_metrics.update(out["points"], batch["points"])
        if self.reference is not None:
            self.reference_metrics.update(self.reference(batch["center"])["points"], batch["points"])
        if self.test_iou is not None:
            self.test_iou.update(out["occupancy_logits"] > 0, batch["occupancy"])
            if self.occupancy_reference is not None:
                grids = self.occupancy_reference(batch["center"])
                self.occupancy_reference_iou.update(grids["occupancy"], batch["occupancy"])
                self.occupancy_reference_iou_tuned.update(grids["occupancy_tuned"], batch["occupancy"])
        if self.sampling:
            # a generator seeded by the batch's first item: the same samples in training's test and in recon-eval
            generator = torch.Generator(device=batch["image"].device).manual_seed(int(batch["index"][0]))
            samples = self.model.sample(
                **{key: batch[key] for key in self.model.inputs}, k=self.num_samples, generator=generator
            )
            self.best_of_k.update(samples, batch["points"])
            if self.diversity is not None:
                self.diversity.update(samples)
        if self.latent_metrics is not None:
            self.latent_metrics.update(self.model.kl_per_dim(image=batch["image"], points=batch["points"]))

    def on_test_epoch_end(self) -> None:
        self.log_dict({f"test/{k}": v for k, v in self.test_metrics.compute().items()})
        self.test_metrics.reset()
        if self.reference is not None:
            self.log_dict({f"test/reference/{k}": v for k, v in self.reference_metrics.compute().items()})
            self.reference_metrics.reset()
        extra = {}
        if self.test_iou is not None:
            extra["test/iou"] = self.test_iou.compute()
            if self.occupancy_reference is not None:
                extra["test/reference/iou"] = self.occupancy_reference_iou.compute()
                extra["test/reference/iou_tuned"] = self.occupancy_reference_iou_tuned.compute()
        if self.sampling:
            extra["test/best_of_k_chamfer_l1"] = self.best_of_k.compute()
            if self.diversity is not None:
                extra["test/diversity"] = self.diversity.compute()
        if self.latent_metrics is not None:
            extra.update({f"test/{k}": v for k, v in self.latent_metrics.summary().items()})
        if extra:
            self.log_dict(extra)
        for metric in (
            self.test_iou,
            self.occupancy_reference_iou,
            self.occupancy_reference_iou_tuned,
            self.best_of_k,
            self.diversity,
            self.latent_metrics,
        ):
            if metric is not None:
                metric.reset()

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int = 0) -> dict[str, torch.Tensor]:
        return self(batch)

    def configure_optimizers(self):
        return configure_optimization(self.model, self.optimizer_factory, self.scheduler_factory)
