"""Ensemble (probabilistic) weather scores, xarray-native and lazy on dask.

``forecast`` has a member dim (``member_dim``, default ``"member"``) in addition to the dims described in
:mod:`physics_metrics.weather.deterministic`; ``truth`` has none and is aligned by coordinates in the same
way (a ``time`` dim is selected at the forecast valid times). The reduction order is the WeatherBench2 one:
pointwise score → latitude-weighted spatial mean per init time → mean over ``time_dim``.

Definitions
-----------
* CRPS (ensemble of ``M`` members ``X_m``, observation ``y``)::

      CRPS = (1/M) Σ_m |X_m − y| − 1/(2 M K) Σ_{m,m'} |X_m − X_m'|

  with ``K = M`` for ``estimator="classic"`` (the CRPS of the empirical ensemble CDF, as
  ``properscoring.crps_ensemble`` and therefore ChaosBench compute it) and ``K = M − 1`` for
  ``estimator="fair"`` (WeatherBench2's default; unbiased for the CRPS of the distribution the members are
  drawn from). The double sum is evaluated in O(M log M) from the sorted members:
  ``Σ_{m,m'} |X_m − X_m'| = 2 Σ_i (2i − M − 1) X_(i)``.
* Spread: ``sqrt( mean_t ⟨ var_m(X, ddof=1) ⟩_w )`` — square root of the time mean of the weighted spatial
  mean of the unbiased ensemble variance (same aggregation as :func:`rmse_wb2`).
* Spread/skill ratio: ``spread / rmse_wb2(ensemble mean, y)``; with ``correction=True`` the spread is
  multiplied by ``sqrt((M+1)/M)`` (Fortin et al. 2014, J. Hydrometeor. 15: a reliable ensemble of ``M``
  members then has ratio 1). ChaosBench uses no correction and a mean of standard deviations instead.
* CRPSS against a Gaussian climatology ``N(μ, σ²)``: ``1 − CRPS_fc / CRPS_ref`` where
  ``CRPS_ref`` is the closed form (Gneiting et al. 2005, eq. 5)
  ``σ [ z (2Φ(z) − 1) + 2 φ(z) − 1/√π ]``, ``z = (y − μ)/σ`` (``|y − μ|`` when ``σ = 0``); both CRPS are
  reduced (spatial weighted mean, then time mean) before the ratio.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr
from scipy import special

from ..errors import MetricInputError, MetricTypeError
from .deterministic import (
    _check_nan,
    _prepare_climatology,
    _prepare_pair,
    _time_mean,
    rmse_wb2,
    spatial_mean,
)

logger = logging.getLogger(__name__)

__all__ = [
    "crps_ensemble",
    "crps_gaussian",
    "crpss_gaussian_climatology",
    "ensemble_spread",
    "spread_skill_ratio",
]

_ESTIMATORS = ("fair", "classic")


def _check_members(forecast: xr.DataArray, member_dim: str, minimum: int) -> int:
    if not isinstance(forecast, xr.DataArray):
        raise MetricTypeError(f"forecast: expected an xarray.DataArray, got {type(forecast).__name__}")
    if member_dim not in forecast.dims:
        raise MetricInputError(
            f"member_dim: {member_dim!r} is not a dimension of forecast (dims: {forecast.dims})"
        )
    m = int(forecast.sizes[member_dim])
    if m < minimum:
        raise MetricInputError(f"forecast: needs at least {minimum} members along {member_dim!r}, got {m}")
    return m


def _crps_core(ens: np.ndarray, obs: np.ndarray, fair: bool, skipna: bool) -> np.ndarray:
    """Pointwise CRPS; ``ens`` has the members on the last axis. NaN members dropped when ``skipna``."""
    ens = np.asarray(ens, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    n = ens.shape[-1]
    if skipna:
        m = np.sum(~np.isnan(ens), axis=-1).astype(np.float64)
        skill = np.nansum(np.abs(ens - obs[..., None]), axis=-1)
    else:
        m = np.full(ens.shape[:-1], float(n))
        skill = np.sum(np.abs(ens - obs[..., None]), axis=-1)
    x = np.sort(ens, axis=-1)  # NaN members sort last
    i = np.arange(1, n + 1, dtype=np.float64)
    coef = 2.0 * i - m[..., None] - 1.0  # (2i − M − 1) for the i-th smallest valid member
    coef = np.where(i <= m[..., None], coef, 0.0)
    pair_sum = 2.0 * np.sum(coef * np.where(np.isnan(x), 0.0, x), axis=-1)  # Σ_{m,m'} |X_m − X_m'|
    k = m - 1.0 if fair else m
    with np.errstate(invalid="ignore", divide="ignore"):
        crps = skill / m - pair_sum / (2.0 * m * k)
    bad = np.isnan(obs) | (m < (2 if fair else 1))
    if not skipna:
        bad |= np.isnan(ens).any(axis=-1)
    return np.where(bad, np.nan, crps)


def crps_ensemble(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    member_dim: str = "member",
    estimator: str = "fair",
    weights: Any = None,
    time_dim: str | None = "init_time",
    reduce: bool = True,
    skipna: bool = False,
) -> xr.DataArray:
    """Continuous ranked probability score of an ensemble (see module docstring for the formula).

    ``estimator``: ``"fair"`` (1/(M(M−1)), WeatherBench2) or ``"classic"`` (1/M², properscoring /
    ChaosBench). ``reduce=False`` returns the per-point CRPS on the forecast dims less ``member_dim``;
    otherwise the latitude-weighted spatial mean per init time, then the mean over ``time_dim``. Units:
    field units. With ``skipna=True`` NaN members are dropped per point (M counted per point) and NaN
    points are left out of the means; otherwise a NaN raises ``ValueError``.
    """
    if estimator not in _ESTIMATORS:
        raise MetricInputError(f"estimator: must be one of {_ESTIMATORS}, got {estimator!r}")
    _check_members(forecast, member_dim, 2 if estimator == "fair" else 1)
    truth = _prepare_pair(forecast, truth, allow_extra_in_forecast=(member_dim,))
    forecast = _check_nan(forecast, "forecast", skipna)
    truth = _check_nan(truth, "truth", skipna)
    if forecast.chunks is not None:
        forecast = forecast.chunk({member_dim: -1})
    per_point = xr.apply_ufunc(
        _crps_core,
        forecast,
        truth,
        input_core_dims=[[member_dim], []],
        kwargs={"fair": estimator == "fair", "skipna": skipna},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    per_point = per_point.transpose(*[d for d in forecast.dims if d != member_dim]).rename("crps")
    per_point.attrs.update(estimator=estimator)
    if not reduce:
        return per_point
    out = _time_mean(spatial_mean(per_point, weights, skipna=skipna), time_dim, skipna)
    out.attrs.update(estimator=estimator)
    return out.rename("crps")


def _ensemble_variance(forecast, member_dim, skipna):
    return forecast.var(member_dim, ddof=1, skipna=skipna)


def ensemble_spread(
    forecast: xr.DataArray,
    *,
    member_dim: str = "member",
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Ensemble spread ``sqrt( mean_t ⟨ var_m(X, ddof=1) ⟩_w )`` (units: field units).

    The unbiased (M−1) member variance, latitude-weighted spatial mean per init time, mean over
    ``time_dim``, then the square root (the WeatherBench2 aggregation of RMSE, so spread and
    :func:`rmse_wb2` of the ensemble mean are comparable).
    """
    _check_members(forecast, member_dim, 2)
    forecast = _check_nan(forecast, "forecast", skipna)
    var = _ensemble_variance(forecast, member_dim, skipna)
    out = _time_mean(spatial_mean(var, weights, skipna=skipna), time_dim, skipna)
    return np.sqrt(out).rename("spread")


