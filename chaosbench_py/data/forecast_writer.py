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
  same path truncates. The store itself is created beside its place and renamed in, so a crash
  while creating it leaves nothing at the path;
* never destructive: a store is recognised by its ``schema``/``schema_version``/``forecast_layout``
  group attributes. Anything else at the path (a store written by xarray, a file, a store of another
  version or layout) is refused before it is touched; ``overwrite=True`` replaces it, whole, at the
  first write.

:meth:`ForecastWriter.to_netcdf` exports the committed inits atomically (temporary sibling, then
rename); :func:`open_forecast` opens a zarr or netCDF forecast lazily.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from ..errors import (
    CorruptFileError,
    InputError,
    InputTypeError,
    MissingInputError,
    OutputExistsError,
    UnknownNameError,
)
from ..files import atomic_store
from .schema import SURFACE_VARIABLES, VARIABLES

logger = logging.getLogger(__name__)

COMMITTED_ATTR = "forecast_inits_committed"
LAYOUT_ATTR = "forecast_layout"
SCHEMA_NAME = "chaosbench_py.forecast"
#: version of the store layout this writer makes (recorded in the group attrs as ``schema_version``)
SCHEMA_VERSION = 2
FORECAST_DIMS = ("init_time", "lead_time", "member", "level", "latitude", "longitude")
#: the temporary file zarr's local store writes before renaming it over a key (a kill leaves it behind)
_ZARR_TEMPORARY = re.compile(r"^.+\.[0-9a-f]{32}\.partial$")
_TIME_ENCODING = {"units": "seconds since 1970-01-01", "dtype": "int64"}


def _one_timedelta(x: Any, i: int, unit: str | None) -> pd.Timedelta:
    """One lead time as a ``pd.Timedelta`` (each element converted on its own: pandas 2.x rejects a
    list of ``numpy.str_``)."""
    if isinstance(x, bool | np.bool_):
        raise InputTypeError(f"lead_times[{i}]: {x!r} is a boolean, not a time delta")
    try:
        if isinstance(x, str | np.str_ | bytes):
            td = pd.Timedelta(str(x.decode() if isinstance(x, bytes) else x))
        elif isinstance(x, np.timedelta64 | pd.Timedelta | datetime.timedelta):
            td = pd.Timedelta(x)
        elif isinstance(x, int | float | np.integer | np.floating):
            if unit is None:
                raise InputTypeError(
                    f"lead_times[{i}]: bare number {x!r}; pass lead_time_unit= (e.g. 'h' or 'D') or give time "
                    "deltas (np.timedelta64, datetime.timedelta, pandas Timedelta or strings like '24h')"
                )
            td = pd.Timedelta(float(x) if isinstance(x, float | np.floating) else int(x), unit=unit)
        else:
            raise InputTypeError(
                f"lead_times[{i}]: cannot use {x!r} ({type(x).__name__}) as a time delta; give strings like "
                "'24h', np.timedelta64, datetime.timedelta, pandas Timedelta, or numbers with lead_time_unit="
            )
    except InputError:
        raise
    except (ValueError, OverflowError) as err:
        raise InputError(f"lead_times[{i}]: cannot interpret {x!r} as a time delta ({err})") from None
    if pd.isna(td):
        raise InputError(f"lead_times[{i}]: {x!r} is not a time (NaT)")
    return td


def _as_timedeltas(lead_times: Any, unit: str | None = None) -> np.ndarray:
    """``lead_times`` (strings, ``numpy.str_``, ``np.timedelta64``, ``pd.Timedelta``,
    ``datetime.timedelta``, or numbers in ``unit``) → strictly increasing ``timedelta64[ns]``."""
    if isinstance(lead_times, str | bytes) or lead_times is None:
        raise InputTypeError(f"lead_times: expected a sequence of time deltas, got {lead_times!r}")
    if unit is not None:
        try:
            pd.Timedelta(1, unit=unit)
        except (ValueError, TypeError):
            raise InputError(f"lead_time_unit={unit!r}: not a time unit (e.g. 'h', 'D', 's')") from None
    arr = np.asarray(lead_times, dtype=object if not isinstance(lead_times, np.ndarray) else None)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"lead_times: expected a non-empty 1-D sequence, got shape {arr.shape}")
    if arr.dtype.kind == "m":
        out = arr.astype("timedelta64[ns]")
        if np.isnat(out).any():
            raise InputError(f"lead_times[{int(np.flatnonzero(np.isnat(out))[0])}]: NaT is not a time")
    else:
        out = np.array([_one_timedelta(x, i, unit).to_timedelta64() for i, x in enumerate(arr.tolist())],
                       dtype="timedelta64[ns]")  # fmt: skip
    steps = np.diff(out)
    if np.any(steps <= np.timedelta64(0, "ns")):
        i = int(np.flatnonzero(steps <= np.timedelta64(0, "ns"))[0])
        raise InputError(
            f"lead_times: must be strictly increasing; lead_times[{i + 1}] = {pd.Timedelta(out[i + 1])} "
            f"follows {pd.Timedelta(out[i])}"
        )
    return out


