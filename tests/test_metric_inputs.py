"""Bad inputs to the weather and forecast metrics, and the one table of scores (the registry).

Each bad-input case asserts the exception class and that the message names the thing: the input, the
variable, the dimension, the first offending position or the duplicated values.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from gridded_inputs import TIMES, make_data

import physics_metrics as pm
from physics_metrics.errors import MetricInputError, MetricKeyError, NonFiniteInputError
from physics_metrics.weather import (
    SCORECARD_METRICS,
    SCORES,
    ScoreSpec,
    mse,
    register_score,
    scorecard,
    scores_where,
    unregister_score,
)

LEADS = np.array([1, 2], dtype="timedelta64[D]").astype("timedelta64[ns]")


def _forecast(truth: xr.Dataset, inits=TIMES[:4], seed: int = 0) -> xr.Dataset:
    """Truth at the valid times plus noise, in the forecast schema (numpy-backed)."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in truth.data_vars:
        blocks = [truth[v].sel(time=t + LEADS).values for t in inits]
        arr = np.stack(blocks).astype(np.float64)
        arr = arr + 0.01 * np.abs(arr).mean() * rng.standard_normal(arr.shape)
        dims = ("init_time", "lead_time", *truth[v].dims[1:])
        out[v] = (dims, arr, dict(truth[v].attrs))
    coords = {"init_time": np.asarray(inits), "lead_time": LEADS, "level": truth["level"].values,
              "latitude": truth["latitude"].values, "longitude": truth["longitude"].values}  # fmt: skip
    ds = xr.Dataset(out, coords=coords)
    return ds.assign_coords(valid_time=ds["init_time"] + ds["lead_time"])


@pytest.fixture(scope="module")
def pair():
    truth = make_data(seed=3)
    return _forecast(truth), truth


# ------------------------------------------------------------------------------------ non-finite values
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_scorecard_non_finite_forecast_named(pair, value):
    fc, truth = pair
    bad = fc.copy(deep=True)
    bad["t2m"][2, 1, 3, 5] = value
    with pytest.raises(
        NonFiniteInputError, match=r"forecast: variable 't2m'.*init_time 2020-01-03.*lead_time 2 days"
    ):
        scorecard(bad, truth, metrics=("rmse",))


def test_scorecard_inf_in_truth_named_even_with_skipna(pair):
    fc, truth = pair
    bad = truth.copy(deep=True)
    bad["z"][3, 1, 2, 2] = -np.inf  # 2020-01-04 at 850 hPa
    with pytest.raises(NonFiniteInputError, match=r"truth: variable 'z'.*\(-inf\).*level 850"):
        scorecard(fc, bad, metrics=("rmse",), skipna=True)


def test_scorecard_nan_skipped_by_the_explicit_policy(pair):
    fc, truth = pair
    bad = fc.copy(deep=True)
    bad["t2m"][0, 0, 0, 0] = np.nan  # a masked point: skipna leaves it out of the spatial mean
    card = scorecard(bad, truth, metrics=("rmse",), skipna=True)
    assert np.isfinite(card["t2m"]).all()


def test_deterministic_inf_on_dask_named_at_compute(pair):
    fc, truth = pair
    bad = fc["z"].copy(deep=True)
    bad[1, 0, 1, 4, 7] = np.inf
    lazy = mse(bad.chunk({"init_time": 1}), truth["z"], skipna=True)  # nothing is loaded yet
    with pytest.raises(
        NonFiniteInputError, match=r"forecast 'z'.*\(inf\) at init_time=2020-01-02, lead_time=24 hours"
    ):
        lazy.compute()


def test_forecast_scores_non_finite_named():
    y = np.random.default_rng(0).standard_normal((50, 3))
    bad = y.copy()
    bad[7, 2] = np.inf
    with pytest.raises(
        NonFiniteInputError, match=r"y_pred: 1 non-finite value\(s\), the first \(inf\) at time step 7, dim 2"
    ):
        pm.smape(y, bad)
    with pytest.raises(NonFiniteInputError, match=r"y_true: .*time step 7, dim 2"):
        pm.valid_prediction_time(bad, y, 0.4)


def test_forecast_scores_zero_length_named():
    with pytest.raises(MetricInputError, match=r"y_true: series too short: 0 time steps"):
        pm.smape(np.zeros((0, 3)), np.zeros((0, 3)))


# ------------------------------------------------------------------------------------ shapes and coordinates
def test_zero_length_init_time_named(pair):
    fc, truth = pair
    empty = fc.isel(init_time=slice(0, 0))
    with pytest.raises(MetricInputError, match="forecast: dimension 'init_time' has length 0"):
        scorecard(empty, truth, metrics=("rmse",))
    with pytest.raises(MetricInputError, match="forecast 'z'|forecast: dimension 'init_time' has length 0"):
        mse(empty["z"], truth["z"])


