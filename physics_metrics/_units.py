"""Input checks shared by the statistics over experimental units (:mod:`physics_metrics.inference`,
:mod:`physics_metrics.paired_tests`).

An *experimental unit* is what a score is computed once for: a training seed, an initial condition,
a forecast initialisation time. Arrays of per-unit scores carry the units along ``axis`` (0 by
default); any other axes (lead times, variables …) are scored independently, side by side.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import MetricInputError, MetricKeyError, MetricTypeError, NonFiniteInputError

try:  # optional at import time: physics_metrics must import without torch installed
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

ALTERNATIVES = ("two-sided", "less", "greater")


def check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else :class:`MetricKeyError` naming ``name``."""
    if not isinstance(value, str) or value not in allowed:
        raise MetricKeyError(
            f"{name}: unknown value {value!r}; expected one of {', '.join(map(repr, allowed))}"
        )
    return value


def check_n_resamples(n_resamples: Any) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral):
        raise MetricTypeError(f"n_resamples: must be an integer, got {n_resamples!r}")
    if n_resamples < 1:
        raise MetricInputError(f"n_resamples: must be at least 1, got {n_resamples}")
    return int(n_resamples)


def check_confidence(confidence: Any) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise MetricTypeError(f"confidence: must be a number in (0, 1), got {confidence!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise MetricInputError(
            f"confidence: must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )
    return float(confidence)


def make_rng(seed: Any) -> np.random.Generator:
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise MetricTypeError(
            f"seed: must be None, a non-negative integer or a numpy Generator, got {seed!r}"
        ) from err


def as_units(
    x: Any, name: str, *, axis: int = 0, min_units: int = 2, check_finite: bool = True
) -> np.ndarray:
    """``x`` as a float64 array with the units along axis 0, validated.

    Accepts numpy arrays, sequences, torch tensors and xarray DataArrays (taken in their stored
    dimension order; use the ``_xr`` variants to select the unit dimension by name). Raises
    :class:`MetricTypeError` for non-numeric input, :class:`MetricInputError` for a 0-d input, a bad
    ``axis`` or fewer than ``min_units`` units, and :class:`NonFiniteInputError` for NaN/inf.
    """
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if hasattr(x, "dims") and hasattr(x, "data_vars"):  # an xarray.Dataset
        raise MetricTypeError(f"{name}: pass one variable (a DataArray or an array), not a Dataset")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MetricTypeError(
            f"{name}: expected numbers (an array of per-unit scores), got {type(x).__name__}"
        ) from err
    if arr.ndim == 0:
        raise MetricInputError(f"{name}: expected an array of per-unit scores, got a single number")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -arr.ndim <= axis < arr.ndim:
        raise MetricInputError(f"axis: {axis!r} is not an axis of {name} (shape {arr.shape})")
    arr = np.ascontiguousarray(np.moveaxis(arr, int(axis), 0))  # same sums whatever the layout
    if arr.shape[0] < min_units:
        raise MetricInputError(
            f"{name}: needs at least {min_units} units (seeds, initial conditions, init times) along axis "
            f"{axis}, got {arr.shape[0]}"
        )
    if check_finite:
        check_all_finite(arr, name)
    return arr


def check_all_finite(arr: np.ndarray, name: str) -> None:
    ok = np.isfinite(arr)
    if not ok.all():
        pos = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise NonFiniteInputError(
            f"{name}: {int(ok.size - ok.sum())} NaN/inf value(s), the first ({arr[pos]}) at unit {pos[0]}"
            + (f", index {pos[1:]} of the other axes" if len(pos) > 1 else "")
        )


def as_paired_units(a: Any, b: Any, *, axis: int = 0, min_units: int = 2) -> np.ndarray:
    """Per-unit differences ``a - b`` (units along axis 0) of two models scored on the same units."""
    a_arr = as_units(a, "a", axis=axis, min_units=1)
    b_arr = as_units(b, "b", axis=axis, min_units=1)
    if a_arr.shape[0] != b_arr.shape[0]:
        raise MetricInputError(
            f"a and b: a paired comparison needs both models scored on the same units, but a has "
            f"{a_arr.shape[0]} and b has {b_arr.shape[0]} along axis {axis}"
        )
    if a_arr.shape != b_arr.shape:
        raise MetricInputError(
            f"a and b: shapes differ ({np.moveaxis(a_arr, 0, axis).shape} vs {np.moveaxis(b_arr, 0, axis).shape})"
        )
    if a_arr.shape[0] < min_units:
        raise MetricInputError(
            f"a and b: need at least {min_units} paired units (seeds, initial conditions, init times) along "
            f"axis {axis}, got {a_arr.shape[0]}"
        )
    return a_arr - b_arr


def scalar_or_array(x: Any) -> Any:
    """A Python float for a 0-d result, the array otherwise."""
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else arr
