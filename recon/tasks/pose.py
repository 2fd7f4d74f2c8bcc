"""Relative camera pose task: the loss and metrics of any relative-pose model (the rest:
:class:`~recon.tasks.base.ReconTask`).

A model declares ``problem = "pose"`` and ``inputs`` (e.g. ``("images", "K")``) and returns ``R (B, 3, 3)``,
``t (B, 3)`` (view 0's frame to view 1's), ``valid (B,)`` and ``translation_defined (B,)``.

Loss (learned models): the rotation's chordal distance ``||R - R_true||_F`` plus ``translation_weight`` times
``1 - cos`` of the angle between ``t`` and the true direction; for models that output ``match_logits (B, n, n)`` over
a grid of cells (row-major, ``n = h w`` with the images' aspect) and items with ``depth (B, 2, 1, H, W)``, plus
``match_weight`` times the cross-entropy of each view-0 cell's true match
(:func:`~recon.geometry.poses.cell_correspondences`; cells without one are left out).

Metrics (:class:`~recon.metrics.poses.RelativePoseMetrics`; failures count 180 degrees): ``rotation_error`` and
``translation_error`` (medians, degrees), ``auc@5`` / ``auc@10`` / ``auc@20`` of the pose error, ``failure_rate``,
``pairs``; on the test split also per subset of the items' boolean keys in ``subsets`` (default ``wide``,
``low_texture``): ``test/<subset>/*``. The classical :class:`~recon.models.essential_pose.EssentialPose` (SIFT +
essential matrix + RANSAC) is scored on the same test pairs as ``test/reference/*`` and ``test/reference/<subset>/*``
(``reference: true``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from recon.geometry.poses import cell_correspondences
from recon.metrics.poses import RelativePoseMetrics
from recon.models.essential_pose import EssentialPose
from recon.tasks.base import ReconTask, metric_collection


class PoseTask(ReconTask):
    """Relative pose (module docstring). Args: ``translation_weight`` (>= 0), ``reference`` (score the classical
    baseline on the test split), ``subsets`` (boolean item keys scored separately on the test split)."""

    problem = "pose"
    batch_size_key = "images"
    progress_metric = "val/auc@10"

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        translation_weight: float = 1.0,
        match_weight: float = 1.0,
        reference: bool = True,
        subsets: Sequence[str] = ("wide", "low_texture"),
    ):
        super().__init__(model, optimizer, scheduler)
        if not translation_weight >= 0 or not match_weight >= 0:
            raise ValueError(
                f"task.translation_weight and task.match_weight must be >= 0, got {translation_weight}, {match_weight}"
            )
        self.translation_weight, self.match_weight = float(translation_weight), float(match_weight)
        self.subsets = tuple(subsets)
        self.val_metrics = metric_collection({"pose": RelativePoseMetrics()}, "val/")
        self.test_metrics = self.scored("test/")
        if reference:
            self.reference = EssentialPose()
            self.reference_metrics = self.scored("test/reference/")

    def scored(self, prefix: str):
        metrics = {"pose": RelativePoseMetrics()}
        metrics.update({subset: RelativePoseMetrics(prefix=f"{subset}/") for subset in self.subsets})
        return metric_collection(metrics, prefix)

    def loss_terms(self, out: dict, batch: dict) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        rotation = (out["R"] - batch["R"]).flatten(1).norm(dim=-1).mean()
        direction = F.normalize(batch["t"], dim=-1)
        translation = (1 - (F.normalize(out["t"], dim=-1) * direction).sum(-1)).mean()
        terms = {"rotation": rotation, "translation": translation}
        weights = {"rotation": 1.0, "translation": self.translation_weight}
        if "match_logits" in out and "depth" in batch and self.match_weight > 0:
            terms["match"] = self.match_loss(out["match_logits"], batch)
            weights["match"] = self.match_weight
        return terms, weights

    @staticmethod
    def match_loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """Cross-entropy of the true matches of the cells (0 for a batch without any)."""
        H, W = batch["images"].shape[-2:]
        n = logits.shape[-1]
        h = round((n * H / W) ** 0.5)
        if h * (n // h) != n:
            raise ValueError(f"match_logits over {n} cells do not form a grid with the images' aspect {W}x{H}")
        depth, K = batch["depth"], batch["K"]
        target = cell_correspondences(depth[:, 0], depth[:, 1], K[:, 0], K[:, 1], batch["R"], batch["t"], (h, n // h))
        keep = target >= 0
        if not keep.any():
            return logits.sum() * 0
        return F.cross_entropy(logits[keep], target[keep])

    def update_metrics(self, metrics, out: dict, batch: dict) -> None:
        args = (out["R"], out["t"] * out["translation_defined"][:, None], out["valid"], batch["R"], batch["t"])
        for subset, metric in metrics.items(keep_base=True):
            if subset == "pose":
                metric.update(*args)
                continue
            keep = batch[subset].bool()  # a batch without the subset still updates it (no pairs): no warning
            metric.update(*(a[keep] for a in args))
