"""The user-error exceptions of :mod:`chaosbench_py`, and the tuple the CLI treats as user errors.

A *user error* is a deliberate check of the caller's input or of the state of the disk: a wrong
argument, a config key that does not exist, a file that is not what it claims to be, an output
that exists and would be overwritten, a simulation that blows up. The ``chaosbench`` CLI prints
these as one line naming the thing (exit status 2; the traceback with ``-v``). Anything else is a
bug and shows its traceback.

Each class also subclasses the builtin a caller would expect (``ValueError``, ``FileExistsError``,
…), so existing ``except ValueError`` code keeps working. The two leaf packages have their own
bases (:class:`physics_metrics.errors.MetricInputError`,
:class:`emulators.errors.EmulatorInputError`), since they never import this package;
:func:`is_user_error` recognises all three (without importing the leaves, so that the CLI
starts fast).
"""

from __future__ import annotations

import sys

__all__ = [
    "ChaosbenchError",
    "InputError",
    "InputTypeError",
    "UnknownNameError",
    "ConfigError",
    "OutputExistsError",
    "MissingInputError",
    "CorruptFileError",
    "SimulationDivergedError",
    "NonFiniteError",
    "is_user_error",
]


class ChaosbenchError(Exception):
    """Base of every user error raised by :mod:`chaosbench_py`."""


class InputError(ChaosbenchError, ValueError):
    """An argument, parameter or data value that cannot be used (the message names it)."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong type (e.g. ``sigma='ten'``)."""


class UnknownNameError(InputError, KeyError):
    """An unknown system, model, variable, recipe or key; the message lists close matches."""

    def __str__(self) -> str:  # KeyError quotes its message; a user error should read as prose
        return str(self.args[0]) if self.args else ""


class ConfigError(InputError):
    """A run configuration that does not validate; the message starts with the dotted key."""


class OutputExistsError(ChaosbenchError, FileExistsError):
    """An output exists and would be replaced; pass ``overwrite=True`` / ``--overwrite`` (or resume)."""


class MissingInputError(ChaosbenchError, FileNotFoundError):
    """An input file, folder or dataset that does not exist."""


class CorruptFileError(InputError):
    """A file or store that exists but cannot be read as what it should be (named, with the reason)."""


class NonFiniteError(ChaosbenchError, FloatingPointError):
    """NaN or infinity where finite numbers are needed (named by variable, time or lead)."""


class SimulationDivergedError(NonFiniteError):
    """An integration or rollout that blew up; the message names the system, time and trajectory."""


_LEAF_USER_ERRORS = (("emulators.errors", "EmulatorInputError"), ("physics_metrics.errors", "MetricInputError"))


def is_user_error(exc: BaseException) -> bool:
    """True for a deliberate input check of any of the three packages, False for anything else (a bug)."""
    if isinstance(exc, ChaosbenchError):
        return True
    for module_name, class_name in _LEAF_USER_ERRORS:
        module = sys.modules.get(module_name)  # not imported yet: the exception cannot come from it
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False
