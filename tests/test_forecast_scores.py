"""Tests of physics_metrics.forecast: sMAPE, VPT, PE(n), D_frac."""

import numpy as np
import pytest
import torch
import xarray as xr

from physics_metrics.forecast import (
    first_crossing,
    fractal_dimension_error,
    prediction_error_n_step,
    smape,
    smape_cumulative,
    smape_per_step,
    valid_prediction_time,
)


def _inputs(n=400):
    """Deterministic 3-d test series (also used to compute the dysts reference numbers)."""
    t = np.arange(n) * 0.05
    x = np.stack([np.sin(t), np.cos(1.3 * t) + 0.5, np.sin(0.7 * t) * np.cos(0.2 * t)], axis=1)
    y = x + np.stack([0.3 * np.sin(5.1 * t + 1), 0.2 * np.cos(3.3 * t), 0.1 * np.sin(2.2 * t + 0.3)], axis=1)
    return x, y + 0.05


# ---------------------------------------------------------------- sMAPE
def test_smape_matches_dysts():
    # Reference: dysts 0.96 smape(X, Y) (scaled=True, 0-100) = 20.974440023193576 and
    # smape(X, Y, scaled=False) (0-200) = 41.94888004638715, computed offline with /tmp/dysts-venv.
    x, y = _inputs()
    assert smape(x, y, scale=100) == pytest.approx(20.974440023193576, rel=1e-12)
    assert smape(x, y) == pytest.approx(41.94888004638715, rel=1e-12)
    assert smape(x, y, scale=200) / smape(x, y, scale=100) == pytest.approx(2.0)


def test_smape_hand_values():
    assert smape(np.zeros((5, 2)), np.zeros((5, 2))) == 0.0
    # opposite signs: |x - y| / (|x| + |y|) = 1 -> 200 (maximum)
    assert smape(np.ones((4, 1)), -np.ones((4, 1))) == pytest.approx(200.0)
    # y = 1, yhat = 3 -> 2/4 = 0.5 -> 100 on the 0-200 scale
    assert smape(np.ones((3, 1)), 3 * np.ones((3, 1))) == pytest.approx(100.0)


def test_smape_per_step_cumulative_and_steps():
    x, y = _inputs(50)
    per = smape_per_step(x, y)
    cum = smape_cumulative(x, y)
    # PhyxMamba horizoned_smape: smape(x[:i], y[:i]) for i = 1..T
    ref = np.array([smape(x[:i], y[:i]) for i in range(1, 51)])
    assert cum == pytest.approx(ref, rel=1e-12)
    assert per[0] == pytest.approx(cum[0])
    assert smape(x, y, steps=10) == pytest.approx(ref[9])


def test_smape_batched_torch_xarray():
    x, y = _inputs()
    b = np.stack([x, y])
    out = smape(b, np.stack([y, y]))
    assert out.shape == (2,) and out[1] == 0.0 and out[0] == pytest.approx(smape(x, y))
    xt = torch.tensor(x, requires_grad=True)
    val = smape(xt, torch.tensor(y))
    val.backward()
    assert isinstance(val, torch.Tensor) and float(val.detach()) == pytest.approx(smape(x, y))
    assert xt.grad is not None and torch.isfinite(xt.grad).all()
    da = xr.DataArray(x.T, dims=("dim", "time"))
    assert smape(da, y) == pytest.approx(smape(x, y))


# ---------------------------------------------------------------- VPT
def test_first_crossing_convention():
    assert first_crossing([1, 2, 31, 1], 30) == 2  # 0-based index of the first step with error > 30
    assert first_crossing([1, 2, 30, 1], 30) == 4  # strict '>': never crosses -> T
    assert first_crossing([40, 1], 30) == 0
    np.testing.assert_array_equal(first_crossing([[1, 50], [50, 1]], 30), [1, 0])


def test_vpt_on_constructed_error_curve():
    # truth 1, prediction 1 + e_t: per-step sMAPE = 200 e / (2 + e)
    e = np.array([0.0, 0.0, 0.1, 0.2, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0])
    y = np.ones((10, 1))
    yhat = 1 + e[:, None]
    per = 200 * e / (2 + e)  # 0 0 9.5 18.2 40 40 66.7 ...; running mean: ... 17.9 24.9 30.1
    cum = np.cumsum(per) / np.arange(1, 11)
    assert first_crossing(per, 30) == 4
    expected_cum = int(np.argmax(cum > 30))
    r = valid_prediction_time(y, yhat, 30)
    assert r.steps == expected_cum == 7
    assert valid_prediction_time(y, yhat, 30, mode="per_step").steps == 4
    # 0-100 scale halves the curve
    assert valid_prediction_time(y, yhat, 15, scale=100).steps == 7
    # Lyapunov times: steps * dt * lambda (PhyxMamba: 30 samples per Lyapunov time -> steps / 30)
    lam = 0.9056
    r = valid_prediction_time(y, yhat, 30, dt=1 / (30 * lam), lyapunov_exponent=lam)
    assert r.lyapunov_times == pytest.approx(7 / 30)
    assert r.time == pytest.approx(7 / (30 * lam))


