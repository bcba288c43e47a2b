"""On-disk cache of normalisation statistics and climatologies, keyed by a fingerprint of the inputs.

:func:`cached_statistics` / :func:`cached_climatology` compute :func:`~.statistics.channel_statistics`
/ :func:`~.statistics.climatology` once and write them to zarr in a ``.stats/`` folder next to the
data (atomic rename), together with a fingerprint of the inputs (sizes and modification times of
every source file, coordinates, selection and options). They are reused while the fingerprint
matches and recomputed when the data files, selection or options change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from ..errors import InputError
from ..files import atomic_store
from .statistics import (
    _CACHE_VERSION,
    _level_name,
    _weight_kind,
    channel_layout,
    channel_statistics,
    climatology,
    select_years,
)

logger = logging.getLogger(__name__)

__all__ = ["cached_climatology", "cached_statistics"]


def _infer_sources(ds: xr.Dataset) -> list[str]:
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str | os.PathLike):
            found.append(str(value))
        elif isinstance(value, Iterable):
            for v in value:
                add(v)

    add(ds.encoding.get("source"))
    add(ds.encoding.get("source_files"))
    for key in ("source_files", "sources", "source_paths"):
        if key in ds.attrs:
            val = ds.attrs[key]
            add(json.loads(val) if isinstance(val, str) and val.startswith("[") else val)
    for var in ds.variables.values():
        add(var.encoding.get("source"))
    return list(dict.fromkeys(str(Path(s).resolve()) for s in found if Path(s).exists()))


def _file_state(paths: Sequence[str]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` of every file, and of every file inside a directory store (a
    rewritten chunk changes its size or mtime even when the store's metadata does not)."""
    state = []
    for p in sorted(paths):
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    st = os.stat(os.path.join(root, f))
                    state.append(
                        [os.path.relpath(os.path.join(root, f), path.parent), st.st_size, st.st_mtime_ns]
                    )
        elif path.exists():
            st = path.stat()
            state.append([str(path), st.st_size, st.st_mtime_ns])
    return state


def _coords_token(ds: xr.Dataset) -> str:
    h = hashlib.sha256()
    for name in sorted(map(str, ds.coords)):
        values = np.asarray(ds[name].values)
        h.update(name.encode())
        h.update(str(values.dtype).encode())
        h.update(
            np.ascontiguousarray(values).tobytes() if values.dtype.kind != "O" else repr(values).encode()
        )
    for name in sorted(map(str, ds.data_vars)):
        h.update(f"{name}{ds[name].dims}{ds[name].dtype}".encode())
    return h.hexdigest()


def _fingerprint(
    kind: str, ds: xr.Dataset, request: dict[str, Any], sources: Sequence[str] | None
) -> tuple[str, str, dict[str, Any]]:
    """(request key, full fingerprint, description). The request key names the cache file; the
    fingerprint adds the state of the inputs and must match for a cached result to be reused."""
    request = {"kind": kind, "version": _CACHE_VERSION, **request}
    key = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:16]
    files = list(sources) if sources is not None else _infer_sources(ds)
    data_token = _coords_token(ds)
    if not files:
        if any(dask.is_dask_collection(v.data) for v in ds.data_vars.values()):
            raise InputError(
                "sources: cannot find the data files of this lazy dataset (no 'source' in its encoding, "
                "no list of paths in attrs['source_files']), so a change of the data could not be "
                "detected; pass sources=[...] (the files or stores read)"
            )
        # an in-memory dataset: hash its values instead
        data_token += dask.base.tokenize(ds)
    inputs = {"request": request, "files": _file_state(files), "data": data_token}
    fp = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return key, fp, {"request": request, "n_files": len(inputs["files"]), "sources": sorted(files)[:20]}


def _default_cache_dir(ds: xr.Dataset, sources: Sequence[str] | None) -> Path:
    files = list(sources) if sources is not None else _infer_sources(ds)
    if not files:
        raise InputError(
            "cache_dir: cannot locate the files of this dataset (no 'source' in its encoding or attrs); "
            "pass cache_dir= (and sources= to watch the data files for changes)"
        )
    parents = [str(Path(f).resolve().parent) for f in files]
    return Path(os.path.commonpath(parents)) / ".stats"


def _atomic_write_zarr(ds: xr.Dataset, path: Path) -> None:
    with atomic_store(path) as tmp:
        ds.to_zarr(tmp, mode="w", consolidated=False, zarr_format=3)


