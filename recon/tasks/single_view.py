"""Single-view reconstruction task: the losses, metrics and references of any single-view model (the rest:
:class:`~recon.tasks.base.ReconTask`).

A model declares the batch keys it consumes (``inputs``; ``train_inputs`` when training needs more, e.g. the
ground truth a VAE's posterior encodes) and returns a dict; the task adds a loss term for every output it knows:
``points`` (Chamfer against the ground-truth surface), ``depth`` (L1 on object pixels), ``mask_logits`` (binary
cross-entropy against the object mask), ``occupancy_logits`` (binary cross-entropy against ``batch["occupancy"]``;
such a model's ``points`` are read out of its grid for the metrics and add no loss) and ``kl`` (a VAE's per-sample
KL divergence, weighted by ``kl_weight`` after a linear warm-up from 0 over ``kl_warmup_epochs``).
Metrics are computed on ``points``. Beside the model, the task scores the non-learned
:class:`~recon.models.medoid_shape.MedoidShape` reference on the test split, so every results table carries it
(``test/reference/*``), and, for occupancy models, the :class:`~recon.models.mean_occupancy.MeanOccupancy` grid
(``test/reference/iou`` at p > 0.5 like the model; ``test/reference/iou_tuned`` at its best training threshold);
both are fitted when testing starts (:meth:`SingleViewTask.fit_reference`) on the datamodule's training split
(``datamodule.train_dataset()``).
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
from recon.metrics.latent import KLSummary
from recon.metrics.occupancy import OccupancyIoU
from recon.metrics.samples import BestOfKChamfer, SampleDiversity
from recon.models.mean_occupancy import MeanOccupancy
from recon.models.medoid_shape import MedoidShape
from recon.tasks.base import ReconTask, metric_collection


def predicts_occupancy(model: nn.Module) -> bool:
    return "occupancy" in getattr(model, "targets", ())


class SingleViewTask(ReconTask):
    problem = "single_view"
    batch_size_key = "points"
    progress_metric = "val/chamfer_l1"

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
        loss_points: int | None = None,
    ):
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
        if loss_points is not None and loss_points < 1:
            raise ValueError(f"task.loss_points must be a positive number of points or null (all), got {loss_points}")
        super().__init__(model, optimizer, scheduler)
        self.loss_kind = loss.removeprefix("chamfer_")
        self.depth_weight, self.mask_weight = depth_weight, mask_weight
        self.kl_weight, self.kl_warmup_epochs = float(kl_weight), float(kl_warmup_epochs)
        self.occupancy_weight, self.num_samples = float(occupancy_weight), int(num_samples)
        self.loss_points = loss_points
        self.sampling = hasattr(model, "sample") and self.num_samples > 0
        occupancy = predicts_occupancy(model)
        self.reference = MedoidShape() if reference else None
        self.occupancy_reference = MeanOccupancy(model.resolution) if occupancy and reference else None

        def model_metrics(prefix: str, test: bool) -> dict:
            metrics = {"points": PointCloudMetrics(fscore_threshold)}
            if occupancy:
                metrics["iou"] = OccupancyIoU()
            if test and self.sampling:
                metrics["best_of_k_chamfer_l1"] = BestOfKChamfer()
                if self.num_samples > 1:
                    metrics["diversity"] = SampleDiversity()
            if test and hasattr(model, "kl_per_dim"):
                metrics["latent"] = KLSummary(model.latent_dim)
            return metric_collection(metrics, prefix)

        self.val_metrics = model_metrics("val/", test=False)
        self.test_metrics = model_metrics("test/", test=True)
        if reference:
            metrics = {"points": PointCloudMetrics(fscore_threshold)}
            if occupancy:
                metrics.update(iou=OccupancyIoU(), iou_tuned=OccupancyIoU())
            self.reference_metrics = metric_collection(metrics, "test/reference/")

    def loss_terms(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], kl_weight: float | None = None
    ) -> tuple[dict, dict]:
        """Loss terms of the outputs in ``out`` (``depth``, ``mask`` and ``occupancy`` already weighted by their
        ``task.*_weight``) and their weights. ``kl`` is logged unweighted beside ``kl_weight`` (default: the full
        ``task.kl_weight``)."""
        terms = {}
        if "occupancy_logits" not in out:  # an occupancy model's points are read out of its grid: no gradient
            terms["chamfer"] = chamfer_loss(out["points"], self.loss_target(batch["points"]), kind=self.loss_kind)
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
        weights = dict.fromkeys(terms, 1.0)
        if "kl" in out:
            weights["kl"] = self.kl_weight if kl_weight is None else float(kl_weight)
            terms["kl"] = out["kl"].mean()
            terms["kl_weight"] = torch.tensor(weights["kl"], device=terms["kl"].device)
        return terms, weights

    def loss_target(self, points: torch.Tensor) -> torch.Tensor:
        """Ground-truth ``points`` (B, P, 3) for the Chamfer loss: in training, a random subset of ``loss_points``
        of them (a new one every step; the points are already a uniform sample of the surface, so this is a smaller
        uniform sample that halves the nearest-neighbour search); all of them otherwise."""
        if not self.training or self.loss_points is None or self.loss_points >= points.shape[1]:
            return points
        return points[:, torch.randperm(points.shape[1], device=points.device)[: self.loss_points]]

    def training_losses(self, out: dict, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self.losses(out, batch, kl_weight=self.kl_weight_at(batch_idx))

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

    def update_metrics(self, metrics, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> None:
        """The model's metrics: points (and occupancy at p > 0.5) of ``out``."""
        metrics["points"].update(out["points"], batch["points"])
        if "iou" in metrics:
            metrics["iou"].update(out["occupancy_logits"] > 0, batch["occupancy"])

    def fit_reference(self, datamodule: pl.LightningDataModule | None) -> None:
        """Fit non-learned modules (the references, or a non-learned model) on the training split: seconds."""
        modules = (self.model, self.reference)
        unfitted = [m for m in modules if m is not None and hasattr(m, "fit") and not bool(m.fitted)]
        occupancy = self.occupancy_reference
        occupancy = occupancy if occupancy is not None and not bool(occupancy.fitted) else None
        if not unfitted and occupancy is None:
            return
        if not hasattr(datamodule, "train_dataset"):
            raise ValueError("the non-learned references are fitted on the training split: test with a datamodule")
        train = datamodule.train_dataset()
        for module in unfitted:
            module.fit(train.points, train.center).to(self.device)
        if occupancy is not None:
            if getattr(train, "occupancy", None) is None:
                raise ValueError("the mean-occupancy reference needs training occupancy: set data.occupancy_resolution")
            occupancy.fit(train.occupancy).to(self.device)

    def update_reference_metrics(self, batch: dict[str, torch.Tensor]) -> None:
        """Score the non-learned references on a test batch."""
        if self.reference is not None:
            self.reference_metrics["points"].update(self.reference(batch["center"])["points"], batch["points"])
        if self.occupancy_reference is not None:
            grids = self.occupancy_reference(batch["center"])
            self.reference_metrics["iou"].update(grids["occupancy"], batch["occupancy"])
            self.reference_metrics["iou_tuned"].update(grids["occupancy_tuned"], batch["occupancy"])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.update_metrics(self.test_metrics, self(batch), batch)
        self.update_reference_metrics(batch)
        if self.sampling:
            # a generator seeded by the batch's first item: the same samples in training's test and in recon-eval
            generator = torch.Generator(device=batch["image"].device).manual_seed(int(batch["index"][0]))
            samples = self.model.sample(
                **{key: batch[key] for key in self.model.inputs}, k=self.num_samples, generator=generator
            )
            self.test_metrics["best_of_k_chamfer_l1"].update(samples, batch["points"])
            if "diversity" in self.test_metrics:
                self.test_metrics["diversity"].update(samples)
        if "latent" in self.test_metrics:
            self.test_metrics["latent"].update(self.model.kl_per_dim(image=batch["image"], points=batch["points"]))
