"""Zonal energy spectrum, spherical-harmonic power spectrum and MS-SSIM (hand-derived cases)."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy import ndimage
from scipy_compat import sph_harm_y

from physics_metrics.weather import (
    EARTH_RADIUS_M,
    ms_ssim,
    ms_ssim_torch,
    spherical_harmonic_power_spectrum,
    zonal_energy_spectrum,
)

LON = np.arange(0, 360, 5.0)


def _field(values, lat, lon=LON):
    return xr.DataArray(values, dims=("latitude", "longitude"), coords={"latitude": lat, "longitude": lon})


def test_zonal_spectrum_single_wavenumber():
    lat = np.array([60.0, 0.0, -30.0])
    amp = np.array([1.0, 2.0, 0.5])
    f = _field(amp[:, None] * np.cos(5 * np.deg2rad(LON) + 0.3)[None, :] + 7.0, lat)
    s = zonal_energy_spectrum(f)
    circ = 2 * np.pi * EARTH_RADIUS_M * np.cos(np.deg2rad(lat))
    np.testing.assert_allclose(s.sel(zonal_wavenumber=5).values, circ * amp**2 / 2, rtol=1e-12)
    np.testing.assert_allclose(s.sel(zonal_wavenumber=0).values, circ * 49.0, rtol=1e-12)
    others = s.drop_sel(zonal_wavenumber=[0, 5])
    assert float(np.abs(others).max()) < 1e-20 * float(s.max())
    assert s["wavelength"].sel(zonal_wavenumber=5, latitude=0).item() == pytest.approx(circ[1] / 5)
    # longitude order / start and latitude orientation do not matter
    f2 = f.isel(longitude=np.roll(np.arange(72), 17), latitude=[2, 0, 1])
    np.testing.assert_allclose(zonal_energy_spectrum(f2).sel(latitude=lat).values, s.values, rtol=1e-12)


@pytest.mark.parametrize(
    "lat", [np.linspace(90, -90, 37), np.linspace(-87.5, 87.5, 36)], ids=["poles", "no_poles"]
)
@pytest.mark.parametrize("l,m", [(0, 0), (3, 0), (5, 2), (10, 7), (17, 17)])
def test_spherical_harmonic_puts_all_power_in_degree_l(lat, l, m):
    theta = np.deg2rad(90 - lat)[:, None]
    phi = np.deg2rad(LON)[None, :]
    y = np.real(sph_harm_y(l, m, theta, phi))  # scipy's orthonormal Y_lm, independent of our recursion
    s = spherical_harmonic_power_spectrum(_field(3.0 * y, lat))
    expected = 9.0 / (4 * np.pi) if m == 0 else 9.0 / (8 * np.pi)  # area mean of (3 Re Y_lm)^2
    assert s.sel(degree=l).item() == pytest.approx(expected, rel=1e-10)
    assert float(s.drop_sel(degree=l).sum()) < 1e-12 * expected


def test_sh_parseval_band_limited_random_and_orientation():
    lat = np.linspace(90, -90, 37)
    theta = np.deg2rad(90 - lat)[:, None]
    phi = np.deg2rad(LON)[None, :]
    rng = np.random.default_rng(2)
    f = np.zeros((37, 72))
    expected = np.zeros(19)
    for l in range(0, 19):
        for m in range(0, l + 1):
            a, b = rng.normal(size=2)
            y = sph_harm_y(l, m, theta, phi)
            if m == 0:
                f += a * np.real(y)
                expected[l] += a**2 / (4 * np.pi)
            else:
                f += a * np.real(y) + b * np.imag(y)
                expected[l] += (a**2 + b**2) / (8 * np.pi)
    field = _field(f, lat)
    s = spherical_harmonic_power_spectrum(field)
    np.testing.assert_allclose(s.values, expected, rtol=1e-9, atol=1e-14)
    flipped = spherical_harmonic_power_spectrum(field.isel(latitude=slice(None, None, -1)).transpose())
    np.testing.assert_allclose(flipped.values, s.values, rtol=1e-10)
    lazy = spherical_harmonic_power_spectrum(field.expand_dims(time=3).chunk({"time": 1}))
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values[1], s.values, rtol=1e-12)
    with pytest.raises(ValueError, match="lmax"):
        spherical_harmonic_power_spectrum(field, lmax=40)
    with pytest.raises(ValueError, match="longitude"):
        spherical_harmonic_power_spectrum(field.isel(longitude=slice(0, 70)))


# ------------------------------------------------------------------------------------------- MS-SSIM
def _np_ssim_single_scale(x, y, L=255.0):
    """Independent single-scale SSIM: scipy correlate with an 11-tap Gaussian, valid region."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()

    def filt(a):
        a = ndimage.correlate1d(a, g, axis=0, mode="constant")[5:-5]
        return ndimage.correlate1d(a, g, axis=1, mode="constant")[:, 5:-5]

    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return float(np.mean((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs))


def test_ms_ssim_single_scale_equals_numpy_and_identity_is_one():
    rng = np.random.default_rng(0)
    x = ndimage.gaussian_filter(rng.normal(size=(2, 40, 60)), 2)
    y = x + 0.05 * rng.normal(size=x.shape)
    rescale = [(a - a.min()) / (a.max() - a.min()) * 255 for a in (x[0], y[0])]
    got = ms_ssim_torch(torch.tensor(x), torch.tensor(y), weights=(1.0,))
    assert got[0].item() == pytest.approx(_np_ssim_single_scale(*rescale), rel=1e-10)
    full = ms_ssim(torch.tensor(x), torch.tensor(y))
    assert full.shape == (2,) and torch.all(full < 1) and torch.all(full > 0.5)
    np.testing.assert_allclose(ms_ssim(x, x), 1.0, rtol=1e-12)
    # per-sample min-max rescaling: an affine change of the truth does not change the score
    np.testing.assert_allclose(ms_ssim(x, 3 * y + 100), ms_ssim(x, y), rtol=1e-10)


def test_ms_ssim_chaosbench_grid_and_xarray_wrapper():
    rng = np.random.default_rng(4)
    lat, lon = np.arange(90, -91.5, -1.5), np.arange(0, 360, 1.5)
    t = ndimage.gaussian_filter(rng.normal(size=(3, 121, 240)), 3)
    f = t + 0.3 * ndimage.gaussian_filter(rng.normal(size=t.shape), 2)
    coords = {"init_time": [0, 1, 2], "latitude": lat, "longitude": lon}
    fx = xr.DataArray(f, dims=("init_time", "latitude", "longitude"), coords=coords)
    tx = xr.DataArray(t, dims=("init_time", "latitude", "longitude"), coords=coords)
    ref = ms_ssim(fx, tx)
    np.testing.assert_allclose(ref.values, ms_ssim(f, t), rtol=1e-12)
    flipped = ms_ssim(
        fx.isel(latitude=slice(None, None, -1)).transpose("longitude", "latitude", "init_time"), tx
    )
    np.testing.assert_allclose(flipped.values, ref.values, rtol=1e-12)
    assert ms_ssim(fx, tx, time_dim="init_time").item() == pytest.approx(ref.values.mean())
    # forecast NaN filled by the sample mean; truth NaN is an error
    fn = f.copy()
    fn[0, 5, 5] = np.nan
    assert np.isfinite(ms_ssim(fn, t)).all()
    with pytest.raises(ValueError, match="truth"):
        ms_ssim(t, fn)
    with pytest.raises(ValueError, match="shapes"):
        ms_ssim(f, t[:, :-1])
