"""Input handling shared by the metrics: numpy, torch and xarray in, validated numpy out.

Every metric of the dynamical-systems half takes time series shaped ``(..., time, dim)`` (or
``(time,)`` for a scalar series). xarray inputs are located by dimension *name* (``time`` and a
state dimension, ``dim`` by default), so their dimension order does not matter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import MetricInputError, MetricTypeError

try:  # optional at import time: physics_metrics must import without torch/xarray installed
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

try:
    import xarray as xr
except ImportError:  # pragma: no cover
    xr = None  # type: ignore[assignment]


def to_numpy(x: Any, name: str = "x", dtype: Any = np.float64) -> np.ndarray:
    """Convert a numpy array, torch tensor, xarray object or sequence to a numpy array."""
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    elif xr is not None and isinstance(x, xr.DataArray | xr.Dataset):
        raise MetricTypeError(f"{name}: use as_time_series() for xarray inputs (dims are located by name)")
    arr = np.asarray(x, dtype=dtype)
    return arr


def as_time_series(
    x: Any,
    name: str = "x",
    *,
    time_dim: str = "time",
    state_dim: str = "dim",
    min_length: int = 2,
    allow_nan: bool = False,
    ndim_min: int = 1,
) -> np.ndarray:
    """Return ``x`` as a float64 array of shape ``(..., time, dim)`` and validate it.

    * numpy / torch: the last axis is the state dimension and the one before it is time; a 1-D
      input is taken as a scalar series ``(time,)`` and returned as ``(time, 1)``.
    * xarray.DataArray: ``time_dim`` must exist; ``state_dim`` is optional (scalar series);
      all other dims become leading batch dims in their existing order.

    Raises ``ValueError`` naming ``name`` when the series is too short, has NaN/inf (unless
    ``allow_nan``) or has too few dimensions.
    """
    if xr is not None and isinstance(x, xr.Dataset):
        raise MetricTypeError(f"{name}: pass a DataArray (select one variable of the Dataset)")
    if xr is not None and isinstance(x, xr.DataArray):
        if time_dim not in x.dims:
            raise MetricInputError(f"{name}: DataArray has no {time_dim!r} dimension (dims: {x.dims})")
        if state_dim in x.dims:
            others = [d for d in x.dims if d not in (time_dim, state_dim)]
            arr = np.asarray(x.transpose(*others, time_dim, state_dim).values, dtype=np.float64)
        else:
            others = [d for d in x.dims if d != time_dim]
            arr = np.asarray(x.transpose(*others, time_dim).values, dtype=np.float64)[..., None]
    else:
        arr = to_numpy(x, name)
        if arr.ndim < ndim_min:
            raise MetricInputError(f"{name}: expected at least {ndim_min} dimension(s), got shape {arr.shape}")
        if arr.ndim == 1:
            arr = arr[:, None]
    if arr.shape[-2] < min_length:
        raise MetricInputError(f"{name}: series too short: {arr.shape[-2]} time steps, need at least {min_length}")
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise MetricInputError(f"{name}: contains {bad} NaN/inf value(s)")
    return arr


def check_same_dim(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise when two ``(..., time, dim)`` series have different state dimensions."""
    if a.shape[-1] != b.shape[-1]:
        raise MetricInputError(
            f"{names[0]} and {names[1]} have different state dimensions: {a.shape[-1]} vs {b.shape[-1]}"
        )
