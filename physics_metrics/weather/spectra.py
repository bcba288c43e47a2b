"""Power spectra of gridded fields on a regular latitude-longitude grid (xarray-native).

* :func:`zonal_energy_spectrum` — WeatherBench2's ``ZonalEnergySpectrum`` (``weatherbench2/
  derived_variables.py``): per latitude circle, ``F_k = rfft(f)/n_lon`` (``norm="forward"``),
  ``S_0 = C |F_0|²``, ``S_k = 2 C |F_k|²`` for ``k > 0``, with ``C = 2π R cos φ`` the circumference of the
  circle and ``R = 6 367 500 m`` (WB2 ``EARTH_RADIUS_M``, the mean of equatorial and polar radius).
  Units: (field units)² · m. For ``f = A cos(k₀λ)`` (0 < k₀ < n_lon/2), ``S_{k₀} = C A²/2``.
* :func:`spherical_harmonic_power_spectrum` — degree power ``S_l = Σ_{m=−l..l} |a_lm|² / (4π)`` of the
  expansion ``f = Σ a_lm Y_lm`` in orthonormal spherical harmonics (``∫|Y_lm|² dΩ = 1``), so that
  ``Σ_l S_l`` = the area mean of ``f²`` for a field band-limited to ``lmax``. Units: (field units)².

The spherical-harmonic projection is our own small implementation (physics_metrics may not import the
simulators): ``a_lm = 2π Σ_i q_i c_m(μ_i) P̄_lm(μ_i)`` where ``c_m`` is the m-th longitude Fourier
coefficient (``rfft/n_lon``), ``μ = sin φ`` and ``q_i`` are *interpolatory* quadrature weights on the given
latitudes (exact for polynomials in μ of degree ≤ n_lat − 1: Clenshaw–Curtis on an equiangular grid with
poles, Fejér's first rule without poles), found from the Chebyshev moments ``∫T_k dμ``. Because
``P̄_lm P̄_l'm`` is ``(1−μ²)^m`` times a polynomial of degree ``l + l' − 2m``, the projection is exact for
fields band-limited to ``lmax`` when ``2·lmax ≤ n_lat − 1`` and ``lmax < n_lon/2`` (the default ``lmax``).
``P̄_lm`` are the orthonormal associated Legendre functions from the standard stable three-term recursion
(e.g. Holmes & Featherstone 2002, J. Geodesy 76).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricTypeError

logger = logging.getLogger(__name__)

__all__ = [
    "EARTH_RADIUS_M",
    "latitude_quadrature_weights",
    "spherical_harmonic_power_spectrum",
    "zonal_energy_spectrum",
]

EARTH_RADIUS_M = 1000.0 * (6357.0 + 6378.0) / 2.0  # WeatherBench2 schema.EARTH_RADIUS_M = 6 367 500 m


def _check_field(field: Any, lat_dim: str, lon_dim: str) -> xr.DataArray:
    if not isinstance(field, xr.DataArray):
        raise MetricTypeError(f"field: expected an xarray.DataArray, got {type(field).__name__}")
    for d in (lat_dim, lon_dim):
        if d not in field.dims:
            raise MetricInputError(f"field: missing dimension {d!r} (dims: {field.dims})")
    lon = np.asarray(field[lon_dim].values, dtype=np.float64)
    if lon.size < 2:
        raise MetricInputError("field: needs at least 2 longitudes")
    step = np.diff(np.sort(lon))
    if not np.allclose(step, 360.0 / lon.size, atol=1e-6 * 360):
        raise MetricInputError(
            f"{lon_dim}: must be a regular grid covering the full circle (spacing 360/n_lon)"
        )
    return field


def _sort_longitude(field: xr.DataArray, lon_dim: str) -> xr.DataArray:
    lon = np.asarray(field[lon_dim].values)
    return field.isel({lon_dim: np.argsort(np.mod(lon, 360.0))})


def zonal_energy_spectrum(
    field: xr.DataArray,
    *,
    lat_dim: str = "latitude",
    lon_dim: str = "longitude",
    radius: float = EARTH_RADIUS_M,
) -> xr.DataArray:
    """Zonal energy spectrum per latitude circle, as WeatherBench2 computes it.

    ``field``: DataArray with ``lat_dim`` and ``lon_dim`` (degrees; longitudes regular over 360°, any start
    and order); other dims are kept. Returns ``(..., latitude, zonal_wavenumber)`` with
    ``zonal_wavenumber = 0 … n_lon//2`` and coordinate ``wavelength`` (m, ``C/k``; inf at k = 0). See the
    module docstring for the formula. Averaging over time/latitudes is left to the caller (WB2 averages the
    spectrum over time).
    """
    field = _sort_longitude(_check_field(field, lat_dim, lon_dim), lon_dim)
    n_lon = field.sizes[lon_dim]

    def _rfft_power(x: np.ndarray) -> np.ndarray:
        p = np.abs(np.fft.rfft(x, axis=-1, norm="forward")) ** 2
        p[..., 1:] *= 2.0
        return p

    power = xr.apply_ufunc(
        _rfft_power,
        field,
        input_core_dims=[[lon_dim]],
        output_core_dims=[["zonal_wavenumber"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"zonal_wavenumber": n_lon // 2 + 1}},
    )
    circumference = 2.0 * np.pi * radius * np.clip(np.cos(np.deg2rad(field[lat_dim])), 0.0, None)
    k = np.arange(n_lon // 2 + 1)
    out = (power * circumference).assign_coords(zonal_wavenumber=k)
    with np.errstate(divide="ignore"):
        wavelength = circumference / xr.DataArray(k.astype(float), dims="zonal_wavenumber")
    out = out.assign_coords(wavelength=wavelength.transpose(lat_dim, "zonal_wavenumber"))
    out.attrs.update(units=f"({field.attrs.get('units', 'field units')})^2 m", convention="WeatherBench2")
    return out.rename("zonal_energy_spectrum")


def latitude_quadrature_weights(latitude: Any) -> np.ndarray:
    """Interpolatory quadrature weights ``q_i`` with ``Σ q_i g(sin φ_i) = ∫_{−1}^{1} g(μ) dμ`` exactly for
    polynomials ``g`` of degree ≤ n − 1 (any order of the latitudes; output in the input order).

    Solved from the Chebyshev moments ``∫T_k dμ = 2/(1−k²)`` (k even, else 0). Equals Clenshaw–Curtis on an
    equiangular grid with poles and Fejér's first rule on one without. Raises ``ValueError`` if the
    latitudes are not distinct or the weights come out negative (an irregular grid).
    """
    lat = np.asarray(latitude, dtype=np.float64)
    if lat.ndim != 1 or lat.size < 2:
        raise MetricInputError("latitude: need a 1-D array of at least 2 latitudes")
    if np.unique(lat).size != lat.size or np.any(np.abs(lat) > 90.0):
        raise MetricInputError("latitude: values must be distinct and within [-90, 90]")
    mu = np.sin(np.deg2rad(lat))
    n = lat.size
    k = np.arange(n)
    vander = np.cos(np.outer(k, np.arccos(np.clip(mu, -1.0, 1.0))))  # T_k(μ_i), shape (n, n)
    kf = k.astype(float)
    moments = np.zeros(n)
    moments[::2] = 2.0 / (1.0 - kf[::2] ** 2)
    q = np.linalg.solve(vander, moments)
    if np.any(q < -1e-12):
        raise MetricInputError("latitude: quadrature weights are negative; use a regular (equiangular) grid")
    return q


def _legendre_orthonormal(m: int, lmax: int, mu: np.ndarray) -> np.ndarray:
    """``P̄_lm(μ)`` for ``l = m … lmax``, shape ``(lmax − m + 1, len(μ))``, with ``∫∫ |P̄_lm e^{imλ}|² = 1``."""
    s = np.sqrt(np.clip(1.0 - mu**2, 0.0, None))
    p_mm = np.full_like(mu, 1.0 / np.sqrt(4.0 * np.pi))
    for j in range(1, m + 1):
        p_mm = -np.sqrt((2.0 * j + 1.0) / (2.0 * j)) * s * p_mm
    out = np.empty((lmax - m + 1, mu.size))
    out[0] = p_mm
    if lmax > m:
        out[1] = np.sqrt(2.0 * m + 3.0) * mu * p_mm
    for l in range(m + 2, lmax + 1):
        a = np.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))
        b = np.sqrt(((l - 1.0) ** 2 - m * m) / (4.0 * (l - 1.0) ** 2 - 1.0))
        out[l - m] = a * (mu * out[l - m - 1] - b * out[l - m - 2])
    return out


def spherical_harmonic_power_spectrum(
    field: xr.DataArray,
    lmax: int | None = None,
    *,
    lat_dim: str = "latitude",
    lon_dim: str = "longitude",
) -> xr.DataArray:
    """Degree power spectrum ``S_l`` of a field on a regular latitude-longitude grid.

    ``field``: DataArray with ``lat_dim`` (any order, with or without poles, equiangular) and ``lon_dim``
    (regular over 360°); other dims kept. ``lmax`` defaults to ``min((n_lat − 1)//2, ceil(n_lon/2) − 1)``,
    the largest degree for which the projection is exact; a larger ``lmax`` (≤ n_lat − 1) is allowed but
    aliases. Returns ``(..., degree)`` with ``degree = 0 … lmax``; units (field units)². Formula in the
    module docstring.
    """
    field = _sort_longitude(_check_field(field, lat_dim, lon_dim), lon_dim)
    n_lat, n_lon = field.sizes[lat_dim], field.sizes[lon_dim]
    l_exact = min((n_lat - 1) // 2, (n_lon + 1) // 2 - 1)
    if lmax is None:
        lmax = l_exact
    lmax = int(lmax)
    if lmax < 0 or lmax > min(n_lat - 1, (n_lon + 1) // 2 - 1):
        raise MetricInputError(
            f"lmax: must be in [0, {min(n_lat - 1, (n_lon + 1) // 2 - 1)}] for this grid, got {lmax}"
        )
    if lmax > l_exact:
        logger.warning("lmax=%d exceeds the exact limit %d for this grid: expect aliasing", lmax, l_exact)
    lat = np.asarray(field[lat_dim].values, dtype=np.float64)
    q = latitude_quadrature_weights(lat)
    mu = np.sin(np.deg2rad(lat))
    legendre = [_legendre_orthonormal(m, lmax, mu) for m in range(lmax + 1)]

    def _core(x: np.ndarray) -> np.ndarray:
        c = np.fft.rfft(x, axis=-1) / n_lon  # (..., n_lat, n_lon//2+1): f = Σ_m c_m e^{imλ}, c_{-m}=c_m*
        out = np.zeros(x.shape[:-2] + (lmax + 1,))
        for m in range(lmax + 1):
            # a_lm = 2π Σ_i q_i c_m(μ_i) P̄_lm(μ_i)
            a = 2.0 * np.pi * np.einsum("...i,li->...l", c[..., m] * q, legendre[m])
            out[..., m:] += (1.0 if m == 0 else 2.0) * np.abs(a) ** 2
        return out / (4.0 * np.pi)

    out = xr.apply_ufunc(
        _core,
        field,
        input_core_dims=[[lat_dim, lon_dim]],
        output_core_dims=[["degree"]],
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"degree": lmax + 1}},
    )
    out = out.assign_coords(degree=np.arange(lmax + 1))
    out.attrs.update(
        units=f"({field.attrs.get('units', 'field units')})^2", normalisation="sum_l S_l = mean f^2"
    )
    return out.rename("sh_power_spectrum")
