"""Time-chunked (WeatherBench2-style) zarr stores read straight from their chunk files
(chaosbench_py.data.zarr_chunk_reader).

The direct reader must serve exactly what xarray/dask serve through ``open_weatherbench2_zarr`` (long names
renamed, latitude flipped to 90 → −90, longitude wrapped and sorted, dims transposed, levels selected by
value, chunks assembled at the edges) for zarr v2 and v3, every codec, one and several steps per chunk,
and fall back to xarray whenever it cannot (packed values, unsupported codecs, remote stores, changed
values); a corrupt chunk file is an error naming the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from numcodecs import Blosc

from chaosbench_py.data.block_sampler import BlockShuffleSampler
from chaosbench_py.data.sources import open_weatherbench2_zarr
from chaosbench_py.data.windows import WindowDataset
from chaosbench_py.data.zarr_chunk_reader import TimeChunkedStoreReader
from chaosbench_py.errors import CorruptFileError

VARS = ["z", "t", "t2m"]
STORED = {"z": "geopotential", "t": "temperature", "t2m": "2m_temperature"}
N_TIME = 21

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _source(n_time: int = N_TIME) -> xr.Dataset:
    """A WB2-layout dataset: long names, dims (time, level, longitude, latitude), latitude −90 → 90,
    longitude −180 … 157.5, levels descending (so every axis needs mapping)."""
    rng = np.random.default_rng(3)
    lat, lon = np.linspace(-90.0, 90.0, 7), np.arange(-180.0, 180.0, 22.5)
    levels = [1000, 850, 500, 50]
    shape3, shape2 = (n_time, 4, len(lon), len(lat)), (n_time, len(lon), len(lat))
    data = {
        "geopotential": (("time", "level", "longitude", "latitude"), 5e4 + 500 * rng.standard_normal(shape3)),
        "temperature": (("time", "level", "longitude", "latitude"), 250 + 10 * rng.standard_normal(shape3)),
        "2m_temperature": (("time", "longitude", "latitude"), 280 + 5 * rng.standard_normal(shape2)),
    }
    ds = xr.Dataset(
        {k: (d, v.astype(np.float32)) for k, (d, v) in data.items()},
        coords={"time": pd.date_range("2020-01-01", periods=n_time, freq="6h"), "level": levels,
                "latitude": lat, "longitude": lon},
    )  # fmt: skip
    ds["geopotential"].attrs["units"] = "m**2 s**-2"
    return ds


def _write(path: Path, fmt: int, chunk: int, codec: str, ds: xr.Dataset | None = None, **extra) -> Path:
    ds = _source() if ds is None else ds
    if fmt == 2:
        comp = None if codec == "none" else (Blosc(cname=codec, clevel=3, shuffle=Blosc.SHUFFLE),)
    else:
        from zarr.codecs import BloscCodec, ZstdCodec

        comp = {"none": None, "lz4": (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),),
                "zstd": (ZstdCodec(level=3),)}[codec]  # fmt: skip
    enc = {}
    for v in ds.data_vars:
        chunks = (chunk,) + ds[v].shape[1:-1] + (4,)  # latitude (last) cut in chunks of 4: edges
        enc[v] = {"chunks": chunks, "compressors": comp, **extra}
    ds.to_zarr(path, mode="w", zarr_format=fmt, consolidated=True, encoding=enc)
    return path


def _plain(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {}  # not recognised: read through xarray/dask
    return out


def _same(a, b) -> None:
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=0, equal_nan=True)


def _stacked(slow: WindowDataset, idx) -> tuple[torch.Tensor, torch.Tensor]:
    items = [slow[int(i)] for i in idx]
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
@pytest.mark.parametrize("chunk", [1, 8])
@pytest.mark.parametrize("fmt", [2, 3])
def test_batches_equal_xarray(tmp_path, fmt, chunk, codec):
    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", fmt, chunk, codec))
    for levels in (None, [850, 50, 1000]):
        kw = dict(variables=VARS, levels=levels, lead_steps=[1, 2])
        fast = WindowDataset(ds, cache_states=6, **kw)
        slow = WindowDataset(_plain(ds), cache_states=0, **kw)
        assert isinstance(fast._copy, TimeChunkedStoreReader) and slow._copy is None
        assert list(np.diff(fast._time_chunk_starts())) == [chunk] * (N_TIME // chunk) + [N_TIME % chunk] * (
            N_TIME % chunk > 0
        )
        blocks = list(BlockShuffleSampler(fast, 8, seed=1, buffer_blocks=2))
        random = np.random.default_rng(0).permutation(len(fast)).tolist()
        for order in (blocks, random):
            for k in range(0, len(order), 5):
                idx = order[k : k + 5]
                _same(fast.batch(idx), _stacked(slow, idx))
        _same(fast[4], slow[4])
        again = pickle.loads(pickle.dumps(fast))  # what a DataLoader worker gets
        _same(again.batch([6, 7, 0]), _stacked(slow, [6, 7, 0]))


def test_two_workers_block_order(tmp_path):
    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", 2, 8, "lz4"))
    fast = WindowDataset(ds, variables=VARS, levels=[500, 850], cache_states=12)
    slow = WindowDataset(_plain(ds), variables=VARS, levels=[500, 850], cache_states=0)
    assert isinstance(fast._copy, TimeChunkedStoreReader)
    sampler = BlockShuffleSampler(fast, 8, seed=2, buffer_blocks=2)
    loader = torch.utils.data.DataLoader(fast, batch_size=4, sampler=sampler, num_workers=2)
    order = list(sampler)
    for k, (x, y) in enumerate(loader):
        _same((x, y), _stacked(slow, order[4 * k : 4 * k + 4]))


def test_decodes_each_chunk_once_in_chunk_order(tmp_path):
    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", 3, 8, "zstd"))
    reader = TimeChunkedStoreReader.for_dataset(ds, VARS, [500])
    block = np.empty((1, 3, 7, 16), dtype=np.float32)
    reader.decoded = 0  # (the acceptance check read the first and last steps)
    for t in ds["time"].values:
        reader.read_into(block, [t])
    # every variable's time chunk once; latitude is cut in 2 chunks but those are decoded together
    assert reader.decoded == len(VARS) * -(-N_TIME // 8) and not reader._cache


@pytest.mark.parametrize("fmt,codec", [(2, "lz4"), (3, "lz4"), (2, "none"), (3, "none")])
def test_single_steps_decode_alone(tmp_path, fmt, codec, monkeypatch):
    """A one-step read of a chunk not in the cache decodes only that step (Blosc blocks or raw bytes), in
    every variable and spatial chunk, and equals xarray's value; a multi-step read still decodes whole
    chunks; without c-blosc's partial decoder the whole frame is decoded, with the same values."""
    from chaosbench_py.data import zarr_chunk_reader

    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", fmt, 8, codec))
    reader = TimeChunkedStoreReader.for_dataset(ds, VARS, [500, 1000])
    assert reader is not None
    expected = WindowDataset(_plain(ds), variables=VARS, levels=[500, 1000], cache_states=0)
    times = ds["time"].values
    block = np.empty((1, 5, 7, 16), dtype=np.float32)
    reader.decoded = reader.steps_decoded_alone = 0  # (the acceptance check read the first and last steps)
    for p in (8, 0, 20, 15, 7):  # chunk boundaries on both sides, the last (partial) chunk
        reader.read_into(block, times[p : p + 1])
        want = expected._fetch([p])
        np.testing.assert_array_equal(block, want)
    assert reader.decoded == 0 and reader.steps_decoded_alone == 5 * len(VARS) and not reader._cache
    reader.read_into(np.empty((2, 5, 7, 16), dtype=np.float32), times[3:5])  # two steps: whole chunks, cached
    assert reader.decoded == len(VARS)
    if codec == "lz4":
        monkeypatch.setattr(zarr_chunk_reader, "read_blosc_file_range", lambda *a: False)
        reader.read_into(block, times[9:10])
        np.testing.assert_array_equal(block, expected._fetch([9]))
        bad = tmp_path / "s.zarr" / "temperature" / ("1.0.0.0" if fmt == 2 else "c/1/0/0/0")
        bad.write_bytes(bad.read_bytes()[:-7])  # through the whole-chunk decoder too: an error naming the file
        with pytest.raises(CorruptFileError, match="temperature"):
            reader.read_into(block, times[12:13])
        monkeypatch.setattr(zarr_chunk_reader, "blosc_getitem_available", lambda: False)
        n = reader.decoded
        reader.read_into(block, times[17:18])
        np.testing.assert_array_equal(block, expected._fetch([17]))
        assert reader.decoded == n + len(VARS)


