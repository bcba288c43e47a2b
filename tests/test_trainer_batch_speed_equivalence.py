"""The trainer's batch path serves the same numbers after the speed work (issue #16 item 3).

``WindowDataset.batch`` reads a training copy straight into pooled batch memory, each time step of a
batch once; the batches must stay bit-identical to stacking the plain samples (read through xarray,
no cache), the pooled memory must never be reused while a tensor, view or array of it is alive, and
``NextStepTask.batch`` (random and block order, ranks, ``DataLoader`` workers) must serve exactly the
samples of ``global_indices``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from chaosbench_py.data.sources import open_weatherbench2_zarr
from chaosbench_py.data.training_copy import CopyReader, open_training_copy, write_training_copy
from chaosbench_py.data.windows import WindowDataset
from chaosbench_py.training.config import config_from_dict
from chaosbench_py.training.tasks.next_step import NextStepTask

VARS = ["z", "t2m"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dataset(n_times: int = 40) -> xr.Dataset:
    """z at two levels and t2m on a 9 × 16 grid, 6-hourly, with noise (no two states alike)."""
    lat = np.linspace(90.0, -90.0, 9)
    lon = np.arange(0.0, 360.0, 22.5)
    rng = np.random.default_rng(3)
    t = np.arange(n_times)[:, None, None]
    wave = np.cos(np.deg2rad(lat))[None, :, None] * np.sin(np.deg2rad(lon)[None, None, :] * 3 - 0.4 * t)
    noise = rng.standard_normal((n_times, 2, lat.size, lon.size))
    z = np.stack([50000 + 500 * wave + 30 * noise[:, 0], 14000 + 300 * wave + 20 * noise[:, 1]], axis=1)
    t2m = 280 + 5 * wave + rng.standard_normal(wave.shape)
    return xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), z.astype(np.float32), {"units": "m**2 s**-2"}),
            "t2m": (("time", "latitude", "longitude"), t2m.astype(np.float32), {"units": "K"}),
        },
        coords={
            "time": pd.date_range("2001-01-01", periods=n_times, freq="6h").values,
            "level": np.array([500, 850]),
            "latitude": lat,
            "longitude": lon,
        },
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batch_speed")
    chunked = root / "chunked.zarr"
    _dataset().chunk({"time": 4}).to_zarr(chunked, mode="w", zarr_format=2, consolidated=True)
    write_training_copy(_dataset(), root / "copy.zarr")
    return {"chunked": chunked, "copy": root / "copy.zarr"}


def _windows(data: xr.Dataset, **kw) -> WindowDataset:
    const = {"mask": (data["t2m"].isel(time=0) > 280).astype(np.float32)}
    return WindowDataset(data, variables=VARS, constants=const, **kw)


def _stacked(ref: WindowDataset, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ref[i] for i in idx]
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


@pytest.mark.parametrize("source", ["memory", "chunked", "copy"])
@pytest.mark.parametrize("cache_states", [None, 0, 12])
@pytest.mark.parametrize("n_input_steps", [1, 2])
def test_batch_is_bit_identical_to_plain_stacked_samples(stores, source, cache_states, n_input_steps):
    kw = dict(n_input_steps=n_input_steps, lead_steps=[1, 3])
    ref = _windows(_dataset(), cache_states=0, chunk_reads=False, **kw)
    data = {"memory": _dataset(), "chunked": open_weatherbench2_zarr(stores["chunked"]),
            "copy": open_training_copy(stores["copy"])}[source]  # fmt: skip
    w = _windows(data, cache_states=cache_states, **kw)
    assert (w._copy is not None) == (source != "memory")  # chunked: TimeChunkedStoreReader
    for idx in ([5, 4, 5, 0, 6], [6, 7, 8, 20, 21], list(range(len(w) - 5, len(w))), [3]):
        x, y = w.batch(idx)
        xr_, yr = _stacked(ref, idx)
        assert x.shape == xr_.shape and y.shape == yr.shape
        assert torch.equal(x, xr_) and torch.equal(y, yr), idx
        x2, y2 = w.batch(idx)  # again (from the cache where it holds them)
        assert torch.equal(x2, xr_) and torch.equal(y2, yr)


def test_pooled_memory_is_reused_only_when_released(stores):
    w = _windows(open_training_copy(stores["copy"]))
    ref = _windows(_dataset(), cache_states=0)
    a, b, c, d = [0, 1, 2], [10, 11, 12], [20, 21, 22], [5, 9, 13]
    x1, y1 = w.batch(a)
    x2, y2 = w.batch(b)
    assert x2.data_ptr() != x1.data_ptr() and y2.data_ptr() != y1.data_ptr()
    x3, y3 = w.batch(c)  # both earlier batches alive: new memory
    assert len({x1.data_ptr(), x2.data_ptr(), x3.data_ptr()}) == 3
    for (x, y), idx in (((x1, y1), a), ((x2, y2), b), ((x3, y3), c)):
        xr_, yr = _stacked(ref, idx)
        assert torch.equal(x, xr_) and torch.equal(y, yr)
    ptr2 = (x2.data_ptr(), y2.data_ptr())
    del x2, y2
    x4, y4 = w.batch(d)  # the second batch is free again: its memory is filled
    assert (x4.data_ptr(), y4.data_ptr()) == ptr2
    assert all(torch.equal(u, v) for u, v in zip((x4, y4), _stacked(ref, d), strict=True))
    view = y3[1].numpy()  # a view of the third batch keeps its memory
    kept = view.copy()
    del x3, y3
    x5, y5 = w.batch(a)
    assert y5.data_ptr() not in (view.ctypes.data, y1.data_ptr())
    assert np.array_equal(view, kept)
    assert all(torch.equal(u, v) for u, v in zip((x5, y5), _stacked(ref, a), strict=True))
    x1[:] = 0  # a caller writing into its batch changes no later batch
    assert all(torch.equal(u, v) for u, v in zip(w.batch(a), _stacked(ref, a), strict=True))


def _count_copy_reads(monkeypatch) -> list[int]:
    reads: list[int] = []
    read_into = CopyReader.read_into

    def counting(self, block, times):
        reads.extend(self.index(times).tolist())
        return read_into(self, block, times)

    monkeypatch.setattr(CopyReader, "read_into", counting)
    return reads


def test_copy_batch_reads_each_time_step_once(stores, monkeypatch):
    w = _windows(open_training_copy(stores["copy"]), lead_steps=[1, 2])
    reads = _count_copy_reads(monkeypatch)
    w.batch([4, 5, 6, 4, 30])  # 9 distinct time steps among 15 places
    assert sorted(reads) == [4, 5, 6, 7, 8, 30, 31, 32]


def _task(store: Path, order: str, **data) -> NextStepTask:
    cfg = {"model": {"name": "fno", "config": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2}},
           "data": {"path": str(store), "variables": VARS, "train": ["2001-01-01", "2001-01-09"],
                    "order": order, **data},
           "task": {"kind": "next_step", "rollout_steps": 2},
           "train": {"steps": 4, "batch_size": 4, "progress": False}}  # fmt: skip
    return NextStepTask(config_from_dict(cfg), torch.device("cpu"))


@pytest.mark.parametrize("order", ["random", "blocks"])
def test_trainer_batches_equal_the_plain_samples(stores, order):
    fast = _task(stores["copy"], order)
    plain = _task(stores["chunked"], order, block_size=1)
    assert fast.train_set._copy is not None and plain.train_set._copy is not None
    plain.train_set._copy = None  # the reference: read through xarray/dask
    plain.train_set.cache_states, plain.train_set.chunk_reads = 0, False
    for step in [*range(fast.steps_per_epoch + 2), 3 * fast.steps_per_epoch + 1]:
        idx = fast.global_indices(step)
        x, y = fast.batch(step)
        xr_, yr = _stacked(plain.train_set, idx)
        assert torch.equal(x, xr_) and torch.equal(y, yr), step
        for rank in range(2):
            xp, yp = fast.batch(step, rank, 2)
            assert torch.equal(xp, xr_[rank::2]) and torch.equal(yp, yr[rank::2])


def test_block_order_on_the_copy_reads_each_step_about_once(stores, monkeypatch):
    task = _task(stores["copy"], "blocks", block_size=4, buffer_blocks=2)
    reads = _count_copy_reads(monkeypatch)
    for s in range(task.steps_per_epoch):
        task.batch(s)
        assert len(task.train_set._cache) <= task.train_set.cache_states
    counts = np.bincount(reads)
    assert counts.max() <= 2 and len(reads) <= 1.5 * np.count_nonzero(counts)


def test_workers_serve_the_same_batches_from_the_copy(stores):
    base = _task(stores["copy"], "blocks")
    workers = _task(stores["copy"], "blocks", num_workers=2)
    for step in range(5):
        for a, b in zip(base.batch(step), workers.batch(step), strict=True):
            assert torch.equal(a, b), step
