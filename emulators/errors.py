"""The exceptions :mod:`emulators` raises for bad input (configs, checkpoints, tensors).

They subclass the builtin exception a caller would expect (``ValueError``, ``TypeError``,
``KeyError``), so ``except ValueError`` keeps working; a front end (the ``chaosbench`` CLI)
catches :class:`EmulatorInputError` to print a one-line message, and lets anything else (a bug)
show its traceback.
"""

from __future__ import annotations

__all__ = [
    "EmulatorInputError",
    "EmulatorTypeError",
    "EmulatorKeyError",
    "EmulatorOutputExistsError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "NotFittedError",
]


class EmulatorInputError(ValueError):
    """A model was given a config, tensor or argument it cannot use."""


class EmulatorTypeError(EmulatorInputError, TypeError):
    """An argument of the wrong type."""


class EmulatorKeyError(EmulatorInputError, KeyError):
    """An unknown name: a model, config key or checkpoint entry that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CheckpointError(EmulatorInputError):
    """A file that is not a readable checkpoint of this package, or one that does not fit the model.

    The message names the file and what is wrong with it (not a checkpoint, truncated, written by an
    unknown format version, weights of another shape …).
    """


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No file at the checkpoint path."""


class NotFittedError(EmulatorInputError, RuntimeError):
    """A closed-form model (ESN, NVAR) used before its read-out was fitted."""


class EmulatorOutputExistsError(EmulatorInputError, FileExistsError):
    """A file would be replaced; pass ``overwrite=True`` to replace it."""
