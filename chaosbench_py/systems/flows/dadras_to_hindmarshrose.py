"""dysts flows Dadras … HindmarshRose (alphabetical), written in torch.

Equations follow the published models as implemented in dysts 0.96 (``flows.py``), including
dysts' parameter conventions, so that the right-hand sides agree with dysts to rounding.

Notes:

* Forced systems (DoubleGyre, Duffing, FluidTrampoline, ForcedBrusselator, ForcedFitzHughNagumo,
  ForcedVanDerPol) carry the forcing phase as a third state coordinate with ``z' = ω`` (or ``w``),
  exactly as dysts does; the time argument ``t`` is ignored, so the forcing phase is set by that
  coordinate. It grows without bound (dysts' ``unbounded_indices = [2]``); dysts stores
  trajectories with sin/cos of it (post-processing), the functions here are the vector fields
  that dysts integrates.
* DoublePendulum: state (θ1, θ2, p1, p2) with canonical momenta, in dysts' form. dysts' term
  ``m2 l2 p1² / (2 l1 D²)`` (D = l1 l2 (m1 + m2 sin²(θ1 − θ2))) equals the textbook Hamiltonian term
  ``m2 l2² p1² / (2 l1² l2² S²)`` (S = m1 + m2 sin²) only when l1 l2 = 1 (true for the default
  l1 = l2 = 1); with other lengths the field is dysts' and not exactly Hamiltonian. θ1, θ2 are
  unbounded in dysts' metadata (they wind).
* FluidTrampoline: the film force acts only while x < 0 (Heaviside with H(0) = 0, as in dysts).
"""

import math

import torch

from ..registry import register_flow


@register_flow("Dadras")
def dadras(t, x, p):
    """Dadras & Momeni (2009): x' = y − px + oyz, y' = ry − xz + z, z' = cxy − ez."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            y0 - p["p"] * x0 + p["o"] * y0 * z0,
            p["r"] * y0 - x0 * z0 + z0,
            p["c"] * x0 * y0 - p["e"] * z0,
        ),
        dim=-1,
    )


@register_flow("DequanLi")
def dequan_li(t, x, p):
    """Li (2008) three-scroll attractor: x' = a(y − x) + dxz, y' = kx + fy − xz, z' = cz + xy − εx²."""
    x0, y0, z0 = x.unbind(-1)
    a = p["a"]
    return torch.stack(
        (
            a * y0 - a * x0 + p["d"] * x0 * z0,
            p["k"] * x0 + p["f"] * y0 - x0 * z0,
            p["c"] * z0 + x0 * y0 - p["eps"] * x0**2,
        ),
        dim=-1,
    )


@register_flow("DoubleGyre")
def double_gyre(t, x, p):
    """Shadden, Lekien & Marsden (2005): x' = −απ sin(πf) cos(πy), y' = απ cos(πf) sin(πy) ∂f/∂x, z' = ω; f = ε sin z x² + (1 − 2ε sin z) x."""
    x0, y0, z0 = x.unbind(-1)
    alpha, eps = p["alpha"], p["eps"]
    a = eps * torch.sin(z0)
    b = 1 - 2 * eps * torch.sin(z0)
    f = a * x0**2 + b * x0
    return torch.stack(
        (
            -alpha * math.pi * torch.sin(math.pi * f) * torch.cos(math.pi * y0),
            alpha * math.pi * torch.cos(math.pi * f) * torch.sin(math.pi * y0) * (2 * a * x0 + b),
            torch.ones_like(z0) * p["omega"],
        ),
        dim=-1,
    )


@register_flow("DoublePendulum")
def double_pendulum(t, x, p):
    """Double pendulum in canonical coordinates (θ1, θ2, p1, p2), Hamilton's equations as in dysts (see module docstring); Marion (2013)."""
    th1, th2, p1, p2 = x.unbind(-1)
    g, l1, l2, m1, m2 = p["g"], p["l1"], p["l2"], p["m1"], p["m2"]
    cd = torch.cos(th1 - th2)
    sd = torch.sin(th1 - th2)
    den = l1 * l2 * (m1 + m2 * sd**2)
    th1dot = (l2 * p1 - l1 * p2 * cd) / (l1 * den)
    th2dot = ((m1 + m2) * l1 * p2 - m2 * l2 * p1 * cd) / (m2 * l2 * den)
    h1 = p1 * p2 * sd / den
    h2 = (m2 * l2 * p1**2 / (2 * l1 * den**2) + 0.5 * m2 * p2 * l2 * l1 * th2dot / den) * torch.sin(
        2 * (th1 - th2)
    )
    p1dot = -(m1 + m2) * g * l1 * torch.sin(th1) - h1 + h2
    p2dot = -m2 * g * l2 * torch.sin(th2) + h1 - h2
    return torch.stack((th1dot, th2dot, p1dot, p2dot), dim=-1)


