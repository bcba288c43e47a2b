"""ChaosBench per-day ERA5 stores (``<root>/era5/era5_full_1.5deg_YYYYMMDD.zarr``) → the canonical lazy
dataset: :func:`open_chaosbench` and :func:`chaosbench_files` (re-exported by :mod:`chaosbench_py.data.sources`,
whose docstring describes the layout)."""

from __future__ import annotations

import datetime
import functools
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

from ..errors import CorruptFileError, InputError, MissingInputError, UnknownNameError
from ._source_common import PathLike, _check_zarr_folder, _describe_files, _open_named, _with_source_files
from .schema import to_canonical, validate_canonical

logger = logging.getLogger(__name__)

#: ChaosBench per-day ERA5 store name (repo leap-stc/ChaosBench, chaosbench/dataset.py).
CHAOSBENCH_PATTERN = re.compile(r"^era5_full_1\.5deg_(\d{8})\.zarr$")
CHAOSBENCH_VARIABLES = ("z", "q", "t", "u", "v", "w")
CHAOSBENCH_LEVELS = (10, 50, 100, 200, 300, 500, 700, 850, 925, 1000)


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
