"""Forecast stores: what every emulator rollout writes and every scorecard reads.

Schema: dims ``(init_time, lead_time, [member], level,
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
rename). Reading, repair and the store's identity live in :mod:`chaosbench_py.data.forecast_store`
(:func:`open_forecast`, :func:`repair_forecast_store`, re-exported here).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ..errors import (
    CorruptFileError,
    InputError,
    InputTypeError,
    OutputExistsError,
    UnknownNameError,
)
from ..files import atomic_store
from .forecast_regions import COMPLETE, regions_status
from .forecast_store import (
    _TIME_ENCODING,
    COMMITTED_ATTR,
    LAYOUT_ATTR,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    _as_datetime,
    _as_timedeltas,
    _committed,
    _init_arrays,
    _jsonable_scalar,
    _layout_differences,
    _open_own_store,
    open_forecast,
    repair_forecast_store,
)
from .schema import SURFACE_VARIABLES, VARIABLES

logger = logging.getLogger(__name__)


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
        record = regions_status(root.attrs)
        if record is not None and record["status"] != COMPLETE:
            raise OutputExistsError(
                f"{self.path}: an unfinished forecast store written by ranks (its inits are sized up front); "
                "continue it with rollout_gridded_ranks / `chaosbench forecast --resume`, or pass overwrite=True"
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
