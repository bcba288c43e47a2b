"""Torch right-hand sides of dysts flows Aizawa … HindmarshRose against dysts' own numbers.

``tests/data/dysts_golden.json`` holds dysts 0.96 ``rhs(X, t)`` at 4 states per system (written by
``tests/data/make_dysts_golden.py``); the catalog code is an independent torch implementation of
the same equations. Also checked: batching over leading dimensions, float32, autograd Jacobians
against central finite differences, and parameter sweeps as batch dimensions.
"""

import json
from pathlib import Path

import pytest
import torch

from chaosbench_py.systems.registry import get_system

GOLDEN = Path(__file__).resolve().parent / "data" / "dysts_golden.json"

SLICE = (
    "Aizawa AnishchenkoAstakhov Arneodo ArnoldBeltramiChildress ArnoldWeb AtmosphericRegime BeerRNN "
    "BelousovZhabotinsky BickleyJet Blasius BlinkingRotlet BlinkingVortex Bouali Bouali2 BurkeShaw "
    "CaTwoPlus CaTwoPlusQuasiperiodic CellCycle CellularNeuralNetwork Chen ChenLee Chua CircadianRhythm "
    "CoevolvingPredatorPrey Colpitts Coullet Dadras DequanLi DoubleGyre DoublePendulum Duffing "
    "ExcitableCell Finance FluidTrampoline ForcedBrusselator ForcedFitzHughNagumo ForcedVanDerPol "
    "GenesioTesi GlycolyticOscillation GuckenheimerHolmes Hadley Halvorsen HastingsPowell HenonHeiles "
    "HindmarshRose"
).split()


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.exists():
        pytest.skip(f"golden file {GOLDEN} not present")
    return json.loads(GOLDEN.read_text())["flows"]


def _rows(golden, name):
    if name not in golden:
        pytest.skip(f"{name} not in the golden file")
    return golden[name]


def _states(rows, dtype=torch.float64):
    return torch.tensor([r["x"] for r in rows], dtype=dtype)


def test_slice_is_sorted_and_complete():
    assert list(SLICE) == sorted(SLICE)
    assert len(SLICE) == 45


@pytest.mark.parametrize("name", SLICE)
def test_rhs_matches_dysts(golden, name):
    sys = get_system(name)
    for row in _rows(golden, name):
        x = torch.tensor(row["x"], dtype=torch.float64)
        out = sys.rhs(torch.tensor(row["t"], dtype=torch.float64), x)
        ref = torch.tensor(row["rhs"], dtype=torch.float64)
        assert out.shape == x.shape and out.dtype == torch.float64
        scale = float(ref.abs().max())
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9 * scale, msg=f"{name} at {row['x']}")


@pytest.mark.parametrize("name", SLICE)
def test_rhs_batched_matches_rows(golden, name):
    sys = get_system(name)
    rows = _rows(golden, name)
    base = _states(rows)  # (4, dim)
    gen = torch.Generator().manual_seed(0)
    extra = base[:2] * (1 + 0.01 * torch.randn(base[:2].shape, generator=gen, dtype=torch.float64))
    xb = torch.cat((base, extra)).reshape(2, 3, sys.dim)
    t = torch.tensor(rows[0]["t"], dtype=torch.float64)
    out = sys.rhs(t, xb)
    assert out.shape == (2, 3, sys.dim)
    expected = torch.stack([sys.rhs(t, xi) for xi in xb.reshape(-1, sys.dim)]).reshape(2, 3, sys.dim)
    # batched reductions (BeerRNN's matmul) may round differently: allow a few ulps of the scale
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-13 * float(expected.abs().max()))


@pytest.mark.parametrize("name", SLICE)
def test_rhs_float32(golden, name):
    sys = get_system(name)
    rows = _rows(golden, name)
    t = rows[0]["t"]
    x64 = _states(rows)
    out32 = sys.rhs(torch.tensor(t, dtype=torch.float32), x64.to(torch.float32))
    assert out32.dtype == torch.float32
    ref = torch.tensor([r["rhs"] for r in rows], dtype=torch.float64)
    scale = ref.abs().amax(dim=-1, keepdim=True)
    # states are rounded to float32 first, so compare against float64 evaluated at the rounded states
    ref32 = sys.rhs(torch.tensor(t, dtype=torch.float64), x64.to(torch.float32).to(torch.float64))
    assert torch.all((out32.double() - ref32).abs() <= 1e-3 * scale + 1e-4 * ref32.abs())


def _fd_jacobian(sys, x, t):
    dim = x.shape[-1]
    cols = []
    for j in range(dim):
        # relative step, capped: phase coordinates (e.g. DoubleGyre z ~ 4e3) enter through sin/cos
        h = min(1e-6 * max(1.0, abs(float(x[j]))), 1e-5)
        e = torch.zeros(dim, dtype=x.dtype)
        e[j] = h
        cols.append((sys.rhs(t, x + e) - sys.rhs(t, x - e)) / (2 * h))
    return torch.stack(cols, dim=-1)


