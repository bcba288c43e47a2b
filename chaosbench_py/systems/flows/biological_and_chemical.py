"""Biological, ecological, chemical and economic models.

Systems: BelousovZhabotinsky, IsothermalChemical, KawczynskiStrizhak (chemistry); CaTwoPlus,
CaTwoPlusQuasiperiodic, CellCycle, ExcitableCell, GlycolyticOscillation, HindmarshRose,
ItikBanksTumor (cell biology and physiology); Blasius, CoevolvingPredatorPrey, HastingsPowell,
MacArthur, SaltonSea (ecology); Finance (economics). The forced biological oscillators
(CircadianRhythm, ForcedBrusselator, ForcedFitzHughNagumo, TurchinHanski) are in
``forced_and_nonautonomous.py``.

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Notes
-----
* **BelousovZhabotinsky**: as in dysts, x is clipped at zero (``max(0, x)``) *after* ``ybar`` has
  been computed from the unclipped x; the square root is written so its derivative stays finite
  (zero) for x ≤ 0.
* **MacArthur** takes ``min`` over resources (Liebig's law); its Jacobian is piecewise (autograd
  differentiates the active branch). Its array-valued parameters ``c``, ``k``, ``s`` may be
  nested lists or tensors.
* The delay-differential MackeyGlass is not an ODE and is not registered (see
  ``chaosbench_py.systems.flows.UNSUPPORTED``).
"""

from __future__ import annotations

import torch

from ..registry import register_flow
from ._helpers import _param_tensor


def _safe_sqrt_pos(x):
    """sqrt(max(x, 0)) with a finite (zero) derivative for x <= 0."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x))


def _hill(u, k, n):
    """Hill function u^n / (k^n + u^n)."""
    un = u**n
    return un / (k**n + un)


def _ca_two_plus(x, p):
    z, y, a = x.unbind(-1)
    beta = p["beta"]
    v_in = p["V0"] + p["V1"] * beta
    v2 = p["Vm2"] * z**2 / (p["K2"] ** 2 + z**2)
    v3 = p["Vm3"] * _hill(z, p["Kz"], p["m"]) * _hill(y, p["Ky"], 2) * _hill(a, p["Ka"], 4)
    v5 = p["Vm5"] * _hill(a, p["K5"], p["p"]) * _hill(z, p["Kd"], p["n"])
    return torch.stack(
        (
            v_in - v2 + v3 + p["kf"] * y - p["k"] * z,
            v2 - v3 - p["kf"] * y,
            beta * p["V4"] - v5 - p["eps"] * a,
        ),
        dim=-1,
    )


@register_flow("BelousovZhabotinsky")
def belousov_zhabotinsky(t, x, p):
    """Györgyi & Field (1992) 3-variable BZ model (dysts form): see module docstring for the x ≥ 0 clip."""
    x0, z, v = x.unbind(-1)
    kf, z0c = p["kf"], p["z0"]
    ybar = (1 / p["y0"]) * p["yb1"] * z * v / (p["yb2"] * x0 + p["yb3"] + kf)
    xc = torch.clamp(x0, min=0.0)
    rf = (p["ci"] - z0c * z) * _safe_sqrt_pos(x0)
    xdot = p["c1"] * xc * ybar + p["c2"] * ybar + p["c3"] * xc**2 + p["c4"] * rf + p["c5"] * xc * z - kf * xc
    zdot = (p["c6"] / z0c) * rf + p["c7"] * xc * z + p["c8"] * z * v + p["c9"] * z - kf * z
    vdot = p["c10"] * xc * ybar + p["c11"] * ybar + p["c12"] * xc**2 + p["c13"] * z * v - kf * v
    t0 = p["t0"]
    return torch.stack((xdot * t0, zdot * t0, vdot * t0), dim=-1)


@register_flow("Blasius")
def blasius(t, x, p):
    """Blasius, Huppert & Stone (1999): x' = ax − α1xy/(1+k1x), y' = −by + α1xy/(1+k1x) − α2yz/(1+k2y), z' = −c(z − zs) + α2yz/(1+k2y)."""
    x0, y0, z0 = x.unbind(-1)
    f1 = p["alpha1"] * x0 * y0 / (1 + p["k1"] * x0)
    f2 = p["alpha2"] * y0 * z0 / (1 + p["k2"] * y0)
    return torch.stack(
        (p["a"] * x0 - f1, -p["b"] * y0 + f1 - f2, -p["c"] * (z0 - p["zs"]) + f2),
        dim=-1,
    )