def _jsonable_scalar(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def _describe(values: Sequence[Any]) -> str:
    values = list(values)
    if len(values) <= 4:
        return str(values)
    return f"{len(values)} values {values[0]} … {values[-1]}"


def _layout_differences(have: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between the layout recorded in a store and a writer's."""
    out = []
    for key, mine in want.items():
        theirs = have.get(key, "<missing>")
        if (
            isinstance(mine, list)
            and isinstance(theirs, list)
            and all(isinstance(v, float) for v in mine + theirs)
        ):
            same = len(mine) == len(theirs) and np.allclose(mine, theirs, rtol=0, atol=1e-9)
        else:
            same = theirs == mine
        if not same:
            name = key.replace("_seconds", " (s)")
            if isinstance(mine, list) and isinstance(theirs, list):
                out.append(f"{name}: store has {_describe(theirs)}, this writer {_describe(mine)}")
            else:
                out.append(f"{name}: store has {theirs!r}, this writer {mine!r}")
    return out


_REPLACE_HINT = "pass overwrite=True to replace it, or choose another path"


def _open_own_store(
    path: Path, error: type[Exception] = OutputExistsError, hint: str = _REPLACE_HINT
) -> zarr.Group:
    """The zarr group at ``path`` if it is a store written by :class:`ForecastWriter`, else ``error``
    naming the path and what it holds, followed by ``hint`` (nothing is modified)."""
    if not path.is_dir():
        raise error(f"{path}: exists and is not a forecast store (a file); {hint}")
    try:
        root = zarr.open_group(path, mode="r")
    except Exception as err:  # noqa: BLE001 - any failure to read means: not ours
        raise error(
            f"{path}: exists and is not a readable zarr store ({type(err).__name__}: {err}); {hint}"
        ) from None
    schema = root.attrs.get("schema")
    if schema != SCHEMA_NAME:
        raise error(
            f"{path}: exists and was not written by ForecastWriter (group attribute schema={schema!r}, expected "
            f"{SCHEMA_NAME!r}; e.g. a store written by xarray); it is left untouched — {hint}"
        )
    return root


def _committed(root: zarr.Group, path: Path) -> int:
    value = root.attrs.get(COMMITTED_ATTR)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CorruptFileError(
            f"{path}: forecast store attribute {COMMITTED_ATTR!r} is {value!r}, not a count"
        )
    return value


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
        lead_time_unit: the unit of ``lead_times`` given as bare numbers (``"h"``, ``"D"`` …);
            without it numbers are refused (their unit would be a guess).
        overwrite: replace an existing store at ``path`` (whatever it holds). The old store stays
            untouched until the first :meth:`write`, which builds the new store beside it and then
            swaps it in by renames (:func:`chaosbench_py.files.atomic_store`).
        resume: continue an existing store written by a ``ForecastWriter`` with the same layout
            (default True); ``False`` refuses any existing store unless ``overwrite``.

    A store is recognised by its group attributes ``schema = "chaosbench_py.forecast"``,
    ``schema_version`` and ``forecast_layout`` (variables, levels, grid, lead times, members,
    dtype). Without ``overwrite``, an existing path that is not such a store (e.g. written by
    xarray, a file, a store of another schema version) or whose layout differs from this writer's
    is refused with :class:`~chaosbench_py.errors.OutputExistsError` naming the path and what
    differs — before anything in it is touched.
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
        lead_time_unit: str | None = None,
        overwrite: bool = False,
        resume: bool = True,
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
        self.lead_times = _as_timedeltas(lead_times, lead_time_unit)
        self.members = None if members is None else np.asarray(list(members))
        self.attrs = dict(attrs or {})
        self.dtype = np.dtype(dtype)
        unit_map = dict(units or {})
        self.units = {v: unit_map.get(v, VARIABLES.get(v, ("1", ""))[0]) for v in self.variables}
        self.chunks = {"init_time": 1, "lead_time": 1, **dict(chunks or {})}
        self._written: list[np.datetime64] = []
        self._replace = False  # the first write builds a new store and swaps it in
        if self.path.exists() or self.path.is_symlink():
            if overwrite:
                self._replace = True
                logger.info("%s exists and will be replaced at the first write (overwrite=True)", self.path)
            elif not resume:
                raise OutputExistsError(
                    f"{self.path}: a forecast store exists; pass overwrite=True to replace it (or resume=True)"
                )
            else:
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

    def layout(self) -> dict[str, Any]:
        """The layout recorded in the store (JSON-able): what a resumed writer must match."""
        return {
            "variables": list(self.variables),
            "surface_variables": sorted(self.surface_variables),
            "levels": [float(x) for x in self.levels],
            "latitude": [float(x) for x in self.latitude],
            "longitude": [float(x) for x in self.longitude],
            "lead_times_seconds": [int(x) for x in self.lead_times.astype("timedelta64[s]").astype(np.int64)],
            "members": None if self.members is None else [_jsonable_scalar(m) for m in self.members],
            "dtype": self.dtype.str,
        }

    @property
    def written_init_times(self) -> np.ndarray:
        """The committed init times, in write order (datetime64[ns])."""
        return np.asarray(self._written, dtype="datetime64[ns]")

    def __contains__(self, init_time: Any) -> bool:
        return _as_datetime(init_time) in set(self._written)

    # ----------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        """Check (read-only) that the existing store is one this writer can continue; then drop its
        uncommitted tail and load the committed init times."""
        root = _open_own_store(self.path)
        version = root.attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            raise OutputExistsError(
                f"{self.path}: forecast store of schema_version {version!r}, this writer makes version "
                f"{SCHEMA_VERSION}; pass overwrite=True to replace it"
            )
        try:
            have = json.loads(root.attrs.get(LAYOUT_ATTR, "null"))
        except (TypeError, ValueError):
            have = None
        if not isinstance(have, Mapping):
            raise OutputExistsError(f"{self.path}: forecast store without a {LAYOUT_ATTR!r} attribute; "
                                    "pass overwrite=True to replace it")  # fmt: skip
        diffs = _layout_differences(dict(have), self.layout())
        if diffs:
            raise OutputExistsError(
                f"{self.path}: existing forecast store has another layout ({'; '.join(diffs)}); cannot resume "
                "it — write to another path or pass overwrite=True to replace it"
            )
        committed = _committed(root, self.path)
        _, arrays = _init_arrays(self.path)
        short = {n: a.shape[0] for n, a in arrays.items() if a.shape[0] < committed}
        missing = [v for v in [*self.variables, "init_time", "valid_time"] if v not in arrays]
        if short or missing:
            raise CorruptFileError(
                f"{self.path}: damaged forecast store ({committed} inits committed but "
                + (f"arrays {short} are shorter" if short else f"arrays {missing} are missing")
                + "); pass overwrite=True to replace it"
            )
        repair_forecast_store(self.path)
        ds = xr.open_zarr(self.path, consolidated=False, chunks=None)
        try:
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
                    raise UnknownNameError(
                        f"fields[{name!r}]: coordinate {c!r} lacks values {miss[:5].tolist()}"
                    )
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
        meta = {
            **self.attrs,
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            LAYOUT_ATTR: json.dumps(self.layout()),
            COMMITTED_ATTR: n,
        }
        block.attrs = meta
        if n == 0 and (self._replace or not self.path.exists()):
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
            # the store is built beside its place and renamed in (replacing the old one when
            # overwrite=True): a crash while creating it never leaves a half-made store at self.path
            with atomic_store(self.path) as tmp:
                block.to_zarr(tmp, mode="w-", encoding=enc, consolidated=False, zarr_format=3)
            self._replace = False
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

    def to_netcdf(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Export the committed inits to a netCDF file atomically (temporary sibling, then rename);
        an existing ``path`` is refused (:class:`~chaosbench_py.errors.OutputExistsError`) unless
        ``overwrite=True``."""
        out = Path(path)
        if out.exists() and not overwrite:
            raise OutputExistsError(f"{out}: exists; pass overwrite=True to replace it")
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
    resumes a store). Temporary files of an interrupted zarr write (``<key>.<uuid>.partial``) are
    deleted too. A store not written by :class:`ForecastWriter` (no ``schema`` attribute, e.g.
    written by xarray) or one whose arrays are *shorter* than the committed count is refused with
    :class:`~chaosbench_py.errors.CorruptFileError` before anything is changed.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"no forecast store at {path}")
    _open_own_store(path, CorruptFileError, "not repaired (nothing was changed)")
    root, arrays = _init_arrays(path)
    committed = _committed(root, path)
    short = {n: a.shape[0] for n, a in arrays.items() if a.shape[0] < committed}
    if short:
        raise CorruptFileError(
            f"{path}: arrays {short} are shorter than the {committed} committed inits; not repaired"
        )
    for tmp in path.rglob("*.partial"):  # zarr writes metadata to <name>.<uuid hex>.partial, then renames
        if _ZARR_TEMPORARY.match(tmp.name) and tmp.is_file():
            logger.warning("%s: removing the temporary %s of an interrupted write", path, tmp.name)
            tmp.unlink()
    rw = zarr.open_group(path, mode="a")
    for name, arr in arrays.items():
        if arr.shape[0] != committed:
            logger.warning("%s: dropping %d uncommitted init(s) of %r", path, arr.shape[0] - committed, name)
            rw[name].resize((committed, *arr.shape[1:]))
    return committed


