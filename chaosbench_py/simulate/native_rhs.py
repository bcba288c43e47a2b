"""Translate a catalog right-hand side ``f(t, x)`` into C statements, by calling it on symbols.

``f`` is called once with ``t`` and the state's columns as :class:`_Sym` objects; every torch
operation it performs (``+ - * /``, ``**``, ``neg``, ``sin``, ``cos``, ``exp`` …, ``unbind`` and
``stack`` along the last dimension) is recorded, in order, as one C statement computing an array
over the ``W`` lanes (trajectories) of a block, so that each operation rounds as torch's does:

* arithmetic on doubles is IEEE in both (the C is built without contraction or fast-math);
* ``x ** 2`` / ``x ** 3`` are ``x*x`` / ``x*x*x`` and ``x ** -1`` ``1/x`` as in ATen, and
  ``number / x`` is ``(1/x) * number`` (``Tensor.__rtruediv__`` is ``reciprocal() * number``);
* ``sqrt, sin, cos, tan, exp, log, tanh, atan`` call, when passed in, the MKL VML routines torch
  itself uses for CPU doubles (``VF[i]``, checked bit for bit against torch on a probe); else the
  C library's (which can differ by an ulp).

Parameters that are Python numbers or one-element tensors become constants. Anything else —
tensor parameter sweeps, ``roll`` or indexing beyond single columns, a data-dependent branch,
``torch.where`` … — raises :class:`_Unsupported` (the caller then runs the torch step).
"""

from __future__ import annotations

import math
from typing import Any

import torch

_FUNCS = {  # unary torch functions -> (C function, MKL VML function torch calls for CPU doubles)
    "sin": ("sin", "Sin"), "cos": ("cos", "Cos"), "tan": ("tan", "Tan"), "exp": ("exp", "Exp"),
    "log": ("log", "Ln"), "tanh": ("tanh", "Tanh"), "sinh": ("sinh", "Sinh"), "cosh": ("cosh", "Cosh"),
    "sqrt": ("sqrt", "Sqrt"), "atan": ("atan", "Atan"), "arctan": ("atan", "Atan"), "asin": ("asin", "Asin"),
    "arcsin": ("asin", "Asin"), "acos": ("acos", "Acos"), "arccos": ("acos", "Acos"), "abs": ("fabs", None),
}  # fmt: skip
_VML = [
    "Sqrt",
    "Sin",
    "Cos",
    "Tan",
    "Exp",
    "Ln",
    "Tanh",
    "Sinh",
    "Cosh",
    "Atan",
    "Asin",
    "Acos",
]  # VF[i] in C  # VF[i] in C
_BINARY = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "true_divide": "/",
    "subtract": "-",
    "multiply": "*",
}


class _Unsupported(Exception):
    """The right-hand side does something the C translation does not cover."""


