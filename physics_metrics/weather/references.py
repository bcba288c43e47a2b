"""Reference forecasts built from the truth: persistence and climatology, in the forecast schema.

Both return an :class:`xarray.Dataset` with dims ``(init_time, lead_time, [level], latitude, longitude)``
and a ``valid_time(init_time, lead_time) = init_time + lead_time`` coordinate — the schema every emulator
rollout writes — so they can be scored with :func:`physics_metrics.weather.scorecard.scorecard` like any
model. Nothing is computed: on dask-backed inputs the results stay lazy (selection and broadcasting only).

* Persistence: ``F(t0, τ) = X(t0)`` for every lead ``τ`` (ChaosBench ``eval_iter.py`` ``persistence``:
  the initial condition repeated).
* Climatology: ``F(t0, τ) = C(doy(t0 + τ)[, hour(t0 + τ)])``, the climatological mean of the valid day
  (ChaosBench: raw day-of-year mean; WB2: day-of-year × hour, 61-day smoothed). The climatology is an
  ``xarray.Dataset`` with a ``dayofyear`` dim (1…366; ChaosBench's name ``doy`` is accepted) and optionally
  an ``hour`` dim.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import MetricInputError, MetricTypeError

logger = logging.getLogger(__name__)

__all__ = ["climatology_forecast", "climatology_indexers", "persistence_forecast"]

_FORECAST_HEAD = ("init_time", "lead_time")


def _as_times(values: Any, name: str) -> np.ndarray:
    try:
        t = pd.to_datetime(np.atleast_1d(np.asarray(values))).values
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name}: cannot interpret as datetimes ({exc})") from exc
    if t.size == 0:
        raise MetricInputError(f"{name}: empty")
    return t.astype("datetime64[ns]")


def _as_leads(values: Any, name: str = "lead_times") -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values))
    if arr.size == 0:
        raise MetricInputError(f"{name}: empty")
    if arr.dtype.kind in "iufb":
        raise MetricInputError(f"{name}: give time deltas (e.g. np.timedelta64(1, 'D')), not bare numbers")
    try:
        return pd.to_timedelta(arr).values.astype("timedelta64[ns]")
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name}: cannot interpret as time deltas ({exc})") from exc


def _valid_time(init_times: np.ndarray, lead_times: np.ndarray) -> xr.DataArray:
    vt = init_times[:, None] + lead_times[None, :]
    return xr.DataArray(
        vt,
        dims=_FORECAST_HEAD,
        coords={"init_time": init_times, "lead_time": lead_times},
        name="valid_time",
    )


def persistence_forecast(
    truth: xr.Dataset, init_times: Any, lead_times: Any, *, time_dim: str = "time"
) -> xr.Dataset:
    """Persistence: the state at ``init_time`` held for every lead.

    ``truth``: gridded state ``(time, [level], latitude, longitude)``; ``init_times``: datetimes that must be
    in ``truth[time_dim]``; ``lead_times``: time deltas. Returns ``(init_time, lead_time, [level], latitude,
    longitude)`` with ``valid_time``, lazy if ``truth`` is; units and attrs of ``truth`` are kept.
    """
    if not isinstance(truth, xr.Dataset):
        raise MetricTypeError(f"truth: expected an xarray.Dataset, got {type(truth).__name__}")
    if time_dim not in truth.dims:
        raise MetricInputError(f"truth: no {time_dim!r} dimension (dims: {tuple(truth.dims)})")
    inits = _as_times(init_times, "init_times")
    leads = _as_leads(lead_times)
    have = pd.DatetimeIndex(truth[time_dim].values)
    missing = pd.DatetimeIndex(inits).difference(have)
    if len(missing):
        raise MetricInputError(f"init_times: {len(missing)} not in truth[{time_dim!r}], first {missing[0]}")
    x0 = truth.sel({time_dim: inits}).rename({time_dim: "init_time"})
    x0 = x0.drop_vars([c for c in x0.coords if c not in x0.dims and "init_time" in x0[c].dims])
    fc = x0.expand_dims(lead_time=leads, axis=1)
    fc = fc.transpose(*_FORECAST_HEAD, ...).assign_coords(valid_time=_valid_time(inits, leads))
    fc.attrs = dict(truth.attrs, reference_forecast="persistence")
    return fc


def _clim_day_dim(climatology: xr.Dataset) -> str:
    for d in ("dayofyear", "doy"):
        if d in climatology.dims:
            return d
    raise MetricInputError(
        f"climatology: needs a 'dayofyear' (or 'doy') dimension, dims are {tuple(climatology.dims)}"
    )


def climatology_indexers(climatology: xr.Dataset, valid_time: xr.DataArray) -> dict[str, xr.DataArray]:
    """Positional indexers selecting the climatology of each valid time (day of year, hour if present).

    ``valid_time``: a datetime DataArray of any shape. Raises ``ValueError`` naming the first missing
    day of year (or hour) — never a silent NaN for a missing climatology day.
    """
    day_dim = _clim_day_dim(climatology)
    vt = pd.DatetimeIndex(np.asarray(valid_time.values).ravel())
    out: dict[str, xr.DataArray] = {}
    wanted = {day_dim: np.asarray(vt.day_of_year)}
    if "hour" in climatology.dims:
        wanted["hour"] = np.asarray(vt.hour)
    for dim, values in wanted.items():
        coord = pd.Index(np.asarray(climatology[dim].values))
        pos = coord.get_indexer(values)
        if np.any(pos < 0):
            bad = values[pos < 0][0]
            first_vt = vt[np.flatnonzero(pos < 0)[0]]
            raise MetricInputError(
                f"climatology: no {dim}={bad} (needed for valid_time {first_vt}); missing climatology day"
            )
        out[dim] = xr.DataArray(pos.reshape(valid_time.shape), dims=valid_time.dims)
    return out


def climatology_forecast(climatology: xr.Dataset, init_times: Any, lead_times: Any) -> xr.Dataset:
    """Climatology forecast: the climatological mean of each valid time's day of year (and hour).

    ``climatology``: ``(dayofyear, [hour], [level], latitude, longitude)``; ``init_times``: datetimes;
    ``lead_times``: time deltas. Returns ``(init_time, lead_time, [level], latitude, longitude)`` with
    ``valid_time``; lazy if ``climatology`` is. A valid day missing from the climatology raises
    ``ValueError``. ChaosBench scores this forecast as one block of all days and repeats the number at every
    lead; here it is an ordinary forecast (its scores vary with lead only through the valid dates).
    """
    if not isinstance(climatology, xr.Dataset):
        raise MetricTypeError(f"climatology: expected an xarray.Dataset, got {type(climatology).__name__}")
    inits = _as_times(init_times, "init_times")
    leads = _as_leads(lead_times)
    vt = _valid_time(inits, leads)
    idx = climatology_indexers(climatology, vt)
    fc = climatology.isel(idx)
    fc = fc.drop_vars([c for c in fc.coords if c not in fc.dims])
    fc = fc.assign_coords(init_time=inits, lead_time=leads).transpose(*_FORECAST_HEAD, ...)
    fc = fc.assign_coords(valid_time=vt)
    fc.attrs = dict(climatology.attrs, reference_forecast="climatology")
    return fc
