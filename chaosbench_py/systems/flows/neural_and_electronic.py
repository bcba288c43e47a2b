"""Neural networks and electronic circuits.

Systems: Hopfield, BeerRNN, CellularNeuralNetwork (neural networks); Chua, MultiChua, Colpitts,
AnishchenkoAstakhov (circuits). JerkCircuit is with the jerk flows (``jerk_and_sprott.py``).

Every right-hand side has the signature ``rhs(t, x, p)`` with ``x`` of shape ``(..., dim)`` (every
leading dimension is a batch dimension), ``t`` a scalar tensor or float and ``p`` a mapping of the
parameter names of ``data/dysts_flows.json`` to floats or tensors broadcastable to ``x[..., 0]``;
it returns ``dx/dt`` of the shape of ``x``. The equations (and parameter names) are those
integrated by dysts 0.96 ``flows.py`` (Gilpin 2021, arXiv:2110.05266), so the numbers agree with
dysts to rounding (checked against ``tests/data/dysts_golden.json``); only torch operations are
used, so the functions work under ``torch.func.jacrev`` / ``vmap`` and in float32 or float64.

Notes
-----
* Array-valued parameters (Hopfield ``k``; BeerRNN ``tau`` and ``theta``, length-3 vectors, and
  ``w``, a 3 × 3 weight matrix; MultiChua ``c``, ``m``) may be nested lists or tensors; they are
  converted to the dtype/device of ``x``.
* Chua and CellularNeuralNetwork use the piecewise-linear saturation ``_sat``; **MultiChua** has a
  piecewise-linear diode (``|·|``). Their Jacobians jump at the breakpoints.
"""

from __future__ import annotations

import torch

from ..registry import register_flow
from ._helpers import _param_tensor


def _sat(x):
    """Piecewise-linear saturation 0.5 (|x + 1| − |x − 1|) = clip(x, −1, 1)."""
    return 0.5 * (torch.abs(x + 1) - torch.abs(x - 1))


@register_flow("Hopfield")
def hopfield(t, x, p):
    """Hopfield network, Lewis & Glass (1992): x' = −x/τ + ½(1 + tanh(ε K x)) − β, K = p["k"] (n, n)."""
    k = _param_tensor(p["k"], x)
    drive = torch.matmul(k, x.unsqueeze(-1)).squeeze(-1)
    return -x / p["tau"] + 0.5 * (1 + torch.tanh(p["eps"] * drive)) - p["beta"]


@register_flow("BeerRNN")
def beer_rnn(t, x, p):
    """Beer (1995) continuous-time RNN: τ_i x_i' = −x_i + Σ_j w_ij σ(x_j + θ_j), σ(u) = 1 / (1 + e^−u)."""
    w = _param_tensor(p["w"], x)
    theta = _param_tensor(p["theta"], x)
    tau = _param_tensor(p["tau"], x)
    s = torch.sigmoid(x + theta)
    drive = torch.matmul(w, s.unsqueeze(-1)).squeeze(-1)
    return (-x + drive) / tau


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


@register_flow("Chua")
def chua(t, x, p):
    """Chua (1969) circuit: x' = α(y − x − h(x)), y' = x − y + z, z' = −βy; h(x) = m1 x + ½(m0 − m1)(|x+1| − |x−1|)."""
    x0, y0, z0 = x.unbind(-1)
    m0, m1 = p["m0"], p["m1"]
    h = m1 * x0 + (m0 - m1) * _sat(x0)
    return torch.stack((p["alpha"] * (y0 - x0 - h), x0 - y0 + z0, -p["beta"] * y0), dim=-1)


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


@register_flow("Colpitts")
def colpitts(t, x, p):
    """Kennedy (1994; dysts cites 2007) Colpitts oscillator: x' = y − a F(z), y' = c − x − by − z, z' = y − dz; F(z) = max(0, −(z − e + 1))."""
    x0, y0, z0 = x.unbind(-1)
    u = z0 - (p["e"] - 1)
    fz = torch.relu(-u)
    return torch.stack((y0 - p["a"] * fz, p["c"] - x0 - p["b"] * y0 - z0, y0 - p["d"] * z0), dim=-1)


@register_flow("AnishchenkoAstakhov")
def anishchenko_astakhov(t, x, p):
    """Anishchenko et al. (2007): x' = μx + y − xz, y' = −x, z' = −ηz + η H(x) x² (H: Heaviside, H(0) = 0)."""
    x0, y0, z0 = x.unbind(-1)
    mu, eta = p["mu"], p["eta"]
    gate = torch.where(x0 > 0, x0 * x0, torch.zeros_like(x0))
    return torch.stack((mu * x0 + y0 - x0 * z0, -x0, -eta * z0 + eta * gate), dim=-1)
