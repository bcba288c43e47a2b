"""Reading a region of a local zarr array straight from its chunk files (private helper of the scorecard).

:func:`chunk_reader` recognises the backend array under an ``xr.open_zarr`` / ``open_dataset(engine="zarr")``
variable that xarray serves undecoded (no CF mask or scale wrapper: a NaN or absent ``_FillValue``, no
``scale_factor``/``add_offset``) from a zarr-python 3 array in a :class:`zarr.storage.LocalStore` with a regular
chunk grid and a plain codec chain:

* zarr v3: ``bytes`` (native byte order) optionally followed by one of ``zstd``, ``blosc``, ``gzip``;
* zarr v2: C order, no filters, no compressor or any numcodecs compressor.

:meth:`ChunkReader.read` then reads a box ``key`` (one slice of step 1 per axis) chunk by chunk: each chunk
file is read with ``readinto`` (uncompressed) or decoded by numcodecs (``decode(buf, out=...)``) **directly into
the output array** where the chunk lies wholly inside the box and its place there is contiguous (the usual
case: chunks of whole trailing axes), else into one reused chunk buffer and copied out. A chunk without a file
is read through zarr (its fill value). zarr's own read path makes two copies per byte plus its asynchronous
machinery (about 5× slower on an uncompressed store in page cache); the values are the same bytes.
Anything else (other codecs, sharding, remote stores, masked or scaled variables) gets ``None`` and the
caller reads through xarray.
"""

from __future__ import annotations

import itertools
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

#: Threads decoding chunks of one read (1: in the calling thread). Compressed chunks release the GIL in
#: numcodecs, so 2 helps on 2 free cores; the default stays 1 (the per-batch loop it is compared with uses 1).
READ_THREADS = 1
#: Per-thread read buffers by slot name (:meth:`ChunkReader.read`); see :func:`release_buffers`.
_LOCAL = threading.local()
_WRAPPERS = ("ImplicitToExplicitIndexingAdapter", "CopyOnWriteArray", "MemoryCachedArray")


def _zarr_array(obj: Any) -> Any:
    """The zarr array under xarray's lazy wrappers of an undecoded variable, else None."""
    for _ in range(8):
        name = type(obj).__name__
        if name in _WRAPPERS:
            obj = obj.array
        elif name == "LazilyIndexedArray":
            key = getattr(getattr(obj, "key", None), "tuple", None)
            if key is None or any(k != slice(None) for k in key):
                return None
            obj = obj.array
        elif name == "ZarrArrayWrapper":
            return getattr(obj, "_array", None)
        else:
            return None
    return None


def _v3_decoder(codecs: tuple) -> tuple[bool, Any] | None:
    """``(ok, numcodecs decoder or None)`` for a v3 codec chain, None where unsupported."""
    import numcodecs
    from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec

    if not codecs or type(codecs[0]) is not BytesCodec:
        return None
    endian = getattr(codecs[0].endian, "value", codecs[0].endian)
    if endian is not None and endian != sys.byteorder:
        return None
    rest = codecs[1:]
    if not rest:
        return True, None
    if len(rest) > 1:
        return None
    c = rest[0]
    if type(c) is ZstdCodec:
        return True, numcodecs.Zstd(level=c.level)
    if type(c) is BloscCodec:
        return True, numcodecs.Blosc()
    if type(c) is GzipCodec:
        return True, numcodecs.GZip(level=c.level)
    return None


def _pool() -> dict[Any, Any]:
    if not hasattr(_LOCAL, "pool"):
        _LOCAL.pool = {}
    return _LOCAL.pool


