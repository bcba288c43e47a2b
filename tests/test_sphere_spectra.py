"""Spherical kinetic-energy spectrum: Parseval, the factor 2 for m ≥ 1, invariances, small-scale ratio, errors."""

import math

import numpy as np
import pytest
import torch
import xarray as xr

from physics_metrics.errors import MetricInputError
from physics_metrics.spherical_harmonics import SphericalHarmonicTransform
from physics_metrics.weather import kinetic_energy_spectrum, spectrum_ratio_small_scales, sphere_grid

A = 6.37122e6
GRIDS = [("legendre-gauss", 32, 64, 15), ("equiangular", 37, 72, 10)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _coeffs(sht, rng, *batch):
    shape = (*batch, *sht.coeff_shape)
    c = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    ell = np.arange(sht.lmax + 1)[:, None]
    em = np.arange(sht.mmax + 1)[None, :]
    c = c * (em <= ell) * (ell > 0) * 1e-5  # vorticity ~ 1e-5 1/s
    c[..., 0] = c[..., 0].real
    return torch.as_tensor(c)


def _flow(grid, nlat, nlon, lmax, seed=0, n_time=2):
    """A random band-limited flow with both rotational and divergent parts, and its (ζ_lm, δ_lm)."""
    sht = SphericalHarmonicTransform(nlat, nlon, lmax=lmax, mmax=lmax, grid=grid, radius=A)
    rng = np.random.default_rng(seed)
    vrt, div = _coeffs(sht, rng, n_time), _coeffs(sht, rng, n_time)
    u, v = sht.uv_from_vrtdiv(vrt, div)
    dims = ("time", "latitude", "longitude")
    coords = {"time": np.arange(n_time), "latitude": sht.lat, "longitude": sht.lon}
    ds = xr.Dataset(
        {
            "u": (dims, u.numpy()),
            "v": (dims, v.numpy()),
            "vo": (dims, sht.inverse(vrt).numpy()),
            "div": (dims, sht.inverse(div).numpy()),
        },
        coords=coords,
    )
    return ds, vrt.numpy(), div.numpy()


@pytest.mark.parametrize(("grid", "nlat", "nlon", "lmax"), GRIDS)
def test_parseval_and_per_degree_values(grid, nlat, nlon, lmax):
    ds, vrt, div = _flow(grid, nlat, nlon, lmax)
    spec = kinetic_energy_spectrum(ds[["u", "v"]])
    assert spec.dims == ("time", "wavenumber") and spec.attrs["units"] == "m**2 s**-2"
    assert spec.wavenumber.values[0] == 0 and float(abs(spec.sel(wavenumber=0)).max()) == 0
    # Parseval: Σ_l E(l) = ½ <u² + v²> (area mean)
    ke = sphere_grid(ds).area_mean(0.5 * (ds.u**2 + ds.v**2))
    err = float(abs(spec.sum("wavenumber") / ke - 1).max())
    assert err < 1e-12, err
    # E(l) = a²/(8π l(l+1)) Σ_m w_m (|ζ_lm|² + |δ_lm|²), w_0 = 1, w_m = 2 (m ≥ 1)
    power = np.abs(vrt) ** 2 + np.abs(div) ** 2
    power[..., 1:] *= 2
    ell = np.arange(1, lmax + 1)
    expected = A**2 / (8 * math.pi * ell * (ell + 1)) * power.sum(-1)[:, 1:]
    np.testing.assert_allclose(spec.sel(wavenumber=slice(1, lmax)).values, expected, rtol=1e-11)
    # beyond the flow's truncation the spectrum is zero (to round-off)
    tail = spec.sel(wavenumber=slice(lmax + 1, None))
    assert float(tail.max()) < 1e-12 * float(spec.max())


def test_non_zonal_mode_counts_twice():
    # a single (l, m) = (4, 3) vorticity mode: all the kinetic energy is at l = 4, none lost without the ×2
    sht = SphericalHarmonicTransform(32, 64, radius=A)
    vrt = torch.zeros(sht.coeff_shape, dtype=torch.complex128)
    vrt[4, 3] = 1e-5 * (1 + 1j)
    u, v = sht.uv_from_vrtdiv(vrt, torch.zeros_like(vrt))
    coords = {"latitude": sht.lat, "longitude": sht.lon}
    spec = kinetic_energy_spectrum(
        xr.DataArray(u.numpy(), dims=("latitude", "longitude"), coords=coords),
        xr.DataArray(v.numpy(), dims=("latitude", "longitude"), coords=coords),
    )
    ke = float((sht.integrate(0.5 * (u * u + v * v)) / (4 * math.pi * A**2)).item())
    assert spec.dims == ("wavenumber",)
    assert float(spec.sel(wavenumber=4)) == pytest.approx(ke, rel=1e-12)
    assert float(spec.sum() - spec.sel(wavenumber=4)) < 1e-12 * ke


def test_orientation_longitude_order_and_vrtdiv_input():
    ds, _, _ = _flow("legendre-gauss", 32, 64, 15)
    ref = kinetic_energy_spectrum(ds[["u", "v"]])
    moved = (
        ds.isel(latitude=slice(None, None, -1))
        .roll(longitude=9, roll_coords=True)
        .transpose("longitude", "time", "latitude")
    )
    np.testing.assert_allclose(kinetic_energy_spectrum(moved[["u", "v"]]).values, ref.values, rtol=1e-12)
    from_vd = kinetic_energy_spectrum(ds[["vo", "div"]])
    np.testing.assert_allclose(from_vd.values, ref.values, rtol=1e-10, atol=1e-14 * float(ref.max()))
    keywords = kinetic_energy_spectrum(None, vo=ds.vo, div=ds.div)
    np.testing.assert_allclose(keywords.values, from_vd.values, rtol=0, atol=0)
    assert kinetic_energy_spectrum(ds, lmax=10).sizes["wavenumber"] == 11


def test_small_scale_ratio():
    ell = np.arange(21)
    truth = xr.DataArray(
        np.concatenate([[0.0], ell[1:] ** -3.0]), dims="wavenumber", coords={"wavenumber": ell}
    )
    noisy = truth * xr.where(truth.wavenumber > 15, 4.0, 1.0)
    blurred = truth * np.exp(-truth.wavenumber / 5.0)
    # top quarter of 1..20: l = 16..20
    r = spectrum_ratio_small_scales(noisy, truth)
    assert float(r) == pytest.approx(4.0) and r.attrs["band"] == [16, 20]
    expected = np.exp(-np.arange(16, 21) / 5.0).mean()
    assert float(spectrum_ratio_small_scales(blurred, truth)) == pytest.approx(expected, rel=1e-12)
    assert float(spectrum_ratio_small_scales(noisy, truth, wavenumbers=(14, 17))) == pytest.approx(2.5)
    per_lead = xr.concat([truth, noisy], dim="lead_time")
    np.testing.assert_allclose(spectrum_ratio_small_scales(per_lead, truth).values, [1.0, 4.0])
    with pytest.raises(MetricInputError, match=r"model 31 wavenumbers \(lmax 30\), truth 21 \(lmax 20\)"):
        spectrum_ratio_small_scales(
            xr.DataArray(np.ones(31), dims="wavenumber", coords={"wavenumber": np.arange(31)}), truth
        )
    with pytest.raises(MetricInputError, match="fraction"):
        spectrum_ratio_small_scales(noisy, truth, fraction=1.5)
    with pytest.raises(MetricInputError, match="wavenumbers"):
        spectrum_ratio_small_scales(noisy, truth, wavenumbers=(5, 40))


def test_bad_input():
    ds, _, _ = _flow("legendre-gauss", 32, 64, 15, n_time=1)
    with pytest.raises(MetricInputError, match=r"needs both u and v; dataset has \['div', 'u', 'vo'\]"):
        kinetic_energy_spectrum(ds.drop_vars("v"))
    with pytest.raises(MetricInputError, match=r"u and v \(or vo and div\); dataset has \['div'\]"):
        kinetic_energy_spectrum(ds[["div"]])
    with pytest.raises(MetricInputError, match="no latitude dimension"):
        kinetic_energy_spectrum(ds.rename(latitude="y"))
    with pytest.raises(MetricInputError, match=r"\(regular\)"):
        kinetic_energy_spectrum(ds.interp(latitude=np.arange(-87.5, 90, 5.0)))
    with pytest.raises(MetricInputError, match="v:"):
        kinetic_energy_spectrum(ds.u)
    with pytest.raises(MetricInputError, match="grid of u"):
        kinetic_energy_spectrum(ds.u, ds.v.isel(longitude=slice(0, None, 2)))
    with pytest.raises(TypeError):
        kinetic_energy_spectrum(np.zeros((32, 64)))
