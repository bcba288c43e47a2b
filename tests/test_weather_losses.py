"""Differentiable training losses: values against explicit formulas, gradients, bad input."""

import numpy as np
import pytest
import torch

from physics_metrics.weather import (
    area_weighted_mae,
    area_weighted_mse,
    channel_weight_vector,
    latitude_weights,
    spectral_loss,
)

LAT = np.linspace(90, -90, 9)


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 3, 9, 16, generator=g, dtype=torch.float64)
    target = torch.randn(2, 3, 9, 16, generator=g, dtype=torch.float64)
    return pred, target


def test_weighted_losses_equal_explicit_sums(tensors):
    pred, target = tensors
    w = latitude_weights(LAT).values
    gamma = np.array([1.0, 0.5, 2.0])
    p, t = pred.numpy(), target.numpy()
    expected = (gamma[None, :, None, None] * w[None, None, :, None] * (p - t) ** 2).sum() / p.size
    assert area_weighted_mse(pred, target, w, gamma).item() == pytest.approx(expected, rel=1e-12)
    expected_abs = (gamma[None, :, None, None] * w[None, None, :, None] * np.abs(p - t)).sum() / p.size
    assert area_weighted_mae(pred, target, w, gamma).item() == pytest.approx(expected_abs, rel=1e-12)
    # weights are renormalised to mean 1: scaling them does not change the loss
    assert area_weighted_mse(pred, target, 7 * w).item() == pytest.approx(
        area_weighted_mse(pred, target, w).item()
    )
    # uniform weights and no channel weights = plain MSE
    assert area_weighted_mse(pred, target, np.ones(9)).item() == pytest.approx(((p - t) ** 2).mean())


def test_gradients(tensors):
    pred, target = tensors
    w = torch.tensor(latitude_weights(LAT).values)
    p = pred[:1, :2, :, :8].clone().requires_grad_(True)
    t = target[:1, :2, :, :8]
    cw = torch.tensor([1.0, 3.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: area_weighted_mse(x, t, w, cw), (p,))
    assert torch.autograd.gradcheck(lambda x: area_weighted_mae(x, t, w, cw), (p,))
    assert torch.autograd.gradcheck(lambda x: spectral_loss(x, t, w, cw), (p,))
    # analytic gradient of the MSE: 2 γ w (p − t) / N
    p2 = pred.clone().requires_grad_(True)
    area_weighted_mse(p2, target, w).backward()
    expected = 2 * w.view(1, 1, 9, 1) * (pred - target) / pred.numel()
    torch.testing.assert_close(p2.grad, expected)


def test_spectral_loss_zero_for_shift_positive_for_smoothing(tensors):
    pred, target = tensors
    shifted = torch.roll(target, shifts=5, dims=-1)  # same zonal power on every row
    assert spectral_loss(shifted, target).item() == pytest.approx(0.0, abs=1e-20)
    smooth = (target + torch.roll(target, 1, -1) + torch.roll(target, -1, -1)) / 3
    assert spectral_loss(smooth, target).item() > 0.1
    with pytest.raises(ValueError, match="k_min"):
        spectral_loss(pred, target, k_min=9)


def test_channel_weight_vector_and_bad_input(tensors):
    pred, target = tensors
    gamma = channel_weight_vector(
        ["z-500", "t-850", "t2m"], {"z": 2.0, "t": 1.5, "t2m": 0.1}, {500: 3, 850: 0.5}
    )
    torch.testing.assert_close(gamma, torch.tensor([6.0, 0.75, 0.1], dtype=torch.float64))
    with pytest.raises(KeyError, match="'q'"):
        channel_weight_vector(["q-700"], {"z": 1.0})
    with pytest.raises(KeyError, match="level"):
        channel_weight_vector(["z-700"], None, {500: 1.0})
    with pytest.raises(ValueError, match="lat_weights"):
        area_weighted_mse(pred, target, np.ones(8))
    with pytest.raises(ValueError, match="channel_weights"):
        area_weighted_mse(pred, target, np.ones(9), [1.0, 2.0])
    with pytest.raises(ValueError, match="target"):
        area_weighted_mse(pred, target[:, :2], np.ones(9))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        area_weighted_mae(pred[0], target[0], np.ones(9))
