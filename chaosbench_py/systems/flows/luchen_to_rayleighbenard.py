"""dysts flows LuChen … RayleighBenard (alphabetical), written in torch.

Every function has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` and returns
``dx/dt`` of the same shape. The equations (and parameter names) are those integrated by
dysts 0.96 ``flows.py``; the golden values in ``tests/data/dysts_golden.json`` check them.

Not here: MackeyGlass and PiecewiseCircuit (delay equations, see ``flows.UNSUPPORTED``).

Notes
-----
* ``OscillatingFlow`` is made autonomous by dysts: the forcing phase is the state coordinate
  ``z`` with ``z' = ω`` (unbounded, as is the drifting ``x``; both are in the metadata's
  ``unbounded_indices``). dysts post-processes its trajectories for output to
  ``(cos kx, y, sin z)``; that post-processing is not part of the vector field and is not applied.
* ``MacArthur`` takes ``min`` over resources (Liebig's law); its Jacobian is piecewise
  (autograd differentiates the active branch).
* ``MultiChua`` has a piecewise-linear diode (``|·|``); its Jacobian jumps at the breakpoints.
* Array-valued parameters (MacArthur ``c``, ``k``, ``s``; MultiChua ``c``, ``m``) may be nested
  lists or tensors; they are converted to the dtype/device of ``x``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..registry import register_flow

_SQRT2 = math.sqrt(2.0)


def _param_tensor(value: Any, x: torch.Tensor) -> torch.Tensor:
    """An array-valued parameter (list or tensor) as a tensor with the dtype/device of ``x``."""
    return torch.as_tensor(value, dtype=x.dtype, device=x.device)


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


@register_flow("MooreSpiegel")
def moore_spiegel(t, x, p):
    """Moore & Spiegel (1966): x' = y, y' = az, z' = −z + εy − yx² − bx."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, p["a"] * z0, -z0 + p["eps"] * y0 - y0 * x0**2 - p["b"] * x0), dim=-1)


@register_flow("MultiChua")
def multi_chua(t, x, p):
    """Yalcin, Suykens & Vandewalle (2000) multi-scroll Chua: x' = a(y − h(x)), y' = x − y + z, z' = −by,
    h(x) = m₅x + ½ Σ_{i=1}^{5} (m_{i−1} − m_i)(|x + c_i| − |x − c_i|).
    """
    x0, y0, z0 = x.unbind(-1)
    m = _param_tensor(p["m"], x)
    c = _param_tensor(p["c"], x)
    xx = x0.unsqueeze(-1)
    slopes = 0.5 * (m[..., :-1] - m[..., 1:])
    ci = c[..., 1:]
    diode = m[..., -1] * x0 + (slopes * (torch.abs(xx + ci) - torch.abs(xx - ci))).sum(-1)
    return torch.stack((p["a"] * (y0 - diode), x0 - y0 + z0, -p["b"] * y0), dim=-1)


@register_flow("NewtonLiepnik")
def newton_liepnik(t, x, p):
    """Leipnik & Newton (1981): x' = −ax + y + 10yz, y' = −x − 0.4y + 5xz, z' = bz − 5xy."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (-p["a"] * x0 + y0 + 10 * y0 * z0, -x0 - 0.4 * y0 + 5 * x0 * z0, p["b"] * z0 - 5 * x0 * y0),
        dim=-1,
    )


@register_flow("NoseHoover")
def nose_hoover(t, x, p):
    """Nosé (1984) / Hoover (1985) thermostat (Sprott A): x' = y, y' = −x + yz, z' = a − y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, -x0 + y0 * z0, p["a"] - y0**2), dim=-1)


@register_flow("NuclearQuadrupole")
def nuclear_quadrupole(t, x, p):
    """Baran & Raduta (1998): q1' = a p1, q2' = a p2, p1' = −a q1 + (3/√2) b (q1² − q2²) − d q1(q1² + q2²),
    p2' = −a q2 − 3√2 b q1 q2 − d q2(q1² + q2²).
    """
    q1, q2, p1, p2 = x.unbind(-1)
    a, b, d = p["a"], p["b"], p["d"]
    rho2 = q1**2 + q2**2
    return torch.stack(
        (
            a * p1,
            a * p2,
            -a * q1 + 3 / _SQRT2 * b * (q1**2 - q2**2) - d * q1 * rho2,
            -a * q2 - 3 * _SQRT2 * b * q1 * q2 - d * q2 * rho2,
        ),
        dim=-1,
    )


@register_flow("OscillatingFlow")
def oscillating_flow(t, x, p):
    """Solomon & Gollub (1988) oscillating convection rolls, phase z: x' = u cos(ky) sin(k(x + b sin z)),
    y' = −u sin(ky) cos(k(x + b sin z)), z' = ω.
    """
    x0, y0, z0 = x.unbind(-1)
    k, u = p["k"], p["u"]
    f = k * (x0 + p["b"] * torch.sin(z0))
    ky = k * y0
    return torch.stack(
        (
            u * torch.cos(ky) * torch.sin(f),
            -u * torch.sin(ky) * torch.cos(f),
            p["omega"] * torch.ones_like(z0),
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


@register_flow("PehlivanWei")
def pehlivan_wei(t, x, p):
    """Pehlivan & Wei (2012), no parameters: x' = y − yz, y' = y + yz − 2x, z' = 2 − xy − y²."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0 - y0 * z0, y0 + y0 * z0 - 2 * x0, 2 - x0 * y0 - y0**2), dim=-1)


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


@register_flow("RabinovichFabrikant")
def rabinovich_fabrikant(t, x, p):
    """Rabinovich & Fabrikant (1979): x' = y(z − 1 + x²) + gx, y' = x(3z + 1 − x²) + gy, z' = −2z(a + xy)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (
            y0 * (z0 - 1 + x0**2) + p["g"] * x0,
            x0 * (3 * z0 + 1 - x0**2) + p["g"] * y0,
            -2 * z0 * (p["a"] + x0 * y0),
        ),
        dim=-1,
    )


@register_flow("RayleighBenard")
def rayleigh_benard(t, x, p):
    """Yanagita & Kaneko (1995): x' = a(y − x), y' = ry − xz, z' = xy − bz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["a"] * (y0 - x0), p["r"] * y0 - x0 * z0, x0 * y0 - p["b"] * z0), dim=-1)
