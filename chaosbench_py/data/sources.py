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

import datetime
import functools
import glob
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import CorruptFileError, InputError, InputTypeError, MissingInputError, UnknownNameError
from .schema import DIM_ALIASES, select, to_canonical, validate_canonical

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
#: ChaosBench per-day ERA5 store name (repo leap-stc/ChaosBench, chaosbench/dataset.py).
CHAOSBENCH_PATTERN = re.compile(r"^era5_full_1\.5deg_(\d{8})\.zarr$")
CHAOSBENCH_VARIABLES = ("z", "q", "t", "u", "v", "w")
CHAOSBENCH_LEVELS = (10, 50, 100, 200, 300, 500, 700, 850, 925, 1000)
LAYOUTS = ("auto", "cds", "weatherbench2", "chaosbench")


# --------------------------------------------------------------------------------------------- helpers
def _source_chunks(chunks: Mapping[str, int], dims: Sequence[str]) -> dict[str, int]:
    """Translate chunk sizes given with canonical dim names to a source's dim names."""
    out = {}
    for d in dims:
        canon = "time" if d == "valid_time" else DIM_ALIASES.get(d, d)
        if canon in chunks:
            out[d] = chunks[canon]
    return out


def _chunk_data_vars(raw: xr.Dataset, chunks: Mapping[str, int]) -> xr.Dataset:
    """Dask-chunk the data variables of a lazily opened dataset; small coordinates are read to numpy.

    (``Dataset.chunk`` would also turn coordinates such as cfgrib's ``valid_time`` into dask
    arrays, and reading them later would be a compute.)
    """
    raw = raw.assign_coords({c: raw[c].variable.load() for c in raw.coords if c not in raw.indexes})
    src = _source_chunks(chunks, list(map(str, raw.dims)))
    return raw.assign(
        {v: raw[v].variable.chunk({d: src[d] for d in raw[v].dims if d in src} or {}) for v in raw.data_vars}
    )


def _with_source_files(ds: xr.Dataset, files) -> xr.Dataset:
    """Record the full list of source paths in ``ds.encoding`` (the statistics cache fingerprints them)."""
    ds.encoding["source_files"] = [str(f) for f in files]
    return ds


def _describe_files(files: Sequence[str]) -> str:
    if len(files) <= 20:
        return "\n".join(files)
    return f"{files[0]} … {files[-1]} ({len(files)} files)"


def _finish(ds: xr.Dataset, variables: Any, levels: Any, time: Any, where: str) -> xr.Dataset:
    """Select and validate; an error names ``where`` (the file(s)) before what is wrong."""
    try:
        ds = select(ds, variables=variables, levels=levels, time=time)
        return validate_canonical(ds, require_time="time" in ds.dims)
    except InputError as err:
        raise _named(err, where) from None


def _named(err: InputError, where: str) -> InputError:
    """The same kind of error with ``where`` (a file) in front of the message."""
    new = type(err)(f"{where}: {err}")
    return new


def _open_named(path: str, what: str, opener: Any, *args: Any, **kwargs: Any) -> xr.Dataset:
    """``opener(*args, **kwargs)`` with a failure to read turned into an error naming ``path``.

    A truncated file, random bytes, a folder that is not a zarr store, an unreadable array: all
    become :class:`~chaosbench_py.errors.CorruptFileError` (the reader's own message kept after the
    file name); a path that vanished becomes :class:`~chaosbench_py.errors.MissingInputError`.
    """
    try:
        return opener(*args, **kwargs)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError, IndexError) as err:
        if isinstance(err, InputError):
            raise _named(err, path) from None
        if isinstance(err, FileNotFoundError) and not os.path.exists(path):
            raise MissingInputError(f"no such file: {path}") from None
        raise CorruptFileError(f"{path}: cannot be read as {what} ({type(err).__name__}: {err})") from None


def _check_same_grid(
    ref_name: str, ref: xr.Dataset, name: str, ds: xr.Dataset, coords: Sequence[str]
) -> None:
    """Raise naming ``name`` and the coordinate when ``ds``'s grid differs from ``ref``'s."""
    for c in coords:
        if (c in ref.dims) != (c in ds.dims):
            raise InputError(f"{name}: dimension {c!r} present in one of {ref_name} and {name} only")
        if c not in ref.dims:
            continue
        a, b = np.asarray(ref[c].values), np.asarray(ds[c].values)
        if a.shape != b.shape:
            raise InputError(
                f"grid mismatch: {name} has {b.size} values of coordinate {c!r}, {ref_name} has {a.size}"
            )
        if not np.array_equal(a, b):
            i = int(np.flatnonzero(a != b)[0])
            raise InputError(
                f"grid mismatch: coordinate {c!r} of {name} differs from {ref_name} "
                f"(index {i}: {b[i]!r} vs {a[i]!r})"
            )


