"""Reads time-chunked (WeatherBench2-style) zarr stores straight from their chunk files (training windows).

:func:`~chaosbench_py.data.open_weatherbench2_zarr` serves a store through xarray, dask and zarr-python:
per read a dask graph and zarr's asynchronous chunk pipeline, which cost more than decoding the chunks
(Blosc lz4 or zstd, a few ms per time step of 60 channels at 1.5°). :class:`TimeChunkedStoreReader`
reads the chunk files itself: a store of variables ``(time, [level,] latitude, longitude)`` in any dim
order, chunked along time by ``k`` steps (any regular chunking of the other dims), zarr v2 (``.zarray``,
``dimension_separator`` ``.`` or ``/``) or zarr v3 (``zarr.json``, chunk key encoding ``default`` or
``v2``), codecs none / Blosc / Zstd / GZip (``numcodecs``), float32 or float64 values. Each time chunk of
a variable is decoded once into a small least-recently-used cache (``cache_mb``, default 256 MiB, at least
one chunk per variable; a chunk whose steps have all been served since it was decoded is dropped at once)
and serves all its steps. A read of one step whose chunk is not cached (the trainer's batch path, a
window crossing a chunk boundary, random order) decodes that step alone: only the Blosc blocks that hold
it (:mod:`~chaosbench_py.data.blosc_partial`), or only its bytes of an uncompressed chunk; Zstd and GZip
chunks are decoded whole. Each step is then mapped to what the opened dataset serves: dims transposed to ``([level,] latitude, longitude)``, levels
selected by value (Pa → hPa as :func:`~chaosbench_py.data.schema.to_canonical` does), latitude and
longitude put in the dataset's order (latitude 90 → −90, longitude wrapped to ``[0, 360)`` and sorted),
``z`` in gpm converted as the opener does (``z · g``, in the stored dtype, then float32).

:class:`~chaosbench_py.data.windows.WindowDataset` uses it when :meth:`TimeChunkedStoreReader.for_dataset`
accepts the dataset: opened by ``open_weatherbench2_zarr`` from a local store, a layout and codecs
supported here, no packed values (``scale_factor`` / ``add_offset``) or values masked as missing
(a non-NaN ``_FillValue`` / ``missing_value``), and the first and last time steps it reads equal what
xarray computes (:func:`~chaosbench_py.data.training_copy.reads_as_xarray`); else the dataset is read
through xarray/dask.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import os
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import CorruptFileError, InputError
from .blosc_partial import blosc_getitem_available, blosc_nbytes, read_blosc_file_range, step_byte_range
from .schema import _PA_UNITS, DIM_ALIASES, _units_key, canonical_name
from .training_copy import reads_as_xarray

logger = logging.getLogger(__name__)

__all__ = ["TimeChunkedStoreReader"]

_GRAVITY = re.compile(r"gpm\) x ([0-9.eE+-]+) ->")
_MASK_ATTRS = ("scale_factor", "add_offset", "_Unsigned")
_CANONICAL = ("level", "latitude", "longitude")


class _Refused(Exception):
    """The store (or the dataset) is not one the reader serves exactly: read it through xarray."""


@dataclass
class _Array:
    """How one variable is stored and mapped to the dataset's ``([level,] latitude, longitude)`` state."""

    name: str  # the stored name
    folder: str
    shape: tuple[int, ...]  # stored (time first)
    chunks: tuple[int, ...]
    dtype: np.dtype
    codecs: list[Any]  # bytes → bytes decoders, applied in this order
    key: tuple[str, str]  # chunk file names: prefix + separator.join(chunk index)
    fill: float
    perm: tuple[int, ...]  # stored axes in the order (time, [level,] latitude, longitude); perm[0] == 0
    select: tuple[Any, ...]  # per canonical axis: slice or int index array (stored → dataset positions)
    scale: float | None