def spread_skill_ratio(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    member_dim: str = "member",
    correction: bool = True,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Spread/skill ratio ``c · ensemble_spread / rmse_wb2(ensemble mean, truth)``, dimensionless.

    ``c = sqrt((M+1)/M)`` with ``correction=True`` (a statistically reliable ensemble scores 1), ``c = 1``
    with ``correction=False``. ``M`` = size of ``member_dim``.
    """
    m = _check_members(forecast, member_dim, 2)
    spread = ensemble_spread(
        forecast, member_dim=member_dim, weights=weights, time_dim=time_dim, skipna=skipna
    )
    skill = rmse_wb2(
        forecast.mean(member_dim, skipna=skipna), truth, weights=weights, time_dim=time_dim, skipna=skipna
    )
    factor = np.sqrt((m + 1.0) / m) if correction else 1.0
    out = (factor * spread / skill).rename("spread_skill_ratio")
    out.attrs.update(correction=f"sqrt((M+1)/M) = {factor:.6g}" if correction else "none", members=m)
    return out


def crps_gaussian(truth: Any, mean: Any, std: Any) -> Any:
    """Closed-form CRPS of ``N(mean, std²)`` for observation ``truth`` (Gneiting et al. 2005, eq. 5).

    ``σ [ z (2Φ(z) − 1) + 2 φ(z) − 1/√π ]`` with ``z = (y − μ)/σ``; ``|y − μ|`` where ``σ = 0``. Works
    element-wise on numpy arrays and (lazily) on DataArrays. ``std`` must be ≥ 0.
    """
    if not isinstance(std, xr.DataArray) and np.any(np.asarray(std) < 0):
        raise MetricInputError("std: must be non-negative")

    def _core(y, mu, sigma):
        y, mu, sigma = np.broadcast_arrays(
            np.asarray(y, float), np.asarray(mu, float), np.asarray(sigma, float)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (y - mu) / sigma
            out = sigma * (
                z * special.erf(z / np.sqrt(2.0))
                + 2.0 * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
                - 1.0 / np.sqrt(np.pi)
            )
        return np.where(sigma == 0, np.abs(y - mu), out)

    if any(isinstance(a, xr.DataArray) for a in (truth, mean, std)):
        return xr.apply_ufunc(_core, truth, mean, std, dask="parallelized", output_dtypes=[np.float64])
    return _core(truth, mean, std)


def crpss_gaussian_climatology(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    clim_mean: xr.DataArray,
    clim_std: xr.DataArray,
    *,
    member_dim: str = "member",
    estimator: str = "fair",
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """CRPS skill score against a Gaussian climatology: ``1 − CRPS_fc / CRPS_ref``, dimensionless.

    ``clim_mean``/``clim_std`` either have a ``dayofyear`` (× ``hour``) dim and are selected at the
    forecast valid times, or are already on the forecast's dims (less ``member_dim``). Both CRPS are
    spatially weighted and averaged over ``time_dim`` **before** the ratio is formed.
    """
    crps_fc = crps_ensemble(
        forecast,
        truth,
        member_dim=member_dim,
        estimator=estimator,
        weights=weights,
        time_dim=time_dim,
        skipna=skipna,
    )
    mu = _prepare_climatology(forecast, clim_mean, "clim_mean", member_dim=member_dim)
    sigma = _prepare_climatology(forecast, clim_std, "clim_std", member_dim=member_dim)
    y = _prepare_pair(forecast, truth, allow_extra_in_forecast=(member_dim,))
    mu = _check_nan(mu, "clim_mean", skipna)
    sigma = _check_nan(sigma, "clim_std", skipna)
    ref_point = crps_gaussian(y, mu, sigma)
    crps_ref = _time_mean(spatial_mean(ref_point, weights, skipna=skipna), time_dim, skipna)
    return (1.0 - crps_fc / crps_ref).rename("crpss")
