"""The result of a Lyapunov-spectrum computation and its accuracy warning.

:class:`LyapunovSpectrum` holds the exponents (sorted, per time unit), their running estimates and spread
over initial conditions, and the same-orbit identity check — Σλᵢ against ⟨∇·f⟩ (flows) or ⟨log|det J|⟩
(maps), the k-volume rate for partial spectra — that :func:`physics_metrics.lyapunov_spectrum_flow` and
:func:`physics_metrics.lyapunov_spectrum_map` compute along the way (Benettin et al., Meccanica 15, 1980;
the trace of the Jacobian is the phase-space contraction rate). :class:`LyapunovAccuracyWarning` is raised
when the identity fails beyond its tolerance.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._tangent import identity_check
from .errors import MetricInputError

logger = logging.getLogger(__name__)

__all__ = ["LyapunovAccuracyWarning", "LyapunovSpectrum"]


class LyapunovAccuracyWarning(UserWarning):
    """The same-orbit identity ``Σλ_i = ⟨∇·f⟩`` (or its ``k``-volume form) failed beyond ``rtol``.

    The exponents are then not trustworthy at the step used: the message names both sides of the
    identity, the step and what to do (a smaller ``dt``, ``step_control="auto"``, more
    ``max_refinements``; for maps a smaller ``qr_every``).
    """


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Result of a tangent-space QR Lyapunov computation.

    Attributes
    ----------
    exponents:
        ``(k,)`` mean over initial conditions of the exponents, sorted descending; units 1/time
        unit (flows, or maps with ``time_step``) or 1/step (maps).
    per_initial_condition:
        ``(B, k)`` exponent estimates of each initial condition, each row sorted descending.
    spread:
        ``(k,)`` standard deviation across initial conditions (``ddof=1``; zeros when ``B == 1``).
    running:
        ``(n_records, k)`` running estimate (mean over initial conditions) at ``times``: the
        cumulative log-stretching divided by the elapsed time, for convergence plots.
    running_per_initial_condition:
        ``(n_records, B, k)`` the same per initial condition (columns in the order of the final
        sorted row of that initial condition).
    times:
        ``(n_records,)`` elapsed averaging time (after the transient) of each record, in time units
        (flows, maps with ``time_step``) or steps (maps).
    total_time:
        Length of the averaging window in the same units.
    time_unit:
        ``"time"`` or ``"step"``: the unit the exponents are per.
    info:
        How it was computed: method, requested and used step (``dt``, ``dt_used``, ``refinement``
        = ``dt / dt_used``), the step-control attempts, initial frame, …
    divergence_mean:
        Mean over initial conditions of the same-orbit phase-space contraction rate: for flows
        ``(1/T) ∫_0^T ∇·f(x(t)) dt`` (the trace of the Jacobian along the orbits, from the JVPs);
        for maps ``⟨log |det J(x_n)|⟩`` per step (per time unit with ``time_step``). Only for full
        spectra (``k = D``); NaN otherwise. ``Σ exponents`` equals it when the integration is
        accurate.
    volume_rate:
        ``(B,)`` the right-hand side of the identity checked, per initial condition: for
        ``k = D`` the divergence above; for flows with ``k < D`` the growth rate of the
        ``k``-volume of the frame, ``(1/T) ∫ tr(Qᵀ J Q) dt``, which equals ``Σ_{i≤k} λ_i``. Empty
        when nothing was checked (maps with ``k < D``).
    identity_error:
        ``max_b |Σ_i λ_{b,i} − v_b| / max(|v_b|, Σ_i |λ_{b,i}|)`` over initial conditions ``b``
        (dimensionless; NaN when not checked).
    accurate:
        Whether the identity holds within the requested ``rtol`` (``None`` when not checked).
    """

    exponents: np.ndarray
    per_initial_condition: np.ndarray
    spread: np.ndarray
    running: np.ndarray
    running_per_initial_condition: np.ndarray
    times: np.ndarray
    total_time: float
    time_unit: str = "time"
    info: dict = field(default_factory=dict)
    divergence_mean: float = math.nan
    volume_rate: np.ndarray = field(default_factory=lambda: np.zeros(0))
    identity_error: float = math.nan
    accurate: bool | None = None

    @property
    def n_initial_conditions(self) -> int:
        return int(self.per_initial_condition.shape[0])

    @property
    def standard_error(self) -> np.ndarray:
        """``(k,)`` standard error of the mean over initial conditions, ``spread / √B``."""
        return self.spread / math.sqrt(max(self.n_initial_conditions, 1))

    @property
    def maximum(self) -> float:
        """The largest exponent (``max(exponents)``)."""
        return float(np.max(self.exponents))

    @property
    def sum_exponents(self) -> float:
        """``Σ_i λ_i`` of :attr:`exponents` (compare with :attr:`divergence_mean` for full spectra)."""
        return float(np.sum(self.exponents))

    @property
    def identity_residual(self) -> np.ndarray:
        """``(B,)`` ``Σ_i λ_{b,i} − v_b`` per initial condition (empty when not checked)."""
        if self.volume_rate.size == 0:
            return np.zeros(0)
        return self.per_initial_condition.sum(axis=1) - self.volume_rate

    def zero_exponents(self, tol: float) -> int:
        """Number of exponents with ``|λ_i| ≤ tol`` (units of the exponents): flows have one per
        continuous symmetry of the orbit (the flow direction; a conserved energy adds one)."""
        if not (math.isfinite(tol) and tol > 0):
            raise MetricInputError(f"tol must be a positive finite number, got {tol!r}")
        return int(np.sum(np.abs(self.exponents) <= tol))

    @property
    def kaplan_yorke_dimension(self) -> float:
        """Kaplan–Yorke dimension of :attr:`exponents` (see :func:`dimensions.kaplan_yorke_dimension`).

        Only meaningful when all ``D`` exponents (or at least enough of them for the cumulative
        sum to turn negative) were computed.
        """
        from .dimensions import kaplan_yorke_dimension

        return kaplan_yorke_dimension(self.exponents)

    def drift(self, fraction: float = 0.5) -> np.ndarray:
        """``(k,)`` change of the running mean over the last ``fraction`` of the records."""
        if not 0.0 < fraction < 1.0:
            raise MetricInputError(f"fraction must lie in (0, 1), got {fraction}")
        n = self.running.shape[0]
        if n < 2:
            return np.full(self.exponents.shape, np.inf)
        start = min(n - 2, max(0, int(round((1.0 - fraction) * (n - 1)))))
        return np.abs(self.running[-1] - self.running[start])

    def converged(self, tol: float, fraction: float = 0.5) -> bool:
        """True when every exponent is settled to an absolute tolerance ``tol`` (units of the exponents).

        Rule: the running mean moved by at most ``tol`` over the last ``fraction`` of the averaging
        window (:meth:`drift`) **and** the standard error across initial conditions
        (:attr:`standard_error`, only when ``B > 1``) is at most ``tol``.
        """
        if tol <= 0:
            raise MetricInputError(f"tol must be positive, got {tol}")
        ok = bool(np.all(self.drift(fraction) <= tol))
        if self.n_initial_conditions > 1:
            ok = ok and bool(np.all(self.standard_error <= tol))
        return ok


