"""The LightningModule every recon task builds on: model, weighted loss, metric logging, optimiser, prediction.

A task subclass says what is specific to its problem:

- :meth:`~ReconTask.loss_terms`: the named loss terms of a batch (each logged as ``train/<name>``) and the weight of
  each term the optimised loss sums (terms without a weight, e.g. a metric computed without gradient, are only
  logged). :meth:`~ReconTask.losses` returns the terms and their weighted sum ``loss``.
- ``val_metrics``, ``test_metrics`` and, for the non-learned ``reference`` scored beside the model on the test split,
  ``reference_metrics``: :class:`~torchmetrics.MetricCollection` objects with the log prefix of their keys (``val/``,
  ``test/``, ``test/reference/``), filled by :meth:`~ReconTask.update_metrics`; at the end of each epoch
  :meth:`~ReconTask.log_metrics` logs and resets them.
- :meth:`~ReconTask.fit_reference`: fit non-learned modules on the datamodule's training split when testing starts.

See ``docs/ARCHITECTURE.md`` for how tasks, models and datamodules fit together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import Metric, MetricCollection

from recon.tasks.optimization import configure_optimization

Batch = dict[str, torch.Tensor]


def metric_collection(metrics: Mapping[str, Metric], prefix: str) -> MetricCollection:
    """``metrics`` logged under ``prefix``: a metric returning a dict adds its own keys, any other its name.
    Every metric keeps its own states (no compute groups: metrics of different masks may look alike on a batch)."""
    return MetricCollection(dict(metrics), prefix=prefix, compute_groups=False)


class ReconTask(pl.LightningModule):
    """Wraps a model that returns a dict; owns the loss weighting, logging, metric epochs and optimisation.

    Class attributes of a subclass: ``problem`` (the problem its models declare), ``batch_size_key`` (a batch key
    whose first dimension is the batch size) and ``progress_metric`` (the validation key shown on the progress bar).
    """

    problem: str
    batch_size_key: str
    progress_metric: str

    def __init__(self, model: nn.Module, optimizer: Callable | None = None, scheduler: Callable | None = None):
        super().__init__()
        self.model = model
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.reference: nn.Module | None = None
        self.val_metrics: MetricCollection | None = None
        self.test_metrics: MetricCollection | None = None
        self.reference_metrics: MetricCollection | None = None

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The model's outputs; in training it gets ``train_inputs`` when it declares them (e.g. a VAE's ground
        truth), otherwise ``inputs``."""
        keys = getattr(self.model, "train_inputs", self.model.inputs) if self.training else self.model.inputs
        return self.model(**{key: batch[key] for key in keys})

    # losses

    def loss_terms(self, out: dict, batch: Batch) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Named loss terms of ``out`` and the weight of each term the loss sums, in summation order."""
        raise NotImplementedError

    def losses(self, out: dict, batch: Batch, **options) -> dict[str, torch.Tensor]:
        """The terms of :meth:`loss_terms` (``options`` go to it) and their weighted sum ``loss``."""
        terms, weights = self.loss_terms(out, batch, **options)
        terms["loss"] = sum(weight * terms[name] for name, weight in weights.items())
        return terms

    def training_losses(self, out: dict, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """The losses of a training batch (a subclass may schedule a weight by ``batch_idx``)."""
        return self.losses(out, batch)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        terms = self.training_losses(self(batch), batch, batch_idx)
        B = len(batch[self.batch_size_key])
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=B)
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=B)
        return terms["loss"]

    # metrics

    def update_metrics(self, metrics: MetricCollection, out: dict, batch: Batch) -> None:
        """Add a batch's predictions ``out`` (of the model or the reference) to ``metrics``."""
        raise NotImplementedError

    def log_metrics(self, metrics: MetricCollection | None) -> None:
        """Log every value of ``metrics`` (:attr:`progress_metric` on the progress bar) and reset it."""
        if metrics is None:
            return
        values = metrics.compute()
        progress = {k: values.pop(k) for k in [self.progress_metric] if k in values}
        self.log_dict(values)
        if progress:
            self.log_dict(progress, prog_bar=True)
        metrics.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        out = self(batch)
        B = len(batch[self.batch_size_key])
        self.log("val/loss", self.losses(out, batch)["loss"], sync_dist=True, batch_size=B)
        self.update_metrics(self.val_metrics, out, batch)

    def on_validation_epoch_end(self) -> None:
        self.log_metrics(self.val_metrics)

    def fit_reference(self, datamodule: pl.LightningDataModule | None) -> None:
        """Fit the non-learned modules the test scores on ``datamodule``'s training split (default: none)."""

    def on_test_start(self) -> None:
        self.fit_reference(getattr(self.trainer, "datamodule", None))

    def reference_outputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.reference(**{key: batch[key] for key in self.reference.inputs})

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self.update_metrics(self.test_metrics, self(batch), batch)
        if self.reference is not None:
            self.update_metrics(self.reference_metrics, self.reference_outputs(batch), batch)

    def on_test_epoch_end(self) -> None:
        self.log_metrics(self.test_metrics)
        self.log_metrics(self.reference_metrics)

    # prediction and optimisation

    def predict_step(self, batch: Batch, batch_idx: int = 0) -> dict[str, torch.Tensor]:
        return self(batch)

    def configure_optimizers(self):
        return configure_optimization(self.model, self.optimizer_factory, self.scheduler_factory)