def test_vpt_never_crosses_and_batched():
    x, _ = _inputs(100)
    r = valid_prediction_time(np.stack([x, x]), np.stack([x, -x]))
    np.testing.assert_array_equal(r.steps, [100, 0])
    assert r.lyapunov_times is None


def test_vpt_nrmse_matches_phyxmamba_definition():
    x, y = _inputs(100)
    std = x.std(axis=0)
    curve = np.sqrt(np.mean(((y - x) / std) ** 2, axis=1))
    expected = first_crossing(curve, 0.3)
    assert valid_prediction_time(x, y, 0.3, error="nrmse", mode="per_step").steps == expected


def test_vpt_bad_arguments():
    x, y = _inputs(20)
    with pytest.raises(ValueError, match="mode"):
        valid_prediction_time(x, y, mode="foo")
    with pytest.raises(ValueError, match="error"):
        valid_prediction_time(x, y, error="mae")
    with pytest.raises(ValueError, match="dt"):
        valid_prediction_time(x, y, lyapunov_exponent=0.9)
    with pytest.raises(ValueError, match="scale"):
        smape(x, y, scale=50)


# ---------------------------------------------------------------- PE(n)
def _linear_map_series(n=200):
    a = np.array([[0.9, -0.2], [0.2, 0.9]])
    x = np.empty((n, 2))
    x[0] = [1.0, 0.0]
    for t in range(1, n):
        x[t] = x[t - 1] @ a.T
    return a, x


def test_pe_exact_model_is_zero_and_perturbed_model_known():
    a, x = _linear_map_series()
    assert prediction_error_n_step(x, 20, step=lambda z: z @ a.T) == pytest.approx(0.0, abs=1e-24)
    # a model that adds a constant c each step: f^n(x) = A^n x + sum_k A^k c
    c = np.array([0.01, -0.02])
    n = 5
    shift = sum(np.linalg.matrix_power(a, k) @ c for k in range(n))
    expected = float(np.mean(shift**2))
    got = prediction_error_n_step(x, n, step=lambda z: z @ a.T + c)
    assert got == pytest.approx(expected, rel=1e-10)


def test_pe_torch_step_batches_and_predictions():
    a, x = _linear_map_series()
    at = torch.tensor(a)
    c = torch.tensor([0.01, -0.02], dtype=torch.float64)
    v1 = prediction_error_n_step(torch.tensor(x), 3, step=lambda z: z @ at.T + c, batch_size=17)
    v2 = prediction_error_n_step(x, 3, step=lambda z: z @ a.T + c.numpy())
    assert v1 == pytest.approx(v2, rel=1e-12)
    # precomputed predictions from each t = 0 .. T-n-1
    preds = x[:-3] @ np.linalg.matrix_power(a, 3).T + 0.1
    assert prediction_error_n_step(x, 3, predictions=preds) == pytest.approx(0.01)


def test_pe_bad_input():
    a, x = _linear_map_series(10)
    with pytest.raises(ValueError, match="x"):
        prediction_error_n_step(x, 20, step=lambda z: z)
    with pytest.raises(ValueError, match="step/predictions"):
        prediction_error_n_step(x, 2)
    with pytest.raises(ValueError, match="predictions"):
        prediction_error_n_step(x, 2, predictions=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n"):
        prediction_error_n_step(x, 0, step=lambda z: z)


# ---------------------------------------------------------------- D_frac
def test_fractal_dimension_error():
    assert fractal_dimension_error([2.0, 2.1], [2.0, 2.1]) == 0.0
    assert fractal_dimension_error([2.0, 2.0], [2.3, 1.9]) == pytest.approx(np.sqrt((0.09 + 0.01) / 2))
    # failed estimates (NaN) are dropped pairwise, as PhyxMamba skips them
    assert fractal_dimension_error([2.0, np.nan], [2.3, 1.0]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="dims_true"):
        fractal_dimension_error([1.0, 2.0], [1.0])


# ---------------------------------------------------------------- bad input
def test_smape_bad_input():
    x, y = _inputs(20)
    bad = y.copy()
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="y_pred"):
        smape(x, bad)
    with pytest.raises(ValueError, match="lengths"):
        smape(x, y[:-1])
    with pytest.raises(ValueError, match="state dimensions"):
        smape(x, y[:, :2])
