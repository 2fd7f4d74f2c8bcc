"""Shape-completion metrics: the scores of :class:`~recon.metrics.chamfer.PointCloudMetrics` on the whole surface
and on the part the input did not observe, so that completing is measured apart from copying the input.

The unobserved part of the ground truth is every surface point farther than ``radius`` from the partial input
cloud; the prediction's share of it is every predicted point farther than ``radius`` from the input. Those two
subsets are scored against each other. A sample whose unobserved ground truth is empty (the input saw everything)
is left out of the unobserved means; a prediction with no point there (e.g. the input returned as is) scores
precision, recall and F-score 0, accuracy 0 and completeness equal to the diagonal of the ground truth's bounding
box -- the empty-cloud convention of the multi-view task.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from recon.geometry.pointcloud import chamfer_distances, nearest_neighbors
from recon.metrics.chamfer import ALL_KEYS, DEFAULT_FSCORE_THRESHOLD

__all__ = ["CompletionMetrics", "farther_than"]


def farther_than(points: torch.Tensor, reference: torch.Tensor, radius: float) -> torch.Tensor:
    """Which of ``points (B, N, 3)`` lie farther than ``radius`` from every point of ``reference (B, M, 3)``:
    (B, N) bool (exact nearest neighbours)."""
    squared, _ = nearest_neighbors(points.detach(), reference.detach())
    return squared > radius**2


class CompletionMetrics(Metric):
    """Mean per-sample scores on the full surface (``<key>``) and on the unobserved part (``unobserved_<key>``),
    with ``unobserved_samples`` (samples with an unobserved part) and ``unobserved_empty`` (those whose prediction
    has no point there).

    ``update(pred (B, N, 3), gt (B, M, 3), partial (B, K, 3))``; ``compute() -> {prefix + key: () tensor}``.

    Args:
        radius: distance from the input beyond which a point counts as unobserved (scene units).
        threshold: F-score threshold (scene units).
        keys: values of :class:`~recon.metrics.chamfer.PointCloudMetrics` to report.
        prefix: prepended to every returned key.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(
        self,
        radius: float = 0.05,
        threshold: float = DEFAULT_FSCORE_THRESHOLD,
        keys: tuple[str, ...] = ("chamfer_l1", "chamfer_l2", "fscore"),
        prefix: str = "",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not radius > 0 or not threshold > 0:
            raise ValueError(f"radius and threshold must be > 0, got {radius}, {threshold}")
        unknown = set(keys) - set(ALL_KEYS)
        if unknown or not keys:
            raise ValueError(f"keys must be a non-empty subset of {ALL_KEYS}, got {tuple(keys)}")
        self.radius, self.threshold, self.keys, self.prefix = float(radius), float(threshold), tuple(keys), prefix
        for key in self.keys:
            self.add_state(key, torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"unobserved_{key}", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("count", "unobserved_samples", "unobserved_empty"):
            self.add_state(name, torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor, partial: torch.Tensor) -> None:
        pred, gt, partial = pred.detach(), gt.detach(), partial.detach()
        full = chamfer_distances(pred, gt, threshold=self.threshold)
        pred_far = farther_than(pred, partial, self.radius)
        gt_far = farther_than(gt, partial, self.radius)
        unobserved = []
        for b in range(len(pred)):
            if not gt_far[b].any():
                continue
            missing = gt[b][gt_far[b]]
            if pred_far[b].any():
                values = chamfer_distances(pred[b][pred_far[b]][None], missing[None], threshold=self.threshold)
                unobserved.append({**{key: values[key][0] for key in ALL_KEYS}, "empty": False})
            else:
                unobserved.append(self._empty_prediction(missing))
        for key in self.keys:
            setattr(self, key, getattr(self, key) + full[key].sum().to(torch.float64))
            name = f"unobserved_{key}"
            state = getattr(self, name)
            setattr(self, name, sum((values[key].to(state) for values in unobserved), state))
        self.count += len(pred)
        self.unobserved_samples += len(unobserved)
        self.unobserved_empty += sum(values["empty"] for values in unobserved)

    @staticmethod
    def _empty_prediction(missing: torch.Tensor) -> dict:
        diagonal = (missing.max(0).values - missing.min(0).values).norm()
        zero = torch.zeros((), dtype=missing.dtype, device=missing.device)
        values = {key: zero for key in ALL_KEYS}
        values.update(
            completeness=diagonal,
            chamfer_l1=diagonal / 2,
            chamfer_l2=diagonal.square() / 2,
            empty=True,
        )
        return values

    def compute(self) -> dict[str, torch.Tensor]:
        out = {key: getattr(self, key) / self.count for key in self.keys}
        samples = self.unobserved_samples.clamp_min(1)
        out.update({f"unobserved_{key}": getattr(self, f"unobserved_{key}") / samples for key in self.keys})
        out.update(unobserved_samples=self.unobserved_samples, unobserved_empty=self.unobserved_empty)
        return {self.prefix + key: value.float() for key, value in out.items()}