def _read_fingerprint(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        return xr.open_zarr(path, consolidated=False).attrs.get("fingerprint")
    except Exception as err:  # a damaged cache entry is recomputed, not fatal
        logger.warning("cache %s unreadable (%s); recomputing", path, err)
        return None


def _to_disk(ds: xr.Dataset) -> xr.Dataset:
    """Zarr v3 has no stable string type: keep channel names in attrs, not in arrays."""
    out = ds.copy()
    if "channel" in out.coords:
        out.attrs["channel_names"] = json.dumps([str(c) for c in out["channel"].values])
        out.attrs["channel_variables"] = json.dumps([str(c) for c in out["variable"].values])
        out = out.drop_vars(["channel", "variable"])
    return out


def _from_disk(ds: xr.Dataset) -> xr.Dataset:
    if "channel_names" in ds.attrs:
        ds = ds.assign_coords(
            channel=json.loads(ds.attrs.pop("channel_names")),
            variable=("channel", json.loads(ds.attrs.pop("channel_variables"))),
        )
    return ds


def cached_statistics(
    ds: xr.Dataset,
    *,
    variables: Sequence[str],
    levels: Sequence[float] | None = None,
    years: tuple[int, int],
    area_weighted: bool | str = False,
    cache_dir: str | os.PathLike | None = None,
    sources: Sequence[str | os.PathLike] | None = None,
) -> xr.Dataset:
    """:func:`channel_statistics`, cached in ``cache_dir`` (default: ``.stats/`` in the folder
    holding the data files, found from ``sources`` or the dataset's ``source`` encoding/attrs).

    The cache entry ``statistics-<key>.zarr`` is keyed by the request (variables, levels, years,
    weights) and carries a fingerprint of the inputs: the size and mtime of every data file
    (every file inside a directory store), the coordinates of the selected data and the request.
    It is reused while the fingerprint matches and recomputed (atomically replaced) otherwise.
    Returns the in-memory statistics Dataset.
    """
    srcs = [str(s) for s in sources] if sources is not None else None
    kind = _weight_kind(area_weighted)
    sel = select_years(ds, years)
    layout = channel_layout(sel, variables, levels)
    request = {
        "variables": list(variables),
        "levels": [ch.level for ch in layout],
        "years": [int(years[0]), int(years[1])],
        "area_weighted": kind,
    }
    return _cached(
        "statistics",
        sel,
        request,
        srcs,
        cache_dir,
        lambda: channel_statistics(
            sel, variables=variables, levels=levels, years=years, area_weighted=area_weighted
        ),
        load=True,
    )


def cached_climatology(
    ds: xr.Dataset,
    *,
    years: tuple[int, int],
    variables: Sequence[str] | None = None,
    levels: Sequence[float] | None = None,
    by: str = "dayofyear",
    smoothing_window_days: int = 61,
    cache_dir: str | os.PathLike | None = None,
    sources: Sequence[str | os.PathLike] | None = None,
) -> xr.Dataset:
    """:func:`climatology`, cached as ``climatology-<key>.zarr`` exactly like
    :func:`cached_statistics`. Returns the cached store opened lazily (dask). Raises
    ``ValueError`` naming the variable when the climatology contains NaN (NaN in the inputs)."""
    srcs = [str(s) for s in sources] if sources is not None else None
    sel = select_years(ds, years)
    variables = list(sel.data_vars) if variables is None else list(variables)
    layout = channel_layout(sel, variables, levels)
    request = {
        "variables": variables,
        "levels": [ch.level for ch in layout],
        "years": [int(years[0]), int(years[1])],
        "by": by,
        "smoothing_window_days": smoothing_window_days,
    }
    return _cached(
        "climatology",
        sel,
        request,
        srcs,
        cache_dir,
        lambda: climatology(
            sel,
            years=years,
            variables=variables,
            levels=levels,
            by=by,
            smoothing_window_days=smoothing_window_days,
        ),
        load=False,
    )


def _check_climatology_finite(clim: xr.Dataset, years: Any) -> None:
    for var in clim.data_vars:
        bad = clim[var].isnull()
        if bool(bad.any()):
            where = bad.any([d for d in bad.dims if d not in ("level",)]) if "level" in bad.dims else None
            levels = [] if where is None else [_level_name(v) for v in clim["level"].values[where.values]]
            raise InputError(
                f"climatology: variable {var!r}"
                + (f" at level(s) {levels}" if levels else "")
                + f" is NaN: the input has NaN/inf values in years {tuple(years)}"
            )


def _cached(
    kind: str,
    sel: xr.Dataset,
    request: dict[str, Any],
    sources: list[str] | None,
    cache_dir: str | os.PathLike | None,
    compute: Any,
    *,
    load: bool,
) -> xr.Dataset:
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir(sel, sources)
    key, fp, info = _fingerprint(kind, sel, request, sources)
    path = folder / f"{kind}-{key}.zarr"
    old = _read_fingerprint(path)
    if old == fp:
        logger.info("%s: reusing cached %s", path, kind)
    else:
        logger.info("%s: %s %s", path, "inputs changed; recomputing" if old else "computing", kind)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PermissionError(f"cache_dir {folder}: cannot create it ({err}); pass cache_dir=") from err
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"cache_dir {folder}: not writable; pass a writable cache_dir=")
        result = compute()
        result = _to_disk(result)
        result.attrs.update(fingerprint=fp, inputs=json.dumps(info, default=str))
        _atomic_write_zarr(result, path)
        if kind == "climatology":
            written = xr.open_zarr(path, consolidated=False)
            try:
                _check_climatology_finite(written, request["years"])
            except ValueError:
                shutil.rmtree(path, ignore_errors=True)
                raise
    out = _from_disk(xr.open_zarr(path, consolidated=False))
    return out.load() if load else out
