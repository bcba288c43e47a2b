"""The RK4 tangent step of :func:`physics_metrics.lyapunov_spectrum_flow` as generated C (CPU, float64).

The vector field ``f(t, x)`` is called once on symbols standing for the columns of the state;
every torch operation it performs is recorded as one C statement for the value and one for its
derivative along each of the ``k`` tangent columns (forward-mode differentiation by the chain
rule, e.g. ``d(a·b) = da·b + a·db``, ``d sin a = cos a · da``). From that tape a C function
evaluates, for every initial condition ``b``,

    f(t, x_b)  and  J(t, x_b) Q_b,          Q_b the (D, k) tangent frame,

and a second one makes the classical RK4 step of ``(x, Q)`` exactly as the torch step of
:mod:`physics_metrics.lyapunov` does (the Q-part is the tangent map of the state's step) and
returns ``tr(Qᵀ J Q)`` at the start of the step. One call per step replaces the ~200 tensor
operations of the traced torch graph (~1 µs each); the arithmetic is the same up to rounding (the
order of some additions and the C library's ``sin``/``exp``… differ from torch's by an ulp).

Covered: ``+ − × /``, ``**`` (number exponent or base), ``neg``, ``sin cos tan exp expm1 log log1p
sqrt tanh sinh cosh atan abs square reciprocal`` on columns or the whole state; ``x[..., i]``, ``x[:, i]``,
``x[:, a:b]``, ``unbind``, ``stack``, ``cat`` and ``roll`` along the last dimension; Python numbers
and one-element tensors as constants. Anything else (tensor parameters, other indexing, a
data-dependent branch, ``torch.where``) raises :class:`Unsupported` and the caller runs the traced
torch step. The translation is checked on the actual inputs before use: ``f`` against the torch
vector field (relative 1e-10) and ``J Q`` against central differences (relative 1e-5) or, where
those are inconclusive, torch's forward-mode JVP (relative 1e-9).

Built with ``cc -O2 -ffp-contract=off`` into a cache directory (``$PHYSICS_METRICS_CACHE_DIR``, else
``$XDG_CACHE_HOME/physics_metrics`` or ``~/.cache/physics_metrics``), one shared library per
generated source (named by its SHA-256), so the compiler runs once per vector field and machine;
where that directory is not writable, in a private temporary one removed after loading.
``PHYSICS_METRICS_NATIVE=0`` disables the path.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import pathlib
from collections.abc import Callable
from typing import Any

import torch

from ._native_build import NativeBuildError, cache_folder, library_name, load_library

logger = logging.getLogger("physics_metrics.lyapunov")

MAX_STACK_DOUBLES = 1 << 15  # C stack per call (256 KiB, safe in any thread): larger systems use torch
_LIBS: dict[str, Any] = {}  # source hash -> loaded library (per process)
_UNARY = {  # name -> (C value, C derivative factor in terms of a (argument) and v (value))
    "sin": ("sin({a})", "cos({a})"),
    "cos": ("cos({a})", "(-sin({a}))"),
    "tan": ("tan({a})", "(1.0 + {v} * {v})"),
    "exp": ("exp({a})", "{v}"),
    "log": ("log({a})", "(1.0 / {a})"),
    "expm1": ("expm1({a})", "({v} + 1.0)"),
    "log1p": ("log1p({a})", "(1.0 / (1.0 + {a}))"),
    "sqrt": ("sqrt({a})", "(0.5 / {v})"),
    "tanh": ("tanh({a})", "(1.0 - {v} * {v})"),
    "sinh": ("sinh({a})", "cosh({a})"),
    "cosh": ("cosh({a})", "sinh({a})"),
    "atan": ("atan({a})", "(1.0 / (1.0 + {a} * {a}))"),
    "arctan": ("atan({a})", "(1.0 / (1.0 + {a} * {a}))"),
    "abs": ("fabs({a})", "(({a} > 0.0) - ({a} < 0.0))"),
    "neg": ("(-{a})", "(-1.0)"),
    "negative": ("(-{a})", "(-1.0)"),
    "square": ("({a} * {a})", "(2.0 * {a})"),
    "reciprocal": ("(1.0 / {a})", "(-{v} * {v})"),
}


_METHODS = {*_UNARY, "unbind", "roll", "pow", "add", "sub", "mul", "div", "to", "double"}


class Unsupported(Exception):
    """The vector field does something the C translation does not cover."""


def _num(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1 or v.is_complex() or v.requires_grad:
            raise Unsupported(f"a tensor parameter of shape {tuple(v.shape)}")
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Unsupported(f"an operand of type {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise Unsupported("a non-finite constant")
    return f"({v!r})"


class _Tape:
    """C statements, in order, computing one value (``v<n>``) and its ``K`` tangents (``d<n>[j]``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.n = 0

    def emit(self, value: str, tangent: str | None) -> _S:
        """``value`` in C; ``tangent`` a C expression in ``j`` (None: zero tangent)."""
        name = f"v{self.n}"
        self.n += 1
        self.lines.append(f"const double {name} = {value};")
        if tangent is None:
            return _S(self, name, None)
        self.lines.append(f"double d{name}[K]; for (int j = 0; j < K; j++) d{name}[j] = {tangent};")
        return _S(self, name, f"d{name}")


class _S:
    """A symbolic per-row scalar: a C value name and the name of its tangent array (or None)."""

    def __init__(self, tape: _Tape, v: str, d: str | None):
        self.tape, self.v, self.d = tape, v, d

    def dj(self) -> str | None:
        return None if self.d is None else f"{self.d}[j]"

    def __bool__(self) -> bool:
        raise Unsupported("a data-dependent branch")

    dtype = torch.float64
    device = torch.device("cpu")

    def __getattr__(self, name: str) -> Any:
        if name in _METHODS:
            return lambda *a, **kw: _call(name, (self, *a), kw)
        if name.startswith("__"):
            raise AttributeError(name)
        raise Unsupported(f"attribute {name!r}")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return _call(getattr(func, "__name__", str(func)).strip("_"), args, kwargs or {})

    __add__ = lambda s, o: _call("add", (s, o))  # noqa: E731
    __radd__ = lambda s, o: _call("add", (o, s))  # noqa: E731
    __sub__ = lambda s, o: _call("sub", (s, o))  # noqa: E731
    __rsub__ = lambda s, o: _call("sub", (o, s))  # noqa: E731
    __mul__ = lambda s, o: _call("mul", (s, o))  # noqa: E731
    __rmul__ = lambda s, o: _call("mul", (o, s))  # noqa: E731
    __truediv__ = lambda s, o: _call("div", (s, o))  # noqa: E731
    __rtruediv__ = lambda s, o: _call("div", (o, s))  # noqa: E731
    __pow__ = lambda s, o: _call("pow", (s, o))  # noqa: E731
    __rpow__ = lambda s, o: _call("pow", (o, s))  # noqa: E731
    __neg__ = lambda s: _call("neg", (s,))  # noqa: E731
    __pos__ = lambda s: s  # noqa: E731


class _V(_S):
    """The state, or an expression of it: a list of per-row scalar columns (the last dimension)."""

    def __init__(self, cols: list[_S]):  # noqa: D107 - no _S.__init__: a vector has no value name
        self.cols = cols

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, tuple) and len(idx) == 2 and (idx[0] is Ellipsis or idx[0] == slice(None)):
            i = idx[1]
            if isinstance(i, int) and not isinstance(i, bool) and -len(self.cols) <= i < len(self.cols):
                return self.cols[i]
            if isinstance(i, slice):
                return _V(self.cols[i])
        raise Unsupported(f"indexing with {idx!r}")

    def __len__(self) -> int:
        raise Unsupported("len() of the state (its first dimension is the batch)")


