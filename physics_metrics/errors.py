"""The exceptions :mod:`physics_metrics` raises for bad input.

Every deliberate check of a caller's input raises one of these. They subclass the builtin
exception a caller would expect (``ValueError``, ``TypeError``, ``KeyError``), so
``except ValueError`` keeps working; a front end (the ``chaosbench`` CLI) catches
:class:`MetricInputError` to print a one-line message, and lets anything else (a bug) show its
traceback.
"""

from __future__ import annotations

__all__ = [
    "MetricInputError",
    "MetricTypeError",
    "MetricKeyError",
    "NonFiniteInputError",
    "MetricOutputExistsError",
]


class MetricInputError(ValueError):
    """A metric was given input it cannot score: wrong shape, dimension, value, or non-finite data."""


class MetricTypeError(MetricInputError, TypeError):
    """An argument of the wrong type (e.g. a string where an array is expected)."""


class MetricKeyError(MetricInputError, KeyError):
    """An unknown name: a variable, dimension, metric or convention that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; a user error should read as prose
        return str(self.args[0]) if self.args else ""


class NonFiniteInputError(MetricInputError, FloatingPointError):
    """NaN or infinity where a metric needs finite numbers (named by variable and position)."""


class MetricOutputExistsError(MetricInputError, FileExistsError):
    """An output file (a written scorecard) exists and would be replaced; pass ``overwrite=True``."""
