"""Chunk-aware sampling (block_sampler), the bounded window cache and the training copy (training_copy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from torch.utils.data import DataLoader

from chaosbench_py.data.block_sampler import BlockShuffleSampler, block_order, cache_states_needed
from chaosbench_py.data.training_copy import open_training_copy, write_training_copy
from chaosbench_py.data.windows import WindowDataset
from chaosbench_py.errors import InputError, OutputExistsError

VARS = ["z", "t", "t2m"]


def canonical(n_time=24, n_lat=5, n_lon=8) -> xr.Dataset:
    """Values encode (variable, time, level, lat, lon)."""
    t, lev, i, j = np.meshgrid(
        np.arange(n_time), np.arange(3), np.arange(n_lat), np.arange(n_lon), indexing="ij"
    )
    base = (1000.0 * t + 100.0 * lev + 10.0 * i + j).astype(np.float32)
    dims = ("time", "level", "latitude", "longitude")
    return xr.Dataset(
        {"z": (dims, 5e4 + base), "t": (dims, 2e2 + base), "t2m": (dims[:1] + dims[2:], 3e2 + base[:, 0])},
        coords={
            "time": pd.date_range("2016-01-01", periods=n_time, freq="1D"),
            "level": [100, 500, 850],
            "latitude": np.linspace(90, -90, n_lat),
            "longitude": np.arange(n_lon) * 360.0 / n_lon,
        },
    )


@pytest.fixture(scope="module")
def chunked_store(tmp_path_factory):
    """A WeatherBench2-style store: 4 time steps per chunk, compressed (zarr default)."""
    path = tmp_path_factory.mktemp("wb2") / "store.zarr"
    canonical().chunk({"time": 4}).to_zarr(path, zarr_format=2, consolidated=True)
    return path


def all_samples(ds, order):
    return [tuple(t.numpy() for t in ds[int(i)]) for i in order]


# ------------------------------------------------------------------ block order
def test_block_order_is_a_seeded_permutation_of_contiguous_buffers():
    labels = np.arange(40) // 5
    a = block_order(labels, seed=3, epoch=0)
    assert sorted(a.tolist()) == list(range(40))
    np.testing.assert_array_equal(a, block_order(labels, seed=3, epoch=0))
    assert not np.array_equal(a, block_order(labels, seed=3, epoch=1))
    assert not np.array_equal(a, block_order(labels, seed=4, epoch=0))
    # buffer of one block: each block's 5 samples are consecutive in the order, shuffled inside
    for k in range(8):
        assert len(set(labels[a[5 * k : 5 * k + 5]])) == 1
    assert not np.array_equal(a, np.sort(a))
    b = block_order(labels, seed=3, epoch=0, buffer_blocks=2)
    for k in range(4):
        assert len(set(labels[b[10 * k : 10 * k + 10]])) == 2
    assert cache_states_needed(5, 2, 1) == 15 and cache_states_needed(1, 8, 1) == 9
    assert cache_states_needed(8, 2, 1, chunk=1) == 17 and cache_states_needed(32, 1, 1, chunk=8) == 40
    with pytest.raises(InputError):
        cache_states_needed(8, 1, 1, chunk=0)


@pytest.mark.parametrize(
    "kwargs", [{"block_of": [0.5, 1.0]}, {"buffer_blocks": 0}, {"seed": -1}, {"block_of": [[0, 1]]}]
)
def test_block_order_bad_input(kwargs):
    args = {"block_of": [0, 0, 1], "seed": 0} | kwargs
    with pytest.raises(InputError):
        block_order(args.pop("block_of"), **args)


def test_sampler_resumes_at_a_sample_position():
    full = BlockShuffleSampler(30, 4, seed=7, epoch=2)
    order = list(full)
    assert len(order) == 30 and sorted(order) == list(range(30))
    resumed = BlockShuffleSampler(30, 4, seed=7, epoch=2, start=11)
    assert list(resumed) == order[11:] and len(resumed) == 19
    full.set_epoch(3)
    assert list(full) != order
    with pytest.raises(InputError):
        BlockShuffleSampler(30, 4, start=31)
    with pytest.raises(InputError):
        BlockShuffleSampler("x", 4)
    with pytest.raises(InputError):
        BlockShuffleSampler(30, 0)


# ------------------------------------------------------------------ chunk-aware cache
def test_each_chunk_is_read_once_per_epoch_in_block_order(chunked_store, monkeypatch):
    ds = xr.open_zarr(chunked_store)
    w = WindowDataset(ds, variables=VARS, lead_steps=[1], cache_states=cache_states_needed(4, 1, 1))
    reads: list[list[int]] = []
    fetch = WindowDataset._fetch
    monkeypatch.setattr(
        WindowDataset, "_fetch", lambda self, todo: reads.append(list(todo)) or fetch(self, todo)
    )
    sampler = BlockShuffleSampler(w, 4, seed=1)
    got = all_samples(w, sampler)
    # whole chunks are read: each once for its own block, at most once more when the block before
    # it in the order reaches into it (the target of its last anchor)
    chunks = [sorted({p // 4 for p in r}) for r in reads]
    assert all(
        r == [p for c in cs for p in range(4 * c, 4 * c + 4)] for r, cs in zip(reads, chunks, strict=True)
    )
    counts = np.bincount([c for cs in chunks for c in cs], minlength=6)
    assert counts.min() >= 1 and counts.max() <= 2
    # the random order reads (and decodes) a chunk for almost every sample
    reads.clear()
    w._cache.clear()
    all_samples(w, np.random.default_rng(1).permutation(len(w)))
    assert len(reads) > 2 * 6
    monkeypatch.undo()
    plain = WindowDataset(ds, variables=VARS, lead_steps=[1], cache_states=0, chunk_reads=False)
    for (x, y), (x0, y0) in zip(got, all_samples(plain, sampler), strict=True):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)


def test_cache_mb_bounds_the_cache(chunked_store):
    ds = xr.open_zarr(chunked_store)
    state_mb = 7 * 5 * 8 * 4 / 2**20
    w = WindowDataset(ds, variables=VARS, lead_steps=[1, 2], cache_mb=5.5 * state_mb)
    assert w.cache_states == 5
    for i in np.random.default_rng(0).permutation(len(w)):
        w[int(i)]
        assert len(w._cache) <= 5
    with pytest.raises(InputError, match="cache_mb"):
        WindowDataset(ds, variables=VARS, cache_mb=-1)


def test_same_samples_for_any_worker_count(chunked_store):
    ds = WindowDataset(xr.open_zarr(chunked_store), variables=VARS, lead_steps=[1], cache_mb=1)
    out = {}
    for workers in (0, 2):
        sampler = BlockShuffleSampler(ds, 4, seed=5, epoch=1, start=3)
        loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers)
        out[workers] = [(x.clone(), y.clone()) for x, y in loader]
    assert len(out[0]) == len(out[2]) == int(np.ceil((len(ds) - 3) / 4))
    for (x0, y0), (x2, y2) in zip(out[0], out[2], strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


# ------------------------------------------------------------------ training copy
@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_training_copy_serves_the_same_numbers(tmp_path, chunked_store, codec):
    src = xr.open_zarr(chunked_store)
    cost = write_training_copy(src, tmp_path / "copy.zarr", codec=codec)
    assert cost["time_steps"] == 24 and cost["bytes"] > 0 and cost["seconds"] > 0
    copy = open_training_copy(tmp_path / "copy.zarr")
    stats = xr.Dataset(
        {"mean": ("channel", np.arange(7.0)), "std": ("channel", np.arange(1.0, 8.0))},
        coords={"channel": ["z-100", "z-500", "z-850", "t-100", "t-500", "t-850", "t2m"]},
    )
    for kw in ({}, {"levels": [850, 100]}):
        ours = WindowDataset(copy, variables=VARS, lead_steps=[1, 3], statistics=stats.copy(), **kw)
        ref = WindowDataset(src, variables=VARS, lead_steps=[1, 3], statistics=stats.copy(), **kw)
        assert ours._copy is not None and ref._copy is None
        order = BlockShuffleSampler(ours, 3, seed=0)
        for (x, y), (x0, y0) in zip(all_samples(ours, order), all_samples(ref, order), strict=True):
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(y, y0)
    # a time slice of the copy is still read directly, at the right times
    part = copy.sel(time=slice("2016-01-05", "2016-01-12"))
    ours = WindowDataset(part, variables=VARS, lead_steps=[1])
    assert ours._copy is not None
    x, y = ours[2]
    x0, y0 = WindowDataset(src.sel(time=slice("2016-01-05", "2016-01-12")), variables=VARS, lead_steps=[1])[2]
    assert torch.equal(x, x0) and torch.equal(y, y0)


def test_training_copy_errors(tmp_path, chunked_store):
    src = xr.open_zarr(chunked_store)
    with pytest.raises(InputError, match="codec"):
        write_training_copy(src, tmp_path / "a.zarr", codec="gzip")
    with pytest.raises(InputError, match="nope"):
        write_training_copy(src, tmp_path / "a.zarr", variables=["nope"])
    write_training_copy(src, tmp_path / "a.zarr", variables=["z"])
    with pytest.raises(OutputExistsError):
        write_training_copy(src, tmp_path / "a.zarr")
    with pytest.raises(FileNotFoundError):
        open_training_copy(tmp_path / "missing.zarr")
    copy = open_training_copy(tmp_path / "a.zarr")
    assert WindowDataset(copy, variables=["z"])._copy is not None
    # changed values keep the mark (xarray keeps attrs) but are not read from the files
    doubled = copy * 2
    assert doubled.attrs.get("training_copy")
    w = WindowDataset(doubled, variables=["z"], lead_steps=[1])
    assert w._copy is None
    np.testing.assert_array_equal(w[3][0].numpy(), 2 * src["z"].isel(time=3).values)
