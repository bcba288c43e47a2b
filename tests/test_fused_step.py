"""The compiled DOP853 loop (``simulate/native_dop853.py``) against the solver before it.

``fused_step_reference.npz`` holds trajectories written at commit 929897c (before the C loop) by
``tests/data/make_fused_step_reference.py``. Checked here:

* the torch step (``CHAOSBENCH_NATIVE=0``) reproduces every reference case bit for bit (on CPUs where
  MKL rounds as on the Intel machine that wrote the file: elsewhere, e.g. AMD EPYC, its gemv and sqrt
  differ by ~1 ulp, chaotic runs part, and these checks skip, saying so);
* the default (the C loop where the right-hand side translates) reproduces them too: bit for bit
  for the 3- and 4-dimensional flows here (stage sums and square roots round as torch's, see
  ``native_dop853``), and at least to 1e-12 relative (max |Δ| / max |x|) in general;
* for D > 4 (the error norm's sum over D is ordered differently) the C loop agrees with the torch
  step to 1e-12 over one dominant period (rounding differences grow as e^(λ·t) beyond);
* divergence is reported with the same messages; systems the translation does not cover (tensor
  parameter sweeps, ``roll``) run the torch step.
"""

from __future__ import annotations

import pathlib
import shutil

import numpy as np
import pytest
import torch

from chaosbench_py.errors import SimulationDivergedError
from chaosbench_py.simulate import generate_trajectories, initial_conditions, integrate, native_dop853
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


HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler: the torch step runs everywhere")


def _gemv_is_ascending_fma() -> bool:
    """Whether torch's float64 ``row @ matrix`` (MKL's gemv: the torch step's stage sums) rounds as the C
    loop's ``acc = fma(a_j, K_j, acc)`` for j ascending from 0, checked against an exact emulation
    (``Fraction``: each fused multiply-add rounded once). True on the Intel machines where the reference
    was written; MKL's code path on other CPUs (seen: AMD EPYC) sums otherwise, ~1 ulp apart."""
    from fractions import Fraction

    rng = np.random.default_rng(5)
    for n_terms, width in ((3, 15), (7, 64), (12, 600)):
        a, k = rng.standard_normal(n_terms), rng.standard_normal((n_terms, width))
        got = (torch.from_numpy(a) @ torch.from_numpy(k)).numpy()
        acc = [0.0] * width
        for j in range(n_terms):
            acc = [float(Fraction(a[j]) * Fraction(k[j, i]) + Fraction(acc[i])) for i in range(width)]
        if not np.array_equal(got, np.asarray(acc)):
            return False
    return True


def _vendor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":")[1].strip() for line in f if line.startswith("vendor_id")), "")
    except OSError:
        return ""


# torch's step (MKL's gemv, vdSqrt) rounds as on the machine that wrote the reference file (GenuineIntel,
# stage sums as ascending FMAs): only there can runs of chaotic flows agree with the file bit for bit
TORCH_ROUNDS_AS_REFERENCE = _vendor() == "GenuineIntel" and _gemv_is_ascending_fma()
TORCH_ROUNDS_AS_C_LOOP = _gemv_is_ascending_fma()
as_reference = pytest.mark.skipif(
    not TORCH_ROUNDS_AS_REFERENCE,
    reason=f"this CPU ({_vendor() or 'unknown vendor'}) takes another MKL code path than the Intel machine that "
    "wrote the reference (its gemv/sqrt round otherwise by ~1 ulp, and chaotic runs part)",
)


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())


@as_reference
@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_step_is_bit_identical(name, reference, monkeypatch):
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")
    np.testing.assert_array_equal(run_case(name), reference[name])


@as_reference
@pytest.mark.parametrize("name", sorted(CASES))
def test_default_matches_reference(name, reference):
    got = run_case(name)
    if HAS_CC:  # the 3-/4-dimensional flows of the reference run bit for bit in the C loop
        np.testing.assert_array_equal(got, reference[name])
    err = _rel(got, reference[name])
    assert err <= RTOL, f"{name}: max |Δ| / max |x| = {err:.3g}"


def _given_ics(name: str, n: int) -> np.ndarray:
    system = get_system(name)
    rng = np.random.default_rng(7)
    std = np.asarray(system.info.std or np.ones(system.dim))
    return np.asarray(system.info.initial_condition) + 0.05 * std * rng.standard_normal((n, system.dim))


NATIVE_SYSTEMS = ["Lorenz", "Rossler", "Thomas", "HyperRossler", "Duffing", "Aizawa", "Halvorsen", "SprottB"]
WIDE_SYSTEMS = ["LorenzCoupled", "CellCycle"]  # D = 6: the error norm sums over D in another order


