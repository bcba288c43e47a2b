"""dysts flows Hopfield … LorenzStenflo (alphabetical), written in torch.

Every function has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` and returns
``dx/dt`` of the same shape. The equations (and parameter names) are those integrated by
dysts 0.96 ``flows.py``; the golden values in ``tests/data/dysts_golden.json`` check them.

Not here: IkedaDelay (delay equation, see ``flows.UNSUPPORTED``), Lorenz (``lorenz_family.py``)
and Lorenz96 (``chaosbench_py.systems.lorenz96``).

Notes on systems whose dysts state is not the plain physical state
------------------------------------------------------------------
* ``InteriorSquirmer`` and ``LidDrivenCavityFlow`` are made autonomous by dysts: the last state
  coordinate ``tt`` is a clock with ``dtt/dt = 1``, and the forcing protocol is evaluated at
  ``tt`` (not at the solver time ``t``, which is ignored). The clock is unbounded (listed in the
  metadata's ``unbounded_indices``). dysts then *post-processes* trajectories for output
  (InteriorSquirmer: ``(r cos θ, r sin θ, sin(2π tt/τ))``; LidDrivenCavityFlow:
  ``(x, y, sin(2π tt/τ))``); that post-processing is not part of the vector field and is not
  applied here. InteriorSquirmer's state is polar ``(r, θ, tt)``; θ is an unbounded angle.
* Parameters that are arrays in the metadata (Hopfield ``k``, InteriorSquirmer ``a``/``g``) may
  be given as nested lists or tensors; they are converted to the dtype/device of ``x``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..registry import register_flow


def _param_tensor(value: Any, x: torch.Tensor) -> torch.Tensor:
    """An array-valued parameter (list or tensor) as a tensor with the dtype/device of ``x``."""
    return torch.as_tensor(value, dtype=x.dtype, device=x.device)


def _protocol_sign(tt: torch.Tensor, tau: Any, stiffness: float = 20.0) -> torch.Tensor:
    """Smoothed square wave of dysts' stirring protocols, w = ½ + ½ tanh(τ s sin(2π tt/τ))."""
    return 0.5 + 0.5 * torch.tanh(tau * stiffness * torch.sin(2 * math.pi * tt / tau))


@register_flow("Hopfield")
def hopfield(t, x, p):
    """Hopfield network, Lewis & Glass (1992): x' = −x/τ + ½(1 + tanh(ε K x)) − β, K = p["k"] (n, n)."""
    k = _param_tensor(p["k"], x)
    drive = torch.matmul(k, x.unsqueeze(-1)).squeeze(-1)
    return -x / p["tau"] + 0.5 * (1 + torch.tanh(p["eps"] * drive)) - p["beta"]


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


@register_flow("InteriorSquirmer")
def interior_squirmer(t, x, p):
    """Blake (1971) squirmer in polar (r, θ, tt), w = ½ + ½tanh(20τ sin(2π tt/τ)), A_n = a_n w, G_n = g_n(1 − w):
    r' = Σ_n n rⁿ (r² − 1)/r (G_n cos nθ + A_n sin nθ),
    θ' = Σ_n rⁿ (2r + n(r² − 1)/r)(A_n cos nθ − G_n sin nθ) / r, tt' = 1 (n = 1 … len(a)).
    """
    r, th, tt = x.unbind(-1)
    a = _param_tensor(p["a"], x)
    g = _param_tensor(p["g"], x)
    w = _protocol_sign(tt, p["tau"]).unsqueeze(-1)
    amp_a = a * w
    amp_g = g * (1 - w)
    n = torch.arange(1, a.shape[-1] + 1, dtype=x.dtype, device=x.device)
    rr = r.unsqueeze(-1)
    nth = n * th.unsqueeze(-1)
    sin_n, cos_n = torch.sin(nth), torch.cos(nth)
    r_pow = rr**n
    dr = (n * r_pow * (rr**2 - 1) / rr * (amp_g * cos_n + amp_a * sin_n)).sum(-1)
    dth = (r_pow * (2 * rr + (rr**2 - 1) * n / rr) * (amp_a * cos_n - amp_g * sin_n)).sum(-1) / r
    return torch.stack((dr, dth, torch.ones_like(tt)), dim=-1)


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


@register_flow("JerkCircuit")
def jerk_circuit(t, x, p):
    """Sprott (2011) diode jerk circuit: x' = y, y' = z, z' = −z − x − ε(exp(y/y₀) − 1)."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((y0, z0, -z0 - x0 - p["eps"] * torch.expm1(y0 / p["y0"])), dim=-1)


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


@register_flow("Laser")
def laser(t, x, p):
    """Abooee et al. (2013): x' = a(y − x) + byz², y' = cx + dxz², z' = hz + kx²."""
    x0, y0, z0 = x.unbind(-1)
    z2 = z0**2
    return torch.stack(
        (
            p["a"] * (y0 - x0) + p["b"] * y0 * z2,
            p["c"] * x0 + p["d"] * x0 * z2,
            p["h"] * z0 + p["k"] * x0**2,
        ),
        dim=-1,
    )


def _cavity_modes(x0, y0, m: int, a, b):
    """Velocity of the m-th lid-driven Stokes mode per unit lid speed (vx_m, vy_m), Grover et al. (2012)."""
    kx = m * math.pi * x0 / a
    ky = m * math.pi * y0 / a
    kb = m * math.pi * b / a
    if isinstance(kb, torch.Tensor):
        sinh_kb, cosh_kb = torch.sinh(kb), torch.cosh(kb)
        den = 2 * m * b * math.pi + a * torch.sinh(2 * kb)
    else:
        sinh_kb, cosh_kb = math.sinh(kb), math.cosh(kb)
        den = 2 * m * b * math.pi + a * math.sinh(2 * kb)
    sinh_ky, cosh_ky = torch.sinh(ky), torch.cosh(ky)
    vx = (
        2
        * torch.sin(kx)
        / den
        * (-m * b * math.pi * sinh_kb * sinh_ky + cosh_kb * (m * math.pi * y0 * cosh_ky + a * sinh_ky))
    )
    vy = 2 * m * math.pi * torch.cos(kx) / den * (b * sinh_kb * cosh_ky - cosh_kb * y0 * sinh_ky)
    return vx, vy


@register_flow("LidDrivenCavityFlow")
def lid_driven_cavity_flow(t, x, p):
    """Grover et al. (2012) cavity on [0, a]×[−b, b], lids alternate with w = ½ + ½tanh(20τ sin(2π tt/τ)):
    (x', y') = (2w − 1) u1 v₁(x, y) + u2 v₂(x, y), tt' = 1, v_m the m-th Stokes mode per unit lid speed.
    """
    x0, y0, tt = x.unbind(-1)
    a, b = p["a"], p["b"]
    # dysts blends the field with lid speeds (u1, u2) (weight w) and (−u1, u2) (weight 1 − w);
    # the field is linear in (u1, u2), so the blend is (2w − 1) u1 on mode 1 and u2 on mode 2.
    sign = 2 * _protocol_sign(tt, p["tau"]) - 1
    vx1, vy1 = _cavity_modes(x0, y0, 1, a, b)
    vx2, vy2 = _cavity_modes(x0, y0, 2, a, b)
    u1 = sign * p["u1"]
    return torch.stack(
        (u1 * vx1 + p["u2"] * vx2, u1 * vy1 + p["u2"] * vy2, torch.ones_like(tt)),
        dim=-1,
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
