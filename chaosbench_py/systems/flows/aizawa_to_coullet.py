"""dysts flows Aizawa … Coullet (alphabetical), written in torch.

Equations follow the published models as implemented in dysts 0.96 (``flows.py``), including
dysts' parameter conventions, so that the right-hand sides agree with dysts to rounding.

Notes on systems that are not a plain autonomous vector field in the original literature:

* Forced / time-dependent systems (ArnoldWeb, BlinkingRotlet, BlinkingVortex, CircadianRhythm)
  carry their clock as an extra state coordinate with a constant derivative (``z' = w``,
  ``tt' = 1``, ``θ' = 2π / ps``), exactly as dysts does; the time argument ``t`` is ignored, so the
  forcing phase is set by that coordinate (its default initial value comes from dysts' metadata).
  Those clock coordinates grow without bound (dysts' ``unbounded_indices``).
* dysts post-processes trajectories of ArnoldBeltramiChildress (sin x, cos y, sin z), ArnoldWeb
  (sin x1, sin x2, cos z), BickleyJet, BlinkingRotlet/BlinkingVortex (polar → Cartesian, phase of
  the blinking protocol) and CircadianRhythm (cos θ) before storing them. The functions here are
  the vector fields that dysts *integrates*, before that post-processing.
* BickleyJet: the state is ordered ``(y, x, z)`` (cross-stream, along-stream, phase), as in dysts;
  the parameters ``eps``, ``k`` and ``sigma`` are length-3 vectors (one entry per Fourier mode).
* BeerRNN: ``tau`` and ``theta`` are length-3 vectors and ``w`` a 3 × 3 weight matrix.
* BlinkingVortex is BlinkingRotlet with ``bc = 0`` (the same right-hand side, other parameters).
* BelousovZhabotinsky: as in dysts, x is clipped at zero (``max(0, x)``) *after* ``ybar`` has been
  computed from the unclipped x; the square root is written so its derivative stays finite
  (zero) for x ≤ 0.
"""

import math

import torch

from ..registry import register_flow


def _param_tensor(p, name, x):
    """Parameter ``name`` as a tensor with the dtype/device of ``x`` (for vector/matrix parameters)."""
    return torch.as_tensor(p[name], dtype=x.dtype, device=x.device)


def _safe_sqrt_pos(x):
    """sqrt(max(x, 0)) with a finite (zero) derivative for x <= 0."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x))


def _sat(x):
    """Piecewise-linear saturation 0.5 (|x + 1| − |x − 1|) = clip(x, −1, 1)."""
    return 0.5 * (torch.abs(x + 1) - torch.abs(x - 1))


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


@register_flow("AnishchenkoAstakhov")
def anishchenko_astakhov(t, x, p):
    """Anishchenko et al. (2007): x' = μx + y − xz, y' = −x, z' = −ηz + η H(x) x² (H: Heaviside, H(0) = 0)."""
    x0, y0, z0 = x.unbind(-1)
    mu, eta = p["mu"], p["eta"]
    gate = torch.where(x0 > 0, x0 * x0, torch.zeros_like(x0))
    return torch.stack((mu * x0 + y0 - x0 * z0, -x0, -eta * z0 + eta * gate), dim=-1)


@register_flow("Arneodo")
def arneodo(t, x, p):
    """Arneodo, Coullet & Tresser (1980): x' = y, y' = z, z' = −ax − by − cz + dx³."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack(
        (y0, z0, -p["a"] * x0 - p["b"] * y0 - p["c"] * z0 + p["d"] * x0**3),
        dim=-1,
    )


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


@register_flow("BeerRNN")
def beer_rnn(t, x, p):
    """Beer (1995) continuous-time RNN: τ_i x_i' = −x_i + Σ_j w_ij σ(x_j + θ_j), σ(u) = 1 / (1 + e^−u)."""
    w = _param_tensor(p, "w", x)
    theta = _param_tensor(p, "theta", x)
    tau = _param_tensor(p, "tau", x)
    s = torch.sigmoid(x + theta)
    drive = torch.matmul(w, s.unsqueeze(-1)).squeeze(-1)
    return (-x + drive) / tau


@register_flow("BelousovZhabotinsky")
def belousov_zhabotinsky(t, x, p):
    """Györgyi & Field (1992) 3-variable BZ model (dysts form): see module docstring for the x ≥ 0 clip."""
    x0, z, v = x.unbind(-1)
    kf, z0c = p["kf"], p["z0"]
    ybar = (1 / p["y0"]) * p["yb1"] * z * v / (p["yb2"] * x0 + p["yb3"] + kf)
    xc = torch.clamp(x0, min=0.0)
    rf = (p["ci"] - z0c * z) * _safe_sqrt_pos(x0)
    xdot = p["c1"] * xc * ybar + p["c2"] * ybar + p["c3"] * xc**2 + p["c4"] * rf + p["c5"] * xc * z - kf * xc
    zdot = (p["c6"] / z0c) * rf + p["c7"] * xc * z + p["c8"] * z * v + p["c9"] * z - kf * z
    vdot = p["c10"] * xc * ybar + p["c11"] * ybar + p["c12"] * xc**2 + p["c13"] * z * v - kf * v
    t0 = p["t0"]
    return torch.stack((xdot * t0, zdot * t0, vdot * t0), dim=-1)


