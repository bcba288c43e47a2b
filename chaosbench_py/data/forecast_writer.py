"""Forecast stores: what every emulator rollout writes and every scorecard reads.

Schema (``../shared/DESIGN.md``, "Schemas"): dims ``(init_time, lead_time, [member], level,
latitude, longitude)`` (surface variables without ``level``), coordinate ``valid_time =
init_time + lead_time`` with dims ``(init_time, lead_time)``, short variable names with ``units``,
latitude and longitude as given by the caller (normally canonical: 90 → −90, 0 → 360).

:class:`ForecastWriter` appends one initialisation (or several) at a time to a zarr store:

* bounded memory: one init's fields are in memory at a time;
* resumable: an init that is already in the store is never rewritten (``write`` returns False),
  so a restarted rollout job skips what it did;
* crash-safe: each append writes the arrays first and then bumps the committed count in the
  group attributes (the pattern of :mod:`chaosbench_py.simulate.store`). A crash in between leaves
  an uncommitted tail that :func:`open_forecast` ignores and the next ``ForecastWriter`` on the
  same path truncates.

:meth:`ForecastWriter.to_netcdf` exports the committed inits atomically (temporary sibling, then
rename); :func:`open_forecast` opens a zarr or netCDF forecast lazily.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from ..errors import InputError, InputTypeError, MissingInputError, UnknownNameError
from ..files import atomic_store
from .schema import SURFACE_VARIABLES, VARIABLES

logger = logging.getLogger(__name__)

COMMITTED_ATTR = "forecast_inits_committed"
SCHEMA_NAME = "chaosbench_py.forecast"
FORECAST_DIMS = ("init_time", "lead_time", "member", "level", "latitude", "longitude")
_TIME_ENCODING = {"units": "seconds since 1970-01-01", "dtype": "int64"}


def _as_timedeltas(lead_times: Any) -> np.ndarray:
    arr = np.asarray(lead_times)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"lead_times: expected a non-empty 1-D sequence, got shape {arr.shape}")
    if arr.dtype.kind in "iuf":
        raise InputTypeError(
            "lead_times: give time deltas (np.timedelta64, datetime.timedelta, pandas Timedelta or "
            "strings like '24h'), not bare numbers whose unit would be a guess"
        )
    out = np.asarray(pd.to_timedelta(list(arr))).astype("timedelta64[ns]")
    if np.any(np.diff(out) <= np.timedelta64(0, "ns")):
        raise InputError("lead_times: must be strictly increasing")
    return out


def _as_datetime(t: Any, name: str = "init_time") -> np.datetime64:
    try:
        return np.datetime64(pd.Timestamp(t).to_datetime64(), "ns")
    except (TypeError, ValueError) as err:
        raise InputTypeError(f"{name}: cannot interpret {t!r} as a time") from err


class ForecastWriter:
    """Append forecasts, one initialisation at a time, to a zarr store in the forecast schema.

    Args:
        path: the ``.zarr`` store (created on the first write; an existing one is resumed after
            checking that it was made with the same variables, levels, grid, leads and members).
        variables: short variable names; those in ``surface_variables`` get no ``level`` dim.
        levels: pressure levels (hPa) of the upper-air variables (may be empty if all are surface).
        latitude, longitude: grid coordinate values (degrees), in the order the data comes in.
        lead_times: forecast lead times as time deltas (``np.timedelta64`` / ``"24h"`` …).
        members: ensemble member ids, or None for a deterministic forecast (no ``member`` dim).
        attrs: global attributes (model name, checkpoint, normalisation …), stored in the store.
        units: units per variable (default: the canonical units of known short names).
        dtype: on-disk dtype of the fields (float32).
        chunks: on-disk chunk size per dim (default one init × one lead × everything else).
        surface_variables: the variables without a ``level`` dim (default: those of ``variables``
            in ``SURFACE_VARIABLES``: ``t2m``, ``msl`` …; a shallow-water ``z`` is 2-D, so pass it here).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        variables: Sequence[str],
        levels: Sequence[float] | None,
        latitude: Sequence[float],
        longitude: Sequence[float],
        lead_times: Sequence[Any],
        members: Sequence[int] | None = None,
        attrs: Mapping[str, Any] | None = None,
        units: Mapping[str, str] | None = None,
        dtype: Any = np.float32,
        chunks: Mapping[str, int] | None = None,
        surface_variables: Sequence[str] | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".zarr":
            raise InputError(f"path: {self.path} must be a .zarr store (export netCDF with to_netcdf)")
        if isinstance(variables, str) or not variables:
            raise InputError(f"variables: expected a non-empty list of names, got {variables!r}")
        self.variables = [str(v) for v in variables]
        if len(set(self.variables)) != len(self.variables):
            raise InputError(f"variables: duplicated names in {self.variables}")
        self.surface_variables = (
            {v for v in self.variables if v in SURFACE_VARIABLES}
            if surface_variables is None
            else {str(v) for v in surface_variables}
        )
        unknown = sorted(self.surface_variables - set(self.variables))
        if unknown:
            raise InputError(f"surface_variables: {unknown} are not in variables {self.variables}")
        self.levels = np.asarray([] if levels is None else list(levels))
        if any(v not in self.surface_variables for v in self.variables) and self.levels.size == 0:
            raise InputError(f"levels: upper-air variables {self.variables} need at least one level")
        self.latitude = np.asarray(latitude, dtype=np.float64)
        self.longitude = np.asarray(longitude, dtype=np.float64)
        for name, c in (("latitude", self.latitude), ("longitude", self.longitude)):
            if c.ndim != 1 or c.size == 0:
                raise InputError(f"{name}: expected a non-empty 1-D array, got shape {c.shape}")
        self.lead_times = _as_timedeltas(lead_times)
        self.members = None if members is None else np.asarray(list(members))
        self.attrs = dict(attrs or {})
        self.dtype = np.dtype(dtype)
        unit_map = dict(units or {})
        self.units = {v: unit_map.get(v, VARIABLES.get(v, ("1", ""))[0]) for v in self.variables}
        self.chunks = {"init_time": 1, "lead_time": 1, **dict(chunks or {})}
        self._written: list[np.datetime64] = []
        if self.path.exists():
            self._resume()

    # ----------------------------------------------------------------------------- layout
    def dims_of(self, variable: str) -> tuple[str, ...]:
        """The dims of ``variable`` in one init's block (without ``init_time``)."""
        dims = ["lead_time"]
        if self.members is not None:
            dims.append("member")
        if variable not in self.surface_variables:
            dims.append("level")
        return (*dims, "latitude", "longitude")

    def _sizes(self) -> dict[str, int]:
        s = {
            "lead_time": self.lead_times.size,
            "level": self.levels.size,
            "latitude": self.latitude.size,
            "longitude": self.longitude.size,
        }
        if self.members is not None:
            s["member"] = self.members.size
        return s

    def _coords(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "lead_time": ("lead_time", self.lead_times),
            "latitude": ("latitude", self.latitude, {"units": "degrees_north"}),
            "longitude": ("longitude", self.longitude, {"units": "degrees_east"}),
        }
        if self.levels.size:
            c["level"] = ("level", self.levels, {"units": "hPa"})
        if self.members is not None:
            c["member"] = ("member", self.members)
        return c

    @property
    def written_init_times(self) -> np.ndarray:
        """The committed init times, in write order (datetime64[ns])."""
        return np.asarray(self._written, dtype="datetime64[ns]")

    def __contains__(self, init_time: Any) -> bool:
        return _as_datetime(init_time) in set(self._written)

    # ----------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        committed = repair_forecast_store(self.path)
        ds = xr.open_zarr(self.path, consolidated=False, chunks=None)
        try:
            expect = {
                "latitude": self.latitude,
                "longitude": self.longitude,
                "lead_time": self.lead_times,
            }
            if self.levels.size:
                expect["level"] = self.levels
            if self.members is not None:
                expect["member"] = self.members
            for name, values in expect.items():
                if name not in ds.coords:
                    raise InputError(f"{self.path}: existing store has no coordinate {name!r}; cannot resume")
                have = np.asarray(ds[name].values)
                if have.shape != values.shape or not np.array_equal(have, values.astype(have.dtype)):
                    raise InputError(
                        f"{self.path}: existing store has different coordinate {name!r} "
                        f"({have.size} values) than this writer ({values.size}); cannot resume"
                    )
            if (self.members is None) != ("member" not in ds.dims):
                raise InputError(f"{self.path}: existing store differs in having a 'member' dimension")
            if sorted(map(str, ds.data_vars)) != sorted(self.variables):
                raise InputError(
                    f"{self.path}: existing store has variables {sorted(map(str, ds.data_vars))}, "
                    f"this writer {sorted(self.variables)}; cannot resume"
                )
            self._written = list(np.asarray(ds["init_time"].values[:committed], dtype="datetime64[ns]"))
        finally:
            ds.close()
        logger.info("resuming %s with %d committed init(s)", self.path, len(self._written))

    # ----------------------------------------------------------------------------- writing
    def _block(self, init_time: np.datetime64, fields: Any) -> xr.Dataset:
        sizes = self._sizes()
        data_vars = {}
        if isinstance(fields, xr.Dataset):
            fields = {k: fields[k] for k in fields.data_vars}
        if not isinstance(fields, Mapping):
            raise InputTypeError(
                f"fields: expected a Mapping of variable → array or an xarray.Dataset, got {type(fields)}"
            )
        missing = [v for v in self.variables if v not in fields]
        extra = [k for k in fields if k not in self.variables]
        if missing or extra:
            raise UnknownNameError(
                f"fields: variables {missing} missing"
                + (f", unexpected {extra}" if extra else "")
                + f"; writer expects {self.variables}"
            )
        for v in self.variables:
            dims = self.dims_of(v)
            arr = fields[v]
            if isinstance(arr, xr.DataArray):
                arr = self._align(v, arr, dims)
            elif hasattr(arr, "detach"):  # torch tensor
                arr = arr.detach().cpu().numpy()
            arr = np.asarray(arr)
            want = tuple(sizes[d] for d in dims)
            if arr.shape != want:
                raise InputError(f"fields[{v!r}]: shape {arr.shape}, expected {want} for dims {dims}")
            data_vars[v] = (
                ("init_time", *dims),
                arr.astype(self.dtype, copy=False)[None],
                {"units": self.units[v]} | ({"long_name": VARIABLES[v][1]} if v in VARIABLES else {}),
            )
        coords = self._coords()
        coords["init_time"] = ("init_time", np.asarray([init_time], dtype="datetime64[ns]"))
        coords["valid_time"] = (("init_time", "lead_time"), (init_time + self.lead_times)[None, :])
        return xr.Dataset(data_vars, coords=coords)

    def _align(self, name: str, arr: xr.DataArray, dims: tuple[str, ...]) -> np.ndarray:
        if "init_time" in arr.dims:
            if arr.sizes["init_time"] != 1:
                raise InputError(
                    f"fields[{name!r}]: holds {arr.sizes['init_time']} init times; write one at a time"
                )
            arr = arr.isel(init_time=0)
        extra = [d for d in arr.dims if d not in dims]
        if extra:
            raise InputError(f"fields[{name!r}]: unexpected dims {extra}; expected {dims}")
        want = {"latitude": self.latitude, "longitude": self.longitude, "lead_time": self.lead_times}
        if "level" in dims:
            want["level"] = self.levels
        if self.members is not None:
            want["member"] = self.members
        for c, values in want.items():
            if c in arr.coords and c in arr.dims:
                have = np.asarray(arr[c].values)
                miss = values[~np.isin(values.astype(have.dtype), have)]
                if miss.size:
                    raise UnknownNameError(f"fields[{name!r}]: coordinate {c!r} lacks values {miss[:5].tolist()}")
                arr = arr.sel({c: values.astype(have.dtype)})
        return np.asarray(arr.transpose(*dims).values)

    def write(self, init_time: Any, fields: Mapping[str, Any] | xr.Dataset) -> bool:
        """Append the forecast from one initialisation; return False if it was already written.

        Args:
            init_time: the initialisation time (anything ``pandas.Timestamp`` understands).
            fields: ``{variable: array}`` with shape ``(lead_time, [member], [level], latitude,
                longitude)`` (numpy, torch or xarray; xarray is aligned by coordinate values and
                dim names), or an ``xarray.Dataset`` of such variables.
        """
        t = _as_datetime(init_time)
        if t in set(self._written):
            logger.info("%s: init %s already written; skipped", self.path, t)
            return False
        n = len(self._written)
        self._append_uncommitted(t, fields)
        # the commit: only now does the store count this init (a crash before leaves a tail that
        # open_forecast ignores and the next writer truncates)
        zarr.open_group(self.path, mode="a").attrs.update({COMMITTED_ATTR: n + 1})
        self._written.append(t)
        return True

    def _append_uncommitted(self, t: np.datetime64, fields: Any) -> None:
        """Append one init's arrays; the group attrs still carry the previous committed count."""
        block = self._block(t, fields)
        n = len(self._written)
        meta = {**self.attrs, "schema": SCHEMA_NAME, COMMITTED_ATTR: n}
        block.attrs = meta
        if n == 0 and not self.path.exists():
            enc = {
                v: {
                    "chunks": tuple(
                        min(self.chunks.get(d, s), s) for d, s in zip(block[v].dims, block[v].shape)
                    )
                }
                for v in self.variables
            }
            enc["init_time"] = dict(_TIME_ENCODING)
            enc["valid_time"] = dict(_TIME_ENCODING)
            enc["lead_time"] = {"units": "seconds", "dtype": "int64"}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            block.to_zarr(self.path, mode="w-", encoding=enc, consolidated=False, zarr_format=3)
        else:
            block.to_zarr(self.path, append_dim="init_time", consolidated=False)

    def append(self, forecast: xr.Dataset) -> list[np.datetime64]:
        """Write every init of a forecast Dataset with an ``init_time`` dim; return those written."""
        if "init_time" not in forecast.dims:
            raise InputError("forecast: has no 'init_time' dimension; use write(init_time, fields)")
        done = []
        for i in range(forecast.sizes["init_time"]):
            one = forecast.isel(init_time=i)
            if self.write(one["init_time"].values, one.drop_vars("valid_time", errors="ignore")):
                done.append(_as_datetime(one["init_time"].values))
        return done

    def to_netcdf(self, path: str | os.PathLike) -> Path:
        """Export the committed inits to a netCDF file atomically (temporary sibling, then rename)."""
        out = Path(path)
        ds = open_forecast(self.path)
        for name in ds.variables:
            ds[name].encoding = {}
        enc: dict[str, dict[str, Any]] = {v: {"zlib": True, "complevel": 1} for v in ds.data_vars}
        for c in ("init_time", "valid_time"):
            enc[c] = dict(_TIME_ENCODING)
        enc["lead_time"] = {"units": "seconds", "dtype": "int64"}
        with atomic_store(out) as tmp:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=enc)
        logger.info("wrote %s (%d inits)", out, ds.sizes["init_time"])
        return out


