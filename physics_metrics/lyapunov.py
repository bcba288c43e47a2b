"""Lyapunov spectra of flows and maps by tangent-space QR (Benettin / Shimada–Nagashima).

The state ``x`` and ``k`` tangent vectors ``Q = [q_1 … q_k]`` are evolved together; every few steps
``Q`` is re-orthonormalised by a QR decomposition ``Q = Q' R`` (sign-fixed so that ``diag R > 0``)
and the logarithms of the stretching factors ``R_ii`` are accumulated. After a total time ``T``

    λ_i ≈ (1/T) Σ_n log R_ii^(n),        i = 1 … k,

the i-th Lyapunov exponent, in units of 1/(time unit of the vector field) for flows and 1/step
for maps (or 1/time unit when a map's ``time_step`` is given). References: Benettin, Galgani,
Giorgilli & Strelcyn, Meccanica 15 (1980) 9–30; Shimada & Nagashima, Prog. Theor. Phys. 61 (1979)
1605; Pikovsky & Politi, *Lyapunov Exponents* (CUP 2016), ch. 3.

Tangent vectors are moved with Jacobian–vector products (forward-mode automatic differentiation,
:mod:`torch.autograd.forward_ad`), so the Jacobian is never formed and no finite differences are
used. The ``k`` tangent columns of each of the ``B`` initial conditions are evaluated in one
batched call of the vector field on ``B·k`` rows: the vector field (or map) must therefore act
row by row, i.e. row ``i`` of its output may depend only on row ``i`` of its input — true for
the right-hand sides in :mod:`chaosbench_py` and for one-step maps of emulators in eval mode.

Flows are integrated with the classical 4th-order Runge–Kutta scheme applied jointly to
``(x, Q)``: ``dx/dt = f(t, x)``, ``dQ/dt = J(t, x) Q`` (the variational equation), which is the
exact tangent map of the RK4 step of the state. The discretisation error of the exponents is
O(dt⁴); the statistical error of the finite-time average decays like 1/√T (spread over initial
conditions) and its bias from the initial tangent orientation like 1/T (use ``transient_steps``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ._threads import single_threaded_if_small
from .errors import MetricInputError, MetricTypeError, NonFiniteInputError

logger = logging.getLogger(__name__)

__all__ = ["LyapunovSpectrum", "lyapunov_spectrum_flow", "lyapunov_spectrum_map"]


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Result of a tangent-space QR Lyapunov computation.

    Attributes
    ----------
    exponents:
        ``(k,)`` mean over initial conditions of the exponents, sorted as computed (descending on
        average); units 1/time unit (flows, or maps with ``time_step``) or 1/step (maps).
    per_initial_condition:
        ``(B, k)`` exponent estimates of each initial condition.
    spread:
        ``(k,)`` standard deviation across initial conditions (``ddof=1``; zeros when ``B == 1``).
    running:
        ``(n_records, k)`` running estimate (mean over initial conditions) at ``times``: the
        cumulative log-stretching divided by the elapsed time, for convergence plots.
    running_per_initial_condition:
        ``(n_records, B, k)`` the same per initial condition.
    times:
        ``(n_records,)`` elapsed averaging time (after the transient) of each record, in time units
        (flows, maps with ``time_step``) or steps (maps).
    total_time:
        Length of the averaging window in the same units.
    time_unit:
        ``"time"`` or ``"step"``: the unit the exponents are per.
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

    @property
    def n_initial_conditions(self) -> int:
        return int(self.per_initial_condition.shape[0])

    @property
    def standard_error(self) -> np.ndarray:
        """``(k,)`` standard error of the mean over initial conditions, ``spread / √B``."""
        return self.spread / math.sqrt(max(self.n_initial_conditions, 1))

    @property
    def maximum(self) -> float:
        """The largest exponent (first entry of :attr:`exponents`)."""
        return float(self.exponents[0])

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
# helpers


def _prepare_x0(x0, dtype, device) -> torch.Tensor:
    x = torch.as_tensor(x0, dtype=dtype, device=device)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise MetricInputError(f"x0: expected shape (D,) or (B, D), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise MetricInputError("x0: contains NaN/inf")
    return x.clone()


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise MetricInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _initial_tangents(b: int, d: int, k: int, seed: int | None, dtype, device) -> torch.Tensor:
    """Initial orthonormal tangent frames, shape ``(B, D, k)``."""
    if seed is None:
        q = torch.eye(d, k, dtype=dtype, device=device).expand(b, d, k).clone()
    else:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        a = torch.randn(b, d, k, generator=gen, dtype=dtype).to(device)
        q, _ = torch.linalg.qr(a)
    return q


def _batched_jvp(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, q: torch.Tensor):
    """Evaluate ``fn`` and its Jacobian–vector products in one forward-mode call.

    ``x`` (B, D), ``q`` (B, D, k) → ``fn(x)`` (B, D) and ``J q`` (B, D, k). The state is repeated
    ``k`` times (``B·k`` rows) and each row carries one tangent column (:func:`torch.func.jvp`).
    """
    b, d, k = q.shape
    x_rep = x.repeat_interleave(k, dim=0)
    tangent = q.transpose(1, 2).reshape(b * k, d)
    primal, jv = torch.func.jvp(fn, (x_rep,), (tangent,))
    return primal.reshape(b, k, d)[:, 0, :], jv.reshape(b, k, d).transpose(1, 2)


def _check_callable_output(fn: Callable, args: tuple, name: str, d: int) -> None:
    """Call once eagerly so a wrong output shape or type is reported by name, not from deep in torch."""
    out = fn(*args)
    if not isinstance(out, torch.Tensor):
        raise MetricTypeError(f"{name}: must return a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(args[-1].shape):
        raise MetricInputError(
            f"{name}: must map (B, D={d}) to (B, D={d}); got output shape {tuple(out.shape)} "
            f"for input shape {tuple(args[-1].shape)}"
        )


def _accelerate(fn: Callable, example: tuple, enabled: bool, what: str) -> Callable:
    """Trace ``fn`` to a graph of plain aten ops (``make_fx``) and compile it with TorchScript.

    Forward-mode AD in eager mode costs tens of microseconds per operation on small tensors;
    the traced graph runs the same arithmetic without that overhead (5–10× faster here). The
    graph is specialised to the example shapes and assumes no value-dependent Python control
    flow in ``fn``; when tracing fails the eager function is used (logged at INFO).
    """
    if not enabled:
        return fn
    try:
        from torch.fx.experimental.proxy_tensor import make_fx

        gm = make_fx(fn)(*example)
        graph = gm.graph
        for node in list(graph.nodes):  # drop unused shape/storage checks left by the jvp decomposition
            if node.op == "call_function" and not node.users:
                graph.erase_node(node)
        graph.eliminate_dead_code()
        gm.recompile()
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: run eagerly
        logger.info("%s: tracing failed (%s); running eagerly", what, exc)
        return fn
    try:
        with _quiet_torchscript_deprecation():
            scripted = torch.jit.trace(gm, example, check_trace=False)
            scripted(*example)  # first call compiles (and warns about TorchScript's deprecation)
            scripted(*example)
        return scripted
    except Exception as exc:  # noqa: BLE001
        logger.info("%s: TorchScript unavailable (%s); running the traced FX graph", what, exc)
        return gm


@contextlib.contextmanager
def _quiet_torchscript_deprecation():
    """Silence torch's own "torch.jit.* is deprecated" warnings (raised inside forward-mode AD / tracing)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..*deprecated", category=DeprecationWarning)
        yield


