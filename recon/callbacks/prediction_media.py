"""Lightning callbacks of recon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from recon.geometry.cameras import transform_points, unproject
from recon.geometry.disparity import disparity_to_depth
from recon.geometry.pointcloud import chamfer_distances
from recon.metrics.stereo import disparity_errors
from recon.viz.export import write_point_cloud
from recon.viz.figures import GT_COLOR, PRED_COLOR, figure_to_array, point_cloud_figure, save_figure
from recon.viz.multi_view import depth_figure, labelled_depth_errors
from recon.viz.stereo import disparity_figure


def _uint8(images: torch.Tensor) -> np.ndarray:
    """``(..., 3, H, W)`` in [0, 1] -> ``(..., H, W, 3)`` uint8."""
    return (images.float().clamp(0, 1) * 255).round().byte().movedim(-3, -1).cpu().numpy()


def save_sample(path: Path, problem: str, **arrays) -> Path:
    """``test_<i>.npz`` for the report: ``problem`` (``points``, ``stereo`` or ``multi_view``) and the sample's arrays:
    points: ``image (H, W, 3) uint8, gt (N, 3), pred (M, 3)``; stereo: ``left (H, W, 3) uint8, gt, pred (H, W)``
    disparities, ``valid (H, W)``, and with ``focal`` and ``baseline`` also ``K`` (the item's, else square pixels
    and a centred principal point); multi_view: ``images (V, H, W, 3) uint8, K
    (V, 3, 3), T_cw (V, 4, 4), depth_range (2,), gt, pred, confidence (H, W), mask (H, W)``; float arrays float32."""

    def as_array(value):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            return (value.float() if value.is_floating_point() else value).numpy()
        return np.asarray(value)

    arrays = {k: as_array(v) for k, v in arrays.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, problem=np.array(problem), **arrays)
    return path


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64) / 255.0


class PredictionMedia(pl.Callback):
    """Figures and point clouds of the first ``num_samples`` test items, on disk and in the loggers.

    For test item ``i`` (in loader order on rank zero) it writes ``<output_dir>/test_<i>.png``
    (:func:`~recon.viz.figures.point_cloud_figure` with the sample's Chamfer-L1), ``test_<i>_pred.ply``
    (orange) and ``test_<i>_gt.ply`` (grey), then logs them: WandbLogger gets ``test/media/figure_<i>`` (image)
    and ``test/media/pointcloud_<i>`` (a 3D object: ground truth grey + prediction orange); TensorBoardLogger
    gets the figure (``add_image``) and both clouds (``add_mesh``, points only); other loggers are skipped.

    Stereo tasks (``problem == "stereo"``) get ``test_<i>.png`` only: :func:`~recon.viz.stereo.disparity_figure`
    (left | ground-truth disparity | prediction | signed error) with the pair's EPE and bad-2 over its valid pixels,
    logged like the figure above.

    Multi-view stereo tasks (``problem == "multi_view"``) get ``test_<i>.png`` only:
    :func:`~recon.viz.multi_view.depth_figure` (reference | source thumbnails | ground-truth depth | predicted depth,
    both over the item's ``depth_range`` | signed relative error | confidence) with the item's AbsRel and
    delta < 1.25 over its ``mask`` pixels, logged like the figure above.

    The task's ``test_step`` returns nothing, so the prediction is recomputed here (``pl_module(batch)`` under
    ``no_grad``) for the few items needed, on rank zero only. Under DDP rank zero sees its shard of the test set,
    so the items are the first ones of that shard.

    Every sample also gets ``test_<i>.npz``: its arrays for ``recon-report`` (:mod:`recon.viz.report`; keys in
    :func:`save_sample`). Stereo samples with ``focal`` and ``baseline`` and multi-view samples also send their
    back-projected cloud (the prediction's valid pixels, coloured by the image) to TensorBoard's mesh plugin.

    A run that fails (e.g. a later test pair cannot be decoded) keeps none of these files: ``on_exception`` removes
    what this run wrote, and ``output_dir`` if that leaves it empty. Media already sent to a logger stay there.
    """

    def __init__(self, output_dir: str, num_samples: int = 4):
        super().__init__()
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        self.output_dir = Path(output_dir)
        self.num_samples = num_samples
        self.written: list[dict[str, Path]] = []

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.written = []

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        for paths in self.written:
            for path in paths.values():
                Path(path).unlink(missing_ok=True)
        self.written = []
        if self.output_dir.is_dir() and not any(self.output_dir.iterdir()):
            self.output_dir.rmdir()

    @torch.no_grad()
    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs,
        batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        missing = self.num_samples - len(self.written)
        if missing <= 0 or not trainer.is_global_zero:
            return
        if getattr(pl_module, "problem", None) == "stereo":
            self._stereo(trainer, pl_module, batch, missing)
            return
        if getattr(pl_module, "problem", None) == "multi_view":
            self._multi_view(trainer, pl_module, batch, missing)
            return
        if "image" not in batch:  # a task without figures
            return
        n = min(missing, len(batch["image"]))
        sub = {k: v[:n] for k, v in batch.items() if isinstance(v, torch.Tensor)}
        pred = pl_module(sub)["points"].float()
        gt = sub["points"].float()
        chamfer = chamfer_distances(pred, gt)["chamfer_l1"]
        for j in range(n):
            self._write_and_log(
                trainer, len(self.written), sub["image"][j], gt[j], pred[j], sub["K"][j], float(chamfer[j])
            )

    def _write_and_log(
        self,
        trainer: pl.Trainer,
        i: int,
        image: torch.Tensor,
        gt: torch.Tensor,
        pred: torch.Tensor,
        K: torch.Tensor,
        chamfer_l1: float,
    ) -> None:
        gt, pred = gt.cpu().numpy(), pred.cpu().numpy()
        fig = point_cloud_figure(image, gt, pred, K, title=f"test sample {i}", metrics={"Chamfer-L1": chamfer_l1})
        pixels = figure_to_array(fig) if any(isinstance(lg, TensorBoardLogger) for lg in trainer.loggers) else None
        paths = {
            "figure": save_figure(fig, self.output_dir / f"test_{i}.png"),
            "pred": write_point_cloud(
                self.output_dir / f"test_{i}_pred.ply", pred, np.broadcast_to(_rgb(PRED_COLOR), pred.shape)
            ),
            "gt": write_point_cloud(
                self.output_dir / f"test_{i}_gt.ply", gt, np.broadcast_to(_rgb(GT_COLOR), gt.shape)
            ),
            "sample": save_sample(self.output_dir / f"test_{i}.npz", "points", image=_uint8(image), gt=gt, pred=pred),
        }
        self.written.append(paths)

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                cloud = np.concatenate(
                    [
                        np.concatenate([gt, np.broadcast_to(_rgb(GT_COLOR) * 255, gt.shape)], axis=1),
                        np.concatenate([pred, np.broadcast_to(_rgb(PRED_COLOR) * 255, pred.shape)], axis=1),
                    ]
                )
                logger.experiment.log(
                    {
                        f"test/media/pointcloud_{i}": wandb.Object3D(cloud),
                        f"test/media/figure_{i}": wandb.Image(
                            str(paths["figure"]), caption=f"Chamfer-L1 {chamfer_l1:.4g}"
                        ),
                        "trainer/global_step": trainer.global_step,
                    }
                )
            elif isinstance(logger, TensorBoardLogger):
                writer = logger.experiment
                writer.add_image(
                    f"test/media/figure_{i}", pixels.transpose(2, 0, 1), trainer.global_step, dataformats="CHW"
                )
                vertices = torch.from_numpy(np.concatenate([gt, pred]))[None]
                colors = torch.from_numpy(
                    np.concatenate(
                        [
                            np.broadcast_to(_rgb(GT_COLOR) * 255, gt.shape),
                            np.broadcast_to(_rgb(PRED_COLOR) * 255, pred.shape),
                        ]
                    ).astype(np.uint8)
                )[None]
                writer.add_mesh(
                    f"test/media/pointcloud_{i}", vertices=vertices, colors=colors, global_step=trainer.global_step
                )

    def _stereo(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict, missing: int) -> None:
        n = min(missing, len(batch["left"]))
        sub = {k: v[:n] for k, v in batch.items() if isinstance(v, torch.Tensor)}
        pred = pl_module(sub)["disparity"].float().cpu()
        gt, valid = sub["disparity"].float().cpu(), sub["valid"].cpu()
        for j in range(n):
            i = len(self.written)
            errors = disparity_errors(pred[j], gt[j], valid[j], bad_threshold=2.0)
            metrics = {"EPE": errors["epe"], "bad-2 (%)": errors["bad2"]} if errors else {}
            fig = disparity_figure(sub["left"][j], gt[j], pred[j], valid[j], title=f"test sample {i}", metrics=metrics)
            calibration = {k: sub[k][j].cpu() for k in ("focal", "baseline", "K") if k in sub}
            if "focal" in calibration and "K" not in calibration:  # square pixels, centred principal point
                H, W = gt.shape[-2:]
                f = float(calibration["focal"])
                calibration["K"] = torch.tensor([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])
            sample = save_sample(
                self.output_dir / f"test_{i}.npz",
                "stereo",
                left=_uint8(sub["left"][j]),
                gt=gt[j, 0],
                pred=pred[j, 0],
                valid=valid[j, 0],
                **calibration,
            )
            cloud = None
            if {"focal", "baseline"} <= set(calibration):
                depth = disparity_to_depth(pred[j][None], calibration["focal"], calibration["baseline"])
                cloud = self._cloud(depth[0], calibration["K"], torch.eye(4), sub["left"][j].cpu())
            self._write_and_log_figure(trainer, i, fig, metrics, sample, cloud)

    def _multi_view(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict, missing: int) -> None:
        n = min(missing, len(batch["images"]))
        sub = {k: v[:n] for k, v in batch.items() if isinstance(v, torch.Tensor)}
        out = pl_module(sub)
        pred, gt, mask = out["depth"].float().cpu(), sub["depth"].float().cpu(), sub["mask"].cpu()
        confidence = out.get("confidence")
        for j in range(n):
            i = len(self.written)
            fig = depth_figure(
                sub["images"][j],
                gt[j],
                pred[j],
                mask[j],
                sub["depth_range"][j],
                confidence=None if confidence is None else confidence[j],
                title=f"test sample {i}",
            )
            sample = save_sample(
                self.output_dir / f"test_{i}.npz",
                "multi_view",
                images=_uint8(sub["images"][j]),
                K=sub["K"][j],
                T_cw=sub["T_cw"][j],
                depth_range=sub["depth_range"][j],
                gt=gt[j, 0],
                pred=pred[j, 0],
                confidence=torch.ones_like(pred[j, 0]) if confidence is None else confidence[j, 0],
                mask=mask[j, 0],
            )
            cloud = self._cloud(pred[j], sub["K"][j, 0].cpu(), sub["T_cw"][j, 0].cpu(), sub["images"][j, 0].cpu())
            metrics = labelled_depth_errors(gt[j], pred[j], mask[j])
            self._write_and_log_figure(trainer, i, fig, metrics, sample, cloud)

    @staticmethod
    def _cloud(depth: torch.Tensor, K: torch.Tensor, T_cw: torch.Tensor, image: torch.Tensor):
        """World points ``(N, 3)`` and uint8 colours of the valid pixels of ``depth (1, H, W)`` seen with ``K``,
        ``T_cw`` and ``image (3, H, W)``."""
        points = unproject(depth[None].float(), K[None].float())[0]
        world = transform_points(torch.linalg.inv(T_cw.float())[None], points[None])[0]
        keep = (depth.reshape(-1) > 0) & torch.isfinite(depth.reshape(-1))
        colors = _uint8(image).reshape(-1, 3)[keep.numpy()]
        return world[keep].numpy(), colors

    def _write_and_log_figure(
        self, trainer: pl.Trainer, i: int, fig, metrics: dict[str, float], sample: Path, cloud=None
    ) -> None:
        """Save ``fig`` as ``test_<i>.png`` and log it (metrics in the wandb caption; ``cloud``, ``(points, uint8
        colours)``, to TensorBoard's mesh plugin)."""
        pixels = figure_to_array(fig) if any(isinstance(lg, TensorBoardLogger) for lg in trainer.loggers) else None
        path = save_figure(fig, self.output_dir / f"test_{i}.png")
        self.written.append({"figure": path, "sample": sample})
        caption = ", ".join(f"{k} {v:.3g}" for k, v in metrics.items())
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log(
                    {
                        f"test/media/figure_{i}": wandb.Image(str(path), caption=caption),
                        "trainer/global_step": trainer.global_step,
                    }
                )
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    f"test/media/figure_{i}", pixels.transpose(2, 0, 1), trainer.global_step, dataformats="CHW"
                )
                if cloud is not None and len(cloud[0]):
                    logger.experiment.add_mesh(
                        f"test/media/pointcloud_{i}",
                        vertices=torch.from_numpy(cloud[0])[None],
                        colors=torch.from_numpy(np.ascontiguousarray(cloud[1]))[None],
                        global_step=trainer.global_step,
                    )
