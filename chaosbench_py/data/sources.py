"""ERA5 sources → the canonical lazy dataset (:mod:`chaosbench_py.data.schema`).

Three layouts users arrive with (ChaosBench: Nathaniel et al., NeurIPS 2024 Datasets & Benchmarks,
``leap-stc/ChaosBench``; WeatherBench2: Rasp et al., JAMES 2024; CDS: the ERA5 documentation of ECMWF):

* **CDS netCDF** (:func:`open_cds_netcdf`): one or many files from the Copernicus Climate Data
  Store: the old layout (``time``, ``level``, packed int16), the new 2024 layout (``valid_time``,
  ``pressure_level``, scalar ``number``, ``expver``) or cfgrib's conversion (``time`` +
  ``valid_time`` + ``step``, ``isobaricInhPa``, ``number`` for members). Latitude 90 → −90.
* **WeatherBench2 zarr** (:func:`open_weatherbench2_zarr`): long variable names, latitude
  ascending (−90 → 90, with or without the poles), dims ``(time, level, longitude, latitude)``
  (regridded stores) or ``(time, level, latitude, longitude)``; z in m² s⁻².
* **ChaosBench** (:func:`open_chaosbench`): one zarr store per day,
  ``<root>/era5/era5_full_1.5deg_YYYYMMDD.zarr`` with ``z q t u v w`` on 10 levels
  (10 … 1000 hPa), 1.5° 121 × 240, latitude 90 → −90, z in gpm (ERA5 z / 9.81). All day-stores
  become one dask array per variable with a consolidated daily ``time`` axis; building it opens
  no store (the grids are verified from coordinate arrays only), and serving a sample reads just
  the chunks of the days it needs (the zarr array handles are cached per process).

:func:`open_era5` detects the layout. Every opener returns the canonical dataset (lazy) and
accepts ``variables=``, ``levels=``, ``time=`` (see :func:`~chaosbench_py.data.schema.select`).
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

from ..errors import CorruptFileError, InputError, InputTypeError, MissingInputError
from ._source_common import (
    PathLike,
    _check_same_grid,
    _check_zarr_folder,
    _chunk_data_vars,
    _describe_files,
    _expand_paths,
    _finish,
    _open_named,
    _with_source_files,
)
from .chaosbench_days import (
    CHAOSBENCH_LEVELS,
    CHAOSBENCH_PATTERN,
    CHAOSBENCH_VARIABLES,
    chaosbench_files,
    open_chaosbench,
)
from .schema import select, to_canonical

logger = logging.getLogger(__name__)

__all__ = [
    "CHAOSBENCH_LEVELS", "CHAOSBENCH_PATTERN", "CHAOSBENCH_VARIABLES", "LAYOUTS", "NETCDF_SUFFIXES",
    "chaosbench_files", "detect_layout", "open_cds_netcdf", "open_chaosbench", "open_era5",
    "open_weatherbench2_zarr",
]  # fmt: skip

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
LAYOUTS = ("auto", "cds", "weatherbench2", "chaosbench")


# --------------------------------------------------------------------------------------------- CDS
def open_cds_netcdf(
    paths: PathLike | Sequence[PathLike],
    *,
    chunks: Mapping[str, int] | None = None,
    engine: str | None = None,
    variables: Sequence[str] | str | None = None,
    levels: Sequence[float] | float | None = None,
    time: Any = None,
) -> xr.Dataset:
    """Open ERA5 netCDF file(s) in a CDS layout as one canonical lazy dataset.

    Args:
        paths: a file, a glob pattern (``"era5_*.nc"``), a directory of ``.nc`` files, or a list
            of those. Files may split the data by time (concatenated) and/or by variable (merged).
        chunks: dask chunk sizes by canonical dim name (default ``{"time": 1}``: one time step
            per chunk, so a sample reads only its own bytes).
        engine: xarray backend (default: xarray's choice, netCDF4 for ``.nc``).
        variables, levels, time: selection, see :func:`~chaosbench_py.data.schema.select`.

    Each file is opened lazily and translated with ``to_canonical(source="cds")``; the files'
    latitude/longitude must be identical (after translation) and files holding the same
    variables must not repeat a time.

    Raises:
        FileNotFoundError: a missing file. ValueError: a grid mismatch (naming both files and
        the coordinate), a time present in two files (naming them and the time), unsorted times.
    """
    files = _expand_paths(paths, NETCDF_SUFFIXES)
    chunks = dict(chunks) if chunks is not None else {"time": 1}
    parts: list[xr.Dataset] = []
    for f in files:
        raw = _open_named(f, "netCDF", xr.open_dataset, f, engine=engine, chunks=None)  # nothing read
        raw = _chunk_data_vars(raw, chunks)
        try:
            can = to_canonical(raw, source="cds")
        except ValueError as err:
            raise CorruptFileError(f"{f}: not an ERA5 file in a CDS layout: {err}") from None
        _check_time_axis(can, f)
        if parts:
            _check_same_grid(files[0], parts[0], f, can, ("latitude", "longitude"))
        parts.append(can)
    if len(parts) == 1:
        ds = parts[0]
    else:
        _check_time_overlap(files, parts)
        try:
            ds = xr.combine_by_coords(parts, combine_attrs="drop_conflicts", join="outer")
        except ValueError as err:
            raise InputError(f"cannot combine {len(files)} CDS files ({files[0]} …): {err}") from err
        ds = ds.transpose("time", "member", ..., "level", "latitude", "longitude", missing_dims="ignore")
        ds.attrs = dict(parts[0].attrs)
    ds.attrs["source_files"] = _describe_files(files)
    return _with_source_files(_finish(ds, variables, levels, time, _describe_files(files)), files)


def _check_time_axis(ds: xr.Dataset, where: str) -> None:
    """A zero-length or duplicated ``time`` axis is an error naming ``where`` and the times."""
    if "time" not in ds.dims:
        return
    if ds.sizes["time"] == 0:
        raise CorruptFileError(f"{where}: dimension 'time' has length 0 (no time step in the file)")
    t = pd.Index(np.asarray(ds["time"].values))
    if t.has_duplicates:
        dup = [str(v) for v in t[t.duplicated()].unique()[:5]]
        raise InputError(f"{where}: coordinate 'time' has duplicated values {dup}")


def _check_time_overlap(files: list[str], parts: list[xr.Dataset]) -> None:
    seen: dict[tuple[str, ...], dict[np.datetime64, str]] = {}
    for f, p in zip(files, parts):
        if "time" not in p.dims:
            continue
        key = tuple(sorted(map(str, p.data_vars)))
        owner = seen.setdefault(key, {})
        for t in np.asarray(p["time"].values):
            if t in owner:
                raise InputError(
                    f"coordinate 'time' value {t} is in both {owner[t]} and {f} (duplicated time)"
                )
            owner[t] = f


# --------------------------------------------------------------------------------------------- WeatherBench2
def open_weatherbench2_zarr(
    path: PathLike,
    *,
    chunks: Mapping[str, int] | None = None,
    variables: Sequence[str] | str | None = None,
    levels: Sequence[float] | float | None = None,
    time: Any = None,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Open a WeatherBench2 ERA5 zarr store (local path or ``gs://…`` with gcsfs) canonically.

    Long names (``geopotential`` …) become short ones, latitude is flipped to 90 → −90, dims
    ``(time, level, longitude, latitude)`` are transposed, z stays in m² s⁻². ``chunks`` (by
    canonical dim name) defaults to the store's own chunks.
    """
    p = os.fspath(path)
    if "://" not in p and not os.path.exists(p):
        raise MissingInputError(f"no zarr store at {p}")
    kw: dict[str, Any] = {"storage_options": dict(storage_options)} if storage_options else {}
    if "://" not in p:
        _check_zarr_folder(p)
    if chunks is None:
        raw = _open_named(p, "a zarr store", xr.open_zarr, p, chunks={}, **kw)
    else:
        raw = _chunk_data_vars(_open_named(p, "a zarr store", xr.open_zarr, p, chunks=None, **kw), chunks)
    if variables is not None:  # select before translating: WB2 stores hold ~60 variables
        wanted = {v for v in ([variables] if isinstance(variables, str) else variables)}
        from .schema import canonical_name

        keep = [v for v in raw.data_vars if canonical_name(v) in {canonical_name(w) for w in wanted}]
        raw = raw[keep] if keep else raw
    try:
        ds = to_canonical(raw, source="weatherbench2")
    except ValueError as err:
        raise CorruptFileError(f"{p}: not an ERA5 store in the WeatherBench2 layout: {err}") from None
    _check_time_axis(ds, p)
    ds.attrs["source_files"] = p
    return _with_source_files(_finish(ds, variables, levels, time, p), [p])


def detect_layout(path_or_paths: PathLike | Sequence[PathLike]) -> str:
    """``"cds"``, ``"weatherbench2"`` or ``"chaosbench"`` for a path, glob or list of paths.

    Rules: netCDF files (or globs/dirs of them) → cds; a day-store name or a folder holding
    ``era5/era5_full_1.5deg_*.zarr`` (or such stores directly) → chaosbench; any other ``.zarr``
    store or ``gs://`` URL → weatherbench2.
    """
    items = [path_or_paths] if isinstance(path_or_paths, str | os.PathLike) else list(path_or_paths)
    if not items:
        raise InputError("path_or_paths: empty list")
    s = os.fspath(items[0]).rstrip("/")
    name = os.path.basename(s)
    if CHAOSBENCH_PATTERN.match(name):
        return "chaosbench"
    if any(s.lower().endswith(suf) for suf in NETCDF_SUFFIXES) or (
        any(ch in s for ch in "*?[") and ".nc" in s.lower()
    ):
        return "cds"
    if s.endswith(".zarr") or "://" in s:
        return "weatherbench2"
    p = Path(s)
    if p.is_dir():
        for folder in (p / "era5", p):
            if folder.is_dir() and any(CHAOSBENCH_PATTERN.match(c.name) for c in folder.iterdir()):
                return "chaosbench"
        if any(c.suffix.lower() in NETCDF_SUFFIXES for c in p.iterdir()):
            return "cds"
    raise InputError(
        f"cannot detect the layout of {s}: expected netCDF file(s) (CDS), a .zarr store (WeatherBench2) "
        "or a ChaosBench folder (era5/era5_full_1.5deg_YYYYMMDD.zarr); pass layout= explicitly"
    )


def open_era5(
    path_or_paths: PathLike | Sequence[PathLike], layout: str = "auto", **kwargs: Any
) -> xr.Dataset:
    """Open ERA5 in any supported layout as the canonical lazy dataset.

    ``layout="auto"`` uses :func:`detect_layout`; keyword arguments go to
    :func:`open_cds_netcdf`, :func:`open_weatherbench2_zarr` or :func:`open_chaosbench`
    (``variables=``, ``levels=``, ``chunks=`` work for all three; ``time=`` for the first two,
    ``years=`` for ChaosBench).
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout={layout!r}: expected one of {LAYOUTS}")
    if layout == "auto":
        layout = detect_layout(path_or_paths)
        logger.info("detected layout %r for %s", layout, path_or_paths)
    if layout == "cds":
        return open_cds_netcdf(path_or_paths, **kwargs)
    if layout == "weatherbench2":
        if not isinstance(path_or_paths, str | os.PathLike):
            raise InputTypeError("path_or_paths: a WeatherBench2 store is one path, not a list")
        return open_weatherbench2_zarr(path_or_paths, **kwargs)
    time = kwargs.pop("time", None)
    ds = open_chaosbench(path_or_paths, **kwargs)
    return select(ds, time=time) if time is not None else ds