def _qr_positive(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QR of a batch of ``(D, k)`` frames with ``diag R > 0``; returns ``Q`` and ``|diag R|``."""
    qq, r = torch.linalg.qr(q, mode="reduced")
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    sign = torch.where(diag < 0, -torch.ones_like(diag), torch.ones_like(diag))
    return qq * sign[:, None, :], diag.abs()


def _check_finite(x: torch.Tensor, stretch: torch.Tensor, step: int, what: str) -> None:
    bad_x = ~torch.isfinite(x).all(dim=1)
    bad_r = ~(torch.isfinite(stretch).all(dim=1) & (stretch > 0).all(dim=1))
    if bool(bad_x.any()) or bool(bad_r.any()):
        ics = torch.nonzero(bad_x | bad_r).flatten().tolist()
        kind = "state" if bool(bad_x.any()) else "tangent vectors (zero or non-finite stretching)"
        raise NonFiniteInputError(
            f"{what}: NaN/inf or degenerate {kind} at step {step} for initial condition(s) {ics[:10]}"
            " (orbit diverged, or dt / qr_every too large)"
        )


def _run_tangent(
    advance: Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]],
    x: torch.Tensor,
    q: torch.Tensor,
    *,
    n_steps: int,
    transient_steps: int,
    qr_every: int,
    record_every: int,
    unit_per_step: float,
    what: str,
):
    """Shared driver: ``advance(x, q, step_index)`` makes one step; QR every ``qr_every`` steps."""
    b, _, k = q.shape
    dtype = x.dtype
    total = transient_steps + n_steps
    log_sum = torch.zeros(b, k, dtype=dtype, device=x.device)
    rec_t: list[float] = []
    rec_v: list[torch.Tensor] = []
    for n in range(total):
        x, q = advance(x, q, n)
        done = n + 1
        if done % qr_every and done != total and done != transient_steps:
            continue
        q, stretch = _qr_positive(q)
        _check_finite(x, stretch, done, what)
        if done > transient_steps:
            log_sum += torch.log(stretch)
            since = done - transient_steps
            if since % record_every == 0 or done == total:
                rec_t.append(since * unit_per_step)
                rec_v.append(log_sum / (since * unit_per_step))
    times = np.asarray(rec_t, dtype=np.float64)
    running_ic = torch.stack(rec_v).cpu().numpy()  # (n_records, B, k)
    per_ic = running_ic[-1]
    return x, q, times, running_ic, per_ic


def _make_result(times, running_ic, per_ic, total_time, unit, info) -> LyapunovSpectrum:
    b = per_ic.shape[0]
    spread = per_ic.std(axis=0, ddof=1) if b > 1 else np.zeros(per_ic.shape[1])
    return LyapunovSpectrum(
        exponents=per_ic.mean(axis=0),
        per_initial_condition=per_ic,
        spread=spread,
        running=running_ic.mean(axis=1),
        running_per_initial_condition=running_ic,
        times=times,
        total_time=float(total_time),
        time_unit=unit,
        info=info,
    )


def _common_checks(x0, n_steps, n_exponents, qr_every, transient_steps, record_every, dtype, device):
    x = _prepare_x0(x0, dtype, device)
    d = x.shape[1]
    n_steps = _check_int("n_steps", n_steps, 1)
    qr_every = _check_int("qr_every", qr_every, 1)
    transient_steps = _check_int("transient_steps", transient_steps, 0)
    k = d if n_exponents is None else _check_int("n_exponents", n_exponents, 1)
    if k > d:
        raise MetricInputError(f"n_exponents={k} exceeds the state dimension D={d}")
    if record_every is None:
        record_every = qr_every * max(1, n_steps // (1000 * qr_every))
    record_every = _check_int("record_every", record_every, 1)
    return x, d, k, n_steps, qr_every, transient_steps, record_every


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
    seed: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    trace: bool = True,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of the flow ``dx/dt = f(t, x)``, batched over initial conditions.

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
        RK4 step, in the time unit of ``f``.
    n_steps:
        Number of RK4 steps averaged over (after the transient); averaging time ``T = n_steps·dt``.
    n_exponents:
        ``k``, how many leading exponents (default: all ``D``).
    qr_every:
        Re-orthonormalise every this many steps (1 is safest; larger is cheaper but the tangent
        vectors must not collapse numerically in between).
    transient_steps:
        Steps integrated first (state and tangent frame, with QR) without accumulating: lets
        the state reach the attractor and the frame align with the Lyapunov vectors.
    t0:
        Initial time (matters for non-autonomous fields).
    record_every:
        Record the running estimate every this many steps (default: ~1000 records).
    seed:
        ``None``: initial frame = first ``k`` unit vectors; an integer: random orthonormal frames.
    dtype, device:
        Computation dtype (float64 default) and device.
    trace:
        Trace the tangent step into a graph of plain tensor ops and run it with TorchScript
        (default; much faster for small systems). Set ``False`` for vector fields with
        value-dependent Python control flow (tracing would freeze one branch).

    Returns
    -------
    LyapunovSpectrum
        Exponents in 1/time unit of ``f``.

    Raises
    ------
    ValueError
        Bad shapes or arguments (``n_exponents > D``, ``dt <= 0``, …).
    FloatingPointError
        The state or tangent frame became NaN/inf; the message names the step and the initial
        conditions.
    """
    if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
        raise MetricInputError(f"dt must be a positive finite number, got {dt!r}")
    x, d, k, n_steps, qr_every, transient_steps, record_every = _common_checks(
        x0, n_steps, n_exponents, qr_every, transient_steps, record_every, dtype, device
    )
    b = x.shape[0]
    q = _initial_tangents(b, d, k, seed, x.dtype, x.device)
    h = float(dt)

    t0_t = torch.tensor(float(t0), dtype=x.dtype, device=x.device)
    h_t = torch.tensor(h, dtype=x.dtype, device=x.device)

    def rk4_tangent(t: torch.Tensor, hh: torch.Tensor, xs: torch.Tensor, qs: torch.Tensor):
        """One RK4 step of (x, Q); the Q-part is the exact tangent map of the state's RK4 step."""

        def at(tt: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda z: vector_field(tt, z)

        half = 0.5 * hh
        k1x, k1q = _batched_jvp(at(t), xs, qs)
        k2x, k2q = _batched_jvp(at(t + half), xs + half * k1x, qs + half * k1q)
        k3x, k3q = _batched_jvp(at(t + half), xs + half * k2x, qs + half * k2q)
        k4x, k4q = _batched_jvp(at(t + hh), xs + hh * k3x, qs + hh * k3q)
        sixth = hh / 6.0
        return xs + sixth * (k1x + 2.0 * k2x + 2.0 * k3x + k4x), qs + sixth * (
            k1q + 2.0 * k2q + 2.0 * k3q + k4q
        )

    with torch.no_grad(), _quiet_torchscript_deprecation():
        _check_callable_output(vector_field, (t0_t, x), "vector_field", d)
        step_fn = _accelerate(rk4_tangent, (t0_t, h_t, x, q), trace, "lyapunov_spectrum_flow")

    def advance(xs: torch.Tensor, qs: torch.Tensor, n: int):
        return step_fn(t0_t + n * h_t, h_t, xs, qs)

    with torch.no_grad(), _quiet_torchscript_deprecation(), single_threaded_if_small(q):
        _, _, times, running_ic, per_ic = _run_tangent(
            advance,
            x,
            q,
            n_steps=n_steps,
            transient_steps=transient_steps,
            qr_every=qr_every,
            record_every=record_every,
            unit_per_step=h,
            what="lyapunov_spectrum_flow",
        )
    info = {
        "method": "RK4 + tangent QR",
        "dt": h,
        "n_steps": n_steps,
        "transient_steps": transient_steps,
        "qr_every": qr_every,
        "n_initial_conditions": b,
    }
    logger.debug("lyapunov_spectrum_flow: %s", info)
    return _make_result(times, running_ic, per_ic, n_steps * h, "time", info)


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
    seed: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    trace: bool = True,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of the map ``x_{t+1} = step(x_t)``, batched over initial conditions.

    ``λ_i = (1/N) Σ_n log R_ii^(n)`` per step, where ``Q_{n+1} R^(n) = J(x_n) Q_n`` (tangent QR with
    Jacobian–vector products of ``step``). With ``time_step = Δt`` (the time one step represents,
    e.g. an emulator's output interval) the exponents are divided by ``Δt`` and come out per time
    unit; ``times`` are then in time units too.

    Parameters
    ----------
    step:
        ``(B, D) → (B, D)`` torch function, rows independent (an emulator's one-step map in eval
        mode qualifies). Must support forward-mode AD.
    x0:
        ``(D,)`` or ``(B, D)`` initial conditions.
    n_steps:
        Iterations averaged over (after ``transient_steps``).
    n_exponents, transient_steps, qr_every, record_every, seed, dtype, device, trace:
        As in :func:`lyapunov_spectrum_flow`.
    time_step:
        Optional time per iteration for conversion to 1/time unit.

    Raises
    ------
    ValueError, FloatingPointError
        As in :func:`lyapunov_spectrum_flow`.
    """
    if time_step is not None and not (
        isinstance(time_step, int | float) and math.isfinite(time_step) and time_step > 0
    ):
        raise MetricInputError(f"time_step must be a positive finite number or None, got {time_step!r}")
    x, d, k, n_steps, qr_every, transient_steps, record_every = _common_checks(
        x0, n_steps, n_exponents, qr_every, transient_steps, record_every, dtype, device
    )
    b = x.shape[0]
    q = _initial_tangents(b, d, k, seed, x.dtype, x.device)

    def map_tangent(xs: torch.Tensor, qs: torch.Tensor):
        return _batched_jvp(step, xs, qs)

    with torch.no_grad(), _quiet_torchscript_deprecation():
        _check_callable_output(step, (x,), "step", d)
        step_fn = _accelerate(map_tangent, (x, q), trace, "lyapunov_spectrum_map")

    def advance(xs: torch.Tensor, qs: torch.Tensor, n: int):
        return step_fn(xs, qs)

    unit = 1.0 if time_step is None else float(time_step)
    with torch.no_grad(), _quiet_torchscript_deprecation(), single_threaded_if_small(q):
        _, _, times, running_ic, per_ic = _run_tangent(
            advance,
            x,
            q,
            n_steps=n_steps,
            transient_steps=transient_steps,
            qr_every=qr_every,
            record_every=record_every,
            unit_per_step=unit,
            what="lyapunov_spectrum_map",
        )
    info = {
        "method": "tangent QR (map)",
        "n_steps": n_steps,
        "transient_steps": transient_steps,
        "qr_every": qr_every,
        "time_step": time_step,
        "n_initial_conditions": b,
    }
    return _make_result(
        times, running_ic, per_ic, n_steps * unit, "step" if time_step is None else "time", info
    )
