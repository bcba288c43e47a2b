"""Summaries over experimental units: median ± MAD and bootstrap confidence intervals.

A score is computed once per *experimental unit* — a training seed, an initial condition, a forecast
initialisation time — and reports summarise the per-unit scores. Arrays carry the units along
``axis`` (0 by default), any other axes (lead times, variables …) are summarised side by side;
xarray inputs name the unit dimension (``dim="init_time"``). Paired tests of one model against a
baseline scored on the same units are in :mod:`physics_metrics.paired_tests`.

* :func:`median_mad` — median ± median absolute deviation, as the GTF / shPLRNN papers print them
  over training runs (Hess et al., ICML 2023), raw or scaled to be normal-consistent.
* :func:`bootstrap_interval`, :func:`bootstrap_interval_xr` — nonparametric bootstrap intervals
  (percentile or BCa; Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13-14) of
  any statistic of the per-unit scores, the IID bootstrap of WeatherBench-X
  (``weatherbenchX/statistical_inference/bootstrap.py``, github.com/google-research/weatherbench-x)
  with an explicit seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ._units import as_units, check_all_finite, check_choice, check_confidence, check_n_resamples, make_rng
from ._units import scalar_or_array as _out
from .errors import MetricInputError, MetricKeyError, MetricTypeError

__all__ = [
    "MAD_NORMAL_SCALE",
    "BootstrapInterval",
    "MedianMAD",
    "bootstrap_interval",
    "bootstrap_interval_xr",
    "median_mad",
]

#: 1 / Φ⁻¹(3/4): the MAD times this estimates σ for normally distributed data.
MAD_NORMAL_SCALE = float(1.0 / special.ndtri(0.75))  # 1.482602218505602

_BUDGET = 1 << 22  # float64 elements (32 MiB) of resampled data held at once


# ---------------------------------------------------------------------------------------------------
# median ± MAD


@dataclass(frozen=True)
class MedianMAD:
    """Median and median absolute deviation of per-unit scores.

    ``mad`` is ``scale_factor · median_i |x_i − median(x)|``; ``scale`` records which convention
    (``"raw"``: factor 1; ``"normal"``: factor :data:`MAD_NORMAL_SCALE` = 1.4826). Floats for 1-D
    input, arrays over the non-unit axes otherwise.
    """

    median: Any
    mad: Any
    scale: str
    scale_factor: float
    n: int

    def __str__(self) -> str:
        if np.ndim(self.median) == 0:
            return f"{self.median:.4g} ± {self.mad:.4g} (median ± MAD, {self.scale}, n={self.n})"
        return f"MedianMAD(median={self.median}, mad={self.mad}, scale={self.scale!r}, n={self.n})"


def median_mad(values: Any, *, scale: str = "raw", axis: int = 0) -> MedianMAD:
    """Median and median absolute deviation over units (seeds, initial conditions, init times).

    ``median = med_i x_i``, ``MAD = c · med_i |x_i − median|`` along ``axis`` with
    ``c = 1`` for ``scale="raw"`` (the default: the number the GTF / shPLRNN papers print as
    "median ± MAD" over training runs, Hess et al., ICML 2023) or ``c = 1/Φ⁻¹(3/4) ≈ 1.4826`` for
    ``scale="normal"`` (a consistent estimator of σ for normal data; Rousseeuw & Croux 1993,
    JASA 88:1273). Whether a paper scaled its MAD is rarely stated, so the result records which.

    Args:
        values: per-unit scores, units along ``axis`` (numpy, torch, sequence; ≥ 2 units, finite).
        scale: ``"raw"`` or ``"normal"``.
        axis: the unit axis.

    Returns:
        :class:`MedianMAD` (floats for 1-D input, arrays over the other axes otherwise).
    """
    check_choice(scale, "scale", ("raw", "normal"))
    x = as_units(values, "values", axis=axis)
    med = np.median(x, axis=0)
    factor = 1.0 if scale == "raw" else MAD_NORMAL_SCALE
    mad = factor * np.median(np.abs(x - med), axis=0)
    return MedianMAD(median=_out(med), mad=_out(mad), scale=scale, scale_factor=factor, n=int(x.shape[0]))


# ---------------------------------------------------------------------------------------------------
# bootstrap


@dataclass(frozen=True)
class BootstrapInterval:
    """A bootstrap confidence interval ``[low, high]`` around ``estimate`` (the statistic of the data).

    Floats for 1-D input, arrays over the non-unit axes otherwise. ``n``: units; ``method``:
    ``"percentile"`` or ``"bca"``; ``statistic``: the statistic's name.
    """

    estimate: Any
    low: Any
    high: Any
    confidence: float
    method: str
    n: int
    n_resamples: int
    statistic: str


_NAMED = {"mean": np.mean, "median": np.median}


def _resolve_statistic(statistic: Any, vectorized: bool | None) -> tuple[Callable, str, bool]:
    if isinstance(statistic, str):
        if statistic not in _NAMED:
            raise MetricKeyError(
                f"statistic: unknown name {statistic!r}; expected 'mean', 'median' or a callable"
            )
        return _NAMED[statistic], statistic, True
    if not callable(statistic):
        raise MetricTypeError(f"statistic: expected 'mean', 'median' or a callable, got {statistic!r}")
    name = getattr(statistic, "__name__", type(statistic).__name__)
    if vectorized is None:
        try:
            vectorized = "axis" in inspect.signature(statistic).parameters
        except (TypeError, ValueError):  # some builtins have no signature
            vectorized = False
    return statistic, name, bool(vectorized)


def _apply(
    statistic: Callable, vectorized: bool, x: np.ndarray, axis: int, expected: tuple[int, ...]
) -> np.ndarray:
    """``statistic`` of ``x`` along ``axis``, checked to have shape ``expected``."""
    if vectorized:
        out = np.asarray(statistic(x, axis=axis), dtype=np.float64)
    else:  # a Python loop over every sample: slow, for statistics that cannot take ``axis``
        out = np.asarray(np.apply_along_axis(statistic, axis, x), dtype=np.float64)
    if out.shape != expected:
        raise MetricInputError(
            f"statistic: returned shape {out.shape} for input {x.shape} reduced along axis {axis}, expected {expected}"
        )
    return out


def _quantile_per_column(sorted_reps: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` (one per column) of replicates sorted along axis 0; numpy's "linear" rule."""
    n_rep = sorted_reps.shape[0]
    h = np.clip(q, 0.0, 1.0) * (n_rep - 1)
    lo = np.floor(h).astype(np.intp)
    hi = np.minimum(lo + 1, n_rep - 1)
    frac = h - lo
    lo_v = np.take_along_axis(sorted_reps, lo[None], axis=0)[0]
    hi_v = np.take_along_axis(sorted_reps, hi[None], axis=0)[0]
    return lo_v + frac * (hi_v - lo_v)