def _last_dim(kwargs: dict, args: tuple, pos: int, name: str = "dim") -> None:
    dim = kwargs.pop(name, args[pos] if len(args) > pos else 0)
    if dim not in (-1, 1):
        raise Unsupported(f"an operation along dimension {dim!r} (only the last is covered)")


def _binary(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, _V) or isinstance(b, _V):
        if not (isinstance(a, _V) and isinstance(b, _V)):
            if isinstance(a, _S) and not isinstance(a, _V) or isinstance(b, _S) and not isinstance(b, _V):
                raise Unsupported("a column combined with the whole state (broadcast over the batch)")
            if isinstance(a, _V):
                return _V([_binary(op, c, b) for c in a.cols])
            return _V([_binary(op, a, c) for c in b.cols])
        if len(a.cols) != len(b.cols):
            raise Unsupported("state expressions of different widths")
        return _V([_binary(op, x, y) for x, y in zip(a.cols, b.cols)])
    sa, sb = isinstance(a, _S), isinstance(b, _S)
    if not (sa or sb):
        raise Unsupported(f"{op} without a state operand")
    tape = (a if sa else b).tape
    av, bv = (a.v if sa else _num(a)), (b.v if sb else _num(b))
    da, db = (a.dj() if sa else None), (b.dj() if sb else None)
    if op in ("add", "sub"):
        sym = "+" if op == "add" else "-"
        if da is None and db is None:
            t = None
        elif db is None:
            t = da
        elif da is None:
            t = db if op == "add" else f"-{db}"
        else:
            t = f"{da} {sym} {db}"
        return tape.emit(f"{av} {sym} {bv}", t)
    if op == "mul":
        parts = ([f"{da} * {bv}"] if da else []) + ([f"{av} * {db}"] if db else [])
        return tape.emit(f"{av} * {bv}", " + ".join(parts) or None)
    if op == "div":
        v = f"v{tape.n}"
        if da is None and db is None:
            t = None
        elif db is None:
            t = f"{da} / {bv}"
        elif da is None:
            t = f"-{v} * {db} / {bv}"
        else:
            t = f"({da} - {v} * {db}) / {bv}"
        return tape.emit(f"{av} / {bv}", t)
    if op == "pow":
        v = f"v{tape.n}"
        if not sb:  # x ** c
            c = float(_num(b).strip("()"))
            if c == 2.0:
                return tape.emit(f"{av} * {av}", f"2.0 * {av} * {da}" if da else None)
            if c == 0.5:
                return tape.emit(f"sqrt({av})", f"0.5 / {v} * {da}" if da else None)
            return tape.emit(f"pow({av}, {bv})", f"{bv} * pow({av}, {c - 1.0!r}) * {da}" if da else None)
        if not sa:  # c ** x
            return tape.emit(f"pow({av}, {bv})", f"{v} * log({av}) * {db}" if db else None)
        parts = ([f"{bv} * pow({av}, {bv} - 1.0) * {da}"] if da else []) + (
            [f"{v} * log({av}) * {db}"] if db else []
        )
        return tape.emit(f"pow({av}, {bv})", " + ".join(parts) or None)
    raise Unsupported(f"operation {op!r}")


