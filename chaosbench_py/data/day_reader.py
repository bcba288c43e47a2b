"""Reads the ChaosBench per-day ERA5 stores straight from their chunk files (training windows).

:func:`~chaosbench_py.data.open_chaosbench` serves each day through zarr and dask: per sample and
variable a dask graph, a ``zarr.open_array`` and zarr's asynchronous chunk pipeline. Measured on
the 60-channel 1.5° layout (6 variables × 4 Blosc-lz4 chunks per day, 2-core machine, 1 thread):
decoding a day's 24 chunks takes about 2 ms and reading their files about 1 ms, while a day read
through xarray costs 20–35 ms (``xr.open_dataset(…).to_array().values``) and about 50 ms through
the lazy dataset; so decompression does not bound the training-window rate, the per-read overhead
does. :class:`DayStoreReader` reads a day like
:class:`~chaosbench_py.data.training_copy.CopyReader` reads a training copy: each variable's
chunk files decoded with the store's own codec (``numcodecs``) into the state, levels selected,
then ``z`` in gpm converted as :func:`~chaosbench_py.data.schema.to_canonical` does (float32
``z · g``). :class:`~chaosbench_py.data.windows.WindowDataset` uses it when
:meth:`DayStoreReader.for_dataset` accepts the dataset: the stores' grid is the dataset's, no packed
values, and the first and last time steps it reads equal what xarray computes (else the dataset is
read through xarray/dask, with a warning).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import CorruptFileError, InputError, MissingInputError
from .blosc_partial import blosc_nbytes
from .training_copy import reads_as_xarray

logger = logging.getLogger(__name__)

__all__ = ["DayStoreReader"]

_NAME = "era5_full_1.5deg_{:%Y%m%d}.zarr"
_GRAVITY = re.compile(r"gpm\) x ([0-9.eE+-]+) ->")


class DayStoreReader:
    """Time steps of ChaosBench day-stores (``<folder>/era5_full_1.5deg_YYYYMMDD.zarr``, zarr v2).

    ``read_into(block, times)`` fills ``block`` (float32, ``(len(times), C, H, W)``) with the
    ``variables`` in order, ``levels`` (hPa, ``None``: all stored) stacked, each multiplied by
    ``scale[v]`` (the gpm → m² s⁻² factor of ``z``, else none).
    """

    chunked_in_time = False  # one day-store per time step: block order needs no store chunks

    def __init__(
        self,
        folder: str | os.PathLike,
        variables: Sequence[str],
        levels: Sequence[float] | None,
        scale: dict[str, float] | None = None,
    ):
        self.folder = Path(folder)
        self.variables = list(variables)
        self.levels = None if levels is None else [float(x) for x in levels]
        self.scale = dict(scale or {})
        self._layout: dict[str, tuple[Any, ...]] = {}  # variable → how its chunks are stored
        self._buffers: dict[tuple, np.ndarray] = {}  # reused decode buffers
        self._plans: dict[tuple, list] = {}  # chunk files and regions per variable

    def path(self, time: Any) -> Path:
        return self.folder / _NAME.format(pd.Timestamp(time))

    def _variable(self, store: Path, v: str) -> tuple[Any, ...]:
        """``(shape, chunks, codec, separator, chunk-name prefix, fill, level index)`` of ``v``, from the
        first store read (every store must match it: checked per chunk by its size)."""
        if v not in self._layout:
            import numcodecs

            meta = json.loads((store / ".zmetadata").read_text())["metadata"]
            zarray, attrs = meta.get(f"{v}/.zarray"), meta.get(f"{v}/.zattrs", {})
            if zarray is None:
                raise CorruptFileError(f"{store}: no variable {v!r}")
            if zarray["dtype"] != "<f4" or zarray.get("filters") or zarray.get("order", "C") != "C":
                raise CorruptFileError(f"{store}/{v}: not plain float32 chunks ({zarray})")
            if any(k in attrs for k in ("scale_factor", "add_offset")):
                raise CorruptFileError(f"{store}/{v}: packed values")
            shape, chunks = tuple(zarray["shape"]), tuple(zarray["chunks"])
            if len(shape) == 4 and shape[0] == 1:
                shape, chunks = shape[1:], chunks[1:]
                lead = "0" + zarray.get("dimension_separator", ".")
            elif len(shape) == 3:
                lead = ""
            else:
                raise CorruptFileError(f"{store}/{v}: shape {shape}, expected (level, latitude, longitude)")
            fill = zarray.get("fill_value")
            fill = np.float32(np.nan if fill in (None, "NaN") else fill)
            if "_FillValue" in attrs and not np.isnan(float(attrs["_FillValue"])):
                raise CorruptFileError(f"{store}/{v}: a non-NaN _FillValue")
            lev_idx = None
            if self.levels is not None:
                stored = np.asarray(xr.open_zarr(store, chunks=None)["level"].values, dtype=np.float64)
                lev_idx = np.array([int(np.flatnonzero(np.isclose(stored, x))[0]) for x in self.levels])
                if np.array_equal(lev_idx, np.arange(shape[0])):
                    lev_idx = None
            comp = zarray.get("compressor")
            codec = numcodecs.get_codec(comp) if comp else None
            self._layout[v] = (
                shape,
                chunks,
                codec,
                zarray.get("dimension_separator", "."),
                lead,
                fill,
                lev_idx,
            )
        return self._layout[v]

    def _read_variable(self, store: Path, v: str, dest: np.ndarray) -> None:
        """Decode ``v`` of ``store`` into ``dest`` (``(levels, latitude, longitude)`` float32), each chunk
        through a reused buffer, selected levels and ``scale[v]`` applied on the way."""
        shape, chunks, codec, _, _, fill, lev_idx = self._variable(store, v)
        full = dest if lev_idx is None else self._scratch(("full", shape), shape)
        buf = self._scratch(("chunk", chunks), chunks)
        scale = self.scale.get(v) if lev_idx is None else None
        folder = os.path.join(store, v)
        for name, where, sub in self._chunk_plan(v):
            f = os.path.join(folder, name)
            part = buf[sub]
            try:
                with open(f, "rb") as fh:
                    raw = fh.read()
            except FileNotFoundError:
                full[where] = fill  # a chunk zarr never wrote: all fill value
                continue
            if getattr(codec, "codec_id", None) == "blosc" and blosc_nbytes(raw) == buf.nbytes:
                codec.decode(raw, out=buf)  # straight into the reused buffer
            else:
                got = np.frombuffer(codec.decode(raw) if codec is not None else raw, dtype="<f4")
                if got.size != buf.size:
                    raise CorruptFileError(f"{f}: {got.size} values, expected a chunk of {chunks}")
                buf.reshape(-1)[...] = got
            if scale is not None:
                np.multiply(part, scale, out=full[where])  # float32 · python float: float32 (NEP 50)
            else:
                full[where] = part
        if lev_idx is not None:
            if v in self.scale:
                np.multiply(full[lev_idx], self.scale[v], out=dest)
            else:
                dest[...] = full[lev_idx]

    def _chunk_plan(self, v: str) -> list[tuple[str, tuple[slice, ...], tuple[slice, ...]]]:
        """``(chunk file name, its region of the array, the region's part of the chunk)`` of every chunk."""
        key = ("plan", v)
        if key not in self._plans:
            shape, chunks, _, sep, lead = self._layout[v][:5]
            plan = []
            for idx in itertools.product(*[range(-(-n // c)) for n, c in zip(shape, chunks, strict=True)]):
                where = tuple(
                    slice(k * c, min((k + 1) * c, n)) for k, c, n in zip(idx, chunks, shape, strict=True)
                )
                plan.append(
                    (lead + sep.join(map(str, idx)), where, tuple(slice(0, w.stop - w.start) for w in where))
                )
            self._plans[key] = plan
        return self._plans[key]

    def _scratch(self, key: tuple, shape: tuple[int, ...]) -> np.ndarray:
        if key not in self._buffers:
            self._buffers[key] = np.empty(shape, dtype=np.float32)
        return self._buffers[key]

    def read_into(self, block: np.ndarray, times: np.ndarray) -> None:
        """Fill ``block`` (``(len(times), C, H, W)`` float32) with the days ``times``."""
        for k, t in enumerate(np.asarray(times)):
            store = self.path(t)
            if not store.is_dir():
                raise MissingInputError(f"{store}: no ChaosBench day-store for {pd.Timestamp(t)}")
            c = 0
            for v in self.variables:
                shape, lev_idx = self._variable(store, v)[0], self._layout[v][-1]
                n = shape[0] if lev_idx is None else len(lev_idx)
                if c + n > block.shape[1]:
                    raise InputError(f"{store}: more channels than the block's {block.shape[1]}")
                self._read_variable(store, v, block[k, c : c + n])
                c += n
            if c != block.shape[1]:
                raise InputError(f"{store}: {c} channels read, the block has {block.shape[1]}")

    @classmethod
    def for_dataset(
        cls, ds: xr.Dataset, variables: Sequence[str], levels: Sequence[float]
    ) -> DayStoreReader | None:
        """A reader for ``ds`` when it was opened by :func:`~chaosbench_py.data.open_chaosbench` (its
        ``source`` and ``source_files`` attributes name the day-stores) with the stores' grid, every
        time step has its store, and the first and last steps read equal xarray's values; else ``None``."""
        source = ds.attrs.get("source_files")
        if ds.attrs.get("source") != "chaosbench" or not isinstance(source, str) or "://" in source:
            return None
        folder = Path(source.splitlines()[0].split(" … ")[0]).parent
        times = ds["time"].values
        scale = {}
        for v in variables:
            note = str(ds[v].attrs.get("conversion", ""))
            m = _GRAVITY.search(note)
            if m:
                scale[v] = float(m.group(1))
            elif note:
                return None
        reader = cls(folder, variables, levels or None, scale)
        try:
            if not all(reader.path(t).is_dir() for t in times):
                return None
            ref = xr.open_zarr(reader.path(times[0]), chunks=None)
            for c in ("latitude", "longitude"):
                if not np.array_equal(np.asarray(ref[c].values, dtype=np.float64), ds[c].values):
                    return None
            if not reads_as_xarray(reader, ds, variables, levels):
                logger.warning(
                    "%s: day-stores read directly differ from xarray's values; read through xarray", folder
                )
                return None
        except Exception as err:  # noqa: BLE001 - the fast path is optional: fall back to xarray
            logger.warning(
                "ChaosBench day-stores in %s not read directly: %s: %s", folder, type(err).__name__, err
            )
            return None
        return reader
