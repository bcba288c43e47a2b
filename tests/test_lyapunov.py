"""Lyapunov spectra by tangent-space QR: known values of classic systems, exact linear cases.

The vector fields are written here (not imported from chaosbench_py) so these tests pin
physics_metrics alone. Reference values: Lorenz-63 (0.9056, 0, −14.5723) and Rössler λ₁ = 0.0714
(Sprott, *Chaos and Time-Series Analysis*, OUP 2003, table of exponents); Hénon λ₁ = 0.41922;
logistic r = 4: ln 2 (exact).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physics_metrics.lyapunov import LyapunovSpectrum, lyapunov_spectrum_flow, lyapunov_spectrum_map


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: intra-op threading only adds overhead (and noise on a shared 2-core machine)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def lorenz63(t, x):
    a, b, c = x.unbind(-1)
    return torch.stack([10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c], dim=-1)


def rossler(t, x):
    a, b, c = x.unbind(-1)
    return torch.stack([-b - c, a + 0.2 * b, 0.2 + c * (a - 5.7)], dim=-1)


def henon(x):
    return torch.stack([1.0 - 1.4 * x[:, 0] ** 2 + x[:, 1], 0.3 * x[:, 0]], dim=-1)


def _ics(center, n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(center, dtype=torch.float64) + scale * torch.randn(
        n, len(center), generator=g, dtype=torch.float64
    )


def test_lorenz63_spectrum():
    x0 = _ics([1.0, 1.0, 20.0], 256, 5.0, seed=0)
    res = lyapunov_spectrum_flow(lorenz63, x0, dt=0.02, n_steps=1000, transient_steps=500)
    l1, l2, l3 = res.exponents
    assert abs(l1 - 0.9056) < 0.02 * 0.9056
    assert abs(l2) < 0.01
    assert abs(l3 + 14.5723) < 0.02 * 14.5723
    # sum of exponents = divergence = −(σ + 1 + β) exactly for Lorenz-63 (RK4 at dt = 0.02 is off by ~1e-4 rel.)
    assert abs(res.exponents.sum() + (10 + 1 + 8 / 3)) < 5e-3
    assert res.per_initial_condition.shape == (256, 3)
    assert res.running.shape[1] == 3 and res.running.shape[0] == res.times.shape[0]
    np.testing.assert_allclose(res.running[-1], res.exponents)
    assert res.times[-1] == pytest.approx(20.0)
    assert 2.0 < res.kaplan_yorke_dimension < 2.1  # 2 + 0.9056/14.5723 = 2.062


def test_rossler_leading_exponent():
    x0 = _ics([1.0, 1.0, 0.0], 256, 1.0, seed=1)
    res = lyapunov_spectrum_flow(rossler, x0, dt=0.05, n_steps=2000, transient_steps=1000)
    assert abs(res.exponents[0] - 0.0714) < 0.05 * 0.0714
    assert abs(res.exponents[1]) < 0.01
    assert abs(res.exponents.sum() - res.exponents[0] - res.exponents[1] + 5.39) < 0.1


def test_henon_map():
    x0 = _ics([0.0, 0.0], 256, 0.1, seed=2)
    res = lyapunov_spectrum_map(henon, x0, n_steps=1000, transient_steps=100)
    assert abs(res.exponents[0] - 0.4192) < 0.01 * 0.4192
    # |det J| = b everywhere: λ1 + λ2 = ln b for every orbit, up to round-off
    np.testing.assert_allclose(res.per_initial_condition.sum(axis=1), math.log(0.3), atol=1e-10)
    assert res.time_unit == "step"


def test_logistic_map_ln2():
    g = torch.Generator().manual_seed(3)
    x0 = 0.05 + 0.9 * torch.rand(256, 1, generator=g, dtype=torch.float64)
    res = lyapunov_spectrum_map(lambda x: 4.0 * x * (1.0 - x), x0, n_steps=2000, transient_steps=10)
    assert abs(res.exponents[0] - math.log(2.0)) < 0.005 * math.log(2.0)


def test_linear_flow_exact_exponents():
    # dx/dt = A x with A = P diag(λ) P⁻¹ (non-normal): exponents are exactly the eigenvalues
    lam = np.array([0.3, -0.1, -0.7])
    p = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.4], [0.3, 0.0, 1.0]])
    a = torch.tensor(p @ np.diag(lam) @ np.linalg.inv(p))
    res = lyapunov_spectrum_flow(
        lambda t, x: x @ a.T,
        torch.ones(2, 3, dtype=torch.float64),
        dt=0.01,
        n_steps=4000,
        transient_steps=1000,
    )
    # residual error ~ log(cond P)/T from the basis change; RK4 error ~ (hλ)^4 λ / 120, negligible
    np.testing.assert_allclose(res.exponents, lam, atol=2e-3)
    # a linear map x -> M x: exponents ln|eig M|, including a rotation (complex pair) block
    m = np.array(
        [[0.9 * math.cos(0.7), -0.9 * math.sin(0.7), 0.0], [0.9 * math.sin(0.7), 0.9 * math.cos(0.7), 0.0]]
    )
    m = np.vstack([m, [0.1, 0.2, 1.5]])
    mt = torch.tensor(m)
    res = lyapunov_spectrum_map(
        lambda x: x @ mt.T, torch.ones(1, 3, dtype=torch.float64), n_steps=1000, transient_steps=200
    )
    np.testing.assert_allclose(res.exponents, [math.log(1.5), math.log(0.9), math.log(0.9)], atol=2e-3)
    # with a time step the exponents are per time unit
    res2 = lyapunov_spectrum_map(
        lambda x: x @ mt.T,
        torch.ones(1, 3, dtype=torch.float64),
        n_steps=1000,
        transient_steps=200,
        time_step=0.5,
    )
    np.testing.assert_allclose(res2.exponents, res.exponents / 0.5, rtol=1e-12)
    assert res2.time_unit == "time" and res2.total_time == pytest.approx(500.0)


def test_batch_consistency_and_trace_equivalence():
    x0 = _ics([1.0, 1.0, 20.0], 4, 5.0, seed=4)
    kw = dict(dt=0.01, n_steps=300, transient_steps=50)
    batch = lyapunov_spectrum_flow(lorenz63, x0, **kw)
    for i in (0, 3):
        single = lyapunov_spectrum_flow(lorenz63, x0[i], **kw)
        np.testing.assert_allclose(
            single.per_initial_condition[0], batch.per_initial_condition[i], rtol=1e-10
        )
    eager = lyapunov_spectrum_flow(lorenz63, x0, trace=False, **kw)
    np.testing.assert_allclose(eager.per_initial_condition, batch.per_initial_condition, rtol=1e-10)
    np.testing.assert_allclose(batch.exponents, batch.per_initial_condition.mean(0))
    np.testing.assert_allclose(batch.spread, batch.per_initial_condition.std(0, ddof=1))
    # leading-k only: the first exponents do not depend on how many are computed
    two = lyapunov_spectrum_flow(lorenz63, x0, n_exponents=2, **kw)
    np.testing.assert_allclose(two.per_initial_condition, batch.per_initial_condition[:, :2], rtol=1e-8)
    # QR every few steps gives the same result (QR is only a change of basis in the span)
    qr5 = lyapunov_spectrum_flow(lorenz63, x0, qr_every=5, **kw)
    np.testing.assert_allclose(qr5.per_initial_condition, batch.per_initial_condition, rtol=1e-6, atol=1e-8)


def test_map_of_module_matches_full_jacobian_qr():
    """An emulator-like one-step map (nn.Module): compare with an independent full-Jacobian QR in numpy."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).double()

    def step(x):
        return 0.9 * x + 0.5 * net(x)

    x0 = torch.randn(3, 4, dtype=torch.float64) * 0.1
    n = 200
    res = lyapunov_spectrum_map(step, x0, n_steps=n, n_exponents=3)
    for i in range(3):
        x = x0[i].clone()
        q = np.eye(4)[:, :3]
        acc = np.zeros(3)
        for _ in range(n):
            jac = torch.autograd.functional.jacobian(step, x[None])[0, :, 0, :].detach().numpy()
            q, r = np.linalg.qr(jac @ q)
            acc += np.log(np.abs(np.diag(r)))
            with torch.no_grad():
                x = step(x[None])[0]
        np.testing.assert_allclose(res.per_initial_condition[i], acc / n, rtol=1e-9, atol=1e-12)