def _call(name: str, args: tuple, kwargs: dict | None = None) -> Any:
    kwargs = dict(kwargs or {})
    if "out" in kwargs and kwargs["out"] is None:
        del kwargs["out"]
    alias = {"subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div"}
    name = alias.get(name, name)
    if name in ("as_tensor", "to", "double") and args and isinstance(args[0], _S):
        extra = [a for a in args[1:] if a not in (torch.float64, torch.device("cpu"), "cpu")]
        if extra or any(v not in (torch.float64, torch.device("cpu"), "cpu", None) for v in kwargs.values()):
            raise Unsupported(f"{name} to another dtype or device")
        return args[0]
    if name in ("ones_like", "zeros_like") and len(args) == 1 and isinstance(args[0], _S) and not kwargs:
        a = args[0]
        if isinstance(a, _V):
            return _V([_call(name, (c,), {}) for c in a.cols])
        return a.tape.emit("1.0" if name == "ones_like" else "0.0", None)
    if name in ("add", "sub", "mul", "div", "pow", "rsub") and len(args) == 2 and not kwargs:
        if name == "rsub":
            return _binary("sub", args[1], args[0])
        return _binary(name, *args)
    if name in _UNARY and len(args) == 1 and not kwargs:
        a = args[0]
        if isinstance(a, _V):
            return _V([_call(name, (c,), {}) for c in a.cols])
        if not isinstance(a, _S):
            raise Unsupported(f"{name} of a non-symbolic operand")
        v = f"v{a.tape.n}"
        value, factor = _UNARY[name]
        return a.tape.emit(
            value.format(a=a.v), None if a.d is None else f"{factor.format(a=a.v, v=v)} * {a.dj()}"
        )
    if name == "unbind" and isinstance(args[0], _V):
        _last_dim(kwargs, args, 1)
        if not kwargs:
            return tuple(args[0].cols)
    if name == "getitem" and isinstance(args[0], _V) and not kwargs:
        return args[0][args[1]]
    if name in ("stack", "cat") and args and isinstance(args[0], list | tuple):
        _last_dim(kwargs, args, 1)
        items = list(args[0])
        if kwargs or not items:
            raise Unsupported(f"{name} with arguments {sorted(kwargs)}")
        if name == "stack" and all(isinstance(c, _S) and not isinstance(c, _V) for c in items):
            return _V(items)
        if name == "cat" and all(isinstance(c, _V) for c in items):
            return _V([c for v in items for c in v.cols])
        raise Unsupported(f"{name} of mixed operands")
    if name == "roll" and isinstance(args[0], _V):
        shifts = kwargs.pop("shifts", args[1] if len(args) > 1 else None)
        _last_dim(kwargs, args, 2, "dims")
        if kwargs or isinstance(shifts, bool) or not isinstance(shifts, int):
            raise Unsupported("roll with other than one integer shift")
        cols = args[0].cols
        s = shifts % len(cols)
        return _V(cols[-s:] + cols[:-s] if s else list(cols))
    raise Unsupported(f"torch operation {name!r}")


