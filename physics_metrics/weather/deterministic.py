"""Deterministic weather scores in the WeatherBench2 convention (xarray-native, lazy on dask).

Inputs
------
``forecast``: DataArray with dims ``(init_time, lead_time, [member], [level], latitude, longitude)`` in any
order and a ``valid_time`` coordinate (or ``init_time`` + ``lead_time`` from which it is computed).
``truth``: either a gridded state with a ``time`` dim (``(time, [level], latitude, longitude)``), which is
selected at every forecast ``valid_time`` (:func:`align_truth`), or an array already on the forecast's
``init_time``/``lead_time`` dims. Shared dims are matched **by coordinate value**: latitude orientation and
dim order never matter; grids or lead times that differ are a ``ValueError`` naming the dimension.

Reduction order (all scores)
----------------------------
1. pointwise quantity (``(f−o)²``, ``f−o``, ``|f−o|``, anomaly products);
2. latitude-weighted mean over ``latitude`` and ``longitude`` (:func:`latitude_weights`, cell-area by
   default, mean 1) — one value per init time, lead time, [member], [level];
3. mean over ``time_dim`` (default ``init_time``; ``None`` keeps every init time);
4. for RMSE: the square root *after* the time mean (:func:`rmse_wb2`, WeatherBench2/ECMWF) or before it
   (:func:`rmse_per_sample`, WB2's ``RMSESqrtBeforeTimeAvg``).

Non-finite values: ``skipna=False`` (default) raises :class:`~physics_metrics.errors.NonFiniteInputError`
(a ``ValueError``) naming the input, the variable and the first offending position (dim = coordinate value)
— immediately for in-memory data, at compute time (chunk by chunk, nothing extra is loaded) for dask data.
``skipna=True`` is the policy for fields that legitimately hold NaN (masked ocean or land points, missing
observations): NaN points are dropped from the weighted means (the weights are renormalised over the valid
points) and from the time mean. ``±inf`` is never skipped: it raises with either setting.

Empty inputs (a dim of length 0, e.g. no ``init_time``) and duplicated coordinate values (e.g. an
``init_time`` given twice) raise :class:`~physics_metrics.errors.MetricInputError` naming the dimension and
the duplicates.

References: WeatherBench2 (Rasp et al. 2024; ``weatherbench2/metrics.py``), ChaosBench notes §7.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricTypeError, NonFiniteInputError
from .weights import latitude_weights

logger = logging.getLogger(__name__)

__all__ = [
    "acc_centred",
    "acc_uncentred",
    "align_truth",
    "bias",
    "climatology_at",
    "mae",
    "mse",
    "rmse_per_sample",
    "rmse_wb2",
    "spatial_mean",
]

LAT = "latitude"
LON = "longitude"
SPATIAL = (LAT, LON)
_COORD_RTOL = 1e-6


# ----------------------------------------------------------------------------------------- validation
def _as_dataarray(x: Any, name: str) -> xr.DataArray:
    if isinstance(x, xr.Dataset):
        raise MetricTypeError(f"{name}: pass a DataArray (select one variable of the Dataset), got a Dataset")
    if not isinstance(x, xr.DataArray):
        raise MetricTypeError(f"{name}: expected an xarray.DataArray, got {type(x).__name__}")
    for d in SPATIAL:
        if d not in x.dims:
            raise MetricInputError(f"{name}: missing dimension {d!r} (dims: {x.dims})")
    check_dims_nonempty_unique(x, name)
    return x


def check_dims_nonempty_unique(x: xr.DataArray | xr.Dataset, name: str) -> None:
    """Raise :class:`MetricInputError` for a dim of length 0 or an index coordinate with duplicated values
    (both named). Reads coordinates only."""
    for d, n in x.sizes.items():
        if n == 0:
            raise MetricInputError(f"{name}: dimension {d!r} has length 0 (nothing to score)")
    for d, index in x.indexes.items():
        if index.has_duplicates:
            dup = [str(v) for v in index[index.duplicated()].unique()[:5]]
            raise MetricInputError(f"{name}: coordinate {d!r} has duplicated values {dup}")


def _is_dask(x: xr.DataArray) -> bool:
    return getattr(x.data, "dask", None) is not None or type(x.data).__module__.startswith("dask")


def _label(name: str, x: xr.DataArray) -> str:
    return f"{name} {x.name!r}" if x.name is not None and str(x.name) != name else name


def _position(idx: Sequence[int], dims: Sequence[str], coords: dict[str, np.ndarray]) -> str:
    parts = []
    for i, d in zip(idx, dims):
        value = coords[d][i] if d in coords else i
        if isinstance(value, np.datetime64):
            value = str(value.astype("datetime64[s]")).replace("T00:00:00", "")
        elif isinstance(value, np.timedelta64):
            value = str(value.astype("timedelta64[h]"))
        parts.append(f"{d}={value}" if d in coords else f"{d}[{i}]")
    return ", ".join(parts)


def nonfinite_message(
    arr: np.ndarray,
    label: str,
    dims: Sequence[str],
    coords: dict[str, np.ndarray],
    skipna: bool,
    offset: Sequence[int] | None = None,
) -> str | None:
    """The error message for the first non-finite value of ``arr`` (``None`` if there is none). With
    ``skipna`` only ``±inf`` counts."""
    bad = np.isinf(arr) if skipna else ~np.isfinite(arr)
    if not bad.any():
        return None
    first = np.argwhere(bad)[0]
    if offset is not None:
        first = first + np.asarray(offset)
    value = arr[tuple(np.argwhere(bad)[0])]
    n = int(bad.sum())
    return (
        f"{label}: {n} non-finite value(s) ({'inf' if skipna else 'NaN/inf'}), the first ({value}) at "
        f"{_position(first, dims, coords)}"
        + (
            ""
            if skipna
            else "; pass skipna=True to leave NaN points (e.g. masked ones) out — inf is never skipped"
        )
    )


def _raise_on_nonfinite_block(block: np.ndarray, label, dims, coords, skipna, block_info=None) -> np.ndarray:
    offset = None
    if isinstance(block_info, dict) and 0 in block_info:  # dask passes other objects while inferring meta
        offset = [start for start, _ in block_info[0]["array-location"]]
    msg = nonfinite_message(block, label, dims, coords, skipna, offset)
    if msg:
        raise NonFiniteInputError(msg)
    return block


def _check_nan(x: xr.DataArray, name: str, skipna: bool) -> xr.DataArray:
    """Raise :class:`NonFiniteInputError` on NaN (unless ``skipna``) or ±inf (always), naming the input,
    the variable and the first offending position: eagerly for numpy data, lazily per chunk for dask."""
    if not np.issubdtype(x.dtype, np.floating):
        return x
    label = _label(name, x)
    dims = [str(d) for d in x.dims]
    coords = {d: np.asarray(x[d].values) for d in dims if d in x.coords}
    if _is_dask(x):
        data = x.data.map_blocks(_raise_on_nonfinite_block, label, dims, coords, skipna, dtype=x.dtype)
        return x.copy(data=data)
    msg = nonfinite_message(np.asarray(x.values), label, dims, coords, skipna)
    if msg:
        raise NonFiniteInputError(msg)
    return x


def _match_coord(ref: xr.DataArray, other: xr.DataArray, dim: str, ref_name: str, other_name: str):
    """Reorder ``other`` along ``dim`` to the coordinate order of ``ref``; raise if the sets differ."""
    if dim not in ref.coords or dim not in other.coords:
        if ref.sizes[dim] != other.sizes[dim]:
            raise MetricInputError(
                f"{other_name} and {ref_name} have different sizes along {dim!r}: "
                f"{other.sizes[dim]} vs {ref.sizes[dim]}"
            )
        return other
    a = np.asarray(ref[dim].values)
    b = np.asarray(other[dim].values)
    if a.shape != b.shape:
        raise MetricInputError(
            f"{other_name} and {ref_name} have different {dim!r} coordinates: {b.size} vs {a.size} values "
            f"({other_name}: {b[:4]}..., {ref_name}: {a[:4]}...)"
        )
    if np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating):
        ia = np.argsort(a)
        ib = np.argsort(b)
        scale = max(1.0, float(np.nanmax(np.abs(a))))
        if not np.allclose(a[ia], b[ib], rtol=0, atol=_COORD_RTOL * scale):
            raise MetricInputError(
                f"{other_name} and {ref_name} are on different {dim!r} grids "
                f"(max difference {np.max(np.abs(a[ia] - b[ib])):.3g})"
            )
        # position in `other` of each ref value
        pos = np.empty_like(ia)
        pos[ia] = ib
        out = other.isel({dim: pos})
        return out.assign_coords({dim: ref[dim].values})
    sa, sb = set(a.tolist()), set(b.tolist())
    if sa != sb:
        missing = sorted(sa - sb, key=str)[:5]
        extra = sorted(sb - sa, key=str)[:5]
        raise MetricInputError(
            f"{other_name} and {ref_name} have different {dim!r} coordinates: missing in {other_name}: "
            f"{missing}, not in {ref_name}: {extra}"
        )
    return other.sel({dim: a})


def _prepare_pair(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    allow_extra_in_forecast: tuple[str, ...] = (),
    truth_name: str = "truth",
    time_dim_truth: str = "time",
) -> xr.DataArray:
    """Bring ``truth`` onto the forecast's dims and coordinate order (values matched, not positions)."""
    forecast = _as_dataarray(forecast, "forecast")
    truth = _as_dataarray(truth, truth_name)
    if time_dim_truth in truth.dims and time_dim_truth not in forecast.dims:
        truth = align_truth(forecast, truth, time_dim=time_dim_truth, truth_name=truth_name)
    extra = [d for d in truth.dims if d not in forecast.dims]
    if extra:
        raise MetricInputError(
            f"{truth_name}: dimension(s) {extra} not in forecast (forecast dims: {forecast.dims})"
        )
    missing = [d for d in forecast.dims if d not in truth.dims and d not in allow_extra_in_forecast]
    if missing:
        raise MetricInputError(
            f"{truth_name}: lacks forecast dimension(s) {missing} (dims: {truth.dims}); "
            "a mismatch here would broadcast silently"
        )
    for d in truth.dims:
        truth = _match_coord(forecast, truth, d, "forecast", truth_name)
    return truth


