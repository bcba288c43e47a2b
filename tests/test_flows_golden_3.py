"""Catalog flows RikitakeDynamo … ZhouChen against dysts' own right-hand-side values.

``tests/data/dysts_golden.json`` holds dysts 0.96 ``rhs(x, t)`` at 4 states per system (made by
``tests/data/make_dysts_golden.py`` in an environment with dysts); the torch code here is an
independent implementation of the same equations. Further checks: batched calls equal row-wise
calls, autograd Jacobians equal central finite differences, tensor parameters broadcast as a
batch dimension, float32 works, and (slow) every system integrates for 20 periods without
leaving its attractor.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from chaosbench_py.systems.registry import get_system, list_systems

GOLDEN = Path(__file__).resolve().parent / "data" / "dysts_golden.json"

SLICE = (
    "RikitakeDynamo Rossler Rucklidge Sakarya SaltonSea SanUmSrisuchinwong ShimizuMorioka "
    "SprottA SprottB SprottC SprottD SprottE SprottF SprottG SprottH SprottI SprottJ SprottJerk "
    "SprottK SprottL SprottM SprottMore SprottN SprottO SprottP SprottQ SprottR SprottS SprottTorus "
    "StickSlipOscillator SwingingAtwood Thomas ThomasLabyrinth Torus Tsucs2 TurchinHanski "
    "VallisElNino WangSun WindmiReduced YuWang YuWang2 ZhouChen"
).split()
DELAY_IN_SLICE = ("ScrollDelay", "SprottDelay", "VossDelay")
WITHOUT_PARAMETERS = frozenset(
    "SprottA SprottB SprottC SprottD SprottE SprottJ SprottMore SprottN SprottS SprottTorus".split()
)


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.exists():
        pytest.skip(f"golden file {GOLDEN} not present")
    return json.loads(GOLDEN.read_text())["flows"]


def _rows(golden, name):
    rows = golden[name]
    assert len(rows) == 4
    x = torch.tensor([r["x"] for r in rows], dtype=torch.float64)
    t = torch.tensor([r["t"] for r in rows], dtype=torch.float64)
    f = torch.tensor([r["rhs"] for r in rows], dtype=torch.float64)
    return x, t, f


def test_slice_registered_and_delay_systems_absent():
    names = set(list_systems("flow"))
    missing = [n for n in SLICE if n not in names]
    assert not missing, f"not registered: {missing}"
    assert not names.intersection(DELAY_IN_SLICE)


@pytest.mark.parametrize("name", SLICE)
def test_rhs_matches_dysts_golden(golden, name):
    sys = get_system(name)
    x, t, f_ref = _rows(golden, name)
    assert x.shape[-1] == sys.dim
    scale = max(1.0, float(f_ref.abs().max()))
    for i in range(len(x)):
        f = sys.rhs(t[i], x[i])
        assert f.shape == (sys.dim,) and f.dtype == torch.float64
        np.testing.assert_allclose(f.numpy(), f_ref[i].numpy(), rtol=1e-9, atol=1e-9 * scale, err_msg=name)


@pytest.mark.parametrize("name", SLICE)
def test_batched_call_matches_rows(golden, name):
    sys = get_system(name)
    x, t, _ = _rows(golden, name)
    gen = torch.Generator().manual_seed(7)
    # six states: the four golden states and two perturbed copies, arranged as (2, 3, dim)
    extra = x[:2] * (1 + 0.01 * torch.randn(2, sys.dim, generator=gen, dtype=torch.float64))
    xb = torch.cat((x, extra)).reshape(2, 3, sys.dim)
    tt = t[1]
    fb = sys.rhs(tt, xb)
    assert fb.shape == (2, 3, sys.dim)
    rows = torch.stack([sys.rhs(tt, xi) for xi in xb.reshape(-1, sys.dim)]).reshape(2, 3, sys.dim)
    torch.testing.assert_close(fb, rows, rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("name", SLICE)
def test_jacobian_matches_central_differences(golden, name):
    sys = get_system(name)
    x, t, _ = _rows(golden, name)
    jac = sys.jacobian(x, t=t[0])
    assert jac.shape == (4, sys.dim, sys.dim)
    for i in range(len(x)):
        fd = torch.empty(sys.dim, sys.dim, dtype=torch.float64)
        for j in range(sys.dim):
            h = 1e-6 * max(1.0, abs(float(x[i, j])))
            e = torch.zeros(sys.dim, dtype=torch.float64)
            e[j] = h
            fd[:, j] = (sys.rhs(t[0], x[i] + e) - sys.rhs(t[0], x[i] - e)) / (2 * h)
        scale = max(1.0, float(fd.abs().max()))
        torch.testing.assert_close(jac[i], fd, rtol=1e-5, atol=1e-5 * scale, msg=name)


@pytest.mark.parametrize("name", [n for n in SLICE if n not in WITHOUT_PARAMETERS])
def test_tensor_parameter_is_a_batch_dimension(golden, name):
    sys = get_system(name)
    assert sys.params, f"{name} has no parameters"
    x, t, _ = _rows(golden, name)
    key = sorted(sys.params)[0]
    v = float(sys.params[key])
    values = [v, 1.1 * v + 0.05]
    swept = sys.with_params(**{key: torch.tensor(values, dtype=torch.float64)})
    out = swept.rhs(t[0], x[:2])
    for i, vi in enumerate(values):
        ref = sys.with_params(**{key: vi}).rhs(t[0], x[i])
        torch.testing.assert_close(out[i], ref, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", SLICE)
def test_float32(golden, name):
    sys = get_system(name)
    x, t, f_ref = _rows(golden, name)
    f32 = sys.rhs(t[0].float(), x.float())
    assert f32.dtype == torch.float32 and f32.shape == x.shape
    f64 = sys.rhs(t[0], x)
    scale = max(1.0, float(f64.abs().max()))
    torch.testing.assert_close(f32.double(), f64, rtol=1e-4, atol=1e-4 * scale)


def test_torus_is_velocity_of_the_parametrised_curve():
    """Torus depends on t only: its rhs must be d/dt of ((r + a cos nt) cos t, … sin t, a sin nt)."""
    sys = get_system("Torus")
    a, n, r = (float(sys.params[k]) for k in ("a", "n", "r"))

    def curve(t):
        rad = r + a * torch.cos(n * t)
        return torch.stack((rad * torch.cos(t), rad * torch.sin(t), a * torch.sin(n * t)))

    x = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype=torch.float64)
    for tv in (0.0, 0.37, 1.3, 4.1):
        t = torch.tensor(tv, dtype=torch.float64)
        vel = torch.func.jacrev(curve)(t)
        out = sys.rhs(t, x)
        torch.testing.assert_close(out, vel.expand(2, 3), rtol=1e-12, atol=1e-12)
    assert torch.count_nonzero(sys.jacobian(x, t=0.37)) == 0


def test_thomas_labyrinth_is_thomas_with_other_parameters(golden):
    x, _, _ = _rows(golden, "ThomasLabyrinth")
    lab = get_system("ThomasLabyrinth")
    th = get_system("Thomas", **lab.params)
    torch.testing.assert_close(lab.rhs(0.0, x), th.rhs(0.0, x), rtol=0, atol=0)


def test_swinging_atwood_conserves_energy():
    """H = p_r²/(2(m1+m2)) + p_θ²/(2 m1 r²) + g r (m2 − m1 cos θ) is a first integral: ∇H · f = 0."""
    sys = get_system("SwingingAtwood")
    m1, m2, g = float(sys.params["m1"]), float(sys.params["m2"]), 9.82

    def energy(s):
        r, th, pr, pth = s.unbind(-1)
        return pr**2 / (2 * (m1 + m2)) + pth**2 / (2 * m1 * r**2) + g * r * (m2 - m1 * torch.cos(th))

    gen = torch.Generator().manual_seed(3)
    xs = torch.rand(16, 4, generator=gen, dtype=torch.float64) + torch.tensor([0.2, 0.0, -0.5, -0.5])
    grad = torch.func.vmap(torch.func.grad(energy))(xs)
    flux = (grad * sys.rhs(0.0, xs)).sum(-1)
    assert float(flux.abs().max()) < 1e-11


@pytest.mark.slow
@pytest.mark.parametrize("name", SLICE)
def test_integrates_twenty_periods(name):
    """DOP853 (rtol 1e-9) from the default initial condition for 20 periods stays on the attractor."""
    integrate = pytest.importorskip("scipy.integrate")
    sys = get_system(name)
    span = 20 * sys.info.period

    def f(t, y):
        return sys.rhs(torch.tensor(t, dtype=torch.float64), torch.from_numpy(y)).numpy()

    y0 = np.asarray(sys.info.initial_condition, dtype=float)
    t_eval = np.linspace(0.0, span, 500)
    sol = integrate.solve_ivp(f, (0.0, span), y0, method="DOP853", rtol=1e-9, atol=1e-9, t_eval=t_eval)
    assert sol.success, sol.message
    assert np.isfinite(sol.y).all()
    bounded = [i for i in range(sys.dim) if i not in sys.info.unbounded_indices]
    mean, std = np.asarray(sys.info.mean), np.asarray(sys.info.std)
    z = np.abs((sol.y.T - mean) / std)[:, bounded]
    assert z.max() < 10.0, f"{name}: left mean ± 10 std (max {z.max():.1f})"
    for i in sys.info.unbounded_indices:  # the unwrapped phases/angles drift but stay finite
        assert math.isfinite(float(np.abs(sol.y[i]).max()))
