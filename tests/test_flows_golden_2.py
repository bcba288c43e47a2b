"""Torch right-hand sides of dysts flows Hopfield … RayleighBenard against dysts' own values.

The golden numbers (``tests/data/dysts_golden.json``) were computed by dysts 0.96 itself
(``tests/data/make_dysts_golden.py``) at 4 states per system; the torch code is an independent
implementation of the same equations.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from chaosbench_py.systems.registry import get_system

GOLDEN = Path(__file__).resolve().parent / "data" / "dysts_golden.json"

SLICE = (
    "Hopfield HyperBao HyperCai HyperJha HyperLorenz HyperLu HyperPang HyperQi HyperRossler HyperWang "
    "HyperXu HyperYan HyperYangChen InteriorSquirmer IsothermalChemical ItikBanksTumor JerkCircuit "
    "KawczynskiStrizhak Laser LidDrivenCavityFlow LiuChen Lorenz84 LorenzBounded LorenzCoupled "
    "LorenzStenflo LuChen LuChenCheng MacArthur MooreSpiegel MultiChua NewtonLiepnik NoseHoover "
    "NuclearQuadrupole OscillatingFlow PanXuZhou PehlivanWei Qi QiChen RabinovichFabrikant RayleighBenard"
).split()


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.exists():
        pytest.skip(f"golden file {GOLDEN} not found")
    return json.loads(GOLDEN.read_text())["flows"]


def _rows(golden, name):
    if name not in golden:
        pytest.skip(f"{name} not in golden file")
    rows = golden[name]
    xs = torch.tensor([r["x"] for r in rows], dtype=torch.float64)
    ts = [float(r["t"]) for r in rows]
    rhs = torch.tensor([r["rhs"] for r in rows], dtype=torch.float64)
    return xs, ts, rhs


@pytest.mark.parametrize("name", SLICE)
def test_rhs_matches_dysts(golden, name):
    system = get_system(name)
    xs, ts, expected = _rows(golden, name)
    for x, t, want in zip(xs, ts, expected):
        got = system.rhs(torch.tensor(t, dtype=torch.float64), x)
        assert got.shape == x.shape and got.dtype == torch.float64
        scale = max(1.0, float(want.abs().max()))
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * scale, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("name", SLICE)
def test_batched_matches_rows(golden, name):
    system = get_system(name)
    xs, ts, _ = _rows(golden, name)
    t = torch.tensor(ts[1], dtype=torch.float64)  # one time for the whole batch
    # (2, 3, dim) batch built from the 4 golden states and small perturbations of them
    gen = torch.Generator().manual_seed(0)
    base = xs[torch.tensor([[0, 1, 2], [3, 1, 0]])]
    batch = base * (1 + 0.01 * torch.randn(base.shape, generator=gen, dtype=torch.float64))
    out = system.rhs(t, batch)
    assert out.shape == batch.shape
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(out[i, j], system.rhs(t, batch[i, j]), rtol=1e-13, atol=1e-13)
    # float32 runs and agrees to single precision
    out32 = system.rhs(t.float(), batch.float())
    assert out32.dtype == torch.float32
    scale = float(out.abs().max()) + 1.0
    torch.testing.assert_close(out32.double(), out, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", SLICE)
def test_jacobian_matches_finite_difference(golden, name):
    system = get_system(name)
    xs, ts, _ = _rows(golden, name)
    dim = system.dim
    for x, t in zip(xs[:2], ts[:2]):
        jac = system.jacobian(x, t=t)
        assert jac.shape == (dim, dim)
        tt = torch.tensor(t, dtype=torch.float64)
        fd = torch.empty(dim, dim, dtype=torch.float64)
        for k in range(dim):
            h = 1e-6 * max(1.0, abs(float(x[k])))
            e = torch.zeros(dim, dtype=torch.float64)
            e[k] = h
            fd[:, k] = (system.rhs(tt, x + e) - system.rhs(tt, x - e)) / (2 * h)
        scale = float(fd.abs().max()) + 1.0
        torch.testing.assert_close(jac, fd, rtol=1e-5, atol=1e-6 * scale, msg=lambda m: f"{name}: {m}")
    # batched jacobian (vmap path) equals the per-state one
    jb = system.jacobian(xs[:2].reshape(1, 2, dim), t=ts[0])
    assert jb.shape == (1, 2, dim, dim)
    torch.testing.assert_close(jb[0, 1], system.jacobian(xs[1], t=ts[0]))


def test_parameter_sweep_is_a_batch_dimension():
    """A tensor parameter broadcast against x[..., 0] gives the per-value results."""
    rhos = torch.tensor([20.0, 28.0, 35.0], dtype=torch.float64)
    x = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64).expand(3, 4)
    sweep = get_system("HyperLorenz", c=rhos).rhs(0.0, x)
    for i, c in enumerate(rhos.tolist()):
        torch.testing.assert_close(sweep[i], get_system("HyperLorenz", c=c).rhs(0.0, x[i]))
    # array-valued parameters (nested lists in the metadata) also accept tensors
    sys_list = get_system("MultiChua")
    sys_tensor = get_system("MultiChua", m=torch.tensor(sys_list.params["m"]))
    xx = torch.tensor([0.7, -0.1, 0.3], dtype=torch.float64)
    torch.testing.assert_close(sys_tensor.rhs(0.0, xx), sys_list.rhs(0.0, xx))


def test_lorenz_bounded_reduces_to_lorenz_inside_large_ball():
    """Sprott & Xiong (2015): the bounded field is the Lorenz field times (1 − |x|²/r²)."""
    x = torch.tensor([1.5, -2.0, 20.0], dtype=torch.float64)
    bounded = get_system("LorenzBounded", r=1e8)
    lorenz = get_system("Lorenz", sigma=10.0, rho=28.0, beta=2.667)
    torch.testing.assert_close(bounded.rhs(0.0, x), lorenz.rhs(0.0, x), rtol=1e-12, atol=1e-12)
    on_sphere = torch.tensor([0.0, 64.0, 0.0], dtype=torch.float64)  # |x| = r: the field vanishes
    torch.testing.assert_close(
        get_system("LorenzBounded").rhs(0.0, on_sphere), torch.zeros(3, dtype=torch.float64)
    )


def test_nose_hoover_preserves_phase_volume_on_average():
    """Nosé–Hoover: div f = z, so the Jacobian trace equals z exactly."""
    system = get_system("NoseHoover")
    x = torch.tensor(np.array([[0.3, -1.2, 0.8], [1.0, 2.0, -0.5]]))
    tr = torch.diagonal(system.jacobian(x), dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(tr, x[:, 2])


# dysts 0.96 rhs at clock values tt inside the smooth switch of the stirring protocol
# (w = ½ + ½ tanh(20 τ sin(2π tt/τ)) between 0 and 1), where the random golden states, which sit
# on the saturated plateaus, do not test τ or the switch.
PROTOCOL_POINTS = [
    ("InteriorSquirmer", [0.6, 0.8, 0.003], [-0.31271704765058395, 0.6425842598228025, 1.0]),
    ("InteriorSquirmer", [0.45, -2.0, 1.499], [0.18170355005110114, 0.1744218642069225, 1.0]),
    ("LidDrivenCavityFlow", [2.5, 0.3, 0.004], [2.0755843163986603, -2.6063773171155575, 1.0]),
    ("LidDrivenCavityFlow", [4.0, -0.6, 0.551], [3.944862940345173, -1.1337727130504676, 1.0]),
]


@pytest.mark.parametrize(("name", "x", "want"), PROTOCOL_POINTS)
def test_stirring_protocol_switch_matches_dysts(name, x, want):
    system = get_system(name)
    # the clock is the state's last coordinate; the solver time t is ignored (as in dysts)
    got = system.rhs(123.0, torch.tensor(x, dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64), rtol=1e-9, atol=1e-9)
