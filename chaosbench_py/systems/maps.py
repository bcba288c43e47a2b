"""Discrete-time maps of the dysts catalog, written in torch.

Every map is a pure function ``f(x, p) -> x_next`` with ``x`` of shape ``(..., dim)`` and ``p`` a
mapping of parameter values (floats or tensors broadcasting against ``x[..., 0]``). The functions
use no Python control flow on tensor values, so ``torch.func.vmap`` / ``jacrev`` work on them
(:meth:`Map.jacobian`). The equations are those of dysts 0.96 (``dysts/maps.py``, Gilpin 2021,
arXiv:2110.05266) and the argument order of its ``_rhs`` functions (parameters sorted by name);
the tests compare every map with numbers computed by dysts itself (``tests/data/dysts_golden.json``).

Each map is registered through :func:`register_system` with kind ``"map"`` by a factory
``factory(**params) -> Map`` that takes its metadata (parameters, initial condition, citation)
from ``data/dysts_maps.json`` and adds the reference invariants that are known for the requested
parameter values (exact values where the Jacobian makes them exact, published values otherwise,
each with its provenance). The dysts metadata itself has no invariants for maps.

Not included (listed in ``dysts_maps.json`` but not implemented in dysts 0.96, see
:data:`UNSUPPORTED`): ``EndCap`` (no published equations found), ``ZeraouliaSprott`` and
``Zaslavskii`` (commented out in dysts 0.96; metadata only).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from .base import Invariants, Map, MapFunction, check_parameters
from .registry import _info_from_dysts, register_system

logger = logging.getLogger(__name__)

UNSUPPORTED: dict[str, str] = {
    "EndCap": "listed in the dysts metadata but not implemented in dysts 0.96; no published equations found",
    "ZeraouliaSprott": "commented out in dysts 0.96 (metadata only)",
    "Zaslavskii": "commented out in dysts 0.96 (metadata only)",
}

InvariantsFn = Callable[[Mapping[str, Any]], Invariants | None]

#: Names of the maps registered by this module (in registration order).
MAP_NAMES: list[str] = []

_TWO_PI = 2.0 * math.pi


def _one(x: torch.Tensor) -> torch.Tensor:
    return x[..., 0]


def _out1(v: torch.Tensor) -> torch.Tensor:
    return v.unsqueeze(-1)


def _out2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.stack((a, b), dim=-1)


def _catalog_map(
    name: str,
    description: str,
    invariants: InvariantsFn | None = None,
    citation: str | None = None,
    register_as: str | None = None,
) -> Callable[[MapFunction], MapFunction]:
    """Register ``fn`` as catalog map ``name`` (metadata from the dysts json, invariants added).

    ``invariants(params)`` returns the reference invariants for the given (merged) parameter
    values, or None when none are known for them. ``register_as`` is the catalog name when the
    dysts name is taken by a flow (dysts has both a Duffing flow and a Duffing map).
    """
    catalog_name = register_as or name

    def deco(fn: MapFunction) -> MapFunction:
        def factory(**params: Any) -> Map:
            info = _info_from_dysts(name, "map")
            check_parameters(catalog_name, info.parameters, params)
            merged = {**info.parameters, **params}
            inv = invariants(merged) if invariants is not None else None
            info = dataclasses.replace(
                info,
                name=catalog_name,
                invariants=inv if inv is not None else Invariants(provenance="none known"),
                description=info.description or description,
                citation=citation if citation is not None and info.citation in ("", ".") else info.citation,
            )
            return Map(info, fn, params or None)

        factory.__name__ = f"make_{fn.__name__}"
        factory.__doc__ = f"Catalog factory of the {name} map: ``factory(**parameter_overrides) -> Map``."
        register_system(catalog_name, "map", description)(factory)
        MAP_NAMES.append(catalog_name)
        return fn

    return deco


def _is(params: Mapping[str, Any], **values: float) -> bool:
    """True when every named parameter is a plain number equal to the given value."""
    for k, v in values.items():
        p = params[k]
        if isinstance(p, torch.Tensor):
            if p.numel() != 1:
                return False
            p = float(p)
        if not isinstance(p, (int, float)) or abs(float(p) - v) > 1e-12 * max(1.0, abs(v)):
            return False
    return True


def _scalar(params: Mapping[str, Any], key: str) -> float | None:
    p = params[key]
    if isinstance(p, torch.Tensor):
        return float(p) if p.numel() == 1 else None
    return float(p) if isinstance(p, (int, float)) else None


def _spectrum_invariants(spectrum: tuple[float, ...], provenance: str, ky: float | None = None) -> Invariants:
    return Invariants(
        max_lyapunov=spectrum[0],
        lyapunov_spectrum=spectrum,
        kaplan_yorke_dimension=ky,
        max_lyapunov_source="first exponent of the spectrum (per iteration)",
        provenance=provenance,
    )


# ---------------------------------------------------------------------------------------------
# invariants that are known
# ---------------------------------------------------------------------------------------------


def _logistic_invariants(p: Mapping[str, Any]) -> Invariants | None:
    if _is(p, r=4.0):
        return _spectrum_invariants(
            (math.log(2.0),),
            "exact: r=4 logistic map is conjugate to the slope-2 tent map by x = sin^2(pi*theta/2) "
            "(Ulam & von Neumann 1947), lambda = ln 2 per iteration",
            ky=1.0,
        )
    return None


def _tent_invariants(p: Mapping[str, Any]) -> Invariants | None:
    mu = _scalar(p, "mu")
    if mu is None or not 0.5 < mu <= 1.0:
        return None
    return _spectrum_invariants(
        (math.log(2.0 * mu),),
        f"exact: |f'(x)| = 2*mu everywhere, so lambda = ln(2 mu) = {math.log(2 * mu):.6f} per iteration "
        "on the chaotic attractor (0.5 < mu <= 1)",
        ky=1.0,
    )


def _chebyshev_invariants(p: Mapping[str, Any]) -> Invariants | None:
    a = _scalar(p, "a")
    if a is None or a < 2 or a != round(a):
        return None
    return _spectrum_invariants(
        (math.log(a),),
        f"exact: for integer a = {int(a)} the map is the Chebyshev polynomial T_a, conjugate by "
        "x = cos(pi*theta) to theta -> a*theta (mod 2, folded), so lambda = ln a per iteration",
        ky=1.0,
    )


def _henon_invariants(p: Mapping[str, Any]) -> Invariants | None:
    if _is(p, a=1.4, b=0.3):
        return _spectrum_invariants(
            (0.41922, -1.62319),
            "Sprott, J.C. (2003) Chaos and Time-Series Analysis, Oxford UP, Appendix A (Henon map "
            "a=1.4, b=0.3): lambda = 0.41922, -1.62319 per iteration, D_KY = 1.2583; "
            "sum = ln b exactly",
            ky=1.2583,
        )
    return None


def _ikeda_invariants(p: Mapping[str, Any]) -> Invariants | None:
    if _is(p, u=0.9):
        return _spectrum_invariants(
            (0.50760, -0.71832),
            "Sprott, J.C. (2003) Chaos and Time-Series Analysis, Oxford UP, Appendix A (Ikeda map "
            "a=1, b=0.9, kappa=0.4, eta=6): lambda = 0.50760, -0.71832 per iteration, "
            "D_KY = 1.7067; sum = 2 ln u exactly; checked by this package's QR estimate",
            ky=1.7067,
        )
    return None


def _baker_invariants(p: Mapping[str, Any]) -> Invariants | None:
    a = _scalar(p, "a")
    if a is None or not 0.0 < a <= 1.0:
        return None
    l1, l2 = math.log(_BAKER_STRETCH), math.log(a / 2.0)
    return _spectrum_invariants(
        (l1, l2),
        "exact: the Jacobian is diag(2 - 1e-10, a/2) everywhere (dysts' stretch factor 2 - 1e-10)",
        ky=1.0 + l1 / abs(l2),
    )


def _kaplan_yorke_invariants(p: Mapping[str, Any]) -> Invariants | None:
    alpha = _scalar(p, "alpha")
    if alpha is None or not 0.0 < abs(alpha) < 1.0:
        return None
    l1, l2 = math.log(2.0), math.log(abs(alpha))
    return _spectrum_invariants(
        (l1, l2),
        "exact: the Jacobian is lower-triangular with diagonal (2, alpha), so lambda = ln 2, ln|alpha| "
        "(Kaplan & Yorke 1979); D_KY = 1 + ln 2 / |ln alpha|",
        ky=1.0 + l1 / abs(l2),
    )


# ---------------------------------------------------------------------------------------------
# one-dimensional maps
# ---------------------------------------------------------------------------------------------


@_catalog_map("Logistic", "Logistic map x' = r x (1 - x) (May 1976).", _logistic_invariants)
def logistic(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Logistic map x' = r x (1 − x). Shape ``(..., 1)``."""
    v = _one(x)
    return _out1(p["r"] * v * (1 - v))