def align_truth(
    forecast: xr.DataArray, truth: xr.DataArray, *, time_dim: str = "time", truth_name: str = "truth"
) -> xr.DataArray:
    """Select ``truth`` at every forecast valid time.

    ``forecast`` must have ``init_time`` and ``lead_time`` dims and either a ``valid_time`` coordinate or
    ``init_time`` (datetime64) and ``lead_time`` (timedelta64) coordinates (``valid = init + lead``).
    ``truth`` has a ``time_dim`` dim. Returns truth with dims ``(init_time, lead_time, <other truth dims>)``.
    Raises ``ValueError`` listing valid times absent from ``truth``.
    """
    truth = _as_dataarray(truth, truth_name)
    if time_dim not in truth.dims:
        raise MetricInputError(f"{truth_name}: has no {time_dim!r} dimension (dims: {truth.dims})")
    valid = _valid_time(forecast)
    times = truth.indexes[time_dim]
    needed = np.unique(np.asarray(valid.values).ravel())
    absent = needed[~np.isin(needed, np.asarray(times.values))]
    if absent.size:
        raise MetricInputError(
            f"{truth_name}: {absent.size} forecast valid time(s) missing along {time_dim!r}, "
            f"e.g. {[str(t) for t in absent[:5]]}"
        )
    out = truth.sel({time_dim: valid})
    return out.drop_vars([time_dim], errors="ignore")


