"""Latitude weights for area-weighted means on regular latitude-longitude grids.

Two definitions exist, under explicit names (``kind=``):

* ``"cell_area"`` (WeatherBench2, ``weatherbench2/metrics.py`` ``get_lat_weights``): the latitudes are
  sorted increasingly, cell edges are the midpoints between neighbouring latitudes with -90° and +90° as
  the outermost edges, and ``w_i = sin(φ_{i+½}) − sin(φ_{i−½})`` — the exact area of the latitude band.
  On a grid with poles the pole rows get their half cell (non-zero weight); on a grid without poles the
  outermost cells reach the poles.
* ``"cos"`` (ChaosBench, ``criterion.get_adjusting_weights``): ``w_i = cos φ_i`` (clipped at 0, so a
  pole row gets exactly 0).

Both are normalised to mean 1 over the latitudes given, so a weighted mean is ``mean(w * x)``.
The returned weights follow the order of the input latitudes (any orientation).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricTypeError

logger = logging.getLogger(__name__)

__all__ = ["latitude_weights"]

_KINDS = ("cell_area", "cos")


def _latitude_values(latitude: Any) -> tuple[np.ndarray, str]:
    if isinstance(latitude, xr.Dataset):
        raise MetricTypeError("latitude: pass the latitude coordinate (a DataArray or array), not a Dataset")
    if isinstance(latitude, xr.DataArray):
        if latitude.ndim != 1:
            raise MetricInputError(f"latitude: expected a 1-D coordinate, got dims {latitude.dims}")
        return np.asarray(latitude.values, dtype=np.float64), str(latitude.dims[0])
    values = np.asarray(latitude, dtype=np.float64)
    if values.ndim != 1:
        raise MetricInputError(f"latitude: expected a 1-D array, got shape {values.shape}")
    return values, "latitude"


def latitude_weights(latitude: Any, kind: str = "cell_area") -> xr.DataArray:
    """Latitude weights normalised to mean 1 over the given latitudes.

    Parameters
    ----------
    latitude
        1-D latitudes in degrees (DataArray coordinate or array-like), any order (90 → −90 or −90 → 90),
        with or without the poles; values must be distinct, finite and within [−90, 90].
    kind
        ``"cell_area"`` (WeatherBench2: ``sin`` of the upper cell edge minus ``sin`` of the lower edge,
        edges at midpoints, ±90° at the ends) or ``"cos"`` (ChaosBench: ``cos φ``).

    Returns
    -------
    xarray.DataArray
        Shape ``(n_lat,)``, dim ``latitude`` (or the input's dim name), coordinate = the input latitudes
        in the input order; ``weights.mean() == 1``. Dimensionless.
    """
    if kind not in _KINDS:
        raise MetricInputError(f"kind: must be one of {_KINDS}, got {kind!r}")
    lat, dim = _latitude_values(latitude)
    if lat.size == 0:
        raise MetricInputError("latitude: empty")
    if not np.all(np.isfinite(lat)):
        raise MetricInputError("latitude: contains NaN/inf")
    if np.any(np.abs(lat) > 90.0 + 1e-9):
        raise MetricInputError(f"latitude: values outside [-90, 90] (min {lat.min()}, max {lat.max()})")
    order = np.argsort(lat, kind="stable")
    lat_sorted = np.clip(lat[order], -90.0, 90.0)
    if np.any(np.diff(lat_sorted) <= 0):
        raise MetricInputError("latitude: values must be distinct")
    if kind == "cos":
        w_sorted = np.clip(np.cos(np.deg2rad(lat_sorted)), 0.0, None)
        w_sorted[np.abs(lat_sorted) == 90.0] = 0.0
    else:
        rad = np.deg2rad(lat_sorted)
        edges = np.concatenate([[-np.pi / 2], 0.5 * (rad[:-1] + rad[1:]), [np.pi / 2]])
        w_sorted = np.sin(edges[1:]) - np.sin(edges[:-1])
    if not np.any(w_sorted > 0):
        raise MetricInputError(f"latitude: all {kind} weights are zero (only pole rows given?)")
    weights = np.empty_like(w_sorted)
    weights[order] = w_sorted
    weights = weights / weights.mean()
    out = xr.DataArray(weights, dims=(dim,), coords={dim: lat}, name="latitude_weights")
    out.attrs.update(kind=kind, units="1", normalisation="mean 1 over the given latitudes")
    return out