def _expand_paths(paths: PathLike | Sequence[PathLike], suffixes: Sequence[str]) -> list[str]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    out: list[str] = []
    for item in items:
        s = os.fspath(item)
        if any(ch in s for ch in "*?["):
            found = sorted(glob.glob(s))
            if not found:
                raise MissingInputError(f"no file matches {s!r}")
            out.extend(found)
        elif os.path.isdir(s) and not s.rstrip("/").endswith(".zarr"):
            found = sorted(str(p) for p in Path(s).iterdir() if p.suffix.lower() in suffixes)
            if not found:
                raise MissingInputError(f"no {'/'.join(suffixes)} file in directory {s}")
            out.extend(found)
        else:
            if not os.path.exists(s):
                raise MissingInputError(f"no such file: {s}")
            out.append(s)
    if not out:
        raise MissingInputError("no input file given")
    return out


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


def _check_zarr_folder(p: str) -> None:
    """A local path that is not a zarr store (a file, or a folder without zarr metadata) → CorruptFileError."""
    if not os.path.isdir(p):
        raise CorruptFileError(f"{p}: not a zarr store (a file, not a folder)")
    if not any(os.path.exists(os.path.join(p, m)) for m in ("zarr.json", ".zgroup", ".zmetadata", ".zarray")):
        raise CorruptFileError(f"{p}: not a zarr store (no zarr.json, .zgroup or .zmetadata in the folder)")


# --------------------------------------------------------------------------------------------- ChaosBench
def chaosbench_files(
    root: PathLike | Sequence[PathLike], years: Sequence[int] | int | None = None
) -> list[Path]:
    """The ChaosBench per-day ERA5 stores under ``root``, sorted by date.

    ``root`` is the ChaosBench ``data/`` folder (holding ``era5/``), the ``era5/`` folder itself,
    a single day-store, or a list of day-stores. ``years`` keeps only those years (file names
    ``era5_full_1.5deg_YYYYMMDD.zarr``).
    """
    if isinstance(root, str | os.PathLike):
        r = Path(root)
        if CHAOSBENCH_PATTERN.match(r.name):
            candidates = [r]
        else:
            folder = r / "era5" if (r / "era5").is_dir() else r
            if not folder.is_dir():
                raise MissingInputError(
                    f"no ChaosBench folder at {r} (expected {r}/era5/era5_full_1.5deg_*.zarr)"
                )
            candidates = [p for p in folder.iterdir() if CHAOSBENCH_PATTERN.match(p.name)]
    else:
        candidates = [Path(p) for p in root]
        bad = [str(p) for p in candidates if not CHAOSBENCH_PATTERN.match(p.name)]
        if bad:
            raise InputError(f"not ChaosBench day-store names (era5_full_1.5deg_YYYYMMDD.zarr): {bad[:3]}")
    for p in candidates:
        _chaosbench_date(p)
    if years is not None:
        ys = {int(y) for y in ([years] if isinstance(years, int) else years)}
        candidates = [p for p in candidates if int(CHAOSBENCH_PATTERN.match(p.name).group(1)[:4]) in ys]
    files = sorted(candidates, key=lambda p: p.name)
    names = pd.Index([p.name for p in files])
    if names.has_duplicates:
        dup = names[names.duplicated()][0]
        raise InputError(
            f"duplicated ChaosBench date: {[str(p) for p in files if p.name == dup]} hold the same day"
        )
    if not files:
        raise MissingInputError(
            f"no ChaosBench day-stores era5_full_1.5deg_YYYYMMDD.zarr under {root}"
            + (f" for years {sorted(ys)}" if years is not None else "")
        )
    return files


def _chaosbench_date(path: Path) -> np.datetime64:
    """The date in a day-store's name; an impossible one (``20230230``) is an error naming the file."""
    m = CHAOSBENCH_PATTERN.match(path.name)
    if m is None:
        raise InputError(f"{path}: not a ChaosBench day-store name (era5_full_1.5deg_YYYYMMDD.zarr)")
    try:
        day = datetime.datetime.strptime(m.group(1), "%Y%m%d")
    except ValueError:
        raise InputError(f"{path}: impossible date {m.group(1)!r} in the day-store name (YYYYMMDD)") from None
    return np.datetime64(day, "ns")


@functools.lru_cache(maxsize=4096)
def _zarr_array(path: str, var: str):
    import zarr

    return zarr.open_array(path, path=var, mode="r")


