"""Kuramoto–Sivashinsky equation on a periodic domain, pseudo-spectral in x, ETDRK4 in time.

    u_t + u u_x + u_xx + u_xxxx = 0,    x ∈ [0, L) periodic,

on the grid x_j = j L / N (j = 0 … N−1). In Fourier space, with k = 2π n / L and û = rfft(u),

    dû/dt = (k² − k⁴) û − (i k / 2) rfft(u²)  =  ℒ û + 𝒩(û).

One step of size h uses the fourth-order exponential time-differencing Runge–Kutta scheme of
Cox & Matthews (2002, J. Comput. Phys. 176, 430) with the φ-function coefficients evaluated by
the contour-integral method of Kassam & Trefethen (2005, SIAM J. Sci. Comput. 26, 1214): the
mean over M points on a unit circle around each h ℒ(k), in float64 / complex128. The
coefficients are computed once per (L, N, h, dealias, M, dtype, device) and cached.

The k = 0 mode (spatial mean) is conserved exactly (ℒ(0) = 0 and the nonlinear term has no mean).
The odd derivative of the Nyquist mode is set to zero (as in Kassam–Trefethen's ``kursiv.m``).
Optional 2/3-rule dealiasing zeroes the nonlinear term for n > N/3.

The catalog entry ``KuramotoSivashinsky`` is a :class:`~chaosbench_py.systems.base.Map` whose
one iteration is one ETDRK4 step of size ``dt``, acting on real physical-space values, shape
``(..., N)``; any leading dimensions are batch dimensions.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import InputError, InputTypeError
from .base import Invariants, Map, SystemInfo
from .registry import register_system

logger = logging.getLogger(__name__)

_KS_CITATION = (
    "Kuramoto, Y. & Tsuzuki, T. (1976) Prog. Theor. Phys. 55, 356; Sivashinsky, G. I. (1977) Acta "
    "Astronaut. 4, 1177. Scheme: Kassam, A.-K. & Trefethen, L. N. (2005) SIAM J. Sci. Comput. 26, 1214."
)

_L22_INVARIANTS = Invariants(
    max_lyapunov=0.0485,
    kaplan_yorke_dimension=5.198,
    max_lyapunov_source="this package's tangent-space (QR) estimate (1 / time unit), periodic domain L = 22",
    provenance=(
        "L = 22 (periodic): lambda_max = 0.0485 +- 0.0013 measured here with lyapunov_spectrum_map on this "
        "ETDRK4 map (N = 64, dt = 0.25; 8 initial states on the attractor, 1000 time units of spin-up, "
        "10^4 time units, QR every 4 steps), and 0.0487 +- 0.0009 with N = 128, dt = 0.125; an independent "
        "two-trajectory (Benettin) estimate gives 0.047-0.049. This agrees with the value 0.048 attributed to "
        "Cvitanovic, Davidchack & Siminos (2010, SIAM J. Appl. Dyn. Syst. 9, 1) and with the 0.05 used by "
        "Pathak et al.'s L = 22 reservoir demo; the 0.043 often quoted (Edson, Bunder, Mattner & Roberts 2019, "
        "ANZIAM J. 61, 270) is not reproduced by periodic or odd-periodic integration and was the catalog's "
        "value until this correction. D_KY = 5.198 as cited by Cvitanovic et al.; this package's 8-exponent "
        "QR gives 5.20 (2000 time units). The Lyapunov time is 1 / 0.0485 = 20.6 time units."
    ),
)


@dataclasses.dataclass(frozen=True)
class ETDRK4Coefficients:
    """Per-mode ETDRK4 coefficients (rfft layout, shape ``(N // 2 + 1,)``).

    ``e = exp(h ℒ)``, ``e2 = exp(h ℒ / 2)``, ``q = h φ-type coefficient of the half steps``,
    ``f1, f2, f3`` the weights of the final stage (Kassam & Trefethen 2005, eq. 2.5), and
    ``g = −i k / 2`` (masked by the dealiasing rule) so that 𝒩(û) = g · rfft(irfft(û)²).
    """

    e: torch.Tensor
    e2: torch.Tensor
    q: torch.Tensor
    f1: torch.Tensor
    f2: torch.Tensor
    f3: torch.Tensor
    g: torch.Tensor


def ks_wavenumbers(domain_length: float, n_grid: int) -> torch.Tensor:
    """Angular wavenumbers k_n = 2π n / L for the rfft modes n = 0 … N/2, float64."""
    return 2 * math.pi / domain_length * torch.arange(n_grid // 2 + 1, dtype=torch.float64)


def ks_grid(domain_length: float, n_grid: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Grid points x_j = j L / N, j = 0 … N−1."""
    return torch.arange(n_grid, dtype=dtype) * (domain_length / n_grid)


def ks_linear_growth_rate(k: torch.Tensor | float) -> torch.Tensor | float:
    """Linear growth rate k² − k⁴ of a Fourier mode of wavenumber k."""
    return k**2 - k**4


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InputTypeError(
                f"KuramotoSivashinsky: {name} must be a single number; got a tensor of shape {tuple(value.shape)}"
            )
        value = float(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputTypeError(f"KuramotoSivashinsky: {name} must be a number; got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"KuramotoSivashinsky: {name} must be positive and finite; got {value!r}")
    return v


@functools.lru_cache(maxsize=64)
def etdrk4_coefficients(
    domain_length: float,
    n_grid: int,
    dt: float,
    dealias: bool = False,
    n_contour: int = 32,
    dtype: torch.dtype = torch.float64,
    device: torch.device | None = None,
) -> ETDRK4Coefficients:
    """ETDRK4 coefficients for KS on [0, L) with N points and step h (cached).

    With ℓ = h ℒ(k) and the contour points r_m = exp(iπ (m − ½) / M), m = 1 … M, each
    φ-combination φ(ℓ) is the real part of the mean of φ(ℓ + r_m) (Cauchy's formula; exact for
    analytic φ, free of the cancellation of the direct formulas near ℓ = 0):

        q  = h ⟨(e^{z/2} − 1) / z⟩
        f1 = h ⟨(−4 − z + e^z (4 − 3z + z²)) / z³⟩
        f2 = h ⟨(2 + z + e^z (z − 2)) / z³⟩
        f3 = h ⟨(−4 − 3z − z² + e^z (4 − z)) / z³⟩

    evaluated in complex128 and cast to ``dtype`` (real) / its complex counterpart (``g``).
    """
    if n_grid < 4 or n_grid % 2:
        raise InputError(f"KuramotoSivashinsky: n_grid must be an even integer >= 4; got {n_grid!r}")
    if n_contour < 4:
        raise InputError(f"KuramotoSivashinsky: n_contour must be >= 4; got {n_contour!r}")
    k = ks_wavenumbers(domain_length, n_grid)
    lin = k**2 - k**4
    ell = dt * lin
    m = torch.arange(1, n_contour + 1, dtype=torch.float64)
    roots = torch.exp(1j * math.pi * (m - 0.5) / n_contour)  # complex128
    z = ell.to(torch.complex128)[:, None] + roots[None, :]
    ez = torch.exp(z)
    q = dt * ((torch.exp(z / 2) - 1) / z).mean(-1).real
    f1 = dt * ((-4 - z + ez * (4 - 3 * z + z**2)) / z**3).mean(-1).real
    f2 = dt * ((2 + z + ez * (z - 2)) / z**3).mean(-1).real
    f3 = dt * ((-4 - 3 * z - z**2 + ez * (4 - z)) / z**3).mean(-1).real
    k_odd = k.clone()
    k_odd[-1] = 0.0  # Nyquist mode: odd derivative set to zero
    if dealias:
        n_idx = torch.arange(n_grid // 2 + 1)
        k_odd = torch.where(n_idx <= n_grid // 3, k_odd, torch.zeros_like(k_odd))
    g = -0.5j * k_odd.to(torch.complex128)
    cdtype = (torch.zeros((), dtype=dtype) + 0j).dtype
    real = {"dtype": dtype, "device": device}
    # Damping factors below sqrt(tiny) are set to 0: they would only feed subnormal numbers into
    # the FFTs (orders of magnitude slower on CPUs) for modes that are zero to working precision.
    cut = math.sqrt(torch.finfo(dtype).tiny)
    e, e2 = torch.exp(ell), torch.exp(ell / 2)
    e = torch.where(e < cut, torch.zeros_like(e), e)
    e2 = torch.where(e2 < cut, torch.zeros_like(e2), e2)
    return ETDRK4Coefficients(
        e=e.to(**real),
        e2=e2.to(**real),
        q=q.to(**real),
        f1=f1.to(**real),
        f2=f2.to(**real),
        f3=f3.to(**real),
        g=g.to(dtype=cdtype, device=device),
    )


def ks_etdrk4_step(
    u: torch.Tensor, domain_length: float, dt: float, dealias: bool = False, n_contour: int = 32
) -> torch.Tensor:
    """One ETDRK4 step of size ``dt`` for KS on [0, L); ``u`` real, shape ``(..., N)``, N even.

    Kassam & Trefethen (2005), eq. (2.5):
        a = e2 v + q 𝒩(v);  b = e2 v + q 𝒩(a);  c = e2 a + q (2 𝒩(b) − 𝒩(v))
        v' = e v + f1 𝒩(v) + 2 f2 (𝒩(a) + 𝒩(b)) + f3 𝒩(c)
    with v = rfft(u); returns irfft(v') (same shape and dtype as ``u``).
    """
    if not isinstance(u, torch.Tensor) or not u.is_floating_point():
        raise InputTypeError(f"KuramotoSivashinsky: u must be a real floating tensor; got {type(u).__name__}")
    n = u.shape[-1]
    c = etdrk4_coefficients(
        float(domain_length), int(n), float(dt), bool(dealias), int(n_contour), u.dtype, u.device
    )

    def nonlinear(w: torch.Tensor) -> torch.Tensor:
        return c.g * torch.fft.rfft(torch.fft.irfft(w, n=n, dim=-1) ** 2, dim=-1)

    v = torch.fft.rfft(u, dim=-1)
    nv = nonlinear(v)
    a = c.e2 * v + c.q * nv
    na = nonlinear(a)
    b = c.e2 * v + c.q * na
    nb = nonlinear(b)
    cc = c.e2 * a + c.q * (2 * nb - nv)
    nc = nonlinear(cc)
    v_next = c.e * v + c.f1 * nv + 2 * c.f2 * (na + nb) + c.f3 * nc
    return torch.fft.irfft(v_next, n=n, dim=-1)


def ks_default_initial_condition(domain_length: float, n_grid: int) -> tuple[float, ...]:
    """Smooth deterministic field with zero mean and no reflection symmetry.

    u0(x) = cos(q x)(1 + sin(q x)) + 0.1 cos(3 q x + 1), q = 2π / L: the Kassam–Trefethen
    initial condition cos(x/16)(1 + sin(x/16)) scaled to [0, L), plus a small third harmonic that
    takes it off the invariant (shifted-antisymmetric) subspace the first term lies in.
    """
    x = ks_grid(domain_length, n_grid)
    qx = 2 * math.pi / domain_length * x
    u0 = torch.cos(qx) * (1 + torch.sin(qx)) + 0.1 * torch.cos(3 * qx + 1.0)
    return tuple(float(v) for v in u0)


@register_system(
    "KuramotoSivashinsky",
    "pde",
    "Kuramoto–Sivashinsky u_t + u u_x + u_xx + u_xxxx = 0 on [0, L), pseudo-spectral, one ETDRK4 step per iteration.",
)
def kuramoto_sivashinsky(
    L: float = 22.0, n_grid: int = 64, dt: float = 0.25, dealias: bool = False, n_contour: int = 32
) -> Map:
    """Kuramoto–Sivashinsky as a map: one iteration = one ETDRK4 step of size ``dt``.

    State: u at the N = ``n_grid`` points x_j = j L / N, shape ``(..., N)``. Parameter ``L``
    (domain length; may be changed with ``with_params``, the coefficients are cached per L).
    Invariants are recorded for L = 22 (see ``_L22_INVARIANTS``), in units of 1 / time (divide
    the per-iteration exponent of the map by ``dt``).

    Raises
    ------
    ValueError, TypeError
        ``L`` or ``dt`` not positive numbers, ``n_grid`` not an even integer ≥ 4.
    """
    length = _check_positive("L", L)
    step = _check_positive("dt", dt)
    if isinstance(n_grid, bool) or not isinstance(n_grid, int) or n_grid < 4 or n_grid % 2:
        raise InputError(f"KuramotoSivashinsky: n_grid must be an even integer >= 4; got {n_grid!r}")
    inv = (
        _L22_INVARIANTS
        if abs(length - 22.0) < 1e-12 and n_grid >= 32
        else Invariants(provenance="none known")
    )
    info = SystemInfo(
        name="KuramotoSivashinsky",
        kind="pde",
        dim=n_grid,
        parameters={"L": length},
        initial_condition=ks_default_initial_condition(length, n_grid),
        dt=step,
        period=None,
        invariants=inv,
        citation=_KS_CITATION,
        description="Kuramoto–Sivashinsky equation on a periodic domain (pseudo-spectral, ETDRK4).",
        notes=(
            f"n_grid={n_grid}, dt={step}, dealias={bool(dealias)}, contour points={n_contour}; "
            "one map iteration = one time step dt; Lyapunov exponents of the map are per step."
        ),
    )

    def ks_map(u: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
        return ks_etdrk4_step(u, _check_positive("L", p["L"]), step, dealias, n_contour)

    return Map(info, ks_map)


__all__ = [
    "ETDRK4Coefficients",
    "etdrk4_coefficients",
    "kuramoto_sivashinsky",
    "ks_default_initial_condition",
    "ks_etdrk4_step",
    "ks_grid",
    "ks_linear_growth_rate",
    "ks_wavenumbers",
]