def _jackknife(statistic: Callable, vectorized: bool, x: np.ndarray) -> np.ndarray:
    """Leave-one-out statistics θ_(i), shape ``(n, *rest)``."""
    n = x.shape[0]
    keep = ~np.eye(n, dtype=bool)
    idx = np.nonzero(keep)[1].reshape(n, n - 1)  # row i: every unit but i
    rest = x.shape[1:]
    step = max(1, _BUDGET // max(1, (n - 1) * int(np.prod(rest, dtype=np.int64))))
    out = [
        _apply(statistic, vectorized, x[idx[i : i + step]], 1, (min(step, n - i), *rest))
        for i in range(0, n, step)
    ]
    return np.concatenate(out, axis=0)


def _bootstrap_core(
    x: np.ndarray,
    statistic: Callable,
    vectorized: bool,
    *,
    confidence: float,
    n_resamples: int,
    method: str,
    seed: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, low, high of ``statistic`` over axis 0 of the validated array ``x``."""
    n, rest = x.shape[0], x.shape[1:]
    estimate = _apply(statistic, vectorized, x, 0, rest)
    if not np.all(np.isfinite(estimate)):
        raise MetricInputError("statistic: returned NaN/inf on the data")
    rng = make_rng(seed)
    # the same resampled units for every column (lead, variable): a joint bootstrap over units, and
    # results that do not depend on how the other axes are chunked
    idx = rng.integers(0, n, size=(n_resamples, n))
    step = max(1, _BUDGET // max(1, n * int(np.prod(rest, dtype=np.int64))))
    reps = np.concatenate(
        [
            _apply(statistic, vectorized, x[idx[i : i + step]], 1, (min(step, n_resamples - i), *rest))
            for i in range(0, n_resamples, step)
        ],
        axis=0,
    )
    alpha = (1.0 - confidence) / 2.0
    reps.sort(axis=0)
    degenerate = reps[0] == reps[-1]  # every replicate equal (e.g. constant data): a zero-width interval
    if method == "percentile":
        q_low = np.full(rest, alpha)
        q_high = np.full(rest, 1.0 - alpha)
    else:  # BCa, Efron & Tibshirani (1993) eqs. 14.9-14.15
        # ties with the estimate count half (the "mean" percentile of score, as scipy.stats.bootstrap):
        # the bootstrap distribution of a median is discrete and often hits the estimate itself
        below = (np.sum(reps < estimate, axis=0) + np.sum(reps <= estimate, axis=0)) / (2.0 * n_resamples)
        z0 = special.ndtri(below)
        bad = ~np.isfinite(z0) & ~degenerate
        if np.any(bad):
            where = "" if not rest else f" at index {tuple(int(i) for i in np.argwhere(bad)[0])}"
            raise MetricInputError(
                f"method: 'bca' is undefined here{where}: every bootstrap replicate lies on one side of the "
                "estimate (bias correction z0 = ±inf); use method='percentile'"
            )
        theta = _jackknife(statistic, vectorized, x)
        dev = theta.mean(axis=0) - theta
        num = np.sum(dev**3, axis=0)
        den = 6.0 * np.sum(dev**2, axis=0) ** 1.5
        accel = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        z_lo, z_hi = special.ndtri(alpha), special.ndtri(1.0 - alpha)
        with np.errstate(invalid="ignore", divide="ignore"):  # degenerate columns are replaced below
            q_low = special.ndtr(z0 + (z0 + z_lo) / (1.0 - accel * (z0 + z_lo)))
            q_high = special.ndtr(z0 + (z0 + z_hi) / (1.0 - accel * (z0 + z_hi)))
        q_low = np.where(degenerate, 0.5, q_low)
        q_high = np.where(degenerate, 0.5, q_high)
    low = _quantile_per_column(reps, np.asarray(q_low))
    high = _quantile_per_column(reps, np.asarray(q_high))
    return estimate, low, high


def bootstrap_interval(
    values: Any,
    statistic: str | Callable = "median",
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    method: str = "percentile",
    seed: Any = 0,
    axis: int = 0,
    vectorized: bool | None = None,
) -> BootstrapInterval:
    """Nonparametric bootstrap confidence interval of a statistic of per-unit scores.

    The units (seeds, initial conditions, init times) along ``axis`` are resampled with replacement
    ``n_resamples`` times (the same resampled units for every column of the other axes, so leads are
    resampled jointly); the statistic of each resample gives replicates θ*_b, b = 1…B.

    * ``method="percentile"``: ``[Q(α/2), Q(1 − α/2)]`` of the θ*_b, α = 1 − ``confidence``
      (Efron & Tibshirani 1993, eq. 13.5; quantiles by numpy's linear interpolation).
    * ``method="bca"``: bias-corrected and accelerated, ``[Q(α₁), Q(α₂)]`` with
      ``α_{1,2} = Φ(z₀ + (z₀ + z_{α/2, 1−α/2}) / (1 − â (z₀ + z_{α/2, 1−α/2})))``,
      ``z₀ = Φ⁻¹((#{θ*_b < θ̂} + #{θ*_b ≤ θ̂}) / 2B)`` (ties with θ̂ count half) and the jackknife acceleration
      ``â = Σ(θ̄₍.₎ − θ₍ᵢ₎)³ / (6 [Σ(θ̄₍.₎ − θ₍ᵢ₎)²]^{3/2})`` (Efron & Tibshirani 1993, eqs. 14.9-14.15;
      the same rule as ``scipy.stats.bootstrap``). Raises where z₀ is infinite (every replicate on
      one side of θ̂).

    Resampling is vectorised: a statistic that takes ``axis=`` (``np.mean``, ``np.median``, the names
    ``"mean"``/``"median"``, or any ``f(x, axis)``) is applied to a ``(batch, n, …)`` block of resamples.
    For RMSE over init times, bootstrap the per-init MSE with
    ``statistic=lambda x, axis: np.sqrt(np.mean(x, axis=axis))`` (the RMSE of the resample, as
    WeatherBench-X aggregates) rather than per-init RMSEs.

    The IID bootstrap assumes independent units; serially correlated init times need a block
    bootstrap or :func:`physics_metrics.paired_tests.paired_t_test` with ``autocorrelation="ar2"``.

    Args:
        values: per-unit scores, units along ``axis``: ``(n_units,)`` or e.g. ``(n_inits, n_leads)``
            (numpy, torch, sequence; ≥ 2 units; finite).
        statistic: ``"median"`` (default), ``"mean"``, or a callable (with ``axis=`` to be vectorised).
        confidence: coverage in (0, 1).
        n_resamples: B, ≥ 1.
        method: ``"percentile"`` or ``"bca"``.
        seed: for ``np.random.default_rng`` (an int, a Generator, or None for fresh entropy); the
            same seed gives the same interval.
        axis: the unit axis.
        vectorized: whether ``statistic`` takes ``axis=``; detected from its signature when None.

    Returns:
        :class:`BootstrapInterval` (floats for 1-D input, arrays over the other axes otherwise).
    """
    confidence = check_confidence(confidence)
    n_resamples = check_n_resamples(n_resamples)
    check_choice(method, "method", ("percentile", "bca"))
    func, name, vec = _resolve_statistic(statistic, vectorized)
    x = as_units(values, "values", axis=axis, min_units=2)
    est, low, high = _bootstrap_core(
        x, func, vec, confidence=confidence, n_resamples=n_resamples, method=method, seed=seed
    )
    return BootstrapInterval(
        estimate=_out(est),
        low=_out(low),
        high=_out(high),
        confidence=confidence,
        method=method,
        n=int(x.shape[0]),
        n_resamples=n_resamples,
        statistic=name,
    )


def bootstrap_interval_xr(
    da: Any,
    dim: str = "init_time",
    statistic: str | Callable = "median",
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    method: str = "percentile",
    seed: Any = 0,
    vectorized: bool | None = None,
):
    """:func:`bootstrap_interval` over the named unit dimension of a DataArray (e.g. a scorecard).

    ``da`` holds per-unit scores, e.g. RMSE of z500 with dims ``(init_time, lead_time)``; the result
    is a ``Dataset`` with ``estimate``, ``low`` and ``high`` over the remaining dims (``lead_time``),
    equal to :func:`bootstrap_interval` of the numpy array column by column (the same seed resamples
    the same units for every column and every dask chunk). Stays lazy on dask (``dim`` is put in
    one chunk); ``attrs`` record confidence, method, statistic, n, n_resamples, seed and the units
    of ``da``. WeatherBench-X scores per init time and resamples init times the same way
    (``weatherbenchX/statistical_inference/bootstrap.py``); use ≥ 32 inits for a useful interval.
    """
    import xarray as xr

    if isinstance(da, xr.Dataset):
        raise MetricTypeError("da: pass one variable (a DataArray), not a Dataset")
    if not isinstance(da, xr.DataArray):
        raise MetricTypeError(f"da: expected an xarray.DataArray, got {type(da).__name__}")
    if dim not in da.dims:
        raise MetricInputError(f"dim: {dim!r} is not a dimension of da (dims: {tuple(da.dims)})")
    n = int(da.sizes[dim])
    if n < 2:
        raise MetricInputError(f"da: needs at least 2 units along {dim!r}, got {n}")
    confidence = check_confidence(confidence)
    n_resamples = check_n_resamples(n_resamples)
    check_choice(method, "method", ("percentile", "bca"))
    func, name, vec = _resolve_statistic(statistic, vectorized)
    make_rng(seed)  # a bad seed fails now, not at compute time

    def kernel(arr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.moveaxis(np.asarray(arr, dtype=np.float64), -1, 0))
        check_all_finite(x, f"da ({dim!r} is the unit index)")
        est, low, high = _bootstrap_core(
            x, func, vec, confidence=confidence, n_resamples=n_resamples, method=method, seed=seed
        )
        return np.stack([est, low, high], axis=-1)

    if da.chunks is not None:
        da = da.chunk({dim: -1})
    out = xr.apply_ufunc(
        kernel,
        da,
        input_core_dims=[[dim]],
        output_core_dims=[["bound"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"bound": 3}},
    )
    attrs = {
        "confidence": confidence,
        "method": method,
        "statistic": name,
        "n": n,
        "n_resamples": n_resamples,
        "unit_dim": dim,
    }
    if isinstance(seed, int | np.integer):
        attrs["seed"] = int(seed)
    var_attrs = {k: v for k, v in da.attrs.items() if k in ("units", "long_name", "standard_name")}
    ds = xr.Dataset(
        {
            key: out.isel(bound=i, drop=True).assign_attrs(var_attrs)
            for i, key in enumerate(("estimate", "low", "high"))
        },
        attrs=attrs,
    )
    return ds
