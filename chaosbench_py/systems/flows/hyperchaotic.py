"""Four-dimensional hyperchaotic flows (two positive Lyapunov exponents), mostly a fourth
variable added to a Lorenz-, Chen-, Lü- or Rössler-type system.

Systems: HyperBao, HyperCai, HyperJha, HyperLorenz, HyperLu, HyperPang, HyperQi, HyperRossler,
HyperWang, HyperXu, HyperYan, HyperYangChen.

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.
"""

from __future__ import annotations

import torch

from ..registry import register_flow


@register_flow("HyperBao")
def hyper_bao(t, x, p):
    """Bao & Liu (2008): x' = a(y − x) + w, y' = cy − xz, z' = xy − bz, w' = ex + dyz."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + w0,
            p["c"] * y0 - x0 * z0,
            x0 * y0 - p["b"] * z0,
            p["e"] * x0 + p["d"] * y0 * z0,
        ),
        dim=-1,
    )


@register_flow("HyperCai")
def hyper_cai(t, x, p):
    """Cai & Huang (2007): x' = a(y − x), y' = bx + cy − xz + w, z' = −dz + y², w' = −ex."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0),
            p["b"] * x0 + p["c"] * y0 - x0 * z0 + w0,
            -p["d"] * z0 + y0**2,
            -p["e"] * x0,
        ),
        dim=-1,
    )


@register_flow("HyperJha")
def hyper_jha(t, x, p):
    """Meier (2003): x' = a(y − x) + w, y' = bx − y − xz, z' = xy − cz, w' = dw − xz."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + w0,
            p["b"] * x0 - y0 - x0 * z0,
            x0 * y0 - p["c"] * z0,
            p["d"] * w0 - x0 * z0,
        ),
        dim=-1,
    )


@register_flow("HyperLorenz")
def hyper_lorenz(t, x, p):
    """Meier (2003): x' = a(y − x) + w, y' = cx − y − xz, z' = xy − bz, w' = dw − xz."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + w0,
            p["c"] * x0 - y0 - x0 * z0,
            x0 * y0 - p["b"] * z0,
            p["d"] * w0 - x0 * z0,
        ),
        dim=-1,
    )


@register_flow("HyperLu")
def hyper_lu(t, x, p):
    """Chen, Lu, Lü & Yu (2006): x' = a(y − x) + w, y' = cy − xz, z' = xy − bz, w' = dw + xz."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + w0,
            p["c"] * y0 - x0 * z0,
            x0 * y0 - p["b"] * z0,
            p["d"] * w0 + x0 * z0,
        ),
        dim=-1,
    )


@register_flow("HyperPang")
def hyper_pang(t, x, p):
    """Pang & Liu (2011): x' = a(y − x), y' = cy − xz + w, z' = xy − bz, w' = −d(x + y)."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0),
            p["c"] * y0 - x0 * z0 + w0,
            x0 * y0 - p["b"] * z0,
            -p["d"] * (x0 + y0),
        ),
        dim=-1,
    )


@register_flow("HyperQi")
def hyper_qi(t, x, p):
    """Qi et al. (2008): x' = a(y − x) + yz, y' = b(x + y) − xz, z' = −cz − ew + xy, w' = −dw + fz + xy."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + y0 * z0,
            p["b"] * (x0 + y0) - x0 * z0,
            -p["c"] * z0 - p["e"] * w0 + x0 * y0,
            -p["d"] * w0 + p["f"] * z0 + x0 * y0,
        ),
        dim=-1,
    )


@register_flow("HyperRossler")
def hyper_rossler(t, x, p):
    """Rössler (1979) hyperchaos: x' = −y − z, y' = x + ay + w, z' = b + xz, w' = −cz + dw."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            -y0 - z0,
            x0 + p["a"] * y0 + w0,
            p["b"] + x0 * z0,
            -p["c"] * z0 + p["d"] * w0,
        ),
        dim=-1,
    )


@register_flow("HyperWang")
def hyper_wang(t, x, p):
    """Wang et al. (2009): x' = a(y − x), y' = bx − xz + w, z' = −cz + ex², w' = −dx."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0),
            p["b"] * x0 - x0 * z0 + w0,
            -p["c"] * z0 + p["e"] * x0**2,
            -p["d"] * x0,
        ),
        dim=-1,
    )


@register_flow("HyperXu")
def hyper_xu(t, x, p):
    """Letellier & Rössler (2007): x' = a(y − x) + w, y' = bx + exz, z' = −cz − xy, w' = xz − dy."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0) + w0,
            p["b"] * x0 + p["e"] * x0 * z0,
            -p["c"] * z0 - x0 * y0,
            x0 * z0 - p["d"] * y0,
        ),
        dim=-1,
    )


@register_flow("HyperYan")
def hyper_yan(t, x, p):
    """Meier (2003): x' = a(y − x), y' = (c − a)x − xz + cy, z' = −bz + xy − yz + xz − w, w' = −dw + yz − xz."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0),
            (p["c"] - p["a"]) * x0 - x0 * z0 + p["c"] * y0,
            -p["b"] * z0 + x0 * y0 - y0 * z0 + x0 * z0 - w0,
            -p["d"] * w0 + y0 * z0 - x0 * z0,
        ),
        dim=-1,
    )


@register_flow("HyperYangChen")
def hyper_yang_chen(t, x, p):
    """Meier (2003): x' = a(y − x), y' = cx − xz + w, z' = −bz + xy, w' = −dx."""
    x0, y0, z0, w0 = x.unbind(-1)
    return torch.stack(
        (
            p["a"] * (y0 - x0),
            p["c"] * x0 - x0 * z0 + w0,
            -p["b"] * z0 + x0 * y0,
            -p["d"] * x0,
        ),
        dim=-1,
    )