def test_converged_and_running():
    x0 = _ics([1.0, 1.0, 20.0], 64, 5.0, seed=5)
    res = lyapunov_spectrum_flow(lorenz63, x0, dt=0.02, n_steps=500, transient_steps=200, record_every=10)
    assert isinstance(res, LyapunovSpectrum)
    assert res.running.shape == (50, 3)
    np.testing.assert_allclose(res.times, 0.2 * np.arange(1, 51))
    assert res.converged(1.0)
    assert not res.converged(1e-6)
    with pytest.raises(ValueError, match="tol"):
        res.converged(0.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_exponents"):
        lyapunov_spectrum_flow(lorenz63, [1.0, 1.0, 1.0], dt=0.01, n_steps=10, n_exponents=4)
    with pytest.raises(ValueError, match="x0"):
        lyapunov_spectrum_flow(lorenz63, torch.ones(2, 2, 3), dt=0.01, n_steps=10)
    with pytest.raises(ValueError, match="x0"):
        lyapunov_spectrum_flow(lorenz63, [1.0, float("nan"), 1.0], dt=0.01, n_steps=10)
    with pytest.raises(ValueError, match="dt"):
        lyapunov_spectrum_flow(lorenz63, [1.0, 1.0, 1.0], dt=-0.1, n_steps=10)
    with pytest.raises(ValueError, match="n_steps"):
        lyapunov_spectrum_flow(lorenz63, [1.0, 1.0, 1.0], dt=0.1, n_steps=0)
    with pytest.raises(ValueError, match="vector_field"):
        lyapunov_spectrum_flow(lambda t, x: x[:, :2], [1.0, 1.0, 1.0], dt=0.1, n_steps=5)
    with pytest.raises(ValueError, match="step"):
        lyapunov_spectrum_map(lambda x: x.sum(-1), [1.0, 1.0], n_steps=5)
    # finite-time blow-up of dx/dt = x² from x = 1 at t = 1: reported with the step number
    with pytest.raises(FloatingPointError, match="step"):
        lyapunov_spectrum_flow(lambda t, x: x**2, [1.0], dt=0.01, n_steps=500, trace=False)
    with pytest.raises(FloatingPointError, match="initial condition"):
        lyapunov_spectrum_map(lambda x: x**2, [[0.5], [3.0]], n_steps=20)
