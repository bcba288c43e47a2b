"""Rössler-type and other single-scroll or cyclically symmetric 3-D flows, and a bifurcation normal form.

Systems: Rossler, Aizawa, Halvorsen, Thomas, ThomasLabyrinth, Bouali, Bouali2, GuckenheimerHolmes.

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Notes
-----
* **ThomasLabyrinth** is the Thomas equation set with a = 0.5, b = 10 (one helper, ``_thomas``).
* **Bouali2** is Bouali's equation set with other parameters (one helper, ``_bouali``).
* HyperRossler (4-D) is in ``hyperchaotic.py``.
"""

from __future__ import annotations

import torch

from ..registry import register_flow


def _bouali(x, p):
    x0, y0, z0 = x.unbind(-1)
    a, m = p["a"], p["m"]
    return torch.stack(
        (
            a * p["y0"] * x0 - a * x0 * y0 - p["b"] * z0,
            -p["g"] * y0 + p["g"] * y0 * x0**2,
            -1.5 * m * x0 + m * p["bb"] * x0 * z0 - p["c"] * z0,
        ),
        dim=-1,
    )


def _thomas(x, p):
    x0, y0, z0 = x.unbind(-1)
    a, b = p["a"], p["b"]
    return torch.stack(
        (-a * x0 + b * torch.sin(y0), -a * y0 + b * torch.sin(z0), -a * z0 + b * torch.sin(x0)), dim=-1
    )


@register_flow("Rossler")
def rossler(t, x, p):
    """Rössler (1976): x' = −y − z, y' = x + ay, z' = b + z(x − c)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((-y0 - z0, x0 + p["a"] * y0, p["b"] + z0 * x0 - p["c"] * z0), dim=-1)


@register_flow("Aizawa")
def aizawa(t, x, p):
    """Aizawa & Uezu (1982): x' = (z−b)x − dy, y' = dx + (z−b)y, z' = c + az − z³/3 − (x²+y²)(1+ez) + fzx³."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c, d, e, f = (p[k] for k in "abcdef")
    r2 = x0**2 + y0**2
    return torch.stack(
        (
            x0 * z0 - b * x0 - d * y0,
            d * x0 + y0 * z0 - b * y0,
            c + a * z0 - z0**3 / 3 - r2 - e * z0 * r2 + f * z0 * x0**3,
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


@register_flow("Thomas")
def thomas(t, x, p):
    """Thomas (1999): x' = −ax + b sin y, y' = −ay + b sin z, z' = −az + b sin x."""
    return _thomas(x, p)


@register_flow("ThomasLabyrinth")
def thomas_labyrinth(t, x, p):
    """Thomas (1999) labyrinth chaos: x' = −ax + b sin y, y' = −ay + b sin z, z' = −az + b sin x."""
    return _thomas(x, p)


@register_flow("Bouali")
def bouali(t, x, p):
    """Bouali (1999): x' = ax(y0 − y) − bz, y' = gy(x² − 1), z' = −1.5mx + m·bb·xz − cz."""
    return _bouali(x, p)


@register_flow("Bouali2")
def bouali2(t, x, p):
    """Bouali (1999), second parameter set: x' = ax(y0 − y) − bz, y' = gy(x² − 1), z' = −1.5mx + m·bb·xz − cz."""
    return _bouali(x, p)


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