def _num(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1 or v.is_complex():
            raise _Unsupported(f"a tensor parameter of shape {tuple(v.shape)}")
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Unsupported(f"an operand of type {type(v).__name__}")
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    return f"({v!r})"


class _Tape:
    """The C statements of a traced right-hand side; each computes one array over the W lanes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _name(self) -> str:
        return f"v{len(self.lines)}"

    def emit(self, expr: str) -> _Sym:
        name = self._name()
        self.lines.append(f"double {name}[W]; for (int w = 0; w < W; w++) {name}[w] = {expr};")
        return _Sym(self, f"{name}[w]", array=name)

    def call(self, torch_name: str, arg: _Sym) -> _Sym:
        """``torch_name(arg)`` lane-wise: through torch's own VML routine when it is passed in
        (``VF[i]``, checked to round as torch does), else the C library's."""
        cfun, vml = _FUNCS[torch_name]
        arr = arg.array or self.emit(arg.expr).array
        name = self._name()
        loop = f"for (int w = 0; w < W; w++) {name}[w] = {cfun}({arr}[w]);"
        if vml is None:
            self.lines.append(f"double {name}[W]; {loop}")
        else:
            k = _VML.index(vml)
            self.lines.append(f"double {name}[W]; if (VF[{k}]) VF[{k}](W, {arr}, {name}); else {loop}")
        return _Sym(self, f"{name}[w]", array=name)


class _Sym:
    """A symbolic per-trajectory scalar (a column of the state, ``t``, or an expression of them)."""

    dtype = torch.float64
    device = torch.device("cpu")

    def __init__(self, tape: _Tape, expr: str, columns: list[_Sym] | None = None, array: str | None = None):
        self.tape, self.expr, self.columns, self.array = tape, expr, columns, array

    # --- the state x (B, D): only column access
    def unbind(self, dim: int = 0) -> tuple[_Sym, ...]:
        if self.columns is None or dim not in (-1, 1):
            raise _Unsupported("unbind other than of the state's last dimension")
        return tuple(self.columns)

    def __getitem__(self, idx: Any) -> _Sym:
        if self.columns is not None and isinstance(idx, tuple) and len(idx) == 2:
            first, i = idx
            if (first is Ellipsis or first == slice(None)) and isinstance(i, int):
                return self.columns[i]
        raise _Unsupported(f"indexing with {idx!r}")

    def __bool__(self) -> bool:
        raise _Unsupported("a data-dependent branch")

    def __getattr__(self, name: str) -> Any:
        if name in _FUNCS or name in ("pow", "neg", "square", "reciprocal"):
            return lambda *a: _call(name, (self, *a))
        raise _Unsupported(f"attribute {name!r}")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if kwargs:
            kwargs = {k: v for k, v in kwargs.items() if not (k == "dim" and v == -1)}
            if kwargs:
                raise _Unsupported(f"{getattr(func, '__name__', func)} with arguments {sorted(kwargs)}")
        return _call(getattr(func, "__name__", str(func)).strip("_"), args)

    def _bin(self, op: str, other: Any, reverse: bool = False) -> _Sym:
        return _call(op, (other, self) if reverse else (self, other))

    __add__ = lambda s, o: s._bin("add", o)  # noqa: E731
    __radd__ = lambda s, o: s._bin("add", o, True)  # noqa: E731
    __sub__ = lambda s, o: s._bin("sub", o)  # noqa: E731
    __rsub__ = lambda s, o: s._bin("sub", o, True)  # noqa: E731
    __mul__ = lambda s, o: s._bin("mul", o)  # noqa: E731
    __rmul__ = lambda s, o: s._bin("mul", o, True)  # noqa: E731
    __truediv__ = lambda s, o: s._bin("div", o)  # noqa: E731
    __rtruediv__ = lambda s, o: _call("rtruediv", (s, o))  # noqa: E731
    __pow__ = lambda s, o: _call("pow", (s, o))  # noqa: E731
    __rpow__ = lambda s, o: _call("pow", (o, s))  # noqa: E731
    __neg__ = lambda s: _call("neg", (s,))  # noqa: E731
    __pos__ = lambda s: s  # noqa: E731


def _operand(v: Any) -> str:
    return v.expr if isinstance(v, _Sym) else _num(v)


def _pow(tape: _Tape, base: Any, e: Any) -> _Sym:
    """``base ** e`` as ATen computes it for a scalar exponent (x*x for 2, x*x*x for 3, sqrt for 0.5 …)."""
    b = _operand(base)
    if isinstance(e, _Sym):
        return tape.emit(f"pow({b}, {e.expr})")
    ev = float(_num(e).strip("()")) if _num(e) not in ("NAN", "INFINITY", "(-INFINITY)") else None
    special = {2.0: f"{b} * {b}", 3.0: f"{b} * {b} * {b}", 1.0: f"{b}",
               -1.0: f"1.0 / {b}", -2.0: f"1.0 / ({b} * {b})", -0.5: f"1.0 / sqrt({b})"}  # fmt: skip
    if isinstance(base, _Sym) and ev == 0.5:
        return tape.call("sqrt", base)
    if isinstance(base, _Sym) and ev in special:
        return tape.emit(special[ev])
    return tape.emit(f"pow({b}, {_num(e)})")


def _call(name: str, args: tuple) -> Any:
    syms = [a for a in args if isinstance(a, _Sym)]
    if name == "stack" and args and isinstance(args[0], (list, tuple)):
        cols = list(args[0])
        if len(args) > 1 and args[1] not in (-1, 1):
            raise _Unsupported("stack along another dimension than the last")
        if not all(isinstance(c, _Sym) for c in cols):
            raise _Unsupported("stack of non-symbolic columns")
        out = _Sym(cols[0].tape, "<stacked>")
        out.stacked = cols  # type: ignore[attr-defined]
        return out
    if not syms:
        raise _Unsupported(f"{name} without a state operand")
    tape = syms[0].tape
    if name in ("unbind", "getitem"):
        return args[0].unbind(*args[1:]) if name == "unbind" else args[0][args[1]]
    if name in _BINARY and len(args) == 2:
        return tape.emit(f"{_operand(args[0])} {_BINARY[name]} {_operand(args[1])}")
    if name == "rsub" and len(args) == 2:
        return tape.emit(f"{_operand(args[1])} - {_operand(args[0])}")
    if name in ("radd", "rmul") and len(args) == 2:
        return tape.emit(f"{_operand(args[1])} {_BINARY[name[1:]]} {_operand(args[0])}")
    if name in ("rtruediv", "rdiv") and len(args) == 2:  # torch: number / x is x.reciprocal() * number
        inverse = tape.emit(f"1.0 / {_operand(args[0])}")
        return tape.emit(f"{inverse.expr} * {_operand(args[1])}")
    if name in ("pow", "rpow") and len(args) == 2:
        return _pow(tape, *(args if name == "pow" else args[::-1]))
    if name in ("neg", "negative") and len(args) == 1:
        return tape.emit(f"-{_operand(args[0])}")
    if name == "square" and len(args) == 1:
        return tape.emit(f"{args[0].expr} * {args[0].expr}")
    if name == "reciprocal" and len(args) == 1:
        return tape.emit(f"1.0 / {args[0].expr}")
    if name in ("ones_like", "zeros_like") and len(args) == 1:
        return tape.emit("1.0" if name == "ones_like" else "0.0")
    if name in _FUNCS and len(args) == 1:
        return tape.call(name, args[0])
    raise _Unsupported(f"torch operation {name!r}")


def trace_rhs(f: Any, dim: int) -> str:
    """C body of the lane loop of ``rhs(t, x[D][W], dx[D][W])`` (lane ``w``) for the vector field ``f``.

    Raises :class:`_Unsupported` when ``f`` uses an operation the translation does not cover.
    """
    tape = _Tape()
    cols = [_Sym(tape, f"x[{i}][w]", array=f"x[{i}]") for i in range(dim)]
    state = _Sym(tape, "<state>", cols)
    try:
        out = f(_Sym(tape, "t"), state)
    except _Unsupported:
        raise
    except Exception as exc:  # any other failure of the symbolic call: not translatable
        raise _Unsupported(f"{type(exc).__name__}: {exc}") from None
    stacked = getattr(out, "stacked", None)
    if stacked is None or len(stacked) != dim:
        raise _Unsupported("the right-hand side does not return torch.stack of its columns")
    body = tape.lines + [f"for (int w = 0; w < W; w++) dx[{i}][w] = {c.expr};" for i, c in enumerate(stacked)]
    return "\n    ".join(body)