@register_flow("BickleyJet")
def bickley_jet(t, x, p):
    """Hadjighasem et al. (2016): y' = ℓU sech²(y/ℓ) Σ ε_n k_n sin φ_n, x' = −U sech²(y/ℓ)(1 + 2 tanh(y/ℓ) Σ ε_n cos φ_n), z' = ω; φ_n = k_n(x − σ_n z)."""
    y0, x0, z0 = x.unbind(-1)
    ell, u = p["ell"], p["u"]
    eps = _param_tensor(p, "eps", x)
    k = _param_tensor(p, "k", x)
    sigma = _param_tensor(p, "sigma", x)
    phase = k * (x0.unsqueeze(-1) - z0.unsqueeze(-1) * sigma)
    sech2 = 1 / torch.cosh(y0 / ell) ** 2
    dx = u * sech2 * (-1 - 2 * (torch.cos(phase) * eps).sum(-1) * torch.tanh(y0 / ell))
    dy = ell * u * sech2 * (eps * k * torch.sin(phase)).sum(-1)
    return torch.stack((dy, dx, torch.ones_like(z0) * p["omega"]), dim=-1)


@register_flow("Blasius")
def blasius(t, x, p):
    """Blasius, Huppert & Stone (1999): x' = ax − α1xy/(1+k1x), y' = −by + α1xy/(1+k1x) − α2yz/(1+k2y), z' = −c(z − zs) + α2yz/(1+k2y)."""
    x0, y0, z0 = x.unbind(-1)
    f1 = p["alpha1"] * x0 * y0 / (1 + p["k1"] * x0)
    f2 = p["alpha2"] * y0 * z0 / (1 + p["k2"] * y0)
    return torch.stack(
        (p["a"] * x0 - f1, -p["b"] * y0 + f1 - f2, -p["c"] * (z0 - p["zs"]) + f2),
        dim=-1,
    )


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


@register_flow("BlinkingRotlet")
def blinking_rotlet(t, x, p):
    """Meleshko & Aref (1996): (r', θ') = σ[w(τ)·rotlet(+b) + (1−w)·rotlet(−b)], τ' = 1; w = ½ + ½ tanh(20τ_p sin(2πτ/τ_p))."""
    return _blinking(x, p)


@register_flow("BlinkingVortex")
def blinking_vortex(t, x, p):
    """Aref (1984) blinking vortex: the blinking-rotlet field with bc = 0 (point vortices at ±b), τ' = 1."""
    return _blinking(x, p)


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


@register_flow("Bouali")
def bouali(t, x, p):
    """Bouali (1999): x' = ax(y0 − y) − bz, y' = gy(x² − 1), z' = −1.5mx + m·bb·xz − cz."""
    return _bouali(x, p)


@register_flow("Bouali2")
def bouali2(t, x, p):
    """Bouali (1999), second parameter set: x' = ax(y0 − y) − bz, y' = gy(x² − 1), z' = −1.5mx + m·bb·xz − cz."""
    return _bouali(x, p)


@register_flow("BurkeShaw")
def burke_shaw(t, x, p):
    """Shaw (1981): x' = −n(x + y), y' = y − nxz, z' = nxy + e."""
    x0, y0, z0 = x.unbind(-1)
    n = p["n"]
    return torch.stack((-n * x0 - n * y0, y0 - n * x0 * z0, n * x0 * y0 + p["e"]), dim=-1)


def _hill(u, k, n):
    """Hill function u^n / (k^n + u^n)."""
    un = u**n
    return un / (k**n + un)


def _ca_two_plus(x, p):
    z, y, a = x.unbind(-1)
    beta = p["beta"]
    v_in = p["V0"] + p["V1"] * beta
    v2 = p["Vm2"] * z**2 / (p["K2"] ** 2 + z**2)
    v3 = p["Vm3"] * _hill(z, p["Kz"], p["m"]) * _hill(y, p["Ky"], 2) * _hill(a, p["Ka"], 4)
    v5 = p["Vm5"] * _hill(a, p["K5"], p["p"]) * _hill(z, p["Kd"], p["n"])
    return torch.stack(
        (
            v_in - v2 + v3 + p["kf"] * y - p["k"] * z,
            v2 - v3 - p["kf"] * y,
            beta * p["V4"] - v5 - p["eps"] * a,
        ),
        dim=-1,
    )


@register_flow("CaTwoPlus")
def ca_two_plus(t, x, p):
    """Houart, Dupont & Goldbeter (1999): z' = V0 + V1β − V2 + V3 + kf y − kz, y' = V2 − V3 − kf y, a' = βV4 − V5 − εa."""
    return _ca_two_plus(x, p)


@register_flow("CaTwoPlusQuasiperiodic")
def ca_two_plus_quasiperiodic(t, x, p):
    """Houart, Dupont & Goldbeter (1999), quasiperiodic regime: same equations as CaTwoPlus."""
    return _ca_two_plus(x, p)


