"""Scorecards with uncertainty (physics_metrics.weather.init_inference): per-init scores equal the
scorecard, bootstrap intervals over inits, paired tests of two models on the same inits."""

from __future__ import annotations

import numpy as np
import pytest

from physics_metrics.errors import MetricInputError, MetricTypeError
from physics_metrics.inference import bootstrap_interval
from physics_metrics.weather import paired_score_test, per_init_scores, scorecard_intervals
from physics_metrics.weather.scorecard import scorecard
from tests.test_scorecard import make


def test_per_init_scores_average_to_the_scorecard():
    fc, truth, clim = make(n_init=6, n_lead=3)[:3]
    per = per_init_scores(fc, truth, clim, block=4)  # two blocks: the split must not matter
    card = scorecard(fc, truth, clim, metrics=("rmse", "acc"))
    for v in ("z", "t2m"):
        assert per[v].dims[:2] == ("metric", "init_time") and per[v].dims[-1] == "lead_time"
        assert per[v].sizes["init_time"] == 6
        rmse = np.sqrt(per[v].sel(metric="mse").mean("init_time"))
        np.testing.assert_allclose(rmse.values, card[v].sel(metric="rmse").values, rtol=1e-12)
        acc = per[v].sel(metric="acc").mean("init_time")
        np.testing.assert_allclose(acc.values, card[v].sel(metric="acc").values, rtol=1e-12)


def test_ensemble_is_scored_on_its_mean():
    fc, truth, clim = make(n_init=4, n_lead=2, n_member=3)[:3]
    per = per_init_scores(fc, truth)
    per_mean = per_init_scores(fc.mean("member"), truth)
    np.testing.assert_allclose(per["z"].values, per_mean["z"].values, rtol=1e-12)
    assert list(per["z"]["metric"].values) == ["mse"]  # no climatology, no acc


def test_intervals_bracket_the_scorecard_and_match_a_direct_bootstrap():
    fc, truth, clim = make(n_init=12, n_lead=3)[:3]
    per = per_init_scores(fc, truth, clim)
    ci = scorecard_intervals(per, n_resamples=500, seed=3)
    card = scorecard(fc, truth, clim, metrics=("rmse", "acc"))
    est = ci["z"].sel(metric="rmse", bound="estimate")
    np.testing.assert_allclose(est.values, card["z"].sel(metric="rmse").values, rtol=1e-12)
    low, high = ci["z"].sel(bound="low"), ci["z"].sel(bound="high")
    assert (low <= ci["z"].sel(bound="estimate")).all() and (ci["z"].sel(bound="estimate") <= high).all()
    # the same numbers as the library's bootstrap of sqrt(mean mse) on the numpy array
    x = per["t2m"].sel(metric="mse").values  # (init_time, lead_time)
    direct = bootstrap_interval(x, lambda a, axis: np.sqrt(np.mean(a, axis=axis)), n_resamples=500, seed=3)
    np.testing.assert_allclose(ci["t2m"].sel(metric="rmse", bound="low").values, direct.low, rtol=1e-12)
    assert ci.attrs["n_inits"] == 12


def test_identical_inits_collapse_the_interval():
    fc, truth = make(n_init=5, n_lead=2)[:2]
    per = per_init_scores(fc, truth)
    same = per.copy(deep=True)
    same["z"][:] = same["z"].isel(init_time=[0]).values  # every init scores the same
    ci = scorecard_intervals(same, n_resamples=200)
    np.testing.assert_allclose(ci["z"].sel(bound="low").values, ci["z"].sel(bound="high").values, rtol=1e-12)


def test_paired_test_detects_a_uniformly_worse_model():
    fc, truth = make(n_init=8, n_lead=2)[:2]
    worse = fc + 30.0  # adds a bias: the MSE of every init grows
    a, b = per_init_scores(fc, truth), per_init_scores(worse, truth)
    res = paired_score_test(a, b, test="permutation")
    # every per-init difference is negative: the exact two-sided sign-flip p-value is 2 / 2**8
    np.testing.assert_allclose(res["z_p_value"].values, 2.0 / 256, rtol=1e-12)
    assert (res["z_mean_difference"] < 0).all()
    assert (res["z_rmse_a"] < res["z_rmse_b"]).all()
    assert res.attrs["n_inits"] == 8
    # a model against itself: no difference, p = 1
    same = paired_score_test(a, a, test="t")
    np.testing.assert_allclose(same["t2m_p_value"].values, 1.0)
    for test in ("wilcoxon", "t_ar2"):
        r = paired_score_test(a, b, test=test, alternative="less")
        assert (r["z_p_value"] < 0.01).all()


def test_paired_test_uses_only_common_inits():
    fc, truth = make(n_init=8, n_lead=2)[:2]
    a = per_init_scores(fc, truth)
    b = per_init_scores(fc.isel(init_time=slice(2, 8)) * 1.001, truth)
    assert paired_score_test(a, b).attrs["n_inits"] == 6
    with pytest.raises(MetricInputError, match="share 1 init"):
        paired_score_test(a.isel(init_time=[1, 2]), b.isel(init_time=[0, 3]))


def test_bad_input():
    fc, truth, clim = make(n_init=3, n_lead=2)[:3]
    with pytest.raises(MetricTypeError, match="forecast"):
        per_init_scores(fc["z"], truth)
    with pytest.raises(MetricInputError, match="truth: variables \\['t2m'\\]"):
        per_init_scores(fc, truth[["z"]])
    with pytest.raises(MetricInputError, match="block"):
        per_init_scores(fc, truth, block=0)
    per = per_init_scores(fc, truth)
    with pytest.raises(MetricInputError, match="no 'acc'"):
        paired_score_test(per, per, metric="acc")
    with pytest.raises(MetricInputError, match="test"):
        paired_score_test(per, per, test="anova")
    with pytest.raises(MetricInputError, match="missing along 'time'"):
        per_init_scores(fc, truth.isel(time=slice(0, 3)))