def take(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float64 array of ``shape``: one given back by :func:`give` in this thread, else new."""
    free = _pool().setdefault(("free", tuple(shape)), [])
    return free.pop() if free else np.empty(shape)


def give(*arrays: np.ndarray | None) -> None:
    """Return arrays that are no longer used anywhere to this thread's free lists (for :func:`take`)."""
    for a in arrays:
        if a is not None and a.dtype == np.float64 and a.flags.c_contiguous and a.base is None:
            _pool().setdefault(("free", a.shape), []).append(a)


def release_buffers(above_bytes: int = 0) -> None:
    """Drop this thread's read buffers larger than ``above_bytes`` and free-list arrays beyond ``above_bytes``
    in all (everything by default). Buffers are kept between reads (and calls) because fresh memory costs a
    page fault per 4 KiB on first write (on this machine as much as the read itself)."""
    pool = _pool()
    for slot in [k for k, v in pool.items() if isinstance(v, np.ndarray) and v.nbytes > above_bytes]:
        del pool[slot]
    kept = 0
    for slot in [k for k, v in pool.items() if isinstance(v, list)]:
        n = 0
        while n < len(pool[slot]) and kept + pool[slot][n].nbytes <= above_bytes:
            kept += pool[slot][n].nbytes
            n += 1
        del pool[slot][n:]


class ChunkReader:
    """Box reads of one zarr array from its chunk files (see the module docstring)."""

    def __init__(self, za: Any, root: Path, decoder: Any):
        self.za, self.root, self.decoder = za, root, decoder
        self.shape = tuple(int(s) for s in za.shape)
        self.chunks = tuple(int(c) for c in za.metadata.chunk_grid.chunk_shape)
        self.dtype = np.dtype(za.dtype)
        self.nbytes = int(np.prod(self.chunks)) * self.dtype.itemsize

    def _path(self, coords: tuple[int, ...]) -> Path:
        return self.root / self.za.metadata.encode_chunk_key(coords)

    def _fill(self, coords: tuple[int, ...], dst: np.ndarray, inner: tuple[slice, ...]) -> None:
        """``dst`` ← chunk ``coords`` restricted to ``inner`` (chunk-relative)."""
        origin = [c * n for c, n in zip(coords, self.chunks, strict=True)]
        box = tuple(slice(o + s.start, o + s.stop) for o, s in zip(origin, inner, strict=True))
        whole = all(s.start == 0 and s.stop == n for s, n in zip(inner, self.chunks, strict=True))
        target = dst if whole and dst.flags.c_contiguous else np.empty(self.chunks, self.dtype)
        try:
            if self.decoder is None:
                with open(self._path(coords), "rb") as fh:
                    got = fh.readinto(memoryview(target.reshape(-1).view(np.uint8)))
                    extra = fh.read(1)
                if got != self.nbytes or extra:
                    raise OSError(f"chunk {coords}: {got} bytes, expected {self.nbytes}")
            else:
                data = self._path(coords).read_bytes()
                self.decoder.decode(data, out=target.reshape(-1).view(np.uint8))
        except FileNotFoundError:  # never written: zarr supplies the fill value
            dst[...] = np.asarray(self.za[box])
            return
        if target is not dst:
            np.copyto(dst, target[inner])

    def read(self, key: tuple[slice, ...], slot: Any = None) -> np.ndarray:
        """``za[key]`` for a box ``key`` (one slice of step 1 per axis) as a C-ordered array: a new one, or
        with ``slot`` (any hashable) a view of this reader's buffer of that name (grown as needed), valid until
        the next read into the same slot; reusing it spares the kernel's page faults on fresh memory."""
        if len(key) != len(self.shape):
            raise IndexError(f"expected {len(self.shape)} slices, got {len(key)}")
        lo, hi = [], []
        for s, n in zip(key, self.shape, strict=True):
            a, b, step = s.indices(n)
            if step != 1:
                raise IndexError("only slices of step 1 are read from chunk files")
            lo.append(a)
            hi.append(max(a, b))
        shape = [b - a for a, b in zip(lo, hi, strict=True)]
        size = int(np.prod(shape))
        if slot is None:
            out = np.empty(shape, self.dtype)
        else:
            pool = _pool()
            nb = size * self.dtype.itemsize
            if not isinstance(pool.get(slot), np.ndarray) or pool[slot].size < nb:
                pool[slot] = np.empty(nb, np.uint8)
            out = pool[slot][:nb].view(self.dtype).reshape(shape)
        if out.size == 0:
            return out
        spans = [range(a // c, (b - 1) // c + 1) for a, b, c in zip(lo, hi, self.chunks, strict=True)]
        jobs = []
        for coords in itertools.product(*spans):
            inner, dst = [], []
            for ax, ci in enumerate(coords):
                o = ci * self.chunks[ax]
                a, b = max(lo[ax], o), min(hi[ax], o + self.chunks[ax])
                inner.append(slice(a - o, b - o))
                dst.append(slice(a - lo[ax], b - lo[ax]))
            jobs.append((coords, out[tuple(dst)], tuple(inner)))
        if READ_THREADS > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
                list(pool.map(lambda j: self._fill(*j), jobs))
        else:
            for job in jobs:
                self._fill(*job)
        return out


def chunk_reader(obj: Any) -> ChunkReader | None:
    """A :class:`ChunkReader` for the backend array ``obj`` of an xarray variable, or None (see module doc)."""
    za = _zarr_array(obj)
    if za is None or getattr(za, "metadata", None) is None:
        return None
    try:
        from zarr.core.chunk_grids import RegularChunkGrid
        from zarr.storage import LocalStore
    except ImportError:
        return None
    store = getattr(getattr(za, "store_path", None), "store", None)
    meta = za.metadata
    if type(store) is not LocalStore or not isinstance(meta.chunk_grid, RegularChunkGrid):
        return None
    dtype = np.dtype(za.dtype)
    if dtype.kind not in "fiu" or not dtype.isnative or tuple(getattr(obj, "shape", ())) != za.shape:
        return None
    if meta.zarr_format == 3:
        found = _v3_decoder(tuple(meta.codecs))
        if found is None:
            return None
        decoder = found[1]
    else:
        if meta.order != "C" or meta.filters:
            return None
        decoder = meta.compressor
        if decoder is not None and not hasattr(decoder, "decode"):
            return None
    root = Path(store.root) / za.store_path.path if za.store_path.path else Path(store.root)
    return ChunkReader(za, root, decoder)
