"""Catalog flows RikitakeDynamo … SprottJ (alphabetical slice of the dysts 0.96 flows).

Every right-hand side has the signature ``f(t, x, p)`` with ``x`` of shape ``(..., 3)``, ``t`` a
scalar (ignored: all systems here are autonomous) and ``p`` a mapping of the parameter names of
``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``. The output has the
shape of ``x``. Equations follow the cited papers as coded in dysts ``flows.py`` (so that the
numbers agree with dysts to rounding); only torch operations are used, so the functions work
under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Delay-differential systems of this slice (ScrollDelay, SprottDelay) are not ODEs and are not
registered here (see ``chaosbench_py.systems.flows.UNSUPPORTED``).

Notes
-----
* Sprott A–S (Sprott 1994) have no parameters in dysts unless the equation has a free
  coefficient (F, G, H, I, K, L, M, O, P, Q, R); the fixed coefficients of the paper are
  literals here.
* SanUmSrisuchinwong contains ``|y|``: its Jacobian is discontinuous on ``y = 0`` (autograd uses
  ``sign(0) = 0`` there).
"""

import torch

from ..registry import register_flow


@register_flow("RikitakeDynamo")
def rikitake_dynamo(t, x, p):
    """Rikitake (1958): x' = −μx + yz, y' = −μy − ax + xz, z' = 1 − xy."""
    x0, y0, z0 = x.unbind(-1)
    mu, a = p["mu"], p["a"]
    return torch.stack((-mu * x0 + y0 * z0, -mu * y0 - a * x0 + x0 * z0, 1.0 - x0 * y0), dim=-1)


@register_flow("Rossler")
def rossler(t, x, p):
    """Rössler (1976): x' = −y − z, y' = x + ay, z' = b + z(x − c)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-y0 - z0, x0 + p["a"] * y0, p["b"] + z0 * x0 - p["c"] * z0), dim=-1)


@register_flow("Rucklidge")
def rucklidge(t, x, p):
    """Rucklidge (1992): x' = −ax + by − yz, y' = x, z' = −z + y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-p["a"] * x0 + p["b"] * y0 - y0 * z0, x0, -z0 + y0**2), dim=-1)


@register_flow("Sakarya")
def sakarya(t, x, p):
    """Li et al. (2015): x' = ax + hy + syz, y' = −by − px + qxz, z' = cz − rxy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * x0 + p["h"] * y0 + p["s"] * y0 * z0,
            -p["b"] * y0 - p["p"] * x0 + p["q"] * x0 * z0,
            p["c"] * z0 - p["r"] * x0 * y0,
        ),
        dim=-1,
    )


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


@register_flow("SanUmSrisuchinwong")
def san_um_srisuchinwong(t, x, p):
    """San-Um & Srisuchinwong (2012): x' = y − x, y' = −z tanh(x), z' = −a + xy + |y|."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 - x0, -z0 * torch.tanh(x0), -p["a"] + x0 * y0 + torch.abs(y0)), dim=-1)


@register_flow("ShimizuMorioka")
def shimizu_morioka(t, x, p):
    """Shimizu & Morioka (1980): x' = y, y' = x − ay − xz, z' = −bz + x²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, x0 - p["a"] * y0 - x0 * z0, -p["b"] * z0 + x0**2), dim=-1)


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