def translate(vector_field: Callable, t0: float, d: int) -> str:
    """C body computing ``f`` (``out_f[i]``) and ``J q`` (``out_d[i*K + j]``) for one row, from the
    row's state ``x[i]`` and tangents ``q[i*K + j]``. Raises :class:`Unsupported`."""
    tape = _Tape()
    cols = []
    for i in range(d):
        tape.lines.append(f"const double x{i} = x[{i}]; const double *dx{i} = q + {i} * K;")
        cols.append(_S(tape, f"x{i}", f"dx{i}"))
    t_sym = _S(tape, "t", None)
    try:
        out = vector_field(t_sym, _V(cols))
    except Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the symbolic call: not translatable
        raise Unsupported(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(out, _V) or len(out.cols) != d:
        raise Unsupported("the vector field does not return a state expression of width D")
    del t0
    for i, c in enumerate(out.cols):
        tape.lines.append(f"out_f[{i}] = {c.v};")
        tangent = "0.0" if c.d is None else f"{c.d}[j]"
        tape.lines.append(f"for (int j = 0; j < K; j++) out_d[{i} * K + j] = {tangent};")
    return "\n    ".join(tape.lines)


_TEMPLATE = r"""
#include <math.h>
#define D %(D)d
#define K %(K)d
static void field(double t, const double *x, const double *q, double *out_f, double *out_d) {
    %(BODY)s
}
void eval_field(long B, double t, const double *X, const double *Q, double *F, double *JQ) {
    for (long b = 0; b < B; b++) field(t, X + b * D, Q + b * D * K, F + b * D, JQ + b * D * K);
}
void rk4_step(long B, double t, double h, const double *X, const double *Q, double *XO, double *QO, double *S) {
    const double half = 0.5 * h, sixth = h / 6.0;
    for (long b = 0; b < B; b++) {
        const double *x = X + b * D, *q = Q + b * D * K;
        double k1[D], k2[D], k3[D], k4[D], j1[D * K], j2[D * K], j3[D * K], j4[D * K], xs[D], qs[D * K];
        field(t, x, q, k1, j1);
        double s = 0.0;
        for (int i = 0; i < D * K; i++) s += q[i] * j1[i];
        S[b] = s;
        for (int i = 0; i < D; i++) xs[i] = x[i] + half * k1[i];
        for (int i = 0; i < D * K; i++) qs[i] = q[i] + half * j1[i];
        field(t + half, xs, qs, k2, j2);
        for (int i = 0; i < D; i++) xs[i] = x[i] + half * k2[i];
        for (int i = 0; i < D * K; i++) qs[i] = q[i] + half * j2[i];
        field(t + half, xs, qs, k3, j3);
        for (int i = 0; i < D; i++) xs[i] = x[i] + h * k3[i];
        for (int i = 0; i < D * K; i++) qs[i] = q[i] + h * j3[i];
        field(t + h, xs, qs, k4, j4);
        for (int i = 0; i < D; i++)
            XO[b * D + i] = x[i] + sixth * (((k1[i] + 2.0 * k2[i]) + 2.0 * k3[i]) + k4[i]);
        for (int i = 0; i < D * K; i++)
            QO[b * D * K + i] = q[i] + sixth * (((j1[i] + 2.0 * j2[i]) + 2.0 * j3[i]) + j4[i]);
    }
}
"""


def _cache_dir() -> pathlib.Path:
    return cache_folder("PHYSICS_METRICS_CACHE_DIR", "physics_metrics")


_FLAGS = ("-O2", "-std=c99", "-ffp-contract=off", "-shared", "-fPIC")


def _declare(lib: Any) -> None:
    dbl, ptr, lng = ctypes.c_double, ctypes.c_void_p, ctypes.c_long
    lib.rk4_step.argtypes = [lng, dbl, dbl, ptr, ptr, ptr, ptr, ptr]
    lib.eval_field.argtypes = [lng, dbl, ptr, ptr, ptr, ptr]
    lib.rk4_step.restype = lib.eval_field.restype = None


def _build(source: str) -> Any:
    """Compile ``source`` (or load it from the cache folder) and return the ctypes library; raises
    :class:`Unsupported` where it cannot be built or loaded."""
    digest = library_name(source, "tangent", _FLAGS)
    if digest in _LIBS:
        return _LIBS[digest]
    try:
        lib = load_library(source, stem="tangent", flags=_FLAGS, cache=_cache_dir(), setup=_declare)
    except NativeBuildError as exc:
        raise Unsupported(str(exc)) from None
    _LIBS[digest] = lib
    return lib


class NativeTangentStep:
    """``step(t, h, x, q) → (x', Q', tr(QᵀJQ))`` — the RK4 tangent step in C — and ``rate(t, x, q)``.

    ``x`` ``(B, D)``, ``q`` ``(B, D, k)`` float64 CPU tensors; ``t``, ``h`` numbers or 0-d tensors.
    """

    def __init__(self, lib: Any, b: int, d: int, k: int):
        self.lib, self.b, self.d, self.k = lib, b, d, k

    def field(self, t: Any, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``f(t, x)`` ``(B, D)`` and ``J q`` ``(B, D, k)``."""
        x, q = x.contiguous(), q.contiguous()
        f, jq = torch.empty_like(x), torch.empty_like(q)
        self.lib.eval_field(x.shape[0], float(t), x.data_ptr(), q.data_ptr(), f.data_ptr(), jq.data_ptr())
        return f, jq

    def rate(self, t: Any, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """``tr(Qᵀ J Q)`` per row ``(B,)``."""
        return (q * self.field(t, x, q)[1]).sum(dim=(1, 2))

    def __call__(self, t: Any, h: Any, x: torch.Tensor, q: torch.Tensor):
        x, q = x.contiguous(), q.contiguous()
        xo, qo = torch.empty_like(x), torch.empty_like(q)
        s = torch.empty(x.shape[0], dtype=x.dtype)
        self.lib.rk4_step(
            x.shape[0],
            float(t),
            float(h),
            x.data_ptr(),
            q.data_ptr(),
            xo.data_ptr(),
            qo.data_ptr(),
            s.data_ptr(),
        )
        return xo, qo, s


def _agrees_with_torch(step: NativeTangentStep, vector_field: Callable, t: torch.Tensor, x, q) -> str | None:
    """None when the C field matches ``vector_field`` (values, relative 1e-10) and its JVPs match
    central differences (relative 1e-5) or torch's JVP (relative 1e-9) on ``x``, ``q``; else what
    differs."""
    f_c, jq_c = step.field(t, x, q)
    f_t = vector_field(t, x)
    scale = float(f_t.abs().amax().clamp_min(1e-300))
    if not torch.allclose(f_c, f_t, rtol=1e-10, atol=1e-10 * scale):
        return f"f differs from torch by {float((f_c - f_t).abs().amax()):.3g}"
    b, d, k = q.shape
    eps = 1e-6 * x.abs().amax(dim=1).clamp_min(1.0)[:, None, None]  # (B, 1, 1)
    xr = x[:, :, None] + eps * q  # (B, D, k): x + ε q_j in column j
    xl = x[:, :, None] - eps * q
    rows = lambda z: z.permute(0, 2, 1).reshape(b * k, d)  # noqa: E731
    fd = (vector_field(t, rows(xr)) - vector_field(t, rows(xl))).reshape(b, k, d).permute(0, 2, 1) / (2 * eps)
    jscale = float(jq_c.abs().amax().clamp_min(1.0))
    if bool(((jq_c - fd).abs() <= 1e-5 * jscale).all()):
        return None
    # differences are inconclusive for badly scaled states (a column near 0 in a 1/x term):
    # compare with torch's forward-mode JVP exactly (first use of torch.func costs ~0.3 s)
    from ._tangent import _batched_jvp

    _, jq_t = _batched_jvp(lambda z: vector_field(t, z), x, q)
    jscale = float(jq_t.abs().amax().clamp_min(1e-300))
    if torch.allclose(jq_c, jq_t, rtol=1e-9, atol=1e-9 * jscale):
        return None
    return f"J q differs from torch's forward-mode JVP by {float((jq_c - jq_t).abs().amax()):.3g}"


def native_tangent_step(vector_field: Callable, t0: torch.Tensor, x: torch.Tensor, q: torch.Tensor):
    """A checked :class:`NativeTangentStep` for ``vector_field`` at these shapes, or ``None`` (logged
    at INFO why) when the path is disabled, not applicable or the translation fails its check."""
    if os.environ.get("PHYSICS_METRICS_NATIVE", "1") == "0":
        return None
    if x.device.type != "cpu" or x.dtype != torch.float64:
        return None
    b, d, k = q.shape
    try:
        if 10 * d * k > MAX_STACK_DOUBLES:
            raise Unsupported(f"D·k = {d * k} too large for the C stack")
        body = translate(vector_field, float(t0), d)
        if (body.count("[K]") + 10 * d) * k > MAX_STACK_DOUBLES:  # the tangent arrays of the tape
            raise Unsupported("the recorded field is too large for the C stack")
        lib = _build(_TEMPLATE % {"D": d, "K": k, "BODY": body})
    except Unsupported as exc:
        logger.info("lyapunov_spectrum_flow: no C tangent step (%s); using the torch step", exc)
        return None
    step = NativeTangentStep(lib, b, d, k)
    problem = _agrees_with_torch(step, vector_field, t0, x, q)
    if problem is not None:
        logger.info("lyapunov_spectrum_flow: C tangent step rejected (%s); using the torch step", problem)
        return None
    return step
