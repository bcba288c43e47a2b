"""Tests of physics_metrics.mmd (PhyxMamba rational-quadratic MMD)."""

import numpy as np
import pytest
import torch

from physics_metrics.mmd import PHYXMAMBA_RQ_SCALES, maximum_mean_discrepancy


def _kernel_ref(a, b, scales=PHYXMAMBA_RQ_SCALES):
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return sum(s**2 / (s**2 + d2) for s in scales)


def test_identical_is_zero():
    x = np.random.default_rng(0).standard_normal((50, 3))
    assert maximum_mean_discrepancy(x, x) == pytest.approx(0.0, abs=1e-14)


def test_biased_matches_independent_computation():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((30, 3)) + 0.5
    ref = _kernel_ref(x, x).mean() + _kernel_ref(y, y).mean() - 2 * _kernel_ref(x, y).mean()
    assert maximum_mean_discrepancy(x, y) == pytest.approx(ref, rel=1e-12)
    # hand value: one point each, distance^2 = 1: 2 * sum_s (1 - s^2/(s^2+1))
    hand = 2 * sum(1 - s**2 / (s**2 + 1) for s in PHYXMAMBA_RQ_SCALES)
    assert maximum_mean_discrepancy([[0.0]], [[1.0]]) == pytest.approx(hand, rel=1e-12)


def test_unbiased_matches_formula_and_zero_in_expectation():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((25, 2))
    kxx, kyy, kxy = _kernel_ref(x, x), _kernel_ref(y, y), _kernel_ref(x, y)
    ref = (kxx.sum() - np.trace(kxx)) / (40 * 39) + (kyy.sum() - np.trace(kyy)) / (25 * 24) - 2 * kxy.mean()
    assert maximum_mean_discrepancy(x, y, estimator="unbiased") == pytest.approx(ref, rel=1e-12)
    # same distribution: the U-statistic averages to 0, the V-statistic is biased upwards
    xs = torch.as_tensor(rng.standard_normal((400, 20, 2)))
    ys = torch.as_tensor(rng.standard_normal((400, 20, 2)))
    u = maximum_mean_discrepancy(xs, ys, estimator="unbiased")
    v = maximum_mean_discrepancy(xs, ys, estimator="biased")
    assert u.shape == (400,)
    assert abs(float(u.mean())) < 4 * float(u.std()) / np.sqrt(400)
    assert float(v.mean()) > 10 * abs(float(u.mean()))
    assert bool((u < 0).any())  # not clamped by default


def test_separated_clouds_larger_than_close_clouds():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((100, 3))
    near = maximum_mean_discrepancy(x, rng.standard_normal((100, 3)) + 0.1)
    far = maximum_mean_discrepancy(x, rng.standard_normal((100, 3)) + 3.0)
    assert far > near > 0


def test_torch_differentiable_and_standardisation():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.standard_normal((32, 3)), requires_grad=True)
    y = torch.tensor(rng.standard_normal((32, 3)) + 1.0)
    loss = maximum_mean_discrepancy(x, y)
    assert isinstance(loss, torch.Tensor) and loss.requires_grad
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # standardisation as PhyxMamba: (v - mean) / sqrt(var + 1e-6)
    mean, var = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    xn, yn = x.detach().numpy(), y.numpy()
    sd = np.sqrt(var + 1e-6)
    a = maximum_mean_discrepancy(xn, yn, mean=mean, variance=var)
    b = maximum_mean_discrepancy((xn - mean) / sd, (yn - mean) / sd)
    assert a == pytest.approx(b, rel=1e-12)
    # float32 tensors stay float32
    assert maximum_mean_discrepancy(x.detach().float(), y.float()).dtype == torch.float32


def test_large_clouds_use_memory_light_path():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3000, 3))
    y = x[::-1].copy()
    assert maximum_mean_discrepancy(x, y) == pytest.approx(0.0, abs=1e-9)


def test_gaussian_kernel():
    d2 = 1.0
    hand = 2 * sum(1 - np.exp(-d2 / (2 * s**2)) for s in (1.0, 2.0))
    assert maximum_mean_discrepancy([[0.0]], [[1.0]], kernel="gaussian", scales=(1.0, 2.0)) == pytest.approx(
        hand
    )


def test_bad_input():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="x and y"):
        maximum_mean_discrepancy(x, np.zeros((5, 2)))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="y"):
        maximum_mean_discrepancy(x, bad)
    with pytest.raises(ValueError, match="kernel"):
        maximum_mean_discrepancy(x, x, kernel="foo")
    with pytest.raises(ValueError, match="estimator"):
        maximum_mean_discrepancy(x, x, estimator="foo")
    with pytest.raises(ValueError, match="scales"):
        maximum_mean_discrepancy(x, x, scales=(0.0,))
    with pytest.raises(ValueError, match="unbiased"):
        maximum_mean_discrepancy(x[:1], x, estimator="unbiased")
    with pytest.raises(ValueError, match="mean/variance"):
        maximum_mean_discrepancy(x, x, mean=np.zeros(3))
