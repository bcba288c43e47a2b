"""Scorecards and reference forecasts: equal to direct function calls, layouts, laziness, bad input."""

from __future__ import annotations

import csv

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from physics_metrics.weather import chaosbench_convention as cbc
from physics_metrics.weather import deterministic as det
from physics_metrics.weather import probabilistic as prob
from physics_metrics.weather.references import climatology_forecast, persistence_forecast
from physics_metrics.weather.scorecard import scorecard, write_scorecard_csv, write_scorecard_netcdf

LEVELS = (500, 850)


def make(n_init=5, n_lead=3, n_member=0, nlat=13, nlon=24, seed=0):
    """Synthetic forecast/truth/climatology in the canonical schema (latitude 90 → −90)."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(90, -90, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    times = pd.date_range("2022-01-01", periods=n_init + n_lead + 2, freq="D")
    nl = len(LEVELS)
    truth = xr.Dataset(
        {
            "z": (
                ("time", "level", "latitude", "longitude"),
                rng.normal(5000, 50, (times.size, nl, nlat, nlon)),
            ),
            "t2m": (("time", "latitude", "longitude"), rng.normal(280, 5, (times.size, nlat, nlon))),
        },
        coords={"time": times, "level": list(LEVELS), "latitude": lat, "longitude": lon},
    )
    inits = times[:n_init].values
    leads = pd.to_timedelta(np.arange(1, n_lead + 1), "D").values
    head = (n_init, n_lead) + ((n_member,) if n_member else ())
    dims = ("init_time", "lead_time") + (("member",) if n_member else ())
    fc = xr.Dataset(
        {
            "z": (dims + ("level", "latitude", "longitude"), rng.normal(5000, 50, head + (nl, nlat, nlon))),
            "t2m": (dims + ("latitude", "longitude"), rng.normal(280, 5, head + (nlat, nlon))),
        },
        coords={
            "init_time": inits,
            "lead_time": leads,
            "level": list(LEVELS),
            "latitude": lat,
            "longitude": lon,
        },
    )
    fc = fc.assign_coords(valid_time=fc.init_time + fc.lead_time)
    clim = xr.Dataset(
        {
            "z": (
                ("dayofyear", "level", "latitude", "longitude"),
                rng.normal(5000, 20, (366, nl, nlat, nlon)),
            ),
            "t2m": (("dayofyear", "latitude", "longitude"), rng.normal(280, 2, (366, nlat, nlon))),
        },
        coords={"dayofyear": np.arange(1, 367), "level": list(LEVELS), "latitude": lat, "longitude": lon},
    )
    std = xr.Dataset(
        {k: (v.dims, rng.uniform(10, 40, v.shape)) for k, v in clim.data_vars.items()}, coords=clim.coords
    )
    return fc, truth, clim, std


DET = ("mse", "rmse", "rmse_per_sample", "bias", "mae", "acc", "acc_centred")


def test_wb2_scorecard_equals_direct_calls():
    fc, truth, clim, _ = make(n_init=7)
    card = scorecard(fc, truth, clim, metrics=DET, block=3)  # chunks of 3, 3, 1 inits
    assert card["z"].dims == ("metric", "level", "lead_time")
    assert card["t2m"].dims == ("metric", "lead_time")
    direct = {
        "mse": det.mse,
        "rmse": det.rmse_wb2,
        "rmse_per_sample": det.rmse_per_sample,
        "bias": det.bias,
        "mae": det.mae,
    }
    for v in ("z", "t2m"):
        for m, fn in direct.items():
            ref = fn(fc[v], truth[v]).transpose(*card[v].sel(metric=m).dims)
            np.testing.assert_allclose(
                card[v].sel(metric=m).values, ref.values, rtol=1e-12, err_msg=f"{v} {m}"
            )
        for m, fn in (("acc", det.acc_uncentred), ("acc_centred", det.acc_centred)):
            ref = fn(fc[v], truth[v], clim[v]).transpose(*card[v].sel(metric=m).dims)
            np.testing.assert_allclose(
                card[v].sel(metric=m).values, ref.values, rtol=1e-12, err_msg=f"{v} {m}"
            )


def test_wb2_probabilistic_equals_direct_calls():
    fc, truth, clim, std = make(n_init=5, n_member=4)
    metrics = ("rmse", "crps", "spread", "ssr", "crpss")
    card = scorecard(fc, truth, clim, metrics=metrics, climatology_std=std, block=2)
    v = "z"
    dims = card[v].sel(metric="rmse").dims
    np.testing.assert_allclose(
        card[v].sel(metric="rmse"), det.rmse_wb2(fc[v].mean("member"), truth[v]).transpose(*dims), rtol=1e-12
    )
    np.testing.assert_allclose(
        card[v].sel(metric="crps"), prob.crps_ensemble(fc[v], truth[v]).transpose(*dims), rtol=1e-12
    )
    np.testing.assert_allclose(
        card[v].sel(metric="spread"), prob.ensemble_spread(fc[v]).transpose(*dims), rtol=1e-12
    )
    np.testing.assert_allclose(
        card[v].sel(metric="ssr"), prob.spread_skill_ratio(fc[v], truth[v]).transpose(*dims), rtol=1e-12
    )
    np.testing.assert_allclose(
        card[v].sel(metric="crpss"),
        prob.crpss_gaussian_climatology(fc[v], truth[v], clim[v], std[v]).transpose(*dims),
        rtol=1e-12,
    )
    classic = scorecard(fc, truth, metrics=("crps",), crps_estimator="classic")
    np.testing.assert_allclose(
        classic["t2m"].sel(metric="crps"),
        prob.crps_ensemble(fc["t2m"], truth["t2m"], estimator="classic"),
        rtol=1e-12,
    )


def test_chaosbench_scorecard_equals_convention_functions():
    fc, truth, clim, _ = make(n_init=40, n_lead=2, nlat=19, nlon=36)
    metrics = ("rmse", "bias", "mae", "acc", "specdiv", "specres")
    card = scorecard(fc, truth, clim, metrics=metrics, convention="chaosbench")
    assert card.attrs["n_blocks"] == 2
    lat = fc.latitude.values
    for li, lead in enumerate(fc.lead_time.values):
        valid = fc.init_time.values + lead
        p = fc["z"].isel(lead_time=li).sel(level=500).values
        t = truth["z"].sel(time=valid, level=500).values
        c = clim["z"].sel(dayofyear=pd.DatetimeIndex(valid).day_of_year, level=500).values
        expect = {
            "rmse": cbc.rmse_chaosbench(p, t, lat),
            "bias": cbc.bias_chaosbench(p, t, lat),
            "mae": cbc.mae_chaosbench(p, t, lat),
            "acc": cbc.acc_chaosbench_as_coded(p, t, c, lat),
            "specdiv": cbc.spectral_divergence_chaosbench(p, t),
            "specres": cbc.spectral_residual_chaosbench(p, t),
        }
        for m, val in expect.items():
            got = card["z"].sel(metric=m, level=500).isel(lead_time=li).item()
            assert got == pytest.approx(float(val), rel=1e-10), m


def test_chaosbench_ensemble_scorecard():
    fc, truth, clim, std = make(n_init=6, n_lead=2, n_member=3)
    card = scorecard(
        fc,
        truth,
        clim,
        metrics=("crps", "spread", "ssr", "crpss"),
        climatology_std=std,
        convention="chaosbench",
    )
    lat = fc.latitude.values
    valid = fc.init_time.values + fc.lead_time.values[1]
    p = fc["t2m"].isel(lead_time=1).transpose("init_time", "member", ...).values
    t = truth["t2m"].sel(time=valid).values
    doy = pd.DatetimeIndex(valid).day_of_year
    assert card["t2m"].sel(metric="crps").values[1] == pytest.approx(float(cbc.crps_chaosbench(p, t, lat)))
    assert card["t2m"].sel(metric="ssr").values[1] == pytest.approx(
        float(cbc.spread_skill_ratio_chaosbench(p, t, lat))
    )
    crpss = cbc.crpss_chaosbench(
        p, t, clim["t2m"].sel(dayofyear=doy).values, std["t2m"].sel(dayofyear=doy).values, lat
    )
    assert card["t2m"].sel(metric="crpss").values[1] == pytest.approx(float(crpss))


def test_csv_layout_and_netcdf_round_trip(tmp_path):
    fc, truth, clim, _ = make()
    card = scorecard(fc, truth, clim, metrics=("rmse", "acc"))
    paths = write_scorecard_csv(card, tmp_path / "eval", model_name="unet_s2s")
    assert sorted(p.name for p in paths) == ["acc_unet_s2s.csv", "rmse_unet_s2s.csv"]
    with open(tmp_path / "eval" / "rmse_unet_s2s.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["lead_time_days", "z-500", "z-850", "t2m"]
    assert len(rows) == 1 + fc.sizes["lead_time"]
    assert [float(r[0]) for r in rows[1:]] == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(
        [float(r[2]) for r in rows[1:]], card["z"].sel(metric="rmse", level=850).values
    )
    path = write_scorecard_netcdf(card, tmp_path / "card.nc")
    back = xr.open_dataset(path).load()
    xr.testing.assert_allclose(back.assign_coords(metric=back.metric.astype(object)), card)
    assert back.attrs["convention"] == "wb2"
    assert not list(tmp_path.glob(".card.nc*"))  # no temporary file left


def test_references_shapes_values_and_lazy():
    _, truth, clim, _ = make()
    inits = truth.time.values[:4]
    leads = pd.to_timedelta([1, 2, 5], "D").values
    lazy_truth = truth.chunk({"time": 1})
    pers = persistence_forecast(lazy_truth, inits, leads)
    assert pers["z"].dims == ("init_time", "lead_time", "level", "latitude", "longitude")
    assert pers["t2m"].dims == ("init_time", "lead_time", "latitude", "longitude")
    assert pers["z"].chunks is not None  # still lazy
    np.testing.assert_array_equal(pers["valid_time"].values, inits[:, None] + leads[None, :])
    np.testing.assert_array_equal(
        pers["z"].isel(init_time=2, lead_time=2).values, truth["z"].isel(time=2).values
    )
    cf = climatology_forecast(clim.chunk({"dayofyear": 30}), inits, leads)
    assert cf["z"].dims == ("init_time", "lead_time", "level", "latitude", "longitude")
    assert cf["z"].chunks is not None
    doy = pd.Timestamp(inits[1] + leads[2]).day_of_year
    np.testing.assert_array_equal(
        cf["z"].isel(init_time=1, lead_time=2).values, clim["z"].sel(dayofyear=doy).values
    )
    with pytest.raises(ValueError, match="missing climatology day"):
        climatology_forecast(clim.isel(dayofyear=slice(0, 3)), inits, leads)
    with pytest.raises(ValueError, match="lead_times"):
        persistence_forecast(truth, inits, [1, 2])
    with pytest.raises(ValueError, match="init_times"):
        persistence_forecast(truth, ["1999-01-01"], leads)


def test_reference_skill_in_card():
    fc, truth, clim, _ = make()
    card = scorecard(fc, truth, clim, metrics=("rmse", "acc"), reference="persistence")
    assert list(card.metric.values) == ["rmse", "acc", "rmse_reference", "acc_reference", "rmse_skill"]
    ref = det.rmse_wb2(
        persistence_forecast(truth, fc.init_time.values, fc.lead_time.values)["t2m"], truth["t2m"]
    )
    np.testing.assert_allclose(card["t2m"].sel(metric="rmse_reference"), ref, rtol=1e-12)
    np.testing.assert_allclose(
        card["t2m"].sel(metric="rmse_skill"), 1 - card["t2m"].sel(metric="rmse") / ref, rtol=1e-12
    )
    cb = scorecard(fc, truth, clim, metrics=("acc",), convention="chaosbench", reference="climatology")
    np.testing.assert_allclose(cb["z"].sel(metric="acc_reference"), 0.0, atol=1e-12)  # ChaosBench: ACC ≡ 0


def test_lazy_dask_bounded_pieces():
    fc, truth, clim, _ = make(n_init=6, n_lead=4, nlat=13, nlon=24)
    eager = scorecard(fc, truth, clim, metrics=("rmse", "acc"), block=2)
    lazy_fc = fc.chunk({"init_time": 1, "lead_time": 1})
    assert isinstance(lazy_fc["z"].data, da.Array)
    biggest = []

    def recording_get(dsk, keys, **kwargs):
        out = dask.get(dsk, keys, **kwargs)
        biggest.append(sum(np.asarray(a).nbytes for a in dask.core.flatten(out) if hasattr(a, "nbytes")))
        return out

    budget_mb = 2 * 2 * 13 * 24 * 8 / 2**20  # two (lead, level) fields of a 2-init block
    with dask.config.set(scheduler=recording_get):
        card = scorecard(
            lazy_fc, truth.chunk({"time": 1}), clim, metrics=("rmse", "acc"), block=2, max_chunk_mb=budget_mb
        )
    xr.testing.assert_allclose(card, eager)
    assert biggest and max(biggest) <= 2 * 2 * 13 * 24 * 8  # never more than one piece per compute


@pytest.mark.parametrize("convention", ["wb2", "chaosbench"])
def test_flip_and_transpose_invariance(convention):
    fc, truth, clim, _ = make(n_init=4, nlat=19, nlon=36)
    metrics = ("rmse", "bias", "acc") + (
        ("specdiv", "specres", "ms_ssim") if convention == "chaosbench" else ()
    )
    base = scorecard(fc, truth, clim, metrics=metrics, convention=convention)
    fc2 = fc.isel(latitude=slice(None, None, -1)).transpose(
        "longitude", "level", "latitude", "lead_time", "init_time"
    )
    fc2 = fc2.isel(init_time=[2, 0, 3, 1])
    tr2 = truth.isel(latitude=slice(None, None, -1), level=[1, 0]).transpose(
        "latitude", "longitude", "level", "time"
    )
    cl2 = clim.isel(latitude=slice(None, None, -1)).transpose("longitude", "latitude", "level", "dayofyear")
    other = scorecard(fc2, tr2, cl2, metrics=metrics, convention=convention)
    xr.testing.assert_allclose(other, base, rtol=1e-10, atol=1e-12)


def test_bad_input():
    fc, truth, clim, std = make()
    with pytest.raises(ValueError, match="different grids"):
        scorecard(fc, truth.isel(longitude=slice(0, 20)), metrics=("rmse",))
    with pytest.raises(ValueError, match="'longitude' lacks"):
        scorecard(fc, truth.assign_coords(longitude=truth.longitude + 0.5), metrics=("rmse",))
    with pytest.raises(ValueError, match="valid time"):
        scorecard(fc, truth.isel(time=slice(0, 4)), metrics=("rmse",))
    aligned = truth.sel(time=fc.valid_time).drop_vars("time").isel(lead_time=slice(0, 2))
    with pytest.raises(ValueError, match="lead times differ"):
        scorecard(fc, aligned, metrics=("rmse",))
    with pytest.raises(ValueError, match="missing climatology day"):
        scorecard(fc, truth, clim.isel(dayofyear=slice(0, 2)), metrics=("acc",))
    with pytest.raises(ValueError, match="climatology: required"):
        scorecard(fc, truth, metrics=("acc",))
    bad = fc.copy(deep=True)
    bad["z"][1, 2, 0, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"forecast: variable 'z' has 1 non-finite .*init_time 2022-01-02 "):
        scorecard(bad, truth, metrics=("rmse",))
    ok = scorecard(bad, truth, metrics=("rmse",), skipna=True)
    assert np.isfinite(ok["z"]).all()
    with pytest.raises(ValueError, match="not available"):
        scorecard(fc, truth, metrics=("specdiv",))
    with pytest.raises(ValueError, match="member"):
        scorecard(fc, truth, metrics=("crps",))
    with pytest.raises(ValueError, match="convention"):
        scorecard(fc, truth, convention="ecmwf")
    with pytest.raises(ValueError, match="level"):
        scorecard(fc, truth.sel(level=[500]), metrics=("rmse",))
