"""Forced and time-dependent flows: the forcing phase or a clock is carried as a state coordinate.

Systems: ArnoldWeb, BickleyJet, BlinkingRotlet, BlinkingVortex, CircadianRhythm, DoubleGyre,
Duffing, FluidTrampoline, ForcedBrusselator, ForcedFitzHughNagumo, ForcedVanDerPol,
InteriorSquirmer, LidDrivenCavityFlow, OscillatingFlow, StickSlipOscillator, TurchinHanski, Torus.

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

How the forcing enters
----------------------
As in dysts, these systems are made autonomous: the forcing phase is a state coordinate with a
constant derivative (``z' = ω``, ``tt' = 1``, ``θ' = 2π / ps`` …) and the time argument ``t`` is
ignored, so the phase is set by that coordinate (its default initial value comes from dysts'
metadata). Those coordinates grow without bound (dysts' ``unbounded_indices``). dysts
post-processes stored trajectories of several of them (sin/cos of the phase, polar → Cartesian
…); the functions here are the vector fields that dysts *integrates*, before that
post-processing. The exception is **Torus**, whose field depends on ``t`` only (see below).

Notes
-----
* **BickleyJet**: the state is ordered ``(y, x, z)`` (cross-stream, along-stream, phase), as in
  dysts; the parameters ``eps``, ``k`` and ``sigma`` are length-3 vectors (one entry per Fourier
  mode).
* **BlinkingVortex** is BlinkingRotlet with ``bc = 0`` (the same right-hand side, other
  parameters).
* **InteriorSquirmer** and **LidDrivenCavityFlow**: the last coordinate ``tt`` is a clock with
  ``dtt/dt = 1`` and the stirring protocol is evaluated at ``tt``. InteriorSquirmer's state is
  polar ``(r, θ, tt)`` (θ an unbounded angle); its ``a``/``g`` parameters are arrays.
* **OscillatingFlow**: the drifting ``x`` is unbounded as well as the phase ``z``.
* **FluidTrampoline**: the film force acts only while x < 0 (Heaviside with H(0) = 0, as in
  dysts).
* **StickSlipOscillator**'s friction law uses ``sign(v − vs)`` (Jacobian discontinuous at
  ``v = vs``) and, as in dysts, ``−α v`` rather than ``−α (v − vs)``.
* **Torus**: the vector field depends on ``t`` only, not on the state (the velocity of the curve
  ((r + a cos nt) cos t, (r + a cos nt) sin t, a sin nt)); the metadata flags it as autonomous
  although it is not, and its Jacobian is identically zero. ``t`` is used exactly as in dysts.
* The delay-differential IkedaDelay, PiecewiseCircuit, ScrollDelay and VossDelay are not ODEs and
  are not registered (see ``chaosbench_py.systems.flows.UNSUPPORTED``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..registry import register_flow
from ._helpers import _param_tensor


def _rotlet(r, theta, a, b, bc):
    """Velocity (v_r, r θ') of a rotlet at distance b from the centre of a disc of radius a (Meleshko & Aref 1996)."""
    cth = torch.cos(theta)
    kappa = a**2 + (b**2 * r**2) / a**2 - 2 * b * r * cth
    gamma = (1 - r**2 / a**2) * (a**2 - (b**2 * r**2) / a**2)
    iota = (b**2 * r) / a**2 - b * cth
    zeta = b**2 + r**2 - 2 * b * r * cth
    nu = a**2 + b**2 - (2 * b**2 * r**2) / a**2
    vr = b * torch.sin(theta) * (-bc * gamma / kappa**2 - 1 / kappa + 1 / zeta)
    vth = bc * gamma * iota / kappa**2 + bc * r * nu / (a**2 * kappa) + iota / kappa - (r - b * cth) / zeta
    return vr, vth


def _blinking(x, p):
    r, theta, tt = x.unbind(-1)
    a, b, bc, tau = p["a"], p["b"], p["bc"], p["tau"]
    weight = 0.5 + 0.5 * torch.tanh(tau * 20 * torch.sin(2 * math.pi * tt / tau))
    vr1, vt1 = _rotlet(r, theta, a, b, bc)
    vr2, vt2 = _rotlet(r, theta, a, -b, bc)
    dr = weight * vr1 + (1 - weight) * vr2
    dth = (weight * vt1 + (1 - weight) * vt2) / r
    return torch.stack((p["sigma"] * dr, p["sigma"] * dth, torch.ones_like(tt)), dim=-1)


def _protocol_sign(tt: torch.Tensor, tau: Any, stiffness: float = 20.0) -> torch.Tensor:
    """Smoothed square wave of dysts' stirring protocols, w = ½ + ½ tanh(τ s sin(2π tt/τ))."""
    return 0.5 + 0.5 * torch.tanh(tau * stiffness * torch.sin(2 * math.pi * tt / tau))


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


@register_flow("ArnoldWeb")
def arnold_web(t, x, p):
    """Froeschle, Guzzo & Legga (2000): p_i' = −μ sin x_i / D², x_i' = p_i, z' = w; D = 4 + cos z + cos x1 + cos x2."""
    p1, p2, x1, x2, z = x.unbind(-1)
    mu = p["mu"]
    denom2 = (4 + torch.cos(z) + torch.cos(x1) + torch.cos(x2)) ** 2
    return torch.stack(
        (-mu * torch.sin(x1) / denom2, -mu * torch.sin(x2) / denom2, p1, p2, torch.ones_like(z) * p["w"]),
        dim=-1,
    )


@register_flow("BlinkingRotlet")
def blinking_rotlet(t, x, p):
    """Meleshko & Aref (1996): (r', θ') = σ[w(τ)·rotlet(+b) + (1−w)·rotlet(−b)], τ' = 1; w = ½ + ½ tanh(20τ_p sin(2πτ/τ_p))."""
    return _blinking(x, p)


@register_flow("BlinkingVortex")
def blinking_vortex(t, x, p):
    """Aref (1984) blinking vortex: the blinking-rotlet field with bc = 0 (point vortices at ±b), τ' = 1."""
    return _blinking(x, p)


@register_flow("CircadianRhythm")
def circadian_rhythm(t, x, p):
    """Leloup, Gonze & Goldbeter (1999) forced FRQ model, state (M, Fc, Fs, Fn, θ), θ' = 2π/ps; vs = vc(½ + ½cos θ + vmin)(vmax − vmin)."""
    m, fc, fs, fn, th = x.unbind(-1)
    n, ki = p["n"], p["Ki"]
    k, k1, k2 = p["k"], p["k1"], p["k2"]
    vs = p["vc"] * ((0.5 + 0.5 * torch.cos(th)) + p["vmin"]) * (p["vmax"] - p["vmin"])
    mdot = vs * ki**n / (ki**n + fn**n) - p["vm"] * m / (p["km"] + m)
    fcdot = p["ks"] * m - k1 * fc + k2 * fn - k * fc
    fsdot = k * fc - p["vd"] * fs / (p["kd"] + fs)
    fndot = k1 * fc - k2 * fn - p["vdn"] * fn / (p["kdn"] + fn)
    thdot = torch.ones_like(th) * (2 * math.pi / p["ps"])
    return torch.stack((mdot, fcdot, fsdot, fndot, thdot), dim=-1)


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


@register_flow("StickSlipOscillator")
def stick_slip_oscillator(t, x, p):
    """Awrejcewicz & Holicke (1999): x' = v, v' = ε(γ cos θ − T(v)) + ax − bx³, θ' = w; T = t0 sign(v−vs) − αv + β(v−vs)³."""  # noqa: E501
    x0, v, th = x.unbind(-1)
    dv = v - p["vs"]
    friction = p["t0"] * torch.sign(dv) - p["alpha"] * v + p["beta"] * dv**3
    vdot = p["eps"] * (p["gamma"] * torch.cos(th) - friction) + p["a"] * x0 - p["b"] * x0**3
    return torch.stack((v, vdot, torch.zeros_like(th) + p["w"]), dim=-1)


@register_flow("TurchinHanski")
def turchin_hanski(t, x, p):
    """Turchin & Hanski (1997): n' = r(1 − e sin z)n − rn² − gn²/(n²+h²) − anp/(n+d), p' = s(1 − e sin z)p − sp²/n, z' = 2πλ."""  # noqa: E501
    n, q, z = x.unbind(-1)
    r, s = p["r"], p["s"]
    season = 1.0 - p["e"] * torch.sin(z)
    ndot = r * season * n - r * n**2 - p["g"] * n**2 / (n**2 + p["h"] ** 2) - p["a"] * n * q / (n + p["d"])
    qdot = s * season * q - s * q**2 / n
    return torch.stack((ndot, qdot, torch.zeros_like(z) + 2.0 * math.pi * p["lamb"]), dim=-1)


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


@register_flow("BickleyJet")
def bickley_jet(t, x, p):
    """Hadjighasem et al. (2016): y' = ℓU sech²(y/ℓ) Σ ε_n k_n sin φ_n, x' = −U sech²(y/ℓ)(1 + 2 tanh(y/ℓ) Σ ε_n cos φ_n), z' = ω; φ_n = k_n(x − σ_n z)."""
    y0, x0, z0 = x.unbind(-1)
    ell, u = p["ell"], p["u"]
    eps = _param_tensor(p["eps"], x)
    k = _param_tensor(p["k"], x)
    sigma = _param_tensor(p["sigma"], x)
    phase = k * (x0.unsqueeze(-1) - z0.unsqueeze(-1) * sigma)
    sech2 = 1 / torch.cosh(y0 / ell) ** 2
    dx = u * sech2 * (-1 - 2 * (torch.cos(phase) * eps).sum(-1) * torch.tanh(y0 / ell))
    dy = ell * u * sech2 * (eps * k * torch.sin(phase)).sum(-1)
    return torch.stack((dy, dx, torch.ones_like(z0) * p["omega"]), dim=-1)
