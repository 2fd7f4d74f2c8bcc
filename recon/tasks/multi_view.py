"""Multi-view stereo task: the loss, metrics and fused clouds of any multi-view stereo model (the rest:
:class:`~recon.tasks.base.ReconTask`).

A model declares ``problem = "multi_view"`` and ``inputs`` (batch keys, e.g. ``("images", "K", "T_cw",
"depth_range")``) and returns ``{"depth": (B, 1, H, W), "confidence": (B, 1, H, W)}`` for the reference view
(view 0); in training it may add ``"depths"``, a list of full-resolution intermediate depth maps, last = final.

Loss: smooth L1 between prediction and ground truth *divided by the item's depth range* ``far - near``, over the
pixels with ground truth (``mask``) whose depth lies in ``[near, far]`` (the depths the hypotheses can represent).
Dividing by the range makes the loss scale-free: a DTU scene in millimetres and a synthetic scene in metres give the
same loss for the same relative error, so ``smooth_l1_beta`` (a fraction of the range; 0 = L1) and the learning
rate carry over between datasets. With ``depths`` the terms are weighted by ``loss_weights`` aligned to the LAST
output (CasMVSNet's 0.5 : 1 : 2 for its three stages, scaled so the final output weighs 1). A batch without any
supervised pixel contributes 0, not NaN.

Metrics (:class:`~recon.metrics.depth.DepthMetrics`, pixel-weighted over the split, on every ``mask`` pixel):
``abs_rel``, ``mae``, ``rmse``, ``delta1..3`` and ``within{t}`` for ``abs_thresholds``, as ``val/`` and ``test/``.
Beside the model, the non-learned :class:`~recon.models.plane_sweep.PlaneSweepStereo` is scored on the test split as
``test/reference/*`` (``reference: true``).

Fused clouds (``fuse: true``, test split, items with ``scene`` () int64 and world-frame ``points`` (N, 3)): the
reference-view predictions of the test items are kept per scene (CPU memory: 21 bytes per pixel and item, on every
process) and at the end of the test epoch every scene's depth maps (one size per scene) are fused
(:func:`~recon.geometry.fusion.fuse_depth_maps` with the ``fusion_*`` thresholds) and scored against the scene's
``points`` (:class:`~recon.metrics.chamfer.PointCloudMetrics`): ``test/accuracy``, ``test/completeness``,
``test/overall`` (the mean of those two, DTU's), ``test/precision``, ``test/recall``, ``test/fscore`` (in [0, 1] at
``fscore_threshold``) and ``test/fused_points`` (mean scored points per scene); likewise ``test/reference/*``.

What is scored: the ground truth ``points`` sample only the objects' surfaces, while the depth maps also see the
ground (and, in trajectory scenes, walls and rods). Items with an ``object_mask`` (1, H, W) therefore score only the
fused points that come from object pixels of their view (``region`` of ``fuse_depth_maps``; the fusion filter
itself still uses every depth); the same region for every method, the way DTU's evaluation scores only inside its
observation masks. Items without ``object_mask`` score every fused point.

Empty clouds count: a scene with no scored point has precision, recall and F-score 0, completeness "as if nothing
were reconstructed" (every ground-truth point at the diagonal of the ground truth's bounding box) and no accuracy
(left out of the accuracy mean only). Every scene is in every other mean; ``test/empty_clouds`` is their number.
With ``fused_dir`` the model's scored clouds of the first ``fused_scenes`` scenes (by id; null: all) are also written
there as ``scene_<id>.ply``, each with its views' cameras as ``scene_<id>_cameras.npz`` (``K (V, 3, 3)``, ``T_cw
(V, 4, 4)``, ``size (2,)``: what recon-report draws beside the cloud). Under DDP the kept views
are gathered on every process first (items repeated to pad the last batch are kept once, by ``index``) and the
scenes are shared out.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from recon.geometry.fusion import fuse_depth_maps
from recon.metrics.chamfer import PointCloudMetrics
from recon.metrics.depth import DepthMetrics
from recon.tasks.base import ReconTask, metric_collection
from recon.tasks.losses import last_weights, multi_scale_smooth_l1
from recon.viz.export import write_point_cloud

CLOUD_KEYS = ("accuracy", "completeness", "precision", "recall", "fscore")


def check_prediction(out, gt: torch.Tensor, model: nn.Module) -> None:
    """Raise a ``ValueError`` naming the model unless ``out`` holds ``depth`` (and ``confidence``, ``depths`` when
    given) of the ground truth's shape ``(B, 1, H, W)``."""
    name = type(model).__name__
    if not isinstance(out, dict) or not isinstance(out.get("depth"), torch.Tensor):
        raise ValueError(
            f"multi-view model {name} must return a dict with a `depth` tensor (B, 1, H, W), got "
            f"{sorted(out) if isinstance(out, dict) else type(out).__name__}"
        )
    maps = {"depth": out["depth"], **({"confidence": out["confidence"]} if "confidence" in out else {})}
    maps.update({f"depths[{i}]": d for i, d in enumerate(out.get("depths") or ())})
    for key, t in maps.items():
        if not isinstance(t, torch.Tensor) or t.shape != gt.shape:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(
                f"multi-view model {name} predicts {key} {got} but the reference depth is "
                f"{tuple(gt.shape)} (B, 1, H, W): predict at the reference image's resolution"
            )


