"""Lightning's CSV logger, continued instead of wiped when a run resumes in its own directory."""

import csv
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only


class ContinuingExperimentWriter(ExperimentWriter):
    """Keeps the rows of an existing ``metrics.csv`` (Lightning's writer deletes the file) and its columns."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(next(csv.reader(file), []))


class ResumableCSVLogger(CSVLogger):
    """:class:`~pytorch_lightning.loggers.CSVLogger` whose ``metrics.csv`` survives a resume (``resume=...``):
    the resumed run appends its rows, so the file holds the whole learning curve."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment

    @rank_zero_only
    def discard_rows_from_step(self, step: int) -> None:
        """Drop the rows of steps ``>= step``: logged after the checkpoint a resumed run continues from (rows are
        written as they are logged), they are logged again when the resumed run redoes those steps."""
        path = Path(self.experiment.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
            columns = list(rows[0].keys()) if rows else None
        kept = [row for row in rows if not row.get("step") or int(row["step"]) < step]
        if columns is None or len(kept) == len(rows):
            return
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows(kept)