@register_flow("CaTwoPlus")
def ca_two_plus(t, x, p):
    """Houart, Dupont & Goldbeter (1999): z' = V0 + V1β − V2 + V3 + kf y − kz, y' = V2 − V3 − kf y, a' = βV4 − V5 − εa."""
    return _ca_two_plus(x, p)


@register_flow("CaTwoPlusQuasiperiodic")
def ca_two_plus_quasiperiodic(t, x, p):
    """Houart, Dupont & Goldbeter (1999), quasiperiodic regime: same equations as CaTwoPlus."""
    return _ca_two_plus(x, p)


@register_flow("CellCycle")
def cell_cycle(t, x, p):
    """Romond et al. (1999) two coupled Goldbeter cdc2-cyclin oscillators, state (c1, m1, x1, c2, m2, x2)."""
    c1, m1, x1, c2, m2, x2 = x.unbind(-1)
    kk, kc, kd1, kim = p["K"], p["Kc"], p["Kd1"], p["Kim"]
    v2, v4, vm1, vm3 = p["V2"], p["V4"], p["Vm1"], p["Vm3"]
    kdeg, vd, vi = p["kd1"], p["vd"], p["vi"]

    def gk(u, k_):  # Goldbeter–Koshland type zero-order ultrasensitivity terms
        return u / (k_ + u)

    v1 = vm1 * c1 / (kc + c1)
    u1 = vm1 * c2 / (kc + c2)
    c1dot = vi * kim / (kim + m2) - vd * x1 * gk(c1, kd1) - kdeg * c1
    c2dot = vi * kim / (kim + m1) - vd * x2 * gk(c2, kd1) - kdeg * c2
    m1dot = v1 * gk(1 - m1, kk) - v2 * gk(m1, kk)
    m2dot = u1 * gk(1 - m2, kk) - v2 * gk(m2, kk)
    x1dot = m1 * vm3 * gk(1 - x1, kk) - v4 * gk(x1, kk)
    x2dot = m2 * vm3 * gk(1 - x2, kk) - v4 * gk(x2, kk)
    return torch.stack((c1dot, m1dot, x1dot, c2dot, m2dot, x2dot), dim=-1)


@register_flow("CoevolvingPredatorPrey")
def coevolving_predator_prey(t, x, p):
    """Gilpin & Feldman (2017): prey x, predator y and prey trait α under eco-evolutionary feedback (dysts form)."""
    x0, y0, al = x.unbind(-1)
    a1, a2, a3, b1, b2 = p["a1"], p["a2"], p["a3"], p["b1"], p["b2"]
    d1, d2, delta, k1, k2, k4 = p["d1"], p["d2"], p["delta"], p["k1"], p["k2"], p["k4"]
    ad = al * delta
    growth = a1 * al * (1 - k1 * x0 * (-al + ad)) / (1 + b1 * al)
    death = d1 * (1 - k2 * (-(al**2) + ad**2) + k4 * (-(al**4) + ad**4))
    xdot = x0 * (-(a3 * y0) / (1 + b2 * x0) + growth - death)
    ydot = (-d2 + a2 * x0 / (1 + b2 * x0)) * y0
    aldot = p["vv"] * (
        -(a1 * k1 * x0 * al * delta) / (1 + b1 * al)
        - d1 * (-2 * k2 * al * delta**2 + 4 * k4 * al**3 * delta**4)
    )
    return torch.stack((xdot, ydot, aldot), dim=-1)


