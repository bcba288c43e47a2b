"""Lyapunov spectra of flows and maps by tangent-space QR (Benettin / Shimada–Nagashima), checked.

The state ``x`` and ``k`` tangent vectors ``Q = [q_1 … q_k]`` are evolved together; every few steps
``Q`` is re-orthonormalised by a QR decomposition ``Q = Q' R`` (sign-fixed so that ``diag R > 0``)
and the logarithms of the stretching factors ``R_ii`` are accumulated. After a total time ``T``

    λ_i ≈ (1/T) Σ_n log R_ii^(n),        i = 1 … k,

the i-th Lyapunov exponent, in units of 1/(time unit of the vector field) for flows and 1/step
for maps (or 1/time unit when a map's ``time_step`` is given). The exponents are returned sorted,
largest first. References: Benettin, Galgani, Giorgilli & Strelcyn, Meccanica 15 (1980) 9–30;
Shimada & Nagashima, Prog. Theor. Phys. 61 (1979) 1605; Pikovsky & Politi, *Lyapunov Exponents*
(CUP 2016), ch. 3.

Tangent vectors are moved with Jacobian–vector products (forward-mode automatic differentiation,
:mod:`torch.autograd.forward_ad`), so the Jacobian is never formed and no finite differences are
used. The ``k`` tangent columns of each of the ``B`` initial conditions are evaluated in one
batched call of the vector field on ``B·k`` rows: the vector field (or map) must therefore act
row by row, i.e. row ``i`` of its output may depend only on row ``i`` of its input — true for
the right-hand sides in :mod:`chaosbench_py` and for one-step maps of emulators in eval mode.

Initial frame
-------------
By default the initial tangent frame is the first ``k`` columns of one random orthonormal
``D × D`` matrix (seeded, the same for every initial condition). The first ``k`` unit vectors —
``initial_frame="identity"``, the behaviour before version 0.2 — are not generic: when they span
an invariant subspace of the tangent dynamics (a clock coordinate ``dτ/dt = 1``, uncoupled
coordinates, a diagonal map) the frame never leaves it and the "leading" exponents are the wrong
ones (``diag(0.5, 0.9)`` with ``k = 1`` gives ``log 0.5``).

Integration of flows and the accuracy check
-------------------------------------------
Flows are integrated with the classical 4th-order Runge–Kutta scheme applied jointly to
``(x, Q)``: ``dx/dt = f(t, x)``, ``dQ/dt = J(t, x) Q`` (the variational equation), which is the
exact tangent map of the RK4 step of the state. RK4 is only stable for ``h·|μ| ≲ 2.78`` on the
local Jacobian eigenvalues ``μ``; beyond that, and already well before it, the strongly
contracting tangent directions are integrated wrongly while the state may look fine (a stiff
system at ``h = period/100`` can return a positive exponent for a direction that contracts at
rate 15). This is detected along the computed orbit by the **same-orbit volume identity**: the
``k``-volume spanned by the frame grows at the rate ``tr(Qᵀ J Q)`` (Liouville's formula on the
subspace; the continuous QR method of Dieci, Russell & Van Vleck, SIAM J. Numer. Anal. 34 (1997)
402), so on every orbit and every averaging window

    Σ_{i≤k} λ_i = (1/T) ∫_0^T tr(Qᵀ J Q) dt,        and for k = D:   Σ_i λ_i = (1/T) ∫_0^T ∇·f dt.

The left side comes from the RK4 tangent maps, the right side from the Jacobian sampled along the
same orbit at the QR points (by the JVPs already computed; trapezoid rule, whose error on a long
average is O(h²/T) by the Euler–Maclaurin formula). Their relative difference

    identity_error = max_b |Σ_i λ_{b,i} − v_b| / max(|v_b|, Σ_i |λ_{b,i}|),

``b`` running over the initial conditions and ``v_b`` the right-hand side, is the discretisation
error of the tangent integration; :attr:`LyapunovSpectrum.accurate` says whether it is within
``rtol`` (plus an absolute floor of ``1e-9`` per time unit for spectra that are all ≈ 0), and a
:class:`LyapunovAccuracyWarning` is issued when it is not.

With ``step_control="auto"`` (the default) the step ``dt`` is an upper bound: the first eighth of
the run is a pilot whose identity error must be below ``rtol/2``; otherwise the step is divided
by ``r = 2^⌈log₂ (err / (rtol/2))^{1/4}⌉`` (RK4's error is ∝ h⁴; 2 ≤ r ≤ 16; 4 after a non-finite
state) and the pilot repeated. An accepted pilot is the beginning of the run, so the result is
exactly that of a fixed-step run at the final step. After the run the identity is checked again
on the averaging window and the step refined (and the run repeated) if it fails there. At most
``max_refinements`` halvings (``dt / 2^max_refinements``). A blow-up that recurs at the same time
after a refinement is a real one and is raised. ``step_control="fixed"`` integrates at ``dt``
and only checks (and warns).

Speed: for float64 on the CPU the vector field is translated into C once per call (its
operations recorded on symbols, differentiated by the chain rule; :mod:`._native_tangent`) and
the RK4 tangent step runs as one compiled call per step — checked against the torch field and its
JVPs before use, the same spectrum to rounding. Fields that do not translate (data-dependent
branches, ``torch.where``, tensor parameters …), other dtypes and devices run the torch step traced
into a TorchScript graph, which is kept per process and reused by later calls with the same field
and shapes after a one-step check against eager (:mod:`._trace_cache`). ``info["engine"]`` says
which ran.

Errors: the discretisation error of the exponents is O(h⁴); the statistical error of the
finite-time average decays like 1/√T (spread over initial conditions) and its bias from the
initial tangent orientation like 1/T (use ``transient_steps``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch

from ._native_tangent import native_tangent_step
from ._tangent import (
    _accelerate,
    _batched_jvp,
    _check_callable_output,
    _check_int,
    _check_positive,
    _common_checks,
    _identity,
    _initial_frame,
    _NonFinite,
    _quiet_torchscript_deprecation,
    _refinement_factor,
    _TangentRun,
)
from ._threads import single_threaded_if_small
from ._trace_cache import callable_key
from .errors import MetricInputError, NonFiniteInputError
from .lyapunov_result import LyapunovAccuracyWarning, LyapunovSpectrum, _make_result

logger = logging.getLogger(__name__)

__all__ = [
    "LyapunovAccuracyWarning",
    "LyapunovSpectrum",
    "lyapunov_spectrum_flow",
    "lyapunov_spectrum_map",
]

_PILOT_FRACTION = 8  # the pilot is the first 1/8 of the run (transient included)


# --------------------------------------------------------------------------------------------
# public API


def lyapunov_spectrum_flow(
    vector_field: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0,
    *,
    dt: float,
    n_steps: int,
    n_exponents: int | None = None,
    qr_every: int = 1,
    transient_steps: int = 0,
    t0: float = 0.0,
    record_every: int | None = None,
    seed: int | None = 0,
    initial_frame="random",
    step_control: str = "auto",
    rtol: float = 1e-3,
    max_refinements: int = 6,
    warn: bool = True,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    trace: bool = True,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of the flow ``dx/dt = f(t, x)``, batched over initial conditions.

    Accurate by default: the RK4 step is refined automatically until the same-orbit identity
    ``Σ_{i≤k} λ_i = (1/T)∫ tr(QᵀJQ) dt`` (``= ⟨∇·f⟩`` for the full spectrum) holds within ``rtol``
    (see the module docstring for the rule); the result reports the identity
    (:attr:`LyapunovSpectrum.divergence_mean`, ``identity_error``, ``accurate``) and a
    :class:`LyapunovAccuracyWarning` is issued when it fails.

    Parameters
    ----------
    vector_field:
        ``f(t, x)`` with ``x`` a ``(B, D)`` tensor and ``t`` a 0-d tensor, returning ``(B, D)``;
        rows must be independent (e.g. ``chaosbench_py`` ``Flow.rhs``). Must be differentiable by
        torch forward-mode AD.
    x0:
        ``(D,)`` or ``(B, D)`` initial conditions (numpy, torch or sequence). Should lie on (or
        near) the attractor; otherwise use ``transient_steps``.
    dt:
        RK4 step in the time unit of ``f`` — with ``step_control="auto"`` the largest step, which
        is divided by ``2^m`` (``m ≤ max_refinements``) where the identity fails; the time grid of
        ``n_steps``, ``transient_steps`` and ``record_every`` stays in units of ``dt``.
    n_steps:
        Number of ``dt`` steps averaged over (after the transient); averaging time ``T = n_steps·dt``.
    n_exponents:
        ``k``, how many leading exponents (default: all ``D``).
    qr_every:
        Re-orthonormalise every this many integration steps (of the refined step; 1 is safest;
        larger is cheaper but the tangent vectors must not collapse numerically in between).
    transient_steps:
        ``dt`` steps integrated first (state and frame, with QR) without accumulating: lets the
        state reach the attractor and the frame align with the Lyapunov vectors.
    t0:
        Initial time (matters for non-autonomous fields).
    record_every:
        Record the running estimate every this many ``dt`` steps (default: ~1000 records).
    seed:
        Seed of the random initial frame (``None``: torch's global generator).
    initial_frame:
        ``"random"`` (default; one random orthonormal frame for all initial conditions),
        ``"identity"`` (the first ``k`` unit vectors: not generic, see the module docstring), or an
        array ``(D, k)`` / ``(B, D, k)`` (orthonormalised).
    step_control:
        ``"auto"`` (refine the step until the identity holds) or ``"fixed"`` (integrate at ``dt``,
        only check and warn).
    rtol:
        Tolerance of the identity (relative, see ``identity_error``); the pilot must reach ``rtol/2``.
    max_refinements:
        At most this many halvings of ``dt`` in total (``auto``).
    warn:
        Issue a :class:`LyapunovAccuracyWarning` when the identity fails (default ``True``).
    dtype, device:
        Computation dtype (float64 default) and device.
    trace:
        Run the tangent step as generated C (float64 CPU, fields that translate) or trace it into
        a graph of plain tensor ops run by TorchScript (default; much faster for small systems).
        Set ``False`` for vector fields with value-dependent Python control flow (tracing would
        freeze one branch): the eager torch step then runs.

    Returns
    -------
    LyapunovSpectrum
        Exponents in 1/time unit of ``f``, sorted descending; ``info["dt_used"]`` is the step
        used, ``info["attempts"]`` the step-control history ``(stage, dt, identity error)``.

    Raises
    ------
    MetricInputError (ValueError)
        Bad shapes or arguments (``n_exponents > D``, ``dt <= 0``, …), named.
    NonFiniteInputError (ValueError, FloatingPointError)
        Non-finite ``x0``, or the state or tangent frame became NaN/inf at every step tried (a
        finite-time blow-up); the message names the step, time and initial conditions.
    """
    dt = _check_positive("dt", dt)
    if isinstance(t0, bool) or not (isinstance(t0, int | float | np.floating) and math.isfinite(t0)):
        raise MetricInputError(f"t0 must be a finite number, got {t0!r}")
    if step_control not in ("auto", "fixed"):
        raise MetricInputError(f"step_control must be 'auto' or 'fixed', got {step_control!r}")
    max_refinements = _check_int("max_refinements", max_refinements, 0)
    x, d, k, n_steps, qr_every, transient_steps, record_every, rtol = _common_checks(
        x0, n_steps, n_exponents, qr_every, transient_steps, record_every, rtol, dtype, device
    )
    b = x.shape[0]
    q0, frame_info = _initial_frame(initial_frame, seed, b, d, k, x.dtype, x.device)
    t0_t = torch.tensor(float(t0), dtype=x.dtype, device=x.device)

    def rk4_tangent(t: torch.Tensor, hh: torch.Tensor, xs: torch.Tensor, qs: torch.Tensor):
        """One RK4 step of (x, Q) (the Q-part is the exact tangent map of the state's step) and
        ``tr(Qᵀ J Q)`` at the start of the step."""

        def at(tt: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda z: vector_field(tt, z)

        half = 0.5 * hh
        k1x, k1q = _batched_jvp(at(t), xs, qs)
        k2x, k2q = _batched_jvp(at(t + half), xs + half * k1x, qs + half * k1q)
        k3x, k3q = _batched_jvp(at(t + half), xs + half * k2x, qs + half * k2q)
        k4x, k4q = _batched_jvp(at(t + hh), xs + hh * k3x, qs + hh * k3q)
        sixth = hh / 6.0
        x_new = xs + sixth * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        q_new = qs + sixth * (k1q + 2.0 * k2q + 2.0 * k3q + k4q)
        return x_new, q_new, (qs * k1q).sum(dim=(1, 2))

    with torch.no_grad(), _quiet_torchscript_deprecation():
        _check_callable_output(vector_field, (t0_t, x), "vector_field", d)
        h_example = torch.tensor(dt, dtype=x.dtype, device=x.device)
        # generated C where the vector field translates (float64 CPU); else the traced torch step,
        # which depends only on vector_field (and the shapes) and is reused by later calls
        native = native_tangent_step(vector_field, t0_t, x, q0) if trace else None
        step_fn = native or _accelerate(
            rk4_tangent, (t0_t, h_example, x, q0), trace, "lyapunov_spectrum_flow", callable_key(vector_field)
        )
    engine = "C (generated)" if native is not None else ("torch (traced)" if trace else "torch (eager)")

    total_user = transient_steps + n_steps
    pilot_user = total_user if step_control == "fixed" else min(total_user, -(-total_user // _PILOT_FRACTION))
    max_r = 2**max_refinements if step_control == "auto" else 1
    attempts: list[tuple[str, float, float]] = []
    r = 1
    failed_at: tuple[float, float] | None = None  # (time, step) of the last non-finite failure
    with torch.no_grad(), _quiet_torchscript_deprecation(), single_threaded_if_small(q0):
        while True:
            h = dt / r
            h_t = torch.tensor(h, dtype=x.dtype, device=x.device)

            def advance(xs, qs, n, h_t=h_t):
                return step_fn(t0_t + n * h_t, h_t, xs, qs)

            def end_rate(n, xs, qs, h_t=h_t):
                tt = t0_t + n * h_t
                if native is not None:
                    return native.rate(tt, xs, qs)
                _, jq = _batched_jvp(lambda z: vector_field(tt, z), xs, qs)
                return (qs * jq).sum(dim=(1, 2))

            run = _TangentRun(
                advance,
                x,
                q0.clone(),
                total=total_user * r,
                avg_start=transient_steps * r,
                qr_every=qr_every,
                record_every=record_every * r,
                h=h,
                kind="rate",
                end_rate=end_rate,
            )
            try:
                if pilot_user < total_user:
                    # the pilot's identity is taken over its second half (the initial frame has turned)
                    run.mark(pilot_user * r // 2)
                    run.run_until(pilot_user * r)
                    err, ok = _identity(*run.window(pilot_user * r // 2), rtol / 2)
                    attempts.append(("pilot", h, err))
                    if not ok and r < max_r:
                        r = min(max_r, r * _refinement_factor(err, rtol / 2))
                        continue
                run.run_until(total_user * r)
            except _NonFinite as exc:
                t_fail = exc.step * h
                attempts.append(("non-finite", h, math.inf))
                # a blow-up that a smaller step does not postpone is the orbit's, not the integrator's
                recurring = failed_at is not None and t_fail <= failed_at[0] + 2.0 * failed_at[1]
                if r >= max_r or recurring:
                    raise NonFiniteInputError(
                        f"lyapunov_spectrum_flow: NaN/inf or degenerate {exc.kind} at step {exc.step} "
                        f"(t = {float(t0) + t_fail:.6g}, dt = {h:.6g}) for initial condition(s) {exc.ics[:10]}"
                        + (
                            " (it recurs no later with a 4× smaller step: the orbit diverges; otherwise pass a smaller dt)"
                            if recurring
                            else " (orbit diverged, or dt / qr_every too large)"
                        )
                    ) from None
                failed_at = (t_fail, h)
                r = min(max_r, r * 4)
                continue
            log_sum, vol, duration = run.window(transient_steps * r)
            err, ok = _identity(log_sum, vol, duration, rtol)
            attempts.append(("run", h, err))
            if not ok and r < max_r:
                r = min(max_r, r * _refinement_factor(err, rtol))
                continue
            break
    times = np.asarray(run.rec_t, dtype=np.float64)
    running_ic = torch.stack(run.rec_v).cpu().numpy()  # (n_records, B, k)
    per_ic = running_ic[-1]
    volume_rate = (vol / duration).cpu().numpy()
    info = {
        "method": "RK4 + tangent QR",
        "engine": engine,
        "dt": dt,
        "dt_used": h,
        "refinement": r,
        "step_control": step_control,
        "rtol": rtol,
        "attempts": attempts,
        "n_steps": n_steps,
        "transient_steps": transient_steps,
        "qr_every": qr_every,
        "initial_frame": frame_info,
        "n_initial_conditions": b,
    }
    logger.debug("lyapunov_spectrum_flow: %s", info)
    return _make_result(
        times,
        running_ic,
        per_ic,
        n_steps * dt,
        "time",
        info,
        volume_rate,
        k == d,
        rtol,
        "lyapunov_spectrum_flow",
        warn,
    )


def lyapunov_spectrum_map(
    step: Callable[[torch.Tensor], torch.Tensor],
    x0,
    *,
    n_steps: int,
    n_exponents: int | None = None,
    transient_steps: int = 0,
    qr_every: int = 1,
    time_step: float | None = None,
    record_every: int | None = None,
    seed: int | None = 0,
    initial_frame="random",
    rtol: float = 1e-3,
    warn: bool = True,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    trace: bool = True,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of the map ``x_{t+1} = step(x_t)``, batched over initial conditions.

    ``λ_i = (1/N) Σ_n log R_ii^(n)`` per step, where ``Q_{n+1} R^(n) = J(x_n) Q_n`` (tangent QR with
    Jacobian–vector products of ``step``). With ``time_step = Δt`` (the time one step represents,
    e.g. an emulator's output interval) the exponents are divided by ``Δt`` and come out per time
    unit; ``times`` are then in time units too.

    For the full spectrum (``k = D``) the same-orbit identity ``Σ_i λ_i = ⟨log |det J(x_n)|⟩`` is
    checked, with ``log |det J| = log |det(J Q)| − log |det Q|`` from an LU factorisation
    independent of the QR: it fails only when the tangent vectors collapse numerically between
    QR steps (``qr_every`` too large, float32) — a :class:`LyapunovAccuracyWarning` then. For
    ``k < D`` nothing is checked (the ``k``-volume growth of a map's frame *is* ``Σ log R_ii``):
    ``identity_error`` is NaN and ``accurate`` is ``None``.

    Parameters
    ----------
    step:
        ``(B, D) → (B, D)`` torch function, rows independent (an emulator's one-step map in eval
        mode qualifies). Must support forward-mode AD.
    x0:
        ``(D,)`` or ``(B, D)`` initial conditions.
    n_steps:
        Iterations averaged over (after ``transient_steps``).
    n_exponents, transient_steps, qr_every, record_every, seed, initial_frame, rtol, warn, dtype, device, trace:
        As in :func:`lyapunov_spectrum_flow` (``qr_every`` counts iterations).
    time_step:
        Optional time per iteration for conversion to 1/time unit.

    Raises
    ------
    MetricInputError, NonFiniteInputError
        As in :func:`lyapunov_spectrum_flow` (no step refinement: a non-finite state is raised).
    """
    if time_step is not None:
        time_step = _check_positive("time_step", time_step)
    x, d, k, n_steps, qr_every, transient_steps, record_every, rtol = _common_checks(
        x0, n_steps, n_exponents, qr_every, transient_steps, record_every, rtol, dtype, device
    )
    b = x.shape[0]
    q, frame_info = _initial_frame(initial_frame, seed, b, d, k, x.dtype, x.device)
    full = k == d

    def map_tangent(xs: torch.Tensor, qs: torch.Tensor):
        x_new, jq = _batched_jvp(step, xs, qs)
        if full:
            inc = torch.linalg.slogdet(jq)[1] - torch.linalg.slogdet(qs)[1]
        else:
            inc = torch.zeros(xs.shape[0], dtype=xs.dtype, device=xs.device)
        return x_new, jq, inc

    with torch.no_grad(), _quiet_torchscript_deprecation():
        _check_callable_output(step, (x,), "step", d)
        step_fn = _accelerate(map_tangent, (x, q), trace, "lyapunov_spectrum_map")

    def advance(xs: torch.Tensor, qs: torch.Tensor, n: int):
        return step_fn(xs, qs)

    unit = 1.0 if time_step is None else float(time_step)
    run = _TangentRun(
        advance,
        x,
        q,
        total=transient_steps + n_steps,
        avg_start=transient_steps,
        qr_every=qr_every,
        record_every=record_every,
        h=unit,
        kind="increment",
    )
    with torch.no_grad(), _quiet_torchscript_deprecation(), single_threaded_if_small(q):
        try:
            run.run_until(transient_steps + n_steps)
        except _NonFinite as exc:
            raise NonFiniteInputError(
                f"lyapunov_spectrum_map: NaN/inf or degenerate {exc.kind} at step {exc.step} for initial "
                f"condition(s) {exc.ics[:10]} (orbit diverged, or qr_every too large)"
            ) from None
    log_sum, vol, duration = run.window(transient_steps)
    times = np.asarray(run.rec_t, dtype=np.float64)
    running_ic = torch.stack(run.rec_v).cpu().numpy()
    per_ic = running_ic[-1]
    info = {
        "method": "tangent QR (map)",
        "n_steps": n_steps,
        "transient_steps": transient_steps,
        "qr_every": qr_every,
        "time_step": time_step,
        "initial_frame": frame_info,
        "n_initial_conditions": b,
    }
    volume_rate = (vol / duration).cpu().numpy() if full else None
    return _make_result(
        times,
        running_ic,
        per_ic,
        n_steps * unit,
        "step" if time_step is None else "time",
        info,
        volume_rate,
        full,
        rtol,
        "lyapunov_spectrum_map",
        warn,
    )