@needs_cc
@pytest.mark.parametrize("name", NATIVE_SYSTEMS + WIDE_SYSTEMS)
@pytest.mark.parametrize("tol", [1e-9, 1e-6])
def test_native_matches_torch_step(name, tol, monkeypatch):
    system = get_system(name)
    x0 = torch.as_tensor(_given_ics(name, 5))
    assert native_dop853.native_kernel(system, x0) is not None
    # one dominant period from the given states (for D > 4, rounding differences grow as e^(λ·t))
    kw = dict(initial_condition=x0.numpy(), transient=0, rtol=tol, atol=tol)
    got = generate_trajectories(name, 5, 100, **kw)["x"].values
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")
    want = generate_trajectories(name, 5, 100, **kw)["x"].values
    if name in NATIVE_SYSTEMS and TORCH_ROUNDS_AS_C_LOOP:
        np.testing.assert_array_equal(got, want)
    err = _rel(got, want)
    # where MKL's gemv rounds otherwise, ~1 ulp per stage sum, grown over a period (seen: 2.5e-12, Thomas)
    limit = RTOL if TORCH_ROUNDS_AS_C_LOOP else 1e-10
    assert err <= limit, f"{name} tol {tol}: max |Δ| / max |x| = {err:.3g}"


@needs_cc
def test_native_rejected_steps_and_uneven_times():
    """A far too large first step (rejections), output times of uneven spacing, a batch that is
    not a multiple of the kernel's lane width."""
    lorenz = get_system("Lorenz")
    x0 = torch.as_tensor(_given_ics("Lorenz", 11))
    times = torch.tensor([0.0, 0.013, 0.02, 0.5, 0.51, 1.7, 1.71])
    same = np.testing.assert_array_equal if TORCH_ROUNDS_AS_C_LOOP else _close
    got = integrate(lorenz, x0, times, first_step=1.0)
    want = integrate(lorenz, x0, times, first_step=1.0, native=False)
    same(got.numpy(), want.numpy())
    one = integrate(lorenz, x0[3], times, first_step=1.0)  # (D,) in, (T, D) out
    assert one.shape == (7, 3)
    same(one.numpy(), integrate(lorenz, x0[3], times, first_step=1.0, native=False).numpy())


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert _rel(got, want) <= RTOL


@needs_cc
@pytest.mark.parametrize("case", ["bound", "collapse"])
def test_native_divergence_messages(case, monkeypatch):
    lorenz = get_system("Lorenz", beta=-20.0)
    kw = dict(transient=0, initial_condition="default")
    if case == "collapse":
        kw.update(rtol=1e-13, atol=1e-13)

    def message() -> str:
        with pytest.raises(SimulationDivergedError) as info:
            if case == "collapse":
                integrate(
                    lorenz,
                    lorenz.default_initial_condition(),
                    torch.tensor([0.0, 5.0]),
                    max_steps_per_output=50,
                )
            else:
                generate_trajectories(lorenz, 3, 400, **kw)
        return str(info.value)

    got = message()
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")
    assert got == message()


def test_fallbacks(monkeypatch):
    x = torch.zeros(4, 3, dtype=torch.float64)
    sweep = get_system("Lorenz", rho=torch.tensor([24.0, 28.0, 35.0, 99.0]))
    assert native_dop853.native_kernel(sweep, x) is None  # a tensor parameter sweep
    l96 = get_system("Lorenz96")
    assert native_dop853.native_kernel(l96, torch.zeros(2, l96.dim, dtype=torch.float64)) is None  # roll
    assert native_dop853.native_kernel(get_system("Lorenz"), x.float()) is None  # float32
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "off")
    assert native_dop853.native_kernel(get_system("Lorenz"), x) is None


def _fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAOSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(native_dop853.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setattr(native_dop853, "_LOADED", {})
    monkeypatch.setattr(native_dop853, "_FAILED", set())


@needs_cc
def test_kernel_is_built_into_the_cache(monkeypatch, tmp_path):
    _fresh_cache(monkeypatch, tmp_path)
    x = torch.as_tensor(_given_ics("Rossler", 3))
    assert native_dop853.native_kernel(get_system("Rossler"), x) is not None
    assert len(list((tmp_path / "cache" / "native").glob("dop853_*.so"))) == 1
    assert not list((tmp_path / "cache" / "native").glob("*.c"))  # no leftovers


def test_no_compiler_runs_the_torch_step(monkeypatch, tmp_path):
    _fresh_cache(monkeypatch, tmp_path)
    monkeypatch.setattr(native_dop853.shutil, "which", lambda name: None)
    rossler = get_system("Rossler")
    x = torch.as_tensor(_given_ics("Rossler", 3))
    assert native_dop853.native_kernel(rossler, x) is None
    times = torch.linspace(0.0, 3.0, 7)
    np.testing.assert_array_equal(
        integrate(rossler, x, times).numpy(), integrate(rossler, x, times, native=False).numpy()
    )
