"""Catalog flows SprottJerk … ZhouChen (alphabetical slice of the dysts 0.96 flows).

Every right-hand side has the signature ``f(t, x, p)`` with ``x`` of shape ``(..., dim)``, ``t``
a scalar (tensor or float) and ``p`` a mapping of the parameter names of
``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``. The output has the
shape of ``x``. Equations follow the cited papers as coded in dysts ``flows.py`` so that the
numbers agree with dysts to rounding; only torch operations are used, so the functions work
under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

The delay-differential system VossDelay of this slice is not an ODE and is not registered here
(see ``chaosbench_py.systems.flows.UNSUPPORTED``).

Systems that are not plain autonomous vector fields on a compact attractor
-------------------------------------------------------------------------
* **StickSlipOscillator**, **TurchinHanski**: the forcing phase is a state variable
  (``θ' = w``, ``z' = 2πλ``) that grows without bound (``unbounded_indices = (2,)``). dysts
  integrates this raw phase and only afterwards reports ``cos θ`` / ``sin z`` (its
  ``_postprocessing``); here the vector field that dysts integrates is given, the phase is
  left unwrapped. StickSlipOscillator's friction law uses ``sign(v − vs)`` (Jacobian
  discontinuous at ``v = vs``) and, as in dysts, ``−α v`` rather than ``−α (v − vs)``.
* **SwingingAtwood**: Hamiltonian in (r, θ, p_r, p_θ) with g = 9.82 (the value dysts uses);
  θ is not wrapped (``unbounded_indices = (1,)``); dysts reports ``sin θ`` after integration.
  Singular at r = 0.
* **Torus**: the vector field depends on ``t`` only, not on the state (the velocity of the
  curve ((r + a cos nt) cos t, (r + a cos nt) sin t, a sin nt)); the metadata flags it as
  autonomous although it is not, and its Jacobian is identically zero. ``t`` is used exactly as
  in dysts.
* **WindmiReduced**: dysts codes the pressure term of the voltage equation as ``b2 * p**1 / 2``,
  i.e. ``b2·p/2`` (the published model, Horton et al. 2001, has ``b2·√p``). The dysts form is
  kept so that the catalog reproduces dysts' numbers and invariants. ``p^{5/4}`` is NaN for
  ``p < 0`` (as in numpy).
* **SprottMore** uses ``sign(z)`` (Jacobian discontinuous on ``z = 0``).
* **Tsucs2** is the DequanLi equation set with the Tsucs2 parameters (k = 0).
* **ThomasLabyrinth** is the Thomas equation set with a = 0.5, b = 10.
"""

import math

import torch

from ..registry import register_flow

#: Gravitational acceleration used by dysts' SwingingAtwood (m s⁻²).
_G_ATWOOD = 9.82


@register_flow("SprottJerk")
def sprott_jerk(t, x, p):
    """Sprott (1997) simplest dissipative jerk flow: x' = y, y' = z, z' = −x + y² − μz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, z0, -x0 + y0**2 - p["mu"] * z0), dim=-1)


@register_flow("SprottK")
def sprott_k(t, x, p):
    """Sprott (1994) case K: x' = xy − z, y' = x − y, z' = x + az."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((x0 * y0 - z0, x0 - y0, x0 + p["a"] * z0), dim=-1)


@register_flow("SprottL")
def sprott_l(t, x, p):
    """Sprott (1994) case L: x' = y + bz, y' = ax² − y, z' = 1 − x."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 + p["b"] * z0, p["a"] * x0**2 - y0, 1.0 - x0), dim=-1)


@register_flow("SprottM")
def sprott_m(t, x, p):
    """Sprott (1994) case M: x' = −z, y' = −x² − y, z' = a + ax + y."""
    x0, y0, z0 = x.unbind(-1)
    a = p["a"]
    return torch.stack((-z0, -(x0**2) - y0, a + a * x0 + y0), dim=-1)


@register_flow("SprottMore")
def sprott_more(t, x, p):
    """Sprott (2020): x' = y, y' = −x − sign(z) y, z' = y² − exp(−x²)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, -x0 - torch.sign(z0) * y0, y0**2 - torch.exp(-(x0**2))), dim=-1)


@register_flow("SprottN")
def sprott_n(t, x, p):
    """Sprott (1994) case N: x' = −2y, y' = x + z², z' = 1 + y − 2z."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-2.0 * y0, x0 + z0**2, 1.0 + y0 - 2.0 * z0), dim=-1)


