"""Rollout stability: blow-up lead, boundedness, settled climate ratios, the non-finite guard, bad input."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from physics_metrics.errors import MetricInputError, NonFiniteInputError
from physics_metrics.weather import check_finite_rollout, rollout_stability

LAT = np.linspace(90, -90, 13)
LON = np.arange(24) * 15.0
N_LEAD = 20
LEADS = pd.to_timedelta(np.arange(N_LEAD) * 6, "h")
INITS = pd.date_range("2020-01-01", periods=4)


def _truth(n_time=5, seed=0):
    rng = np.random.default_rng(seed)
    values = 5.0e4 + 300.0 * rng.standard_normal((n_time, LAT.size, LON.size))
    coords = {"time": pd.date_range("2019-01-01", periods=n_time), "latitude": LAT, "longitude": LON}
    return xr.Dataset({"z": (("time", "latitude", "longitude"), values)}, coords=coords)


def _forecast(values, lat=LAT):
    coords = {"init_time": INITS[: values.shape[0]], "lead_time": LEADS, "latitude": lat, "longitude": LON}
    ds = xr.Dataset({"z": (("init_time", "lead_time", "latitude", "longitude"), values)}, coords=coords)
    return ds.assign_coords(valid_time=ds.init_time + ds.lead_time)


def test_blow_up_lead_and_settled_climate():
    truth = _truth()
    z = truth.z.values
    mean = float(
        (z * np.cos(np.radians(LAT))[:, None]).sum() / (np.cos(np.radians(LAT)).sum() * LON.size * len(z))
    )
    rng = np.random.default_rng(1)
    f = np.broadcast_to(z.mean(0), (4, N_LEAD, LAT.size, LON.size)).copy()
    f += 50.0 * rng.standard_normal(f.shape)
    # init 1: explodes from lead index 12; init 2: a NaN at lead 15; init 3: drifts to 20 σ at lead 7
    f[1, 12:] *= 1.0e3
    f[2, 15, 3, 4] = np.nan
    f[3, 7:] += 20 * 300.0
    out = rollout_stability(_forecast(f), truth.isel(latitude=slice(None, None, -1)))
    assert out.bounded.values.tolist() == [True, False, False, False]
    assert pd.isna(out.blow_up_lead.values[0])
    assert list(pd.to_timedelta(out.blow_up_lead.values[1:])) == [LEADS[12], LEADS[15], LEADS[7]]
    assert np.isinf(out.max_abs_anomaly.values[2])
    assert out.max_abs_anomaly.values[0] < 10
    assert np.isnan(out.variance_ratio.values[1:]).all()
    assert out.attrs["settle_leads"] == 5 and out.attrs["settle_from_lead"] == "3 days, 18:00:00"
    # the truth's statistics: cell-area weighted (equiangular grid with poles → Clenshaw–Curtis)
    assert float(out.truth_mean) == pytest.approx(mean, rel=1e-3)
    assert float(out.truth_std) == pytest.approx(300.0, rel=0.1)


def test_variance_ratio_of_a_collapsing_model_is_exact():
    truth = _truth(n_time=5)
    stats = rollout_stability(_forecast(np.repeat(truth.z.values[:1], N_LEAD, 0)[None]), truth)
    m = float(stats.truth_mean)
    f = np.empty((2, N_LEAD, LAT.size, LON.size))
    f[:] = truth.z.values.mean(0)
    for i, c in enumerate((1.0, 0.5)):  # last 5 leads = the 5 truth states pulled towards the mean by c
        f[i, -5:] = m + c * (truth.z.values - m)
    out = rollout_stability(_forecast(f), truth)
    assert out.bounded.values.all()
    np.testing.assert_allclose(out.variance_ratio.values, [1.0, 0.25], rtol=1e-12)
    np.testing.assert_allclose(out.mean_ratio.values, 1.0, rtol=1e-14)
    np.testing.assert_allclose(out.mean_difference.values, 0.0, atol=1e-9)
    np.testing.assert_allclose(out.final_variance.values[0], float(out.truth_variance), rtol=1e-12)


def test_rollout_stability_bad_input():
    truth = _truth()
    f = np.broadcast_to(truth.z.values[0], (1, N_LEAD, LAT.size, LON.size)).copy()
    fc = _forecast(f)
    coarse = truth.isel(latitude=slice(0, None, 2))
    with pytest.raises(
        MetricInputError, match=r"forecast 13 x 24 \(equiangular\), truth 7 x 24 \(equiangular\)"
    ):
        rollout_stability(fc, coarse)
    with pytest.raises(MetricInputError, match=r"no variable 'u'; dataset has \['z'\]"):
        rollout_stability(fc, truth, variable="u")
    with pytest.raises(MetricInputError, match="latitude"):
        rollout_stability(fc.rename(latitude="y"), truth)
    with pytest.raises(MetricInputError, match="lead_time"):
        rollout_stability(fc.rename(lead_time="step"), truth)
    with pytest.raises(MetricInputError, match="bound"):
        rollout_stability(fc, truth, bound=-1)
    with pytest.raises(MetricInputError, match="settle_fraction"):
        rollout_stability(fc, truth, settle_fraction=0)
    with pytest.raises(MetricInputError, match="standard deviation is 0"):
        rollout_stability(fc, truth.isel(time=0))
    with pytest.raises(TypeError):
        rollout_stability(f, truth)


def test_check_finite_rollout_names_variable_and_first_lead():
    truth = _truth()
    f = np.broadcast_to(truth.z.values[0], (3, N_LEAD, LAT.size, LON.size)).copy()
    fc = _forecast(f)
    fc["u"] = fc.z * 0 + 1.0
    assert check_finite_rollout(fc) is fc
    z = fc.z
    assert check_finite_rollout(z) is z
    bad = fc.copy(deep=True)
    bad["z"][2, 5, 0, 0] = np.nan
    bad["u"][1, 2, 3, 3] = np.inf
    with pytest.raises(
        NonFiniteInputError, match=r"u is non-finite from lead_time 12:00:00 \(index 2\)"
    ) as err:
        check_finite_rollout(bad)
    assert "2020-01-02" in str(err.value)
    with pytest.raises(
        NonFiniteInputError, match=r"z is non-finite from lead_time 1 day, 6:00:00 \(index 5\)"
    ):
        check_finite_rollout(bad.z)
    with pytest.raises(FloatingPointError):  # NonFiniteInputError is a FloatingPointError too
        check_finite_rollout(bad[["z"]])
    # a state (time, lat, lon) works too
    state = truth.copy(deep=True)
    state["z"][3, 0, 0] = np.nan
    with pytest.raises(NonFiniteInputError, match=r"from time 2019-01-04.*\(index 3\)"):
        check_finite_rollout(state)
    with pytest.raises(MetricInputError, match="lead_time"):
        check_finite_rollout(truth.isel(time=0))
