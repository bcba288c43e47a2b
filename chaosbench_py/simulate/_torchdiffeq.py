"""The ``dopri8``, ``dopri5`` and ``bosh3`` methods of :func:`.solvers.integrate`, through
:func:`torchdiffeq.odeint` with the max norm over the batch and the output times as forced step
ends (torchdiffeq's dense output is only 4th order). Divergence is watched from inside the vector
field (see :class:`_GuardedField`) and reported as ``solvers._Diverged``.
"""

from __future__ import annotations

import math

import torch

from .solvers import _BOUND_CHECK_EVERY, VectorField, _check_state, _Diverged, _max_norm

_STAGES = {"dopri8": 13, "dopri5": 6, "bosh3": 3}  # right-hand side evaluations per step


class _GuardedField:
    """The vector field as torchdiffeq sees it, watching the run from inside (torchdiffeq runs all
    output times in one call): more than ``max_evals`` evaluations between two output times is a
    collapsed step; a state beyond ``bound`` at three checks in a row (every ``_BOUND_CHECK_EVERY``
    evaluations; one wild trial stage of a rejected step is not a divergence) is a blow-up."""

    def __init__(self, f: VectorField, times: torch.Tensor, bound: torch.Tensor, max_evals: int):
        import bisect

        self.f, self.times, self.bound, self.max_evals = f, times.tolist(), bound, max_evals
        self._bisect = bisect.bisect_right
        self.interval, self.count, self.calls, self.over = -1, 0, 0, 0

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls % _BOUND_CHECK_EVERY == 0:
            tf = float(t)
            interval = self._bisect(self.times, tf)
            if interval != self.interval:
                self.interval, self.count = interval, 0
            self.count += _BOUND_CHECK_EVERY
            if self.count > self.max_evals:
                lo = self.times[max(0, interval - 1)]
                hi = self.times[min(interval, len(self.times) - 1)]
                raise _Diverged(
                    tf,
                    -1,
                    f"the adaptive step collapsed: more than {self.max_evals} evaluations between output "
                    f"times {lo:.6g} and {hi:.6g} (a solution racing off to infinity, or too stiff)",
                )
            try:
                _check_state(y, tf, self.bound)
                self.over = 0
            except _Diverged:
                self.over += 1
                if self.over >= 3:
                    raise
        return self.f(t, y)


def _integrate_torchdiffeq(
    f: VectorField,
    x: torch.Tensor,
    times: torch.Tensor,
    method: str,
    rtol: float,
    atol: float,
    first_step: float | None,
    max_steps: int,
    bound: torch.Tensor,
    max_per_output: int,
) -> torch.Tensor:
    import torchdiffeq

    # step_t: every output time is a step end, so outputs are never interpolated (torchdiffeq's
    # dense output is 4th order only and would dominate the error of dopri8)
    options: dict = {"norm": _max_norm, "max_num_steps": max_steps, "step_t": times}
    if first_step is not None:
        options["first_step"] = first_step
    guarded = _GuardedField(f, times, bound, max_per_output * _STAGES[method])
    try:
        with torch.no_grad():
            sol = torchdiffeq.odeint(guarded, x, times, method=method, rtol=rtol, atol=atol, options=options)
    except (RuntimeError, AssertionError) as exc:
        text = str(exc)
        if "max_num_steps" in text or "underflow" in text:
            raise _Diverged(
                math.nan,
                -1,
                f"{method}: {text} somewhere in t = [{float(times[0]):.6g}, {float(times[-1]):.6g}] "
                "(the adaptive step collapsed)",
            ) from None
        raise
    return sol.transpose(0, 1)  # (T, B, D) -> (B, T, D)
