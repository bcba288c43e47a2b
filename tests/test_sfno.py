"""SFNO: quadrature and SHT exactness, comparison with scipy and chaosbench_py's SHT, model properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from model_harness import (
    check_bf16_autocast,
    check_gradients,
    check_overfit,
    check_roll_equivariance,
    check_save_load,
    roll_error,
    single_thread,  # noqa: F401  (autouse fixture)
)
from scipy_compat import sph_harm_y

from emulators import EmulatorInputError, build_model
from emulators.sfno import (
    InverseRealSHT,
    RealSHT,
    SFNOConfig,
    SphericalFourierNeuralOperator,
    colatitude_quadrature,
    legendre_table,
)

GRIDS = [
    ("equiangular", 121, 240),
    ("equiangular", 33, 64),
    ("equiangular-nopole", 32, 64),
    ("legendre-gauss", 32, 64),
]


@pytest.mark.parametrize(
    "grid,nlat", [("equiangular", 33), ("equiangular-nopole", 32), ("legendre-gauss", 16)]
)
def test_quadrature_integrates_polynomials(grid, nlat):
    theta, w = colatitude_quadrature(nlat, grid)
    x = torch.cos(theta)
    exact_degree = 2 * nlat - 1 if grid == "legendre-gauss" else nlat - 1
    assert torch.all(theta[1:] > theta[:-1])  # north → south
    for k in range(exact_degree + 1):
        exact = 2.0 / (k + 1) if k % 2 == 0 else 0.0
        assert abs(float((w * x**k).sum()) - exact) < 1e-13, k
    if grid == "equiangular":
        assert theta[0] == 0 and abs(theta[-1] - math.pi) < 1e-15
    if grid == "equiangular-nopole":
        assert abs(theta[0] - math.pi / 64) < 1e-15


def test_legendre_table_matches_scipy():
    theta = torch.linspace(0.0, math.pi, 13, dtype=torch.float64)
    p = legendre_table(12, 7, theta)
    for l in range(13):
        for m in range(8):
            ref = sph_harm_y(l, m, theta.numpy(), 0.0).real if m <= l else np.zeros(13)
            np.testing.assert_allclose(p[m, l].numpy(), ref, atol=1e-13)


@pytest.mark.parametrize("grid,nlat,nlon", GRIDS)
def test_sht_round_trip_on_band_limited_fields(grid, nlat, nlon):
    sht = RealSHT(nlat, nlon, grid=grid, dtype=torch.float64)
    isht = InverseRealSHT(nlat, nlon, grid=grid, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    c = torch.randn(3, sht.lmax + 1, sht.mmax + 1, 2, generator=gen, dtype=torch.float64)
    c = torch.view_as_complex(c)
    l_idx = torch.arange(sht.lmax + 1)[:, None]
    m_idx = torch.arange(sht.mmax + 1)[None, :]
    c = c * (m_idx <= l_idx)
    c[..., 0] = c[..., 0].real.to(c.dtype)  # real field: m = 0 coefficients are real
    f = isht(c)
    assert f.shape == (3, nlat, nlon)
    torch.testing.assert_close(sht(f), c, rtol=0, atol=1e-12)
    torch.testing.assert_close(isht(sht(f)), f, rtol=0, atol=1e-10)  # |f| ~ 10-100


def test_inverse_synthesises_scipy_harmonics():
    nlat, nlon = 32, 64
    isht = InverseRealSHT(nlat, nlon, grid="equiangular-nopole", dtype=torch.float64)
    theta, _ = colatitude_quadrature(nlat, "equiangular-nopole")
    lam = 2 * np.pi * np.arange(nlon) / nlon
    for l, m in [(0, 0), (3, 0), (5, 2), (15, 15)]:
        c = torch.zeros(isht.lmax + 1, isht.mmax + 1, dtype=torch.complex128)
        c[l, m] = 1.0
        ref = sph_harm_y(l, m, theta.numpy()[:, None], lam[None, :])
        ref = ref.real if m == 0 else 2 * ref.real
        np.testing.assert_allclose(isht(c).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("grid", ["equiangular", "legendre-gauss"])
def test_forward_agrees_with_chaosbench_simulator_sht(grid):
    sh = pytest.importorskip("chaosbench_py.simulate.spherical_harmonics")
    nlat, nlon = 33, 64
    ours = RealSHT(nlat, nlon, lmax=12, mmax=10, grid=grid, dtype=torch.float64)
    theirs = sh.SphericalHarmonicTransform(nlat, nlon, lmax=12, mmax=10, grid=grid)
    f = torch.randn(2, nlat, nlon, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    f = theirs.inverse(theirs.forward(f))  # band-limit to T12
    torch.testing.assert_close(ours(f), theirs.forward(f), rtol=0, atol=1e-12)


def _small(**kw) -> SFNOConfig:
    base = dict(
        img_size=(16, 32), grid="equiangular-nopole", in_channels=3, out_channels=3, embed_dim=8, n_layers=2
    )
    base.update(kw)
    return SFNOConfig(**base)


@pytest.mark.parametrize(
    "grid,size",
    [
        ("equiangular-nopole", (32, 64)),
        ("equiangular", (121, 240)),
        ("legendre-gauss", (16, 32)),
        ("equiangular", (17, 36)),
    ],
)
def test_shapes_on_several_grids(grid, size):
    model = SphericalFourierNeuralOperator(_small(img_size=size, grid=grid, n_layers=1, out_channels=2))
    assert model(torch.randn(2, 3, *size)).shape == (2, 2, *size)


def test_parameter_count():
    cfg = _small(embed_dim=8, n_layers=2, mlp_ratio=2.0)
    model = SphericalFourierNeuralOperator(cfg)
    lmax = (16 - 1) // 2  # equiangular-nopole default truncation
    e, h = 8, 16
    enc = (3 * e + e) + (e * e + e)
    dec = (e * e + e) + (e * 3 + 3)
    block = 2 * e * e * (lmax + 1) + (e * e + e) + (e * h + h) + (h * e + e)
    assert sum(p.numel() for p in model.parameters()) == enc + dec + 2 * block
    per_lm = SphericalFourierNeuralOperator(_small(operator_type="degree-order", n_layers=1))
    assert per_lm.blocks[0].spectral.weight_real.shape == (8, 8, lmax + 1, lmax + 1)


@pytest.mark.parametrize("operator_type", ["degree", "degree-order"])
def test_longitude_roll_equivariance(operator_type):
    torch.manual_seed(0)
    model = SphericalFourierNeuralOperator(
        _small(operator_type=operator_type, normalization="instance")
    ).double()
    x = torch.randn(2, 3, 16, 32, dtype=torch.float64)
    check_roll_equivariance(model, x, shifts=(1, 7, 16), atol=1e-10)
    # a roll in latitude is not a symmetry of the sphere (shows the check can fail)
    assert roll_error(model, x, 3, dim=-2) > 1e-6


def test_gradient_flow():
    torch.manual_seed(0)
    model = SphericalFourierNeuralOperator(_small(outer_skip="linear", normalization="instance"))
    grads = check_gradients(model, (torch.randn(2, 3, 16, 32),))
    assert len(grads) == len(list(model.parameters()))


def test_tiny_overfit():
    torch.manual_seed(0)
    model = SphericalFourierNeuralOperator(
        _small(img_size=(8, 16), embed_dim=8, n_layers=2, in_channels=2, out_channels=2)
    )
    x = torch.randn(2, 2, 8, 16)
    y = torch.roll(x, 1, -1) * 0.5 + torch.randn(2, 2, 8, 16) * 0.1
    check_overfit(model, (x,), y, max_steps=400)  # stops once the loss has fallen 10x


def test_save_load_round_trip(tmp_path):
    model = build_model(
        "sfno",
        {"img_size": [16, 32], "grid": "equiangular", "embed_dim": 8, "n_layers": 2, "lmax": 6, "mmax": 5},
    )
    loaded, _ = check_save_load(model, (torch.randn(2, 3, 16, 32),), tmp_path)
    assert isinstance(loaded, SphericalFourierNeuralOperator)
    assert (loaded.lmax, loaded.mmax) == (6, 5)


def test_save_load_keeps_float64(tmp_path):
    """A float64 model comes back float64, Legendre tables included: outputs bit-identical."""
    torch.manual_seed(0)
    model = SphericalFourierNeuralOperator(_small(n_layers=1)).double()
    loaded, _ = check_save_load(model, (torch.randn(1, 3, 16, 32, dtype=torch.float64),), tmp_path)
    assert loaded.blocks[0].spectral.sht.weighted_legendre.dtype == torch.float64


def test_bf16_autocast_forward():
    torch.manual_seed(0)
    model = SphericalFourierNeuralOperator(_small())
    check_bf16_autocast(model, (torch.randn(2, 3, 16, 32),))


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="grid"):
        SphericalFourierNeuralOperator(_small(grid="healpix"))
    with pytest.raises(ValueError, match="lmax"):
        SphericalFourierNeuralOperator(_small(lmax=40))
    with pytest.raises(ValueError, match="mmax"):
        RealSHT(16, 16, lmax=10, mmax=9, grid="legendre-gauss")
    with pytest.raises(
        EmulatorInputError, match=r"x: expected shape \(batch, 3, 16, 32\), got \(1, 3, 16, 30\)"
    ):
        SphericalFourierNeuralOperator(_small())(torch.randn(1, 3, 16, 30))
    with pytest.raises(EmulatorInputError, match="30 longitudes instead of 32"):
        SphericalFourierNeuralOperator(_small())(torch.randn(1, 3, 16, 30))
