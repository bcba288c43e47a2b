"""Discrete maps of the catalog: dysts golden values, invariants, Jacobians."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from chaosbench_py.systems import get_system, list_systems
from chaosbench_py.systems.maps import MAP_NAMES, UNSUPPORTED, logistic, tent

GOLDEN = Path(__file__).resolve().parent / "data" / "dysts_golden.json"


@pytest.fixture(scope="module")
def golden_maps():
    """dysts' golden values keyed by *catalog* name (dysts' Duffing map is our DuffingMap)."""
    maps = json.loads(GOLDEN.read_text())["maps"]
    maps["DuffingMap"] = maps.pop("Duffing")
    return maps


def test_every_dysts_map_is_registered(golden_maps):
    assert set(golden_maps) == set(MAP_NAMES)
    assert set(MAP_NAMES) <= set(list_systems("map"))
    assert not set(UNSUPPORTED) & set(MAP_NAMES)


@pytest.mark.parametrize("name", sorted(MAP_NAMES))
def test_map_matches_dysts_golden(name, golden_maps):
    system = get_system(name)
    assert system.info.kind == "map"
    for row in golden_maps[name]:
        x = torch.tensor(row["x"], dtype=torch.float64)
        ref = torch.tensor(row["rhs"], dtype=torch.float64)
        np.testing.assert_allclose(system.step(x).numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(MAP_NAMES))
def test_map_is_batched_and_jacobian_works(name, golden_maps):
    system = get_system(name)
    x = torch.tensor([row["x"] for row in golden_maps[name]], dtype=torch.float64)
    batched = system.step(x.reshape(2, 2, -1)).reshape(4, -1)
    single = torch.stack([system.step(xi) for xi in x])
    torch.testing.assert_close(batched, single, rtol=0, atol=0)
    jac = system.jacobian(x)
    assert jac.shape == (4, system.dim, system.dim)
    assert torch.isfinite(jac).all()


def _finite_difference_jacobian(system, x, eps=1e-6):
    cols = []
    for j in range(system.dim):
        e = torch.zeros_like(x)
        e[j] = eps
        cols.append((system.step(x + e) - system.step(x - e)) / (2 * eps))
    return torch.stack(cols, dim=-1)


@pytest.mark.parametrize(
    "name", ["Henon", "Ikeda", "BlinkingVortexMap", "GumowskiMira", "Bedhead", "Tinkerbell"]
)
def test_autograd_jacobian_matches_finite_differences(name):
    system = get_system(name)
    x = system.default_initial_condition()
    torch.testing.assert_close(
        system.jacobian(x), _finite_difference_jacobian(system, x), rtol=1e-6, atol=1e-7
    )


def test_parameter_sweep_is_a_batch_dimension():
    a = torch.tensor([1.2, 1.4])
    system = get_system("Henon", a=a.double())
    x = torch.tensor([[0.1, 0.2], [0.1, 0.2]], dtype=torch.float64)
    out = system.step(x)
    np.testing.assert_allclose(out[:, 0].numpy(), 1 - a.double().numpy() * 0.01 + 0.2)


def test_unknown_parameter_is_named():
    with pytest.raises(KeyError, match="bogus"):
        get_system("Henon", bogus=1.0)


def test_henon_fixed_point_and_determinant():
    system = get_system("Henon")
    a, b = 1.4, 0.3
    xs = (-(1 - b) + math.sqrt((1 - b) ** 2 + 4 * a)) / (2 * a)
    fixed = torch.tensor([xs, b * xs], dtype=torch.float64)
    torch.testing.assert_close(system.step(fixed), fixed, rtol=1e-14, atol=1e-14)
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        torch.linalg.det(system.jacobian(x)), torch.full((50,), -b, dtype=torch.float64)
    )


def test_area_preservation_chirikov_and_gingerbreadman():
    x = 3 * torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for name in ("Chirikov", "Gingerbreadman"):
        det = torch.linalg.det(get_system(name).jacobian(x))
        torch.testing.assert_close(det.abs(), torch.ones(64, dtype=torch.float64))


def test_ikeda_contracts_area_by_u_squared():
    x = torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    det = torch.linalg.det(get_system("Ikeda").jacobian(x))
    torch.testing.assert_close(det, torch.full((32,), 0.81, dtype=torch.float64))


def test_logistic_r4_is_conjugate_to_tent_map():
    """x = sin²(πθ/2) maps tent orbits (slope 2) onto logistic (r = 4) orbits."""
    theta = torch.tensor([[0.1234567], [0.3141592], [0.7777777]], dtype=torch.float64)
    x = torch.sin(math.pi * theta / 2) ** 2
    for n in range(25):
        theta = tent(theta, {"mu": 1.0})
        x = logistic(x, {"r": 4.0})
        # roundoff doubles every step: 1e-16 * 2^25 ~ 3e-9
        torch.testing.assert_close(
            x, torch.sin(math.pi * theta / 2) ** 2, rtol=0, atol=1e-15 * 2.0 ** (n + 3)
        )


def _qr_spectrum(system, x, n_steps, transient=500):
    for _ in range(transient):
        x = system.step(x)
    traj = []
    for _ in range(n_steps):
        traj.append(x)
        x = system.step(x)
    jac = system.jacobian(torch.stack(traj)).numpy()
    q = np.eye(system.dim)
    acc = np.zeros(system.dim)
    for j in jac:
        q, r = np.linalg.qr(j @ q)
        acc += np.log(np.abs(np.diag(r)))
    return acc / n_steps


@pytest.mark.parametrize(
    "name,params,tol",
    [
        ("Henon", {}, 0.01),
        ("Ikeda", {}, 0.015),
        ("Tent", {}, 1e-9),
        ("Logistic", {"r": 4.0}, 0.01),
        ("Chebyshev", {}, 0.01),
        ("KaplanYorke", {}, 0.01),
        ("Baker", {}, 1e-9),
    ],
)
def test_recorded_invariants_match_a_qr_estimate(name, params, tol):
    system = get_system(name, **params)
    inv = system.info.invariants
    assert inv.lyapunov_spectrum is not None and inv.provenance
    est = _qr_spectrum(system, system.default_initial_condition(), 20000)
    np.testing.assert_allclose(est, inv.lyapunov_spectrum, atol=tol)
    if inv.kaplan_yorke_dimension is not None and system.dim == 2:
        l1, l2 = inv.lyapunov_spectrum
        assert inv.kaplan_yorke_dimension == pytest.approx(1 + l1 / abs(l2), abs=1e-3)


def test_invariants_only_for_the_parameters_they_belong_to():
    assert get_system("Henon").info.invariants.max_lyapunov == pytest.approx(0.41922)
    assert get_system("Henon", a=1.3).info.invariants.max_lyapunov is None
    assert get_system("Logistic").info.invariants.max_lyapunov is None  # dysts default r = 3.9
    assert get_system("Logistic", r=4.0).info.invariants.max_lyapunov == pytest.approx(math.log(2))
    assert get_system("Tent", mu=0.8).info.invariants.max_lyapunov == pytest.approx(math.log(1.6))
    assert get_system("Chirikov").info.invariants.max_lyapunov is None


def test_henon_and_ikeda_exponent_sums_are_log_det():
    for name, logdet in (("Henon", math.log(0.3)), ("Ikeda", 2 * math.log(0.9))):
        spec = get_system(name).info.invariants.lyapunov_spectrum
        assert sum(spec) == pytest.approx(logdet, abs=2e-5)


def test_blinking_vortex_solver_converges():
    system = get_system("BlinkingVortexMap")
    x = system.default_initial_condition()
    traj = [x]
    for _ in range(200):
        traj.append(system.step(traj[-1]))
    traj = torch.stack(traj)
    assert torch.isfinite(traj).all()
