"""The whole systems catalog: coverage, accuracy against scipy, boundedness on the attractor.

* Accuracy: from each flow's default initial condition, our batched DOP853 (rtol = atol = 1e-10)
  agrees with ``scipy.integrate.solve_ivp`` (DOP853, rtol = atol = 1e-12) within 1e-6 relative to
  the trajectory's scale, over one Lyapunov time (1 / max_lyapunov). For systems whose Lyapunov
  time is longer than 20 dominant periods the horizon is capped at 20 periods (a handful of
  quasi-periodic / nearly neutral systems whose Lyapunov time runs to thousands of periods).
* Boundedness: every flow stays finite and, on its bounded coordinates (those not listed in
  dysts' ``unbounded_indices``: clocks, phases, winding angles), within 25 stored standard
  deviations (plus a tenth of |mean|) of the stored mean — over 20 dominant periods in the default run and over 1000
  periods in the ``slow`` run (127 of 128 flows; HyperLu is documented below).
"""

import json
from importlib import resources

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from chaosbench_py.simulate import integrate
from chaosbench_py.systems import get_system, list_systems
from chaosbench_py.systems.flows import UNSUPPORTED

FLOWS = [n for n in list_systems("flow") if n not in ("Lorenz96", "Lorenz96TwoScale")]
MAX_PERIODS = 20.0


def _dysts_names() -> list[str]:
    text = resources.files("chaosbench_py.systems").joinpath("data", "dysts_flows.json").read_text()
    return sorted(json.loads(text)["systems"])


def test_catalog_covers_dysts():
    assert len(list_systems("flow")) >= 100
    missing = [n for n in _dysts_names() if n not in list_systems() and n not in UNSUPPORTED]
    assert not missing, f"dysts flows without a right-hand side: {missing}"
    assert len(list_systems("map")) >= 20
    assert "KuramotoSivashinsky" in list_systems("pde")
    names = list_systems()
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "name", ["Lorenz", "Rossler", "HyperRossler", "Lorenz96", "Henon", "KuramotoSivashinsky"]
)
def test_metadata_is_complete(name):
    s = get_system(name)
    info = s.info
    assert len(info.initial_condition) == s.dim
    assert info.parameters
    inv = info.invariants
    assert inv.provenance
    if info.kind == "flow":
        assert info.period > 0 and info.dt > 0


def _horizon(system) -> float:
    info = system.info
    lam = info.invariants.max_lyapunov
    t_lyap = 1.0 / lam if lam and lam > 0 else np.inf
    return float(min(t_lyap, MAX_PERIODS * info.period))


@pytest.mark.parametrize("name", FLOWS)
def test_agrees_with_scipy_dop853_over_one_lyapunov_time(name):
    system = get_system(name)
    x0 = torch.tensor(system.info.initial_condition, dtype=torch.float64)
    times = np.linspace(0.0, _horizon(system), 25)

    def f(t, x):
        return system.rhs(torch.tensor(t, dtype=torch.float64), torch.from_numpy(x)).numpy()

    ref = solve_ivp(f, (0.0, times[-1]), x0.numpy(), method="DOP853", t_eval=times, rtol=1e-12, atol=1e-12)
    assert ref.success, ref.message
    ours = integrate(system, x0, torch.from_numpy(times), rtol=1e-10, atol=1e-10, first_step=system.info.dt)
    scale = np.abs(ref.y).max()
    rel = np.abs(ours.numpy() - ref.y.T).max() / scale
    assert rel < 1e-6, f"{name}: max relative deviation {rel:.2e} over t in [0, {times[-1]:.4g}]"


def _check_bounded(name: str, n_periods: float) -> None:
    system = get_system(name)
    info = system.info
    x0 = torch.tensor(info.initial_condition, dtype=torch.float64)
    times = torch.linspace(0.0, n_periods * info.period, 101, dtype=torch.float64)
    traj = integrate(system, x0, times, rtol=1e-6, atol=1e-6, first_step=info.dt).numpy()
    assert np.isfinite(traj).all()
    bounded = [i for i in range(system.dim) if i not in info.unbounded_indices]
    if not bounded:  # e.g. the ABC flow on the unwrapped torus: every coordinate winds
        return
    mean = np.asarray(info.mean)[bounded]
    # the stored std of a few coordinates is tiny (CellCycle's last: 0.004 around 0.99), so the
    # allowed region also scales with |mean|
    scale = np.asarray(info.std)[bounded] + 0.1 * np.abs(mean)
    z = np.abs(traj[:, bounded] - mean) / scale
    assert z.max() < 25, f"{name}: left the attractor region (max |x - mean| / scale = {z.max():.1f})"


@pytest.mark.parametrize("name", FLOWS)
def test_bounded_over_20_periods(name):
    _check_bounded(name, 20)


# Measured 2026-11-23: 127 of 128 flows stay bounded over 1000 periods. HyperLu stays bounded over
# 400 periods (max |w| ≈ 130), but integrating it to 1000 periods at rtol 1e-6 did not finish in
# 20 min (the adaptive step collapses: it leaves the attractor or becomes stiff between 400 and 1000
# periods); not yet investigated.
LONG_RUN_UNRESOLVED = {"HyperLu": "step-size collapse between 400 and 1000 periods (bounded up to 400)"}


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=LONG_RUN_UNRESOLVED[n], strict=False, run=False))
        if n in LONG_RUN_UNRESOLVED
        else n
        for n in FLOWS
    ],
)
def test_bounded_over_1000_periods(name):
    _check_bounded(name, 1000)


def test_flow_modules_are_families_whose_docstrings_name_their_systems():
    """Each flows/ module is a family (not an alphabetical range) and its docstring lists its systems."""
    import importlib
    import pkgutil

    import chaosbench_py.systems.flows as flows
    from chaosbench_py.systems.registry import _FLOW_RHS

    modules = sorted(m.name for m in pkgutil.iter_modules(flows.__path__) if not m.name.startswith("_"))
    assert not [m for m in modules if "_to_" in m], modules
    by_module: dict[str, list[str]] = {}
    for name, fn in _FLOW_RHS.items():
        by_module.setdefault(fn.__module__.rsplit(".", 1)[-1], []).append(name)
    assert sorted(by_module) == modules
    for module, names in by_module.items():
        doc = importlib.import_module(f"chaosbench_py.systems.flows.{module}").__doc__
        missing = [n for n in names if n not in doc]
        assert not missing, f"{module}.py docstring does not name {missing}"
        assert f"``{module}.py``" in flows.__doc__


def test_base_does_not_import_the_registry():
    """Imports inside systems/ go one way: registry -> base, never base -> registry."""
    import ast
    import inspect

    import chaosbench_py.systems.base as base

    tree = ast.parse(inspect.getsource(base))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m and "registry" in m], imported
