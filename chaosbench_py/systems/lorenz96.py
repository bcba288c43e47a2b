"""Lorenz-96 of any dimension and the two-scale Lorenz-96 system, in torch.

Single scale (Lorenz 1996), N ≥ 4 sites on a ring, forcing F (parameter ``f`` as in dysts):

    dx_i/dt = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F,      indices mod N.

Two scales (Lorenz 1996, section 5; notation of Wilks 2005, Q. J. R. Meteorol. Soc. 131, 389),
K slow variables X_k and J fast variables Y_{j,k} per slow variable, the fast variables forming one
ring of length J K (Y_{J+1,k} = Y_{1,k+1}):

    dX_k/dt     = X_{k−1} (X_{k+1} − X_{k−2}) − X_k + F − (h c / b) Σ_j Y_{j,k}
    dY_{j,k}/dt = −c b Y_{j+1,k} (Y_{j+2,k} − Y_{j−1,k}) − c Y_{j,k} + (h c / b) X_k

State vector: ``[X_0 … X_{K−1}, Y_{0,0} … Y_{J−1,0}, Y_{0,1} …]`` (the fast block ordered slow
index major), shape ``(..., K + J K)``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import InputError
from .base import Flow, Invariants, SystemInfo, check_parameters
from .registry import _info_from_dysts, register_system

logger = logging.getLogger(__name__)

_DYSTS_NAME = "Lorenz96"
_LORENZ96_CITATION = (
    "Lorenz, E. N. (1996). Predictability: a problem partly solved. Proc. Seminar on Predictability, "
    "Vol. I, ECMWF, Reading, 1-18."
)


def _param(v: Any) -> Any:
    """A parameter broadcasting against ``x[..., 0]``, made to broadcast against ``x``."""
    if isinstance(v, torch.Tensor) and v.ndim > 0:
        return v.unsqueeze(-1)
    return v


def lorenz96_rhs(t: torch.Tensor | float, x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """dx_i/dt = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F for ``x`` of shape ``(..., N)``, N ≥ 4.

    ``p["f"]`` is the forcing F (float, or tensor broadcasting against ``x[..., 0]``).
    Vectorised with ``torch.roll`` (periodic indices); autonomous (``t`` is ignored).
    """
    return _advection(x) - x + _param(p["f"])


def _advection(x: torch.Tensor) -> torch.Tensor:
    """(x_{i+1} − x_{i−2}) x_{i−1} on a ring along the last axis."""
    return (torch.roll(x, -1, -1) - torch.roll(x, 2, -1)) * torch.roll(x, 1, -1)


def lorenz96_jacobian(x: torch.Tensor) -> torch.Tensor:
    """Analytic Jacobian of :func:`lorenz96_rhs`, shape ``(..., N, N)`` (independent of F).

    Row i: ∂f_i/∂x_{i−2} = −x_{i−1}, ∂f_i/∂x_{i−1} = x_{i+1} − x_{i−2}, ∂f_i/∂x_i = −1,
    ∂f_i/∂x_{i+1} = x_{i−1} (the four columns are distinct for N ≥ 4).
    """
    n = x.shape[-1]
    if n < 4:
        raise InputError(
            f"lorenz96_jacobian: x must have at least 4 sites on its last axis; got shape {tuple(x.shape)}"
        )
    idx = torch.arange(n, device=x.device)
    xm1, xm2, xp1 = torch.roll(x, 1, -1), torch.roll(x, 2, -1), torch.roll(x, -1, -1)
    jac = torch.zeros(*x.shape, n, dtype=x.dtype, device=x.device)
    jac[..., idx, (idx - 2) % n] = -xm1
    jac[..., idx, (idx - 1) % n] = xp1 - xm2
    jac[..., idx, idx] = -1.0
    jac[..., idx, (idx + 1) % n] = xm1
    return jac


@register_system(
    _DYSTS_NAME, "flow", "Lorenz-96 on a ring of N >= 4 sites, forcing f (dysts default N=4, f=20)."
)
def lorenz96(dim: int | None = None, **params: Any) -> Flow:
    """Lorenz-96 flow of dimension ``dim`` (default: the dysts entry, N = 4, f = 20).

    For the dysts dimension the metadata (initial condition, dt, period, invariants) is the
    dysts entry; the invariants are kept only if ``f`` is the dysts value. For any other N the
    initial condition is x_i = f with x_0 += 0.01 (deterministic), ``dt`` and ``period`` are
    taken from the dysts entry (time scale of the f = 20 dynamics; use a smaller period for weaker
    forcing), and no invariants are recorded (no published spectrum is shipped here).

    Raises
    ------
    InputError
        ``dim`` not an integer ≥ 4; a parameter value that is not a finite number.
    UnknownNameError
        Unknown parameter name (the only parameter is ``f``).
    """
    base = _info_from_dysts(_DYSTS_NAME, "flow")
    if dim is None:
        dim = base.dim
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 4:
        raise InputError(f"Lorenz96: dim must be an integer >= 4; got {dim!r}")
    check_parameters("Lorenz96", base.parameters, params)
    f = params.get("f", base.parameters["f"])
    f_is_default = not isinstance(f, torch.Tensor) and float(f) == float(base.parameters["f"])
    if dim == base.dim:
        info = (
            base
            if f_is_default
            else _replace_invariants(base, Invariants(provenance="none known for this f"))
        )
    else:
        f0 = float(f) if not isinstance(f, torch.Tensor) or f.numel() == 1 else float(base.parameters["f"])
        ic = [f0] * dim
        ic[0] += 0.01
        info = SystemInfo(
            name=_DYSTS_NAME,
            kind="flow",
            dim=dim,
            parameters=dict(base.parameters),
            initial_condition=tuple(ic),
            dt=base.dt,
            period=base.period,
            invariants=Invariants(provenance="none recorded for this dimension"),
            citation=base.citation or _LORENZ96_CITATION,
            description=base.description,
            notes=f"N={dim}: dt and period copied from the dysts N=4, f=20 entry; IC x_i = f, x_0 += 0.01.",
        )
    return Flow(info, lorenz96_rhs, params or None)


def _replace_invariants(info: SystemInfo, inv: Invariants) -> SystemInfo:
    return dataclasses.replace(info, invariants=inv)


# ---------------------------------------------------------------------------------------------
# two-scale Lorenz-96
# ---------------------------------------------------------------------------------------------

_TWO_SCALE_DEFAULTS: dict[str, float] = {"F": 10.0, "h": 1.0, "c": 10.0, "b": 10.0}


def lorenz96_two_scale_rhs(
    t: torch.Tensor | float, x: torch.Tensor, p: Mapping[str, Any], n_slow: int, n_fast: int
) -> torch.Tensor:
    """Right-hand side of the two-scale Lorenz-96 system (see the module docstring).

    ``x`` has shape ``(..., K + J K)`` with K = ``n_slow``, J = ``n_fast``; parameters ``F``,
    ``h``, ``c``, ``b`` (floats or tensors broadcasting against ``x[..., 0]``).
    """
    k_, j_ = n_slow, n_fast
    slow, fast = x[..., :k_], x[..., k_:]
    f_, h, c, b = (_param(p[n]) for n in ("F", "h", "c", "b"))
    coupling = h * c / b
    fast_sum = fast.reshape(*fast.shape[:-1], k_, j_).sum(-1)
    d_slow = _advection(slow) - slow + f_ - coupling * fast_sum
    # fast ring: −c b Y_{m+1} (Y_{m+2} − Y_{m−1}) − c Y_m + (h c / b) X_{k(m)}
    fast_adv = torch.roll(fast, -1, -1) * (torch.roll(fast, -2, -1) - torch.roll(fast, 1, -1))
    slow_rep = slow.repeat_interleave(j_, dim=-1)
    d_fast = -c * b * fast_adv - c * fast + coupling * slow_rep
    return torch.cat((d_slow, d_fast), dim=-1)


@register_system(
    "Lorenz96TwoScale",
    "flow",
    "Two-scale Lorenz-96 (K slow, J fast per slow; default K=36, J=10, F=10, h=1, c=b=10).",
)
def lorenz96_two_scale(n_slow: int = 36, n_fast: int = 10, **params: Any) -> Flow:
    """Two-scale Lorenz-96 flow, state ``[X (K), Y (J K)]``, dim = K (1 + J).

    Defaults K = 36, J = 10, F = 10, h = 1, c = b = 10: the configuration used by Lorenz (1996)
    and Wilks (2005) in its most common modern form (time-scale ratio c = 10, amplitude ratio b = 10).
    Initial condition (deterministic): X_k = F with X_0 += 0.01, Y_m = 0.01 sin(2π m / (J K)).
    ``dt = 0.005`` is a safe RK4 step for c = 10; no invariants are recorded.

    Raises
    ------
    InputError
        ``n_slow`` < 4 or ``n_fast`` < 1 (or not integers); a parameter value that is not a finite number.
    UnknownNameError
        Unknown parameter name.
    """
    for name, val, low in (("n_slow", n_slow, 4), ("n_fast", n_fast, 1)):
        if isinstance(val, bool) or not isinstance(val, int) or val < low:
            raise InputError(f"Lorenz96TwoScale: {name} must be an integer >= {low}; got {val!r}")
    check_parameters("Lorenz96TwoScale", _TWO_SCALE_DEFAULTS, params)
    f = params.get("F", _TWO_SCALE_DEFAULTS["F"])
    f0 = float(f) if not isinstance(f, torch.Tensor) or f.numel() == 1 else _TWO_SCALE_DEFAULTS["F"]
    n_total = n_fast * n_slow
    ic = [f0] * n_slow + [0.01 * math.sin(2 * math.pi * m / n_total) for m in range(n_total)]
    ic[0] += 0.01
    info = SystemInfo(
        name="Lorenz96TwoScale",
        kind="flow",
        dim=n_slow + n_total,
        parameters=dict(_TWO_SCALE_DEFAULTS),
        initial_condition=tuple(ic),
        dt=0.005,
        period=None,
        invariants=Invariants(provenance="none recorded"),
        citation=_LORENZ96_CITATION
        + " Wilks, D. S. (2005). Effects of stochastic parametrizations in the Lorenz '96 system. "
        "Q. J. R. Meteorol. Soc. 131, 389-407.",
        description="Two-scale Lorenz-96: K slow variables coupled to J fast variables each.",
        notes=f"K={n_slow}, J={n_fast}; state = [X (K), Y (J*K), slow-index major].",
    )

    def rhs(t: torch.Tensor | float, x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
        return lorenz96_two_scale_rhs(t, x, p, n_slow, n_fast)

    return Flow(info, rhs, params or None)


__all__ = [
    "lorenz96",
    "lorenz96_jacobian",
    "lorenz96_rhs",
    "lorenz96_two_scale",
    "lorenz96_two_scale_rhs",
]
