"""Conserved quantities of the shallow-water equations on the sphere, and their drift over a rollout.

Reference: wave2 reference §D.1 (e.g. Williamson et al. 1992, J. Comput. Phys. 102; Salmon, *Lectures on
Geophysical Fluid Dynamics*, §3). With fluid depth ``h``, topography ``h_s``, velocity ``V = (u, v)``,
relative vorticity ``ζ``, Coriolis parameter ``f = 2Ω sin φ`` and gravity ``g``, the inviscid, unforced
equations conserve (per unit density)::

    mass                 M = ∫ h dA                                   (m³)
    total energy         E = ∫ [½ h |V|² + g h (½ h + h_s)] dA        (m⁵ s⁻²)
    potential enstrophy  Z = ∫ (ζ + f)² / (2h) dA                     (m s⁻²)

Inputs follow the canonical schemas: ``z`` is the free-surface geopotential ``g (h + h_s)`` (m² s⁻²), so
``h = z/g − h_s`` with ``h_s = zs/g`` (``zs`` the static surface geopotential, zero if absent). Integrals use
the quadrature of the detected latitude layout (:mod:`.sphere_grid`). ``ζ`` comes from ``vo`` if the dataset
has it, else from ``(u, v)`` through the spherical harmonic transform (which needs a Gaussian or equiangular
grid with poles).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import MetricInputError, MetricTypeError
from .sphere_grid import sphere_grid

logger = logging.getLogger(__name__)

__all__ = ["INVARIANTS", "conservation_drift", "shallow_water_invariants"]

INVARIANTS = ("mass", "total_energy", "potential_enstrophy")
_DAY_S = 86400.0
_UNITS = {"mass": "m**3", "total_energy": "m**5 s**-2", "potential_enstrophy": "m s**-2"}


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
        raise MetricInputError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _vorticity_from_uv(grid, u: xr.DataArray, v: xr.DataArray, lmax: int | None) -> xr.DataArray:
    sht = grid.sht(lmax)
    ut, lead = grid.to_tensor(u)
    vt, _ = grid.to_tensor(v.transpose(*u.dims))
    with torch.no_grad():
        vrt_c, _ = sht.vrtdiv_from_uv(ut, vt)
        vo = sht.inverse(vrt_c)
    return grid.from_tensor(vo, u, lead)


def shallow_water_invariants(
    ds: xr.Dataset,
    *,
    zs: Any = None,
    radius: float = 6.37122e6,
    gravity: float = 9.80616,
    omega: float = 7.292e-5,
    lmax: int | None = None,
) -> xr.Dataset:
    """Mass, total energy and potential enstrophy (module docstring) of every state in ``ds``.

    Parameters
    ----------
    ds
        Dataset with ``z`` (free-surface geopotential, m² s⁻²), ``u``, ``v`` (m s⁻¹) and optionally ``vo``
        (relative vorticity, s⁻¹) and ``zs``; dims ``(..., latitude, longitude)`` in any order and latitude
        orientation, e.g. a state ``(time, latitude, longitude)`` or a forecast ``(init_time, lead_time,
        [member], latitude, longitude)``.
    zs
        Static surface geopotential (m² s⁻²; scalar or DataArray over latitude/longitude). Default: ``ds.zs``
        if present, else 0.
    radius, gravity, omega
        Sphere radius (m), gravity (m s⁻²), rotation rate (s⁻¹); defaults are the shallow-water solver's.
    lmax
        Truncation of the transform used for ``ζ`` when ``vo`` is absent (default: the largest exact one).

    Returns
    -------
    xarray.Dataset
        ``mass`` (m³), ``total_energy`` (m⁵ s⁻²), ``potential_enstrophy`` (m s⁻²) over the non-spatial dims
        of ``ds``. Attributes record the latitude layout and where ``ζ`` came from.

    Raises :class:`MetricInputError` for missing variables (naming them and the dataset's variables), a
    missing latitude/longitude dimension, a grid the transform cannot handle when ``vo`` is absent, or a
    non-positive fluid depth.
    """
    if not isinstance(ds, xr.Dataset):
        raise MetricTypeError(f"ds: expected an xarray.Dataset with z, u, v, got {type(ds).__name__}")
    radius, gravity = _positive("radius", radius), _positive("gravity", gravity)
    if isinstance(omega, bool) or not isinstance(omega, int | float) or not np.isfinite(omega):
        raise MetricInputError(f"omega: expected a finite number, got {omega!r}")
    have = sorted(str(k) for k in ds.data_vars)
    if "z" not in ds:
        raise MetricInputError(
            f"conservation of mass needs z (free-surface geopotential g(h + h_s)); dataset has {have}"
        )
    missing = [k for k in ("u", "v") if k not in ds]
    if missing:
        raise MetricInputError(
            f"conservation of energy needs u and v; dataset has {have} (missing {missing})"
        )
    grid = sphere_grid(ds, radius=radius, label="ds")
    if zs is None:
        zs = ds["zs"] if "zs" in ds else 0.0
    h_s = xr.DataArray(zs) / gravity if not isinstance(zs, xr.DataArray) else zs / gravity
    h = ds["z"] / gravity - h_s
    finite_min = float(h.where(np.isfinite(h)).min())
    if finite_min <= 0:
        raise MetricInputError(
            f"z: the fluid depth h = z/g − h_s must be positive; its minimum is {finite_min} m"
        )
    u, v = ds["u"], ds["v"]
    if "vo" in ds:
        vo, source = ds["vo"], "vo"
    else:
        vo, source = _vorticity_from_uv(grid, u, v, lmax), "vrtdiv_from_uv(u, v)"
    f = 2.0 * omega * np.sin(np.deg2rad(ds[grid.lat_dim]))
    integrals = xr.broadcast(  # every invariant over the union of the inputs' non-spatial dims
        grid.integrate(h),
        grid.integrate(0.5 * h * (u * u + v * v) + gravity * h * (0.5 * h + h_s)),
        grid.integrate((vo + f) ** 2 / (2.0 * h)),
    )
    out = xr.Dataset(dict(zip(INVARIANTS, integrals, strict=True)))
    for name in INVARIANTS:
        out[name].attrs = {"units": _UNITS[name]}
    out.attrs.update(
        latitude_layout=grid.layout,
        grid=grid.describe(),
        vorticity_source=source,
        radius_m=radius,
        gravity_m_per_s2=gravity,
        omega_per_s=float(omega),
    )
    return out


def _time_in_days(coord: xr.DataArray) -> np.ndarray:
    values = np.asarray(coord.values)
    if np.issubdtype(values.dtype, np.timedelta64):
        return values.astype("timedelta64[ns]").astype(np.float64) / (_DAY_S * 1e9)
    if np.issubdtype(values.dtype, np.datetime64):
        dt = (values - values[0]).astype("timedelta64[ns]")
        return dt.astype(np.float64) / (_DAY_S * 1e9)
    if np.issubdtype(values.dtype, np.number):
        return values.astype(np.float64)  # numbers are taken as days
    raise MetricInputError(
        f"{coord.name}: expected timedelta64, datetime64 or numbers (days), got {values.dtype}"
    )


def conservation_drift(invariants: xr.Dataset | xr.DataArray, *, time_dim: str = "lead_time") -> xr.Dataset:
    """Relative drift of each invariant along ``time_dim``, per simulated day, and its total relative change.

    For each variable ``X`` (e.g. the output of :func:`shallow_water_invariants`), with ``r(t) = X(t)/X(t₀) − 1``
    and ``t`` in days from the ``time_dim`` coordinate (timedelta64; datetime64 counted from the first value;
    plain numbers taken as days)::

        drift_per_day = Σ_k (t_k − t̄)(r_k − r̄) / Σ_k (t_k − t̄)²      (least-squares slope, 1/day)
        total_change  = r(t_last) = X(t_last)/X(t₀) − 1                (dimensionless)

    Returns a Dataset with ``<name>_drift_per_day`` and ``<name>_total_change`` for every variable, other
    dims (``init_time``, ``member``, …) kept. An exactly conserving model gives 0 (round-off); a model that
    loses a fraction ε of ``X`` per day, linearly, gives ``−ε``.
    """
    if isinstance(invariants, xr.DataArray):
        invariants = invariants.to_dataset(name=str(invariants.name or "quantity"))
    if not isinstance(invariants, xr.Dataset):
        raise MetricTypeError(f"invariants: expected an xarray Dataset, got {type(invariants).__name__}")
    if time_dim not in invariants.dims:
        raise MetricInputError(
            f"time_dim: {time_dim!r} is not a dimension of invariants (dims: {list(invariants.dims)})"
        )
    if invariants.sizes[time_dim] < 2:
        raise MetricInputError(
            f"{time_dim}: need at least 2 times to measure a drift, got {invariants.sizes[time_dim]}"
        )
    if time_dim not in invariants.coords:
        raise MetricInputError(f"{time_dim}: needs a coordinate (timedelta64, datetime64 or days)")
    t = xr.DataArray(_time_in_days(invariants[time_dim]), dims=(time_dim,))
    tc = t - t.mean()
    out = xr.Dataset()
    for name, x in invariants.data_vars.items():
        r = x / x.isel({time_dim: 0}) - 1.0
        slope = (tc * (r - r.mean(time_dim))).sum(time_dim) / (tc * tc).sum()
        out[f"{name}_drift_per_day"] = slope.drop_attrs().assign_attrs(
            units="day**-1", formula="LS slope of X(t)/X(0) - 1"
        )
        out[f"{name}_total_change"] = r.isel({time_dim: -1}, drop=True).drop_attrs().assign_attrs(units="1")
    out.attrs.update(time_dim=time_dim, duration_days=float(t[-1] - t[0]))
    return out
