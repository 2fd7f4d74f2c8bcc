"""Lightning callbacks of recon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from recon.geometry.pointcloud import chamfer_distances
from recon.metrics.stereo import disparity_errors
from recon.viz.export import write_point_cloud
from recon.viz.figures import GT_COLOR, PRED_COLOR, figure_to_array, point_cloud_figure, save_figure
from recon.viz.multi_view import depth_figure, labelled_depth_errors
from recon.viz.stereo import disparity_figure


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
            self._write_and_log_figure(trainer, i, fig, metrics)

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
            self._write_and_log_figure(trainer, i, fig, labelled_depth_errors(gt[j], pred[j], mask[j]))

    def _write_and_log_figure(self, trainer: pl.Trainer, i: int, fig, metrics: dict[str, float]) -> None:
        """Save ``fig`` as ``test_<i>.png`` and log it (metrics in the wandb caption)."""
        pixels = figure_to_array(fig) if any(isinstance(lg, TensorBoardLogger) for lg in trainer.loggers) else None
        path = save_figure(fig, self.output_dir / f"test_{i}.png")
        self.written.append({"figure": path})
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
