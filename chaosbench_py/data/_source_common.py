"""Helpers shared by the ERA5 openers (:mod:`chaosbench_py.data.sources`, :mod:`.chaosbench_days`): chunk
translation, errors that name the file, grid checks, path expansion."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import CorruptFileError, InputError, MissingInputError
from .schema import DIM_ALIASES, select, validate_canonical

PathLike = str | os.PathLike


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


def _check_zarr_folder(p: str) -> None:
    """A local path that is not a zarr store (a file, or a folder without zarr metadata) → CorruptFileError."""
    if not os.path.isdir(p):
        raise CorruptFileError(f"{p}: not a zarr store (a file, not a folder)")
    if not any(os.path.exists(os.path.join(p, m)) for m in ("zarr.json", ".zgroup", ".zmetadata", ".zarray")):
        raise CorruptFileError(f"{p}: not a zarr store (no zarr.json, .zgroup or .zmetadata in the folder)")
