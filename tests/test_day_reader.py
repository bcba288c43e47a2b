"""ChaosBench day-stores read straight from their chunk files (chaosbench_py.data.day_reader).

The direct reader must serve exactly what xarray/dask serve through ``open_chaosbench`` (chunks
assembled at the edges, level subsets in any order, z converted from gpm, unwritten chunks as NaN),
and fall back to xarray whenever the dataset is not the stores' plain values.
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

from chaosbench_py.data.day_reader import DayStoreReader
from chaosbench_py.data.sources import open_chaosbench
from chaosbench_py.data.windows import WindowDataset
from chaosbench_py.training.config import config_from_dict
from chaosbench_py.training.tasks.next_step import NextStepTask

VARS = ["z", "t"]
LEVELS = [10, 500, 850, 1000]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_days(root: Path, n_days: int = 12, hole: bool = False) -> Path:
    """Day-stores of z (gpm) and t on 4 levels × 9 × 16, chunked (3, 5, 16) so chunks are cut at the
    edges; with ``hole``, one chunk of t on day 3 is all NaN (zarr does not write it)."""
    lat, lon = np.linspace(90.0, -90.0, 9), np.arange(0.0, 360.0, 22.5)
    rng = np.random.default_rng(7)
    folder = root / "era5"
    folder.mkdir(parents=True)
    enc = {"chunks": (3, 5, 16), "compressors": (Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),)}
    for i, day in enumerate(pd.date_range("2016-01-01", periods=n_days, freq="D")):
        z = 5000 + 50 * rng.standard_normal((4, 9, 16))
        t = 250 + 10 * rng.standard_normal((4, 9, 16))
        if hole and i == 3:
            t[:3, :5] = np.nan
        ds = xr.Dataset(
            {"z": (("level", "latitude", "longitude"), z.astype(np.float32)),
             "t": (("level", "latitude", "longitude"), t.astype(np.float32))},
            coords={"level": LEVELS, "latitude": lat, "longitude": lon},
        )  # fmt: skip
        ds.to_zarr(folder / f"era5_full_1.5deg_{day:%Y%m%d}.zarr", mode="w", zarr_format=2,
                   consolidated=True, encoding={"z": enc, "t": enc})  # fmt: skip
    return root


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> Path:
    return _write_days(tmp_path_factory.mktemp("days"))


def _plain(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {}  # not recognised as day-stores: read through xarray/dask
    return out


def _same(a, b) -> None:
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("levels", [None, [850, 10, 1000]])
@pytest.mark.parametrize("stats", [False, True])
def test_direct_reads_equal_xarray(days, levels, stats):
    ds = open_chaosbench(days)
    kw = dict(variables=VARS, levels=levels, lead_steps=[1, 2])
    if stats:
        from chaosbench_py.data.statistics import channel_statistics

        kw["statistics"] = channel_statistics(ds, variables=VARS, levels=levels, years=(2016, 2016))
    fast = WindowDataset(ds, **kw)
    slow = WindowDataset(_plain(ds), cache_states=0, **kw)
    assert isinstance(fast._copy, DayStoreReader) and slow._copy is None
    for idx in ([0, 1, 2, 0], [8, 3, 5]):
        x, y = fast.batch(idx)
        items = [slow[i] for i in idx]
        _same((x, y), (torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])))
    _same(fast[4], slow[4])
    again = pickle.loads(pickle.dumps(fast))  # what a DataLoader worker gets
    _same(again.batch([6, 7]), fast.batch([6, 7]))


def test_unwritten_chunk_reads_as_nan(tmp_path):
    ds = open_chaosbench(_write_days(tmp_path, 6, hole=True))
    reader = DayStoreReader.for_dataset(ds, VARS, LEVELS)
    assert reader is not None
    got = np.empty((1, 8, 9, 16), dtype=np.float32)
    reader.read_into(got, ds["time"].values[3:4])
    want = np.concatenate([ds[v].isel(time=3).values for v in VARS])
    assert np.isnan(got[0, 4:7, :5]).all() and np.array_equal(got[0], want, equal_nan=True)


def test_falls_back_to_xarray_unless_plain_day_stores(days, caplog):
    ds = open_chaosbench(days)
    assert DayStoreReader.for_dataset(ds, VARS, LEVELS) is not None
    assert DayStoreReader.for_dataset(_plain(ds), VARS, LEVELS) is None
    changed = ds.assign(t=ds["t"] + 1.0)  # keeps the attributes, not the stored values
    assert DayStoreReader.for_dataset(changed, VARS, LEVELS) is None
    assert "differ from xarray's values" in caplog.text
    w = WindowDataset(changed, variables=VARS)
    assert w._copy is None
    torch.testing.assert_close(w[0][1][0, 4:], WindowDataset(ds, variables=VARS)[0][1][0, 4:] + 1.0)


def test_trainer_reads_day_stores_directly(days):
    cfg = {"model": {"name": "fno", "config": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2}},
           "data": {"path": str(days), "variables": VARS, "levels": LEVELS, "order": "blocks"},
           "task": {"kind": "next_step", "rollout_steps": 1},
           "train": {"steps": 2, "batch_size": 4, "progress": False}}  # fmt: skip
    task = NextStepTask(config_from_dict(cfg), torch.device("cpu"))
    assert isinstance(task.train_set._copy, DayStoreReader)
    ref = WindowDataset(_plain(open_chaosbench(days)), variables=VARS, levels=LEVELS,
                        statistics=task.statistics, cache_states=0)  # fmt: skip
    for step in range(task.steps_per_epoch + 1):
        idx = task.global_indices(step)
        items = [ref[i] for i in idx]
        _same(task.batch(step), (torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])))
