"""Class paths that moved between recon versions, so configs stored by older runs still resolve.

Checkpoints keep the ``_target_`` of their data, model and task; run dirs keep the whole resolved config. When a
class moves, add ``old path -> new path`` here: loading a checkpoint and reading a summary both go through
:func:`upgrade_targets`, so old and new runs of one model family load, predict and group together.
"""

from typing import Any

MOVED_TARGETS = {
    "recon.callbacks.PredictionMedia": "recon.callbacks.prediction_media.PredictionMedia",
    "recon.csv_logger.ResumableCSVLogger": "recon.engine.loggers.ResumableCSVLogger",
    "recon.ddp.HydraJobDDPStrategy": "recon.engine.ddp.HydraJobDDPStrategy",
    "recon.sweep.SweepReport": "recon.callbacks.sweep_report.SweepReport",
}


def upgrade_targets(node: Any) -> Any:
    """A copy of ``node`` (nested dicts and lists) with every moved ``_target_`` replaced by its current path."""
    if isinstance(node, dict):
        return {
            key: MOVED_TARGETS.get(value, value) if key == "_target_" else upgrade_targets(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [upgrade_targets(value) for value in node]
    return node
