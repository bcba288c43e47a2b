"""The run folder of a training run: never destroyed by accident, never left half-written.

Rules (what ``chaosbench train CONFIG --out RUN`` and ``Trainer(cfg, RUN)`` do):

* ``RUN`` exists and holds anything: refused (:class:`OutputExistsError` naming it) unless
  ``resume=True`` (continue from ``RUN/checkpoints/last.pt``, or ``last.dcp`` under fsdp) or
  ``overwrite=True`` (replace it).
* A new run (fresh or replacing) is written into a hidden sibling folder ``.RUN.incomplete`` until its
  first checkpoint exists; then that folder takes the place of ``RUN`` (an old ``RUN`` is moved to
  ``.RUN.replaced`` first and deleted after the move). So ``RUN`` is always either the old run, complete,
  or the new one with a checkpoint it can be resumed from — never a mix, never a run that cannot be
  resumed. A run killed before its first checkpoint leaves only the hidden folder, which the next
  start of the same ``RUN`` removes.
* Every file in the run folder is written atomically (a temporary sibling renamed over the target):
  ``config.yaml``, ``checkpoints/last.pt``, ``model.pt``; ``metrics.csv`` grows by whole rows and is cut
  back to the checkpoint's step on resume. Temporary files a killed process left behind
  (``.last.pt.*``, ``.model.pt.*`` …) are removed when the run is resumed.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ..errors import InputError, MissingInputError, OutputExistsError

logger = logging.getLogger(__name__)

__all__ = ["RunFolder"]

#: files of a run folder whose atomic writes leave ``.<name>.<random>`` temporaries when killed
_ATOMIC_FILES = ("config.yaml", "model.pt", "metrics.csv", "checkpoints/last.pt")


class RunFolder:
    """Where a run writes, now and once published.

    Args:
        out: the run folder the user named.
        resume: continue the run in ``out`` (its checkpoint must exist).
        overwrite: replace whatever is in ``out`` (only once the new run has a checkpoint).
        is_main: whether this process writes (rank 0); the others only track the paths.
    Attributes: ``out`` (the named folder), ``path`` (where files go now: ``out`` or the hidden staging
    folder), ``published`` (``path == out``).
    """

    def __init__(
        self, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False, is_main: bool = True
    ):
        if resume and overwrite:
            raise InputError(
                "resume and overwrite exclude each other: --resume continues a run, --overwrite replaces it"
            )
        self.out = Path(out)
        self.is_main = is_main
        parent, name = self.out.absolute().parent, self.out.absolute().name
        self.staging = parent / f".{name}.incomplete"
        self._replaced = parent / f".{name}.replaced"
        if self.out.exists() and not self.out.is_dir():
            raise OutputExistsError(f"{self.out}: exists and is not a folder; choose another --out")
        if resume:
            ckpt = self.out / "checkpoints" / "last.pt"
            sharded = [self.out / "checkpoints" / n for n in ("last.dcp", ".last.dcp.old")]  # fsdp
            if not ckpt.exists() and not any((p / "training.pt").exists() for p in sharded):
                raise MissingInputError(
                    f"--resume: no checkpoint at {ckpt} (nothing to continue; start without --resume)"
                )
            self.path = self.out
            return
        if self.out.exists() and any(self.out.iterdir()) and not overwrite:
            raise OutputExistsError(
                f"{self.out}: the run folder exists and is not empty; pass --resume to continue that run "
                "or --overwrite to replace it (Trainer(..., resume=True / overwrite=True))"
            )
        self.path = self.staging

    def prepare(self) -> None:
        """Make the folder files go to now ready: a resumed run's folder loses the temporary files a
        killed process left; a new run's staging folder is created (after removing what an interrupted
        start left). Called once the run is known to start (config, data and model built)."""
        if not self.is_main:
            return
        if self.published:
            self._remove_temporaries()
            return
        for leftover in (self.staging, self._replaced):
            if leftover.exists():
                logger.info("removing %s, left by an interrupted run", leftover)
                shutil.rmtree(leftover)
        self.staging.mkdir(parents=True)

    @property
    def published(self) -> bool:
        return self.path == self.out

    def publish(self) -> None:
        """Put the staged run in place of ``out`` (after its first checkpoint); no-op once published."""
        if self.published:
            return
        if self.is_main:
            if self.out.exists():
                os.replace(self.out, self._replaced)  # an empty folder or the run being replaced
            os.replace(self.staging, self.out)
            shutil.rmtree(self._replaced, ignore_errors=True)
            logger.info("run folder %s in place", self.out)
        self.path = self.out

    def _remove_temporaries(self) -> None:
        # a DCP save (fsdp) killed before its rename
        shutil.rmtree(self.out / "checkpoints" / ".last.dcp.incomplete", ignore_errors=True)
        for rel in _ATOMIC_FILES:
            target = self.out / rel
            for tmp in target.parent.glob(f".{target.name}.*"):
                logger.info("removing %s, a temporary file left by an interrupted run", tmp)
                tmp.unlink(missing_ok=True)
