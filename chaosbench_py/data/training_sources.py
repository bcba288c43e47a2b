"""The data sources a training run names in ``data.path``, opened the same way by training and evaluation.

* :func:`open_gridded`: a gridded store (zarr / netCDF, local or ``gs://`` / ``s3://`` / ``https://``) as
  the canonical lazy dataset of :mod:`chaosbench_py.data.schema` (any layout :func:`open_era5` reads).
* :func:`open_trajectory_source`: a trajectory file: a ``.npy`` array ``(time, dim)`` /
  ``(trajectory, time, dim)`` (returned as its path, read by :func:`load_sequences`) or a trajectory
  store ``.zarr`` / ``.nc`` (:func:`chaosbench_py.simulate.open_trajectories`, lazily).
* :func:`load_sequences`: any of those, or an in-memory array / tensor / ``xarray`` object, as a list of
  ``(time, dim)`` tensors (one per trajectory).
* :func:`year_range`: the inclusive calendar years a dataset's ``time`` axis covers (the year range the
  normalisation statistics and climatologies are computed over).

Every failure names the path or the argument: a missing file (:class:`MissingInputError`), a file
that is not an array (:class:`CorruptFileError`), a wrong shape or non-finite values (:class:`InputError`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import CorruptFileError, InputError, MissingInputError, UnknownNameError

__all__ = ["load_sequences", "open_gridded", "open_trajectory_source", "year_range"]


def open_gridded(path: str | os.PathLike) -> xr.Dataset:
    """Open the gridded store at ``path`` (any layout :func:`chaosbench_py.data.open_era5` knows) lazily.

    Remote URLs (``gs://``, ``s3://``, ``https://``: WeatherBench2 on cloud storage) are passed on as
    they are; a local path must exist (:class:`MissingInputError` naming it).
    """
    from .sources import open_era5

    if "://" in str(path):
        return open_era5(str(path))
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"data.path: no gridded store at {p}")
    return open_era5(str(p))


def open_trajectory_source(path: str | os.PathLike) -> Path | xr.Dataset:
    """``.npy`` → its path (read by :func:`load_sequences`); ``.zarr`` / ``.nc`` → the lazy trajectory store."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"data.path: no trajectory file at {p}")
    if p.suffix == ".npy":
        return p
    from chaosbench_py.simulate import open_trajectories

    return open_trajectories(p)


def _load_npy(path: Path, name: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # not a .npy file, truncated, or an object array
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptFileError(f"{name}: {path} is not a readable .npy array ({reason})") from exc


def load_sequences(
    data: Any, name: str = "data", variable: str = "x", dtype: torch.dtype = torch.float32
) -> list[torch.Tensor]:
    """Training series as a list of ``(time, dim)`` tensors of ``dtype`` (one per trajectory).

    ``data``: a path to ``.npy`` (``(time, dim)`` or ``(trajectory, time, dim)``), a numpy array /
    tensor of those shapes, an ``xarray.DataArray`` or ``Dataset`` (variable ``variable``) with dims
    ``(trajectory, time, dim)`` or ``(time, dim)`` (the schema of :mod:`chaosbench_py.simulate`).
    ``name`` is how errors refer to ``data`` (e.g. ``"data.path"``).
    """
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise MissingInputError(f"{name}: no file at {path}")
        data = _load_npy(path, name)
    if isinstance(data, xr.Dataset):
        if variable not in data:
            raise UnknownNameError(
                f"{name}: dataset has no variable {variable!r} (has {list(data.data_vars)})"
            )
        data = data[variable]
    if isinstance(data, xr.DataArray):
        dims = ("trajectory", "time", "dim") if "trajectory" in data.dims else ("time", "dim")
        if set(data.dims) != set(dims):
            raise InputError(f"{name}: expected dims {dims}, got {data.dims}")
        data = data.transpose(*dims).values
    try:
        arr = torch.as_tensor(np.asarray(data), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a numeric array ({type(data).__name__}: {exc})") from exc
    if arr.ndim == 2:
        arr = arr.unsqueeze(0)
    if arr.ndim != 3:
        raise InputError(
            f"{name}: expected (time, dim) or (trajectory, time, dim), got shape {tuple(arr.shape)}"
        )
    if not torch.isfinite(arr).all():
        raise InputError(f"{name}: contains NaN or inf")
    return [a for a in arr]


def year_range(ds: xr.Dataset) -> tuple[int, int]:
    """Inclusive ``(first, last)`` calendar year of ``ds.time``."""
    import pandas as pd

    if "time" not in ds.coords or ds.sizes.get("time", 0) == 0:
        raise InputError("year_range: the dataset has no time axis (or it is empty)")
    t = pd.DatetimeIndex(ds["time"].values)
    return int(t.year.min()), int(t.year.max())
