"""Lyapunov spectra of gridded one-step maps: known answers (linear map, solver as model), emulator step, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from chaosbench_py.errors import InputError
from chaosbench_py.evaluation import (
    SpectralSolverMap,
    compare_lyapunov_spectra,
    emulator_step_map,
    rollout_gridded,
    solver_initial_states,
    solver_step_map,
)
from chaosbench_py.evaluation.emulator_lyapunov import _grid_from_spectral, _spectral_from_grid
from chaosbench_py.simulate.shallow_water import ShallowWaterSolver
from physics_metrics import (
    error_doubling_time,
    leading_kaplan_yorke_dimension,
    lyapunov_spectrum_gridded_map,
    lyapunov_spectrum_map,
)
from physics_metrics.errors import MetricInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------ linear map
def _linear_map(shape=(2, 5, 5), seed=1):
    d = math.prod(shape)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    top = torch.tensor([0.5, 0.3, 0.1, -0.1, -0.3, -0.5, -0.7, -0.9], dtype=torch.float64)
    rest = torch.linspace(-1.2, -3.0, d - 8, dtype=torch.float64)
    mu = torch.cat([top, rest])[torch.randperm(d, generator=g)]
    a = q @ torch.diag(torch.exp(mu)) @ q.T

    def step(x):
        return (x.reshape(x.shape[0], -1) @ a.T).reshape(x.shape)

    return step, top.numpy(), torch.randn(3, *shape, generator=g, dtype=torch.float64)


def test_linear_map_exponents_are_the_largest_log_eigenvalues():
    step, top, x0 = _linear_map()
    res = lyapunov_spectrum_gridded_map(
        step, x0, n_exponents=8, n_steps=40, transient_steps=300, time_step=0.5
    )
    np.testing.assert_allclose(res.exponents * 0.5, top, atol=1e-6)
    np.testing.assert_allclose(res.per_initial_condition * 0.5, np.broadcast_to(top, (3, 8)), atol=1e-6)
    assert res.info["state_shape"] == (2, 5, 5) and res.time_unit == "time"
    # the doubling time of the leading exponent (per time unit), the KY dimension of the leading set
    assert error_doubling_time(res.exponents[0]) == pytest.approx(math.log(2) / 1.0, rel=1e-6)
    ky = leading_kaplan_yorke_dimension(top)  # cumulative sums 0.5 0.8 0.9 0.8 0.5 0 -0.7: j = 6
    assert ky.determined and ky.value == pytest.approx(6.0)
    short = leading_kaplan_yorke_dimension(top[:3])  # sum stays > 0: only a lower bound
    assert not short.determined and math.isnan(short.value) and short.lower_bound == 3


def test_error_doubling_time_edge_cases():
    assert error_doubling_time(2.0) == pytest.approx(math.log(2) / 2)
    out = error_doubling_time([0.0, -1.0, np.nan, 0.5])
    assert (
        np.isinf(out[0])
        and np.isinf(out[1])
        and np.isnan(out[2])
        and out[3] == pytest.approx(2 * math.log(2))
    )


def test_bad_input_is_named():
    step, _, x0 = _linear_map()
    with pytest.raises(MetricInputError, match="n_exponents=51 exceeds the state dimension D"):
        lyapunov_spectrum_gridded_map(step, x0, n_exponents=51, n_steps=2)
    with pytest.raises(MetricInputError, match="x0: expected shape"):
        lyapunov_spectrum_gridded_map(step, torch.zeros(5), n_exponents=2, n_steps=2)
    with pytest.raises(MetricInputError, match="step: must map states of shape"):
        lyapunov_spectrum_gridded_map(lambda x: x[:, :1], x0, n_exponents=2, n_steps=2)
    with pytest.raises(MetricInputError, match="initial_frame"):
        lyapunov_spectrum_gridded_map(step, x0, n_exponents=2, n_steps=2, initial_frame=np.zeros((3, 2)))
    s = ShallowWaterSolver(8, 16)
    with pytest.raises(InputError, match="substep_seconds"):
        solver_step_map(s, 3600.0, 1000.0)
    with pytest.raises(InputError, match=r"x: expected grid states \(B, 3, 8, 16\)"):
        solver_step_map(s, 3600.0, 1800.0)(torch.zeros(1, 2, 8, 16, dtype=torch.float64))
    with pytest.raises(InputError, match="x0_states"):
        compare_lyapunov_spectra(step, step, torch.zeros(2, 3), n_steps=2, time_step_days=1.0)


# ------------------------------------------------------------------------------------------ solver as model
def test_solver_grid_map_has_the_spectral_solver_exponents():
    """The grid map P∘S∘R (R: grid → packed spectral, P = its inverse on the resolved fields) is conjugate
    to the spectral step S. In coordinates y = L p in which P L⁻¹ is an isometry (Pᵀ P = Lᵀ L) and with
    the corresponding initial frame, the tangent QR factors of both runs coincide after the first step
    (which removes the unresolved grid directions): the exponents agree to rounding."""
    solver = ShallowWaterSolver(16, 32)
    x0 = solver_initial_states(solver, 2, seed=3, spinup_seconds=86400.0)
    dt = 3600.0
    grid_map = solver_step_map(solver, dt, 1800.0)
    spec = SpectralSolverMap(solver, dt, 1800.0)
    n = spec.size
    assert n == 3 * (solver.sht.lmax + 1) ** 2 - 2
    p0 = spec.pack(_spectral_from_grid(solver, x0))
    back = _grid_from_spectral(solver, spec.unpack(p0))
    torch.testing.assert_close(back, x0, rtol=0, atol=1e-9 * float(x0.abs().max()))
    # P (packed → flattened grid) and R (grid → packed), both linear
    eye = torch.eye(n, dtype=torch.float64)
    p_mat = _grid_from_spectral(solver, spec.unpack(eye)).reshape(n, -1).T  # (D, n)
    chol = torch.linalg.cholesky(p_mat.T @ p_mat)  # Pᵀ P = C Cᵀ, L = Cᵀ
    lmat, linv = chol.T, torch.linalg.inv(chol.T)

    def spectral_y(y):
        return spec(y @ linv.T) @ lmat.T

    k, seed = 6, 5
    d = x0[0].numel()
    gen = torch.Generator().manual_seed(seed)
    frame_g, _ = torch.linalg.qr(torch.randn(d, k, generator=gen, dtype=torch.float64))
    cols = frame_g.T.reshape(k, *x0.shape[1:])
    frame_y = (spec.pack(_spectral_from_grid(solver, cols)) @ lmat.T).T  # (n, k): L R Q_g
    kw = dict(n_exponents=k, n_steps=5, transient_steps=1, time_step=dt / 86400.0)
    res_g = lyapunov_spectrum_gridded_map(grid_map, x0, initial_frame=frame_g, **kw)
    res_s = lyapunov_spectrum_map(spectral_y, p0 @ lmat.T, initial_frame=frame_y, trace=False, **kw)
    np.testing.assert_allclose(res_g.per_initial_condition, res_s.per_initial_condition, rtol=1e-7, atol=1e-8)
    # (5 hours are too short for λ1 > 0: the finite-time exponents are still dominated by the damping of
    # the initial frame; over weeks the random flow's λ1 is positive, see the measurement in the report)
    assert np.all(np.isfinite(res_g.exponents)) and res_g.exponents[0] > res_g.exponents[-1]


def test_compare_solver_against_itself():
    solver = ShallowWaterSolver(8, 16)
    x0 = solver_initial_states(solver, 2, seed=0, spinup_seconds=0.0)
    m = solver_step_map(solver, 7200.0)
    ds = compare_lyapunov_spectra(m, m, x0, k=3, n_steps=3, transient_steps=1, time_step_days=1 / 12)
    np.testing.assert_array_equal(ds["exponents"].sel(system="model"), ds["exponents"].sel(system="truth"))
    assert (
        ds.attrs["n_inits"] == 2 and ds.sizes["exponent"] == 3 and ds.attrs["state_dimension"] == 3 * 8 * 16
    )
    lam1 = float(ds["lambda1"].sel(system="truth"))
    expect = math.log(2) / lam1 if lam1 > 0 else math.inf
    assert float(ds["doubling_time_days"].sel(system="truth")) == pytest.approx(expect)


# ------------------------------------------------------------------------------------------ emulator
def _tiny_setup():
    from emulators.registry import build_model

    nlat, nlon = 8, 16
    cfg = dict(n_modes=(4, 8), in_channels=4, out_channels=3, hidden_channels=6, n_layers=1)
    torch.manual_seed(0)
    model = build_model("fno", cfg)
    rng = np.random.default_rng(0)
    times = pd.date_range("2000-01-01", periods=3, freq="12h")
    lat = np.linspace(80, -80, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    dims = ("time", "latitude", "longitude")
    scale = {"z": (5e4, 3e3), "u": (5.0, 10.0), "v": (0.0, 8.0)}
    data = xr.Dataset(
        {v: (dims, m + s * rng.standard_normal((3, nlat, nlon))) for v, (m, s) in scale.items()},
        coords={"time": times, "latitude": lat, "longitude": lon},
    )
    data["lsm"] = (("latitude", "longitude"), rng.random((nlat, nlon)))
    stats = xr.Dataset(
        {"mean": ("channel", [5e4, 5.0, 0.0]), "std": ("channel", [3e3, 10.0, 8.0])},
        coords={"channel": ["z", "u", "v"]},
    )
    return model, data, stats


def test_emulator_step_map_equals_one_rollout_step(tmp_path):
    model, data, stats = _tiny_setup()
    variables = ["z", "u", "v"]
    fc = rollout_gridded(
        model,
        data,
        variables=variables,
        statistics=stats,
        constants={"lsm": data["lsm"]},
        init_times=data.time.values[:2],
        n_steps=1,
    )  # fmt: skip (float32, as in evaluation)
    step = emulator_step_map(
        model, statistics=stats, constants={"lsm": data["lsm"]}, data=data, variables=variables
    )
    assert step.dtype == torch.float64 and step.tolerance == 0.0 and step.channels == variables
    x = torch.as_tensor(np.stack([data[v].values[:2] for v in variables], axis=1))
    y = step(x).numpy()
    want = np.stack([fc[v].values[:, 0] for v in variables], axis=1)  # float32 in the forecast schema
    scale = np.abs(want).max(axis=(0, 2, 3), keepdims=True)
    assert (
        np.abs(y - want).max() > 0 and np.max(np.abs(y - want) / scale) < 1e-5
    )  # float32 rollout vs float64
    step32 = emulator_step_map(model, statistics=stats, constants={"lsm": data["lsm"]}, data=data,
                               variables=variables, dtype=torch.float32)  # fmt: skip
    assert step32.tolerance == 1e-5
    assert np.max(np.abs(step32(x).numpy() - want) / scale) < 1e-6
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is not touched
    # the exponents of the emulator come out of the same machinery (a short, finite run)
    res = lyapunov_spectrum_gridded_map(step, x, n_exponents=3, n_steps=2)
    assert np.all(np.isfinite(res.exponents))
    # from a trainer's run folder: channels, normalisation and constants from the checkpoint's metadata
    from emulators.checkpoint import save_model

    extra = {"kind": "gridded", "channel_names": variables, "data_path": "unused.zarr",
             "normalisation": {"mean": [5e4, 5.0, 0.0], "std": [3e3, 10.0, 8.0]},
             "run_config": {"data": {"variables": variables, "levels": None, "constants": ["lsm"]}}}  # fmt: skip
    save_model(model, tmp_path / "model.pt", extra=extra)
    from_run = emulator_step_map(tmp_path, data=data)
    torch.testing.assert_close(from_run(x), step(x), rtol=0, atol=0)
    with pytest.raises(InputError, match=r"x: expected a tensor \(B, C=3, H, W\)"):
        step(torch.zeros(1, 2, 8, 16, dtype=torch.float64))
    with pytest.raises(InputError, match="statistics"):
        emulator_step_map(model)
