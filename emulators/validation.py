"""Small checks shared by the model configs and forward passes; every failure names the key or tensor.

Config dataclasses call the ``check_*`` helpers in ``__post_init__`` so that a bad value is refused
when the config is built (from a YAML file, a checkpoint or code), naming ``Config.key``, the value
and what is allowed — not later as a shape error from deep inside torch. Integers given as NumPy
scalars are turned into plain ``int`` (and reals into ``float``) so that configs stay plain values
that load with ``torch.load(weights_only=True)``.

:func:`check_tensor` does the same for the tensors a ``forward`` receives: type, rank, fixed sizes
and (optionally) floating-point dtype matching the model's, with the expected and the actual shape
in the message.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch

from .errors import EmulatorInputError, EmulatorTypeError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_int_tuple",
    "check_real",
    "check_tensor",
    "format_shape",
]


def check_int(owner: str, key: str, value: Any, minimum: int | None = 1) -> int:
    """``value`` as a plain ``int`` ``>= minimum`` (``None``: no bound); bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise EmulatorTypeError(f"{owner}.{key} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise EmulatorInputError(f"{owner}.{key} must be an integer >= {minimum}, got {value}")
    return value


def check_real(
    owner: str,
    key: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> float:
    """``value`` as a finite ``float`` within the given open (``above``/``below``) or closed bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise EmulatorTypeError(f"{owner}.{key} must be a number, got {value!r}")
    value = float(value)
    bounds = []
    if above is not None:
        bounds.append((value > above, f"> {above:g}"))
    if at_least is not None:
        bounds.append((value >= at_least, f">= {at_least:g}"))
    if below is not None:
        bounds.append((value < below, f"< {below:g}"))
    if at_most is not None:
        bounds.append((value <= at_most, f"<= {at_most:g}"))
    if not math.isfinite(value) or not all(ok for ok, _ in bounds):
        allowed = " and ".join(text for _, text in bounds) or "finite"
        raise EmulatorInputError(f"{owner}.{key} must be a finite number {allowed}, got {value!r}")
    return value


def check_bool(owner: str, key: str, value: Any) -> bool:
    """``value`` must be ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise EmulatorTypeError(f"{owner}.{key} must be True or False, got {value!r}")
    return value


def check_choice(owner: str, key: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` must be one of ``choices``."""
    if value not in tuple(choices):
        raise EmulatorInputError(f"{owner}.{key} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_int_tuple(
    owner: str,
    key: str,
    value: Any,
    length: int | Sequence[int] | None = None,
    minimum: int | None = 1,
) -> tuple[int, ...]:
    """A tuple (a list is accepted) of integers ``>= minimum``; ``length``: the allowed length(s)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise EmulatorTypeError(f"{owner}.{key} must be a tuple of integers, got {value!r}")
    lengths = (length,) if isinstance(length, int) else (tuple(length) if length is not None else None)
    if lengths is not None and len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise EmulatorInputError(
            f"{owner}.{key} must have {want} entries, got {len(value)}: {tuple(value)!r}"
        )
    if not value and lengths is None:
        raise EmulatorInputError(f"{owner}.{key} must not be empty")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise EmulatorTypeError(f"{owner}.{key} must hold integers, got {tuple(value)!r}")
        if minimum is not None and v < minimum:
            raise EmulatorInputError(f"{owner}.{key} entries must be >= {minimum}, got {tuple(value)!r}")
        out.append(int(v))
    return tuple(out)


def format_shape(dims: Sequence[int | str]) -> str:
    """``(batch, 3, lat, lon)``-style text of an expected shape (ints fixed, strings free)."""
    return "(" + ", ".join(str(d) for d in dims) + ")"


def check_tensor(
    name: str,
    x: Any,
    expected: Sequence[int | str],
    *,
    like: torch.Tensor | None = None,
    axes: Sequence[str] | None = None,
) -> None:
    """Refuse anything but a floating-point ``torch.Tensor`` of shape ``expected``.

    ``expected``: one entry per dimension, an ``int`` for a size that must match and a ``str`` naming
    a free size (``"batch"``, ``"lat"`` …). ``axes``: what each dimension is (``"channels"`` …), to
    say which fixed size differs. ``like``: a parameter of the model; outside autocast the
    tensor's dtype must equal its dtype (a float64 input to a float32 model is refused with the fix,
    instead of a dtype error from inside a convolution). Raises :class:`EmulatorTypeError` for a
    non-tensor and :class:`EmulatorInputError` naming the expected and the actual shape otherwise.
    """
    want = format_shape(expected)
    if not isinstance(x, torch.Tensor):
        raise EmulatorTypeError(f"{name}: expected a torch.Tensor of shape {want}, got {type(x).__name__}")
    got = tuple(x.shape)
    if x.ndim != len(expected):
        raise EmulatorInputError(f"{name}: expected shape {want} ({len(expected)} dimensions), got {got}")
    wrong = [i for i, (e, g) in enumerate(zip(expected, got)) if isinstance(e, int) and e != g]
    if wrong:
        what = (
            axes
            if axes is not None and len(axes) == len(expected)
            else [f"axis {i}" for i in range(len(got))]
        )
        detail = "; ".join(f"{got[i]} {what[i]} instead of {expected[i]}" for i in wrong)
        raise EmulatorInputError(f"{name}: expected shape {want}, got {got} ({detail})")
    if not torch.is_floating_point(x):
        raise EmulatorInputError(
            f"{name}: expected a floating-point tensor, got dtype {x.dtype} (shape {got})"
        )
    if like is not None and x.dtype != like.dtype and not torch.is_autocast_enabled(x.device.type):
        raise EmulatorInputError(
            f"{name}: dtype {x.dtype} differs from the model's {like.dtype}; convert one of them "
            f"(x.to({like.dtype}) or model.to({x.dtype}))"
        )