def _init_arrays(path: Path) -> tuple[zarr.Group, dict[str, Any]]:
    root = zarr.open_group(path, mode="r")
    arrays = {}
    for name, arr in root.arrays():
        dims = getattr(arr.metadata, "dimension_names", None) or arr.attrs.get("_ARRAY_DIMENSIONS")
        if dims and dims[0] == "init_time":
            arrays[name] = arr
    return root, arrays


def repair_forecast_store(path: str | os.PathLike) -> int:
    """Truncate an interrupted append (arrays longer than the committed count); return the count.

    Only call this when no writer is appending to ``path`` (``ForecastWriter`` calls it when it
    resumes a store).
    """
    path = Path(path)
    root, arrays = _init_arrays(path)
    committed = int(root.attrs.get(COMMITTED_ATTR, 0))
    rw = zarr.open_group(path, mode="a")
    for name, arr in arrays.items():
        if arr.shape[0] != committed:
            logger.warning("%s: dropping %d uncommitted init(s) of %r", path, arr.shape[0] - committed, name)
            rw[name].resize((committed, *arr.shape[1:]))
    return committed


def open_forecast(
    path: str | os.PathLike, *, chunks: Mapping[str, int] | str | None = "auto", repair: bool = False
) -> xr.Dataset:
    """Open a forecast store (``.zarr`` from :class:`ForecastWriter`, or ``.nc``) lazily.

    Only committed inits are shown, sorted by ``init_time``. A zarr store whose arrays have
    different lengths (an append interrupted mid-way) raises unless ``repair=True`` (truncate the
    uncommitted tail; only safe when no writer is running).

    Raises:
        FileNotFoundError: no store. ValueError: not a forecast store (named dim missing),
        duplicated init times, or an interrupted append without ``repair``.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"no forecast store at {path}")
    ck = {} if chunks == "auto" else chunks
    if path.suffix.lower() == ".zarr":
        root, arrays = _init_arrays(path)
        committed = int(root.attrs.get(COMMITTED_ATTR, 0))
        lengths = {n: a.shape[0] for n, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            if not repair:
                raise InputError(
                    f"{path}: an append was interrupted (init_time lengths {lengths}, {committed} committed); "
                    "reopen it with ForecastWriter(...) to resume, or open_forecast(..., repair=True)"
                )
            committed = repair_forecast_store(path)
        ds = xr.open_zarr(path, consolidated=False, chunks=ck)
        if ds.sizes.get("init_time", 0) > committed:
            ds = ds.isel(init_time=slice(0, committed))
        ds.attrs.pop(COMMITTED_ATTR, None)
    else:
        ds = xr.open_dataset(path, chunks=ck)
    for d in ("init_time", "lead_time", "latitude", "longitude"):
        if d not in ds.dims:
            raise InputError(
                f"{path}: not a forecast store (no {d!r} dimension; dims {sorted(map(str, ds.dims))})"
            )
    if "valid_time" not in ds.coords:
        raise InputError(f"{path}: forecast store has no 'valid_time' coordinate")
    init = np.asarray(ds["init_time"].values)
    if len(np.unique(init)) != init.size:
        raise InputError(f"{path}: coordinate 'init_time' has duplicated values")
    if init.size > 1 and np.any(np.diff(init) < np.timedelta64(0, "ns")):
        ds = ds.sortby("init_time")
    return ds
