"""Partial decoding of Blosc 1 frames: a byte range of a chunk without decompressing the whole chunk.

A Blosc frame is split into independently compressed blocks (typically 32 KiB – 1 MiB of decoded
bytes); c-blosc's ``blosc_getitem(src, start, nitems, dest)`` decompresses only the blocks that cover
items ``start … start + nitems - 1`` (items of the frame's ``typesize`` bytes). numcodecs 0.16 no longer
wraps it (``Blosc.decode_partial`` was removed), but its Blosc extension links c-blosc and exports the
symbol, so it is called here through :mod:`ctypes`. Where the symbol is absent (another numcodecs build)
:func:`blosc_getitem_available` is ``False`` and callers decode whole chunks as before.

Used by :class:`~chaosbench_py.data.zarr_chunk_reader.TimeChunkedStoreReader` to read one time step of an
``(k, …)`` time chunk at ≈ 1/k of the decoding cost (a training window that crosses a chunk boundary, or a
random-order sample).

Frame layout (Blosc 1 format, c-blosc ``README_HEADER.rst``): a 16-byte header — version, versionlz,
flags, typesize (1 byte each), then nbytes, blocksize, cbytes (little-endian uint32) — then, unless the
frame is stored uncompressed (flag ``0x02``, memcpyed), one int32 start offset per block.
"""

from __future__ import annotations

import ctypes
import functools
import math
import mmap
import os
from typing import Any

import numpy as np

__all__ = [
    "blosc_frame_header",
    "blosc_getitem_available",
    "blosc_nbytes",
    "decode_blosc_range",
    "read_blosc_file_range",
    "step_byte_range",
]

_MEMCPYED = 0x02
_HEADER = 16


@functools.lru_cache(maxsize=1)
def _getitem() -> Any:
    """c-blosc's ``blosc_getitem`` from numcodecs' Blosc extension, or ``None``."""
    try:
        from numcodecs import blosc as _nc_blosc

        fn = ctypes.CDLL(_nc_blosc.__file__).blosc_getitem
    except (ImportError, OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


def blosc_getitem_available() -> bool:
    """Whether :func:`decode_blosc_range` can decode partially here (c-blosc's symbol was found)."""
    return _getitem() is not None


def blosc_nbytes(raw: bytes) -> int:
    """The decoded size a Blosc frame declares (header bytes 4–7, little-endian), or −1 for a buffer
    shorter than the 16-byte header: the cheap check before decoding a chunk file into a preallocated
    buffer (:func:`blosc_frame_header` checks the whole header)."""
    return int.from_bytes(raw[4:8], "little") if len(raw) >= _HEADER else -1


def blosc_frame_header(raw: bytes) -> dict[str, int]:
    """The header fields of a Blosc 1 frame, checked against the buffer (``ValueError`` naming the field).

    Returns ``version, flags, typesize, nbytes, blocksize, cbytes``. Checks: the buffer holds the 16-byte
    header and exactly ``cbytes`` bytes, ``typesize ≥ 1``, ``blocksize ≥ 1``, and (compressed frames) every
    block's start offset lies after the offset table and inside the frame — what c-blosc's partial decoder
    would otherwise trust.
    """
    if len(raw) < _HEADER:
        raise ValueError(f"Blosc frame of {len(raw)} bytes is shorter than its 16-byte header")
    version, flags, typesize = raw[0], raw[2], raw[3]
    nbytes, blocksize, cbytes = (int.from_bytes(raw[k : k + 4], "little") for k in (4, 8, 12))
    if cbytes != len(raw):
        raise ValueError(f"Blosc header declares {cbytes} compressed bytes, the chunk file has {len(raw)}")
    if typesize < 1 or blocksize < 1:
        raise ValueError(f"Blosc header: typesize {typesize}, blocksize {blocksize} (need >= 1)")
    if flags & _MEMCPYED:
        if cbytes != _HEADER + nbytes:
            raise ValueError(f"uncompressed Blosc frame: {cbytes} bytes for {nbytes} declared")
    elif nbytes:
        n_blocks = -(-nbytes // blocksize)
        table_end = _HEADER + 4 * n_blocks
        if table_end > cbytes:
            raise ValueError(
                f"Blosc frame: offset table of {n_blocks} blocks runs past the frame's {cbytes} bytes"
            )
        starts = np.frombuffer(raw, dtype="<i4", count=n_blocks, offset=_HEADER)
        if n_blocks and (int(starts.min()) < table_end or int(starts.max()) >= cbytes):
            raise ValueError("Blosc frame: a block's start offset lies outside the frame")
    return {"version": version, "flags": flags, "typesize": typesize, "nbytes": nbytes, "blocksize": blocksize,
            "cbytes": cbytes}  # fmt: skip


def decode_blosc_range(raw: bytes | mmap.mmap, start: int, out: np.ndarray) -> bool:
    """Decode bytes ``start … start + out.nbytes - 1`` of the frame ``raw`` into ``out`` (C-contiguous).

    ``raw`` is the frame as ``bytes`` or a writable buffer (a chunk file mapped with
    ``mmap.ACCESS_COPY``: only the pages of the blocks decoded are then read from disk, see
    :func:`read_blosc_file_range`).

    Only the Blosc blocks that cover the range are decompressed. Returns ``False`` (``out`` untouched)
    where partial decoding is not possible here — the symbol is missing, or the range does not fall on
    whole items of the frame's ``typesize`` — so the caller decodes the whole chunk instead. Raises
    ``ValueError`` for a frame that is corrupt or too short for the range.
    """
    fn = _getitem()
    if fn is None or not out.flags.c_contiguous:
        return False
    head = blosc_frame_header(raw)
    size, stop = out.nbytes, start + out.nbytes
    if start < 0 or stop > head["nbytes"]:
        raise ValueError(f"bytes {start}…{stop} of a Blosc frame that decodes to {head['nbytes']} bytes")
    ts = head["typesize"]
    if start % ts or size % ts or max(start, size) // ts > 2**31 - 1:
        return False
    if size == 0:
        return True
    if isinstance(raw, bytes):
        got = fn(raw, start // ts, size // ts, out.ctypes.data)
    else:
        view = (ctypes.c_char * len(raw)).from_buffer(raw)
        try:
            got = fn(ctypes.addressof(view), start // ts, size // ts, out.ctypes.data)
        finally:
            del view  # the mapping can be closed again
    if got != size:
        raise ValueError(f"c-blosc could not decode bytes {start}…{stop} of the frame (returned {got})")
    return True


def read_blosc_file_range(path: str | os.PathLike, start: int, out: np.ndarray) -> bool:
    """:func:`decode_blosc_range` of the Blosc frame in file ``path``, mapped rather than read whole.

    Returns ``False`` where partial decoding is not possible (decode the whole file instead); raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` for an empty, corrupt or short frame.
    """
    if _getitem() is None or not out.flags.c_contiguous:
        return False
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise ValueError("empty chunk file")
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    try:
        return decode_blosc_range(mapped, start, out)
    finally:
        mapped.close()


def step_byte_range(chunks: tuple[int, ...], itemsize: int, first: int, count: int) -> tuple[int, int]:
    """Byte range of steps ``first … first + count - 1`` along axis 0 of a C-ordered chunk of shape ``chunks``."""
    per_step = math.prod(chunks[1:]) * itemsize
    return first * per_step, (first + count) * per_step
