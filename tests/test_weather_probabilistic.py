"""Ensemble scores against properscoring, closed forms and the real ERA5 ensemble sample."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from physics_metrics.weather import (
    crps_ensemble,
    crps_gaussian,
    crpss_gaussian_climatology,
    ensemble_spread,
    latitude_weights,
    rmse_wb2,
    spread_skill_ratio,
)

ps = pytest.importorskip("properscoring")

ERA5 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "era5" / "era5-levels-members.nc"
LAT = np.linspace(90, -90, 13)
LON = np.arange(0, 360, 30.0)
INITS = pd.date_range("2021-01-01", periods=3, freq="D")
LEADS = pd.to_timedelta([1, 2], "D")


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    f = xr.DataArray(
        rng.normal(size=(3, 2, 6, 13, 12)),
        dims=("init_time", "lead_time", "member", "latitude", "longitude"),
        coords={"init_time": INITS, "lead_time": LEADS, "latitude": LAT, "longitude": LON},
    )
    f = f.assign_coords(valid_time=f.init_time + f.lead_time)
    t = xr.DataArray(
        rng.normal(size=(3, 2, 13, 12)),
        dims=("init_time", "lead_time", "latitude", "longitude"),
        coords={"init_time": INITS, "lead_time": LEADS, "latitude": LAT, "longitude": LON},
    )
    return f, t


def _members_last(f):
    return np.moveaxis(f.values, f.dims.index("member"), -1)


def _wmean(x, lat):
    w = latitude_weights(lat).values[:, None]
    return (x * w).sum((-2, -1)) / (w.sum() * x.shape[-1])


def test_crps_classic_equals_properscoring_pointwise(data):
    f, t = data
    got = crps_ensemble(f, t, estimator="classic", reduce=False)
    np.testing.assert_allclose(
        got.values, ps.crps_ensemble(t.values, _members_last(f)), rtol=1e-12, atol=1e-14
    )
    red = crps_ensemble(f, t, estimator="classic")
    np.testing.assert_allclose(red.values, _wmean(got.values, LAT).mean(0), rtol=1e-12)


def test_crps_fair_equals_double_sum(data):
    f, t = data
    x = _members_last(f)
    m = x.shape[-1]
    skill = np.abs(x - t.values[..., None]).mean(-1)
    pair = np.abs(x[..., :, None] - x[..., None, :]).sum((-2, -1))
    expected = skill - pair / (2 * m * (m - 1))
    np.testing.assert_allclose(crps_ensemble(f, t, reduce=False).values, expected, rtol=1e-12, atol=1e-14)
    # fair < classic by the spread term difference, always (pair >= 0)
    assert np.all(crps_ensemble(f, t).values < crps_ensemble(f, t, estimator="classic").values)


def test_single_member_classic_crps_is_mae(data):
    f, t = data
    one = f.isel(member=[0])
    np.testing.assert_allclose(
        crps_ensemble(one, t, estimator="classic", reduce=False).values,
        np.abs(one.values[:, :, 0] - t.values),
    )
    with pytest.raises(ValueError, match="at least 2 members"):
        crps_ensemble(one, t)


def test_gaussian_crps_closed_form():
    rng = np.random.default_rng(1)
    y, mu, sig = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.1, 3, size=50)
    np.testing.assert_allclose(crps_gaussian(y, mu, sig), ps.crps_gaussian(y, mu, sig), rtol=1e-10)
    # sigma = 0 → absolute error; standard normal at y=mu: (√2 − 1)/√π
    assert crps_gaussian(1.5, 0.5, 0.0) == pytest.approx(1.0)
    assert crps_gaussian(0.0, 0.0, 1.0) == pytest.approx((np.sqrt(2) - 1) / np.sqrt(np.pi))
    with pytest.raises(ValueError, match="std"):
        crps_gaussian(0.0, 0.0, -1.0)


def test_crpss_against_gaussian_climatology(data):
    f, t = data
    mu = xr.zeros_like(t) + 0.2
    sd = xr.ones_like(t) * 1.3
    got = crpss_gaussian_climatology(f, t, mu, sd)
    ref = _wmean(ps.crps_gaussian(t.values, 0.2, 1.3), LAT).mean(0)
    fc = crps_ensemble(f, t).values
    np.testing.assert_allclose(got.values, 1 - fc / ref, rtol=1e-10)
    # a perfect (all members = truth) ensemble has skill 1
    perfect = f * 0 + t
    np.testing.assert_allclose(
        crpss_gaussian_climatology(perfect, t, mu, sd, estimator="classic").values, 1.0
    )
    # day-of-year climatology: missing day named
    clim = xr.DataArray(
        np.zeros((366, 13, 12)),
        dims=("dayofyear", "latitude", "longitude"),
        coords={"dayofyear": np.arange(1, 367), "latitude": LAT, "longitude": LON},
    )
    got_doy = crpss_gaussian_climatology(f, t, clim + 0.2, clim + 1.3)
    np.testing.assert_allclose(got_doy.values, got.values, rtol=1e-12)
    with pytest.raises(ValueError, match="clim_std: day"):
        crpss_gaussian_climatology(f, t, clim + 0.2, (clim + 1.3).isel(dayofyear=slice(10, None)))


def test_spread_and_ssr_hand_values(data):
    f, t = data
    x = _members_last(f)
    var = x.var(-1, ddof=1)
    spread = np.sqrt(_wmean(var, LAT).mean(0))
    np.testing.assert_allclose(ensemble_spread(f).values, spread, rtol=1e-12)
    rmse = np.sqrt(_wmean((x.mean(-1) - t.values) ** 2, LAT).mean(0))
    np.testing.assert_allclose(rmse_wb2(f.mean("member"), t).values, rmse, rtol=1e-12)
    ssr = spread_skill_ratio(f, t, correction=False)
    np.testing.assert_allclose(ssr.values, spread / rmse, rtol=1e-12)
    np.testing.assert_allclose(spread_skill_ratio(f, t).values, np.sqrt(7 / 6) * spread / rmse, rtol=1e-12)
    # members ±1 around truth: variance (ddof=1) = M/(M−1) for M=2 → 2
    two = xr.concat([t + 1, t - 1], dim="member")
    np.testing.assert_allclose(ensemble_spread(two).values, np.sqrt(2.0))


def test_reliable_ensemble_has_corrected_ssr_near_one():
    rng = np.random.default_rng(11)
    m = 5
    centre = rng.normal(size=(400, 1, 1, 8, 12))
    members = centre + rng.normal(size=(400, 1, m, 8, 12))
    truth = centre[:, :, 0] + rng.normal(size=(400, 1, 8, 12))
    coords = {
        "init_time": np.arange(400),
        "lead_time": [1],
        "latitude": np.linspace(60, -60, 8),
        "longitude": np.arange(0, 360, 30.0),
    }
    f = xr.DataArray(
        members, dims=("init_time", "lead_time", "member", "latitude", "longitude"), coords=coords
    )
    t = xr.DataArray(truth, dims=("init_time", "lead_time", "latitude", "longitude"), coords=coords)
    assert spread_skill_ratio(f, t).item() == pytest.approx(1.0, abs=0.03)
    assert spread_skill_ratio(f, t, correction=False).item() == pytest.approx(np.sqrt(m / (m + 1)), abs=0.03)


def test_orientation_dim_order_dask_and_nan(data):
    f, t = data
    f2 = f.isel(latitude=slice(None, None, -1)).transpose(
        "longitude", "member", "latitude", "lead_time", "init_time"
    )
    t2 = t.transpose("latitude", "longitude", "init_time", "lead_time")
    for fn in (crps_ensemble, spread_skill_ratio):
        np.testing.assert_allclose(fn(f2, t2).transpose(*fn(f, t).dims).values, fn(f, t).values, rtol=1e-12)
    np.testing.assert_allclose(ensemble_spread(f2).transpose("lead_time").values, ensemble_spread(f).values)
    fd = f.chunk({"init_time": 1, "member": 2})
    out = crps_ensemble(fd, t.chunk({"init_time": 1}))
    assert out.chunks is not None
    np.testing.assert_allclose(out.values, crps_ensemble(f, t).values, rtol=1e-12)
    fn_ = f.copy()
    fn_[0, 0, 2, 3, 4] = np.nan
    with pytest.raises(ValueError, match="forecast: .*non-finite"):
        crps_ensemble(fn_, t)
    # skipna: the NaN member is dropped at that point (M = 5 there)
    got = crps_ensemble(fn_, t, skipna=True, estimator="classic", reduce=False)
    x = np.delete(_members_last(f)[0, 0, 3, 4], 2)
    assert got.values[0, 0, 3, 4] == pytest.approx(ps.crps_ensemble(t.values[0, 0, 3, 4], x))
    with pytest.raises(ValueError, match="estimator"):
        crps_ensemble(f, t, estimator="pwm")
    with pytest.raises(ValueError, match="member_dim"):
        crps_ensemble(f, t, member_dim="number")


@pytest.fixture(scope="module")
def era5():
    if not ERA5.exists():
        pytest.skip(f"real ERA5 sample not found at {ERA5}")
    ds = xr.open_dataset(ERA5)
    t = ds["t"].rename({"number": "member", "time": "init_time", "isobaricInhPa": "level"}).load()
    t = t.drop_vars([c for c in t.coords if c not in t.dims])
    return t.expand_dims(lead_time=[pd.Timedelta(0)], axis=2)


def test_real_era5_members(era5):
    """Member 0 plays the truth, members 1–9 the ensemble (9 members), 4 times × 2 levels, 3° grid."""
    truth = era5.sel(member=0, drop=True)
    ens = era5.sel(member=slice(1, None))
    x = np.moveaxis(
        ens.transpose("init_time", "lead_time", "level", "latitude", "longitude", "member").values, -1, -1
    )
    y = truth.transpose("init_time", "lead_time", "level", "latitude", "longitude").values
    lat = era5.latitude.values
    crps_c = crps_ensemble(ens, truth, estimator="classic").transpose("lead_time", "level")
    expected = _wmean(ps.crps_ensemble(y, x), lat).mean(0)
    np.testing.assert_allclose(crps_c.values, expected, rtol=1e-10)
    crps_f = crps_ensemble(ens, truth).transpose("lead_time", "level").values
    assert np.all(crps_f < crps_c.values)
    spread = ensemble_spread(ens).transpose("lead_time", "level").values
    np.testing.assert_allclose(spread, np.sqrt(_wmean(x.var(-1, ddof=1), lat).mean(0)), rtol=1e-10)
    rmse = np.sqrt(_wmean((x.mean(-1) - y) ** 2, lat).mean(0))
    ssr = spread_skill_ratio(ens, truth, correction=False).transpose("lead_time", "level").values
    np.testing.assert_allclose(ssr, spread / rmse, rtol=1e-10)
    # physically sensible: EDA temperature spread O(0.1–1 K), member 0 is statistically like the others
    assert np.all((spread > 0.05) & (spread < 2.0))
    ssr_c = spread_skill_ratio(ens, truth).values
    assert np.all((ssr_c > 0.7) & (ssr_c < 1.4))
    # flipped latitude gives the same
    flipped = crps_ensemble(ens.isel(latitude=slice(None, None, -1)), truth, estimator="classic")
    np.testing.assert_allclose(flipped.transpose("lead_time", "level").values, crps_c.values, rtol=1e-12)