@register_flow("SprottO")
def sprott_o(t, x, p):
    """Sprott (1994) case O: x' = y, y' = x − z, z' = x + xz + ay."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, x0 - z0, x0 + x0 * z0 + p["a"] * y0), dim=-1)


@register_flow("SprottP")
def sprott_p(t, x, p):
    """Sprott (1994) case P: x' = ay + z, y' = −x + y², z' = x + y."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["a"] * y0 + z0, -x0 + y0**2, x0 + y0), dim=-1)


@register_flow("SprottQ")
def sprott_q(t, x, p):
    """Sprott (1994) case Q: x' = −z, y' = x − y, z' = ax + y² + bz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-z0, x0 - y0, p["a"] * x0 + y0**2 + p["b"] * z0), dim=-1)


@register_flow("SprottR")
def sprott_r(t, x, p):
    """Sprott (1994) case R: x' = a − y, y' = b + z, z' = xy − z."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["a"] - y0, p["b"] + z0, x0 * y0 - z0), dim=-1)


@register_flow("SprottS")
def sprott_s(t, x, p):
    """Sprott (1994) case S: x' = −x − 4y, y' = x + z², z' = 1 + x."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-x0 - 4.0 * y0, x0 + z0**2, 1.0 + x0), dim=-1)


@register_flow("SprottTorus")
def sprott_torus(t, x, p):
    """Sprott (2014): x' = y + 2xy + xz, y' = 1 − 2x² + yz, z' = x − x² − y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (y0 + 2.0 * x0 * y0 + x0 * z0, 1.0 - 2.0 * x0**2 + y0 * z0, x0 - x0**2 - y0**2), dim=-1
    )


@register_flow("StickSlipOscillator")
def stick_slip_oscillator(t, x, p):
    """Awrejcewicz & Holicke (1999): x' = v, v' = ε(γ cos θ − T(v)) + ax − bx³, θ' = w; T = t0 sign(v−vs) − αv + β(v−vs)³."""  # noqa: E501
    x0, v, th = x.unbind(-1)
    dv = v - p["vs"]
    friction = p["t0"] * torch.sign(dv) - p["alpha"] * v + p["beta"] * dv**3
    vdot = p["eps"] * (p["gamma"] * torch.cos(th) - friction) + p["a"] * x0 - p["b"] * x0**3
    return torch.stack((v, vdot, torch.zeros_like(th) + p["w"]), dim=-1)


@register_flow("SwingingAtwood")
def swinging_atwood(t, x, p):
    """Tufillaro et al. (1984): r' = p_r/(m1+m2), θ' = p_θ/(m1 r²), p_r' = p_θ²/(m1 r³) − m2 g + m1 g cos θ, p_θ' = −m1 g r sin θ."""  # noqa: E501
    r, th, pr, pth = x.unbind(-1)
    m1, m2 = p["m1"], p["m2"]
    g = _G_ATWOOD
    return torch.stack(
        (
            pr / (m1 + m2),
            pth / (m1 * r**2),
            pth**2 / (m1 * r**3) - m2 * g + m1 * g * torch.cos(th),
            -m1 * g * r * torch.sin(th),
        ),
        dim=-1,
    )


def _thomas(x, p):
    x0, y0, z0 = x.unbind(-1)
    a, b = p["a"], p["b"]
    return torch.stack(
        (-a * x0 + b * torch.sin(y0), -a * y0 + b * torch.sin(z0), -a * z0 + b * torch.sin(x0)), dim=-1
    )


@register_flow("Thomas")
def thomas(t, x, p):
    """Thomas (1999): x' = −ax + b sin y, y' = −ay + b sin z, z' = −az + b sin x."""
    return _thomas(x, p)


@register_flow("ThomasLabyrinth")
def thomas_labyrinth(t, x, p):
    """Thomas (1999) labyrinth chaos: x' = −ax + b sin y, y' = −ay + b sin z, z' = −az + b sin x."""
    return _thomas(x, p)


@register_flow("Torus")
def torus(t, x, p):
    """Strogatz (1994) quasiperiodic torus: (x, y)' = d/dt[(r + a cos nt)(cos t, sin t)], z' = an cos nt."""
    x0 = x[..., 0]
    tt = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    a, n, r = p["a"], p["n"], p["r"]
    radial_rate = -a * n * torch.sin(n * tt)
    radius = r + a * torch.cos(n * tt)
    zero = torch.zeros_like(x0)
    return torch.stack(
        (
            zero + radial_rate * torch.cos(tt) - radius * torch.sin(tt),
            zero + radial_rate * torch.sin(tt) + radius * torch.cos(tt),
            zero + a * n * torch.cos(n * tt),
        ),
        dim=-1,
    )


