"""Latitude–longitude grids on the sphere: detect the latitude layout, quadrature weights, and the SHT.

Shared by :mod:`.conservation`, :mod:`.sphere_spectra` and :mod:`.stability`. Dimensions are found by
coordinate name (``latitude``/``lat``, ``longitude``/``lon``); latitudes may be in either orientation and
longitudes in any order, as long as they are regular over the full circle (spacing ``360/n_lon``).

Quadrature (wave2 reference §D.1): ``∫ F dA ≈ a² (2π/n_lon) Σ_j w_j Σ_i F_ij`` with weights ``w_j`` in
``μ = sin φ`` that sum to 2, so the weights of all cells sum to ``4π a²``. The layout is detected from the
latitudes:

* ``"legendre-gauss"``: the latitudes are ``arcsin`` of the roots of ``P_n`` (within 1e-6°) → Gauss weights;
* ``"equiangular"``: regular spacing ``180/(n−1)`` including both poles → Clenshaw–Curtis weights;
* ``"regular"``: regular spacing without the poles, or ``"irregular"``: anything else → cell-area weights
  ``w_j = sin φ_{j+½} − sin φ_{j−½}`` (edges at midpoints, ±90° outermost; WeatherBench2's weights).

Only the first two layouts are supported by :class:`~physics_metrics.spherical_harmonics.SphericalHarmonicTransform`
(:func:`sht_for_grid` raises a :class:`MetricInputError` naming the layout otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr
from scipy.special import roots_legendre

from ..errors import MetricInputError, MetricTypeError
from ..spherical_harmonics import SphericalHarmonicTransform, clenshaw_curtis_weights

__all__ = [
    "LAT_NAMES",
    "LON_NAMES",
    "SphereGrid",
    "sphere_grid",
    "sphere_quadrature_weights",
]

LAT_NAMES = ("latitude", "lat")
LON_NAMES = ("longitude", "lon")
_TOL_DEG = 1e-6


def _find_dim(obj: xr.Dataset | xr.DataArray, names: tuple[str, ...], what: str, label: str) -> str:
    for name in names:
        if name in obj.dims:
            return name
    raise MetricInputError(f"{label}: no {what} dimension (looked for {list(names)}; dims: {list(obj.dims)})")


def sphere_quadrature_weights(latitude: Any) -> tuple[np.ndarray, str]:
    """Quadrature weights in ``μ = sin φ`` for the given latitudes (degrees, any order) and the detected layout.

    Returns ``(w, layout)``: ``w`` of shape ``(n_lat,)`` in the input order with ``Σ w = 2``; ``layout`` one
    of ``"legendre-gauss"``, ``"equiangular"``, ``"regular"``, ``"irregular"`` (module docstring).
    """
    lat = np.asarray(latitude, dtype=np.float64)
    if lat.ndim != 1 or lat.size < 2:
        raise MetricInputError(
            f"latitude: need a 1-D coordinate of at least 2 latitudes, got shape {lat.shape}"
        )
    if not np.all(np.isfinite(lat)) or np.any(np.abs(lat) > 90.0 + _TOL_DEG):
        raise MetricInputError("latitude: values must be finite and within [-90, 90]")
    order = np.argsort(lat)
    s = lat[order]  # south to north
    if np.any(np.diff(s) <= 0):
        raise MetricInputError("latitude: values must be distinct")
    n = s.size
    x, w_gauss = roots_legendre(n)  # ascending μ = south to north
    spacing = np.diff(s)
    if np.allclose(np.degrees(np.arcsin(x)), s, rtol=0, atol=_TOL_DEG):
        w_sorted, layout = w_gauss, "legendre-gauss"
    elif np.allclose(spacing, 180.0 / (n - 1), rtol=0, atol=_TOL_DEG) and n >= 3:
        w_sorted, layout = clenshaw_curtis_weights(n)[1][::-1], "equiangular"
    else:
        rad = np.deg2rad(np.clip(s, -90.0, 90.0))
        edges = np.concatenate([[-np.pi / 2], 0.5 * (rad[:-1] + rad[1:]), [np.pi / 2]])
        w_sorted = np.sin(edges[1:]) - np.sin(edges[:-1])
        layout = "regular" if np.allclose(spacing, spacing[0], rtol=0, atol=_TOL_DEG) else "irregular"
    w = np.empty(n)
    w[order] = w_sorted
    return w, layout


class SphereGrid:
    """The latitude/longitude layout of an xarray object and the tools to integrate or transform on it.

    Attributes: ``lat_dim``, ``lon_dim`` (names), ``lat`` and ``lon`` (degrees, input order), ``nlat``,
    ``nlon``, ``layout`` (see :func:`sphere_quadrature_weights`), ``weights`` (μ-weights, ``Σ = 2``),
    ``radius`` (m). Build with :func:`sphere_grid`.
    """

    def __init__(self, lat_dim: str, lon_dim: str, lat: np.ndarray, lon: np.ndarray, radius: float) -> None:
        self.lat_dim, self.lon_dim = lat_dim, lon_dim
        self.lat, self.lon = lat, lon
        self.nlat, self.nlon = lat.size, lon.size
        self.radius = float(radius)
        self.weights, self.layout = sphere_quadrature_weights(lat)

    def describe(self) -> str:
        """``'121 x 240 (equiangular)'``: grid size and latitude layout, for messages."""
        return f"{self.nlat} x {self.nlon} ({self.layout})"

    def cell_areas(self) -> xr.DataArray:
        """Area of each latitude row's cells, ``a² (2π/n_lon) w_j`` (m²), dim ``lat_dim``; ``Σ·n_lon = 4πa²``."""
        areas = self.weights * 2.0 * np.pi / self.nlon * self.radius**2
        return xr.DataArray(areas, dims=(self.lat_dim,), coords={self.lat_dim: self.lat}, name="cell_area")

    def integrate(self, field: xr.DataArray) -> xr.DataArray:
        """``∫ field dA`` (field units × m²) over latitude and longitude; other dims kept."""
        return (field * self.cell_areas()).sum((self.lat_dim, self.lon_dim))

    def area_mean(self, field: xr.DataArray) -> xr.DataArray:
        """Area-weighted mean over latitude and longitude, ``∫ field dA / (4π a²)``; other dims kept."""
        return self.integrate(field) / (4.0 * np.pi * self.radius**2)

    def sht(self, lmax: int | None = None) -> SphericalHarmonicTransform:
        """A transform on this grid (float64, ``radius``): ``lmax`` defaults to the largest degree the
        quadrature transforms exactly (``nlat − 1`` Gauss, ``(nlat − 1)//2`` equiangular), ``mmax =
        min(lmax, (nlon − 1)//2)``. Raises :class:`MetricInputError` naming the layout if the latitudes
        are neither Gaussian nor equiangular with poles."""
        if self.layout not in ("legendre-gauss", "equiangular"):
            raise MetricInputError(
                f"{self.lat_dim}: the spherical harmonic transform needs Gauss–Legendre latitudes or an "
                f"equiangular grid including both poles; this grid is {self.describe()}"
            )
        exact = self.nlat - 1 if self.layout == "legendre-gauss" else (self.nlat - 1) // 2
        lmax = min(exact, (self.nlon - 1) // 2) if lmax is None else int(lmax)
        mmax = min(lmax, (self.nlon - 1) // 2)
        return SphericalHarmonicTransform(
            self.nlat, self.nlon, lmax, mmax, self.layout, radius=self.radius, dtype=torch.float64
        )

    def to_tensor(self, field: xr.DataArray) -> tuple[torch.Tensor, tuple[str, ...]]:
        """``(..., nlat, nlon)`` float64 tensor with latitudes north → south and longitudes ascending (the
        transform's order; a shift in longitude commutes with every operator used), and the leading dims."""
        lead = tuple(d for d in field.dims if d not in (self.lat_dim, self.lon_dim))
        arr = field.transpose(*lead, self.lat_dim, self.lon_dim).values
        arr = arr[..., np.argsort(-self.lat, kind="stable"), :][..., np.argsort(np.mod(self.lon, 360.0))]
        return torch.as_tensor(np.ascontiguousarray(arr, dtype=np.float64)), lead

    def from_tensor(self, grid: torch.Tensor, like: xr.DataArray, lead: tuple[str, ...]) -> xr.DataArray:
        """Inverse of :meth:`to_tensor`: back to the input orders, coordinates copied from ``like``."""
        arr = np.empty(grid.shape, dtype=np.float64)
        arr[..., np.argsort(-self.lat, kind="stable"), :] = grid.cpu().numpy()
        out = np.empty_like(arr)
        out[..., np.argsort(np.mod(self.lon, 360.0))] = arr
        dims = (*lead, self.lat_dim, self.lon_dim)
        coords = {k: v for k, v in like.coords.items() if set(v.dims) <= set(dims)}
        return xr.DataArray(out, dims=dims, coords=coords)

    def same_as(self, other: SphereGrid) -> bool:
        """True if both grids hold the same latitudes and longitudes (any order)."""
        if (self.nlat, self.nlon) != (other.nlat, other.nlon):
            return False
        return np.allclose(np.sort(self.lat), np.sort(other.lat), atol=_TOL_DEG) and np.allclose(
            np.sort(np.mod(self.lon, 360.0)), np.sort(np.mod(other.lon, 360.0)), atol=_TOL_DEG
        )


def sphere_grid(obj: Any, *, radius: float = 6.37122e6, label: str = "data") -> SphereGrid:
    """The :class:`SphereGrid` of a Dataset or DataArray (``label`` names it in error messages).

    Raises :class:`MetricInputError` if there is no latitude or longitude dimension, if the latitudes are
    not distinct values in [−90, 90], or if the longitudes are not regular over 360°.
    """
    if not isinstance(obj, xr.Dataset | xr.DataArray):
        raise MetricTypeError(f"{label}: expected an xarray Dataset or DataArray, got {type(obj).__name__}")
    if not (isinstance(radius, int | float) and np.isfinite(radius) and radius > 0):
        raise MetricInputError(f"radius: expected a positive finite number (m), got {radius!r}")
    lat_dim = _find_dim(obj, LAT_NAMES, "latitude", label)
    lon_dim = _find_dim(obj, LON_NAMES, "longitude", label)
    if lat_dim not in obj.coords or lon_dim not in obj.coords:
        raise MetricInputError(f"{label}: {lat_dim!r} and {lon_dim!r} need coordinate values (degrees)")
    lat = np.asarray(obj[lat_dim].values, dtype=np.float64)
    lon = np.asarray(obj[lon_dim].values, dtype=np.float64)
    if lon.size < 3 or not np.allclose(np.diff(np.sort(np.mod(lon, 360.0))), 360.0 / lon.size, atol=_TOL_DEG):
        raise MetricInputError(
            f"{label}: {lon_dim!r} must be regular over the full circle (spacing 360/n_lon), got {lon.size} values"
        )
    return SphereGrid(lat_dim, lon_dim, lat, lon, radius)
