"""Lorenz-type flows: the Lorenz (1963) equations, their extensions, and the quadratic 3-D flows
with Lorenz-like two-wing attractors derived from them (the Chen, Lü, Qi … families).

Systems: Lorenz (the reference example of how a catalog right-hand side is written), Lorenz84,
LorenzBounded, LorenzCoupled, LorenzStenflo, Hadley, RayleighBenard, Chen, ChenLee, LuChen,
LuChenCheng, LiuChen, Qi, QiChen, YuWang, YuWang2, ZhouChen, PanXuZhou, ShimizuMorioka,
Rucklidge, Dadras, DequanLi, Tsucs2, Sakarya, WangSun, BurkeShaw, NewtonLiepnik.

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Notes
-----
* **Tsucs2** is the DequanLi equation set with the Tsucs2 parameters (k = 0).
* The four-dimensional Lorenz relatives (HyperLorenz, HyperLu …) are in ``hyperchaotic.py``;
  Lorenz-96 is :mod:`chaosbench_py.systems.lorenz96`.
"""

from __future__ import annotations

import torch

from ..registry import register_flow


@register_flow("Lorenz")
def lorenz(t, x, p):
    """Lorenz (1963): x' = σ(y − x), y' = x(ρ − z) − y, z' = xy − βz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["sigma"] * (y0 - x0), x0 * (p["rho"] - z0) - y0, x0 * y0 - p["beta"] * z0), dim=-1)


@register_flow("Lorenz84")
def lorenz84(t, x, p):
    """Lorenz (1984): x' = −ax − y² − z² + af, y' = −y + xy − bxz + g, z' = −z + bxy + xz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            -p["a"] * x0 - y0**2 - z0**2 + p["a"] * p["f"],
            -y0 + x0 * y0 - p["b"] * x0 * z0 + p["g"],
            -z0 + p["b"] * x0 * y0 + x0 * z0,
        ),
        dim=-1,
    )


@register_flow("LorenzBounded")
def lorenz_bounded(t, x, p):
    """Sprott & Xiong (2015): the Lorenz field times (1 − (x² + y² + z²)/r²):
    x' = σ(y − x)B, y' = (x(ρ − z) − y)B, z' = (xy − βz)B, B = 1 − |x|²/r² (dysts' expanded form).
    """
    x0, y0, z0 = x.unbind(-1)
    bound = 1 - (x0**2 + y0**2 + z0**2) / p["r"] ** 2
    return torch.stack(
        (
            p["sigma"] * (y0 - x0) * bound,
            (x0 * (p["rho"] - z0) - y0) * bound,
            (x0 * y0 - p["beta"] * z0) * bound,
        ),
        dim=-1,
    )


@register_flow("LorenzCoupled")
def lorenz_coupled(t, x, p):
    """Two Lorenz (1963) systems, the second driven by the first through x:
    x1' = σ(y1 − x1), y1' = x1(ρ1 − z1) − y1, z1' = x1y1 − βz1,
    x2' = σ(y2 − x2) + ε(x1 − x2), y2' = x2(ρ2 − z2) − y2, z2' = x2y2 − βz2 (ρ unused, as in dysts).
    """
    x1, y1, z1, x2, y2, z2 = x.unbind(-1)
    sigma, beta = p["sigma"], p["beta"]
    return torch.stack(
        (
            sigma * (y1 - x1),
            x1 * (p["rho1"] - z1) - y1,
            x1 * y1 - beta * z1,
            sigma * (y2 - x2) + p["eps"] * (x1 - x2),
            x2 * (p["rho2"] - z2) - y2,
            x2 * y2 - beta * z2,
        ),
        dim=-1,
    )


@register_flow("LorenzStenflo")
def lorenz_stenflo(t, x, p):
    """Stenflo (1996), via Letellier & Rössler (2007): x' = a(y − x) + dw, y' = x(c − z) − y, z' = xy − bz, w' = −x − aw."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + p["d"] * w0,
            x0 * (p["c"] - z0) - y0,
            x0 * y0 - p["b"] * z0,
            -x0 - p["a"] * w0,
        ),
        dim=-1,
    )


@register_flow("Chen")
def chen(t, x, p):
    """Chen (1997): x' = a(y − x), y' = (c − a)x − xz + cy, z' = xy − bz."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c = p["a"], p["b"], p["c"]
    return torch.stack((a * (y0 - x0), (c - a) * x0 - x0 * z0 + c * y0, x0 * y0 - b * z0), dim=-1)