class _DayReader:
    """Reads ``var`` of a run of day-stores into ``(n_days, level, lat, lon)`` (a dask block function).

    Decodes what xarray's zarr writer encodes: ``scale_factor``/``add_offset`` and a non-NaN
    ``_FillValue`` (→ NaN). A store whose array has another shape is an error naming the file.
    """

    def __init__(
        self,
        paths: Sequence[str],
        var: str,
        shape: tuple[int, ...],
        level_index: np.ndarray | None,
        dtype: np.dtype,
        encoding: Mapping[str, Any],
    ) -> None:
        self.paths = tuple(paths)
        self.var = var
        self.shape = tuple(shape)  # stored shape of one day (maybe with a leading time of 1)
        self.level_index = level_index
        self.dtype = np.dtype(dtype)
        self.scale = encoding.get("scale_factor")
        self.offset = encoding.get("add_offset")
        self.fill = encoding.get("_FillValue")

    def __call__(self, block: np.ndarray) -> np.ndarray:
        days = [self._read(int(i)) for i in np.asarray(block).ravel()]
        return np.stack(days) if days else np.empty((0,), dtype=self.dtype)

    def _read(self, i: int) -> np.ndarray:
        path = self.paths[i]
        try:
            arr = _zarr_array(path, self.var)
        except Exception as err:  # noqa: BLE001 - re-raised with the file named
            raise CorruptFileError(
                f"{path}: cannot open variable {self.var!r} ({type(err).__name__}: {err})"
            ) from None
        if tuple(arr.shape) != self.shape:
            raise InputError(
                f"{path}: variable {self.var!r} has shape {tuple(arr.shape)}, the first store has {self.shape}"
            )
        lead = (0,) if len(self.shape) == 4 else ()
        if self.level_index is None:
            raw = arr[lead + (slice(None),)] if lead else arr[...]
        else:
            raw = arr.oindex[lead + (self.level_index, slice(None), slice(None))]
        raw = np.asarray(raw)
        data = raw.astype(self.dtype, copy=False)
        if self.fill is not None and not np.isnan(float(self.fill)):
            data = np.where(raw == self.fill, np.nan, data).astype(self.dtype)
        if self.scale is not None:
            data = data * self.dtype.type(self.scale)
        if self.offset is not None:
            data = data + self.dtype.type(self.offset)
        return data.astype(self.dtype, copy=False)


def _raw_coords(path: str) -> dict[str, np.ndarray]:
    import zarr

    _check_zarr_folder(path)
    try:
        g = zarr.open_group(path, mode="r")
        out = {}
        for c in ("level", "latitude", "longitude"):
            if c not in g:
                raise CorruptFileError(f"{path}: ChaosBench day-store has no coordinate {c!r}")
            out[c] = np.asarray(g[c][...])
    except CorruptFileError:
        raise
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        raise CorruptFileError(
            f"{path}: cannot be read as a zarr store ({type(err).__name__}: {err})"
        ) from None
    for c, v in out.items():
        if v.size == 0:
            raise CorruptFileError(f"{path}: coordinate {c!r} has length 0")
    return out


