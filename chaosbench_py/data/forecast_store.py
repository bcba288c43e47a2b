"""Forecast stores on disk: how a store of this package is recognised, read and repaired.

The writing side is :class:`chaosbench_py.data.forecast_writer.ForecastWriter`; this module holds what
writer and readers share — the schema attributes (``schema``, ``schema_version``, ``forecast_layout``,
the committed-init count), the conversion of lead and init times, the check that a path holds a store
of this package with a given layout — and the readers: :func:`open_forecast` (zarr or netCDF, lazily,
committed inits only) and :func:`repair_forecast_store` (drops an uncommitted tail a crash left).
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
)

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