def test_zero_length_member_named(pair):
    fc, truth = pair
    ens = (
        fc.expand_dims(member=[0, 1])
        .transpose("init_time", "lead_time", "member", ...)
        .isel(member=slice(0, 0))
    )
    with pytest.raises(MetricInputError, match="dimension 'member' has length 0"):
        scorecard(ens, truth, metrics=("crps",))


def test_duplicated_init_time_named(pair):
    fc, truth = pair
    dup = xr.concat([fc, fc.isel(init_time=[1])], dim="init_time")
    with pytest.raises(MetricInputError, match=r"coordinate 'init_time' has duplicated values \['2020-01-02"):
        scorecard(dup, truth, metrics=("rmse",))
    with pytest.raises(MetricInputError, match=r"init_time.*duplicated.*2020-01-02"):
        mse(dup["z"], truth["z"])


def test_duplicated_truth_time_named(pair):
    fc, truth = pair
    dup = xr.concat([truth, truth.isel(time=[2])], dim="time")
    with pytest.raises(
        MetricInputError, match=r"truth: coordinate 'time' has duplicated values \['2020-01-03"
    ):
        scorecard(fc, dup, metrics=("rmse",))


def test_grid_mismatch_named(pair):
    fc, truth = pair
    shifted = truth.assign_coords(latitude=truth["latitude"].values + 0.5)
    with pytest.raises(MetricInputError, match="truth: 'latitude' lacks"):
        scorecard(fc, shifted, metrics=("rmse",))
    with pytest.raises(MetricInputError, match="latitude"):
        mse(fc["z"], shifted["z"])


def test_missing_variable_named(pair):
    fc, truth = pair
    with pytest.raises(MetricInputError, match=r"truth: has no variable 't2m'"):
        scorecard(fc, truth[["z"]], metrics=("rmse",))


def test_unknown_score_named(pair):
    fc, truth = pair
    with pytest.raises(MetricInputError, match=r"'rmsee' is not available"):
        scorecard(fc, truth, metrics=("rmsee",))
    with pytest.raises(MetricKeyError, match=r"score 'rmsee' is not registered"):
        SCORES["rmsee"]


# ------------------------------------------------------------------------------------ one table of scores
def _max_abs_error(piece):
    return {"max_abs_error": np.abs(piece.fmean - piece.o).max(["latitude", "longitude"])}


def test_a_new_score_is_one_entry(pair, tmp_path):
    """Registered here only: it appears in the scorecard, in evaluate_weather and in the report's list."""
    import matplotlib

    matplotlib.use("Agg")
    from chaosbench_py.evaluation import evaluate_weather
    from chaosbench_py.report import Report, add_weather_section, report_scores

    fc, truth = pair
    spec = ScoreSpec("max_abs_error", "max |error|", "largest absolute error over the grid, init mean",
                     evaluate=True, wb2=_max_abs_error)  # fmt: skip
    register_score(spec)
    try:
        assert (
            "max_abs_error" in SCORECARD_METRICS["wb2"]
            and "max_abs_error" not in SCORECARD_METRICS["chaosbench"]
        )
        card = scorecard(fc, truth, metrics=("rmse", "max_abs_error"))
        want = np.abs(fc["t2m"] - truth["t2m"].sel(time=fc["valid_time"])).max(["latitude", "longitude"])
        np.testing.assert_allclose(
            card["t2m"].sel(metric="max_abs_error"), want.mean("init_time"), rtol=1e-12
        )
        cards = evaluate_weather(
            fc, truth, None, metrics=("rmse", "max_abs_error"), references=("persistence",)
        )
        assert report_scores(cards) == ["rmse", "max_abs_error"]
        report = Report("t", tmp_path)
        add_weather_section(report, "w", fc, truth, cards, variables=["t2m"], map_lead_times=[LEADS[0]])
        assert (tmp_path / "figures" / "w_max_abs_error_vs_lead.png") in report._figures
        assert any("max |error| 1 d" in p[0][0] for kind, p in report.blocks if kind == "table")
        with pytest.raises(MetricInputError, match="already registered"):
            register_score(spec)
    finally:
        unregister_score("max_abs_error")
    assert "max_abs_error" not in SCORES and "max_abs_error" not in SCORECARD_METRICS["wb2"]


def test_registry_flags_drive_the_checks(pair):
    fc, truth = pair
    assert set(scores_where(needs_ensemble=True)) == {"crps", "spread", "ssr", "crpss"}
    assert set(scores_where(needs_climatology=True)) == {"acc", "acc_centred", "crpss"}
    with pytest.raises(MetricInputError, match=r"climatology: required by metric\(s\) \['acc'\]"):
        scorecard(fc, truth, metrics=("rmse", "acc"))
    with pytest.raises(MetricInputError, match="'crps' needs an ensemble"):
        scorecard(fc, truth, metrics=("crps",))
    with pytest.raises(MetricInputError, match="give wb2= and/or chaosbench="):
        ScoreSpec("nothing", "x", "no way to compute it")
    with pytest.raises(MetricInputError, match="reserves"):
        ScoreSpec("rmse_skill", "x", "clashes with the skill rows", wb2=_max_abs_error)