def test_unwritten_chunk_reads_as_nan(tmp_path):
    src = _source()
    src["temperature"][8:16, :, :, :4] = np.nan  # one whole chunk: zarr does not write it
    path = _write(tmp_path / "s.zarr", 2, 8, "lz4", src)
    assert not (path / "temperature" / "1.0.0.0").exists()
    ds = open_weatherbench2_zarr(path)
    reader = TimeChunkedStoreReader.for_dataset(ds, VARS, [500])
    assert reader is not None
    got = np.empty((1, 3, 7, 16), dtype=np.float32)
    reader.read_into(got, ds["time"].values[9:10])
    want = np.concatenate([ds[v].sel(level=500).isel(time=9).values[None] for v in ("z", "t")] +
                          [ds["t2m"].isel(time=9).values[None]])  # fmt: skip
    assert np.isnan(got[0, 1, -4:]).all() and np.array_equal(got[0], want, equal_nan=True)


def test_gpm_converted_like_the_opener(tmp_path):
    src = _source()
    src["geopotential"] = src["geopotential"] / np.float32(9.80665)
    src["geopotential"].attrs["units"] = "gpm"
    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", 2, 8, "none", src))
    assert "conversion" in ds["z"].attrs
    fast = WindowDataset(ds, variables=["z"])
    slow = WindowDataset(_plain(ds), variables=["z"], cache_states=0)
    assert fast._copy is not None
    _same(fast.batch([0, 9, 19]), _stacked(slow, [0, 9, 19]))


