"""The fused scorecard kernel (scorecard_fast) equals the general per-piece path on random data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from physics_metrics.errors import NonFiniteInputError
from physics_metrics.weather import scorecard_fast as sf
from physics_metrics.weather.registry import SCORES, ScoreSpec, register_score
from physics_metrics.weather.scorecard import scorecard

LEVELS = (250, 500, 850)
WB2 = ("mse", "rmse", "rmse_per_sample", "bias", "mae", "acc", "acc_centred")
CB = ("rmse", "bias", "mae", "acc")


def make(n_init=6, n_lead=4, n_member=0, nlat=9, nlon=16, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    lat = np.linspace(90, -90, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    times = pd.date_range("2021-12-20", periods=n_init + n_lead + 1, freq="D")
    nl = len(LEVELS)

    def field(shape, loc, scale):
        return rng.normal(loc, scale, shape).astype(dtype)

    truth = xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), field((times.size, nl, nlat, nlon), 5000, 50)),
            "t2m": (("time", "latitude", "longitude"), field((times.size, nlat, nlon), 280, 5)),
        },
        coords={"time": times, "level": list(LEVELS), "latitude": lat, "longitude": lon},
    )
    head = (n_init, n_lead) + ((n_member,) if n_member else ())
    dims = ("init_time", "lead_time") + (("member",) if n_member else ())
    fc = xr.Dataset(
        {
            "z": (dims + ("level", "latitude", "longitude"), field(head + (nl, nlat, nlon), 5000, 50)),
            "t2m": (dims + ("latitude", "longitude"), field(head + (nlat, nlon), 280, 5)),
        },
        coords={
            "init_time": times[:n_init].values,
            "lead_time": pd.to_timedelta(np.arange(1, n_lead + 1), "D").values,
            "level": list(LEVELS),
            "latitude": lat,
            "longitude": lon,
        },
    )
    clim = xr.Dataset(
        {
            "z": (("dayofyear", "level", "latitude", "longitude"), field((366, nl, nlat, nlon), 5000, 20)),
            "t2m": (("dayofyear", "latitude", "longitude"), field((366, nlat, nlon), 280, 2)),
        },
        coords={"dayofyear": np.arange(1, 367), "level": list(LEVELS), "latitude": lat, "longitude": lon},
    )
    return fc, truth, clim


def both(monkeypatch, *args, **kw):
    """(fused kernel, general path) scorecards of the same call."""
    monkeypatch.setattr(sf, "ENABLED", True)
    fast = scorecard(*args, **kw)
    monkeypatch.setattr(sf, "ENABLED", False)
    general = scorecard(*args, **kw)
    monkeypatch.setattr(sf, "ENABLED", True)
    return fast, general


def assert_same(a: xr.Dataset, b: xr.Dataset, rtol=1e-9, atol=1e-12):
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for v in a.data_vars:
        assert a[v].dims == b[v].dims
        assert list(a["metric"].values) == list(b["metric"].values)
        for m in a["metric"].values:
            x, y = a[v].sel(metric=m).values, b[v].sel(metric=m).values
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{v} {m} NaN pattern")
            scale = np.nanmax(np.abs(y)) if np.isfinite(y).any() else 1.0
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol * scale, err_msg=f"{v} {m}")


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
@pytest.mark.parametrize("n_member", [0, 3])
def test_fast_equals_general(monkeypatch, convention, metrics, n_member):
    fc, truth, clim = make(n_member=n_member)
    fast, general = both(monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=4)
    assert_same(fast, general)


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
@pytest.mark.parametrize("n_member", [0, 3])
def test_fast_equals_general_with_nan_skipna(monkeypatch, convention, metrics, n_member):
    fc, truth, clim = make(n_member=n_member, seed=2)
    z = fc["z"].values
    z[0, 1, ..., 0, 2, 3] = np.nan  # one point (every member) of one init/lead/level
    z[2, 0, ...] = np.nan  # a whole init/lead
    if n_member:
        z[3, 2, 1, 0, 4, :] = np.nan  # one member only
    fc["t2m"].values[1, 3, ..., 5, :] = np.nan  # a latitude row
    truth["z"].values[4, 1, :2] = np.nan
    clim["t2m"].values[:, 0, :] = np.nan  # the north pole row of every day
    fast, general = both(
        monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=3, skipna=True
    )
    assert_same(fast, general)


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
def test_fast_layouts_pieces_and_blocks(monkeypatch, convention, metrics):
    """Unsorted inits, a truth with latitude ascending, tiny pieces (lead groups and init sub-blocks)."""
    fc, truth, clim = make(n_init=9, n_lead=5, dtype=np.float64)
    fc = fc.isel(init_time=[3, 0, 8, 1, 5, 2, 7, 4, 6])
    truth = truth.isel(latitude=slice(None, None, -1))
    fc = fc.transpose("lead_time", "latitude", "init_time", "longitude", "level")
    for mb in (128.0, 0.01, 0.0005):
        fast, general = both(
            monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=4, max_chunk_mb=mb
        )
        assert_same(fast, general)


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
def test_fast_zarr_backed_and_forecast_schema_truth(monkeypatch, tmp_path, convention, metrics):
    fc, truth, clim = make(n_init=7)
    for name, ds in (("fc", fc), ("truth", truth), ("clim", clim)):
        ds.to_zarr(tmp_path / f"{name}.zarr", consolidated=False, zarr_format=3)
    fz, tz, cz = (xr.open_zarr(tmp_path / f"{n}.zarr", consolidated=False) for n in ("fc", "truth", "clim"))
    assert sf._backend(fz["z"]) is not None  # the direct backend read is taken
    fast, general = both(monkeypatch, fz, tz, cz, metrics=metrics, convention=convention, block=3)
    assert_same(fast, general)
    ref_fast, _ = both(monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=3)
    assert_same(fast, ref_fast)
    # truth in the forecast schema (init_time, lead_time): no shared days
    vt = fc["init_time"] + fc["lead_time"]
    t_fc = truth.sel(time=vt).drop_vars("time")
    fast, general = both(monkeypatch, fc, t_fc, clim, metrics=metrics, convention=convention, block=3)
    assert_same(fast, general)


def test_fast_scattered_read_matches_isel(tmp_path):
    _, truth, _ = make(n_init=20)
    truth.to_zarr(tmp_path / "t.zarr", consolidated=False, zarr_format=3)
    tz = xr.open_zarr(tmp_path / "t.zarr", consolidated=False)
    da = tz["z"]
    obj = sf._backend(da)
    ix = {"time": np.array([15, 0, 1, 2, 20, 14]), "latitude": np.arange(9)[::-1].copy()}
    order = ["time", "level", "latitude", "longitude"]
    np.testing.assert_array_equal(sf._read(da, ix, order, obj), da.isel(ix).transpose(*order).values)
    np.testing.assert_array_equal(sf._read(da, ix, order), da.isel(ix).transpose(*order).values)


@pytest.mark.parametrize("convention", ["wb2", "chaosbench"])
def test_fast_climatology_forecast_cancellation(monkeypatch, convention):
    """forecast == climatology: a_F = 0 exactly; the expanded sums would cancel, the direct pass is used."""
    fc, truth, clim = make()
    metrics = ("acc", "rmse") + (("acc_centred",) if convention == "wb2" else ())
    fast, general = both(monkeypatch, fc, truth, clim, metrics=metrics, convention=convention,
                         reference="climatology")  # fmt: skip
    assert_same(fast, general)


@pytest.mark.parametrize("convention", ["wb2", "chaosbench"])
def test_fast_nonfinite_messages_equal_general(monkeypatch, convention):
    fc, truth, clim = make()
    cases = []
    f1 = fc.copy(deep=True)
    f1["z"].values[2, 1, 1, 3, 4] = np.nan
    cases.append((f1, truth, clim, False))
    f2 = fc.copy(deep=True)
    f2["t2m"].values[1, 2, 3, 4] = np.inf
    cases.append((f2, truth, clim, True))
    t3 = truth.copy(deep=True)
    t3["z"].values[5, 0, 2, 2] = np.nan
    cases.append((fc, t3, clim, False))
    c4 = clim.copy(deep=True)
    c4["z"].values[:, 1, 0, 0] = -np.inf
    cases.append((fc, truth, c4, True))
    for f, t, c, skipna in cases:
        msgs = []
        for enabled in (True, False):
            monkeypatch.setattr(sf, "ENABLED", enabled)
            with pytest.raises(NonFiniteInputError) as err:
                scorecard(f, t, c, metrics=("rmse", "acc"), convention=convention, skipna=skipna)
            msgs.append(str(err.value))
        monkeypatch.setattr(sf, "ENABLED", True)
        assert msgs[0] == msgs[1]


def test_fast_mixed_with_general_metrics_and_reregistered(monkeypatch):
    fc, truth, clim = make(n_member=3)
    metrics = ("crps", "rmse", "spread", "acc")
    fast, general = both(monkeypatch, fc, truth, clim, metrics=metrics)
    assert_same(fast, general)
    assert sf.split_metrics(list(metrics), "wb2") == (["rmse", "acc"], ["crps", "spread"])
    old = SCORES["bias"]
    try:
        register_score(ScoreSpec("bias", "bias", "custom", chaosbench=lambda p: old.chaosbench(p) + 1.0),
                       replace=True)  # fmt: skip
        assert sf.split_metrics(["bias", "rmse"], "chaosbench") == (["rmse"], ["bias"])
        card = scorecard(fc, truth, clim, metrics=("bias",), convention="chaosbench")
        monkeypatch.setattr(sf, "ENABLED", False)
        ref = scorecard(fc, truth, clim, metrics=("bias",), convention="chaosbench")
        np.testing.assert_allclose(card["z"].values, ref["z"].values, rtol=1e-12)
    finally:
        register_score(old, replace=True)
    monkeypatch.setattr(sf, "ENABLED", True)
    assert sf.split_metrics(["bias"], "chaosbench") == (["bias"], [])