@register_flow("CellCycle")
def cell_cycle(t, x, p):
    """Romond et al. (1999) two coupled Goldbeter cdc2-cyclin oscillators, state (c1, m1, x1, c2, m2, x2)."""
    c1, m1, x1, c2, m2, x2 = x.unbind(-1)
    kk, kc, kd1, kim = p["K"], p["Kc"], p["Kd1"], p["Kim"]
    v2, v4, vm1, vm3 = p["V2"], p["V4"], p["Vm1"], p["Vm3"]
    kdeg, vd, vi = p["kd1"], p["vd"], p["vi"]

    def gk(u, k_):  # Goldbeter–Koshland type zero-order ultrasensitivity terms
        return u / (k_ + u)

    v1 = vm1 * c1 / (kc + c1)
    u1 = vm1 * c2 / (kc + c2)
    c1dot = vi * kim / (kim + m2) - vd * x1 * gk(c1, kd1) - kdeg * c1
    c2dot = vi * kim / (kim + m1) - vd * x2 * gk(c2, kd1) - kdeg * c2
    m1dot = v1 * gk(1 - m1, kk) - v2 * gk(m1, kk)
    m2dot = u1 * gk(1 - m2, kk) - v2 * gk(m2, kk)
    x1dot = m1 * vm3 * gk(1 - x1, kk) - v4 * gk(x1, kk)
    x2dot = m2 * vm3 * gk(1 - x2, kk) - v4 * gk(x2, kk)
    return torch.stack((c1dot, m1dot, x1dot, c2dot, m2dot, x2dot), dim=-1)


@register_flow("CellularNeuralNetwork")
def cellular_neural_network(t, x, p):
    """Arena et al. (1998): x' = −x + d f(x) − b f(y) − b f(z), y' = −y − b f(x) + c f(y) − a f(z), z' = −z − b f(x) + a f(y) + f(z); f(u) = ½(|u+1| − |u−1|)."""
    x0, y0, z0 = x.unbind(-1)
    a, b, c, d = p["a"], p["b"], p["c"], p["d"]
    fx, fy, fz = _sat(x0), _sat(y0), _sat(z0)
    return torch.stack(
        (
            -x0 + d * fx - b * fy - b * fz,
            -y0 - b * fx + c * fy - a * fz,
            -z0 - b * fx + a * fy + fz,
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


@register_flow("Chua")
def chua(t, x, p):
    """Chua (1969) circuit: x' = α(y − x − h(x)), y' = x − y + z, z' = −βy; h(x) = m1 x + ½(m0 − m1)(|x+1| − |x−1|)."""
    x0, y0, z0 = x.unbind(-1)
    m0, m1 = p["m0"], p["m1"]
    h = m1 * x0 + (m0 - m1) * _sat(x0)
    return torch.stack((p["alpha"] * (y0 - x0 - h), x0 - y0 + z0, -p["beta"] * y0), dim=-1)


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


@register_flow("CoevolvingPredatorPrey")
def coevolving_predator_prey(t, x, p):
    """Gilpin & Feldman (2017): prey x, predator y and prey trait α under eco-evolutionary feedback (dysts form)."""
    x0, y0, al = x.unbind(-1)
    a1, a2, a3, b1, b2 = p["a1"], p["a2"], p["a3"], p["b1"], p["b2"]
    d1, d2, delta, k1, k2, k4 = p["d1"], p["d2"], p["delta"], p["k1"], p["k2"], p["k4"]
    ad = al * delta
    growth = a1 * al * (1 - k1 * x0 * (-al + ad)) / (1 + b1 * al)
    death = d1 * (1 - k2 * (-(al**2) + ad**2) + k4 * (-(al**4) + ad**4))
    xdot = x0 * (-(a3 * y0) / (1 + b2 * x0) + growth - death)
    ydot = (-d2 + a2 * x0 / (1 + b2 * x0)) * y0
    aldot = p["vv"] * (
        -(a1 * k1 * x0 * al * delta) / (1 + b1 * al)
        - d1 * (-2 * k2 * al * delta**2 + 4 * k4 * al**3 * delta**4)
    )
    return torch.stack((xdot, ydot, aldot), dim=-1)


@register_flow("Colpitts")
def colpitts(t, x, p):
    """Kennedy (1994; dysts cites 2007) Colpitts oscillator: x' = y − a F(z), y' = c − x − by − z, z' = y − dz; F(z) = max(0, −(z − e + 1))."""
    x0, y0, z0 = x.unbind(-1)
    u = z0 - (p["e"] - 1)
    fz = torch.relu(-u)
    return torch.stack((y0 - p["a"] * fz, p["c"] - x0 - p["b"] * y0 - z0, y0 - p["d"] * z0), dim=-1)


@register_flow("Coullet")
def coullet(t, x, p):
    """Arneodo, Coullet & Tresser (1980), Coullet parameters: x' = y, y' = z, z' = −ax − by − cz + dx³."""
    return arneodo(t, x, p)