@register_flow("ChenLee")
def chen_lee(t, x, p):
    """Chen & Lee (2004): x' = ax − yz, y' = by + xz, z' = cz + xy/3."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (p["a"] * x0 - y0 * z0, p["b"] * y0 + x0 * z0, p["c"] * z0 + x0 * y0 / 3),
        dim=-1,
    )


@register_flow("LuChen")
def lu_chen(t, x, p):
    """Lü & Chen (2002): x' = a(y − x), y' = cy − xz, z' = xy − bz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["a"] * (y0 - x0), p["c"] * y0 - x0 * z0, x0 * y0 - p["b"] * z0), dim=-1)


@register_flow("LuChenCheng")
def lu_chen_cheng(t, x, p):
    """Lü, Chen & Cheng (2004): x' = −ab/(a + b) x − yz + c, y' = ay + xz, z' = bz + xy."""
    x0, y0, z0 = x.unbind(-1)
    a, b = p["a"], p["b"]
    return torch.stack(
        (-(a * b) / (a + b) * x0 - y0 * z0 + p["c"], a * y0 + x0 * z0, b * z0 + x0 * y0), dim=-1
    )


@register_flow("LiuChen")
def liu_chen(t, x, p):
    """Liu & Chen (2004), dysts' Sakarya form: x' = ax + hy + syz, y' = −by − px + qxz, z' = cz − rxy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * x0 + p["h"] * y0 + p["s"] * y0 * z0,
            -p["b"] * y0 - p["p"] * x0 + p["q"] * x0 * z0,
            p["c"] * z0 - p["r"] * x0 * y0,
        ),
        dim=-1,
    )


@register_flow("Qi")
def qi(t, x, p):
    """Qi et al. (2008): x' = a(y − x) + yzw, y' = b(x + y) − xzw, z' = −cz + xyw, w' = −dw + xyz."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + y0 * z0 * w0,
            p["b"] * (x0 + y0) - x0 * z0 * w0,
            -p["c"] * z0 + x0 * y0 * w0,
            -p["d"] * w0 + x0 * y0 * z0,
        ),
        dim=-1,
    )


@register_flow("QiChen")
def qi_chen(t, x, p):
    """Qi et al. (2008): x' = a(y − x) + yz, y' = cx + y − xz, z' = xy − bz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (p["a"] * (y0 - x0) + y0 * z0, p["c"] * x0 + y0 - x0 * z0, x0 * y0 - p["b"] * z0), dim=-1
    )


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


@register_flow("PanXuZhou")
def pan_xu_zhou(t, x, p):
    """Zhou et al. (2008), dysts' DequanLi form: x' = a(y − x) + dxz, y' = kx + fy − xz, z' = cz + xy − εx²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + p["d"] * x0 * z0,
            p["k"] * x0 + p["f"] * y0 - x0 * z0,
            p["c"] * z0 + x0 * y0 - p["eps"] * x0**2,
        ),
        dim=-1,
    )


@register_flow("ShimizuMorioka")
def shimizu_morioka(t, x, p):
    """Shimizu & Morioka (1980): x' = y, y' = x − ay − xz, z' = −bz + x²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, x0 - p["a"] * y0 - x0 * z0, -p["b"] * z0 + x0**2), dim=-1)


@register_flow("Rucklidge")
def rucklidge(t, x, p):
    """Rucklidge (1992): x' = −ax + by − yz, y' = x, z' = −z + y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-p["a"] * x0 + p["b"] * y0 - y0 * z0, x0, -z0 + y0**2), dim=-1)


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


@register_flow("BurkeShaw")
def burke_shaw(t, x, p):
    """Shaw (1981): x' = −n(x + y), y' = y − nxz, z' = nxy + e."""
    x0, y0, z0 = x.unbind(-1)
    n = p["n"]
    return torch.stack((-n * x0 - n * y0, y0 - n * x0 * z0, n * x0 * y0 + p["e"]), dim=-1)


@register_flow("NewtonLiepnik")
def newton_liepnik(t, x, p):
    """Leipnik & Newton (1981): x' = −ax + y + 10yz, y' = −x − 0.4y + 5xz, z' = bz − 5xy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (-p["a"] * x0 + y0 + 10 * y0 * z0, -x0 - 0.4 * y0 + 5 * x0 * z0, p["b"] * z0 - 5 * x0 * y0),
        dim=-1,
    )


@register_flow("RayleighBenard")
def rayleigh_benard(t, x, p):
    """Yanagita & Kaneko (1995): x' = a(y − x), y' = ry − xz, z' = xy − bz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["a"] * (y0 - x0), p["r"] * y0 - x0 * z0, x0 * y0 - p["b"] * z0), dim=-1)


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
