"""A Lightning callback that holds training still at a chosen global step, so a test can kill it exactly there."""

import os
import time
from pathlib import Path

import pytorch_lightning as pl

ENV = "RECON_TEST_PAUSE_AT_STEP"
MARKER = "paused_at_step.txt"


class PauseAtStep(pl.Callback):
    """With ``$RECON_TEST_PAUSE_AT_STEP`` set to N, once training has taken N optimizer steps: write ``<run
    dir>/paused_at_step.txt`` (N and the epoch) and sleep until killed. Does nothing without the variable, or when the
    marker is already there (the run being resumed), so every run shares one config."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = os.environ.get(ENV)
        marker = Path(trainer.default_root_dir) / MARKER
        if step is None or trainer.global_step != int(step) or marker.exists():
            return
        marker.write_text(f"{trainer.global_step} {trainer.current_epoch} {batch_idx}\n")
        while True:
            time.sleep(1)