def _falls_back(ds: xr.Dataset, levels=(500, 1000)) -> None:
    """No direct reader, and the windows still equal xarray's values."""
    assert TimeChunkedStoreReader.for_dataset(ds, VARS, list(levels)) is None
    w = WindowDataset(ds, variables=VARS, levels=list(levels))
    assert w._copy is None
    slow = WindowDataset(_plain(ds), variables=VARS, levels=list(levels), cache_states=0)
    _same(w.batch([0, 11, 19]), _stacked(slow, [0, 11, 19]))


def test_packed_values_fall_back(tmp_path):
    src = _source()
    enc = {"dtype": "int16", "scale_factor": 0.05, "add_offset": 250.0, "_FillValue": -32768}
    path = tmp_path / "packed.zarr"
    src.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding={"temperature": enc})
    _falls_back(open_weatherbench2_zarr(path))


def test_masked_fill_value_falls_back(tmp_path):
    path = _write(tmp_path / "fill.zarr", 2, 8, "lz4", _FillValue=np.float32(0.0))
    _falls_back(open_weatherbench2_zarr(path))


def test_unsupported_codec_falls_back(tmp_path):
    from zarr.codecs import Crc32cCodec

    src = _source()
    path = tmp_path / "crc.zarr"
    enc = {v: {"compressors": (Crc32cCodec(),), "chunks": (4,) + src[v].shape[1:]} for v in src.data_vars}
    src.to_zarr(path, mode="w", zarr_format=3, consolidated=True, encoding=enc)
    _falls_back(open_weatherbench2_zarr(path))


def test_sharded_store_falls_back(tmp_path):
    src = _source()
    path = tmp_path / "sharded.zarr"
    enc = {v: {"chunks": (2,) + src[v].shape[1:], "shards": (8,) + src[v].shape[1:]} for v in src.data_vars}
    try:
        src.to_zarr(path, mode="w", zarr_format=3, consolidated=True, encoding=enc)
    except ValueError as err:  # xarray < 2025.3 has no "shards" encoding (the min-versions environment)
        if "shards" not in str(err):
            raise
        pytest.skip(f"this xarray ({xr.__version__}) cannot write sharded zarr stores")
    _falls_back(open_weatherbench2_zarr(path))