# --------------------------------------------------------------------------------------------
# result


def _make_result(times, running_ic, per_ic, total_time, unit, info, volume_rate, full, rtol, what, warn_on):
    """Sort each initial condition's exponents (and its running history), average, attach the check."""
    order = np.argsort(-per_ic, axis=1, kind="stable")
    per_ic = np.take_along_axis(per_ic, order, axis=1)
    running_ic = np.take_along_axis(running_ic, order[None, :, :], axis=2)
    b = per_ic.shape[0]
    spread = per_ic.std(axis=0, ddof=1) if b > 1 else np.zeros(per_ic.shape[1])
    checked = volume_rate is not None
    identity_error, accurate, divergence = math.nan, None, math.nan
    if checked:
        rel, accurate = identity_check(per_ic, volume_rate, rtol)
        identity_error = float(np.max(rel))
        if full:
            divergence = float(np.mean(volume_rate))
    result = LyapunovSpectrum(
        exponents=per_ic.mean(axis=0),
        per_initial_condition=per_ic,
        spread=spread,
        running=running_ic.mean(axis=1),
        running_per_initial_condition=running_ic,
        times=times,
        total_time=float(total_time),
        time_unit=unit,
        info=info,
        divergence_mean=divergence,
        volume_rate=np.zeros(0) if volume_rate is None else np.asarray(volume_rate, dtype=np.float64),
        identity_error=identity_error,
        accurate=accurate,
    )
    if accurate is False and warn_on:
        worst = int(np.argmax(rel))
        side = "⟨∇·f⟩" if full and what.endswith("flow") else ("⟨log|det J|⟩" if full else "⟨tr(QᵀJQ)⟩")
        lhs = "Σλ" if full else f"Σ_(i≤{per_ic.shape[1]}) λ_i"
        advice = (
            "use a smaller dt, step_control='auto' (the default) or a larger max_refinements"
            if what.endswith("flow")
            else "use qr_every=1 and float64 (the tangent vectors collapsed between QR steps)"
        )
        where = f" at dt = {info['dt_used']:.6g}" if "dt_used" in info else ""
        warnings.warn(
            f"{what}: the same-orbit identity {lhs} = {side} fails: {lhs} = {per_ic[worst].sum():.6g} vs "
            f"{side} = {volume_rate[worst]:.6g} (initial condition {worst}; relative error {identity_error:.3g} "
            f"> rtol = {rtol:g}){where}; the exponents are not accurate: {advice}",
            LyapunovAccuracyWarning,
            stacklevel=3,
        )
    return result
