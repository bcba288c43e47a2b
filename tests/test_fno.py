"""FNO / SpectralConv: direct-DFT check, equivariance, shapes, gradients, overfit, checkpoints, bf16."""

from __future__ import annotations

import math

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

from emulators import EmulatorInputError, build_model
from emulators.fno import FNO, FNOConfig, SpectralConv


def _freqs(m: int, n: int, last: bool) -> list[tuple[int, int]]:
    """(frequency, weight position) pairs from the documented convention, written independently."""
    if last:
        return [(k, k) for k in range(0, min(m // 2, n // 2) + 1)]
    pairs = []
    for k in range(-(m // 2), (m - 1) // 2 + 1):
        if -(n // 2) <= k <= (n - 1) // 2:  # representable on n points
            pairs.append((k, k if k >= 0 else m + k))
    return pairs


def _direct_spectral_conv_2d(x: torch.Tensor, layer: SpectralConv) -> torch.Tensor:
    """y_n = Σ_k c_k Re(Σ_i W_ik X_ik e^{2πik·n/N}), X_k = (1/N) Σ_n x_n e^{-2πik·n/N}, explicit sums."""
    n0, n1 = x.shape[-2:]
    m0, m1 = layer.n_modes
    w = torch.complex(layer.weight_real, layer.weight_imag).detach().to(torch.complex128)
    g0 = torch.arange(n0, dtype=torch.float64)
    g1 = torch.arange(n1, dtype=torch.float64)
    y = torch.zeros(x.shape[0], layer.out_channels, n0, n1, dtype=torch.float64)
    for k0, p0 in _freqs(m0, n0, False):
        e0 = torch.exp(-2j * math.pi * k0 * g0 / n0)
        for k1, p1 in _freqs(m1, n1, True):
            e1 = torch.exp(-2j * math.pi * k1 * g1 / n1)
            basis = e0[:, None] * e1[None, :]  # e^{-2πik·n/N}
            xk = (x.to(torch.complex128) * basis).sum(dim=(-2, -1)) / (n0 * n1)  # (B, I)
            yk = xk @ w[:, :, p0, p1]  # (B, O)
            c = 1.0 if (k1 == 0 or 2 * k1 == n1) else 2.0
            y += c * (yk[:, :, None, None] * basis.conj()).real
    return y


@pytest.mark.parametrize(
    "grid,modes", [((8, 12), (6, 8)), ((7, 9), (5, 5)), ((6, 8), (16, 16)), ((5, 10), (4, 10))]
)
def test_spectral_conv_matches_direct_dft(grid, modes):
    torch.manual_seed(0)
    layer = SpectralConv(3, 2, modes).double()
    x = torch.randn(2, 3, *grid, dtype=torch.float64)
    torch.testing.assert_close(layer(x), _direct_spectral_conv_2d(x, layer), rtol=1e-10, atol=1e-12)


def test_spectral_conv_1d_3d_match_fft_of_single_modes():
    """A pure mode e^{2πikn/N} inside the kept set is mapped to Re(W_k · mode) (1D and 3D)."""
    torch.manual_seed(1)
    layer = SpectralConv(1, 1, (8,)).double()
    n, k = 32, 3
    g = torch.arange(n, dtype=torch.float64)
    x = torch.cos(2 * math.pi * k * g / n).view(1, 1, n)
    w = complex(layer.weight_real[0, 0, k].item(), layer.weight_imag[0, 0, k].item())
    expected = (w * torch.exp(2j * math.pi * k * g / n)).real
    torch.testing.assert_close(layer(x)[0, 0], expected, rtol=1e-10, atol=1e-12)
    # a mode outside the kept set is removed
    x_hi = torch.cos(2 * math.pi * 10 * g / n).view(1, 1, n)
    assert layer(x_hi).abs().max() < 1e-12
    layer3 = SpectralConv(2, 2, (4, 4, 4)).double()
    x3 = torch.randn(1, 2, 6, 8, 10, dtype=torch.float64)
    # linearity and output shape in 3D
    y = layer3(x3)
    assert y.shape == (1, 2, 6, 8, 10)
    torch.testing.assert_close(layer3(2 * x3 + 1e-3), 2 * y + layer3(torch.full_like(x3, 1e-3)))


def test_weight_shapes_and_parameter_count():
    layer = SpectralConv(4, 5, (12, 12))
    assert layer.weight_real.shape == (4, 5, 12, 7) and layer.weight_imag.shape == (4, 5, 12, 7)
    cfg = FNOConfig(n_modes=(8, 6), in_channels=3, out_channels=2, hidden_channels=8, n_layers=3)
    model = FNO(cfg)
    h, lift, proj, mlp = 8, 16, 16, 4
    expected = (
        (3 * lift + lift)
        + (lift * h + h)  # lifting MLP
        + 3 * (2 * h * h * 8 * 4)  # spectral weights (real + imag), last axis 6//2+1 = 4
        + 3 * h * h  # linear skips, no bias
        + 3 * ((h * mlp + mlp) + (mlp * h + h))  # channel MLPs
        + (h * proj + proj)
        + (proj * 2 + 2)  # projection
    )
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize(
    "modes,grid",
    [((8,), (40,)), ((8, 8), (32, 64)), ((12, 16), (121, 240)), ((6, 8), (17, 31)), ((4, 4, 6), (5, 16, 32))],
)
def test_shapes_on_several_grids(modes, grid):
    model = FNO(FNOConfig(n_modes=modes, in_channels=3, out_channels=2, hidden_channels=8, n_layers=2))
    assert model(torch.randn(2, 3, *grid)).shape == (2, 2, *grid)


def test_same_weights_on_coarser_grid():
    model = FNO(FNOConfig(n_modes=(16, 16), in_channels=1, out_channels=1, hidden_channels=4, n_layers=1))
    assert model(torch.randn(1, 1, 8, 12)).shape == (1, 1, 8, 12)


def test_longitude_roll_equivariance():
    torch.manual_seed(0)
    model = FNO(FNOConfig(n_modes=(8, 12), in_channels=2, out_channels=2, hidden_channels=8)).double()
    x = torch.randn(2, 2, 16, 32, dtype=torch.float64)
    check_roll_equivariance(model, x, shifts=(1, 5, 17), atol=1e-12)
    # the grid positional embedding breaks it (shows the check can fail)
    emb = FNO(
        FNOConfig(
            n_modes=(8, 12), in_channels=2, out_channels=2, hidden_channels=8, positional_embedding="grid"
        )
    ).double()
    assert roll_error(emb, x, 5) > 1e-6
    with pytest.raises(AssertionError, match="roll by 5"):
        check_roll_equivariance(emb, x, shifts=(5,), atol=1e-12)


def test_gradient_flow():
    torch.manual_seed(0)
    model = FNO(FNOConfig(n_modes=(6, 6), in_channels=3, out_channels=3, hidden_channels=8, n_layers=3))
    grads = check_gradients(model, (torch.randn(2, 3, 16, 32),))
    assert len(grads) == len(list(model.parameters()))


def test_tiny_overfit():
    torch.manual_seed(0)
    model = FNO(FNOConfig(n_modes=(6, 6), in_channels=2, out_channels=2, hidden_channels=8, n_layers=2))
    x = torch.randn(2, 2, 8, 16)
    y = torch.roll(x, 1, -1) * 0.5 + torch.randn(2, 2, 8, 16) * 0.1
    check_overfit(model, (x,), y, max_steps=400)  # stops once the loss has fallen 10x


def test_save_load_round_trip(tmp_path):
    model = build_model(
        "fno", {"n_modes": [6, 8], "in_channels": 2, "out_channels": 2, "hidden_channels": 8, "n_layers": 2}
    )
    loaded, _ = check_save_load(model, (torch.randn(2, 2, 16, 32),), tmp_path)
    assert isinstance(loaded, FNO) and loaded.config.n_modes == (6, 8)


def test_save_load_keeps_float64(tmp_path):
    torch.manual_seed(0)
    model = FNO(
        FNOConfig(n_modes=(4, 6), in_channels=2, out_channels=2, hidden_channels=4, n_layers=1)
    ).double()
    loaded, _ = check_save_load(model, (torch.randn(1, 2, 8, 12, dtype=torch.float64),), tmp_path)
    assert all(p.dtype == torch.float64 for p in loaded.parameters())


def test_bf16_autocast_forward():
    torch.manual_seed(0)
    model = FNO(FNOConfig(n_modes=(8, 8), in_channels=3, out_channels=3, hidden_channels=16, n_layers=2))
    check_bf16_autocast(model, (torch.randn(2, 3, 16, 32),))


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="n_modes"):
        FNO(FNOConfig(n_modes=(4, 4, 4, 4)))
    model = FNO(FNOConfig(n_modes=(4, 4), in_channels=3))
    with pytest.raises(
        EmulatorInputError, match=r"x: expected shape \(batch, 3, n_lat, n_lon\), got \(1, 2, 8, 8\)"
    ):
        model(torch.randn(1, 2, 8, 8))
    with pytest.raises(EmulatorInputError, match="channels instead of 3"):
        model(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="positional_embedding"):
        FNO(FNOConfig(positional_embedding="sine"))
    with pytest.raises(EmulatorInputError, match="float64 differs from the model's torch.float32"):
        model(torch.randn(1, 3, 8, 8, dtype=torch.float64))