def _fill_value(value: Any) -> float:
    """A fill value as zarr v2/v3 metadata or xarray's attributes write it (number, ``"NaN"``, base64 bytes)."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        if value in ("NaN", "Infinity", "-Infinity"):
            return float(value.replace("Infinity", "inf"))
        raw = base64.b64decode(value)
        return float(np.frombuffer(raw, dtype="<f8" if len(raw) == 8 else "<f4")[0])
    return float(value)


def _v3_codecs(codecs: list[dict]) -> tuple[list[Any], str]:
    """numcodecs decoders (in decode order) and the byte order of a zarr v3 codec chain, else refused."""
    import numcodecs

    endian, after = None, []
    for c in codecs:
        name, conf = c.get("name"), c.get("configuration", {}) or {}
        if endian is None:
            if name != "bytes":  # e.g. transpose, sharding_indexed
                raise _Refused(f"codec {name!r} before the bytes codec")
            endian = conf.get("endian", "little")
        elif name == "blosc":
            after.append(numcodecs.Blosc())  # decoding reads everything it needs from the frame header
        elif name == "zstd":
            after.append(numcodecs.Zstd())
        elif name == "gzip":
            after.append(numcodecs.GZip())
        else:
            raise _Refused(f"codec {name!r}")
    if endian is None:
        raise _Refused("no bytes codec")
    return after[::-1], "<" if endian == "little" else ">"


def _array_meta(store: Path, name: str) -> dict[str, Any]:
    """``shape, chunks, dtype, codecs, key, fill, attrs`` of the array ``name`` (zarr v2 or v3), else refused."""
    import numcodecs

    folder = store / name
    if (folder / "zarr.json").is_file():
        meta = json.loads((folder / "zarr.json").read_text())
        grid, enc = meta.get("chunk_grid", {}), meta.get("chunk_key_encoding", {})
        if grid.get("name") != "regular" or meta.get("storage_transformers"):
            raise _Refused(f"{name}: chunk grid {grid.get('name')!r}")
        codecs, order = _v3_codecs(meta.get("codecs", []))
        dtype = {"float32": "f4", "float64": "f8"}.get(meta.get("data_type"))
        if dtype is None:
            raise _Refused(f"{name}: data type {meta.get('data_type')!r}")
        conf = enc.get("configuration", {}) or {}
        if enc.get("name") == "default":
            sep = conf.get("separator", "/")
            prefix = "c" + sep
        elif enc.get("name") == "v2":
            sep, prefix = conf.get("separator", "."), ""
        else:
            raise _Refused(f"{name}: chunk key encoding {enc.get('name')!r}")
        chunks = tuple(grid["configuration"]["chunk_shape"])
        attrs, fill = meta.get("attributes", {}), _fill_value(meta.get("fill_value"))
        mask = attrs.get("_FillValue")
        dtype = np.dtype(order + dtype)
    elif (folder / ".zarray").is_file():
        zarray = json.loads((folder / ".zarray").read_text())
        attrs_file = folder / ".zattrs"
        attrs = json.loads(attrs_file.read_text()) if attrs_file.is_file() else {}
        if zarray.get("filters") or zarray.get("order", "C") != "C":
            raise _Refused(f"{name}: filters or Fortran order")
        dtype = np.dtype(zarray["dtype"])
        comp = zarray.get("compressor")
        codecs = [numcodecs.get_codec(comp)] if comp else []
        sep, prefix, chunks = zarray.get("dimension_separator", "."), "", tuple(zarray["chunks"])
        fill = _fill_value(zarray.get("fill_value"))
        mask = attrs.get("_FillValue", zarray.get("fill_value"))  # xarray masks zarr v2's fill value
        meta = zarray
    else:
        raise _Refused(f"{name}: no zarr array metadata")
    if dtype.kind != "f":
        raise _Refused(f"{name}: dtype {dtype} (packed or integer values)")
    for m in (mask, attrs.get("missing_value")):
        if m is not None and not math.isnan(_fill_value(m)):
            raise _Refused(f"{name}: values equal to {m!r} are masked as missing")
    if any(k in attrs for k in _MASK_ATTRS):
        raise _Refused(f"{name}: packed or range-limited values")
    shape = tuple(meta["shape"])
    if len(chunks) != len(shape):
        raise _Refused(f"{name}: chunks {chunks} for shape {shape}")
    return {"shape": shape, "chunks": chunks, "dtype": dtype, "codecs": codecs, "fill": fill,
            "key": (prefix, sep), "attrs": attrs}  # fmt: skip


def _positions(stored: np.ndarray, wanted: np.ndarray, what: str) -> Any:
    """Index into ``stored`` giving ``wanted`` (exact values): ``slice`` when in order or reversed."""
    lookup = {float(v): k for k, v in enumerate(stored)}
    if len(lookup) != len(stored):
        raise _Refused(f"{what}: repeated coordinate values")
    try:
        idx = np.array([lookup[float(v)] for v in wanted], dtype=np.int64)
    except KeyError:
        raise _Refused(f"{what}: values not in the store") from None
    n = len(stored)
    if np.array_equal(idx, np.arange(n)):
        return slice(None)
    if np.array_equal(idx, np.arange(n)[::-1]):
        return slice(None, None, -1)
    return idx


class TimeChunkedStoreReader:
    """Time steps of one time-chunked zarr store (see the module docstring).

    ``read_into(block, times)`` fills ``block`` (float32, ``(len(times), C, H, W)``) with the variables in
    order, each ``([level,] latitude, longitude)`` state as the dataset it was accepted for serves it.
    Build it with :meth:`for_dataset`.
    """

    chunked_in_time = True  # several steps per chunk: block order follows the store's time chunks

    def __init__(
        self, path: str | os.PathLike, arrays: list[_Array], times: np.ndarray, cache_mb: float = 256.0
    ):
        self.path = Path(path)
        self.arrays = arrays
        self.times = np.asarray(times, dtype="datetime64[ns]")
        self._order = np.argsort(self.times, kind="stable")
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: OrderedDict[tuple[str, int], tuple[np.ndarray, set[int]]] = OrderedDict()
        self._spare: list[np.ndarray] = []  # evicted chunks' memory, reused for the next decode
        self.decoded = 0  # time chunks decoded whole (all variables count once each)
        self.steps_decoded_alone = 0  # steps decoded alone, their chunk not cached (each variable once)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"], state["_spare"] = OrderedDict(), []
        return state

    def time_chunk(self) -> int:
        """The longest time chunk of the variables (steps)."""
        return max(a.chunks[0] for a in self.arrays)

    def index(self, times: np.ndarray) -> np.ndarray:
        """Store positions of ``times`` (−1 where absent)."""
        t = np.asarray(times, dtype="datetime64[ns]")
        pos = np.minimum(np.searchsorted(self.times, t, sorter=self._order), len(self.times) - 1)
        found = self._order[pos]
        return np.where(self.times[found] == t, found, -1)

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def _chunk_files(a: _Array, tc: int) -> Iterator[tuple[str, tuple[slice, ...]]]:
        """``(chunk file, its region (time first) of the stored array)`` of every chunk of time chunk ``tc``."""
        grid = [range(-(-n // c)) for n, c in zip(a.shape[1:], a.chunks[1:], strict=True)]
        for rest in itertools.product(*grid):
            f = os.path.join(a.folder, a.key[0] + a.key[1].join(map(str, (tc,) + rest)))
            yield f, (slice(None),) + tuple(
                slice(k * c, min((k + 1) * c, n))
                for k, c, n in zip(rest, a.chunks[1:], a.shape[1:], strict=True)
            )

    def _decode(self, a: _Array, tc: int) -> np.ndarray:
        """Time chunk ``tc`` of ``a``: ``(steps, …)`` in the stored dims (time first; ``a.perm`` maps the rest)."""
        shape = (min(a.chunks[0], a.shape[0] - tc * a.chunks[0]),) + a.shape[1:]
        whole = shape == a.chunks
        out = None
        for k, buf in enumerate(self._spare):
            if buf.shape == shape and buf.dtype == a.dtype:
                out = self._spare.pop(k)
                break
        if out is None:
            out = np.empty(shape, dtype=a.dtype)
        for f, where in self._chunk_files(a, tc):
            try:
                if whole and not a.codecs and a.dtype.isnative:  # raw bytes straight into ``out``
                    fd = os.open(f, os.O_RDONLY)
                    try:
                        got = os.readv(fd, [memoryview(out).cast("B")])
                        extra = os.read(fd, 1)
                    finally:
                        os.close(fd)
                    if got != out.nbytes or extra:
                        raise CorruptFileError(
                            f"{f}: not {out.nbytes} bytes (a chunk of {a.chunks}, {a.dtype})"
                        )
                    continue
                with open(f, "rb") as fh:
                    raw = fh.read()
            except FileNotFoundError:
                out[where] = a.fill  # a chunk zarr never wrote: all fill value
                continue
            try:
                if whole and len(a.codecs) == 1 and getattr(a.codecs[0], "codec_id", "") == "blosc":
                    if blosc_nbytes(raw) == out.nbytes:  # the frame's decoded size
                        a.codecs[0].decode(raw, out=out)
                        continue
                for codec in a.codecs:
                    raw = codec.decode(raw)
                got = np.frombuffer(raw, dtype=a.dtype)
            except Exception as err:  # noqa: BLE001 - any codec failure is a corrupt chunk file
                raise CorruptFileError(
                    f"{f}: chunk cannot be decoded ({type(err).__name__}: {err})"
                ) from None
            if got.size != math.prod(a.chunks):
                raise CorruptFileError(f"{f}: {got.size} values, expected a chunk of {a.chunks}")
            part = got.reshape(a.chunks)
            out[where] = part[(slice(0, shape[0]),) + tuple(slice(0, w.stop - w.start) for w in where[1:])]
        self.decoded += 1
        return out

    def _partial(self, a: _Array) -> bool:
        """Whether one step of ``a`` can be decoded without its whole chunk (no codec, or Blosc alone)."""
        if not a.codecs:
            return a.dtype.isnative
        return (len(a.codecs) == 1 and getattr(a.codecs[0], "codec_id", "") == "blosc"
                and blosc_getitem_available())  # fmt: skip

    def _decode_step(self, a: _Array, i: int) -> np.ndarray:
        """Stored step ``i`` of ``a`` alone: ``(1, …)`` in the stored dims, decoding (or reading) only the
        Blosc blocks (bytes) of its chunk files that hold it. Only where :meth:`_partial` holds."""
        tc, j = divmod(i, a.chunks[0])
        out = np.empty((1,) + a.shape[1:], dtype=a.dtype)
        start = step_byte_range(a.chunks, a.dtype.itemsize, j, 1)[0]
        one_file = a.chunks[1:] == a.shape[1:]
        part = out if one_file else np.empty((1,) + a.chunks[1:], dtype=a.dtype)
        for f, where in self._chunk_files(a, tc):
            try:
                if a.codecs:
                    if not read_blosc_file_range(f, start, part):
                        self._decode_whole_file_step(a, f, j, part)
                else:
                    with open(f, "rb") as fh:
                        got = os.preadv(fh.fileno(), [memoryview(part).cast("B")], start)
                        size = os.fstat(fh.fileno()).st_size
                    if got != part.nbytes or size != math.prod(a.chunks) * a.dtype.itemsize:
                        raise ValueError(f"{size} bytes, not a chunk of {a.chunks} {a.dtype}")
            except FileNotFoundError:
                out[where] = a.fill  # a chunk zarr never wrote: all fill value
                continue
            except ValueError as err:
                raise CorruptFileError(f"{f}: chunk cannot be decoded ({err})") from None
            if not one_file:
                out[where] = part[(slice(None),) + tuple(slice(0, w.stop - w.start) for w in where[1:])]
        self.steps_decoded_alone += 1
        return out

    @staticmethod
    def _decode_whole_file_step(a: _Array, f: str, j: int, part: np.ndarray) -> None:
        """Step ``j`` of the chunk file ``f`` through the whole-chunk decoder (partial decoding refused)."""
        with open(f, "rb") as fh:
            raw = fh.read()
        try:
            got = np.frombuffer(a.codecs[0].decode(raw), dtype=a.dtype)
        except Exception as err:  # noqa: BLE001 - any codec failure is a corrupt chunk file
            raise ValueError(f"{type(err).__name__}: {err}") from None
        if got.size != math.prod(a.chunks):
            raise ValueError(f"{got.size} values, expected a chunk of {a.chunks}")
        part[...] = got.reshape(a.chunks)[j : j + 1]

    def _chunk(self, a: _Array, i: int) -> tuple[np.ndarray, int]:
        """The decoded time chunk holding stored step ``i`` and ``i``'s place in it (cached, LRU)."""
        tc, j = divmod(i, a.chunks[0])
        key = (a.name, tc)
        hit = self._cache.get(key)
        if hit is None:
            hit = (self._decode(a, tc), set())
            self._cache[key] = hit
        self._cache.move_to_end(key)
        arr, served = hit
        served.add(j)
        if len(served) == arr.shape[0]:  # every step served since it was decoded: the caller has them
            del self._cache[key]
            self._retire(arr)
        total = sum(v[0].nbytes for v in self._cache.values())
        while total > self.cache_bytes and len(self._cache) > len(
            self.arrays
        ):  # one chunk per variable stays
            _, (old, _) = self._cache.popitem(last=False)
            total -= old.nbytes
            self._retire(old)
        return arr, j

    def _retire(self, arr: np.ndarray) -> None:
        if len(self._spare) < 2:
            self._spare.append(arr)

    def clear(self) -> None:
        """Drop the decoded chunks."""
        self._cache.clear()
        self._spare.clear()

    def read_into(self, block: np.ndarray, times: np.ndarray) -> None:
        """Fill ``block`` (``(len(times), C, H, W)`` float32) with the states at ``times``."""
        idx = self.index(times)
        if np.any(idx < 0):
            raise InputError(f"{self.path}: times {np.asarray(times)[idx < 0][:3]} not in the store")
        alone = len(idx) == 1  # one step asked for (the trainer's batch path): don't decode its whole chunk
        for k, i in enumerate(idx.tolist()):
            c = 0
            for a in self.arrays:
                if alone and (a.name, i // a.chunks[0]) not in self._cache and self._partial(a):
                    arr, j = self._decode_step(a, i), 0
                else:
                    arr, j = self._chunk(a, i)
                x = arr[j].transpose([p - 1 for p in a.perm[1:]])
                x = x[tuple(s if isinstance(s, slice) else slice(None) for s in a.select)]
                for ax, s in enumerate(a.select):
                    if not isinstance(s, slice):
                        x = np.take(x, s, axis=ax)
                if x.ndim == 2:
                    x = x[None]
                n = x.shape[0]
                if c + n > block.shape[1]:
                    raise InputError(f"{self.path}: more channels than the block's {block.shape[1]}")
                if a.scale is not None:
                    np.multiply(x, a.scale, out=block[k, c : c + n])  # in the stored dtype, then float32
                else:
                    np.copyto(block[k, c : c + n], x, casting="same_kind")
                c += n
            if c != block.shape[1]:
                raise InputError(f"{self.path}: {c} channels read, the block has {block.shape[1]}")

    # ------------------------------------------------------------------ acceptance
    @classmethod
    def _build(
        cls, store: Path, ds: xr.Dataset, variables: Sequence[str], levels: Sequence[float], cache_mb: float
    ) -> TimeChunkedStoreReader:
        raw = xr.open_zarr(store, chunks=None)
        arrays, times = [], None
        for v in variables:
            names = [s for s in raw.data_vars if canonical_name(s) == v]
            if len(names) != 1:
                raise _Refused(f"{v}: stored as {names}")
            s = str(names[0])
            meta = _array_meta(store, s)
            dims = [DIM_ALIASES.get(str(d), "time" if d == "valid_time" else str(d)) for d in raw[s].dims]
            if "time" not in dims or not set(dims) <= {"time", *_CANONICAL} or len(set(dims)) != len(dims):
                raise _Refused(f"{s}: dims {raw[s].dims}")
            if tuple(raw[s].shape) != meta["shape"]:
                raise _Refused(f"{s}: shape {meta['shape']} differs from xarray's {raw[s].shape}")
            order = ["time"] + [d for d in _CANONICAL if d in dims]
            perm = tuple(dims.index(d) for d in order)
            if perm[0] != 0:
                raise _Refused(f"{s}: time is not the first stored dim")
            coord = {d: raw[raw[s].dims[dims.index(d)]] for d in order}
            t = np.asarray(coord["time"].values, dtype="datetime64[ns]")
            if times is None:
                times = t
            elif not np.array_equal(times, t):
                raise _Refused(f"{s}: another time axis")
            select = []
            for d in order[1:]:
                stored = np.asarray(coord[d].values, dtype=np.float64)
                if d == "level":
                    if _units_key(coord[d].attrs.get("units", "")) in _PA_UNITS:
                        stored = stored / 100.0
                    want = np.asarray(list(levels) if levels else ds["level"].values, dtype=np.float64)
                elif d == "longitude":
                    stored, want = np.mod(stored, 360.0), np.asarray(ds[d].values, dtype=np.float64)
                else:
                    want = np.asarray(ds[d].values, dtype=np.float64)
                select.append(_positions(stored, want, f"{s}/{d}"))
            note = str(ds[v].attrs.get("conversion", ""))
            m = _GRAVITY.search(note)
            if note and not m:
                raise _Refused(f"{v}: conversion {note!r}")
            arrays.append(_Array(s, str(store / s), meta["shape"], meta["chunks"], meta["dtype"], meta["codecs"],
                                 meta["key"], meta["fill"], perm, tuple(select),
                                 float(m.group(1)) if m else None))  # fmt: skip
        reader = cls(store, arrays, times, cache_mb)
        if np.any(reader.index(ds["time"].values) < 0):
            raise _Refused("the dataset has times the store lacks")
        return reader

    @classmethod
    def for_dataset(
        cls, ds: xr.Dataset, variables: Sequence[str], levels: Sequence[float], cache_mb: float = 256.0
    ) -> TimeChunkedStoreReader | None:
        """A reader for ``ds`` when :func:`~chaosbench_py.data.open_weatherbench2_zarr` opened it from a
        local store this reader can serve exactly (see the module docstring) and the first and last steps
        it reads equal xarray's values; else ``None`` (read through xarray/dask). ``cache_mb`` bounds the
        decoded time chunks it keeps (at least one per variable is kept)."""
        source = ds.attrs.get("source_files")
        if ds.attrs.get("source") != "weatherbench2" or not isinstance(source, str) or "://" in source:
            return None
        store = Path(source)
        if "\n" in source or not store.is_dir() or "time" not in ds.dims:
            return None
        try:
            reader = cls._build(store, ds, variables, levels, cache_mb)
            ok = reads_as_xarray(reader, ds, variables, levels)
            reader.clear()
        except _Refused as why:
            logger.info("%s: read through xarray (%s)", store, why)
            return None
        except Exception as err:  # noqa: BLE001 - the fast path is optional: fall back to xarray
            logger.warning("%s: not read directly: %s: %s", store, type(err).__name__, err)
            return None
        if not ok:
            logger.warning(
                "%s: chunk files read directly differ from xarray's values; read through xarray", store
            )
            return None
        return reader