@register_flow("Tsucs2")
def tsucs2(t, x, p):
    """Pan, Zhou & Li (2013) TSUCS2: x' = a(y − x) + dxz, y' = kx + fy − xz, z' = cz + xy − εx²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + p["d"] * x0 * z0,
            p["k"] * x0 + p["f"] * y0 - x0 * z0,
            p["c"] * z0 + x0 * y0 - p["eps"] * x0**2,
        ),
        dim=-1,
    )


@register_flow("TurchinHanski")
def turchin_hanski(t, x, p):
    """Turchin & Hanski (1997): n' = r(1 − e sin z)n − rn² − gn²/(n²+h²) − anp/(n+d), p' = s(1 − e sin z)p − sp²/n, z' = 2πλ."""  # noqa: E501
    n, q, z = x.unbind(-1)
    r, s = p["r"], p["s"]
    season = 1.0 - p["e"] * torch.sin(z)
    ndot = r * season * n - r * n**2 - p["g"] * n**2 / (n**2 + p["h"] ** 2) - p["a"] * n * q / (n + p["d"])
    qdot = s * season * q - s * q**2 / n
    return torch.stack((ndot, qdot, torch.zeros_like(z) + 2.0 * math.pi * p["lamb"]), dim=-1)


@register_flow("VallisElNino")
def vallis_el_nino(t, x, p):
    """Vallis (1988): x' = by − c(x + p), y' = −y + xz, z' = −z − xy + 1."""
    x0, y0, z0 = x.unbind(-1)
    c = p["c"]
    return torch.stack((p["b"] * y0 - c * x0 - c * p["p"], -y0 + x0 * z0, -z0 - x0 * y0 + 1.0), dim=-1)


@register_flow("WangSun")
def wang_sun(t, x, p):
    """Wang, Sun et al. (2009): x' = ax + qyz, y' = bx + dy − xz, z' = ez + fxy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * x0 + p["q"] * y0 * z0,
            p["b"] * x0 + p["d"] * y0 - x0 * z0,
            p["e"] * z0 + p["f"] * x0 * y0,
        ),
        dim=-1,
    )


@register_flow("WindmiReduced")
def windmi_reduced(t, x, p):
    """Smith et al. (2000), Horton et al. (2001) as coded in dysts: i' = a1(vsw − v), v' = b1 i − b2 p/2 − b3 v, p' = vsw² − p^{5/4} vsw^{1/2} (1 + tanh(d1(i − 1)))/2."""  # noqa: E501
    i, v, pr = x.unbind(-1)
    vsw = p["vsw"]
    idot = p["a1"] * (vsw - v)
    vdot = p["b1"] * i - p["b2"] * pr / 2.0 - p["b3"] * v
    pdot = vsw**2 - pr**1.25 * vsw**0.5 * (1.0 + torch.tanh(p["d1"] * (i - 1.0))) / 2.0
    return torch.stack((idot, vdot, pdot), dim=-1)


@register_flow("YuWang")
def yu_wang(t, x, p):
    """Yu & Wang (2012): x' = a(y − x), y' = bx − cxz, z' = exp(xy) − dz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (p["a"] * (y0 - x0), p["b"] * x0 - p["c"] * x0 * z0, torch.exp(x0 * y0) - p["d"] * z0), dim=-1
    )


@register_flow("YuWang2")
def yu_wang2(t, x, p):
    """Yu & Wang (2012), cosh variant: x' = a(y − x), y' = bx − cxz, z' = cosh(xy) − dz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (p["a"] * (y0 - x0), p["b"] * x0 - p["c"] * x0 * z0, torch.cosh(x0 * y0) - p["d"] * z0), dim=-1
    )


@register_flow("ZhouChen")
def zhou_chen(t, x, p):
    """Zhou & Chen (2004): x' = ax + by + yz, y' = cy − xz + dyz, z' = ez − xy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * x0 + p["b"] * y0 + y0 * z0,
            p["c"] * y0 - x0 * z0 + p["d"] * y0 * z0,
            p["e"] * z0 - x0 * y0,
        ),
        dim=-1,
    )
