"""Paired tests of a model against a baseline scored on the same experimental units.

Both models are scored on the same units — training seeds, initial conditions, forecast init
times — so the comparison is made on the per-unit differences ``d_i = a_i − b_i``, which removes the
unit-to-unit variation both share (the paired design of WeatherBench-X, where a difference of
means is the mean of per-init differences: ``weatherbenchX/statistical_inference/``,
github.com/google-research/weatherbench-x).

* :func:`paired_permutation_test` — sign-flip permutation test of the mean or median difference
  (exact enumeration of the 2ⁿ sign patterns when that is no more than ``n_resamples``; Good 2005,
  *Permutation, Parametric and Bootstrap Tests of Hypotheses*, 3rd ed., Springer).
* :func:`paired_wilcoxon_test` — the Wilcoxon signed-rank test (Wilcoxon 1945, Biometrics Bulletin
  1:80), computed by ``scipy.stats.wilcoxon``.
* :func:`paired_t_test` — the t-test of the mean difference, for independent units or with the
  AR(2) correction of the standard error for serially correlated init times (Geer 2016, Tellus A
  68:30229; WeatherBench-X ``t_test.GeerAR2Corrected``); :func:`ar2_inflation_factor` is its k.

``alternative`` is about ``a − b``: ``"less"`` means a scores lower than b (for an error such as
RMSE or D_stsp: a is better), ``"greater"`` the opposite. Arrays carry the units along ``axis``
(0 by default); other axes (lead times …) are tested side by side, one p-value each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy
from scipy import stats

from ._units import ALTERNATIVES, as_paired_units, check_choice, check_n_resamples, make_rng
from ._units import scalar_or_array as _out
from .errors import MetricInputError

__all__ = [
    "PairedTTest",
    "PairedTest",
    "ar2_inflation_factor",
    "paired_permutation_test",
    "paired_t_test",
    "paired_wilcoxon_test",
]

_BUDGET = 1 << 22  # float64 elements held at once for the median over sign patterns


@dataclass(frozen=True)
class PairedTest:
    """The result of a paired test of ``a`` against ``b`` on ``n`` shared units.

    ``statistic`` is the test's own statistic (see each function), ``mean_difference`` and
    ``median_difference`` summarise ``a − b``; ``method`` says how the p-value was obtained.
    Floats for 1-D input, arrays over the non-unit axes otherwise.
    """

    statistic: Any
    p_value: Any
    n: int
    mean_difference: Any
    median_difference: Any
    alternative: str
    method: str


@dataclass(frozen=True)
class PairedTTest(PairedTest):
    """A :class:`PairedTest` of the t-test, with its standard error of the mean difference, degrees
    of freedom and the autocorrelation inflation factor k (1 without correction)."""

    standard_error: Any
    df: int
    inflation_factor: Any
    autocorrelation: str


def _summary(d: np.ndarray) -> dict[str, Any]:
    return {
        "n": int(d.shape[0]),
        "mean_difference": _out(d.mean(axis=0)),
        "median_difference": _out(np.median(d, axis=0)),
    }


# ---------------------------------------------------------------------------------------------------
# sign-flip permutation


def _sign_statistics(signs: np.ndarray, d: np.ndarray, statistic: str) -> np.ndarray:
    """The statistic of ``signs[k] * d`` for every sign pattern k: shape ``(k, *rest)``."""
    n, rest = d.shape[0], d.shape[1:]
    if statistic == "mean":
        return np.tensordot(signs, d, axes=(1, 0)) / n
    step = max(1, _BUDGET // max(1, n * int(np.prod(rest, dtype=np.int64))))
    s = signs.reshape(signs.shape + (1,) * len(rest))
    return np.concatenate(
        [np.median(s[i : i + step] * d, axis=1) for i in range(0, len(signs), step)], axis=0
    )


def paired_permutation_test(
    a: Any,
    b: Any,
    *,
    statistic: str = "mean",
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: Any = 0,
    axis: int = 0,
) -> PairedTest:
    """Sign-flip permutation test of the mean (or median) per-unit difference ``d = a − b``.

    Under the null hypothesis the distribution of each ``d_i`` is symmetric about 0 (the two models
    are exchangeable on every unit), so every sign pattern ``s ∈ {−1, +1}ⁿ`` is equally likely and
    ``T(s) = stat(s_i d_i)`` is the null distribution of ``T = stat(d_i)`` (Good 2005, sec. 3.1).
    p-values: ``P(T(s) ≥ T)`` (``"greater"``), ``P(T(s) ≤ T)`` (``"less"``),
    ``P(|T(s)| ≥ |T|)`` (``"two-sided"``), with a relative tolerance of a few ulps for ties.

    * exact when ``2ⁿ ≤ n_resamples``: all 2ⁿ patterns enumerated, p = count / 2ⁿ;
    * otherwise Monte Carlo over ``n_resamples`` random patterns, ``p = (1 + count) / (1 + B)`` (which
      keeps the test valid; Phipson & Smyth 2010, Stat. Appl. Genet. Mol. Biol. 9:39).

    Identical models (all ``d_i = 0``) give p = 1. Returns :class:`PairedTest` with
    ``statistic = T`` (the mean or median difference).

    Args:
        a, b: per-unit scores of the model and the baseline, same shape, units along ``axis``
            (≥ 2 units, finite).
        statistic: ``"mean"`` or ``"median"`` of the differences.
        alternative: ``"two-sided"``, ``"less"`` (a < b) or ``"greater"`` (a > b).
        n_resamples: number of random sign patterns (and the threshold for exact enumeration).
        seed: for ``np.random.default_rng`` (used only by the Monte Carlo version).
        axis: the unit axis.
    """
    check_choice(statistic, "statistic", ("mean", "median"))
    check_choice(alternative, "alternative", ALTERNATIVES)
    n_resamples = check_n_resamples(n_resamples)
    d = as_paired_units(a, b, axis=axis)
    n = d.shape[0]
    exact = n < 63 and 2**n <= n_resamples
    if exact:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0
        method = f"sign-flip permutation, exact ({2**n} sign patterns)"
    else:
        signs = make_rng(seed).integers(0, 2, size=(n_resamples, n)) * 2.0 - 1.0
        method = f"sign-flip permutation, Monte Carlo ({n_resamples} sign patterns)"
    observed = _sign_statistics(np.ones((1, n)), d, statistic)[0]
    null = _sign_statistics(signs, d, statistic)
    tol = 64 * np.finfo(np.float64).eps * np.max(np.abs(d), axis=0)
    if alternative == "greater":
        count = np.sum(null >= observed - tol, axis=0)
    elif alternative == "less":
        count = np.sum(null <= observed + tol, axis=0)
    else:
        count = np.sum(np.abs(null) >= np.abs(observed) - tol, axis=0)
    p = count / len(signs) if exact else (count + 1.0) / (n_resamples + 1.0)
    return PairedTest(
        statistic=_out(observed),
        p_value=_out(np.minimum(p, 1.0)),
        alternative=alternative,
        method=method,
        **_summary(d),
    )


# ---------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank


def _scipy_wilcoxon_method(method: str) -> str:
    if method != "asymptotic":
        return method
    major, minor = (int(v) for v in scipy.__version__.split(".")[:2])
    return "asymptotic" if (major, minor) >= (1, 13) else "approx"  # renamed in scipy 1.13


def paired_wilcoxon_test(
    a: Any,
    b: Any,
    *,
    alternative: str = "two-sided",
    zero_method: str = "wilcox",
    method: str = "auto",
    correction: bool = False,
    axis: int = 0,
) -> PairedTest:
    """Wilcoxon signed-rank test of the per-unit differences ``d = a − b`` (Wilcoxon 1945).

    The ranks of ``|d_i|`` are summed separately over positive and negative differences (R⁺, R⁻);
    under the null hypothesis (``d`` symmetric about 0) R⁺ has a known distribution. Computed by
    ``scipy.stats.wilcoxon`` with the same arguments; ``statistic`` is what scipy reports (for
    ``"two-sided"`` min(R⁺, R⁻), otherwise R⁺).

    Zero differences (a unit on which both models score the same), ``zero_method``:

    * ``"wilcox"`` (default, as scipy): dropped before ranking — the test then uses only the
      non-zero differences;
    * ``"pratt"``: ranked with the others, then their ranks dropped (Pratt 1959);
    * ``"zsplit"``: ranked, and their ranks split equally between R⁺ and R⁻.

    If every difference is zero (identical models) the result is ``statistic = 0``, ``p = 1`` with
    ``method`` saying so (scipy raises or returns NaN there, depending on its version).

    Args:
        a, b: per-unit scores of the model and the baseline, same shape, units along ``axis``
            (≥ 2 units, finite).
        alternative: ``"two-sided"``, ``"less"`` (a < b) or ``"greater"`` (a > b).
        zero_method: ``"wilcox"``, ``"pratt"`` or ``"zsplit"``.
        method: ``"auto"``, ``"exact"`` or ``"asymptotic"`` (normal approximation), as scipy.
        correction: continuity correction of the normal approximation.
        axis: the unit axis.
    """
    check_choice(alternative, "alternative", ALTERNATIVES)
    check_choice(zero_method, "zero_method", ("wilcox", "pratt", "zsplit"))
    check_choice(method, "method", ("auto", "exact", "asymptotic"))
    d = as_paired_units(a, b, axis=axis)
    rest = d.shape[1:]
    cols = d.reshape(d.shape[0], -1)
    stat = np.zeros(cols.shape[1])
    p = np.ones(cols.shape[1])
    all_zero = np.all(cols == 0, axis=0)
    for j in np.flatnonzero(~all_zero):  # one call per column: identical columns are handled here
        res = stats.wilcoxon(
            cols[:, j],
            zero_method=zero_method,
            correction=bool(correction),
            alternative=alternative,
            method=_scipy_wilcoxon_method(method),
        )
        stat[j], p[j] = float(res.statistic), float(res.pvalue)
    text = f"Wilcoxon signed-rank (scipy.stats.wilcoxon, method={method!r}, zero_method={zero_method!r})"
    if all_zero.all():
        text = "Wilcoxon signed-rank: every difference is zero (identical scores), p = 1"
    elif all_zero.any():
        text += f"; {int(all_zero.sum())} column(s) with every difference zero get p = 1"
    return PairedTest(
        statistic=_out(stat.reshape(rest)),
        p_value=_out(p.reshape(rest)),
        alternative=alternative,
        method=text,
        **_summary(d),
    )


# ---------------------------------------------------------------------------------------------------
# t-test, IID or AR(2)-corrected


def _lag_autocorrelation(d: np.ndarray, lag: int) -> np.ndarray:
    """Sample autocorrelation ``r_k = Σ_t (d_t − d̄)(d_{t+k} − d̄) / Σ_t (d_t − d̄)²`` along axis 0."""
    dev = d - d.mean(axis=0)
    den = np.sum(dev**2, axis=0)
    num = np.sum(dev[:-lag] * dev[lag:], axis=0)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _ar2_k(d: np.ndarray) -> np.ndarray:
    r1, r2 = _lag_autocorrelation(d, 1), _lag_autocorrelation(d, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi1 = r1 * (1.0 - r2) / (1.0 - r1**2)
        phi2 = (r2 - r1**2) / (1.0 - r1**2)
        k2 = (1.0 - r1 * phi1 - r2 * phi2) / (1.0 - phi1 - phi2) ** 2
    bad = ~np.isfinite(k2) | (k2 <= 0)
    if np.any(bad):
        where = "" if np.ndim(k2) == 0 else f" at index {tuple(int(i) for i in np.argwhere(bad)[0])}"
        raise MetricInputError(
            f"a - b: the AR(2) fit of the differences is not stationary{where} (lag-1 autocorrelation "
            f"{np.asarray(r1)[bad].flat[0]:.3g}, lag-2 {np.asarray(r2)[bad].flat[0]:.3g}); the AR(2) correction "
            "does not apply — use a longer series or a block bootstrap"
        )
    return np.sqrt(k2)


def ar2_inflation_factor(series: Any, *, axis: int = 0) -> Any:
    """Geer (2016) AR(2) inflation factor k of the standard error of a mean of a correlated series.

    From the lag-1 and lag-2 sample autocorrelations ``r₁, r₂`` (``r_k = Σ(d_t − d̄)(d_{t+k} − d̄) /
    Σ(d_t − d̄)²``), the Yule–Walker AR(2) coefficients ``φ₁ = r₁(1 − r₂)/(1 − r₁²)``,
    ``φ₂ = (r₂ − r₁²)/(1 − r₁²)`` give ``k² = (1 − r₁φ₁ − r₂φ₂) / (1 − φ₁ − φ₂)²`` (Geer 2016, Tellus A
    68:30229; WeatherBench-X ``t_test.GeerAR2Corrected``). k = 1 without autocorrelation, k > 1 for
    positive autocorrelation (fewer effective units), k < 1 for negative. The series must be in
    time order with a uniform step (e.g. init times every 12 h), ≥ 3 values along ``axis``.
    """
    from ._units import as_units

    d = as_units(series, "series", axis=axis, min_units=3)
    return _out(_ar2_k(d))


def paired_t_test(
    a: Any,
    b: Any,
    *,
    autocorrelation: str = "none",
    alternative: str = "two-sided",
    axis: int = 0,
) -> PairedTTest:
    """Paired t-test of the mean per-unit difference ``d = a − b``, optionally AR(2)-corrected.

    ``t = d̄ / (k · s / √T)`` with ``s`` the standard deviation of the ``d_t`` (ddof = 1), T units and
    ``T − 1`` degrees of freedom (WeatherBench-X ``t_test``):

    * ``autocorrelation="none"``: k = 1, the IID t-test — equal to ``scipy.stats.ttest_rel(a, b)``;
    * ``autocorrelation="ar2"``: k from :func:`ar2_inflation_factor` of the differences (Geer 2016,
      Tellus A 68:30229), for serially correlated units such as consecutive init times (given in time
      order with a uniform step; ≥ 3 units). As in WeatherBench-X the degrees of freedom stay T − 1,
      which is over-optimistic for small T or strong autocorrelation.

    When every difference is the same (s = 0) the test is degenerate: identical models (d = 0) give
    t = 0 and p = 1; a constant non-zero shift gives t = ±inf and p = 0 for the alternative it
    supports (``scipy.stats.ttest_rel`` returns NaN for the former).

    Returns :class:`PairedTTest` (``statistic = t``, ``standard_error = k s/√T``, ``df``, ``inflation_factor = k``).
    """
    check_choice(autocorrelation, "autocorrelation", ("none", "ar2"))
    check_choice(alternative, "alternative", ALTERNATIVES)
    d = as_paired_units(a, b, axis=axis, min_units=3 if autocorrelation == "ar2" else 2)
    n = d.shape[0]
    mean = d.mean(axis=0)
    se_iid = d.std(axis=0, ddof=1) / np.sqrt(n)
    k = _ar2_k(d) if autocorrelation == "ar2" else np.ones_like(mean)
    se = k * se_iid
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / np.where(se > 0, se, 1.0), np.sign(mean) * np.inf)
    t = np.where((se == 0) & (mean == 0), 0.0, t)
    df = n - 1
    if alternative == "greater":
        p = stats.t.sf(t, df)
    elif alternative == "less":
        p = stats.t.cdf(t, df)
    else:
        p = np.where(t == 0, 1.0, 2.0 * stats.t.sf(np.abs(t), df))
    method = (
        "paired t-test, IID units"
        if autocorrelation == "none"
        else "paired t-test, Geer (2016) AR(2)-corrected"
    )
    return PairedTTest(
        statistic=_out(t),
        p_value=_out(np.minimum(p, 1.0)),
        alternative=alternative,
        method=method + f", t({df})",
        standard_error=_out(se),
        df=df,
        inflation_factor=_out(k),
        autocorrelation=autocorrelation,
        **_summary(d),
    )