@register_flow("ExcitableCell")
def excitable_cell(t, x, p):
    """Chay (1985) excitable cell: V' = gI m∞³h∞(vI − V) + gKV n⁴(vK − V) + gKC c/(1+c)(vK − V) + gL(vL − V), n' = (n∞ − n)/τn, c' = ρ(m∞³h∞(vC − V) − kC c)."""
    v, n, c = x.unbind(-1)
    alpham = p["ams"] * (p["amvb"] + v) / (1 - torch.exp(-p["ar"] * v - p["amvo"]))
    betam = p["bms"] * torch.exp(-p["bmr"] * v - p["bmo"])
    minf = alpham / (alpham + betam)
    alphah = p["ahs"] * torch.exp(-p["ahr"] * v - p["aho"])
    betah = 1 / (1 + torch.exp(-p["bhr"] * v - p["bho"]))
    hinf = alphah / (alphah + betah)
    alphan = p["ans"] * (p["anvb"] + v) / (1 - torch.exp(-p["ar"] * v - p["anvo"]))
    betan = p["bns"] * torch.exp(-p["bnr"] * v - p["bno"])
    ninf = alphan / (alphan + betan)
    rate = p["tscl"] * (alphan + betan)  # 1 / tau_n
    m3h = minf**3 * hinf
    vk = p["vk"]
    vdot = (
        p["gi"] * m3h * (p["vi"] - v)
        + p["gkv"] * n**4 * (vk - v)
        + p["gkc"] * (c / (1 + c)) * (vk - v)
        + p["gl"] * (p["vl"] - v)
    )
    ndot = (ninf - n) * rate
    cdot = p["rho"] * (m3h * (p["vc"] - v) - p["kc"] * c)
    return torch.stack((vdot, ndot, cdot), dim=-1)


@register_flow("GlycolyticOscillation")
def glycolytic_oscillation(t, x, p):
    """Decroly & Goldbeter (1982): a' = ν − s1φ, b' = q1s1φ − s2η, c' = q2s2η − kc; φ = a(1+a)(1+b)²/(l1 + (1+a)²(1+b)²), η = b(1+db)(1+c)²/(l2 + (1+db)²(1+c)²)."""
    a, b, c = x.unbind(-1)
    d, s1, s2 = p["d"], p["s1"], p["s2"]
    phi = a * (1 + a) * (1 + b) ** 2 / (p["l1"] + (1 + a) ** 2 * (1 + b) ** 2)
    eta = b * (1 + d * b) * (1 + c) ** 2 / (p["l2"] + (1 + d * b) ** 2 * (1 + c) ** 2)
    return torch.stack(
        (p["nu"] - s1 * phi, p["q1"] * s1 * phi - s2 * eta, p["q2"] * s2 * eta - p["k"] * c),
        dim=-1,
    )


@register_flow("HastingsPowell")
def hastings_powell(t, x, p):
    """Hastings & Powell (1991): x' = x(1 − x) − a1xy/(1 + b1x), y' = a1xy/(1 + b1x) − a2yz/(1 + b2y) − d1y, z' = a2yz/(1 + b2y) − d2z."""
    x0, y0, z0 = x.unbind(-1)
    f1 = p["a1"] * x0 * y0 / (1 + p["b1"] * x0)
    f2 = p["a2"] * y0 * z0 / (1 + p["b2"] * y0)
    return torch.stack(
        (x0 * (1 - x0) - f1, f1 - f2 - p["d1"] * y0, f2 - p["d2"] * z0),
        dim=-1,
    )


@register_flow("HindmarshRose")
def hindmarsh_rose(t, x, p):
    """Hindmarsh–Rose (Marhl & Perc 2005): τx x' = −τx x + y − ax³ + bx² + z, y' = −ax³ − (d − b)x² + z, τz z' = −sx − z + c."""
    x0, y0, z0 = x.unbind(-1)
    a, b, tx, tz = p["a"], p["b"], p["tx"], p["tz"]
    return torch.stack(
        (
            -x0 + (y0 - a * x0**3 + b * x0**2 + z0) / tx,
            -a * x0**3 - (p["d"] - b) * x0**2 + z0,
            (-p["s"] * x0 - z0 + p["c"]) / tz,
        ),
        dim=-1,
    )