def _open_dataset_named(path: Path, opener: Any, **kw: Any) -> xr.Dataset:
    """``opener(path, **kw)`` with any failure to read turned into a CorruptFileError naming the file."""
    try:
        return opener(path, **kw)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        if isinstance(err, FileNotFoundError) and not path.exists():
            raise MissingInputError(f"no forecast store at {path}") from None
        raise CorruptFileError(
            f"{path}: cannot be read as a forecast store ({type(err).__name__}: {err})"
        ) from None


def open_forecast(
    path: str | os.PathLike, *, chunks: Mapping[str, int] | str | None = "auto", repair: bool = False
) -> xr.Dataset:
    """Open a forecast store (``.zarr`` from :class:`ForecastWriter` or any zarr/netCDF in the forecast
    schema) lazily.

    In a store written by :class:`ForecastWriter` only committed inits are shown; a store whose arrays
    have different lengths (an append interrupted mid-way) raises unless ``repair=True`` (truncate the
    uncommitted tail; only safe when no writer is running). Other stores (written by xarray …) are
    shown whole. Inits are sorted by ``init_time``.

    Raises:
        MissingInputError (FileNotFoundError): no store. CorruptFileError (ValueError): a file or
        folder that cannot be read (truncated, random bytes, a folder that is not a zarr store).
        InputError (ValueError): not a forecast store (the missing dim or coordinate named), a
        zero-length ``init_time``/``lead_time``, duplicated init times (named), or an interrupted
        append without ``repair``.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"no forecast store at {path}")
    ck = {} if chunks == "auto" else chunks
    if path.suffix.lower() == ".zarr" or (path.is_dir() and (path / "zarr.json").exists()):
        if not path.is_dir():
            raise CorruptFileError(f"{path}: a .zarr store must be a folder, this is a file")
        if not ((path / "zarr.json").exists() or (path / ".zgroup").exists()):
            raise CorruptFileError(f"{path}: not a zarr store (no zarr.json or .zgroup in the folder)")
        try:
            root, arrays = _init_arrays(path)
        except Exception as err:  # noqa: BLE001 - named and re-raised
            raise CorruptFileError(
                f"{path}: cannot be read as a zarr store ({type(err).__name__}: {err})"
            ) from None
        own = root.attrs.get("schema") == SCHEMA_NAME
        if own:
            committed = _committed(root, path)
            lengths = {n: a.shape[0] for n, a in arrays.items()}
            if len(set(lengths.values())) > 1:
                if not repair:
                    raise InputError(
                        f"{path}: an append was interrupted (init_time lengths {lengths}, {committed} committed); "
                        "reopen it with ForecastWriter(...) to resume, or open_forecast(..., repair=True)"
                    )
                committed = repair_forecast_store(path)
        ds = _open_dataset_named(
            path, xr.open_zarr, consolidated=None if (path / ".zmetadata").exists() else False, chunks=ck
        )
        if own:
            if ds.sizes.get("init_time", 0) > committed:
                ds = ds.isel(init_time=slice(0, committed))
            ds.attrs.pop(COMMITTED_ATTR, None)
            try:  # the writer's variable order (a store's listing order depends on the file system)
                order = [
                    v for v in json.loads(ds.attrs.get(LAYOUT_ATTR, "{}")).get("variables", []) if v in ds
                ]
            except (TypeError, ValueError, AttributeError):
                order = []
            if order and set(order) == set(map(str, ds.data_vars)):
                ds = ds[order]
    else:
        ds = _open_dataset_named(path, xr.open_dataset, chunks=ck)
    for d in ("init_time", "lead_time", "latitude", "longitude"):
        if d not in ds.dims:
            raise InputError(
                f"{path}: not a forecast store (no {d!r} dimension; dims {sorted(map(str, ds.dims))})"
            )
        if ds.sizes[d] == 0:
            raise InputError(f"{path}: dimension {d!r} has length 0 (no {d} in the store)")
    if "valid_time" not in ds.coords:
        raise InputError(f"{path}: forecast store has no 'valid_time' coordinate")
    init = pd.Index(np.asarray(ds["init_time"].values))
    if init.has_duplicates:
        dup = init[init.duplicated()].unique()
        raise InputError(f"{path}: coordinate 'init_time' has duplicated values {[str(t) for t in dup[:5]]}")
    if init.size > 1 and not init.is_monotonic_increasing:
        ds = ds.sortby("init_time")
    return ds