def test_remote_changed_or_foreign_datasets_fall_back(tmp_path, caplog):
    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", 2, 8, "lz4"))
    assert TimeChunkedStoreReader.for_dataset(ds, VARS, [500]) is not None
    remote = ds.copy()
    remote.attrs["source_files"] = "gs://bucket/era5.zarr"
    _falls_back(remote)
    changed = ds.assign(t=ds["t"] + 1.0)  # keeps the attributes, not the stored values
    _falls_back(changed)
    assert "differ from xarray's values" in caplog.text
    _falls_back(_plain(ds))


def test_time_and_level_selection_read_directly(tmp_path):
    ds = open_weatherbench2_zarr(_write(tmp_path / "s.zarr", 3, 8, "lz4"), levels=[50, 850])
    ds = ds.isel(time=slice(5, 19))
    fast = WindowDataset(ds, variables=VARS)
    slow = WindowDataset(_plain(ds), variables=VARS, cache_states=0)
    assert fast._copy is not None
    _same(fast.batch(list(range(len(fast)))), _stacked(slow, range(len(fast))))


@pytest.mark.parametrize("fmt,codec", [(2, "lz4"), (3, "zstd"), (2, "none")])
def test_corrupt_chunk_names_the_file(tmp_path, fmt, codec):
    path = _write(tmp_path / "s.zarr", fmt, 8, codec)
    ds = open_weatherbench2_zarr(path)
    reader = TimeChunkedStoreReader.for_dataset(ds, VARS, [500])
    assert reader is not None
    chunk = path / "temperature" / ("1.0.0.0" if fmt == 2 else "c/1/0/0/0")
    chunk.write_bytes(chunk.read_bytes()[:40])
    block = np.empty((1, 3, 7, 16), dtype=np.float32)
    reader.read_into(block, ds["time"].values[:1])  # other chunks still read
    with pytest.raises(CorruptFileError, match="temperature"):
        reader.read_into(block, ds["time"].values[9:10])


def _rekey(path: Path, fmt: int) -> None:
    """Rename every data chunk file to the other key layout (v2: ``/`` separator; v3: the ``v2`` chunk key
    encoding, ``.``), rewrite the arrays' metadata and consolidate it again, as another writer would."""
    import json

    import zarr

    for v in STORED.values():
        folder = path / v
        meta_name = ".zarray" if fmt == 2 else "zarr.json"
        meta = json.loads((folder / meta_name).read_text())
        if fmt == 2:
            meta["dimension_separator"] = "/"
            files = [f for f in folder.iterdir() if not f.name.startswith(".")]
            new = [folder.joinpath(*f.name.split(".")) for f in files]
        else:
            meta["chunk_key_encoding"] = {"name": "v2", "configuration": {"separator": "."}}
            files = [f for f in (folder / "c").rglob("*") if f.is_file()]
            new = [folder / ".".join(f.relative_to(folder / "c").parts) for f in files]
        for f, g in zip(files, new, strict=True):
            data = f.read_bytes()
            f.unlink()
            g.parent.mkdir(parents=True, exist_ok=True)
            g.write_bytes(data)
        (folder / meta_name).write_text(json.dumps(meta))
    zarr.consolidate_metadata(str(path), zarr_format=fmt)


@pytest.mark.parametrize("fmt", [2, 3])
def test_other_chunk_key_layouts(tmp_path, fmt):
    path = _write(tmp_path / "s.zarr", fmt, 8, "lz4")
    _rekey(path, fmt)
    ds = open_weatherbench2_zarr(path)
    fast = WindowDataset(ds, variables=VARS, levels=[500])
    slow = WindowDataset(_plain(ds), variables=VARS, levels=[500], cache_states=0)
    assert isinstance(fast._copy, TimeChunkedStoreReader)
    _same(fast.batch([0, 8, 19, 3]), _stacked(slow, [0, 8, 19, 3]))
