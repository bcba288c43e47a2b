"""Jerk flows (x''' = J(x, x', x'')) and Sprott's minimal chaotic flows.

Systems: the 19 flows of Sprott (1994), SprottA, SprottB, SprottC, SprottD, SprottE, SprottF,
SprottG, SprottH, SprottI, SprottJ, SprottK, SprottL, SprottM, SprottN, SprottO, SprottP, SprottQ,
SprottR, SprottS; SprottJerk, SprottMore, SprottTorus, Arneodo, Coullet, GenesioTesi, JerkCircuit,
MooreSpiegel, PehlivanWei, SanUmSrisuchinwong.

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Notes
-----
* Sprott A–S have no parameters in dysts unless the equation has a free coefficient (F, G, H, I,
  K, L, M, O, P, Q, R); the fixed coefficients of the paper are literals here.
* **Coullet** is the Arneodo equation set with other parameters (it calls ``arneodo``).
* **SanUmSrisuchinwong** contains ``|y|``: its Jacobian is discontinuous on ``y = 0`` (autograd
  uses ``sign(0) = 0`` there). **SprottMore** uses ``sign(z)`` (Jacobian discontinuous on
  ``z = 0``).
* The delay-differential SprottDelay is not an ODE and is not registered (see
  ``chaosbench_py.systems.flows.UNSUPPORTED``).
"""

from __future__ import annotations

import torch

from ..registry import register_flow


@register_flow("SprottA")
def sprott_a(t, x, p):
    """Sprott (1994) case A: x' = y, y' = −x + yz, z' = 1 − y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, -x0 + y0 * z0, 1.0 - y0**2), dim=-1)


@register_flow("SprottB")
def sprott_b(t, x, p):
    """Sprott (1994) case B: x' = yz, y' = x − y, z' = 1 − xy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 * z0, x0 - y0, 1.0 - x0 * y0), dim=-1)


@register_flow("SprottC")
def sprott_c(t, x, p):
    """Sprott (1994) case C: x' = yz, y' = x − y, z' = 1 − x²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 * z0, x0 - y0, 1.0 - x0**2), dim=-1)


@register_flow("SprottD")
def sprott_d(t, x, p):
    """Sprott (1994) case D: x' = −y, y' = x + z, z' = xz + 3y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-y0, x0 + z0, x0 * z0 + 3.0 * y0**2), dim=-1)


@register_flow("SprottE")
def sprott_e(t, x, p):
    """Sprott (1994) case E: x' = yz, y' = x² − y, z' = 1 − 4x."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 * z0, x0**2 - y0, 1.0 - 4.0 * x0), dim=-1)


@register_flow("SprottF")
def sprott_f(t, x, p):
    """Sprott (1994) case F: x' = y + z, y' = −x + ay, z' = x² − z."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 + z0, -x0 + p["a"] * y0, x0**2 - z0), dim=-1)


@register_flow("SprottG")
def sprott_g(t, x, p):
    """Sprott (1994) case G: x' = ax + z, y' = xz − y, z' = −x + y."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["a"] * x0 + z0, x0 * z0 - y0, -x0 + y0), dim=-1)


@register_flow("SprottH")
def sprott_h(t, x, p):
    """Sprott (1994) case H: x' = −y + z², y' = x + ay, z' = x − z."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-y0 + z0**2, x0 + p["a"] * y0, x0 - z0), dim=-1)


@register_flow("SprottI")
def sprott_i(t, x, p):
    """Sprott (1994) case I: x' = −ay, y' = x + z, z' = x + y² − z."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-p["a"] * y0, x0 + z0, x0 + y0**2 - z0), dim=-1)


@register_flow("SprottJ")
def sprott_j(t, x, p):
    """Sprott (1994) case J: x' = 2z, y' = −2y + z, z' = −x + y + y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((2.0 * z0, -2.0 * y0 + z0, -x0 + y0 + y0**2), dim=-1)


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


@register_flow("SprottJerk")
def sprott_jerk(t, x, p):
    """Sprott (1997) simplest dissipative jerk flow: x' = y, y' = z, z' = −x + y² − μz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, z0, -x0 + y0**2 - p["mu"] * z0), dim=-1)


@register_flow("SprottMore")
def sprott_more(t, x, p):
    """Sprott (2020): x' = y, y' = −x − sign(z) y, z' = y² − exp(−x²)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, -x0 - torch.sign(z0) * y0, y0**2 - torch.exp(-(x0**2))), dim=-1)


@register_flow("SprottTorus")
def sprott_torus(t, x, p):
    """Sprott (2014): x' = y + 2xy + xz, y' = 1 − 2x² + yz, z' = x − x² − y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (y0 + 2.0 * x0 * y0 + x0 * z0, 1.0 - 2.0 * x0**2 + y0 * z0, x0 - x0**2 - y0**2), dim=-1
    )


@register_flow("Arneodo")
def arneodo(t, x, p):
    """Arneodo, Coullet & Tresser (1980): x' = y, y' = z, z' = −ax − by − cz + dx³."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (y0, z0, -p["a"] * x0 - p["b"] * y0 - p["c"] * z0 + p["d"] * x0**3),
        dim=-1,
    )


@register_flow("Coullet")
def coullet(t, x, p):
    """Arneodo, Coullet & Tresser (1980), Coullet parameters: x' = y, y' = z, z' = −ax − by − cz + dx³."""
    return arneodo(t, x, p)


@register_flow("GenesioTesi")
def genesio_tesi(t, x, p):
    """Genesio & Tesi (1992): x' = y, y' = z, z' = −cx − by − az + x²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, z0, -p["c"] * x0 - p["b"] * y0 - p["a"] * z0 + x0**2), dim=-1)


@register_flow("JerkCircuit")
def jerk_circuit(t, x, p):
    """Sprott (2011) diode jerk circuit: x' = y, y' = z, z' = −z − x − ε(exp(y/y₀) − 1)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, z0, -z0 - x0 - p["eps"] * torch.expm1(y0 / p["y0"])), dim=-1)


@register_flow("MooreSpiegel")
def moore_spiegel(t, x, p):
    """Moore & Spiegel (1966): x' = y, y' = az, z' = −z + εy − yx² − bx."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, p["a"] * z0, -z0 + p["eps"] * y0 - y0 * x0**2 - p["b"] * x0), dim=-1)


@register_flow("PehlivanWei")
def pehlivan_wei(t, x, p):
    """Pehlivan & Wei (2012), no parameters: x' = y − yz, y' = y + yz − 2x, z' = 2 − xy − y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 - y0 * z0, y0 + y0 * z0 - 2 * x0, 2 - x0 * y0 - y0**2), dim=-1)


@register_flow("SanUmSrisuchinwong")
def san_um_srisuchinwong(t, x, p):
    """San-Um & Srisuchinwong (2012): x' = y − x, y' = −z tanh(x), z' = −a + xy + |y|."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 - x0, -z0 * torch.tanh(x0), -p["a"] + x0 * y0 + torch.abs(y0)), dim=-1)
