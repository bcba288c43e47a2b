"""Reservoir computers (emulators.reservoir): ESN and NVAR with closed-form ridge read-outs."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import xarray as xr
from model_harness import check_save_load, single_thread  # noqa: F401  (autouse fixture)
from scipy.integrate import solve_ivp

import physics_metrics as pm
from chaosbench_py.training.baselines import fit_reservoir
from emulators import EmulatorInputError, build_model
from emulators.reservoir import NVAR, EchoStateNetwork, ESNConfig, NVARConfig, ridge_regression

LORENZ_LAMBDA1 = 0.9056  # largest Lyapunov exponent of Lorenz-63 (sigma=10, rho=28, beta=8/3)


# ---------------------------------------------------------------------------------------------- ridge
def test_ridge_regression_matches_normal_equations_and_lstsq():
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(200, 7, generator=g, dtype=torch.float64)
    y = torch.randn(200, 3, generator=g, dtype=torch.float64)
    lam = 0.3
    w = ridge_regression(phi, y, lam)
    expected = torch.linalg.solve(phi.T @ phi + lam * torch.eye(7, dtype=torch.float64), phi.T @ y).T
    torch.testing.assert_close(w, expected, rtol=1e-10, atol=1e-12)
    w0 = ridge_regression(phi, y, 0)
    torch.testing.assert_close(w0, torch.linalg.lstsq(phi, y).solution.T, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="ridge"):
        ridge_regression(phi, y, -1.0)


# ---------------------------------------------------------------------------------------------- NVAR
def test_nvar_feature_count_matches_gauthier():
    m = NVAR(NVARConfig(input_dim=3, delay=2, skip=1))
    assert m.n_features == 28  # 1 + 6 linear + 21 unique quadratic (Gauthier et al. 2021, Lorenz-63)
    assert m.window == 2
    assert NVAR(NVARConfig(input_dim=2, delay=3, skip=4)).window == 9


def test_nvar_recovers_affine_map_exactly():
    # x_{t+1} = M x_t + c  ⇒  increment = (M − I) x_t + c: the read-out must be exactly that, quadratic part 0
    m_true = torch.tensor([[0.95, 0.2], [-0.25, 0.9]], dtype=torch.float64)
    c = torch.tensor([0.3, -0.1], dtype=torch.float64)
    x = [torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3]
    for _ in range(40):
        x.append(x[-1] @ m_true.T + c)
    series = torch.stack(x, dim=1)  # (6, 41, 2)
    model = NVAR(NVARConfig(input_dim=2, delay=1)).fit(series, ridge=0.0)
    w = model.readout
    torch.testing.assert_close(w[:, 0], c, rtol=0, atol=1e-9)
    torch.testing.assert_close(w[:, 1:3], m_true - torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-9)
    assert w[:, 3:].abs().max() < 1e-9
    # autonomous prediction reproduces the exact iteration
    pred = model.predict(series[:, :5], 30)
    torch.testing.assert_close(pred, series[:, 5:35], rtol=0, atol=1e-7)


def _gauthier_lorenz(t_end: float = 60.0) -> torch.Tensor:
    """The data of Gauthier et al. 2021 (Lorenz-63, dt = 0.025): their initial condition and solve_ivp RK23
    with default tolerances. With very accurate data (rtol 1e-9) the paper's tiny ridge 2.5e-6 gives an
    unstable closed loop (cond(Φ) ~ 1e10); see the report of this module."""

    def rhs(_t, u):
        return [10.0 * (u[1] - u[0]), u[0] * (28.0 - u[2]) - u[1], u[0] * u[1] - 8.0 / 3.0 * u[2]]

    t = np.arange(0.0, t_end, 0.025)
    sol = solve_ivp(
        rhs, (0.0, t_end), [17.67715816276679, 12.931379185960404, 43.91404334248268], t_eval=t, method="RK23"
    )
    return torch.from_numpy(sol.y.T.copy())


@pytest.fixture(scope="module")
def lorenz_nvar():
    x = _gauthier_lorenz()
    warm, train = 200, 400  # 5 time units of warm-up discarded, 10 time units of training
    model = NVAR(NVARConfig(input_dim=3, delay=2, skip=1)).fit(x[warm - 1 : warm + train], ridge=2.5e-6)
    return model, x, warm + train


def test_nvar_lorenz_forecast_beyond_one_lyapunov_time(lorenz_nvar):
    model, x, n0 = lorenz_nvar
    n_lt = int(round(1 / LORENZ_LAMBDA1 / 0.025))  # 44 steps = one Lyapunov time
    pred = model.predict(x[:n0], 400)
    true = x[n0 : n0 + 400]
    nrmse = ((pred[:n_lt] - true[:n_lt]).pow(2).mean(0) / x.var(0)).sum().sqrt().item()
    assert nrmse < 1e-2  # measured 1.1e-3
    vpt = pm.valid_prediction_time(
        true.numpy(), pred.numpy(), threshold=30, dt=0.025, lyapunov_exponent=LORENZ_LAMBDA1
    )
    assert vpt.lyapunov_times >= 1.0  # measured ~10 Lyapunov times


def test_nvar_lyapunov_spectrum_of_lorenz(lorenz_nvar):
    model, x, n0 = lorenz_nvar
    x0 = torch.cat([model.embed(x[i : i + 2]) for i in (600, 900)])
    spec = pm.lyapunov_spectrum_map(
        model.step, x0, n_steps=3000, n_exponents=3, transient_steps=200, time_step=0.025, seed=0
    )
    lam = np.asarray(spec.exponents)
    assert abs(lam[0] - LORENZ_LAMBDA1) < 0.2 * LORENZ_LAMBDA1  # measured 0.89
    assert abs(lam[1]) < 0.1  # the flow direction
    assert lam[2] == pytest.approx(-14.57, rel=0.1)  # measured -14.55


def test_nvar_save_load_round_trip(lorenz_nvar, tmp_path):
    model, x, n0 = lorenz_nvar
    loaded, _ = check_save_load(model, (x[:n0], 50), tmp_path)
    assert isinstance(loaded, NVAR) and bool(loaded.fitted)
    assert torch.equal(loaded.readout, model.readout)


def test_nvar_errors():
    m = NVAR(NVARConfig(input_dim=3, delay=3, skip=2))
    with pytest.raises(RuntimeError, match="fit"):
        m.predict(torch.zeros(10, 3), 5)
    with pytest.raises(ValueError, match="series"):
        m.fit(torch.zeros(100, 2))
    with pytest.raises(ValueError, match="series"):
        m.fit(torch.zeros(5, 3))  # shorter than the delay window + 1
    with pytest.raises(ValueError, match="delay"):
        NVARConfig(delay=0)
    with pytest.raises(EmulatorInputError, match=r"state: expected shape \(batch, 15\), got \(2, 5\)"):
        m.step(torch.zeros(2, 5, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------- ESN
@pytest.mark.parametrize(
    ("n", "rho", "conn", "seed"), [(50, 0.9, 0.2, 0), (200, 1.3, 0.05, 7), (150, 0.5, 0.03, 3)]
)
def test_esn_spectral_radius_is_exact(n, rho, conn, seed):
    m = EchoStateNetwork(ESNConfig(reservoir_dim=n, spectral_radius=rho, connectivity=conn, seed=seed))
    radius = torch.linalg.eigvals(m.w_res).abs().max().item()
    assert radius == pytest.approx(rho, rel=1e-10)
    density = (m.w_res != 0).double().mean().item()
    assert density == pytest.approx(conn, abs=0.02)


def test_esn_seed_reproducible():
    a = EchoStateNetwork(ESNConfig(reservoir_dim=40, seed=1))
    b = EchoStateNetwork(ESNConfig(reservoir_dim=40, seed=1))
    c = EchoStateNetwork(ESNConfig(reservoir_dim=40, seed=2))
    assert torch.equal(a.w_res, b.w_res) and torch.equal(a.w_in, b.w_in) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.w_res, c.w_res)


def _sine(n: int = 1300) -> torch.Tensor:
    return torch.sin(0.1 * torch.arange(n, dtype=torch.float64))[:, None]  # period ≈ 63 samples


@functools.cache
def _sine_esn(seed: int) -> EchoStateNetwork:
    cfg = ESNConfig(
        input_dim=1, reservoir_dim=100, spectral_radius=0.9, connectivity=0.1, input_scaling=1.0, leak_rate=0.3,
        quadratic_readout=False, seed=seed,
    )  # fmt: skip
    return EchoStateNetwork(cfg).fit(_sine()[:800], ridge=1e-6, washout=100)


@pytest.mark.parametrize("seed", [1, 2])
def test_esn_predicts_sine_autonomously(seed):
    x = _sine()
    m = _sine_esn(seed)
    pred = m.predict(x[:800], 500)  # about 8 periods closed-loop
    assert pred.shape == (500, 1)
    assert (pred - x[800:]).abs().max() < 1e-2  # measured 7e-5 (seed 1), 2e-4 (seed 2)


def test_esn_fit_alignment_one_step():
    # teacher-forced read-out of the state after u_0..u_{t-1} must predict u_t
    x = _sine()
    m = _sine_esn(1)
    states = m.listen(x[:800])
    one_step = m.output(states[100:-1])
    assert (one_step - x[101:800]).abs().max() < 1e-4


def test_esn_step_lyapunov_on_limit_cycle():
    # the closed-loop ESN reproducing a sine runs on a limit cycle: λ1 ≈ 0, the rest negative
    x = _sine()
    m = _sine_esn(1)
    r0 = m.listen(x[:800])[-1:]
    spec = pm.lyapunov_spectrum_map(m.step, r0, n_steps=1000, n_exponents=3, transient_steps=100, seed=0)
    lam = np.asarray(spec.exponents)
    assert abs(lam[0]) < 5e-3
    assert lam[1] < -5e-3 and lam[2] <= lam[1]


def test_esn_save_load_round_trip_and_registry(tmp_path):
    x = _sine()
    m = _sine_esn(2)
    loaded, _ = check_save_load(m, (x[:800], 100), tmp_path)
    assert isinstance(loaded, EchoStateNetwork) and bool(loaded.fitted)
    assert loaded.w_res.dtype == torch.float64
    # a float32 copy comes back float32 (the stored dtype), not the float64 the constructor makes
    m32 = EchoStateNetwork(m.config).float()
    m32.readout.copy_(m.readout.float())
    m32.fitted.fill_(True)
    m32_loaded, _ = check_save_load(m32, (x[:50].float(), 3), tmp_path, name="esn32.pt")
    assert m32_loaded.w_res.dtype == torch.float32
    built = build_model("esn", {"input_dim": 1, "reservoir_dim": 100, "spectral_radius": 0.9, "connectivity": 0.1,
                                "input_scaling": 1.0, "leak_rate": 0.3, "quadratic_readout": False, "seed": 2})  # fmt: skip
    assert torch.equal(built.w_res, m.w_res)
    assert built.readout.shape == (1, 101)
    assert EchoStateNetwork(ESNConfig(input_dim=3, reservoir_dim=10)).readout.shape == (3, 21)


def test_esn_errors():
    m = EchoStateNetwork(ESNConfig(input_dim=2, reservoir_dim=20))
    with pytest.raises(RuntimeError, match="fit"):
        m.predict(torch.zeros(10, 2), 3)
    with pytest.raises(ValueError, match="series"):
        m.fit(torch.zeros(300, 3))
    with pytest.raises(ValueError, match="washout"):
        m.fit(torch.zeros(300, 2), washout=-1)
    with pytest.raises(ValueError, match="series"):
        m.fit(torch.full((300, 2), float("nan")))
    with pytest.raises(ValueError, match="spectral_radius"):
        ESNConfig(spectral_radius=0.0)
    with pytest.raises(
        EmulatorInputError, match=r"series: expected shape \(T, 2\) or \(B, T, 2\).*got \(300, 3\)"
    ):
        m.fit(torch.zeros(300, 3))
    with pytest.raises(EmulatorInputError, match=r"r: expected shape \(batch, 20\), got \(1, 19\)"):
        m.step(torch.zeros(1, 19, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------- helpers
def test_fit_reservoir_accepts_trajectory_dataset():
    x = _gauthier_lorenz(20.0)[200:700].numpy()
    ds = xr.Dataset({"x": (("trajectory", "time", "dim"), x[None])})
    a = fit_reservoir(NVAR(NVARConfig()), ds, ridge=1e-4)
    b = NVAR(NVARConfig()).fit(torch.from_numpy(x), ridge=1e-4)
    torch.testing.assert_close(a.readout, b.readout, rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="model"):
        fit_reservoir(torch.nn.Linear(2, 2), ds)
