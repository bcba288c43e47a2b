"""Stability of long autoregressive rollouts: blow-up lead, boundedness, and the climate a rollout settles into.

How ML weather/climate papers report it (wave2 reference §D.3): SFNO's year-long 6-hourly rollouts, ACE's
multi-year runs with budgets, NeuralGCM's multi-decade climates. Here, for a forecast ``(init_time,
lead_time, [member], latitude, longitude)`` of one variable against truth data on the same grid:

* the truth climatology is its per-grid-point mean over every non-spatial dim, ``μ(x)``, and its scale
  ``σ = √⟨var_t(x)⟩`` (square root of the area-weighted mean of the per-point variance);
* a lead is **out of bound** when any value is non-finite or ``max_x |f − μ(x)| > bound · σ``
  (default ``bound = 10``): ten climatological standard deviations, far outside any physical state;
* ``blow_up_lead`` is the first lead out of bound (NaT if none) and ``bounded`` is True when there is none;
* the **settled climate** is computed over the last ``settle_fraction`` of the leads (default 25 %):
  the area-weighted mean ``m_f = ⟨f⟩`` and variance ``⟨(f − m_f)²⟩`` over those leads and the grid, and
  their ratios to the truth's ``⟨μ⟩``-centred mean and variance over all of its times (1 for a model whose
  climate matches; a variance ratio ≪ 1 is a rollout collapsing to a smooth state, ≫ 1 one gaining
  spurious variability). NaN for a rollout that blew up.

:func:`check_finite_rollout` is the guard a rollout loop calls: it raises
:class:`~physics_metrics.errors.NonFiniteInputError` naming the variable, the first non-finite lead time
and the init time.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricTypeError, NonFiniteInputError
from .sphere_grid import sphere_grid

logger = logging.getLogger(__name__)

__all__ = ["check_finite_rollout", "rollout_stability"]


def _variable(obj: Any, variable: str, label: str) -> xr.DataArray:
    if isinstance(obj, xr.Dataset):
        if variable not in obj:
            have = sorted(str(k) for k in obj.data_vars)
            raise MetricInputError(f"{label}: no variable {variable!r}; dataset has {have}")
        return obj[variable]
    if isinstance(obj, xr.DataArray):
        return obj
    raise MetricTypeError(f"{label}: expected an xarray Dataset or DataArray, got {type(obj).__name__}")


def _first_bad_lead(bad: xr.DataArray, lead_dim: str) -> xr.DataArray:
    """First ``lead_dim`` coordinate value where ``bad`` is True (NaT/NaN where never)."""
    leads = bad[lead_dim].values
    any_bad = bad.any(lead_dim)
    index = bad.argmax(lead_dim)
    first = xr.DataArray(leads[index.values], dims=index.dims, coords=index.coords)
    missing = np.timedelta64("NaT") if np.issubdtype(leads.dtype, np.timedelta64) else np.nan
    return first.where(any_bad, missing)


def _lead_text(value: Any) -> str:
    if isinstance(value, np.timedelta64):
        return str(value.astype("timedelta64[s]").item())
    return str(value)


def rollout_stability(
    forecast: xr.Dataset | xr.DataArray,
    truth: xr.Dataset | xr.DataArray,
    *,
    variable: str = "z",
    bound: float = 10.0,
    settle_fraction: float = 0.25,
    lead_dim: str = "lead_time",
) -> xr.Dataset:
    """Boundedness, blow-up lead and settled climate of a long rollout (module docstring).

    Parameters
    ----------
    forecast
        Dataset (``variable`` is taken) or DataArray with dims ``(init_time, lead_time, [member], latitude,
        longitude)`` (any latitude orientation; ``lead_dim`` names the lead dimension).
    truth
        Truth (or climatology) data of the same variable on the same grid, e.g. a state ``(time, latitude,
        longitude)``; every non-spatial dim is averaged over for the climatology.
    bound
        Out-of-bound threshold in units of the truth's climatological standard deviation ``σ``.
    settle_fraction
        Fraction of the last leads over which the settled climate is measured (at least one lead).

    Returns
    -------
    xarray.Dataset
        Per init time (and member, if any): ``bounded`` (bool),
        ``blow_up_lead`` (``lead_dim`` value, NaT if never), ``max_abs_anomaly`` (in units of ``σ``, over all
        leads; inf if non-finite), ``final_mean``, ``final_variance`` (variable units, and squared),
        ``mean_ratio``, ``variance_ratio`` (to the truth's), ``mean_difference`` (``final_mean − truth mean``);
        scalars ``truth_mean``, ``truth_variance``, ``truth_std`` (σ). Attrs: bound, settle leads.
    """
    f = _variable(forecast, variable, "forecast")
    t = _variable(truth, variable, "truth")
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not np.isfinite(bound) or bound <= 0:
        raise MetricInputError(f"bound: expected a positive number of standard deviations, got {bound!r}")
    if (
        isinstance(settle_fraction, bool)
        or not isinstance(settle_fraction, int | float)
        or not 0 < settle_fraction <= 1
    ):
        raise MetricInputError(f"settle_fraction: expected a number in (0, 1], got {settle_fraction!r}")
    gf = sphere_grid(f, label="forecast")
    gt = sphere_grid(t, label="truth")
    if not gf.same_as(gt):
        raise MetricInputError(
            f"forecast and truth are on different grids: forecast {gf.describe()}, truth {gt.describe()}"
        )
    if lead_dim not in f.dims:
        raise MetricInputError(f"forecast: no {lead_dim!r} dimension (dims: {list(f.dims)})")
    t = t.rename({gt.lat_dim: gf.lat_dim, gt.lon_dim: gf.lon_dim})
    t = t.assign_coords({gf.lat_dim: t[gf.lat_dim].values, gf.lon_dim: t[gf.lon_dim].values})
    t = t.sortby([gf.lat_dim, gf.lon_dim]).reindex(
        {gf.lat_dim: gf.lat, gf.lon_dim: gf.lon}, method="nearest", tolerance=1e-6
    )
    if not bool(np.isfinite(t).all()):
        raise NonFiniteInputError(f"truth: {variable} contains NaN/inf")
    spatial = (gf.lat_dim, gf.lon_dim)
    other = [d for d in t.dims if d not in spatial]
    w = gf.cell_areas() / gf.cell_areas().sum()  # per row, sums to 1 over latitudes
    mu = t.mean(other) if other else t
    sigma = float(np.sqrt((t.var(other) if other else xr.zeros_like(t)).weighted(w).mean(spatial)))
    truth_mean_x = t.weighted(w).mean(spatial)
    truth_mean = float(truth_mean_x.mean(other) if other else truth_mean_x)
    truth_var_x = ((t - truth_mean) ** 2).weighted(w).mean(spatial)
    truth_var = float(truth_var_x.mean(other) if other else truth_var_x)
    if not sigma > 0:
        raise MetricInputError(
            "truth: its climatological standard deviation is 0; pass a truth with several times"
        )

    anomaly = np.abs(f - mu)
    lead_max = xr.where(np.isfinite(f), anomaly, np.inf).max(spatial) / sigma
    bad = lead_max > bound
    blow_up = _first_bad_lead(bad, lead_dim)
    n_lead = f.sizes[lead_dim]
    n_settle = max(1, int(np.ceil(settle_fraction * n_lead)))
    last = f.isel({lead_dim: slice(n_lead - n_settle, None)})
    final_mean = last.weighted(w).mean(spatial).mean(lead_dim)
    final_var = ((last - final_mean) ** 2).weighted(w).mean(spatial).mean(lead_dim)
    blew = bad.any(lead_dim)
    final_mean = final_mean.where(~blew)
    final_var = final_var.where(~blew)
    out = xr.Dataset(
        {
            "bounded": ~blew,
            "blow_up_lead": blow_up,
            "max_abs_anomaly": lead_max.max(lead_dim).assign_attrs(units="truth std"),
            "final_mean": final_mean,
            "final_variance": final_var,
            "mean_ratio": final_mean / truth_mean,
            "variance_ratio": final_var / truth_var,
            "mean_difference": final_mean - truth_mean,
            "truth_mean": truth_mean,
            "truth_variance": truth_var,
            "truth_std": sigma,
        }
    )
    out.attrs.update(
        variable=variable,
        bound_in_truth_std=float(bound),
        settle_leads=int(n_settle),
        settle_from_lead=_lead_text(f[lead_dim].values[n_lead - n_settle]) if lead_dim in f.coords else "",
        grid=gf.describe(),
    )
    return out


def check_finite_rollout(forecast: xr.Dataset | xr.DataArray, *, lead_dim: str = "lead_time") -> Any:
    """Raise :class:`NonFiniteInputError` if any value of a rollout is NaN or infinite; return it unchanged.

    ``forecast``: Dataset or DataArray with a ``lead_dim`` dimension (or ``time`` for a state). The
    message names the variable, the first lead (coordinate value and index) with a non-finite value over all
    variables, and the init time / member where it occurs first, e.g. ``"forecast: z is non-finite from
    lead_time 2 days 06:00:00 (index 9), first at {'init_time': '2020-01-01'}"``.
    """
    if isinstance(forecast, xr.DataArray):
        items = [(str(forecast.name or "forecast"), forecast)]
    elif isinstance(forecast, xr.Dataset):
        items = [(str(k), v) for k, v in forecast.data_vars.items()]
    else:
        raise MetricTypeError(
            f"forecast: expected an xarray Dataset or DataArray, got {type(forecast).__name__}"
        )
    if lead_dim not in forecast.dims:
        if "time" in forecast.dims:
            lead_dim = "time"
        else:
            raise MetricInputError(
                f"forecast: no {lead_dim!r} or 'time' dimension (dims: {list(forecast.dims)})"
            )
    worst: tuple[int, str, xr.DataArray] | None = None
    for name, arr in items:
        if lead_dim not in arr.dims or not np.issubdtype(arr.dtype, np.number):
            continue
        nonfinite = ~np.isfinite(arr)
        per_lead = nonfinite.any([d for d in arr.dims if d != lead_dim])
        if bool(per_lead.any()):
            k = int(np.argmax(per_lead.values))
            if worst is None or k < worst[0]:
                worst = (k, name, nonfinite.isel({lead_dim: k}))
    if worst is None:
        return forecast
    k, name, where = worst
    lead = forecast[lead_dim].values[k] if lead_dim in forecast.coords else k
    lead_text = _lead_text(lead)
    position = {}
    if where.ndim:
        idx = np.unravel_index(int(np.argmax(where.values)), where.shape)
        for d, i in zip(where.dims, idx, strict=True):
            if d in ("latitude", "longitude", "lat", "lon"):
                continue
            value = where[d].values[i] if d in where.coords else i
            position[d] = str(value)[:19] if isinstance(value, np.datetime64) else value
    raise NonFiniteInputError(
        f"forecast: {name} is non-finite from {lead_dim} {lead_text} (index {k})"
        + (f", first at {position}" if position else "")
    )
