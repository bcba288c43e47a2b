"""Spherical harmonic transform: exactness, orthonormality vs scipy, Laplacian, vector operators."""

import math

import numpy as np
import pytest
import torch
from scipy.special import roots_legendre
from scipy_compat import sph_harm_y

from chaosbench_py.simulate.spherical_harmonics import (
    SphericalHarmonicTransform,
    clenshaw_curtis_weights,
    legendre_tables,
)

A = 6.37122e6
GRIDS = [("legendre-gauss", 32, 64), ("equiangular", 121, 240), ("legendre-gauss", 17, 40)]


def _random_coeffs(sht, *batch, seed=0, zero_mean=False):
    rng = np.random.default_rng(seed)
    shape = (*batch, *sht.coeff_shape)
    c = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    ell = np.arange(sht.lmax + 1)[:, None]
    em = np.arange(sht.mmax + 1)[None, :]
    c = c * (em <= ell)
    c[..., 0] = c[..., 0].real
    if zero_mean:
        c[..., 0, 0] = 0
    return torch.as_tensor(c)


def _mesh(sht):
    return np.meshgrid(sht.colatitude, np.radians(sht.lon), indexing="ij")


@pytest.mark.parametrize(("grid", "nlat", "nlon"), GRIDS)
def test_round_trip_band_limited(grid, nlat, nlon):
    sht = SphericalHarmonicTransform(nlat, nlon, grid=grid)
    c = _random_coeffs(sht, 2, 3)
    f = sht.inverse(c)
    assert f.shape == (2, 3, nlat, nlon) and f.dtype == torch.float64
    back = sht.forward(f)
    assert back.shape == c.shape
    assert (back - c).abs().max().item() < 1e-12
    # and grid -> coeffs -> grid is a projection (idempotent)
    g = torch.randn(nlat, nlon, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    p = sht.truncate(g)
    assert (sht.truncate(p) - p).abs().max().item() < 1e-12


def test_largest_exact_truncation():
    # lmax up to nlat-1 on the Gaussian grid, (nlat-1)//2 on the equiangular grid, still exact
    for grid, nlat, lmax in (("legendre-gauss", 24, 23), ("equiangular", 25, 12)):
        sht = SphericalHarmonicTransform(nlat, 2 * lmax + 2, lmax=lmax, mmax=lmax, grid=grid)
        c = _random_coeffs(sht, seed=3)
        assert (sht.forward(sht.inverse(c)) - c).abs().max().item() < 1e-11


@pytest.mark.parametrize(("grid", "nlat", "nlon"), GRIDS[:2])
def test_matches_scipy_and_orthonormal(grid, nlat, nlon):
    sht = SphericalHarmonicTransform(nlat, nlon, grid=grid)
    theta, lam = _mesh(sht)
    for l, m in [(0, 0), (1, 0), (1, 1), (5, 2), (sht.lmax, sht.mmax), (sht.lmax, 1), (sht.lmax - 1, 0)]:
        y = sph_harm_y(l, m, theta, lam)
        unit = torch.zeros(sht.coeff_shape, dtype=torch.complex128)
        unit[l, m] = 1.0
        expected = y.real if m == 0 else 2.0 * y.real
        np.testing.assert_allclose(sht.inverse(unit).numpy(), expected, atol=1e-12)
        # projection of Re Y_lm and Im Y_lm on all harmonics: 1/2 and i/2 at (l, m), zero elsewhere
        proj_re = sht.forward(torch.as_tensor(y.real))
        proj_im = sht.forward(torch.as_tensor(y.imag))
        want = torch.zeros_like(unit)
        want[l, m] = 1.0 if m == 0 else 0.5
        assert (proj_re - want).abs().max().item() < 1e-12
        if m > 0:
            want[l, m] = -0.5j  # ∫ sin(mλ) P e^{-imλ} = -i/2 ∫ P²
            assert (proj_im - want).abs().max().item() < 1e-12


def test_legendre_tables_independent_of_recurrence():
    # P̄_lm against scipy, and the derivative tables against central differences of scipy
    theta = np.linspace(0.05, np.pi - 0.05, 13)
    p, dp, mps = legendre_tables(12, 12, theta)
    h = 1e-6
    for l in range(13):
        for m in range(l + 1):
            ref = sph_harm_y(l, m, theta, 0.0).real
            np.testing.assert_allclose(p[l, m], ref, atol=1e-13)
            dref = (sph_harm_y(l, m, theta + h, 0.0).real - sph_harm_y(l, m, theta - h, 0.0).real) / (2 * h)
            np.testing.assert_allclose(dp[l, m], dref, atol=1e-7)
            np.testing.assert_allclose(mps[l, m], m * ref / np.sin(theta), atol=1e-12)
    # at the poles mps is finite: m P̄_l1/sinθ → ∓ sqrt((2l+1) l(l+1)/(16π)) at θ = 0 (Condon–Shortley)
    _, _, mps_pole = legendre_tables(6, 3, np.array([0.0]))
    for l in range(1, 7):
        assert mps_pole[l, 1, 0] == pytest.approx(-math.sqrt((2 * l + 1) * l * (l + 1) / (16 * math.pi)))
    assert np.all(mps_pole[:, 2:] == 0)


def test_quadrature_weights():
    x, w = clenshaw_curtis_weights(9)
    for k in range(9):  # exact for degree <= n-1
        assert np.sum(w * x**k) == pytest.approx((1 - (-1) ** (k + 1)) / (k + 1), abs=1e-14)
    xg, wg = roots_legendre(16)
    sht = SphericalHarmonicTransform(16, 32)
    np.testing.assert_allclose(sht.quad_weights, wg[::-1], atol=1e-15)
    assert np.all(np.diff(sht.lat) < 0) and sht.lat[0] < 90 and sht.lon[0] == 0 and sht.lon[-1] < 360
    eq = SphericalHarmonicTransform(121, 240, grid="equiangular", radius=A)
    assert eq.lat[0] == 90.0 and eq.lat[-1] == -90.0 and eq.lat[60] == 0.0
    np.testing.assert_allclose(np.diff(eq.lat), -1.5) and np.testing.assert_allclose(np.diff(eq.lon), 1.5)
    assert eq.integrate(torch.ones(121, 240)).item() == pytest.approx(4 * math.pi * A**2, rel=1e-14)
    assert (eq.lmax, eq.mmax) == (40, 40) and (sht.lmax, sht.mmax) == (10, 10)
    assert SphericalHarmonicTransform(32, 64).lmax == 21  # T21 on the classical 32 x 64 grid


@pytest.mark.parametrize(("grid", "nlat", "nlon"), GRIDS[:2])
def test_laplacian_eigenvalues(grid, nlat, nlon):
    sht = SphericalHarmonicTransform(nlat, nlon, grid=grid, radius=A)
    ell = np.arange(sht.lmax + 1)
    np.testing.assert_allclose(sht.laplacian_eigenvalues.numpy(), -ell * (ell + 1) / A**2, rtol=1e-15)
    c = _random_coeffs(sht, 2, zero_mean=True)
    assert (sht.inverse_laplacian(sht.laplacian(c)) - c).abs().max().item() < 1e-12
    # ∇² = ∇·∇ through the vector operators (independent code path)
    gx, gy = sht.gradient(c)
    _, div = sht.vrtdiv_from_uv(gx, gy)
    lap = sht.laplacian(c)
    assert (div - lap).abs().max().item() < 1e-12 * lap.abs().max().item()
    # against the analytic Laplacian of Y_42 on the grid: (1/sinθ)∂θ(sinθ ∂θY) + ∂²λY/sin²θ by differences
    theta, lam = _mesh(sht)
    inner = (theta > 0.3) & (theta < np.pi - 0.3)
    h = 1e-4

    def f(t, la):
        return 2 * sph_harm_y(4, 2, t, la).real

    d_theta = (
        np.sin(theta + h / 2) * (f(theta + h, lam) - f(theta, lam))
        - np.sin(theta - h / 2) * (f(theta, lam) - f(theta - h, lam))
    ) / h**2
    with np.errstate(divide="ignore", invalid="ignore"):  # poles of the equiangular grid
        lap_fd = (d_theta / np.sin(theta) - 4 * f(theta, lam) / np.sin(theta) ** 2) / A**2
    unit = torch.zeros(sht.coeff_shape, dtype=torch.complex128)
    unit[4, 2] = 1.0
    got = sht.inverse(sht.laplacian(unit)).numpy()
    np.testing.assert_allclose(got[inner], lap_fd[inner], atol=1e-6 * np.abs(lap_fd[inner]).max())
    np.testing.assert_allclose(got, -20 / A**2 * f(theta, lam), atol=1e-12 / A**2)


@pytest.mark.parametrize(("grid", "nlat", "nlon"), GRIDS[:2])
def test_solid_body_rotation_exact(grid, nlat, nlon):
    sht = SphericalHarmonicTransform(nlat, nlon, grid=grid, radius=A)
    u0 = 38.61068276698372  # Williamson test case 2 speed, 2πa/12 days
    lat = np.radians(sht.lat)[:, None]
    # ψ = −a u0 sin φ, and sin φ = √(4π/3) Y_10
    psi = torch.zeros(sht.coeff_shape, dtype=torch.complex128)
    psi[1, 0] = -A * u0 * math.sqrt(4 * math.pi / 3)
    u, v = sht.uv_from_streamfunction(psi)
    np.testing.assert_allclose(u.numpy(), np.broadcast_to(u0 * np.cos(lat), u.shape), atol=1e-12)
    assert v.abs().max().item() < 1e-12
    vrt, div = sht.vrtdiv_from_uv(u, v)
    np.testing.assert_allclose(
        sht.inverse(vrt).numpy(), np.broadcast_to(2 * u0 / A * np.sin(lat), u.shape), atol=1e-18
    )
    # zero to rounding, relative to the vorticity 2 u0 / a (below 0.8e-15 on Intel machines, 1.1e-15 on AMD EPYC)
    assert div.abs().max().item() < 4e-15 * (2 * u0 / A)
    # the same wind back from the vorticity
    u2, v2 = sht.uv_from_vrtdiv(vrt, div)
    assert (u2 - u).abs().max().item() < 1e-12 and (v2 - v).abs().max().item() < 1e-12


def test_gradient_matches_finite_differences():
    sht = SphericalHarmonicTransform(24, 48, radius=A)
    theta, lam = _mesh(sht)
    h = 1e-6
    for l, m in [(3, 2), (7, 5), (4, 0)]:
        unit = torch.zeros(sht.coeff_shape, dtype=torch.complex128)
        unit[l, m] = 1.0 + 0.5j

        def f(t, la, l=l, m=m):
            y = sph_harm_y(l, m, t, la)
            return (y * (1 + 0.5j)).real * (1 if m == 0 else 2)

        east = (f(theta, lam + h) - f(theta, lam - h)) / (2 * h) / (A * np.sin(theta))
        north = -(f(theta + h, lam) - f(theta - h, lam)) / (2 * h) / A
        gx, gy = sht.gradient(unit)
        np.testing.assert_allclose(gx.numpy(), east, atol=1e-7 / A)
        np.testing.assert_allclose(gy.numpy(), north, atol=1e-7 / A)


@pytest.mark.parametrize(("grid", "nlat", "nlon"), GRIDS[:2])
def test_vorticity_divergence_round_trip(grid, nlat, nlon):
    sht = SphericalHarmonicTransform(nlat, nlon, grid=grid, radius=A)
    vrt = _random_coeffs(sht, 3, seed=5, zero_mean=True) * 1e-5
    div = _random_coeffs(sht, 3, seed=6, zero_mean=True) * 1e-6
    u, v = sht.uv_from_vrtdiv(vrt, div)
    vrt2, div2 = sht.vrtdiv_from_uv(u, v)
    assert (vrt2 - vrt).abs().max().item() < 1e-12 * 1e-5
    assert (div2 - div).abs().max().item() < 1e-12 * 1e-5


def test_float32():
    sht = SphericalHarmonicTransform(32, 64, dtype=torch.float32)
    c = _random_coeffs(sht).to(torch.complex64)
    f = sht.inverse(c)
    assert f.dtype == torch.float32
    assert (sht.forward(f) - c).abs().max().item() < 1e-4


def test_bad_input():
    with pytest.raises(ValueError, match="grid"):
        SphericalHarmonicTransform(32, 64, grid="gaussian")
    with pytest.raises(ValueError, match="lmax"):
        SphericalHarmonicTransform(32, 64, lmax=40)
    with pytest.raises(ValueError, match="lmax"):
        SphericalHarmonicTransform(121, 240, lmax=61, grid="equiangular")
    with pytest.raises(ValueError, match="mmax"):
        SphericalHarmonicTransform(32, 64, lmax=10, mmax=11)
    with pytest.raises(ValueError, match="mmax"):
        SphericalHarmonicTransform(32, 16, lmax=20, mmax=8)
    with pytest.raises(ValueError, match="nlat"):
        SphericalHarmonicTransform(1, 64)
    with pytest.raises(ValueError, match="nlon"):
        SphericalHarmonicTransform(32, 64.0)
    with pytest.raises(ValueError, match="radius"):
        SphericalHarmonicTransform(32, 64, radius=-1.0)
    sht = SphericalHarmonicTransform(32, 64)
    with pytest.raises(ValueError, match="grid"):
        sht.forward(torch.zeros(32, 65))
    with pytest.raises(ValueError, match="coeffs"):
        sht.inverse(torch.zeros(21, 21, dtype=torch.complex128))
    with pytest.raises(ValueError, match="u"):
        sht.vrtdiv_from_uv(torch.zeros(31, 64), torch.zeros(32, 64))