def open_chaosbench(
    root: PathLike | Sequence[PathLike],
    *,
    years: Sequence[int] | int | None = None,
    variables: Sequence[str] | str | None = None,
    levels: Sequence[float] | float | None = None,
    chunks: Mapping[str, int] | None = None,
    verify: str = "all",
) -> xr.Dataset:
    """Open the ChaosBench per-day ERA5 zarr stores as one canonical lazy dataset.

    Layout (as in the ChaosBench repository ``leap-stc/ChaosBench``, ``chaosbench/dataset.py``): ``<root>/era5/era5_full_1.5deg_YYYYMMDD.zarr``,
    one store per day (00 UTC snapshot), variables ``z q t u v w`` with dims
    ``(level, latitude, longitude)`` (a length-1 ``time`` dim is accepted too), levels
    10 … 1000 hPa, latitude 90 → −90 (121), longitude 0 … 358.5 (240); z in gpm = ERA5 z / 9.81.

    The result has dims ``(time, level, latitude, longitude)``, ``time`` = the file dates at
    00 UTC, and z converted back with ``z = 9.81 · Z`` (the constant ChaosBench used; recorded in
    ``attrs["conversion"]``). Each variable is one dask array whose blocks read day-stores
    directly with zarr: no store is opened when the dataset is built (only the first store's
    metadata and each store's coordinate arrays, see ``verify``), and a sample reads one zarr
    chunk per day and variable.

    Args:
        root: ChaosBench ``data/`` folder, its ``era5/`` folder, one day-store or a list of them.
        years: keep these years only.
        variables: subset of ``z q t u v w`` (read nothing else).
        levels: subset of the stored levels in hPa (only these are read).
        chunks: ``{"time": n}`` days per dask chunk (default 1); other dims are rechunked after.
        verify: ``"all"`` compares every store's level/latitude/longitude arrays with the
            first's (a mismatch names the file and coordinate); ``"first"`` checks only the
            first store (faster for the full 16k-day archive; shape mismatches still raise
            when a block is read).

    Raises:
        FileNotFoundError: no store found. KeyError: a missing variable or level (listing the
        available ones). ValueError: a grid mismatch naming file and coordinate.
    """
    if verify not in ("all", "first"):
        raise InputError(f"verify={verify!r}: expected 'all' or 'first'")
    files = chaosbench_files(root, years)
    paths = [str(p) for p in files]
    _check_zarr_folder(paths[0])
    first = _open_named(
        paths[0], "a ChaosBench day-store", xr.open_dataset, paths[0], engine="zarr", chunks=None
    )
    avail = [v for v in first.data_vars]
    want = list(
        CHAOSBENCH_VARIABLES
        if variables is None
        else ([variables] if isinstance(variables, str) else variables)
    )
    if variables is None:
        want = [v for v in CHAOSBENCH_VARIABLES if v in first.data_vars] or avail
    missing = [v for v in want if v not in first.data_vars]
    if missing:
        raise UnknownNameError(
            f"variable(s) {missing} not in ChaosBench store {paths[0]}; available: {avail}"
        )

    ref = _raw_coords(paths[0])
    if verify == "all":
        for p in paths[1:]:
            coords = _raw_coords(p)
            for c in ("level", "latitude", "longitude"):
                a, b = ref[c], coords[c]
                if a.shape != b.shape or not np.array_equal(a, b):
                    raise InputError(
                        f"grid mismatch: coordinate {c!r} of {p} differs from {paths[0]} "
                        f"({b.size} values {b[:3].tolist()}… vs {a.size} values {a[:3].tolist()}…)"
                    )

    stored_levels = ref["level"]
    level_index = None
    if levels is not None:
        lv = [levels] if np.isscalar(levels) else list(levels)
        level_index = []
        for x in lv:
            hit = np.flatnonzero(np.isclose(stored_levels.astype(np.float64), float(x)))
            if hit.size == 0:
                raise UnknownNameError(
                    f"level {x} hPa not in ChaosBench store {paths[0]}; available: {stored_levels.tolist()}"
                )
            level_index.append(int(hit[0]))
        level_index = np.asarray(level_index)
    lev_values = stored_levels if level_index is None else stored_levels[level_index]

    times = np.array([_chaosbench_date(f) for f in files], dtype="datetime64[ns]")
    gaps = np.flatnonzero(np.diff(times) != np.timedelta64(1, "D"))
    if gaps.size:
        logger.warning(
            "ChaosBench time axis is not daily-contiguous: %d gap(s), first after %s",
            gaps.size,
            times[gaps[0]],
        )
    chunks = dict(chunks or {})
    t_chunk = int(chunks.pop("time", 1))
    index = da.arange(len(paths), chunks=t_chunk)

    data_vars = {}
    for v in want:
        var = first[v]
        dims = tuple(map(str, var.dims))
        if dims not in (("level", "latitude", "longitude"), ("time", "level", "latitude", "longitude")):
            raise InputError(
                f"{paths[0]}: variable {v!r} has dims {dims}; expected (level, latitude, longitude)"
            )
        if dims[0] == "time" and var.shape[0] != 1:
            raise InputError(f"{paths[0]}: variable {v!r} has {var.shape[0]} times; a day-store holds one")
        stored_shape = tuple(var.shape)
        day_shape = (len(lev_values),) + stored_shape[-2:]
        reader = _DayReader(paths, v, stored_shape, level_index, var.dtype, var.encoding)
        arr = index.map_blocks(
            reader,
            dtype=var.dtype,
            chunks=(index.chunks[0],) + tuple((n,) for n in day_shape),
            new_axis=[1, 2, 3],
            name=f"chaosbench-{v}",
            meta=np.empty((0, 0, 0, 0), dtype=var.dtype),
        )
        attrs = {k: val for k, val in var.attrs.items() if k in ("units", "long_name")}
        if v == "z":
            if attrs.get("units", "gpm") not in ("gpm", "m"):
                logger.warning(
                    "%s: z has units %r but ChaosBench stores gpm; treating it as gpm",
                    paths[0],
                    attrs["units"],
                )
            attrs["units"] = "gpm"
        data_vars[v] = (("time", "level", "latitude", "longitude"), arr, attrs)
    coords = {
        "time": times,
        "level": lev_values,
        "latitude": ref["latitude"],
        "longitude": ref["longitude"],
    }
    raw = xr.Dataset(data_vars, coords=coords)
    first.close()
    ds = to_canonical(raw, source="chaosbench")
    if chunks:
        ds = ds.chunk(chunks)
    ds.attrs["source_files"] = _describe_files(paths)
    return _with_source_files(validate_canonical(ds), paths)


# --------------------------------------------------------------------------------------------- dispatch
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
