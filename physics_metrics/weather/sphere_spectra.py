"""Kinetic-energy spectrum per total wavenumber on the sphere, and a small-scale ratio (blurring vs noise).

Derivation (wave2 reference §D.2). The transform (:mod:`physics_metrics.spherical_harmonics`) uses
harmonics orthonormal on the unit sphere, coefficients ``c_lm = ∫ f Y*_lm dΩ`` kept for ``m ≥ 0`` only, and
``f = Σ_l [c_l0 Y_l0 + 2 Re Σ_{m≥1} c_lm Y_lm]``, so that ``∫ f² dΩ = Σ_l Σ_m w_m |c_lm|²`` with
``w_0 = 1`` and ``w_m = 2`` for ``m ≥ 1`` (the negative orders). Write the wind as
``V = k×∇ψ + ∇χ`` with vorticity ``ζ = ∇²ψ`` and divergence ``δ = ∇²χ``; on a sphere of radius ``a``,
``∇² Y_lm = −l(l+1)/a² Y_lm``, so ``ψ_lm = −a² ζ_lm / (l(l+1))``. Integrating by parts,
``∫ ½|V|² dA = ½ ∫ (ψ(−∇²ψ) + χ(−∇²χ)) dA = ½ a⁴ Σ' (|ζ_lm|² + |δ_lm|²)/(l(l+1))`` (Σ' with the weights
``w_m``; the cross terms integrate to zero). Dividing by the area ``4π a²``::

    E(l) = a² / (8π l(l+1)) · Σ_{m=0}^{l} w_m (|ζ_lm|² + |δ_lm|²),    E(0) = 0,

and ``Σ_l E(l) = ½ ⟨|V|²⟩`` (area mean, m² s⁻²) for a wind whose vorticity and divergence are band-limited
to ``lmax`` (Parseval; tested). Units of ``E(l)``: m² s⁻² per unit wavenumber. ``ζ_lm, δ_lm`` come from
``(u, v)`` through ``vrtdiv_from_uv`` (exact vector analysis, not ``u`` and ``v`` transformed as scalars),
or from given ``vo`` and ``div`` grids.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import xarray as xr

from ..errors import MetricInputError, MetricTypeError
from .sphere_grid import sphere_grid

logger = logging.getLogger(__name__)

__all__ = ["kinetic_energy_spectrum", "spectrum_ratio_small_scales"]


def _coefficient_power(vrt: torch.Tensor, div: torch.Tensor) -> torch.Tensor:
    """``Σ_m w_m (|ζ_lm|² + |δ_lm|²)`` per degree, ``(..., L)``."""
    power = vrt.abs() ** 2 + div.abs() ** 2  # (..., L, M)
    power[..., 1:] *= 2.0
    return power.sum(-1)


def kinetic_energy_spectrum(
    data: xr.Dataset | xr.DataArray,
    v: xr.DataArray | None = None,
    *,
    vo: xr.DataArray | None = None,
    div: xr.DataArray | None = None,
    radius: float = 6.37122e6,
    lmax: int | None = None,
) -> xr.DataArray:
    """Area-mean kinetic energy per total wavenumber ``l``, ``E(l)`` (module docstring), in m² s⁻².

    Parameters
    ----------
    data
        A Dataset with ``u`` and ``v`` (m s⁻¹) — or, without them, ``vo`` and ``div`` (s⁻¹) — or the ``u``
        DataArray itself (then pass ``v``). Dims ``(..., latitude, longitude)``: Gauss–Legendre latitudes or
        an equiangular grid with both poles, either orientation; longitudes regular over 360°.
    v
        Northward wind when ``data`` is ``u``.
    vo, div
        Relative vorticity and divergence grids (s⁻¹), used when there are no winds: pass ``data=None``
        with both keywords, or a Dataset holding ``vo`` and ``div`` (winds, when given, take precedence).
    radius
        Sphere radius ``a`` (m).
    lmax
        Largest degree (default: the largest the grid's quadrature transforms exactly).

    Returns
    -------
    xarray.DataArray
        Dims ``(..., wavenumber)`` with ``wavenumber = 0 … lmax`` (the other dims of the input kept),
        name ``kinetic_energy_spectrum``, units m² s⁻²; ``Σ_l E(l) = ½⟨u² + v²⟩`` for band-limited winds.
    """
    if isinstance(data, xr.Dataset):
        u = data["u"] if "u" in data else None
        v = data["v"] if "v" in data else v
        vo = data["vo"] if vo is None and "vo" in data else vo
        div = data["div"] if div is None and "div" in data else div
        if (u is None) != (v is None):
            have = sorted(str(k) for k in data.data_vars)
            raise MetricInputError(f"kinetic_energy_spectrum needs both u and v; dataset has {have}")
        if u is None and (vo is None or div is None):
            have = sorted(str(k) for k in data.data_vars)
            raise MetricInputError(
                f"kinetic_energy_spectrum needs u and v (or vo and div); dataset has {have}"
            )
    elif isinstance(data, xr.DataArray):
        u = data
        if v is None:
            raise MetricInputError("v: pass the northward wind with the u DataArray")
    elif data is None and vo is not None and div is not None:
        u = None
    else:
        raise MetricTypeError(
            f"data: expected an xarray Dataset or the u DataArray, got {type(data).__name__}"
        )
    first = u if u is not None else vo
    for name, arr in (("v", v if u is not None else None), ("vo", vo), ("div", div)):
        if arr is not None and not isinstance(arr, xr.DataArray):
            raise MetricTypeError(f"{name}: expected an xarray.DataArray, got {type(arr).__name__}")
    grid = sphere_grid(first, radius=radius, label="u" if u is not None else "vo")
    sht = grid.sht(lmax)
    with torch.no_grad():
        if u is not None:
            if set(v.dims) != set(u.dims) or not sphere_grid(v, radius=radius, label="v").same_as(grid):
                raise MetricInputError(f"v: must have the dims and grid of u {u.dims}; got {v.dims}")
            ut, lead = grid.to_tensor(u)
            vt, _ = grid.to_tensor(v.transpose(*u.dims))
            vrt_c, div_c = sht.vrtdiv_from_uv(ut, vt)
        else:
            if set(div.dims) != set(vo.dims):
                raise MetricInputError(f"div: must have the dims of vo {vo.dims}; got {div.dims}")
            zt, lead = grid.to_tensor(vo)
            dt, _ = grid.to_tensor(div.transpose(*vo.dims))
            vrt_c, div_c = sht.forward(zt), sht.forward(dt)
        power = _coefficient_power(vrt_c, div_c).numpy()
    ell = np.arange(sht.lmax + 1, dtype=np.float64)
    factor = np.zeros_like(ell)
    factor[1:] = radius**2 / (8.0 * np.pi * ell[1:] * (ell[1:] + 1.0))
    coords = {k: c for k, c in first.coords.items() if set(c.dims) <= set(lead)}
    out = xr.DataArray(
        power * factor, dims=(*lead, "wavenumber"), coords={**coords, "wavenumber": np.arange(sht.lmax + 1)}
    )
    out.attrs.update(
        units="m**2 s**-2",
        long_name="kinetic energy per total wavenumber (area mean)",
        normalisation="sum over wavenumber = area mean of (u^2 + v^2)/2",
        grid=grid.describe(),
        lmax=sht.lmax,
        mmax=sht.mmax,
    )
    return out.rename("kinetic_energy_spectrum")


def spectrum_ratio_small_scales(
    model_spec: xr.DataArray,
    truth_spec: xr.DataArray,
    *,
    fraction: float = 0.25,
    wavenumbers: tuple[int, int] | None = None,
    dim: str = "wavenumber",
) -> xr.DataArray:
    """Mean of ``model/truth`` over the highest resolved wavenumbers: ≫ 1 noise piling up, ≪ 1 blurring.

    ``ratio = mean_{l ∈ band} E_model(l) / E_truth(l)``, the band being the highest ``fraction`` of the
    wavenumbers ``1 … lmax`` (``l ≥ lmax − ⌈fraction·lmax⌉ + 1``; default the top quarter) or the inclusive
    range ``wavenumbers=(l_lo, l_hi)``. Both spectra (e.g. from :func:`kinetic_energy_spectrum`, usually
    averaged over time first) must have the same ``dim`` coordinate; other dims broadcast (e.g. a model
    spectrum per lead time against one truth spectrum). Wavenumbers where the truth is 0 are left out.
    Returns a DataArray without ``dim``, attrs ``band = [l_lo, l_hi]``. Raises :class:`MetricInputError` if
    the spectra come from different truncations (naming both sizes).
    """
    for name, spec in (("model_spec", model_spec), ("truth_spec", truth_spec)):
        if not isinstance(spec, xr.DataArray):
            raise MetricTypeError(f"{name}: expected an xarray.DataArray, got {type(spec).__name__}")
        if dim not in spec.dims or dim not in spec.coords:
            raise MetricInputError(f"{name}: no {dim!r} dimension with coordinates (dims: {list(spec.dims)})")
    lm, lt = np.asarray(model_spec[dim].values), np.asarray(truth_spec[dim].values)
    if lm.shape != lt.shape or not np.array_equal(lm, lt):
        raise MetricInputError(
            f"model_spec and truth_spec have different {dim} ranges: model {lm.size} wavenumbers "
            f"(lmax {lm.max() if lm.size else None}), truth {lt.size} (lmax {lt.max() if lt.size else None}); "
            "compute both spectra on the same grid and truncation"
        )
    lmax = int(lm.max())
    if wavenumbers is None:
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
            raise MetricInputError(f"fraction: expected a number in (0, 1], got {fraction!r}")
        n_band = max(1, int(np.ceil(fraction * lmax)))
        lo, hi = lmax - n_band + 1, lmax
    else:
        lo, hi = (int(x) for x in wavenumbers)
        if not 0 <= lo <= hi <= lmax:
            raise MetricInputError(f"wavenumbers: expected 0 ≤ low ≤ high ≤ {lmax}, got {wavenumbers!r}")
    band = {dim: (lm >= lo) & (lm <= hi)}
    truth = truth_spec.isel(band)
    ratio = (model_spec.isel(band) / truth.where(truth != 0)).mean(dim)
    return ratio.rename("spectrum_ratio_small_scales").assign_attrs(band=[lo, hi], units="1")
