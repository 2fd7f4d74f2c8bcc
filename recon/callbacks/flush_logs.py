"""Logger rows on disk reach at least as far as the newest checkpoint."""

import pytorch_lightning as pl


class LogsFlushedWithCheckpoint(pl.Callback):
    """Writes buffered logger rows (CSV logs flush every 100 steps by default) whenever a checkpoint is saved, so
    after a kill the logs on disk reach at least as far as the checkpoint a resumed run continues from."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            logger.save()
