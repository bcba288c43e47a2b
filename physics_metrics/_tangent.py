"""Tangent-space machinery of :mod:`physics_metrics.lyapunov`: frames, JVPs, tracing, the QR driver.

Private: the public functions and their documentation are in :mod:`physics_metrics.lyapunov`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch

from . import _trace_cache
from .errors import MetricInputError, MetricTypeError, NonFiniteInputError

logger = logging.getLogger("physics_metrics.lyapunov")

IDENTITY_ATOL = 1e-9  # absolute floor of the identity check (1 / time unit): spectra that are all ≈ 0
MAX_FACTOR = 16  # largest single step refinement


def _prepare_x0(x0, dtype, device) -> torch.Tensor:
    if isinstance(x0, str) or x0 is None:
        raise MetricTypeError(f"x0: expected an array of shape (D,) or (B, D), got {type(x0).__name__}")
    try:
        x = torch.as_tensor(x0, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise MetricTypeError(
            f"x0: cannot be read as a numeric array of shape (D,) or (B, D) ({exc})"
        ) from exc
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise MetricInputError(f"x0: expected shape (D,) or (B, D), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        bad = torch.nonzero(~torch.isfinite(x).all(dim=1)).flatten().tolist()
        raise NonFiniteInputError(f"x0: contains NaN/inf (initial condition(s) {bad[:10]})")
    return x.clone()


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float) or int(value) != value:
        raise MetricInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise MetricInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not (
        isinstance(value, int | float | np.floating) and math.isfinite(value) and value > 0
    ):
        raise MetricInputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _initial_frame(spec, seed, b: int, d: int, k: int, dtype, device) -> tuple[torch.Tensor, str]:
    """Initial orthonormal tangent frames ``(B, D, k)`` and a description for ``info``.

    ``"random"``: the first ``k`` columns of one random orthonormal ``D × D`` matrix (QR of a
    Gaussian matrix drawn with ``seed``; ``seed=None`` draws from torch's global generator), the
    same for every initial condition — so the leading ``k`` columns do not depend on ``k`` and a
    batch gives the same per-row result as single runs. ``"identity"``: the first ``k`` unit
    vectors. An array ``(D, k)`` or ``(B, D, k)``: orthonormalised by QR (must have full rank).
    """
    if isinstance(spec, str):
        if spec == "random":
            gen = None if seed is None else torch.Generator(device="cpu").manual_seed(int(seed))
            a = torch.randn(d, d, generator=gen, dtype=torch.float64)
            qq, _ = torch.linalg.qr(a)
            q = qq[:, :k].to(dtype=dtype, device=device)
            return q.expand(b, d, k).clone(), f"random (seed={seed})"
        if spec == "identity":
            return torch.eye(d, k, dtype=dtype, device=device).expand(b, d, k).clone(), "identity"
        raise MetricInputError(
            f"initial_frame must be 'random', 'identity' or an array of shape (D, k) or (B, D, k); got {spec!r}"
        )
    try:
        a = torch.as_tensor(spec, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise MetricTypeError(f"initial_frame: cannot be read as an array ({exc})") from exc
    if a.ndim == 2:
        a = a.expand(b, *a.shape)
    if a.ndim != 3 or tuple(a.shape) != (b, d, k):
        raise MetricInputError(
            f"initial_frame: expected shape (D, k) = ({d}, {k}) or (B, D, k) = ({b}, {d}, {k}), "
            f"got {tuple(torch.as_tensor(spec).shape)}"
        )
    if not torch.isfinite(a).all():
        raise NonFiniteInputError("initial_frame: contains NaN/inf")
    q, r = torch.linalg.qr(a)
    diag = torch.diagonal(r, dim1=-2, dim2=-1).abs()
    if bool((diag <= 1e-10 * diag.amax(dim=-1, keepdim=True).clamp_min(1e-300)).any()):
        raise MetricInputError("initial_frame: the k columns are linearly dependent (rank < k)")
    return q.clone(), "given"


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


def _accelerate(
    fn: Callable, example: tuple, enabled: bool, what: str, cache: tuple | None = None
) -> Callable:
    """Trace ``fn`` to a graph of plain aten ops (``make_fx``) and compile it with TorchScript.

    Forward-mode AD in eager mode costs tens of microseconds per operation on small tensors;
    the traced graph runs the same arithmetic without that overhead (5–10× faster here). The
    graph is specialised to the example shapes and assumes no value-dependent Python control
    flow in ``fn``; when tracing fails the eager function is used (logged at INFO).

    ``cache = (key, anchor)`` (from :func:`._trace_cache.callable_key` of the user function that
    ``fn`` wraps, plus any flags ``fn`` closes over): reuse a graph traced by an earlier call with
    the same key and example shapes, after checking one step against eager
    (:mod:`._trace_cache`); a fresh graph is stored there.
    """
    if not enabled:
        return fn
    full_key = None
    if cache is not None:
        full_key = (what, cache[0], _trace_cache.tensor_signature(example))
        hit = _trace_cache.lookup(full_key, cache[1], fn, example)
        if hit is not None:
            return hit
    compiled = _trace(fn, example, what)
    if full_key is not None and compiled is not fn:
        _trace_cache.store(full_key, cache[1], compiled)
    return compiled


def _trace(fn: Callable, example: tuple, what: str) -> Callable:
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
    sign = torch.where(diag < 0, -1.0, 1.0)  # default dtype; the product promotes
    return qq * sign[:, None, :], diag.abs()


class _NonFinite(Exception):
    """Internal: the state or the frame became non-finite at internal step ``step``."""

    def __init__(self, step: int, ics: list[int], kind: str):
        super().__init__(step, ics, kind)
        self.step, self.ics, self.kind = step, ics, kind


def _check_finite(x: torch.Tensor, stretch: torch.Tensor, step: int) -> None:
    bad_x = ~torch.isfinite(x).all(dim=1)
    bad_r = ~(torch.isfinite(stretch).all(dim=1) & (stretch > 0).all(dim=1))
    if bool(bad_x.any()) or bool(bad_r.any()):
        ics = torch.nonzero(bad_x | bad_r).flatten().tolist()
        kind = "state" if bool(bad_x.any()) else "tangent vectors (zero or non-finite stretching)"
        raise _NonFinite(step, ics, kind)


class _TangentRun:
    """Resumable tangent-space QR integration over internal steps ``0 … total − 1``.

    ``advance(x, q, n) → (x, q, s)`` makes step ``n``. ``kind="rate"`` (flows): ``s`` is
    ``tr(Qᵀ J Q)`` at the start of the step, valid when ``q`` was orthonormal then (a QR point);
    the samples are integrated in time by the trapezoid rule with the Euler–Maclaurin end
    correction ``−(Δ²/12)(g'(b) − g'(a))`` (one-sided differences), so that a window starting with
    a fast-turning frame is integrated accurately too. ``kind="increment"`` (maps): ``s`` is
    ``log |det J|`` of the step, summed. ``end_rate(n, x, q)`` gives the rate sample at the current
    point to close the trapezoid. Steps ``< avg_start`` are the transient (not averaged). A window
    starts at a *mark* (step 0, ``avg_start`` and any step passed to :meth:`mark`).
    """

    def __init__(self, advance, x, q, *, total, avg_start, qr_every, record_every, h, kind, end_rate=None):
        self.advance, self.x, self.q = advance, x, q
        self.total, self.avg_start = total, avg_start
        self.qr_every, self.record_every = qr_every, record_every
        self.h, self.kind, self.end_rate = h, kind, end_rate
        b, _, k = q.shape
        self.n = 0
        self.orthonormal = True
        self.log_all = torch.zeros(b, k, dtype=x.dtype, device=x.device)  # since step 0
        self.vol_all = torch.zeros(b, dtype=x.dtype, device=x.device)
        self.prev: tuple[int, torch.Tensor] | None = None  # last committed rate sample (step, value)
        self.prev2: tuple[int, torch.Tensor] | None = None  # the one before
        self.stops: set[int] = {total, avg_start}
        self.marks: dict[int, dict] = {}
        self.rec_t: list[float] = []
        self.rec_v: list[torch.Tensor] = []
        self.mark(0)
        self.mark(avg_start)

    def mark(self, n0: int) -> None:
        """Start a window at step ``n0`` (not yet reached): a forced QR point."""
        self.stops.add(n0)
        self.marks[n0] = {"first": []}
        if n0 == self.n:
            self._snapshot(n0)

    def _snapshot(self, n: int) -> None:
        vol, _ = self._vol_now(n, self.x, self.q)
        self.marks[n].update(log=self.log_all.clone(), vol=vol)

    def _qr_point(self, done: int) -> bool:
        if done % self.qr_every == 0 or done in self.stops:
            return True
        return done > self.avg_start and (done - self.avg_start) % self.record_every == 0

    def run_until(self, stop: int) -> None:
        stop = min(stop, self.total)
        self.stops.add(stop)
        x, q, n = self.x, self.q, self.n
        while n < stop:
            x, q_new, s = self.advance(x, q, n)
            if self.kind == "rate":
                if self.orthonormal:
                    self._add_rate(n, s)
            else:
                self.vol_all += s
            q = q_new
            self.orthonormal = False
            n += 1
            if not self._qr_point(n):
                continue
            q, stretch = _qr_positive(q)
            log_stretch = torch.log(stretch)
            # one cheap scalar test per QR point (log of a zero, negative or non-finite stretching
            # and a non-finite state all make it non-finite); the detailed check names the culprits
            if not bool(torch.isfinite(log_stretch.sum() + x.sum())):
                _check_finite(x, stretch, n)
            self.orthonormal = True
            self.log_all += log_stretch
            if n in self.marks:
                self.x, self.q, self.n = x, q, n
                self._snapshot(n)
            if n > self.avg_start and ((n - self.avg_start) % self.record_every == 0 or n == self.total):
                since = (n - self.avg_start) * self.h
                self.rec_t.append(since)
                self.rec_v.append((self.log_all - self.marks[self.avg_start]["log"]) / since)
        self.x, self.q, self.n = x, q, n

    def _add_rate(self, n: int, s: torch.Tensor) -> None:
        if self.prev is not None:
            m, sp = self.prev
            self.vol_all += (0.5 * (n - m) * self.h) * (sp + s)
        self.prev2, self.prev = self.prev, (n, s)
        for start, mk in self.marks.items():
            if n >= start and len(mk["first"]) < 2:
                mk["first"].append((n, s))

    def _vol_now(self, n: int, x, q) -> tuple[torch.Tensor, tuple | None]:
        """``∫_0^{t_n}`` of the rate (flows: trapezoid closed with a sample at ``n``, which is returned
        with the one before it) or the summed increments (maps)."""
        if self.kind != "rate" or self.prev is None:
            return self.vol_all.clone(), None
        if self.prev[0] == n:
            return self.vol_all.clone(), (self.prev2, self.prev)
        m, sp = self.prev
        g = self.end_rate(n, x, q)
        return self.vol_all + (0.5 * (n - m) * self.h) * (sp + g), (self.prev, (n, g))

    def window(self, start: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """``(Σ log R (B, k), ∫ rate dt (B,), duration)`` from mark ``start`` to the current step."""
        mk = self.marks[start]
        vol, last_two = self._vol_now(self.n, self.x, self.q)
        vol = vol - mk["vol"]
        first = mk["first"]
        if self.kind == "rate" and len(first) == 2 and last_two is not None and last_two[0] is not None:
            (n0, g0), (n1, g1) = first
            (m0, f0), (m1, f1) = last_two
            if m0 >= n0 and m1 > m0:  # at least two intervals in the window
                da, db = (n1 - n0) * self.h, (m1 - m0) * self.h
                vol = vol - (db * (f1 - f0) - da * (g1 - g0)) / 12.0
        return self.log_all - mk["log"], vol, (self.n - start) * self.h


def identity_check(lam: np.ndarray, v: np.ndarray, rtol: float) -> tuple[np.ndarray, bool]:
    """The same-orbit identity per initial condition: ``lam`` ``(B, k)`` exponents, ``v`` ``(B,)`` rates.

    Returns the relative errors ``|Σ_i λ_{b,i} − v_b| / max(|v_b|, Σ_i |λ_{b,i}|)`` ``(B,)`` (inf where
    non-finite) and whether every ``|Σλ_b − v_b| ≤ rtol·scale_b + IDENTITY_ATOL``.
    """
    res = lam.sum(axis=1) - v
    scale = np.maximum(np.abs(v), np.abs(lam).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, np.abs(res) / scale, np.where(res == 0, 0.0, np.inf))
    rel = np.where(np.isfinite(res), rel, np.inf)
    return rel, bool(np.all(np.abs(res) <= rtol * scale + IDENTITY_ATOL))


def _identity(log_sum: torch.Tensor, vol: torch.Tensor, duration: float, rtol: float) -> tuple[float, bool]:
    """Identity over a window of a run: the largest relative error over initial conditions, and pass/fail."""
    rel, ok = identity_check((log_sum / duration).cpu().numpy(), (vol / duration).cpu().numpy(), rtol)
    return float(np.max(rel)), ok


def _refinement_factor(err: float, target: float) -> int:
    """Step divisor for RK4 (error ∝ h⁴): the power of two reaching ``target``, clamped to [2, 16]."""
    if not math.isfinite(err):
        return 4
    need = (err / target) ** 0.25 if err > target else 1.0
    return int(min(MAX_FACTOR, max(2, 2 ** math.ceil(math.log2(max(need, 1.0)) - 1e-12))))


def _common_checks(x0, n_steps, n_exponents, qr_every, transient_steps, record_every, rtol, dtype, device):
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise MetricTypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    x = _prepare_x0(x0, dtype, device)
    d = x.shape[1]
    n_steps = _check_int("n_steps", n_steps, 1)
    qr_every = _check_int("qr_every", qr_every, 1)
    transient_steps = _check_int("transient_steps", transient_steps, 0)
    k = d if n_exponents is None else _check_int("n_exponents", n_exponents, 1)
    if k > d:
        raise MetricInputError(f"n_exponents={k} exceeds the state dimension D={d} of x0")
    if record_every is None:
        record_every = max(1, n_steps // 1000)
    record_every = _check_int("record_every", record_every, 1)
    rtol = _check_positive("rtol", rtol)
    return x, d, k, n_steps, qr_every, transient_steps, record_every, rtol