@_catalog_map("Ricker", "Ricker population map x' = x exp(a − x) (Ricker 1954).")
def ricker(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Ricker map x' = x exp(a − x). Shape ``(..., 1)``."""
    v = _one(x)
    return _out1(v * torch.exp(p["a"] - v))


@_catalog_map("Tent", "Tent map x' = mu (1 − 2|x − 1/2|) (slope 2 mu).", _tent_invariants)
def tent(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Tent map x' = μ (1 − 2 |x − 1/2|) as in dysts (peak value μ, slope ±2μ). Shape ``(..., 1)``."""
    v = _one(x)
    return _out1(p["mu"] * (1 - 2 * torch.abs(v - 0.5)))


@_catalog_map("Gauss", "Gauss (mouse) map x' = exp(−a x²) + b.")
def gauss(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Gauss map x' = exp(−a x²) + b. Shape ``(..., 1)``."""
    v = _one(x)
    return _out1(torch.exp(-p["a"] * v**2) + p["b"])


@_catalog_map("Chebyshev", "Chebyshev map x' = cos(a arccos x) on [−1, 1].", _chebyshev_invariants)
def chebyshev(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Chebyshev map x' = cos(a arccos x), defined for x in [−1, 1]. Shape ``(..., 1)``."""
    v = _one(x)
    return _out1(torch.cos(p["a"] * torch.arccos(v)))


@_catalog_map("Circle", "Sine circle map θ' = θ + Ω + (k / 2π) sin(2π θ) (Arnold), not reduced mod 1.")
def circle(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Circle map θ' = θ + ω + (k / 2π) sin(2π θ) (lifted: not reduced mod 1). Shape ``(..., 1)``."""
    v = _one(x)
    return _out1(v + p["omega"] + (p["k"] / _TWO_PI) * torch.sin(_TWO_PI * v))


# ---------------------------------------------------------------------------------------------
# two-dimensional maps
# ---------------------------------------------------------------------------------------------


@_catalog_map(
    "Henon",
    "Hénon map x' = 1 − a x² + y, y' = b x (Hénon 1976).",
    _henon_invariants,
    citation="Hénon, M. (1976). A two-dimensional mapping with a strange attractor. Commun. Math. Phys. 50, 69-77.",
)
def henon(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Hénon map: x' = 1 − a x² + y, y' = b x (det J = −b). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(1 - p["a"] * u**2 + v, p["b"] * u)


@_catalog_map(
    "Ikeda",
    "Ikeda map z' = 1 + u z exp(i (0.4 − 6 / (1 + |z|²))) (Ikeda 1979; Hammel, Jones & Moloney 1985).",
    _ikeda_invariants,
)
def ikeda(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Ikeda map z' = 1 + u z e^{i t}, t = 0.4 − 6 / (1 + x² + y²), z = x + i y. Shape ``(..., 2)``.

    The Jacobian determinant is u² everywhere (rotation times contraction by u).
    """
    u_, v = x.unbind(-1)
    t = 0.4 - 6.0 / (1 + u_**2 + v**2)
    c, s = torch.cos(t), torch.sin(t)
    return _out2(1 + p["u"] * (u_ * c - v * s), p["u"] * (u_ * s + v * c))


@_catalog_map(
    "Chirikov",
    "Chirikov standard map p' = p + k sin x, x' = x + p' (not reduced mod 2π); area-preserving.",
)
def chirikov(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Standard (Chirikov) map on state (p, x): p' = p + k sin x, x' = x + p'. det J = 1.

    As in dysts the state order is (momentum, angle) and nothing is reduced mod 2π. Shape ``(..., 2)``.
    """
    mom, ang = x.unbind(-1)
    mom_next = mom + p["k"] * torch.sin(ang)
    return _out2(mom_next, ang + mom_next)


@_catalog_map("Bogdanov", "Bogdanov map (Arrowsmith, Cartwright, Lansbury & Place 1993).")
def bogdanov(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Bogdanov map: y' = (1 + ε) y + k x (x − 1) + μ x y, x' = x + y'. Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    v_next = (1 + p["eps"]) * v + p["k"] * u * (u - 1) + p["mu"] * u * v
    return _out2(u + v_next, v_next)


_BAKER_STRETCH = 2.0 - 1e-10  # dysts' stretch factor (keeps 2x mod 1 off the dyadic rationals)


@_catalog_map(
    "Baker", "Generalised baker's map x' = 2x mod 1, y' = (a y + floor(2x)) / 2.", _baker_invariants
)
def baker(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Baker's map with dysts' stretch s = 2 − 1e-10: x' = s x − ⌊s x⌋, y' = (a y + ⌊s x⌋) / 2.

    Shape ``(..., 2)``; det J = s a / 2.
    """
    u, v = x.unbind(-1)
    sx = _BAKER_STRETCH * u
    fl = torch.floor(sx)
    return _out2(sx - fl, (p["a"] * v + fl) / 2)


@_catalog_map("DeJong", "Peter de Jong map x' = sin(a y) − cos(b x), y' = sin(c x) − cos(d y).")
def dejong(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """De Jong map x' = sin(a y) − cos(b x), y' = sin(c x) − cos(d y). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(torch.sin(p["a"] * v) - torch.cos(p["b"] * u), torch.sin(p["c"] * u) - torch.cos(p["d"] * v))


@_catalog_map("Svensson", "Johnny Svensson map x' = d sin(a x) − sin(b y), y' = c cos(a x) + cos(b y).")
def svensson(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Svensson map x' = d sin(a x) − sin(b y), y' = c cos(a x) + cos(b y). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(
        p["d"] * torch.sin(p["a"] * u) - torch.sin(p["b"] * v),
        p["c"] * torch.cos(p["a"] * u) + torch.cos(p["b"] * v),
    )


@_catalog_map("Bedhead", "Bedhead map x' = sin(x y / b) y + cos(a x − y), y' = x + sin(y) / b.")
def bedhead(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Bedhead map x' = sin(x y / b) y + cos(a x − y), y' = x + sin(y) / b. Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(torch.sin(u * v / p["b"]) * v + torch.cos(p["a"] * u - v), u + torch.sin(v) / p["b"])


def _gumowski_mira_g(z: torch.Tensor, a: Any) -> torch.Tensor:
    return a * z + 2 * (1 - a) * z**2 / (1 + z**2)


@_catalog_map(
    "GumowskiMira", "Gumowski–Mira map x' = b y + g(x), y' = g(x') − x, g(z) = a z + 2(1−a) z²/(1+z²)."
)
def gumowski_mira(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Gumowski–Mira map (dysts form): x' = b y + g(x), y' = g(x') − x. Shape ``(..., 2)``.

    g(z) = a z + 2 (1 − a) z² / (1 + z²).
    """
    u, v = x.unbind(-1)
    u_next = p["b"] * v + _gumowski_mira_g(u, p["a"])
    return _out2(u_next, _gumowski_mira_g(u_next, p["a"]) - u)


@_catalog_map("Hopalong", "Hopalong map (Martin 1986) in dysts' form.")
def hopalong(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Hopalong map (dysts form): x' = y − 1 − sqrt(|b x − 1 − c|) sign(x − 1), y' = a − x − 1.

    Shape ``(..., 2)``. Not differentiable where b x − 1 − c = 0 or x = 1.
    """
    u, v = x.unbind(-1)
    return _out2(v - 1 - torch.sqrt(torch.abs(p["b"] * u - 1 - p["c"])) * torch.sign(u - 1), p["a"] - u - 1)


@_catalog_map("Tinkerbell", "Tinkerbell map x' = x² − y² + a x + b y, y' = 2 x y + c x + d y.")
def tinkerbell(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Tinkerbell map x' = x² − y² + a x + b y, y' = 2 x y + c x + d y. Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(u**2 - v**2 + p["a"] * u + p["b"] * v, 2 * u * v + p["c"] * u + p["d"] * v)


@_catalog_map("Pickover", "Clifford Pickover map x' = sin(a y) + c cos(a x), y' = sin(b x) + d cos(b y).")
def pickover(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Pickover map x' = sin(a y) + c cos(a x), y' = sin(b x) + d cos(b y). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(
        torch.sin(p["a"] * v) + p["c"] * torch.cos(p["a"] * u),
        torch.sin(p["b"] * u) + p["d"] * torch.cos(p["b"] * v),
    )


@_catalog_map("MaynardSmith", "Maynard Smith map x' = y, y' = a y + b − x².")
def maynard_smith(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Maynard Smith map x' = y, y' = a y + b − x² (det J = 2x). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(v, p["a"] * v + p["b"] - u**2)


_KY_MODULUS = 0.99999995  # dysts' modulus for 2x mod 1 (keeps orbits off the dyadic rationals)


@_catalog_map(
    "KaplanYorke",
    "Kaplan–Yorke map x' = 2x mod 1, y' = alpha y + cos(4 pi x).",
    _kaplan_yorke_invariants,
    citation="Kaplan, J.L. & Yorke, J.A. (1979). Chaotic behavior of multidimensional difference equations. "
    "Lecture Notes in Mathematics 730, 204-227.",
)
def kaplan_yorke(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Kaplan–Yorke map x' = 2x mod m (m = 0.99999995 as in dysts), y' = α y + cos(4π x). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(torch.remainder(2 * u, _KY_MODULUS), p["alpha"] * v + torch.cos(2 * _TWO_PI * u))


@_catalog_map(
    "Gingerbreadman", "Gingerbreadman map x' = 1 − y + |x|, y' = x (Devaney 1984); area-preserving."
)
def gingerbreadman(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Gingerbreadman map x' = 1 − y + |x|, y' = x (det J = 1). No parameters. Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(1 - v + torch.abs(u), u)


@_catalog_map("Duffing", "Duffing (Holmes) map x' = y, y' = −b x + a y − y³.", register_as="DuffingMap")
def duffing(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Duffing (Holmes) map x' = y, y' = −b x + a y − y³ (det J = b). Shape ``(..., 2)``."""
    u, v = x.unbind(-1)
    return _out2(v, -p["b"] * u + p["a"] * v - v**3)


# ---------------------------------------------------------------------------------------------
# blinking vortex map
# ---------------------------------------------------------------------------------------------

_BV_BISECTION_STEPS = 60
_BV_NEWTON_STEPS = 2


def _solve_kepler(rhs: torch.Tensor, ecc: torch.Tensor) -> torch.Tensor:
    """Root q of q − e sin q = rhs for 0 ≤ e ≤ 1 (unique: the left side is non-decreasing in q).

    Bracketing [rhs − e, rhs + e], fixed-count bisection, then Newton steps; all steps use
    ``torch.where`` so the solve is vmap-safe. The bracketing iterations are detached and the
    final Newton steps carry the gradient, which then equals the implicit-function derivative.
    """
    r0, e0 = rhs.detach(), ecc.detach()
    lo, hi = r0 - e0 - 1e-12, r0 + e0 + 1e-12
    for _ in range(_BV_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = mid - e0 * torch.sin(mid) - r0 > 0
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    q = 0.5 * (lo + hi)
    for _ in range(_BV_NEWTON_STEPS):
        fq = q - ecc * torch.sin(q) - rhs
        dq = 1 - ecc * torch.cos(q)
        q = q - fq / torch.where(dq.abs() > 1e-300, dq, torch.ones_like(dq))
    return q


@_catalog_map(
    "BlinkingVortexMap",
    "Aref's blinking-vortex map in polar coordinates (r, theta), as coded in dysts (one vortex phase).",
)
def blinking_vortex(x: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
    """Blinking-vortex map (Aref 1984) as evaluated by dysts 0.96 ``BlinkingVortexMap._rhs``.

    State (r, θ), shape ``(..., 2)``. With a2b = a²/b,
    λ² = (b² + r² − 2 b r cos θ) / (a2b² + r² − 2 a2b r cos θ), η = (b − λ² a2b)/(1 − λ²),
    ρ = |λ (a2b − b) / (1 − λ²)|, θ_p = atan2(r sin θ, r cos θ − η), e = 2λ/(1 + λ²),
    T_λ = (2π)² (ρ²/γ)(1 + λ²)/(1 − λ²); solve q − e sin q = θ_p − e sin θ_p + 2π t / T_λ;
    r' = sqrt(ρ² + η² + 2 ρ η cos q), θ' = atan2(ρ sin q, η + ρ cos q).

    dysts flips the sign of ``b`` after each call, but its ``_rhs`` receives the parameter list
    fixed at construction, so the map it evaluates (and this one) always uses the given ``b``.
    """
    rt, tt = x.unbind(-1)
    a, b, gamma, t = p["a"], p["b"], p["gamma"], p["t"]
    a2b = a**2 / b
    cos_tt = torch.cos(tt)
    lam2 = (b**2 + rt**2 - 2 * b * rt * cos_tt) / (a2b**2 + rt**2 - 2 * a2b * rt * cos_tt)
    lam = torch.sqrt(lam2)
    etac = (b - lam2 * a2b) / (1 - lam2)
    rho = torch.abs(lam / (1 - lam2) * (a2b - b))
    tp = torch.atan2(rt * torch.sin(tt), -etac + rt * cos_tt)
    ecc = 2 * lam / (1 + lam2)
    tlam = _TWO_PI**2 * (rho**2 / gamma) * (1 + lam2) / (1 - lam2)
    q = _solve_kepler(tp - ecc * torch.sin(tp) + _TWO_PI * t / tlam, ecc)
    r_out = torch.sqrt(rho**2 + etac**2 + 2 * rho * etac * torch.cos(q))
    th_out = torch.atan2(rho * torch.sin(q), etac + rho * torch.cos(q))
    return _out2(r_out, th_out)


__all__ = [
    "MAP_NAMES",
    "UNSUPPORTED",
    "baker",
    "bedhead",
    "blinking_vortex",
    "bogdanov",
    "chebyshev",
    "chirikov",
    "circle",
    "dejong",
    "duffing",
    "gauss",
    "gingerbreadman",
    "gumowski_mira",
    "henon",
    "hopalong",
    "ikeda",
    "kaplan_yorke",
    "logistic",
    "maynard_smith",
    "pickover",
    "ricker",
    "svensson",
    "tent",
    "tinkerbell",
]
