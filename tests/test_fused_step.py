"""The fused DOP853 step against trajectories of the solver before it (``fused_step_reference.npz``,
written at commit 929897c by ``tests/data/make_fused_step_reference.py``).

Every case must agree with the reference to 1e-12 relative (max |Δ| / max |x| per case).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch

from chaosbench_py.simulate import generate_trajectories, initial_conditions, integrate
from chaosbench_py.systems import get_system

REFERENCE = pathlib.Path(__file__).parent / "data" / "fused_step_reference.npz"
RTOL = 1e-12


def _gen(system, n, length, **kw) -> np.ndarray:
    return generate_trajectories(system, n, length, seed=3, **kw)["x"].values


CASES = {
    "lorenz_default": lambda: _gen("Lorenz", 6, 150),
    "lorenz_sweep": lambda: _gen(
        get_system("Lorenz", rho=torch.tensor([24.0, 28.0, 35.0, 99.0])),
        4,
        100,
        initial_condition="default",
        transient=1,
    ),
    "rossler": lambda: _gen("Rossler", 4, 100, transient=2),
    "thomas": lambda: _gen("Thomas", 3, 100, transient=2),
    "hyperrossler": lambda: _gen("HyperRossler", 4, 100, transient=2),
    "duffing": lambda: _gen("Duffing", 4, 100, transient=2),
    "lorenz96": lambda: _gen("Lorenz96", 3, 60, transient=1),
    "lorenz_rk4": lambda: _gen("Lorenz", 4, 100, transient=2, method="rk4"),
    "lorenz_tol6": lambda: _gen("Lorenz", 4, 100, transient=2, rtol=1e-6, atol=1e-6),
    "integrate_1d": lambda: integrate(
        get_system("Lorenz"), torch.tensor([1.0, 2.0, 20.0]), torch.linspace(0.0, 2.0, 21)
    ).numpy(),
    "pilot_ics": lambda: initial_conditions(
        get_system("Lorenz"), 16, generator=torch.Generator().manual_seed(1)
    ).numpy(),
}


def run_case(name: str) -> np.ndarray:
    with torch.random.fork_rng():
        return np.asarray(CASES[name](), dtype=np.float64)


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_reference(name, reference):
    got, want = run_case(name), reference[name]
    assert got.shape == want.shape
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err <= RTOL, f"{name}: max |Δ| / max |x| = {err:.3g}"
