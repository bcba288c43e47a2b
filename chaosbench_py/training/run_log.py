"""Training logs: a CSV file (one row per logged step) and, when installed, TensorBoard events.

The CSV is ``<out>/metrics.csv`` with the columns ``step, epoch, loss, lr, grad_norm,
samples_per_s, max_memory_mb, elapsed_s, val_loss`` followed by the task's own values (e.g.
``alpha`` and ``mse`` for GTF, ``loss_step1…`` for multi-step rollouts). On resume the rows after the
checkpoint's step are dropped (the file is rewritten atomically), so the log of an interrupted and
resumed run reads like the log of one run. Each row is appended with one ``write`` of the whole line,
so a killed process leaves whole rows only. pandas reads it directly (``pd.read_csv``).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any

from chaosbench_py.files import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["BASE_COLUMNS", "MetricsLog", "read_metrics"]

BASE_COLUMNS = [
    "step",
    "epoch",
    "loss",
    "lr",
    "grad_norm",
    "samples_per_s",
    "max_memory_mb",
    "elapsed_s",
    "val_loss",
]


class MetricsLog:
    """Append-only CSV log (+ optional TensorBoard ``SummaryWriter`` in ``<out>/tensorboard``)."""

    def __init__(
        self,
        out_dir: Path,
        extra_columns: list[str],
        tensorboard: bool = False,
        resume_step: int | None = None,
    ):
        self.path = Path(out_dir) / "metrics.csv"
        self.columns = BASE_COLUMNS + [c for c in extra_columns if c not in BASE_COLUMNS]
        if resume_step is not None and self.path.exists():
            self._truncate(resume_step)
        elif self.path.exists():
            self.path.unlink()
        if not self.path.exists():
            with open(self.path, "w", newline="") as fh:
                csv.writer(fh).writerow(self.columns)
        else:
            with open(self.path, newline="") as fh:
                header = next(csv.reader(fh), None)
            if header:
                self.columns = header
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(out_dir) / "tensorboard"))
            except ImportError:
                logger.warning(
                    "train.tensorboard: the 'tensorboard' package is not installed; logging to CSV only"
                )

    def _truncate(self, step: int) -> None:
        with open(self.path, newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return
        header = rows[0]
        body = [r for r in rows[1:] if len(r) == len(header) and _step_of(r) <= step]
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(body)
        atomic_write_text(self.path, buf.getvalue())

    def write(self, row: dict[str, Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow(["" if row.get(c) is None else row.get(c) for c in self.columns])
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, buf.getvalue().encode())  # one write(2) of the whole row: never half a row
        finally:
            os.close(fd)
        if self.tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, int(row["step"]))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _step_of(row: list[str]) -> float:
    """The step of a CSV row (``inf`` for a row that is not one: dropped on resume)."""
    try:
        return float(row[0])
    except ValueError:
        return float("inf")


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv`` as dicts of floats (empty cells → ``nan``)."""
    with open(path, newline="") as fh:
        return [
            {k: float(v) if v != "" else float("nan") for k, v in row.items()} for row in csv.DictReader(fh)
        ]