@pytest.mark.parametrize("name", SLICE)
def test_jacobian_matches_finite_differences(golden, name):
    sys = get_system(name)
    rows = _rows(golden, name)
    x = _states(rows)
    jac = sys.jacobian(x, t=rows[0]["t"])
    assert jac.shape == (len(rows), sys.dim, sys.dim)
    assert torch.isfinite(jac).all()
    t = torch.tensor(rows[0]["t"], dtype=torch.float64)
    for k in range(len(rows)):
        fd = _fd_jacobian(sys, x[k], t)
        scale = float(fd.abs().max())
        torch.testing.assert_close(jac[k], fd, rtol=1e-5, atol=1e-6 * scale, msg=f"{name} state {k}")


def test_known_jacobian_lorenz_like_chen():
    # Chen (1997): J = [[-a, a, 0], [c - a - z, c, -x], [y, x, -b]]
    sys = get_system("Chen")
    a, b, c = sys.params["a"], sys.params["b"], sys.params["c"]
    x = torch.tensor([1.5, -2.0, 3.0], dtype=torch.float64)
    expected = torch.tensor(
        [[-a, a, 0.0], [c - a - 3.0, c, -1.5], [-2.0, 1.5, -b]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(sys.jacobian(x), expected)


def test_parameter_sweep_is_a_batch_dimension():
    sys = get_system("Duffing")
    x = torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64)
    gammas = torch.tensor([0.1, 0.35, 0.5], dtype=torch.float64)
    swept = sys.with_params(gamma=gammas).rhs(0.0, x.expand(3, 3))
    for i, g in enumerate(gammas.tolist()):
        torch.testing.assert_close(swept[i], sys.with_params(gamma=g).rhs(0.0, x))
    # ∂y'/∂γ = cos z
    torch.testing.assert_close(swept[:, 1] - swept[0, 1], (gammas - 0.1) * torch.cos(x[2]))


def test_vector_parameters_accept_tensors():
    sys = get_system("BeerRNN")
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    ref = sys.rhs(0.0, x)
    as_tensors = sys.with_params(**{k: torch.tensor(v) for k, v in sys.params.items()})
    torch.testing.assert_close(as_tensors.rhs(0.0, x), ref)
    # independent check of the CTRNN formula: tau * x' = -x + W sigmoid(x + theta)
    w = torch.tensor(sys.params["w"], dtype=torch.float64)
    theta = torch.tensor(sys.params["theta"], dtype=torch.float64)
    tau = torch.tensor(sys.params["tau"], dtype=torch.float64)
    s = 1 / (1 + torch.exp(-(x + theta)))
    torch.testing.assert_close(tau * ref, -x + w @ s)


def test_blinking_vortex_is_rotlet_without_boundary_term():
    rot = get_system("BlinkingRotlet")
    vortex = get_system("BlinkingVortex")
    x = torch.tensor([0.3, 0.7, 0.4], dtype=torch.float64)
    p = {k: vortex.params[k] for k in ("a", "b", "bc", "sigma", "tau")}
    torch.testing.assert_close(rot.with_params(**p).rhs(0.0, x), vortex.rhs(0.0, x))


def test_forced_systems_ignore_t_and_use_phase_coordinate():
    # dysts carries the forcing phase as a state coordinate; t is not used.
    for name in ("Duffing", "ForcedVanDerPol", "DoubleGyre", "ArnoldWeb", "CircadianRhythm"):
        sys = get_system(name)
        x = sys.default_initial_condition()
        torch.testing.assert_close(sys.rhs(0.0, x), sys.rhs(3.7, x))
    duff = get_system("Duffing")
    x = torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(
        duff.rhs(0.0, x), torch.tensor([0.0, duff.params["gamma"], duff.params["omega"]], dtype=torch.float64)
    )


def test_one_sided_terms():
    # Colpitts: F(z) = max(0, -(z - e + 1)) vanishes for z > e - 1
    col = get_system("Colpitts")
    e = col.params["e"]
    hi = col.rhs(0.0, torch.tensor([1.0, 2.0, e], dtype=torch.float64))
    assert float(hi[0]) == pytest.approx(2.0)
    lo = col.rhs(0.0, torch.tensor([1.0, 2.0, e - 3.0], dtype=torch.float64))
    assert float(lo[0]) == pytest.approx(2.0 - col.params["a"] * 2.0)
    # FluidTrampoline: the film acts only for x < 0
    ft = get_system("FluidTrampoline")
    up = ft.rhs(0.0, torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64))
    assert float(up[1]) == pytest.approx(-1.0 + ft.params["gamma"])
    # BelousovZhabotinsky: finite Jacobian where the sqrt term is clipped (x < 0)
    bz = get_system("BelousovZhabotinsky")
    jac = bz.jacobian(torch.tensor([-0.01, 0.6, 0.8], dtype=torch.float64))
    assert torch.isfinite(jac).all()