@register_flow("IsothermalChemical")
def isothermal_chemical(t, x, p):
    """Petrov, Scott & Showalter (1992): α' = μ(κ + γ) − αβ² − α, β' = (αβ² + α − β)/σ, γ' = (β − γ)/δ."""
    al, be, ga = x.unbind(-1)
    return torch.stack(
        (
            p["mu"] * (p["kappa"] + ga) - al * be**2 - al,
            (al * be**2 + al - be) / p["sigma"],
            (be - ga) / p["delta"],
        ),
        dim=-1,
    )


@register_flow("ItikBanksTumor")
def itik_banks_tumor(t, x, p):
    """Itik & Banks (2010): x' = x(1 − x) − a12 xy − a13 xz, y' = r2 y(1 − y) − a21 xy,
    z' = r3 xz/(x + k3) − a31 xz − d3 z.
    """
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            x0 * (1 - x0) - p["a12"] * x0 * y0 - p["a13"] * x0 * z0,
            p["r2"] * y0 * (1 - y0) - p["a21"] * x0 * y0,
            p["r3"] * x0 * z0 / (x0 + p["k3"]) - p["a31"] * x0 * z0 - p["d3"] * z0,
        ),
        dim=-1,
    )


@register_flow("KawczynskiStrizhak")
def kawczynski_strizhak(t, x, p):
    """Strizhak & Kawczynski (1995): x' = γ(y − x³ + 3μx), y' = −2μx − y − z + β, z' = κ(x − z)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["gamma"] * (y0 - x0**3 + 3 * p["mu"] * x0),
            -2 * p["mu"] * x0 - y0 - z0 + p["beta"],
            p["kappa"] * (x0 - z0),
        ),
        dim=-1,
    )


@register_flow("MacArthur")
def macarthur(t, x, p):
    """MacArthur (1969) / Huisman & Weissing (1999), N_i species on R_j resources (x = (N, R)):
    μ_i = min_j r R_j/(k_ji + R_j), N_i' = N_i(μ_i − m), R_j' = d(s_j − R_j) − Σ_i c_ji μ_i N_i.
    """
    k = _param_tensor(p["k"], x)  # (resources, species)
    c = _param_tensor(p["c"], x)  # (resources, species)
    s = _param_tensor(p["s"], x)  # (resources,)
    n_species = k.shape[-1]
    n, res = x[..., :n_species], x[..., n_species:]
    r = p["r"]
    if isinstance(r, torch.Tensor):
        r = r.unsqueeze(-1).unsqueeze(-1)
    # growth[..., i, j] = r R_j / (k_ji + R_j): growth of species i on resource j
    growth = r * res.unsqueeze(-2) / (k.transpose(-1, -2) + res.unsqueeze(-2))
    mu = torch.amin(growth, dim=-1)
    m, d = p["m"], p["d"]
    if isinstance(m, torch.Tensor):
        m = m.unsqueeze(-1)
    if isinstance(d, torch.Tensor):
        d = d.unsqueeze(-1)
    uptake = torch.matmul(c, (mu * n).unsqueeze(-1)).squeeze(-1)
    return torch.cat((n * (mu - m), d * (s - res) - uptake), dim=-1)


@register_flow("SaltonSea")
def salton_sea(t, x, p):
    """Upadhyay et al. (2007): x' = rx(1 − (x+y)/k) − λxy, y' = λxy − myz/(y+a) − μy, z' = θyz/(y+a) − dz."""
    x0, y0, z0 = x.unbind(-1)
    lam = p["lam"]
    holling = y0 * z0 / (y0 + p["a"])
    return torch.stack(
        (
            p["r"] * x0 * (1.0 - (x0 + y0) / p["k"]) - lam * x0 * y0,
            lam * x0 * y0 - p["m"] * holling - p["mu"] * y0,
            p["th"] * holling - p["d"] * z0,
        ),
        dim=-1,
    )


@register_flow("Finance")
def finance(t, x, p):
    """Cai & Huang (2007) finance model: x' = (1/b − a)x + z + xy, y' = −by − x², z' = −x − cz."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c = p["a"], p["b"], p["c"]
    return torch.stack(((1 / b - a) * x0 + z0 + x0 * y0, -b * y0 - x0**2, -x0 - c * z0), dim=-1)