@register_flow("Duffing")
def duffing(t, x, p):
    """Duffing (1918) forced oscillator: x' = y, y' = −δy − βx − αx³ + γ cos z, z' = ω."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            y0,
            -p["delta"] * y0 - p["beta"] * x0 - p["alpha"] * x0**3 + p["gamma"] * torch.cos(z0),
            torch.ones_like(z0) * p["omega"],
        ),
        dim=-1,
    )


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


@register_flow("Finance")
def finance(t, x, p):
    """Cai & Huang (2007) finance model: x' = (1/b − a)x + z + xy, y' = −by − x², z' = −x − cz."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c = p["a"], p["b"], p["c"]
    return torch.stack(((1 / b - a) * x0 + z0 + x0 * y0, -b * y0 - x0**2, -x0 - c * z0), dim=-1)


@register_flow("FluidTrampoline")
def fluid_trampoline(t, x, p):
    """Gilet & Bush (2009): x' = y, y' = −1 − H(−x)(x + ψ y|y|) + Γ cos θ, θ' = w."""
    x0, y0, th = x.unbind(-1)
    film = torch.where(x0 < 0, x0 + p["psi"] * y0 * torch.abs(y0), torch.zeros_like(x0))
    return torch.stack(
        (y0, -1 - film + p["gamma"] * torch.cos(th), torch.ones_like(th) * p["w"]),
        dim=-1,
    )


@register_flow("ForcedBrusselator")
def forced_brusselator(t, x, p):
    """Prigogine (1980) forced Brusselator: x' = a + x²y − (b + 1)x + f cos z, y' = bx − x²y, z' = w."""
    x0, y0, z0 = x.unbind(-1)
    b = p["b"]
    x2y = x0**2 * y0
    return torch.stack(
        (
            p["a"] + x2y - (b + 1) * x0 + p["f"] * torch.cos(z0),
            b * x0 - x2y,
            torch.ones_like(z0) * p["w"],
        ),
        dim=-1,
    )


@register_flow("ForcedFitzHughNagumo")
def forced_fitzhugh_nagumo(t, x, p):
    """FitzHugh (1961) forced: v' = v − v³/3 − w + I + f sin z, w' = γ(v + a − bw), z' = ω."""
    v, w, z = x.unbind(-1)
    return torch.stack(
        (
            v - v**3 / 3 - w + p["curr"] + p["f"] * torch.sin(z),
            p["gamma"] * (v + p["a"] - p["b"] * w),
            torch.ones_like(z) * p["omega"],
        ),
        dim=-1,
    )


@register_flow("ForcedVanDerPol")
def forced_van_der_pol(t, x, p):
    """van der Pol (1920) forced: x' = y, y' = μ(1 − x²)y − x + a sin z, z' = w."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            y0,
            p["mu"] * (1 - x0**2) * y0 - x0 + p["a"] * torch.sin(z0),
            torch.ones_like(z0) * p["w"],
        ),
        dim=-1,
    )


@register_flow("GenesioTesi")
def genesio_tesi(t, x, p):
    """Genesio & Tesi (1992): x' = y, y' = z, z' = −cx − by − az + x²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, z0, -p["c"] * x0 - p["b"] * y0 - p["a"] * z0 + x0**2), dim=-1)


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


@register_flow("GuckenheimerHolmes")
def guckenheimer_holmes(t, x, p):
    """Guckenheimer & Holmes (1983): x' = ax − by + czx + dz(x²+y²), y' = ay + bx + czy, z' = e − z² − f(x²+y²) − az³."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c, d, e, f = (p[k] for k in "abcdef")
    r2 = x0**2 + y0**2
    return torch.stack(
        (
            a * x0 - b * y0 + c * z0 * x0 + d * z0 * r2,
            a * y0 + b * x0 + c * z0 * y0,
            e - z0**2 - f * r2 - a * z0**3,
        ),
        dim=-1,
    )


@register_flow("Hadley")
def hadley(t, x, p):
    """Hadley circulation, Lorenz-84 form (Hadley 1735 in dysts): x' = −y² − z² − ax + af, y' = xy − bxz − y + g, z' = bxy + xz − z."""
    x0, y0, z0 = x.unbind(-1)
    a, b = p["a"], p["b"]
    return torch.stack(
        (
            -(y0**2) - z0**2 - a * x0 + a * p["f"],
            x0 * y0 - b * x0 * z0 - y0 + p["g"],
            b * x0 * y0 + x0 * z0 - z0,
        ),
        dim=-1,
    )


@register_flow("Halvorsen")
def halvorsen(t, x, p):
    """Halvorsen (Sprott 2010): x' = −ax − b(y + z) − y², y' = −ay − b(z + x) − z², z' = −az − b(x + y) − x²."""
    x0, y0, z0 = x.unbind(-1)
    a, b = p["a"], p["b"]
    return torch.stack(
        (
            -a * x0 - b * y0 - b * z0 - y0**2,
            -a * y0 - b * z0 - b * x0 - z0**2,
            -a * z0 - b * x0 - b * y0 - x0**2,
        ),
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


@register_flow("HenonHeiles")
def henon_heiles(t, x, p):
    """Hénon & Heiles (1964): x' = px, y' = py, px' = −x − 2λxy, py' = −y − λx² + λy²."""
    x0, y0, px, py = x.unbind(-1)
    lam = p["lam"]
    return torch.stack((px, py, -x0 - 2 * lam * x0 * y0, -y0 - lam * x0**2 + lam * y0**2), dim=-1)


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
