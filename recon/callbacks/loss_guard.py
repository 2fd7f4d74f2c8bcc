"""Stop training at the first non-finite loss, before it reaches the weights or a checkpoint."""

import math

import pytorch_lightning as pl
import torch


class NonFiniteLossError(RuntimeError):
    pass


class FiniteLossGuard(pl.Callback):
    """Raises :class:`NonFiniteLossError` naming the epoch, global step, batch and item indices when the training
    loss is NaN or Inf. The check runs before ``backward``, so the weights are never updated with it; checkpoints
    are only written after validation, so the last one on disk is the last good state. Under DDP the decision is
    shared by all processes (any rank's bad loss stops every rank instead of leaving the others waiting)."""

    def __init__(self):
        self.batch_idx, self.items = -1, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.batch_idx = batch_idx
        index = batch.get("index") if isinstance(batch, dict) else None
        self.items = index.tolist() if isinstance(index, torch.Tensor) else None

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        value = float(loss.detach())
        if not trainer.strategy.reduce_boolean_decision(not math.isfinite(value), all=False):
            return
        where = f"epoch {trainer.current_epoch}, global step {trainer.global_step}, batch {self.batch_idx}"
        items = f" (dataset items {self.items})" if self.items is not None else ""
        own = f"loss {value}" if not math.isfinite(value) else "loss finite here, non-finite on another process"
        raise NonFiniteLossError(
            f"non-finite training loss at {where}{items}: {own}. Training stopped; the last "
            f"checkpoint written before this step is intact (lower task.optimizer.lr, or set "
            f"trainer.gradient_clip_val, or check these items for bad values)"
        )
