"""WeatherBench2-convention deterministic scores against independent numpy computations."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from physics_metrics.weather import (
    acc_centred,
    acc_uncentred,
    align_truth,
    bias,
    climatology_at,
    mae,
    mse,
    rmse_per_sample,
    rmse_wb2,
)

LAT = np.linspace(90, -90, 19)
LON = np.arange(0, 360, 20.0)
LEVELS = [500, 850]
INITS = pd.date_range("2020-02-27", periods=4, freq="D")  # crosses 29 Feb (leap year)
LEADS = pd.to_timedelta([1, 2, 3], "D")


def _forecast(values):
    f = xr.DataArray(
        values,
        dims=("init_time", "lead_time", "level", "latitude", "longitude"),
        coords={"init_time": INITS, "lead_time": LEADS, "level": LEVELS, "latitude": LAT, "longitude": LON},
    )
    return f.assign_coords(valid_time=f.init_time + f.lead_time)


def _truth(values):
    times = pd.date_range("2020-02-25", periods=10, freq="D")
    return xr.DataArray(
        values,
        dims=("time", "level", "latitude", "longitude"),
        coords={"time": times, "level": LEVELS, "latitude": LAT, "longitude": LON},
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    f = _forecast(rng.normal(size=(4, 3, 2, 19, 18)))
    t = _truth(rng.normal(size=(10, 2, 19, 18)))
    return f, t


def _np_weights():
    """Independent cell-area weights for the 19-row 10° grid with poles: band areas."""
    up = np.deg2rad(np.minimum(LAT + 5, 90))
    lo = np.deg2rad(np.maximum(LAT - 5, -90))
    w = np.sin(up) - np.sin(lo)
    return w / w.mean()


def _np_truth_on_valid(t):
    out = np.empty((4, 3, 2, 19, 18))
    times = list(pd.DatetimeIndex(t.time.values))
    for i, it in enumerate(INITS):
        for j, lt in enumerate(LEADS):
            out[i, j] = t.values[times.index(it + lt)]
    return out


def _np_spatial_mean(x):
    w = _np_weights()[:, None]
    return (x * w).sum(axis=(-2, -1)) / (w.sum() * x.shape[-1])


def test_constant_error_gives_hand_values(data):
    f, t = data
    tt = align_truth(f, t)
    f2 = tt + 2.5
    assert np.allclose(mse(f2, t).values, 6.25)
    assert np.allclose(rmse_wb2(f2, t).values, 2.5)
    assert np.allclose(rmse_per_sample(f2, t).values, 2.5)
    assert np.allclose(bias(f2 - 5.0, t).values, -2.5)
    assert np.allclose(mae(f2 - 5.0, t).values, 2.5)


def test_scores_equal_numpy_computation(data):
    f, t = data
    err = f.values - _np_truth_on_valid(t)
    per = _np_spatial_mean(err**2)  # (init, lead, level)
    np.testing.assert_allclose(mse(f, t).values, per.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rmse_wb2(f, t).values, np.sqrt(per.mean(0)), rtol=1e-12)
    np.testing.assert_allclose(rmse_per_sample(f, t).values, np.sqrt(per).mean(0), rtol=1e-12)
    np.testing.assert_allclose(bias(f, t).values, _np_spatial_mean(err).mean(0), rtol=1e-12)
    np.testing.assert_allclose(mae(f, t).values, _np_spatial_mean(np.abs(err)).mean(0), rtol=1e-12)
    assert np.all(rmse_per_sample(f, t).values <= rmse_wb2(f, t).values)  # Jensen
    np.testing.assert_allclose(mse(f, t, time_dim=None).values, per, rtol=1e-12)
    # cos weights option
    wc = np.cos(np.deg2rad(LAT))
    wc = np.clip(wc, 0, None)
    wc[[0, -1]] = 0
    per_cos = (err**2 * wc[:, None]).sum((-2, -1)) / (wc.sum() * 18)
    np.testing.assert_allclose(mse(f, t, weights="cos").values, per_cos.mean(0), rtol=1e-12)


def test_rmse_sqrt_after_vs_before_time_mean_known_values():
    # init 0 error 1 everywhere, init 1 error 3: WB2 = sqrt((1+9)/2) = sqrt(5); per-sample = (1+3)/2 = 2
    f = _forecast(np.zeros((4, 3, 2, 19, 18)))
    t = align_truth(f, _truth(np.zeros((10, 2, 19, 18))))
    err = xr.zeros_like(f) + xr.DataArray([1.0, 3.0, 1.0, 3.0], dims="init_time", coords={"init_time": INITS})
    assert np.allclose(rmse_wb2(f + err, t).values, np.sqrt(5.0))
    assert np.allclose(rmse_per_sample(f + err, t).values, 2.0)


def _clim(values=None):
    rng = np.random.default_rng(5)
    v = rng.normal(size=(366, 2, 19, 18)) if values is None else values
    return xr.DataArray(
        v,
        dims=("dayofyear", "level", "latitude", "longitude"),
        coords={"dayofyear": np.arange(1, 367), "level": LEVELS, "latitude": LAT, "longitude": LON},
    )


def test_climatology_at_selects_valid_dayofyear():
    clim = _clim()
    f = _forecast(np.zeros((4, 3, 2, 19, 18)))
    c = climatology_at(clim, f.valid_time)
    assert c.dims[:2] == ("init_time", "lead_time")
    # init 2020-02-27 + 3 d = 2020-03-01 = day 61 of the leap year 2020
    np.testing.assert_array_equal(c.isel(init_time=0, lead_time=2).values, clim.sel(dayofyear=61).values)
    np.testing.assert_array_equal(c.isel(init_time=1, lead_time=0).values, clim.sel(dayofyear=60).values)
    with pytest.raises(ValueError, match=r"day\(s\) of year \[60"):
        climatology_at(clim.drop_sel(dayofyear=60), f.valid_time)
    # hour dim
    climh = clim.expand_dims(hour=[0, 12]).copy()
    climh.loc[{"hour": 12}] = -1.0
    np.testing.assert_array_equal(climatology_at(climh, f.valid_time).values, c.values)
    with pytest.raises(ValueError, match="hour"):
        climatology_at(climh.sel(hour=[12]), f.valid_time)


def test_acc_known_anomaly_patterns():
    lon = np.deg2rad(LON)
    pattern = np.broadcast_to(np.cos(lon) * np.cos(np.deg2rad(LAT))[:, None], (4, 3, 2, 19, 18))
    other = np.broadcast_to(np.sin(lon) * np.cos(np.deg2rad(LAT))[:, None], (4, 3, 2, 19, 18))
    clim = _clim()
    f0 = _forecast(np.zeros((4, 3, 2, 19, 18)))
    c = climatology_at(clim, f0.valid_time).values
    truth = f0.copy(data=c + pattern)
    assert np.allclose(acc_uncentred(f0.copy(data=c + 3.0 * pattern), truth, clim).values, 1.0)
    assert np.allclose(acc_uncentred(f0.copy(data=c - pattern), truth, clim).values, -1.0)
    assert np.allclose(acc_uncentred(f0.copy(data=c + other), truth, clim).values, 0.0, atol=1e-12)
    # a constant added to the forecast anomaly lowers the uncentred ACC; the centred ACC removes it
    shifted = f0.copy(data=c + pattern + 0.5)
    assert np.all(acc_uncentred(shifted, truth, clim).values < 0.99)
    assert np.allclose(acc_centred(shifted, truth, clim).values, 1.0)


def test_acc_equals_numpy_computation(data):
    f, t = data
    clim = _clim()
    c = climatology_at(clim, f.valid_time).values
    fa = f.values - c
    oa = _np_truth_on_valid(t) - c
    w = _np_weights()[:, None]

    def wmean(x):
        return (x * w).sum((-2, -1)) / (w.sum() * 18)

    acc = wmean(fa * oa) / np.sqrt(wmean(fa**2) * wmean(oa**2))
    np.testing.assert_allclose(acc_uncentred(f, t, clim).values, acc.mean(0), rtol=1e-12)
    fc = fa - wmean(fa)[..., None, None]
    oc = oa - wmean(oa)[..., None, None]
    accc = wmean(fc * oc) / np.sqrt(wmean(fc**2) * wmean(oc**2))
    np.testing.assert_allclose(acc_centred(f, t, clim).values, accc.mean(0), rtol=1e-12)
    # the per-time mean is not the pooled ACC
    pooled = wmean(fa * oa).sum(0) / np.sqrt(wmean(fa**2).sum(0) * wmean(oa**2).sum(0))
    assert not np.allclose(acc.mean(0), pooled)


def test_orientation_and_dim_order_do_not_change_scores(data):
    f, t = data
    clim = _clim()
    ref = {fn.__name__: fn(f, t) for fn in (mse, rmse_wb2, rmse_per_sample, bias, mae)}
    ref_acc = acc_uncentred(f, t, clim)
    t2 = t.isel(latitude=slice(None, None, -1), longitude=np.roll(np.arange(18), 5)).transpose(
        "longitude", "latitude", "level", "time"
    )
    f2 = f.isel(latitude=slice(None, None, -1), level=[1, 0]).transpose(
        "longitude", "level", "lead_time", "latitude", "init_time"
    )
    clim2 = clim.isel(latitude=slice(None, None, -1)).transpose("longitude", "dayofyear", "latitude", "level")
    for fn in (mse, rmse_wb2, rmse_per_sample, bias, mae):
        out = fn(f2, t2).transpose(*ref[fn.__name__].dims).sel(level=LEVELS)
        np.testing.assert_allclose(out.values, ref[fn.__name__].values, rtol=1e-12)
    out = acc_uncentred(f2, t2, clim2).transpose(*ref_acc.dims).sel(level=LEVELS)
    np.testing.assert_allclose(out.values, ref_acc.values, rtol=1e-12)


def test_dask_inputs_are_lazy_and_equal(data):
    f, t = data
    clim = _clim()
    fd = f.chunk({"init_time": 1, "level": 1})
    td = t.chunk({"time": 3})
    for fn in (mse, rmse_wb2, rmse_per_sample, bias, mae):
        out = fn(fd, td)
        assert out.chunks is not None, fn.__name__
        np.testing.assert_allclose(out.values, fn(f, t).values, rtol=1e-12)
    out = acc_uncentred(fd, td, clim.chunk({"dayofyear": 100}))
    assert out.chunks is not None
    np.testing.assert_allclose(out.values, acc_uncentred(f, t, clim).values, rtol=1e-12)


def test_mismatched_inputs_raise_named_errors(data):
    f, t = data
    with pytest.raises(ValueError, match="'latitude' grids"):
        mse(f, t.assign_coords(latitude=LAT + 0.5))
    with pytest.raises(ValueError, match="'longitude'"):
        mse(f, t.isel(longitude=slice(0, 17)))
    tt = align_truth(f, t)
    with pytest.raises(ValueError, match="'lead_time'"):
        mse(f, tt.assign_coords(lead_time=LEADS + pd.Timedelta("6h")))
    with pytest.raises(ValueError, match="valid time"):
        mse(f, t.isel(time=slice(0, 5)))
    with pytest.raises(ValueError, match="lacks forecast dimension"):
        mse(f, t.isel(level=0, drop=True))
    with pytest.raises(ValueError, match="time_dim"):
        mse(f, t, time_dim="time")
    with pytest.raises(ValueError, match="'level'"):
        mse(f, t.assign_coords(level=[500, 700]))
    with pytest.raises(ValueError, match="day"):
        acc_uncentred(f, t, _clim().isel(dayofyear=slice(0, 59)))
    with pytest.raises(TypeError, match="Dataset"):
        mse(f.to_dataset(name="z"), t)


def test_nan_raises_or_is_skipped(data):
    f, t = data
    tn = t.copy()
    tn[3, 0, 4, 5] = np.nan  # 2020-02-28, used by init 0 lead 1 and init 1 lead 0 ... at level 500
    with pytest.raises(
        ValueError,
        match=r"truth: 1 non-finite value\(s\) \(NaN/inf\), the first \(nan\) at init_time=2020-02-2",
    ):
        mse(f, tn)
    with pytest.raises(
        ValueError,
        match=r"truth: 1 non-finite value\(s\) \(NaN/inf\), the first \(nan\) at init_time=2020-02-2",
    ):
        mse(f.chunk({"init_time": 1}), tn.chunk({"time": 2})).compute()
    out = mse(f, tn, skipna=True, time_dim=None)
    # independent: weighted mean over the valid points only
    err2 = (f.values - _np_truth_on_valid(tn)) ** 2
    w = np.broadcast_to(_np_weights()[:, None], err2.shape)
    valid = ~np.isnan(err2)
    expected = np.where(valid, err2 * w, 0).sum((-2, -1)) / np.where(valid, w, 0).sum((-2, -1))
    np.testing.assert_allclose(out.values, expected, rtol=1e-12)
    assert np.isfinite(out.values).all()
