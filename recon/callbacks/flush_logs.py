"""Logger rows on disk reach at least as far as the newest checkpoint, and a resumed run does not log a step twice."""

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn


class LogsFlushedWithCheckpoint(pl.Callback):
    """Writes buffered logger rows (CSV logs flush every 100 steps by default) whenever a checkpoint is saved, so
    after a kill the logs on disk reach at least as far as the checkpoint a resumed run continues from."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            logger.save()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """A resumed run redoes the steps after its checkpoint: drop the rows they left (CSV rows are written as they
        are logged, so a run killed mid-epoch has rows past its last checkpoint). Testing a checkpoint redoes none."""
        if trainer.state.fn != TrainerFn.FITTING:
            return
        for logger in trainer.loggers:
            if hasattr(logger, "discard_rows_from_step"):
                logger.discard_rows_from_step(checkpoint["global_step"])