def _valid_time(forecast: xr.DataArray) -> xr.DataArray:
    for d in ("init_time", "lead_time"):
        if d not in forecast.dims:
            raise MetricInputError(f"forecast: missing dimension {d!r} (dims: {forecast.dims})")
    if "valid_time" in forecast.coords:
        return forecast["valid_time"].reset_coords(drop=True)
    if not np.issubdtype(forecast["lead_time"].dtype, np.timedelta64):
        raise MetricInputError("forecast: no 'valid_time' coordinate and 'lead_time' is not timedelta64")
    return (forecast["init_time"] + forecast["lead_time"]).rename("valid_time")


def climatology_at(climatology: xr.DataArray, valid_time: xr.DataArray | Any) -> xr.DataArray:
    """Select a day-of-year (× hour) climatology at each valid time.

    ``climatology`` has a ``dayofyear`` dim (1…366; ``valid_time.dt.dayofyear`` is used as is, so in a leap
    year 1 March is day 61) and optionally an ``hour`` dim (0–23). ``valid_time`` is a datetime64 DataArray
    (e.g. the forecast's ``(init_time, lead_time)`` coordinate). The result has the dims of ``valid_time``
    followed by the remaining climatology dims; a day or hour absent from the climatology (or all-NaN is
    *not* checked — that is data) raises ``ValueError`` naming the missing days.
    """
    if not isinstance(climatology, xr.DataArray):
        raise MetricTypeError(f"climatology: expected an xarray.DataArray, got {type(climatology).__name__}")
    if "dayofyear" not in climatology.dims:
        raise MetricInputError(f"climatology: missing dimension 'dayofyear' (dims: {climatology.dims})")
    if not isinstance(valid_time, xr.DataArray):
        valid_time = xr.DataArray(np.asarray(valid_time, dtype="datetime64[ns]"), dims=("time",))
    if not np.issubdtype(valid_time.dtype, np.datetime64):
        raise MetricTypeError(f"valid_time: expected datetime64 values, got {valid_time.dtype}")
    valid_time = valid_time.reset_coords(drop=True)
    doy = valid_time.dt.dayofyear
    available = np.asarray(climatology["dayofyear"].values)
    needed = np.unique(np.asarray(doy.values).ravel())
    absent = needed[~np.isin(needed, available)]
    if absent.size:
        raise MetricInputError(
            f"climatology: day(s) of year {absent.tolist()[:10]} missing (needed by valid_time)"
        )
    index: dict[str, xr.DataArray] = {"dayofyear": doy}
    if "hour" in climatology.dims:
        hour = valid_time.dt.hour
        absent_h = np.setdiff1d(np.unique(hour.values), climatology["hour"].values)
        if absent_h.size:
            raise MetricInputError(f"climatology: hour(s) {absent_h.tolist()} missing (needed by valid_time)")
        index["hour"] = hour
    out = climatology.sel(index)
    return out.drop_vars(["dayofyear", "hour"], errors="ignore")


