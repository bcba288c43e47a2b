"""Statistics over experimental units: median ± MAD, bootstrap intervals, paired tests
(physics_metrics.inference, physics_metrics.paired_tests), on cases with known answers."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import scipy
import xarray as xr
from scipy import stats

import physics_metrics as pm
from physics_metrics.errors import MetricInputError, MetricKeyError, MetricTypeError, NonFiniteInputError
from physics_metrics.inference import (
    MAD_NORMAL_SCALE,
    bootstrap_interval,
    bootstrap_interval_xr,
    median_mad,
)
from physics_metrics.paired_tests import (
    ar2_inflation_factor,
    paired_permutation_test,
    paired_t_test,
    paired_wilcoxon_test,
)


def _scipy_bootstrap(data, statistic, method, seed, n_resamples):
    kwargs = {"rng": np.random.default_rng(seed)}
    if "rng" not in inspect.signature(stats.bootstrap).parameters:  # scipy < 1.15
        kwargs = {"random_state": np.random.default_rng(seed)}
    res = stats.bootstrap((data,), statistic, method=method, n_resamples=n_resamples, **kwargs)
    return res.confidence_interval


# ---------------------------------------------------------------------------------------------------
# median ± MAD


def test_median_mad_of_a_hand_computed_list():
    # sorted: 1 2 3 4 100 -> median 3; |x - 3| = 2 1 0 1 97 -> sorted 0 1 1 2 97 -> MAD 1
    r = median_mad([4.0, 1.0, 100.0, 3.0, 2.0])
    assert (r.median, r.mad, r.scale, r.scale_factor, r.n) == (3.0, 1.0, "raw", 1.0, 5)
    assert "median ± MAD, raw" in str(r)
    # even count: 1 2 4 7 -> median 3; |x - 3| = 2 1 1 4 -> MAD (1 + 2)/2 = 1.5
    assert median_mad([7, 1, 4, 2]).mad == 1.5
    normal = median_mad([4.0, 1.0, 100.0, 3.0, 2.0], scale="normal")
    assert normal.scale == "normal" and normal.mad == pytest.approx(1.4826, abs=1e-4)
    assert MAD_NORMAL_SCALE == pytest.approx(1 / stats.norm.ppf(0.75))


def test_median_mad_per_column_and_normal_consistency():
    x = np.random.default_rng(0).normal(0.0, 2.0, size=(20_000, 3))
    r = median_mad(x, scale="normal")
    assert r.median.shape == (3,) and np.allclose(r.mad, 2.0, rtol=0.03)
    np.testing.assert_allclose(median_mad(x.T, axis=1).mad, median_mad(x).mad)


# ---------------------------------------------------------------------------------------------------
# bootstrap


def test_percentile_interval_covers_the_true_mean_about_95_percent_of_the_time():
    # 1000 independent data sets of n = 30 normal samples, one per column; the percentile interval
    # of the mean has coverage ≈ P(|t_29| < 1.96·sqrt(29/30)) ≈ 0.94 at this n
    rng = np.random.default_rng(42)
    data = rng.normal(loc=5.0, scale=2.0, size=(30, 1000))
    r = bootstrap_interval(data, "mean", n_resamples=1000, seed=7)
    coverage = np.mean((r.low <= 5.0) & (5.0 <= r.high))
    assert 0.92 <= coverage <= 0.97, coverage
    assert np.all(r.low < r.estimate) and np.all(r.estimate < r.high)


@pytest.mark.parametrize(("method", "scipy_method"), [("percentile", "percentile"), ("bca", "BCa")])
@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_interval_agrees_with_scipy_bootstrap(method, scipy_method, statistic):
    # many units, so that the discrete bootstrap distribution of the median has small steps
    x = np.random.default_rng(3).gamma(2.0, 1.5, size=201)
    ours = bootstrap_interval(x, statistic, method=method, n_resamples=10_000, seed=1)
    ref = _scipy_bootstrap(x, statistic, scipy_method, seed=2, n_resamples=10_000)  # another seed
    # Monte Carlo tolerance; the median's bootstrap distribution moves in steps of one order statistic
    tol = (0.06 if statistic is np.mean else 0.15) * (ref.high - ref.low)
    assert ours.low == pytest.approx(ref.low, abs=tol)
    assert ours.high == pytest.approx(ref.high, abs=tol)
    assert ours.estimate == statistic(x) and ours.method == method and ours.n == 201


def test_bootstrap_is_seeded_and_per_column_equals_one_column_at_a_time():
    y = np.random.default_rng(5).normal(size=(12, 4))
    r1 = bootstrap_interval(y, "median", n_resamples=300, seed=9, method="bca")
    r2 = bootstrap_interval(y, "median", n_resamples=300, seed=9, method="bca")
    np.testing.assert_array_equal(r1.low, r2.low)
    for j in range(4):
        col = bootstrap_interval(y[:, j], "median", n_resamples=300, seed=9, method="bca")
        assert (col.estimate, col.low, col.high) == (r1.estimate[j], r1.low[j], r1.high[j])
    # units along axis 1
    t = bootstrap_interval(y.T, "median", n_resamples=300, seed=9, method="bca", axis=1)
    np.testing.assert_array_equal(t.high, r1.high)
    # a callable that cannot take axis= is looped over (same numbers)
    slow = bootstrap_interval(y[:, 0], lambda v: float(np.median(v)), n_resamples=300, seed=9)
    assert slow.low == bootstrap_interval(y[:, 0], "median", n_resamples=300, seed=9).low


def test_constant_data_gives_a_zero_width_interval():
    for method in ("percentile", "bca"):
        r = bootstrap_interval([2.0, 2.0, 2.0], "mean", n_resamples=50, method=method)
        assert r.low == r.high == r.estimate == 2.0


def _scorecard(n_init=32, n_lead=5, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.gamma(2.0, 50.0, size=(n_init, n_lead)) * np.arange(1, n_lead + 1)
    return xr.DataArray(
        values,
        dims=("init_time", "lead_time"),
        coords={
            "init_time": np.datetime64("2020-01-01") + np.arange(n_init) * np.timedelta64(12, "h"),
            "lead_time": np.arange(1, n_lead + 1) * np.timedelta64(24, "h"),
        },
        attrs={"units": "m2 s-2"},
        name="rmse_z500",
    )


def _with_nan(da):
    da = da.copy()
    da[3, 1] = np.nan
    return da


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_xarray_version_equals_numpy_version_per_lead(method):
    da = _scorecard()
    ds = bootstrap_interval_xr(da, "init_time", "mean", n_resamples=400, seed=3, method=method)
    ref = bootstrap_interval(da.values, "mean", n_resamples=400, seed=3, method=method)
    assert set(ds.data_vars) == {"estimate", "low", "high"} and ds["low"].dims == ("lead_time",)
    np.testing.assert_array_equal(ds["estimate"].values, ref.estimate)
    np.testing.assert_array_equal(ds["low"].values, ref.low)
    np.testing.assert_array_equal(ds["high"].values, ref.high)
    assert ds.attrs["confidence"] == 0.95 and ds.attrs["n"] == 32 and ds["low"].attrs["units"] == "m2 s-2"
    # dim order and dask chunking do not change the resampled units; dask stays lazy
    lazy = bootstrap_interval_xr(
        da.transpose().chunk({"lead_time": 2, "init_time": 8}), "init_time", "mean", n_resamples=400, seed=3,
        method=method,
    )  # fmt: skip
    assert lazy["low"].chunks is not None
    np.testing.assert_allclose(lazy["low"].values, ref.low, rtol=1e-12)  # summation order: ulps
    np.testing.assert_allclose(lazy["high"].values, ref.high, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------
# paired tests


def test_permutation_exact_p_value_of_a_hand_enumerable_case():
    # d = a - b = (3, 1, 2, -1): observed sum 5 (mean 1.25). With magnitudes 3, 1, 2, 1 the 16 sign
    # patterns give sum = 7 - 2·(flipped magnitudes):
    #   flip nothing: 7 | flip one "1": 5, 5 | flip 2: 3 | flip 1+1: 3 | flip 3: 1 | flip 2+1: 1, 1
    #   flip 3+1: -1, -1 | flip 2+1+1: -1 | flip 3+2: -3 | flip 3+1+1: -3 | flip 3+2+1: -5, -5 | all: -7
    # sums >= 5: 3 patterns -> 3/16; |sum| >= 5: 6 -> 6/16; sums <= 5: 15 -> 15/16
    a = np.array([10.0, 11.0, 12.0, 13.0])
    b = a - np.array([3.0, 1.0, 2.0, -1.0])
    sums = sorted(sum(s * m for s, m in zip(signs, (3, 1, 2, 1), strict=True))
                  for signs in itertools.product((-1, 1), repeat=4))  # fmt: skip
    assert sums == [-7, -5, -5, -3, -3, -1, -1, -1, 1, 1, 1, 3, 3, 5, 5, 7]
    greater = paired_permutation_test(a, b, alternative="greater")
    assert greater.p_value == 3 / 16 and greater.statistic == 1.25 and "exact (16" in greater.method
    assert paired_permutation_test(a, b).p_value == 6 / 16
    assert paired_permutation_test(a, b, alternative="less").p_value == 15 / 16
    assert paired_permutation_test(b, a, alternative="less").p_value == 3 / 16
    # the median of the differences, enumerated the same way
    d = a - b
    null = [np.median(np.array(s) * d) for s in itertools.product((-1, 1), repeat=4)]
    expect = np.mean(np.abs(null) >= abs(np.median(d)) - 1e-12)
    assert paired_permutation_test(a, b, statistic="median").p_value == expect


def test_permutation_monte_carlo_agrees_with_exact():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=12), rng.normal(size=12) + 0.4
    exact = paired_permutation_test(a, b, n_resamples=4096)
    mc = paired_permutation_test(a, b, n_resamples=4095, seed=2)
    assert "exact" in exact.method and "Monte Carlo" in mc.method
    assert mc.p_value == pytest.approx(exact.p_value, abs=0.025)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_wilcoxon_equals_scipy(alternative, zero_method):
    rng = np.random.default_rng(4)
    a = rng.normal(size=15)
    b = a + np.round(rng.normal(0.3, 1.0, size=15), 1)
    b[3] = a[3]  # one zero difference
    ours = paired_wilcoxon_test(a, b, alternative=alternative, zero_method=zero_method)
    ref = stats.wilcoxon(a - b, alternative=alternative, zero_method=zero_method)
    assert ours.statistic == ref.statistic and ours.p_value == ref.pvalue
    asym = paired_wilcoxon_test(a, b, alternative=alternative, method="asymptotic")
    method = "asymptotic" if tuple(map(int, scipy.__version__.split(".")[:2])) >= (1, 13) else "approx"
    assert asym.p_value == stats.wilcoxon(a - b, alternative=alternative, method=method).pvalue


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_t_test_without_correction_equals_ttest_rel(alternative):
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(25, 3)), rng.normal(size=(25, 3)) + 0.2
    ours = paired_t_test(a, b, alternative=alternative)
    ref = stats.ttest_rel(a, b, alternative=alternative)
    np.testing.assert_allclose(ours.statistic, ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(ours.p_value, ref.pvalue, rtol=1e-10)
    assert ours.df == 24 and np.all(ours.inflation_factor == 1.0)


def test_ar2_factor_is_one_without_autocorrelation_and_above_one_for_positive_ar1():
    # r1 = r2 = 0 exactly: lag-1 products 1·0 + 0·0 + 0·(-1) + (-1)·0 + 0·0, lag-2 likewise
    assert ar2_inflation_factor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0]) == 1.0
    rng = np.random.default_rng(0)
    assert ar2_inflation_factor(rng.normal(size=4000)) == pytest.approx(1.0, abs=0.1)
    phi, e = 0.7, rng.normal(size=4000)
    x = np.zeros_like(e)
    for t in range(1, len(e)):
        x[t] = phi * x[t - 1] + e[t]
    k = ar2_inflation_factor(x)
    assert k > 1.5 and k == pytest.approx(np.sqrt((1 + phi) / (1 - phi)), rel=0.2)  # AR(1): sqrt((1+φ)/(1-φ))
    # the corrected test: same t up to k, wider standard error, same df
    b = np.zeros_like(x)
    iid, ar2 = paired_t_test(x + 0.1, b), paired_t_test(x + 0.1, b, autocorrelation="ar2")
    assert (
        ar2.statistic == pytest.approx(iid.statistic / k) and ar2.p_value > iid.p_value and ar2.df == iid.df
    )


def test_a_constant_shift_is_detected_and_identical_models_are_not():
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 1.0, size=30)  # per-unit difficulty shared by both models
    a = base + rng.normal(0.0, 0.1, size=30)
    b = base + 0.3 + rng.normal(0.0, 0.1, size=30)
    tests = [paired_permutation_test, paired_wilcoxon_test, paired_t_test,
             lambda a, b: paired_t_test(a, b, autocorrelation="ar2")]  # fmt: skip
    for test in tests:
        assert test(a, b).p_value < 0.01
        assert test(a, base + 0.3).p_value < 0.01  # an exact constant shift
        same = test(a, a.copy())
        assert same.p_value == 1.0 and same.mean_difference == 0.0
    assert paired_t_test(a, a + 0.5, alternative="less").p_value == 0.0
    assert paired_t_test(a, a + 0.5, alternative="greater").p_value == 1.0


def test_results_are_frozen_and_exported():
    r = paired_t_test([1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    with pytest.raises(AttributeError):
        r.p_value = 0.0  # type: ignore[misc]
    for name in ("median_mad", "bootstrap_interval", "bootstrap_interval_xr", "paired_permutation_test",
                 "paired_wilcoxon_test", "paired_t_test", "ar2_inflation_factor", "BootstrapInterval",
                 "MedianMAD", "PairedTest", "PairedTTest"):  # fmt: skip
        assert name in pm.__all__ and getattr(pm, name) is not None


# ---------------------------------------------------------------------------------------------------
# bad input

_X = [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: paired_permutation_test(_X, _X[:3]), MetricInputError, ("a and b", "4", "3")),
        (lambda: paired_wilcoxon_test(_X, _X[:3]), MetricInputError, ("a and b", "same units")),
        (lambda: paired_t_test(_X, [_X, _X]), MetricInputError, ("a and b",)),
        (lambda: paired_t_test([1.0], [2.0]), MetricInputError, ("at least 2",)),
        (
            lambda: paired_t_test([1.0, 2.0], [2.0, 1.0], autocorrelation="ar2"),
            MetricInputError,
            ("at least 3",),
        ),
        (lambda: ar2_inflation_factor([1.0, 2.0]), MetricInputError, ("series", "at least 3")),
        (lambda: median_mad([1.0]), MetricInputError, ("values", "at least 2")),
        (lambda: bootstrap_interval([3.0]), MetricInputError, ("values", "at least 2")),
        (lambda: bootstrap_interval([1.0, np.nan, 2.0]), NonFiniteInputError, ("values", "NaN", "unit 1")),
        (lambda: median_mad([1.0, np.inf]), NonFiniteInputError, ("values", "unit 1")),
        (lambda: paired_permutation_test(_X, [1.0, 2.0, np.nan, 4.0]), NonFiniteInputError, ("b", "unit 2")),
        (lambda: paired_wilcoxon_test([np.inf, 1, 2], [1, 2, 3]), NonFiniteInputError, ("a", "unit 0")),
        (lambda: bootstrap_interval(_X, confidence=1.0), MetricInputError, ("confidence", "between 0 and 1")),
        (lambda: bootstrap_interval(_X, confidence=0.0), MetricInputError, ("confidence",)),
        (lambda: bootstrap_interval(_X, confidence=95), MetricInputError, ("confidence",)),
        (lambda: bootstrap_interval(_X, n_resamples=0), MetricInputError, ("n_resamples", "at least 1")),
        (lambda: paired_permutation_test(_X, _X, n_resamples=-5), MetricInputError, ("n_resamples",)),
        (lambda: bootstrap_interval(_X, n_resamples=10.5), MetricTypeError, ("n_resamples", "integer")),
        (
            lambda: bootstrap_interval(_X, method="bootstrap-t"),
            MetricKeyError,
            ("method", "'percentile'", "'bca'"),
        ),
        (lambda: bootstrap_interval(_X, statistic="mode"), MetricKeyError, ("statistic", "'mode'")),
        (lambda: bootstrap_interval(_X, statistic=3), MetricTypeError, ("statistic",)),
        (lambda: bootstrap_interval(_X, seed="x"), MetricTypeError, ("seed",)),
        (lambda: median_mad(_X, scale="gaussian"), MetricKeyError, ("scale", "'raw'", "'normal'")),
        (
            lambda: paired_permutation_test(_X, _X, alternative="two_sided"),
            MetricKeyError,
            ("alternative", "'two-sided'"),
        ),  # fmt: skip
        (lambda: paired_permutation_test(_X, _X, statistic="trimmed"), MetricKeyError, ("statistic",)),
        (
            lambda: paired_wilcoxon_test(_X, _X, zero_method="drop"),
            MetricKeyError,
            ("zero_method", "'pratt'"),
        ),
        (lambda: paired_wilcoxon_test(_X, _X, method="approx"), MetricKeyError, ("method", "'asymptotic'")),
        (lambda: paired_t_test(_X, _X, alternative="bigger"), MetricKeyError, ("alternative",)),
        (lambda: paired_t_test(_X, _X, autocorrelation="ar1"), MetricKeyError, ("autocorrelation", "'ar2'")),
        (lambda: median_mad(_X, axis=2), MetricInputError, ("axis",)),
        (lambda: median_mad(["a", "b"]), MetricTypeError, ("values", "numbers")),
        (lambda: median_mad(3.0), MetricInputError, ("values", "single number")),
        (
            lambda: bootstrap_interval_xr(_scorecard(), "member"),
            MetricInputError,
            ("dim", "member", "init_time"),
        ),
        (lambda: bootstrap_interval_xr(_scorecard().to_dataset()), MetricTypeError, ("DataArray",)),
        (lambda: bootstrap_interval_xr(_scorecard(n_init=1)), MetricInputError, ("at least 2", "init_time")),
        (lambda: bootstrap_interval_xr(_scorecard(), confidence=1.5), MetricInputError, ("confidence",)),
        (
            lambda: bootstrap_interval_xr(_with_nan(_scorecard())),
            NonFiniteInputError,
            ("da", "init_time", "unit 3"),
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


def test_paired_tests_per_column_equal_one_column_at_a_time():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + [0.0, 0.5, 1.0]
    for test in (paired_permutation_test, paired_wilcoxon_test, paired_t_test):
        whole = test(a, b)
        np.testing.assert_array_equal(test(a.T, b.T, axis=1).p_value, whole.p_value)
        for j in range(3):
            col = test(a[:, j], b[:, j])
            assert col.p_value == pytest.approx(whole.p_value[j], rel=1e-12)
            assert col.statistic == pytest.approx(whole.statistic[j], rel=1e-12)
