"""Partial decoding of Blosc frames (chaosbench_py.data.blosc_partial): any step range of a chunk decoded
alone must equal the same bytes of numcodecs' whole-chunk decode, for every Blosc compressor, shuffle,
dtype and block size; corrupt or short frames are errors, never reads outside the frame."""

from __future__ import annotations

import numpy as np
import pytest
from numcodecs import Blosc

from chaosbench_py.data import blosc_partial
from chaosbench_py.data.blosc_partial import (
    blosc_frame_header,
    blosc_getitem_available,
    decode_blosc_range,
    read_blosc_file_range,
    step_byte_range,
)

pytestmark = pytest.mark.skipif(not blosc_getitem_available(), reason="numcodecs exports no blosc_getitem")


def _chunk(dtype: str, shape=(8, 5, 33, 64)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.cumsum(rng.standard_normal(shape), axis=-1).round(3).astype(dtype)


@pytest.mark.parametrize("cname", ["lz4", "lz4hc", "blosclz", "zstd", "zlib"])
@pytest.mark.parametrize("shuffle", [Blosc.NOSHUFFLE, Blosc.SHUFFLE, Blosc.BITSHUFFLE])
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_any_step_range_equals_the_whole_decode(cname, shuffle, dtype):
    x = _chunk(dtype)
    for blocksize in (0, 4096):  # automatic (one or few blocks a step) and many blocks per step
        raw = Blosc(cname=cname, clevel=5, shuffle=shuffle, blocksize=blocksize).encode(x)
        whole = np.frombuffer(Blosc().decode(raw), dtype=dtype).reshape(x.shape)
        assert np.array_equal(whole, x)
        for first, count in [(0, 1), (3, 1), (7, 1), (2, 3), (0, 8)]:
            out = np.full((count,) + x.shape[1:], np.nan, dtype=dtype)
            start, stop = step_byte_range(x.shape, x.itemsize, first, count)
            assert stop - start == out.nbytes
            assert decode_blosc_range(raw, start, out)
            assert np.array_equal(out, x[first : first + count])


def test_uncompressed_frame_and_file_mapping(tmp_path):
    x = _chunk("<f4")
    raw = Blosc(cname="lz4", clevel=0).encode(x)  # clevel 0: the frame stores the bytes as they are
    assert blosc_frame_header(raw)["flags"] & 0x02
    f = tmp_path / "0.0"
    for frame in (raw, Blosc(cname="zstd", clevel=3).encode(x)):
        f.write_bytes(frame)
        out = np.empty((1,) + x.shape[1:], dtype="<f4")
        assert read_blosc_file_range(f, step_byte_range(x.shape, 4, 5, 1)[0], out)
        assert np.array_equal(out[0], x[5])


def test_header_fields():
    x = _chunk("<f8", (2, 3, 4))
    head = blosc_frame_header(Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE).encode(x))
    assert head["typesize"] == 8 and head["nbytes"] == x.nbytes and head["blocksize"] >= 1


def test_corrupt_or_short_frames_are_errors(tmp_path):
    x = _chunk("<f4")
    raw = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=4096).encode(x)
    out = np.empty((1,) + x.shape[1:], dtype="<f4")
    with pytest.raises(ValueError, match="shorter than its 16-byte header"):
        decode_blosc_range(raw[:10], 0, out)
    with pytest.raises(ValueError, match="compressed bytes"):
        decode_blosc_range(raw[:-5], 0, out)  # a truncated file
    bad = bytearray(raw)
    bad[16:20] = (len(raw) + 100).to_bytes(4, "little")  # first block starts past the end
    with pytest.raises(ValueError, match="start offset"):
        decode_blosc_range(bytes(bad), 0, out)
    bad = bytearray(raw)
    bad[12:16] = (10**6).to_bytes(4, "little")
    bad[4:8] = (10**9).to_bytes(4, "little")
    with pytest.raises(ValueError, match="compressed bytes"):
        decode_blosc_range(bytes(bad), 0, out)
    with pytest.raises(ValueError, match="decodes to"):  # a range past the chunk's end
        decode_blosc_range(raw, x.nbytes - 8, out)
    empty = tmp_path / "0.0"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_blosc_file_range(empty, 0, out)


def test_refuses_what_it_cannot_decode_partially(monkeypatch):
    x = _chunk("<f4")
    raw = Blosc(cname="lz4").encode(x)
    out = np.zeros((1,) + x.shape[1:], dtype="<f4")
    assert not decode_blosc_range(raw, 2, out)  # not on a whole item of the frame's typesize (4)
    assert not decode_blosc_range(raw, 0, np.zeros((4, 2), dtype="<f4").T)  # not C-contiguous
    assert not out.any()
    monkeypatch.setattr(blosc_partial, "_getitem", lambda: None)  # a numcodecs without the symbol
    assert not blosc_getitem_available()
    assert not decode_blosc_range(raw, 0, out) and not out.any()
