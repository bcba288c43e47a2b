"""Physical and mechanical models: mechanics, Hamiltonian systems, fluids, plasma, lasers, geophysics.

Systems: DoublePendulum, HenonHeiles, NoseHoover, SwingingAtwood, NuclearQuadrupole (mechanics and
Hamiltonian systems); ArnoldBeltramiChildress, AtmosphericRegime, VallisElNino (fluids, atmosphere
and ocean); RikitakeDynamo (geodynamo); Laser, RabinovichFabrikant, WindmiReduced (lasers, plasma
and magnetosphere).

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Notes
-----
* **DoublePendulum**: state (θ1, θ2, p1, p2) with canonical momenta, in dysts' form. dysts' term
  ``m2 l2 p1² / (2 l1 D²)`` (D = l1 l2 (m1 + m2 sin²(θ1 − θ2))) equals the textbook Hamiltonian
  term ``m2 l2² p1² / (2 l1² l2² S²)`` (S = m1 + m2 sin²) only when l1 l2 = 1 (true for the
  default l1 = l2 = 1); with other lengths the field is dysts' and not exactly Hamiltonian. θ1, θ2
  are unbounded in dysts' metadata (they wind).
* **SwingingAtwood**: Hamiltonian in (r, θ, p_r, p_θ) with g = 9.82 (the value dysts uses); θ is
  not wrapped (``unbounded_indices = (1,)``); dysts reports ``sin θ`` after integration. Singular
  at r = 0.
* **ArnoldBeltramiChildress**: dysts stores (sin x, cos y, sin z); the field here is the one it
  integrates, on the unwrapped torus.
* **WindmiReduced**: dysts codes the pressure term of the voltage equation as ``b2 * p**1 / 2``,
  i.e. ``b2·p/2`` (the published model, Horton et al. 2001, has ``b2·√p``). The dysts form is kept
  so that the catalog reproduces dysts' numbers and invariants. ``p^{5/4}`` is NaN for ``p < 0``
  (as in numpy).
"""

from __future__ import annotations

import math

import torch

from ..registry import register_flow

_SQRT2 = math.sqrt(2.0)


#: Gravitational acceleration used by dysts' SwingingAtwood (m s⁻²).
_G_ATWOOD = 9.82


@register_flow("ArnoldBeltramiChildress")
def arnold_beltrami_childress(t, x, p):
    """Arnold (1966) ABC flow: x' = a sin z + c cos y, y' = b sin x + a cos z, z' = c sin y + b cos x."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c = p["a"], p["b"], p["c"]
    return torch.stack(
        (
            a * torch.sin(z0) + c * torch.cos(y0),
            b * torch.sin(x0) + a * torch.cos(z0),
            c * torch.sin(y0) + b * torch.cos(x0),
        ),
        dim=-1,
    )


@register_flow("AtmosphericRegime")
def atmospheric_regime(t, x, p):
    """Tuwankotta (2006): x' = μ1x + σxy, y' = μ2y + ωz + αyz + βz² − σx², z' = μ2z − ωy − αy² − βyz."""
    x0, y0, z0 = x.unbind(-1)
    alpha, beta, sigma, omega = p["alpha"], p["beta"], p["sigma"], p["omega"]
    mu1, mu2 = p["mu1"], p["mu2"]
    return torch.stack(
        (
            mu1 * x0 + sigma * x0 * y0,
            mu2 * y0 + omega * z0 + alpha * y0 * z0 + beta * z0**2 - sigma * x0**2,
            mu2 * z0 - omega * y0 - alpha * y0**2 - beta * y0 * z0,
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


@register_flow("HenonHeiles")
def henon_heiles(t, x, p):
    """Hénon & Heiles (1964): x' = px, y' = py, px' = −x − 2λxy, py' = −y − λx² + λy²."""
    x0, y0, px, py = x.unbind(-1)
    lam = p["lam"]
    return torch.stack((px, py, -x0 - 2 * lam * x0 * y0, -y0 - lam * x0**2 + lam * y0**2), dim=-1)


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


@register_flow("RikitakeDynamo")
def rikitake_dynamo(t, x, p):
    """Rikitake (1958): x' = −μx + yz, y' = −μy − ax + xz, z' = 1 − xy."""
    x0, y0, z0 = x.unbind(-1)
    mu, a = p["mu"], p["a"]
    return torch.stack((-mu * x0 + y0 * z0, -mu * y0 - a * x0 + x0 * z0, 1.0 - x0 * y0), dim=-1)


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


@register_flow("VallisElNino")
def vallis_el_nino(t, x, p):
    """Vallis (1988): x' = by − c(x + p), y' = −y + xz, z' = −z − xy + 1."""
    x0, y0, z0 = x.unbind(-1)
    c = p["c"]
    return torch.stack((p["b"] * y0 - c * x0 - c * p["p"], -y0 + x0 * z0, -z0 - x0 * y0 + 1.0), dim=-1)


@register_flow("WindmiReduced")
def windmi_reduced(t, x, p):
    """Smith et al. (2000), Horton et al. (2001) as coded in dysts: i' = a1(vsw − v), v' = b1 i − b2 p/2 − b3 v, p' = vsw² − p^{5/4} vsw^{1/2} (1 + tanh(d1(i − 1)))/2."""  # noqa: E501
    i, v, pr = x.unbind(-1)
    vsw = p["vsw"]
    idot = p["a1"] * (vsw - v)
    vdot = p["b1"] * i - p["b2"] * pr / 2.0 - p["b3"] * v
    pdot = vsw**2 - pr**1.25 * vsw**0.5 * (1.0 + torch.tanh(p["d1"] * (i - 1.0))) / 2.0
    return torch.stack((idot, vdot, pdot), dim=-1)


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
