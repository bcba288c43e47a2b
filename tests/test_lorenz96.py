"""Lorenz-96 (any N) and two-scale Lorenz-96."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from chaosbench_py.systems import get_system
from chaosbench_py.systems.lorenz96 import lorenz96_jacobian, lorenz96_rhs

GOLDEN = Path(__file__).resolve().parent / "data" / "dysts_golden.json"
GEN = torch.Generator().manual_seed(7)


def _naive_l96(x, f):
    n = len(x)
    return np.array([(x[(i + 1) % n] - x[(i - 2) % n]) * x[(i - 1) % n] - x[i] + f for i in range(n)])


def _naive_two_scale(state, k_, j_, f, h, c, b):
    x, y = state[:k_], state[k_:]
    m_ = k_ * j_
    dx = np.empty(k_)
    for k in range(k_):
        dx[k] = (
            x[k - 1] * (x[(k + 1) % k_] - x[k - 2]) - x[k] + f - h * c / b * y[k * j_ : (k + 1) * j_].sum()
        )
    dy = np.empty(m_)
    for m in range(m_):
        dy[m] = -c * b * y[(m + 1) % m_] * (y[(m + 2) % m_] - y[m - 1]) - c * y[m] + h * c / b * x[m // j_]
    return np.concatenate([dx, dy])


def test_dysts_default_matches_golden():
    rows = json.loads(GOLDEN.read_text())["flows"]["Lorenz96"]
    system = get_system("Lorenz96")
    assert system.dim == 4 and system.params == {"f": 20.0}
    assert system.info.invariants.max_lyapunov is not None
    for row in rows:
        out = system.rhs(0.0, torch.tensor(row["x"], dtype=torch.float64))
        np.testing.assert_allclose(out.numpy(), row["rhs"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [4, 5, 7, 40])
def test_matches_naive_loop(n):
    x = 3 * torch.randn(n, dtype=torch.float64, generator=GEN)
    system = get_system("Lorenz96", dim=n, f=8.0)
    np.testing.assert_allclose(system.rhs(0.0, x).numpy(), _naive_l96(x.numpy(), 8.0), rtol=1e-13, atol=1e-13)


def test_advection_conserves_energy():
    """Σ x_i (x_{i+1} − x_{i−2}) x_{i−1} = 0, so with F = 0: x · f(x) = −Σ x_i²."""
    x = 5 * torch.randn(16, 40, dtype=torch.float64, generator=GEN)
    out = lorenz96_rhs(0.0, x, {"f": 0.0})
    torch.testing.assert_close((x * out).sum(-1), -(x**2).sum(-1), rtol=1e-12, atol=1e-9)


def test_translation_equivariance():
    system = get_system("Lorenz96", dim=12)
    x = torch.randn(3, 12, dtype=torch.float64, generator=GEN)
    for s in (1, 5):
        torch.testing.assert_close(
            system.rhs(0.0, torch.roll(x, s, -1)), torch.roll(system.rhs(0.0, x), s, -1)
        )


@pytest.mark.parametrize("n", [4, 6, 40])
def test_autograd_jacobian_matches_hand_formula(n):
    system = get_system("Lorenz96", dim=n)
    x = torch.randn(5, n, dtype=torch.float64, generator=GEN)
    torch.testing.assert_close(system.jacobian(x), lorenz96_jacobian(x), rtol=1e-13, atol=1e-13)


def test_forcing_sweep_broadcasts():
    f = torch.tensor([8.0, 10.0], dtype=torch.float64)
    system = get_system("Lorenz96", dim=10, f=f)
    x = torch.zeros(2, 10, dtype=torch.float64)
    torch.testing.assert_close(system.rhs(0.0, x), f[:, None].expand(2, 10))


def test_other_dimension_metadata():
    system = get_system("Lorenz96", dim=40, f=8.0)
    ic = system.default_initial_condition()
    assert ic.shape == (40,)
    assert ic[0] == pytest.approx(8.01) and torch.all(ic[1:] == 8.0)
    assert system.info.invariants.max_lyapunov is None
    assert system.info.dt is not None
    assert get_system("Lorenz96", f=8.0).info.invariants.max_lyapunov is None  # dysts values are for f = 20


@pytest.mark.parametrize("bad", [3, 0, 4.5, "8"])
def test_bad_dimension_is_named(bad):
    with pytest.raises(ValueError, match="dim"):
        get_system("Lorenz96", dim=bad)


def test_unknown_parameter_is_named():
    with pytest.raises(KeyError, match="F"):
        get_system("Lorenz96", F=8.0)


def test_rk4_trajectory_stays_on_attractor():
    system = get_system("Lorenz96", dim=40, f=8.0)
    x, h = system.default_initial_condition(), 0.01
    for _ in range(2000):
        k1 = system.rhs(0, x)
        k2 = system.rhs(0, x + h / 2 * k1)
        k3 = system.rhs(0, x + h / 2 * k2)
        k4 = system.rhs(0, x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    assert torch.isfinite(x).all() and x.abs().max() < 20 and x.std() > 1.0


# --------------------------------------------------------------------------------- two-scale


def test_two_scale_defaults():
    system = get_system("Lorenz96TwoScale")
    assert system.dim == 36 + 360
    assert system.params == {"F": 10.0, "h": 1.0, "c": 10.0, "b": 10.0}
    assert system.default_initial_condition().shape == (396,)


@pytest.mark.parametrize("k_,j_", [(4, 3), (8, 5), (36, 10)])
def test_two_scale_matches_naive_loop(k_, j_):
    params = {"F": 9.0, "h": 0.7, "c": 8.0, "b": 12.0}
    system = get_system("Lorenz96TwoScale", n_slow=k_, n_fast=j_, **params)
    x = torch.randn(k_ * (1 + j_), dtype=torch.float64, generator=GEN)
    ref = _naive_two_scale(x.numpy(), k_, j_, 9.0, 0.7, 8.0, 12.0)
    np.testing.assert_allclose(system.rhs(0.0, x).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_two_scale_energy_budget():
    """Advection and coupling conserve Σ X² + Σ Y²: with F = 0, x·f = −Σ X² − c Σ Y²."""
    k_, j_, c = 8, 4, 10.0
    system = get_system("Lorenz96TwoScale", n_slow=k_, n_fast=j_, F=0.0, c=c)
    x = 3 * torch.randn(6, k_ * (1 + j_), dtype=torch.float64, generator=GEN)
    out = system.rhs(0.0, x)
    expected = -(x[:, :k_] ** 2).sum(-1) - c * (x[:, k_:] ** 2).sum(-1)
    torch.testing.assert_close((x * out).sum(-1), expected, rtol=1e-12, atol=1e-8)


def test_two_scale_jacobian_matches_finite_differences():
    system = get_system("Lorenz96TwoScale", n_slow=5, n_fast=3)
    x = torch.randn(20, dtype=torch.float64, generator=GEN)
    eps = 1e-6
    fd = torch.stack(
        [
            (system.rhs(0, x + eps * e) - system.rhs(0, x - eps * e)) / (2 * eps)
            for e in torch.eye(20, dtype=x.dtype)
        ],
        dim=-1,
    )
    torch.testing.assert_close(system.jacobian(x), fd, rtol=1e-6, atol=1e-6)


def test_two_scale_bad_sizes_are_named():
    with pytest.raises(ValueError, match="n_slow"):
        get_system("Lorenz96TwoScale", n_slow=2)
    with pytest.raises(ValueError, match="n_fast"):
        get_system("Lorenz96TwoScale", n_fast=0)
    with pytest.raises(KeyError, match="f"):
        get_system("Lorenz96TwoScale", f=1.0)
