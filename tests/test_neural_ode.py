"""Neural ODE baseline (emulators.neural_ode) and its multiple-shooting training (chaosbench_py.training.train_neural_ode, task multi_step)."""

from __future__ import annotations

import pytest
import torch
from model_harness import check_gradients, check_save_load, single_thread  # noqa: F401  (autouse fixture)

import physics_metrics as pm
from chaosbench_py.training import train_neural_ode
from emulators import EmulatorInputError, build_model
from emulators.neural_ode import NeuralODE, NeuralODEConfig


def _linear_model(a: torch.Tensor, dt: float, **kw) -> NeuralODE:
    m = NeuralODE(NeuralODEConfig(state_dim=a.shape[0], n_layers=0, dt=dt, **kw)).double()
    with torch.no_grad():
        m.field.net[0].weight.copy_(a)
        m.field.net[0].bias.zero_()
    return m


def _exact_linear_trajectories(a: torch.Tensor, x0: torch.Tensor, dt: float, n: int) -> torch.Tensor:
    ts = torch.arange(n, dtype=torch.float64) * dt
    prop = torch.linalg.matrix_exp(a[None] * ts[:, None, None])  # (T, D, D)
    return torch.einsum("tij,bj->bti", prop, x0)


def test_registry_and_config_errors():
    m = build_model("neural_ode", {"state_dim": 2, "hidden_dim": 8, "n_layers": 1})
    assert isinstance(m, NeuralODE)
    assert m.config.state_dim == 2
    with pytest.raises(ValueError, match="activation"):
        NeuralODEConfig(activation="sigmoidish")
    with pytest.raises(ValueError, match="method"):
        NeuralODEConfig(method="not_a_solver")
    with pytest.raises(EmulatorInputError, match=r"x0: expected shape \(B, 2\) or \(2,\), got \(4, 3\)"):
        m(torch.zeros(4, 3), 2)
    with pytest.raises(ValueError, match="n_steps"):
        m(torch.zeros(4, 2), 0)
    with pytest.raises(EmulatorInputError, match="x0: expected a floating-point tensor"):
        m(torch.zeros(4, 2, dtype=torch.long), 2)
    with pytest.raises(EmulatorInputError, match="NeuralODEConfig.rtol"):
        NeuralODEConfig(rtol=-1e-6)


def test_same_seed_same_parameters():
    a = NeuralODE(NeuralODEConfig(seed=3))
    b = NeuralODE(NeuralODEConfig(seed=3))
    c = NeuralODE(NeuralODEConfig(seed=4))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.field.net[0].weight, c.field.net[0].weight)


def test_forward_matches_exact_linear_flow_and_iterated_step():
    a = torch.tensor([[-0.2, 1.5], [-1.5, -0.2]], dtype=torch.float64)
    dt = 0.05
    m = _linear_model(a, dt, method="rk4")
    x0 = torch.tensor([[1.0, 0.0], [0.3, -2.0]], dtype=torch.float64)
    traj = m(x0, 20)
    assert traj.shape == (2, 20, 2)
    exact = _exact_linear_trajectories(a, x0, dt, 21)[:, 1:]
    # RK4: 20 steps of local error ~ |x| (|λ| dt)^5 / 120 ≈ 4e-8 each; a 4× finer inner step cuts it by 4^4
    torch.testing.assert_close(traj, exact, rtol=0, atol=2e-6)
    fine = _linear_model(a, dt, method="rk4", step_size=dt / 4)(x0, 20)
    torch.testing.assert_close(fine, exact, rtol=0, atol=1e-8)
    x = x0
    for _ in range(20):
        x = m.step(x)
    torch.testing.assert_close(x, traj[:, -1], rtol=0, atol=1e-13)
    # unbatched input gives unbatched output
    assert m(x0[0], 3).shape == (3, 2)
    assert m.step(x0[0]).shape == (2,)
    # a float32 model accepts float64 states (cast in, cast back)
    m32 = _linear_model(a, dt, method="rk4").float()
    assert m32.step(x0).dtype == torch.float64
    torch.testing.assert_close(m32.step(x0), m.step(x0), rtol=0, atol=1e-5)
    assert m32(x0, 2).dtype == torch.float32


def test_learns_linear_ode_matrix():
    torch.manual_seed(0)
    a = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
    dt = 0.05
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    data = _exact_linear_trajectories(a, x0, dt, 200)
    m = NeuralODE(NeuralODEConfig(state_dim=2, n_layers=0, dt=dt, method="rk4")).double()
    res = train_neural_ode(m, data, window=5, batch_size=64, n_iters=250, lr=5e-2, progress=False, seed=0)
    assert res.losses[-1] < 1e-3 * res.losses[0]
    torch.testing.assert_close(m.field.net[0].weight.detach(), a, rtol=0, atol=1e-3)
    assert m.field.net[0].bias.detach().abs().max() < 1e-3


def test_adjoint_and_direct_gradients_agree():
    cfg = {
        "state_dim": 3,
        "hidden_dim": 16,
        "n_layers": 2,
        "dt": 0.1,
        "method": "dopri5",
        "rtol": 1e-10,
        "atol": 1e-12,
    }
    direct = NeuralODE(NeuralODEConfig(**cfg, adjoint=False)).double()
    adjoint = NeuralODE(NeuralODEConfig(**cfg, adjoint=True)).double()
    adjoint.load_state_dict(direct.state_dict())
    x0 = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    target = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads = []
    for m in (direct, adjoint):
        m.zero_grad()
        loss = (m(x0, 4) - target).pow(2).mean()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert grads[0].abs().max() > 1e-4  # a real gradient, not zeros
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-9)


def test_step_gives_lyapunov_spectrum_of_linear_field():
    # x' = A x with A = diag(0.5, -1): exponents of the time-dt flow map are exactly (0.5, -1) per time unit
    a = torch.diag(torch.tensor([0.5, -1.0], dtype=torch.float64))
    m = _linear_model(a, 0.05, method="rk4")
    spec = pm.lyapunov_spectrum_map(
        m.step, torch.tensor([[0.1, 0.2]], dtype=torch.float64), n_steps=200, time_step=0.05, transient_steps=300
    )
    torch.testing.assert_close(
        torch.as_tensor(spec.exponents), torch.tensor([0.5, -1.0], dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_save_load_round_trip(tmp_path):
    m = NeuralODE(NeuralODEConfig(state_dim=3, hidden_dim=12, n_layers=2, dt=0.02, seed=5))
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    loaded, _ = check_save_load(m, (x0, 10), tmp_path)
    assert isinstance(loaded, NeuralODE)


def test_gradients_reach_every_parameter():
    m = NeuralODE(NeuralODEConfig(state_dim=3, hidden_dim=8, n_layers=2, dt=0.05, seed=1))
    check_gradients(m, (torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), 5))


def test_trainer_input_errors():
    m = NeuralODE(NeuralODEConfig(state_dim=2, n_layers=0, dt=0.1))
    with pytest.raises(ValueError, match="state_dim"):
        train_neural_ode(m, torch.zeros(50, 3), n_iters=1, progress=False)
    with pytest.raises(ValueError, match="window"):
        train_neural_ode(m, torch.zeros(5, 2), window=10, n_iters=1, progress=False)
    with pytest.raises(ValueError, match="x_train"):
        train_neural_ode(m, torch.full((50, 2), float("nan")), n_iters=1, progress=False)
