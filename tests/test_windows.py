"""Windows of a canonical dataset as a torch Dataset (chaosbench_py.data.windows)."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from torch.utils.data import DataLoader, DistributedSampler

from chaosbench_py.data.statistics import channel_statistics
from chaosbench_py.data.windows import WindowDataset

LEVELS = [850, 500, 100]


def canonical(n_time=12, n_lat=5, n_lon=8, start="2001-01-01", freq="1D") -> xr.Dataset:
    """Values encode (variable, time, level, lat, lon), so every served number can be checked."""
    times = pd.date_range(start, periods=n_time, freq=freq)
    t, lev, i, j = np.meshgrid(
        np.arange(n_time), np.arange(3), np.arange(n_lat), np.arange(n_lon), indexing="ij"
    )
    base = 1000.0 * t + 100.0 * lev + 10.0 * i + j
    ds = xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), 5e4 + base),
            "t": (("time", "level", "latitude", "longitude"), 2e4 + base),
            "t2m": (("time", "latitude", "longitude"), 3e4 + base[:, 0]),
        },
        coords={
            "time": times,
            "level": [100, 500, 850],
            "latitude": np.linspace(90, -90, n_lat),
            "longitude": np.arange(n_lon) * 360.0 / n_lon,
        },
    )
    return ds


def expected_state(ds, time_index, channels):
    out = []
    for ch in channels:
        var, _, lev = ch.partition("-")
        da = ds[var].isel(time=time_index)
        out.append(da.sel(level=float(lev)).values if lev else da.values)
    return np.stack(out)


def open_store(path):
    return xr.open_zarr(path, consolidated=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("windows") / "canon.zarr"
    canonical(n_time=20).chunk({"time": 1}).to_zarr(path, consolidated=False, zarr_format=3)
    return path


def test_channel_order_shapes_and_values():
    ds = canonical()
    wd = WindowDataset(
        ds.chunk({"time": 2}), variables=["t2m", "z"], levels=LEVELS, n_input_steps=2, lead_steps=[1, 3]
    )
    assert wd.channel_names == ["t2m", "z-850", "z-500", "z-100"]
    assert len(wd) == 12 - 1 - 3  # anchors 1 … 8
    np.testing.assert_array_equal(wd.anchors, np.arange(1, 9))
    x, y = wd[0]
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert tuple(x.shape) == (2, 4, 5, 8) and tuple(y.shape) == (2, 4, 5, 8)
    np.testing.assert_array_equal(x[0].numpy(), expected_state(ds, 0, wd.channel_names))
    np.testing.assert_array_equal(x[1].numpy(), expected_state(ds, 1, wd.channel_names))
    np.testing.assert_array_equal(y[1].numpy(), expected_state(ds, 4, wd.channel_names))
    t_in, t_out = wd.sample_times(0)
    assert list(t_out) == [pd.Timestamp("2001-01-03"), pd.Timestamp("2001-01-05")]
    # the order is data: the same arguments give the same order, other arguments another
    again = WindowDataset(ds, variables=["t2m", "z"], levels=LEVELS, n_input_steps=2, lead_steps=[1, 3])
    assert again.channel_names == wd.channel_names
    assert WindowDataset(ds, variables=["z"], levels=[100]).channel_names == ["z-100"]


def test_single_input_step_shape_and_normalisation():
    ds = canonical()
    stats = channel_statistics(ds, variables=["z", "t2m"], levels=LEVELS, years=(2001, 2001))
    wd = WindowDataset(ds, variables=["z", "t2m"], levels=LEVELS, statistics=stats, lead_steps=[2])
    x, y = wd[3]
    assert tuple(x.shape) == (4, 5, 8) and tuple(y.shape) == (1, 4, 5, 8)
    raw = expected_state(ds, 3, wd.channel_names)
    want = (raw - stats["mean"].values[:, None, None]) / stats["std"].values[:, None, None]
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-5)
    # statistics are matched by channel name, not position
    shuffled = stats.isel(channel=[3, 1, 0, 2])
    x2, _ = WindowDataset(ds, variables=["z", "t2m"], levels=LEVELS, statistics=shuffled, lead_steps=[2])[3]
    torch.testing.assert_close(x, x2)
    with pytest.raises(KeyError, match=r"channel\(s\) \['t-850'"):
        WindowDataset(ds, variables=["t"], levels=[850], statistics=stats)


def test_constant_fields_appended_to_inputs():
    ds = canonical()
    lsm = xr.DataArray(
        (np.arange(5)[:, None] % 2) * np.ones((1, 8)),
        dims=("latitude", "longitude"),
        coords={"latitude": ds.latitude.values[::-1], "longitude": ds.longitude.values},
    )[::-1]  # given in another latitude order: aligned by coordinate values
    oro = xr.DataArray(np.full((5, 8), 7.0), dims=("latitude", "longitude"), coords=lsm.coords)
    wd = WindowDataset(ds, variables=["t2m"], constants={"lsm": lsm, "orography": oro})
    assert wd.input_channel_names == ["t2m", "lsm", "orography"]
    x, y = wd[0]
    assert tuple(x.shape) == (3, 5, 8) and tuple(y.shape) == (1, 1, 5, 8)
    m = lsm.sel(latitude=ds.latitude).values
    np.testing.assert_allclose(x[1].numpy(), (m - m.mean()) / m.std(), rtol=1e-6)
    np.testing.assert_array_equal(x[2].numpy(), 0.0)  # a constant field is only centred
    bad = lsm.assign_coords(latitude=lsm.latitude + 1.0)
    with pytest.raises(ValueError, match="'lsm' is on another grid"):
        WindowDataset(ds, variables=["t2m"], constants={"lsm": bad})


def test_time_indices_windows_never_cross_the_end():
    ds = canonical(n_time=10)
    wd = WindowDataset(ds, variables=["t2m"], n_input_steps=3, lead_steps=[2])
    assert wd.anchors.min() == 2 and wd.anchors.max() == 7
    for i in range(len(wd)):
        pos = wd._positions[i]
        assert pos.min() >= 0 and pos.max() < 10
    with pytest.raises(ValueError, match="time index 8 .* crosses the end"):
        WindowDataset(ds, variables=["t2m"], lead_steps=[2], time_indices=[0, 8])
    with pytest.raises(ValueError, match="time index 0 .* crosses"):
        WindowDataset(ds, variables=["t2m"], n_input_steps=2, time_indices=[0])
    sub = WindowDataset(ds, variables=["t2m"], lead_steps=[2], time_indices=[5, 1])
    np.testing.assert_array_equal(sub.anchors, [5, 1])
    byt = WindowDataset(ds, variables=["t2m"], init_times=["2001-01-06", "2001-01-02"], lead_steps=[2])
    np.testing.assert_array_equal(byt.anchors, [5, 1])
    with pytest.raises(KeyError, match="2002-01-01"):
        WindowDataset(ds, variables=["t2m"], init_times=["2002-01-01"])
    with pytest.raises(IndexError, match="out of range"):
        sub[2]


def test_missing_times_in_the_axis():
    ds = canonical(n_time=10).drop_isel(time=[4])  # a gap: 5 January is missing
    wd = WindowDataset(ds, variables=["t2m"], lead_steps=[1])
    # the windows 4 Jan → 5 Jan is skipped; 3 Jan → 4 Jan and 6 → 7 Jan are kept
    starts = [str(wd.sample_times(i)[0][0].date()) for i in range(len(wd))]
    assert "2001-01-04" not in starts and "2001-01-03" in starts and len(wd) == 7
    with pytest.raises(ValueError, match=r"needs time\(s\) \['2001-01-05"):
        WindowDataset(ds, variables=["t2m"], init_times=["2001-01-04"])
    # steps as array positions when asked
    assert len(WindowDataset(ds, variables=["t2m"], time_step=None)) == 8


def test_bad_input_errors():
    ds = canonical()
    with pytest.raises(KeyError, match="'q'"):
        WindowDataset(ds, variables=["q"])
    with pytest.raises(KeyError, match="level 700"):
        WindowDataset(ds, variables=["z"], levels=[700])
    with pytest.raises(ValueError, match="lead_steps"):
        WindowDataset(ds, variables=["z"], lead_steps=[0])
    with pytest.raises(ValueError, match="n_input_steps"):
        WindowDataset(ds, variables=["z"], n_input_steps=0)
    with pytest.raises(ValueError, match="not sorted"):
        WindowDataset(ds.isel(time=[1, 0, 2, 3]), variables=["z"])
    nan = ds.copy(deep=True)
    nan["z"][4, 2, 1, 1] = np.nan
    wd = WindowDataset(nan, variables=["z"], levels=LEVELS)
    with pytest.raises(ValueError, match=r"variable 'z' level 850 .* NaN/inf at time 2001-01-05"):
        wd[3]
    with pytest.raises(TypeError, match="data"):
        WindowDataset([1, 2], variables=["z"])


def test_reads_only_the_requested_time_slices():
    ds = canonical(n_time=30)
    touched = []

    def block(t):
        touched.append(t)
        return ds["t2m"].values[t : t + 1]

    lazy = dsa.concatenate(
        [dsa.from_delayed(__import__("dask").delayed(block)(t), (1, 5, 8), dtype=float) for t in range(30)]
    )
    watched = ds[["t2m"]].copy()
    watched["t2m"] = (("time", "latitude", "longitude"), lazy)
    wd = WindowDataset(watched, variables=["t2m"], n_input_steps=2, lead_steps=[3], cache_states=0)
    assert touched == []  # building the dataset reads nothing
    x, y = wd[10]  # anchor 11: inputs 10, 11; target 14
    assert sorted(touched) == [10, 11, 14]
    np.testing.assert_array_equal(y[0, 0].numpy(), ds["t2m"].values[14])


def test_state_cache_reads_each_time_once_in_sequence():
    ds = canonical(n_time=30)
    wd = WindowDataset(ds.chunk({"time": 1}), variables=["t2m"], lead_steps=list(range(1, 6)))
    calls = []
    orig = wd._read

    def spy(pos):
        calls.append(len(set(int(p) for p in pos) - set(wd._cache)))
        return orig(pos)

    wd._read = spy
    for i in range(len(wd)):
        wd[i]
    assert calls[0] == 6 and all(c == 1 for c in calls[1:])  # one new state per sequential sample
    assert len(wd._cache) == 6


def test_dataloader_two_workers_equals_zero_workers(store):
    opener = functools.partial(open_store, store)
    wd = WindowDataset(opener, variables=["z", "t2m"], levels=[500], n_input_steps=2, lead_steps=[1, 2])
    assert wd._opener is not None
    state = wd.__getstate__()
    assert state["_ds"] is None  # pickles without the data; workers re-open
    ref = list(DataLoader(wd, batch_size=3, num_workers=0))
    par = list(DataLoader(wd, batch_size=3, num_workers=2))
    assert len(ref) == len(par) == -(-len(wd) // 3)
    for (x0, y0), (x1, y1) in zip(ref, par):
        assert tuple(x0.shape) == (3, 2, 2, 5, 8) or x0.shape[0] < 3
        torch.testing.assert_close(x0, x1, rtol=0, atol=0)
        torch.testing.assert_close(y0, y1, rtol=0, atol=0)
    # and a dataset passed directly (dask graph pickled) works the same
    direct = WindowDataset(
        open_store(store), variables=["z", "t2m"], levels=[500], n_input_steps=2, lead_steps=[1, 2]
    )
    par2 = list(DataLoader(direct, batch_size=3, num_workers=2))
    torch.testing.assert_close(par2[-1][1], ref[-1][1], rtol=0, atol=0)


def test_distributed_sampler_partitions_the_samples(store):
    wd = WindowDataset(open_store(store), variables=["t2m"], lead_steps=[1])
    seen = []
    for rank in range(3):
        sampler = DistributedSampler(wd, num_replicas=3, rank=rank, shuffle=True, seed=4, drop_last=True)
        sampler.set_epoch(1)
        idx = list(sampler)
        seen.append(set(idx))
        for i in idx[:2]:
            x, y = wd[i]
            np.testing.assert_array_equal(
                y[0, 0].numpy(), expected_state(canonical(20), int(wd.anchors[i]) + 1, ["t2m"])[0]
            )
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and not (seen[0] & seen[2])
    assert len(set().union(*seen)) == (len(wd) // 3) * 3


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, numpy as np, xarray as xr, dask.array as da, dask
    from chaosbench_py.data.windows import WindowDataset
    path, n_time = sys.argv[1], int(sys.argv[2])
    lat, lon, lev = np.linspace(90, -90, 121), np.arange(240) * 1.5, [10, 50, 100, 200, 300, 500, 700, 850, 925, 1000]
    # generated chunk by chunk (one day per chunk) and streamed to disk: the full array never exists
    data = da.random.RandomState(0).standard_normal((n_time, 10, 121, 240), chunks=(1, 10, 121, 240)).astype("f4")
    ds = xr.Dataset(
        {v: (("time", "level", "latitude", "longitude"), data + k) for k, v in enumerate(["z", "t"])},
        coords={"time": np.arange(n_time).astype("datetime64[D]").astype("datetime64[ns]"), "level": lev,
                "latitude": lat, "longitude": lon},
    )
    with dask.config.set(scheduler="synchronous"):
        ds.to_zarr(path, mode="w", consolidated=False, zarr_format=3)
    del ds, data
    store = xr.open_zarr(path, consolidated=False)
    wd = WindowDataset(store, variables=["z", "t"], n_input_steps=1, lead_steps=[1, 2])
    wd[0]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in np.random.default_rng(0).permutation(len(wd)):
        x, y = wd[int(i)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = n_time * 2 * 10 * 121 * 240 * 4
    print(size // 2**20, base // 1024, (peak - base) // 1024)
    """
)


def _memory_run(tmp_path, n_time):
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "big.zarr"), str(n_time)],
        check=True,
        capture_output=True,
        text=True,
    )
    size_mb, base_mb, growth_mb = (int(v) for v in out.stdout.split())
    return size_mb, base_mb, growth_mb


def test_memory_bounded_when_iterating_a_store(tmp_path):
    # 60 days × 20 channels of 121 × 240 float32: a 132 MiB store (twice the cap), in random order
    size_mb, base_mb, growth_mb = _memory_run(tmp_path, 60)
    assert size_mb > 2 * 64
    assert growth_mb < 64, f"peak RSS grew by {growth_mb} MiB while iterating a {size_mb} MiB store"


@pytest.mark.slow
def test_memory_bounded_on_a_store_larger_than_the_cap(tmp_path):
    size_mb, base_mb, growth_mb = _memory_run(tmp_path, 1200)  # 2.6 GiB on disk
    assert growth_mb < 64, f"peak RSS grew by {growth_mb} MiB while iterating a {size_mb} MiB store"
