"""Arguments of trajectory generation: their checks and the sampling interval.

:func:`check_generation_args` validates every argument of :func:`chaosbench_py.simulate.generate_trajectories`
before any integration (counts, chunk, tolerances, noise, transient, seed), naming the argument and the system;
:func:`resolve_sampling` turns ``pts_per_period`` / ``pts_per_lyapunov`` / ``sample_dt`` into a
:class:`Sampling` (dysts' convention, Gilpin 2021: samples per dominant Fourier period or per Lyapunov time,
with the spacing exactly ``period / pts_per_period``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError
from ..systems.base import Map, System
from .fast_start import Sampling, flow_sampling
from .solvers import METHODS

__all__ = ["Sampling", "check_generation_args", "resolve_sampling"]


def _integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (numpy integers accepted; bools, floats and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(
            f"{name} must be an integer >= {minimum}; got {value!r} ({type(value).__name__})"
        )
    if value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def _number(name: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as a finite float, >= 0 (or > 0 with ``positive``); a clear error otherwise."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise InputTypeError(f"{name} must be a number; got {value!r} ({type(value).__name__})")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputTypeError(f"{name} must be a number; got {value!r} ({type(value).__name__})") from None
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite; got {value!r}")
    if positive and not v > 0:
        raise InputError(f"{name} must be > 0; got {value!r}")
    if v < 0:
        raise InputError(f"{name} must be >= 0; got {value!r}")
    return v


def check_generation_args(
    system: System,
    *,
    n_trajectories: Any,
    length: Any,
    chunk: Any,
    transient: Any,
    ic_spread: Any,
    noise: Any,
    seed: Any,
    method: Any,
    rtol: Any,
    atol: Any,
    dt: Any,
) -> dict[str, Any]:
    """Validate the arguments shared by :func:`generate_trajectories` and ``generate_to_store``.

    Returns them normalised (ints and floats); raises :class:`~chaosbench_py.errors.InputError` /
    :class:`~chaosbench_py.errors.InputTypeError` naming the argument (and the system) otherwise.
    """
    pre = f"{system.name}: "
    try:
        out = dict(
            n_trajectories=_integer("n_trajectories (number of trajectories)", n_trajectories, 1),
            length=_integer("length (samples per trajectory)", length, 1),
            chunk=_integer("chunk (samples per chunk)", chunk, 1),
            transient=_number("transient", transient),
            ic_spread=_number("ic_spread", ic_spread),
            noise=_number("noise", noise),
            seed=_integer("seed", seed, 0),
            rtol=_number("rtol", rtol, positive=True),
            atol=_number("atol", atol, positive=True),
            dt=None if dt is None else _number("dt", dt, positive=True),
        )
    except InputError as exc:
        raise type(exc)(pre + str(exc)) from None
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"{pre}method must be one of {METHODS}; got {method!r}")
    out["method"] = method
    return out


def resolve_sampling(
    system: System,
    *,
    pts_per_period: float | None = None,
    pts_per_lyapunov: float | None = None,
    sample_dt: float | None = None,
) -> Sampling:
    """Work out the sample spacing from at most one of the three sampling arguments.

    With none given: 100 points per period for flows (dysts' default), every step for maps.
    """
    given = [a is not None for a in (pts_per_period, pts_per_lyapunov, sample_dt)]
    if sum(given) > 1:
        raise InputError("give at most one of pts_per_period, pts_per_lyapunov, sample_dt")
    info = system.info
    try:
        if pts_per_period is not None:
            pts_per_period = _number("pts_per_period", pts_per_period, positive=True)
        if pts_per_lyapunov is not None:
            pts_per_lyapunov = _number("pts_per_lyapunov", pts_per_lyapunov, positive=True)
        if sample_dt is not None:
            sample_dt = _number("sample_dt", sample_dt, positive=True)
    except InputError as exc:
        raise type(exc)(f"{info.name}: {exc}") from None
    if isinstance(system, Map):
        step_dt = info.dt if info.kind == "pde" and info.dt else 1.0
        if pts_per_period is not None:
            raise InputError(f"{info.name} is a map / PDE stepper: it has no period; use sample_dt")
        if pts_per_lyapunov is not None:
            lt = info.invariants.lyapunov_time
            if lt is None:
                raise InputError(f"{info.name}: no reference Lyapunov exponent to sample per Lyapunov time")
            every = max(1, round(lt / step_dt / pts_per_lyapunov))
            return Sampling(every * step_dt, "lyapunov", pts_per_lyapunov, lt)
        every = 1 if sample_dt is None else round(sample_dt / step_dt)
        if every < 1 or not math.isclose(every * step_dt, sample_dt or step_dt, rel_tol=1e-9):
            raise InputError(f"{info.name}: sample_dt must be a positive multiple of the step {step_dt}")
        return Sampling(every * step_dt, "step", 1.0 / every, step_dt)
    return flow_sampling(
        info.name,
        info.period,
        info.invariants.lyapunov_time,
        pts_per_period=pts_per_period,
        pts_per_lyapunov=pts_per_lyapunov,
        sample_dt=sample_dt,
    )
