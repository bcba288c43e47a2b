"""Normalisation statistics, climatology and their cache (chaosbench_py.data.statistics)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from chaosbench_py.data import statistics as st
from chaosbench_py.data import stats_cache as sc
from chaosbench_py.data.statistics import (
    calendar_dayofyear,
    channel_layout,
    channel_statistics,
    climatology,
    default_train_years,
    latitude_weights,
)
from chaosbench_py.data.stats_cache import cached_climatology, cached_statistics

LEVELS = [500, 850]


def canonical(times, n_lat=7, n_lon=8, seed=0, levels=LEVELS, chunks=True) -> xr.Dataset:
    """A small canonical gridded dataset (latitude 90 → −90, longitude 0 → 360)."""
    rng = np.random.default_rng(seed)
    times = pd.DatetimeIndex(times)
    lat = np.linspace(90, -90, n_lat)
    lon = np.arange(n_lon) * 360.0 / n_lon
    shape3 = (len(times), len(levels), n_lat, n_lon)
    ds = xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), 5e4 + 3e3 * rng.standard_normal(shape3)),
            "t": (("time", "level", "latitude", "longitude"), 250 + 10 * rng.standard_normal(shape3)),
            "t2m": (
                ("time", "latitude", "longitude"),
                280 + 5 * rng.standard_normal(shape3[:1] + shape3[2:]),
            ),
        },
        coords={"time": times, "level": levels, "latitude": lat, "longitude": lon},
    )
    ds["z"].attrs["units"] = "m2 s-2"
    return ds.chunk({"time": 5}) if chunks else ds


def test_default_train_years_excludes_test_years():
    start, end = default_train_years()
    assert (start, end) == (1979, 2015)
    test = st.SPLITS["chaosbench"]["test"]
    assert end < test[0]
    with pytest.raises(ValueError, match="convention"):
        default_train_years("nope")


def test_channel_layout_order_and_names():
    ds = canonical(pd.date_range("2000-01-01", periods=3))
    layout = channel_layout(ds, ["t", "t2m", "z"], [850, 500])
    assert [c.name for c in layout] == ["t-850", "t-500", "t2m", "z-850", "z-500"]
    assert layout[2].level is None and layout[0].level == 850.0
    with pytest.raises(KeyError, match="'q'"):
        channel_layout(ds, ["q"], LEVELS)
    with pytest.raises(KeyError, match="level 700"):
        channel_layout(ds, ["z"], [700])
    with pytest.raises(TypeError, match="variables"):
        channel_layout(ds, "z", LEVELS)


def test_statistics_match_independent_numpy_computation():
    ds = canonical(pd.date_range("2000-01-01", "2001-12-31", freq="7D"))
    out = channel_statistics(ds, variables=["z", "t2m"], levels=[850, 500], years=(2000, 2001))
    assert list(out.channel.values) == ["z-850", "z-500", "t2m"]
    z = ds["z"].values
    np.testing.assert_allclose(out["mean"].sel(channel="z-850"), z[:, 1].mean(), rtol=1e-12)
    np.testing.assert_allclose(out["std"].sel(channel="z-850"), z[:, 1].std(), rtol=1e-10)
    np.testing.assert_allclose(out["mean"].sel(channel="t2m"), ds["t2m"].values.mean(), rtol=1e-12)
    np.testing.assert_allclose(out["std"].sel(channel="t2m"), ds["t2m"].values.std(), rtol=1e-10)
    assert out.attrs["n_time"] == ds.sizes["time"]
    assert np.isnan(out["level"].sel(channel="t2m"))


def test_statistics_of_constructed_checkerboard():
    # x = c + s·(−1)^(t+i+j) on an even grid: mean c, population std s exactly
    ds = canonical(pd.date_range("2000-01-01", periods=4), n_lat=6, n_lon=8)
    t, i, j = np.meshgrid(np.arange(4), np.arange(6), np.arange(8), indexing="ij")
    ds["t2m"] = (("time", "latitude", "longitude"), 287.5 + 3.25 * (-1.0) ** (t + i + j))
    out = channel_statistics(ds, variables=["t2m"], years=(2000, 2000))
    assert out["mean"].item() == pytest.approx(287.5, rel=1e-14)
    assert out["std"].item() == pytest.approx(3.25, rel=1e-12)


def test_latitude_weights_hand_computation():
    s45 = np.sin(np.pi / 4)
    w = latitude_weights([90.0, 0.0, -90.0], "cell_area")
    hand = np.array([1 - s45, 2 * s45, 1 - s45])
    np.testing.assert_allclose(w, hand / hand.mean(), rtol=1e-14)
    np.testing.assert_allclose(latitude_weights([-90.0, 0.0, 90.0]), w[::-1], rtol=1e-14)
    np.testing.assert_allclose(latitude_weights([90.0, 0.0, -90.0], "cos"), [0, 3, 0], atol=1e-14)
    # cell areas sum to the sphere: Σ (sin φ+ − sin φ−) = 2 on a global grid with poles
    lat = np.linspace(90, -90, 121)
    assert latitude_weights(lat).sum() == pytest.approx(121)
    with pytest.raises(ValueError, match="kind"):
        latitude_weights(lat, "area")


def test_area_weighted_statistics_vs_hand_computation():
    ds = canonical(pd.date_range("2000-01-01", periods=3), n_lat=3, n_lon=4)
    f = np.array([10.0, 20.0, 40.0])  # a field depending on latitude only (90, 0, −90)
    ds["t2m"] = (("time", "latitude", "longitude"), np.broadcast_to(f[None, :, None], (3, 3, 4)).copy())
    s45 = np.sin(np.pi / 4)
    w = np.array([1 - s45, 2 * s45, 1 - s45])
    mean = (w * f).sum() / w.sum()
    std = np.sqrt((w * (f - mean) ** 2).sum() / w.sum())
    out = channel_statistics(ds, variables=["t2m"], years=(2000, 2000), area_weighted=True)
    assert out["mean"].item() == pytest.approx(mean, rel=1e-13)
    assert out["std"].item() == pytest.approx(std, rel=1e-12)
    assert out.attrs["area_weighted"] == "cell_area"
    cos = channel_statistics(ds, variables=["t2m"], years=(2000, 2000), area_weighted="cos")
    assert cos["mean"].item() == pytest.approx(20.0)  # cos weights: only the equator row counts
    plain = channel_statistics(ds, variables=["t2m"], years=(2000, 2000))
    assert plain["mean"].item() == pytest.approx(f.mean())


def test_no_test_year_leakage_and_years_required():
    ds = canonical(pd.date_range("2000-01-01", "2002-12-31", freq="10D"), chunks=False)
    ref = channel_statistics(ds, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2001))
    poisoned = ds.copy(deep=True)
    in_test = poisoned.time.dt.year == 2002
    poisoned["z"] = poisoned["z"].where(~in_test, 1e12)
    poisoned["t2m"] = poisoned["t2m"].where(~in_test, np.nan)  # not even NaNs there are seen
    again = channel_statistics(poisoned, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2001))
    xr.testing.assert_identical(ref, again)
    with pytest.raises(TypeError, match="years"):
        channel_statistics(ds, variables=["z"])  # no default range
    with pytest.raises(ValueError, match=r"years=\(1990, 1991\).*covers 2000-01-01"):
        channel_statistics(ds, variables=["z"], years=(1990, 1991))
    with pytest.raises(ValueError, match="start year after end year"):
        channel_statistics(ds, variables=["z"], years=(2001, 2000))


def test_nan_in_statistics_names_variable_and_level():
    ds = canonical(pd.date_range("2000-01-01", periods=6), chunks=False)
    ds["t"][2, 1, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"variable 't' level 850 contains NaN"):
        channel_statistics(ds, variables=["z", "t"], levels=LEVELS, years=(2000, 2000))
    with pytest.raises(ValueError, match="'z' has extra dimension.*member"):
        channel_statistics(ds.expand_dims(member=2), variables=["z"], years=(2000, 2000))
    ds2 = canonical(pd.date_range("2000-01-01", periods=6), chunks=False)
    ds2["t2m"][:] = 1.0
    with pytest.raises(ValueError, match="'t2m'.*constant"):
        channel_statistics(ds2, variables=["t2m"], years=(2000, 2000))


def test_bad_time_axis_is_an_error():
    times = pd.DatetimeIndex(["2000-01-01", "2000-01-03", "2000-01-02"])
    ds = canonical(times, chunks=False)
    with pytest.raises(ValueError, match="not sorted"):
        channel_statistics(ds, variables=["z"], years=(2000, 2000))
    ds = canonical(pd.DatetimeIndex(["2000-01-01", "2000-01-01", "2000-01-02"]), chunks=False)
    with pytest.raises(ValueError, match="duplicated times"):
        channel_statistics(ds, variables=["z"], years=(2000, 2000))


def test_calendar_dayofyear_leap_handling():
    days = pd.DatetimeIndex(["2000-02-28", "2000-02-29", "2000-03-01", "2001-02-28", "2001-03-01"])
    np.testing.assert_array_equal(calendar_dayofyear(days.values), [59, 60, 61, 59, 61])
    ends = pd.DatetimeIndex(["2000-12-31", "2001-12-31", "2001-01-01"])
    np.testing.assert_array_equal(calendar_dayofyear(ends.values), [366, 366, 1])


def _seasonal_dataset(years, freq="1D", diurnal=0.0):
    times = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31 23:00", freq=freq)
    doy = calendar_dayofyear(times.values)
    phase = 2 * np.pi * (doy - 1) / 366
    seasonal = 10.0 * np.cos(phase) + 3.0 * np.sin(2 * phase)
    signal = seasonal + diurnal * np.cos(2 * np.pi * times.hour.values / 24)
    ds = canonical(times, n_lat=3, n_lon=4, chunks=False)
    pattern = np.array([1.0, 2.0, -1.0])[None, :, None]
    ds["t2m"] = (
        ("time", "latitude", "longitude"),
        280 + signal[:, None, None] * pattern * np.ones((1, 3, 4)),
    )
    return ds.chunk({"time": 100}), phase, pattern


def test_climatology_recovers_pure_seasonal_cycle():
    ds, _, pattern = _seasonal_dataset((2000, 2003))
    clim = climatology(ds, years=(2000, 2003), variables=["t2m"], smoothing_window_days=1).compute()
    assert clim["t2m"].dims == ("dayofyear", "latitude", "longitude")
    d = np.arange(1, 367)
    phase = 2 * np.pi * (d - 1) / 366
    expected = 280 + (10 * np.cos(phase) + 3 * np.sin(2 * phase))[:, None, None] * pattern
    np.testing.assert_allclose(clim["t2m"].values, np.broadcast_to(expected, (366, 3, 4)), rtol=1e-12)
    assert clim["samples"].sel(dayofyear=60) == 1 and clim["samples"].sel(dayofyear=61) == 4
    np.testing.assert_array_equal(clim["latitude"], ds["latitude"])


def test_smoothing_window_attenuates_like_a_periodic_running_mean():
    ds, _, pattern = _seasonal_dataset((2000, 2003))
    w = 31
    clim = climatology(ds, years=(2000, 2003), variables=["t2m"], smoothing_window_days=w).compute()
    d = np.arange(1, 367)
    phase = 2 * np.pi * (d - 1) / 366

    def gain(k):  # uniform running mean of w days applied to cos(k·2π d/366)
        return np.sin(np.pi * k * w / 366) / (w * np.sin(np.pi * k / 366))

    expected = 280 + (10 * gain(1) * np.cos(phase) + 3 * gain(2) * np.sin(2 * phase))[:, None, None] * pattern
    far = np.abs(d - 60) > w // 2  # windows without 29 Feb hold equal samples per day
    assert far[0] and far[-1]  # includes the days whose window wraps across the year boundary
    expected = np.broadcast_to(expected, (366, 3, 4))
    np.testing.assert_allclose(clim["t2m"].values[far], expected[far], rtol=1e-12)
    assert gain(1) < 0.99  # the window has a visible effect
    assert not np.allclose(clim["t2m"].values[0], expected[0] / gain(1))


def test_climatology_by_hour_and_missing_leap_day():
    ds, _, pattern = _seasonal_dataset((2001, 2002), freq="6h", diurnal=2.0)
    clim = climatology(ds, years=(2001, 2002), by="dayofyear_hour", smoothing_window_days=1).compute()
    assert clim["t2m"].dims == ("hour", "dayofyear", "latitude", "longitude")
    np.testing.assert_array_equal(clim["hour"], [0, 6, 12, 18])
    d, h = 100, 6
    phase = 2 * np.pi * (d - 1) / 366
    want = (
        280 + (10 * np.cos(phase) + 3 * np.sin(2 * phase) + 2 * np.cos(2 * np.pi * h / 24)) * pattern[0, :, 0]
    )
    np.testing.assert_allclose(clim["t2m"].sel(hour=h, dayofyear=d).values[:, 0], want, rtol=1e-12)
    # no leap year and window 1: 29 Feb is the mean of 28 Feb and 1 Mar
    feb29 = clim["t2m"].sel(dayofyear=60)
    np.testing.assert_allclose(
        feb29.values, 0.5 * (clim["t2m"].sel(dayofyear=59).values + clim["t2m"].sel(dayofyear=61).values)
    )
    # too little data for a window: clear error
    short = ds.isel(time=slice(0, 40))
    with pytest.raises(ValueError, match="calendar days .* have no data"):
        climatology(short, years=(2001, 2001), smoothing_window_days=5)
    with pytest.raises(ValueError, match="smoothing_window_days"):
        climatology(ds, years=(2001, 2002), smoothing_window_days=4)
    with pytest.raises(ValueError, match="by="):
        climatology(ds, years=(2001, 2002), by="month")


def _write_store(ds: xr.Dataset, path):
    ds.to_zarr(path, mode="w", consolidated=False, zarr_format=3)
    return xr.open_zarr(path, consolidated=False)


def test_cached_statistics_reuse_and_invalidation(tmp_path, monkeypatch, caplog):
    data = tmp_path / "archive"
    ds = canonical(pd.date_range("2000-01-01", "2001-12-31", freq="15D"), chunks=False)
    opened = _write_store(ds, data / "era5.zarr")
    first = cached_statistics(opened, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2000))
    entries = sorted((data / ".stats").glob("statistics-*.zarr"))
    assert len(entries) == 1  # next to the data, in .stats/
    assert list(first.channel.values) == ["z-500", "z-850", "t2m"]
    direct = channel_statistics(opened, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2000))
    np.testing.assert_allclose(first["mean"], direct["mean"], rtol=1e-14)

    calls = []
    real = sc.channel_statistics
    monkeypatch.setattr(sc, "channel_statistics", lambda *a, **k: calls.append(1) or real(*a, **k))
    with caplog.at_level(logging.INFO, logger=sc.__name__):
        again = cached_statistics(opened, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2000))
    assert calls == [] and "reusing" in caplog.text
    xr.testing.assert_identical(first, again)

    # other years: another entry, computed
    cached_statistics(opened, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2001))
    assert calls == [1] and len(list((data / ".stats").glob("statistics-*.zarr"))) == 2

    # the data change on disk: the same request is recomputed and gives the new values
    changed = ds.copy(deep=True)
    changed["z"] = changed["z"] + 100.0
    reopened = _write_store(changed, data / "era5.zarr")
    new = cached_statistics(reopened, variables=["z", "t2m"], levels=LEVELS, years=(2000, 2000))
    assert calls == [1, 1]
    np.testing.assert_allclose(new["mean"].sel(channel="z-500"), first["mean"].sel(channel="z-500") + 100.0)
    np.testing.assert_allclose(new["std"], first["std"], rtol=1e-9)


def test_cached_statistics_in_memory_needs_cache_dir(tmp_path):
    ds = canonical(pd.date_range("2000-01-01", periods=5), chunks=False)
    with pytest.raises(ValueError, match="cache_dir"):
        cached_statistics(ds, variables=["z"], years=(2000, 2000))
    a = cached_statistics(ds, variables=["z"], years=(2000, 2000), cache_dir=tmp_path)
    ds2 = ds.copy(deep=True)
    ds2["z"] = ds2["z"] * 2
    b = cached_statistics(ds2, variables=["z"], years=(2000, 2000), cache_dir=tmp_path)
    np.testing.assert_allclose(b["mean"], 2 * a["mean"])  # values hashed: no stale reuse
    with pytest.raises(ValueError, match="sources"):  # lazy, files unknown: changes undetectable
        cached_statistics(ds.chunk({"time": 2}), variables=["z"], years=(2000, 2000), cache_dir=tmp_path)


def test_cached_climatology_reuse_and_nan_error(tmp_path, monkeypatch):
    ds, _, _ = _seasonal_dataset((2000, 2000))
    ds = ds.drop_vars(["z", "t"])
    opened = _write_store(ds.chunk({"time": 60}), tmp_path / "clim_src.zarr")
    clim = cached_climatology(opened, years=(2000, 2000), smoothing_window_days=5)
    ref = climatology(opened, years=(2000, 2000), smoothing_window_days=5)
    xr.testing.assert_allclose(clim["t2m"].load(), ref["t2m"].load())
    monkeypatch.setattr(st, "climatology", lambda *a, **k: pytest.fail("recomputed"))
    cached_climatology(opened, years=(2000, 2000), smoothing_window_days=5)
    monkeypatch.undo()
    bad = ds.copy(deep=True)
    bad["t2m"][10, 1, 2] = np.nan
    reopened = _write_store(bad, tmp_path / "clim_src.zarr")
    with pytest.raises(ValueError, match="variable 't2m' is NaN"):
        cached_climatology(reopened, years=(2000, 2000), smoothing_window_days=5)
