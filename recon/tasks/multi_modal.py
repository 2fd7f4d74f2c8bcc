"""Multi-modal reconstruction task (image + depth + partial cloud -> complete shape): the single-view task's losses
and training, scored as completion.

Metrics (:class:`~recon.metrics.completion.CompletionMetrics`): Chamfer-L1/L2 and F-score on the whole surface and
on the part the input did not observe (``unobserved_*``: farther than ``unobserved_radius`` from the partial cloud).
Two non-learned baselines are scored in the same test loop, from the same inputs a model gets (never the true
centre):

- ``test/partial_input/*``: the partial cloud itself, returned as the completion;
- ``test/reference/*``: the partial cloud plus the medoid training shape
  (:class:`~recon.models.medoid_shape.MedoidShape`, fitted on the training split) placed on it by translation-only
  ICP (:func:`~recon.geometry.alignment.fit_translation`), starting one object radius behind the cloud's centroid
  along the viewing ray.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from recon.geometry.alignment import fit_translation
from recon.metrics.completion import CompletionMetrics
from recon.models.medoid_shape import MedoidShape
from recon.tasks.base import metric_collection
from recon.tasks.single_view import SingleViewTask


class MultiModalTask(SingleViewTask):
    """:class:`~recon.tasks.single_view.SingleViewTask` with completion metrics and baselines (module docstring).

    Args (beyond the single-view task's): ``unobserved_radius`` (scene units), ``reference_points`` (points of the
    medoid completion, added to the partial cloud).
    """

    problem = "multi_modal"

    def __init__(self, model, *args, unobserved_radius: float = 0.1, reference_points: int = 1024, **kwargs):
        if not unobserved_radius > 0:
            raise ValueError(f"task.unobserved_radius must be positive, got {unobserved_radius}")
        super().__init__(model, *args, **kwargs)
        self.unobserved_radius = float(unobserved_radius)
        threshold = self.val_metrics["points"].threshold
        for collection in (self.val_metrics, self.test_metrics):
            collection["points"] = CompletionMetrics(self.unobserved_radius, threshold)
        self.partial_metrics = None
        if self.reference is not None:
            self.reference = MedoidShape(num_points=int(reference_points))
            self.reference_metrics, self.partial_metrics = (
                metric_collection({"points": CompletionMetrics(self.unobserved_radius, threshold)}, prefix)
                for prefix in ("test/reference/", "test/partial_input/")
            )

    def update_metrics(self, metrics, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> None:
        metrics["points"].update(out["points"], batch["points"], batch["partial_points"])

    def medoid_completion(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The partial cloud plus the medoid shape placed on it: (B, K + reference_points, 3)."""
        partial = batch["partial_points"]
        template = self.reference.template
        centroid = partial.mean(1)
        init = centroid + template.norm(dim=-1).max() * F.normalize(centroid, dim=-1)
        t = fit_translation(template, partial, init)
        return torch.cat([partial, template + t[:, None]], dim=1)

    def update_reference_metrics(self, batch: dict[str, torch.Tensor]) -> None:
        if self.reference is None:
            return
        partial = batch["partial_points"]
        self.reference_metrics["points"].update(self.medoid_completion(batch), batch["points"], partial)
        self.partial_metrics["points"].update(partial, batch["points"], partial)

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self.log_metrics(self.partial_metrics)