def _prepare_climatology(
    forecast: xr.DataArray, climatology: xr.DataArray, name: str, member_dim: str = "member"
) -> xr.DataArray:
    if not isinstance(climatology, xr.DataArray):
        raise MetricTypeError(f"{name}: expected an xarray.DataArray, got {type(climatology).__name__}")
    if "dayofyear" in climatology.dims:
        try:
            climatology = climatology_at(climatology, _valid_time(forecast))
        except ValueError as err:
            raise MetricInputError(str(err).replace("climatology:", f"{name}:", 1)) from None
    return _prepare_pair(forecast, climatology, allow_extra_in_forecast=(member_dim,), truth_name=name)


# ----------------------------------------------------------------------------------------- reductions
def _weights_for(x: xr.DataArray, weights: Any) -> xr.DataArray:
    """Latitude weights on ``x``'s latitude coordinate (cell-area by default)."""
    if weights is None:
        return latitude_weights(x[LAT])
    if isinstance(weights, str):
        return latitude_weights(x[LAT], kind=weights)
    if isinstance(weights, xr.DataArray):
        if weights.dims != (LAT,):
            raise MetricInputError(f"weights: expected dims ('latitude',), got {weights.dims}")
        w = _match_coord(x, weights, LAT, "forecast", "weights")
    else:
        arr = np.asarray(weights, dtype=np.float64)
        if arr.shape != (x.sizes[LAT],):
            raise MetricInputError(
                f"weights: expected shape ({x.sizes[LAT]},) in the forecast's latitude order"
            )
        w = xr.DataArray(arr, dims=(LAT,), coords={LAT: x[LAT].values})
    if not np.all(np.isfinite(w.values)) or np.any(w.values < 0):
        raise MetricInputError("weights: must be finite and non-negative")
    return w


def spatial_mean(x: xr.DataArray, weights: Any = None, *, skipna: bool = False) -> xr.DataArray:
    """Latitude-weighted mean over ``latitude`` and ``longitude``: ``Σ w_i x_ij / Σ w_i`` (per other index).

    ``weights``: None (cell-area), ``"cos"``/``"cell_area"``, a DataArray on ``latitude`` or an array in
    ``x``'s latitude order. With ``skipna=True`` NaN points are left out and the weights renormalised.
    """
    x = _as_dataarray(x, "x")
    w = _weights_for(x, weights)
    return x.weighted(w).mean(SPATIAL, skipna=skipna)


def _time_mean(x: xr.DataArray, time_dim: str | None, skipna: bool) -> xr.DataArray:
    if time_dim is None:
        return x
    if time_dim not in x.dims:
        raise MetricInputError(f"time_dim: {time_dim!r} is not a dimension of the score (dims: {x.dims})")
    return x.mean(time_dim, skipna=skipna)


def _pair(forecast, truth, skipna, allow=("member",)):
    truth = _prepare_pair(forecast, truth, allow_extra_in_forecast=allow)
    forecast = _check_nan(forecast, "forecast", skipna)
    truth = _check_nan(truth, "truth", skipna)
    return forecast, truth


def _spatial_mse(forecast, truth, weights, skipna) -> xr.DataArray:
    forecast, truth = _pair(forecast, truth, skipna)
    return spatial_mean((forecast - truth) ** 2, weights, skipna=skipna)


