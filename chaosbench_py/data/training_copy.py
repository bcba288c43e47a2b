"""A training-optimised copy of a canonical dataset: one time step per chunk, a fast codec, read directly.

Why: a training sample (1 input + 1 target state, random order) needs whole time steps, and the
source layouts are slow for that: the ChaosBench per-day stores are Blosc-lz4 compressed in 4 chunks
per variable (about 20 ms to decode one 60-channel day at 1.5°, plus zarr's per-read overhead), and
WeatherBench2 stores are chunked over several time steps (one sample decodes a whole chunk). The
copy written here is a plain zarr v2 store of the canonical variables (dims ``(time, level,
latitude, longitude)`` or ``(time, latitude, longitude)``, float32, canonical order and units), so
xarray / zarr / :func:`chaosbench_py.data.open_era5` read it like any WeatherBench2-style store, with

* one chunk per time step and variable (``chunks = (1, n_level, n_lat, n_lon)``);
* ``codec="none"`` (raw bytes, fastest to read, largest on disk) or ``"lz4"`` / ``"zstd"``
  (Blosc, byte shuffle: smaller, slower to decode).

:func:`open_training_copy` opens it lazily and marks the dataset (``attrs["training_copy"]``), so
that :class:`chaosbench_py.data.windows.WindowDataset` reads its time steps with
:class:`CopyReader`: one file read (+ one decode) per variable and time step, no dask graph and
no zarr call per sample (a copy opened otherwise, e.g. as a training run's ``data.path`` through
:func:`~chaosbench_py.data.open_era5`, is recognised by its root attribute: :func:`is_training_copy`).
The mark survives time / level selection (the reader maps times and levels by value), and also arithmetic (xarray keeps a Dataset's attrs): so the reader is only used
when the first and last time steps it reads equal what xarray computes for the dataset as given
(else the dataset is read through xarray/dask, with a warning). The trade-off (disk size, write time, samples/s) is measured by
``benchmarks/loader_throughput.py``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import CorruptFileError, InputError, MissingInputError, OutputExistsError

logger = logging.getLogger(__name__)

__all__ = ["CODECS", "CopyReader", "is_training_copy", "open_training_copy", "write_training_copy"]

CODECS = ("none", "lz4", "zstd")
MARK = "training_copy"
CODEC_ATTR = "chaosbench_py_training_copy_codec"


def _compressor(codec: str) -> Any:
    if codec not in CODECS:
        raise InputError(f"codec={codec!r}: expected one of {CODECS}")
    if codec == "none":
        return None
    from numcodecs import Blosc

    return (Blosc(cname=codec, clevel=3 if codec == "zstd" else 5, shuffle=Blosc.SHUFFLE),)


def write_training_copy(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    variables: Sequence[str] | None = None,
    codec: str = "none",
    overwrite: bool = False,
) -> dict[str, float]:
    """Write ``ds`` (canonical, lazy) as a training copy at ``path``; returns what it cost.

    Args:
        ds: the canonical dataset (e.g. :func:`~chaosbench_py.data.open_chaosbench`), read one
            time step at a time (memory: one time step of all variables, plus dask's buffers).
        path: the new ``.zarr`` folder.
        variables: variables to copy (default: every data variable with a ``time`` dim).
        codec: ``"none"``, ``"lz4"`` or ``"zstd"`` (Blosc with byte shuffle).
        overwrite: replace an existing store (else :class:`OutputExistsError`).

    Returns:
        ``{"seconds": write time, "bytes": size on disk, "time_steps": n}``.
    """
    compressor = _compressor(codec)
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p}: exists (pass overwrite=True to replace it)")
    names = list(variables) if variables is not None else [v for v in ds.data_vars if "time" in ds[v].dims]
    missing = [v for v in names if v not in ds.data_vars]
    if missing:
        raise InputError(f"variables: {missing} not in the dataset (has {list(ds.data_vars)})")
    if not names:
        raise InputError("write_training_copy: no variable with a time dimension to copy")
    t0 = time.perf_counter()
    out = ds[names].chunk({d: (1 if d == "time" else -1) for d in ds[names].dims})
    encoding = {}
    for v in names:
        if out[v].dims[0] != "time":
            raise InputError(f"variable {v!r}: dims {out[v].dims}; time must come first (canonical order)")
        out[v] = out[v].astype(np.float32)
        out[v].encoding = {}
        encoding[v] = {"chunks": (1,) + out[v].shape[1:], "compressors": compressor, "filters": None}
    out.attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float)}
    out.attrs[CODEC_ATTR] = codec
    out.to_zarr(p, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    logger.info("training copy %s: %d steps, %.0f MiB, %.1f s", p, out.sizes["time"], size / 2**20, seconds)
    return {"seconds": seconds, "bytes": float(size), "time_steps": float(out.sizes["time"])}


def open_training_copy(path: str | os.PathLike, **kwargs: Any) -> xr.Dataset:
    """Open a copy written by :func:`write_training_copy` lazily (keyword arguments go to
    :func:`~chaosbench_py.data.open_weatherbench2_zarr`), marked for :class:`CopyReader`."""
    from .sources import open_weatherbench2_zarr

    p = Path(path)
    if not (p / ".zmetadata").exists():
        raise MissingInputError(f"no training copy at {p} (no zarr v2 store with .zmetadata)")
    ds = open_weatherbench2_zarr(p, **kwargs)
    ds.attrs[MARK] = str(p.resolve())
    return ds


def is_training_copy(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a local zarr store written by :func:`write_training_copy` (its root
    attributes name the codec)."""
    meta_file = Path(path) / ".zmetadata"
    if "://" in str(path) or not meta_file.is_file():
        return False
    try:
        meta = json.loads(meta_file.read_text())["metadata"]
    except (ValueError, KeyError, OSError):
        return False
    return CODEC_ATTR in meta.get(".zattrs", {})


class CopyReader:
    """Reads time steps of a training copy straight from its chunk files.

    Serves ``read(times)`` → ``{variable: float32 array (n, [level,] lat, lon)}`` for the canonical
    times ``times`` (``datetime64``), levels ``levels`` (``None``: all); the caller's grid must be
    the copy's (checked by :meth:`for_dataset`).
    """

    chunked_in_time = False  # one time step per chunk: block order needs no store chunks

    def __init__(self, path: str | os.PathLike, variables: Sequence[str], levels: Sequence[float] | None):
        self.path = Path(path)
        meta_file = self.path / ".zmetadata"
        if not meta_file.exists():
            raise MissingInputError(f"no training copy at {self.path}")
        meta = json.loads(meta_file.read_text())["metadata"]
        import numcodecs

        self.times = np.asarray(xr.open_zarr(self.path, chunks=None)["time"].values, dtype="datetime64[ns]")
        self._order = np.argsort(self.times)
        self.variables = list(variables)
        self._arrays: dict[str, tuple[tuple[int, ...], Any, str, np.ndarray | None]] = {}
        stored_levels = np.asarray(xr.open_zarr(self.path, chunks=None)["level"].values) if levels else None
        for v in self.variables:
            zarray = meta.get(f"{v}/.zarray")
            attrs = meta.get(f"{v}/.zattrs", {})
            if zarray is None:
                raise CorruptFileError(f"{self.path}: training copy has no variable {v!r}")
            shape, chunks = tuple(zarray["shape"]), tuple(zarray["chunks"])
            if chunks != (1,) + shape[1:] or zarray["dtype"] != "<f4" or zarray.get("filters"):
                raise CorruptFileError(f"{self.path}/{v}: not one float32 chunk per time step ({zarray})")
            if any(k in attrs for k in ("scale_factor", "add_offset")):
                raise CorruptFileError(f"{self.path}/{v}: packed values are not a training copy")
            comp = zarray.get("compressor")
            codec = numcodecs.get_codec(comp) if comp else None
            sep = zarray.get("dimension_separator", ".")
            lev_idx = None
            if levels and len(shape) == 4:
                lev_idx = np.array([int(np.flatnonzero(np.isclose(stored_levels, lv))[0]) for lv in levels])
                if np.array_equal(lev_idx, np.arange(shape[1])):
                    lev_idx = None  # all levels in stored order: read the chunk as it is
            self._arrays[v] = (shape[1:], codec, sep, lev_idx)

    @classmethod
    def for_dataset(
        cls, ds: xr.Dataset, variables: Sequence[str], levels: Sequence[float]
    ) -> CopyReader | None:
        """A reader for ``ds`` when it was opened by :func:`open_training_copy` and still has the
        copy's grid and the requested variables, or when its ``source_files`` attribute (set by
        :func:`~chaosbench_py.data.open_weatherbench2_zarr`, e.g. through ``open_gridded`` of a training
        run's ``data.path``) is a training copy (:func:`is_training_copy`); else ``None`` (read through
        xarray/dask)."""
        path = ds.attrs.get(MARK)
        source = ds.attrs.get("source_files")
        if not path and isinstance(source, str) and is_training_copy(source):
            path = str(Path(source).resolve())
        if not path or not Path(path).exists():
            return None
        try:
            reader = cls(path, variables, levels or None)
        except (CorruptFileError, MissingInputError, KeyError, IndexError) as err:
            logger.warning("training copy %s not read directly: %s", path, err)
            return None
        ref = xr.open_zarr(path, chunks=None)
        for c in ("latitude", "longitude"):
            if c not in ref or not np.array_equal(ref[c].values, ds[c].values):
                return None
        if np.any(reader.index(ds["time"].values) < 0):
            return None
        # the values must be the stored ones (not e.g. ``ds * 2``, which keeps the mark)
        if not reads_as_xarray(reader, ds, variables, levels):
            logger.warning("%s: values differ from the training copy's files; read through xarray", path)
            return None
        return reader

    def index(self, times: np.ndarray) -> np.ndarray:
        """Copy positions of ``times`` (−1 where absent)."""
        t = np.asarray(times, dtype="datetime64[ns]")
        pos = np.searchsorted(self.times, t, sorter=self._order)
        pos = np.minimum(pos, len(self.times) - 1)
        found = self._order[pos]
        return np.where(self.times[found] == t, found, -1)

    def read_into(self, block: np.ndarray, times: np.ndarray) -> None:
        """Fill ``block`` (float32, ``(len(times), C, H, W)``, C-contiguous) with the variables in
        order, levels stacked (the channel layout of :func:`~chaosbench_py.data.channel_layout`)."""
        idx = self.index(times)
        if np.any(idx < 0):
            raise InputError(f"training copy {self.path}: times {np.asarray(times)[idx < 0][:3]} not in it")
        c = 0
        for v, (shape, codec, sep, lev_idx) in self._arrays.items():
            rest = sep.join("0" for _ in shape)
            folder = os.path.join(self.path, v)
            n_ch = (len(lev_idx) if lev_idx is not None else shape[0]) if len(shape) == 3 else 1
            for k, i in enumerate(idx):
                f = os.path.join(folder, f"{int(i)}{sep}{rest}")
                dest = block[k, c : c + n_ch]
                try:
                    if codec is None and lev_idx is None:  # raw bytes straight into the block
                        fd = os.open(f, os.O_RDONLY)
                        try:
                            got = os.readv(fd, [memoryview(dest).cast("B")])
                        finally:
                            os.close(fd)
                        if got != dest.nbytes:
                            raise CorruptFileError(f"{f}: {got} bytes, expected {dest.nbytes}")
                        continue
                    with open(f, "rb") as fh:
                        raw = fh.read()
                except FileNotFoundError:
                    raise CorruptFileError(f"{f}: chunk missing from the training copy") from None
                arr = np.frombuffer(codec.decode(raw) if codec is not None else raw, dtype="<f4")
                arr = arr.reshape(shape)
                dest[...] = (arr[lev_idx] if lev_idx is not None else arr).reshape(dest.shape)
            c += n_ch


def reads_as_xarray(
    reader: Any, ds: xr.Dataset, variables: Sequence[str], levels: Sequence[Any] | None
) -> bool:
    """Whether ``reader.read_into`` gives, at the first and the last time of ``ds``, exactly the float32 channels
    ``(variables × levels, lat, lon)`` that xarray reads from ``ds`` (NaN equal to NaN): the check that a direct
    chunk-file reader may stand in for ``ds``."""
    for t in {0, ds.sizes["time"] - 1}:
        parts = []
        for v in variables:
            da = ds[v].isel(time=t)
            if levels and "level" in da.dims:
                da = da.sel(level=list(levels))
            parts.append(np.asarray(da.values, dtype=np.float32).reshape(-1, *da.shape[-2:]))
        want = np.concatenate(parts)
        got = np.empty((1,) + want.shape, dtype=np.float32)
        reader.read_into(got, ds["time"].values[t : t + 1])
        if not np.array_equal(got[0], want, equal_nan=True):
            return False
    return True