def depth_metrics(abs_thresholds: Sequence[float], prefix: str):
    """AbsRel, MAE, RMSE, delta and ``within{t}`` accuracies, logged under ``prefix``."""
    return metric_collection({"depth": DepthMetrics(abs_thresholds)}, prefix)


class MultiViewTask(ReconTask):
    problem = "multi_view"
    batch_size_key = "depth"
    progress_metric = "val/abs_rel"

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        loss_weights: Sequence[float] = (0.25, 0.5, 1.0),
        smooth_l1_beta: float = 0.01,
        abs_thresholds: Sequence[float] = (),
        reference: bool = True,
        fuse: bool = True,
        fusion_confidence: float = 0.8,
        fusion_min_views: int = 3,
        fusion_pixel_threshold: float = 1.0,
        fusion_relative_depth: float = 0.01,
        fusion_average: bool = True,
        fscore_threshold: float = 0.05,
        max_distance: float | None = None,
        fused_dir: str | None = None,
        fused_scenes: int | None = None,
    ):
        weights = [float(w) for w in loss_weights]
        if not weights or any(w < 0 for w in weights):
            raise ValueError(f"task.loss_weights must be a non-empty list of weights >= 0, got {list(loss_weights)}")
        if not smooth_l1_beta >= 0:
            raise ValueError(f"task.smooth_l1_beta must be >= 0 (0 = L1), got {smooth_l1_beta}")
        if int(fusion_min_views) != fusion_min_views or fusion_min_views < 0:
            raise ValueError(f"task.fusion_min_views must be an integer >= 0, got {fusion_min_views}")
        if not (fusion_pixel_threshold > 0 and fusion_relative_depth > 0):
            raise ValueError(
                f"task.fusion_pixel_threshold and task.fusion_relative_depth must be > 0, got "
                f"{fusion_pixel_threshold}, {fusion_relative_depth}"
            )
        super().__init__(model, optimizer, scheduler)
        self.loss_weights, self.beta = weights, float(smooth_l1_beta)
        self.val_metrics = depth_metrics(abs_thresholds, "val/")
        self.test_metrics = depth_metrics(abs_thresholds, "test/")
        if reference:
            from recon.models.plane_sweep import PlaneSweepStereo  # the non-learned baseline, only when scored

            self.reference = PlaneSweepStereo()
        self.reference_metrics = depth_metrics(abs_thresholds, "test/reference/") if reference else None
        self.fuse = bool(fuse)
        self.fusion_kwargs = {
            "confidence_threshold": float(fusion_confidence),
            "min_views": int(fusion_min_views),
            "pixel_threshold": float(fusion_pixel_threshold),
            "relative_depth_threshold": float(fusion_relative_depth),
            "average": bool(fusion_average),
        }
        self.cloud_metrics = nn.ModuleDict(
            {
                name: PointCloudMetrics(threshold=fscore_threshold, max_distance=max_distance, keys=CLOUD_KEYS)
                for name in (("model", "reference") if reference else ("model",))
            }
        )
        if fused_scenes is not None and (int(fused_scenes) != fused_scenes or fused_scenes < 0):
            raise ValueError(f"task.fused_scenes must be an integer >= 0 or null (all), got {fused_scenes}")
        self.fused_dir, self.fused_scenes = fused_dir, fused_scenes
        self._views: dict[str, dict] = {}

    def loss_terms(self, out: dict, batch: dict[str, torch.Tensor]) -> tuple[dict, dict]:
        """``smooth_l1`` of the final prediction, ``smooth_l1_<i>`` of each output when there are several (errors in
        units of the depth range), and ``abs_rel`` (no gradient, not in the loss) of the final one, over the mask
        pixels inside the depth range."""
        gt = batch["depth"]
        check_prediction(out, gt, self.model)
        predictions = list(out.get("depths") or [out["depth"]])
        near, far = (r.view(-1, 1, 1, 1) for r in batch["depth_range"].unbind(-1))
        mask = batch["mask"] & (gt >= near) & (gt <= far)
        scale = far - near
        weights = last_weights(self.loss_weights, len(predictions), self.model, "depth maps")
        scaled = [pred / scale for pred in predictions]
        terms, loss_weights = multi_scale_smooth_l1(scaled, gt / scale, mask, self.beta, weights)
        with torch.no_grad():
            final = predictions[-1]
            terms["abs_rel"] = ((final - gt).abs() / gt)[mask].mean() if bool(mask.any()) else final.new_zeros(())
        return terms, loss_weights

    def update_metrics(self, metrics, out: dict, batch: dict[str, torch.Tensor]) -> None:
        metrics["depth"].update(out["depth"], batch["depth"], batch["mask"])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self(batch)
        check_prediction(out, batch["depth"], self.model)
        self.update_metrics(self.test_metrics, out, batch)
        self.keep_views("model", out, batch)
        if self.reference is not None:
            ref = self.reference_outputs(batch)
            check_prediction(ref, batch["depth"], self.reference)
            self.update_metrics(self.reference_metrics, ref, batch)
            self.keep_views("reference", ref, batch)

    def keep_views(self, name: str, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> None:
        """Keep each item's reference view (depth, confidence, camera, image, scored region) and its scene's
        ``points``, on CPU."""
        if not self.fuse or "scene" not in batch or "points" not in batch:
            return
        scenes = self._views.setdefault(name, defaultdict(lambda: {"views": {}, "points": None}))
        confidence, region = out.get("confidence"), batch.get("object_mask")
        for b, scene in enumerate(batch["scene"]):
            entry = scenes[int(scene)]
            entry["points"] = batch["points"][b].detach().float().cpu()
            entry["views"][int(batch["index"][b])] = tuple(
                t.detach().float().cpu()
                for t in (
                    out["depth"][b],
                    torch.ones_like(out["depth"][b]) if confidence is None else confidence[b],
                    batch["K"][b, 0],
                    batch["T_cw"][b, 0],
                    batch["images"][b, 0],
                    torch.ones_like(batch["depth"][b], dtype=torch.bool) if region is None else region[b].bool(),
                )
            )

    def gathered_views(self) -> dict[str, dict]:
        """The kept views of every process (plain dicts), sorted by scene id."""
        local = {name: {s: dict(e) for s, e in scenes.items()} for name, scenes in self._views.items()}
        parts = [local]
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, local)
        merged: dict[str, dict] = {}
        for part in parts:
            for name, scenes in part.items():
                for scene, entry in scenes.items():
                    into = merged.setdefault(name, {}).setdefault(scene, {"views": {}, "points": entry["points"]})
                    into["views"].update(entry["views"])
        return {name: dict(sorted(scenes.items())) for name, scenes in merged.items()}

    def fused_cloud(self, views: dict[int, tuple]) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse one scene's kept views -> the scored points (N, 3) and their colours (N, 3)."""
        depth, confidence, K, T_cw, images, region = (torch.stack(t) for t in zip(*(views[i] for i in sorted(views))))
        return fuse_depth_maps(depth, K, T_cw, images, confidence, region, **self.fusion_kwargs)

    def score_fused_clouds(self) -> None:
        rank, world = self.global_rank, self.trainer.world_size
        for name, scenes in self.gathered_views().items():
            metric, prefix = self.cloud_metrics[name], "test/" if name == "model" else "test/reference/"
            # scenes, scored points, empty clouds, completeness of the empty clouds
            counts = torch.zeros(4, dtype=torch.float64, device=self.device)
            for k, (scene, entry) in enumerate(scenes.items()):
                if k % world != rank:
                    continue
                points, colors = self.fused_cloud(entry["views"])
                gt = entry["points"]
                if len(points) == 0:
                    diagonal = float((gt.amax(0) - gt.amin(0)).norm()) if len(gt) else 0.0
                    counts += torch.tensor([1.0, 0.0, 1.0, diagonal], dtype=torch.float64, device=self.device)
                    warnings.warn(
                        f"{name}: the fused cloud of scene {scene} is empty (no scored pixel passed the fusion "
                        f"filter: see task.fusion_*); it scores F = 0 and completeness {diagonal:.4g}",
                        stacklevel=2,
                    )
                    continue
                counts += torch.tensor([1.0, len(points), 0.0, 0.0], dtype=torch.float64, device=self.device)
                metric.update([points.to(self.device)], [gt.to(self.device)])
                if self.fused_dir and name == "model" and (self.fused_scenes is None or k < self.fused_scenes):
                    self.write_fused_cloud(Path(self.fused_dir), scene, points, colors, entry["views"])
            if world > 1:
                dist.all_reduce(counts)
            self.log_dict(self.cloud_values(metric, *counts.tolist(), prefix=prefix))
            metric.reset()

    @staticmethod
    def write_fused_cloud(folder: Path, scene, points, colors, views: dict[int, tuple]) -> None:
        """``scene_<id>.ply`` and its cameras ``scene_<id>_cameras.npz`` (module docstring)."""
        write_point_cloud(folder / f"scene_{scene}.ply", points, colors.clamp(0, 1))
        _, _, K, T_cw, images, _ = (torch.stack(t) for t in zip(*(views[i] for i in sorted(views))))
        np.savez(
            folder / f"scene_{scene}_cameras.npz",
            K=K.float().cpu().numpy(),
            T_cw=T_cw.float().cpu().numpy(),
            size=np.array(images.shape[-2:]),
        )

    @staticmethod
    def cloud_values(
        metric: PointCloudMetrics, scenes: float, points: float, empty: float, empty_completeness: float, prefix: str
    ) -> dict[str, torch.Tensor]:
        """The logged cloud values over all ``scenes``: ``metric`` holds the means over the non-empty ones; each of
        the ``empty`` scenes adds precision, recall, F-score 0 and its share of ``empty_completeness`` (a sum)."""
        scored = scenes - empty
        values = {k: v.double() for k, v in metric.compute().items()} if scored > 0 else {}
        out = {"fused_points": points / max(scenes, 1.0), "empty_clouds": empty}
        if scenes > 0:
            sums = {k: values[k] * scored if values else 0.0 for k in ("precision", "recall", "fscore", "completeness")}
            sums["completeness"] = sums["completeness"] + empty_completeness
            out.update({k: v / scenes for k, v in sums.items()})
        if values:
            out["accuracy"] = values["accuracy"]
            out["overall"] = (out["accuracy"] + out["completeness"]) / 2
        return {f"{prefix}{k}": torch.as_tensor(v, dtype=torch.float32) for k, v in out.items()}

    def on_test_epoch_start(self) -> None:
        self._views = {}

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        if self.fuse:
            self.score_fused_clouds()
        self._views = {}