def mse(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Mean squared error: ``mean_t Σ_ij w_i (f−o)² / Σ_ij w_i`` (WB2 ``MSE``). Units: (field units)².

    Returns a DataArray over the forecast dims less ``latitude``, ``longitude`` and ``time_dim``.
    """
    return _time_mean(_spatial_mse(forecast, truth, weights, skipna), time_dim, skipna).rename("mse")


def rmse_wb2(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """RMSE with the square root **after** the time mean (WeatherBench2 / ECMWF headline RMSE).

    ``sqrt( mean_t [ Σ_ij w_i (f−o)² / Σ_ij w_i ] )``. Units: field units.
    """
    return np.sqrt(mse(forecast, truth, weights=weights, time_dim=time_dim, skipna=skipna)).rename("rmse")


def rmse_per_sample(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """RMSE with the square root **before** the time mean (WB2 ``RMSESqrtBeforeTimeAvg``, ClimaX style).

    ``mean_t sqrt( Σ_ij w_i (f−o)² / Σ_ij w_i )``; always ≤ :func:`rmse_wb2` (Jensen). Units: field units.
    """
    per = np.sqrt(_spatial_mse(forecast, truth, weights, skipna))
    return _time_mean(per, time_dim, skipna).rename("rmse_per_sample")


def bias(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Mean error ``mean_t Σ_ij w_i (f−o) / Σ_ij w_i`` (positive: forecast too high). Units: field units."""
    forecast, truth = _pair(forecast, truth, skipna)
    per = spatial_mean(forecast - truth, weights, skipna=skipna)
    return _time_mean(per, time_dim, skipna).rename("bias")


def mae(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Mean absolute error ``mean_t Σ_ij w_i |f−o| / Σ_ij w_i``. Units: field units."""
    forecast, truth = _pair(forecast, truth, skipna)
    per = spatial_mean(abs(forecast - truth), weights, skipna=skipna)
    return _time_mean(per, time_dim, skipna).rename("mae")


def _anomalies(forecast, truth, climatology, skipna):
    clim = _prepare_climatology(forecast, climatology, "climatology")
    forecast, truth = _pair(forecast, truth, skipna)
    clim = _check_nan(clim, "climatology", skipna)
    fa = forecast - clim
    oa = truth - clim
    if skipna:  # joint mask: a point missing in either anomaly is left out of all three sums
        valid = fa.notnull() & oa.notnull()
        fa = fa.where(valid)
        oa = oa.where(valid)
    return fa, oa


def _acc(fa, oa, weights, time_dim, skipna, name):
    num = spatial_mean(fa * oa, weights, skipna=skipna)
    den = np.sqrt(spatial_mean(fa**2, weights, skipna=skipna) * spatial_mean(oa**2, weights, skipna=skipna))
    per = num / den
    return _time_mean(per, time_dim, skipna).rename(name)


def acc_uncentred(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    climatology: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Uncentred anomaly correlation coefficient (WeatherBench2 ``ACC``).

    ``f' = f − c``, ``o' = o − c`` with ``c`` the climatology at each valid time (:func:`climatology_at`
    when ``climatology`` has a ``dayofyear`` dim, otherwise it must already be on the forecast's dims).
    Per init time (and lead, [member], [level]): ``ACC = ⟨f'o'⟩_w / sqrt(⟨f'²⟩_w ⟨o'²⟩_w)`` with
    ``⟨·⟩_w`` the latitude-weighted spatial mean; the spatial-mean anomaly is **not** removed. Then the
    **mean over init times of the per-time ACC**. Dimensionless, in [−1, 1]; NaN where an anomaly is
    identically zero (e.g. the climatology forecast).
    """
    fa, oa = _anomalies(forecast, truth, climatology, skipna)
    return _acc(fa, oa, weights, time_dim, skipna, "acc_uncentred")


def acc_centred(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    climatology: xr.DataArray,
    *,
    weights: Any = None,
    time_dim: str | None = "init_time",
    skipna: bool = False,
) -> xr.DataArray:
    """Centred anomaly correlation: as :func:`acc_uncentred` after removing each field's weighted
    spatial-mean anomaly, ``f'' = f' − ⟨f'⟩_w``, ``o'' = o' − ⟨o'⟩_w`` (the weighted Pearson correlation of
    the anomaly maps, per init time, then averaged over init times). Dimensionless.
    """
    fa, oa = _anomalies(forecast, truth, climatology, skipna)
    fa = fa - spatial_mean(fa, weights, skipna=skipna)
    oa = oa - spatial_mean(oa, weights, skipna=skipna)
    return _acc(fa, oa, weights, time_dim, skipna, "acc_centred")
