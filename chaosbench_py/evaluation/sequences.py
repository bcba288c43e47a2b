"""Free runs of the low-dimensional emulators ``(B, N)`` → ``(B, n_steps + 1, N)``.

:func:`rollout_sequence` (re-exported by :mod:`chaosbench_py.evaluation.rollout`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import InputError, InputTypeError

__all__ = ["rollout_sequence"]


def _as_tensor(x0: Any, name: str = "x0") -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x0) if not isinstance(x0, torch.Tensor) else x0)
    if not torch.is_floating_point(t):
        t = t.double()
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name}: contains NaN or inf")
    return t


@torch.no_grad()
def rollout_sequence(model: nn.Module, x0: Any, n_steps: int) -> np.ndarray:
    """Free run of a low-dimensional emulator: ``(B, N)`` → ``(B, n_steps + 1, N)``, float64 numpy.

    Row 0 of every run is the starting point and rows ``1 … n_steps`` the model's states one
    sampling step apart:

    * latent models with ``init_state``/``step``/``observe`` (:class:`emulators.ShPLRNN`): through
      :func:`chaosbench_py.evaluation.dsr.free_run` (row 0 = ``observe(init_state(x0))``,
      equal to ``x0`` for the identity read-out);
    * :class:`emulators.NeuralODE`: ``model(x0, n_steps)`` (the flow map over ``Δt`` per step);
    * :class:`emulators.EchoStateNetwork`, :class:`emulators.NVAR`, :class:`emulators.PhyxMamba`:
      they need a warm-up/context history: ``x0`` may be ``(B, T_ctx, N)`` (the last row is the
      starting point) and a ``(B, N)`` point is a context of length 1 (too short for NVAR and
      PhyxMamba, which then raise); forecasts through ``predict`` / ``forecast``.

    Raises ``TypeError`` for any other model.
    """
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise InputError(f"n_steps={n_steps!r}: must be an integer ≥ 1")
    n_steps = int(n_steps)
    x = _as_tensor(x0)
    from emulators import NVAR, EchoStateNetwork, NeuralODE, PhyxMamba

    context_models = (EchoStateNetwork, NVAR, PhyxMamba)
    if x.dim() == 3 and not isinstance(model, context_models):
        raise InputError(f"x0: shape {tuple(x.shape)}: a context (B, T, N) only for ESN, NVAR and PhyxMamba")
    if x.dim() not in (2, 3):
        raise InputError(
            f"x0: expected shape (B, N) (or (B, T_ctx, N) for context models), got {tuple(x.shape)}"
        )
    if all(callable(getattr(model, a, None)) for a in ("init_state", "step", "observe")):
        from chaosbench_py.evaluation.dsr import free_run

        runs = [free_run(model, row.cpu().numpy(), n_steps + 1) for row in x]
        return np.stack(runs)
    p = next(model.parameters(), None)
    dev = p.device if p is not None else torch.device("cpu")
    if isinstance(model, NeuralODE):
        dt = p.dtype if p is not None else x.dtype
        traj = model(x.to(device=dev, dtype=dt), n_steps)
        out = torch.cat([x.to(traj.dtype).to(traj.device)[:, None], traj], dim=1)
        return out.cpu().double().numpy()
    if isinstance(model, context_models):
        ctx = x if x.dim() == 3 else x[:, None]
        if isinstance(model, PhyxMamba):
            fc = model.forecast(ctx.to(device=dev), n_steps)
        else:
            fc = model.predict(ctx.to(device=dev, dtype=p.dtype if p is not None else ctx.dtype), n_steps)
        start = ctx[:, -1:].to(device=fc.device, dtype=fc.dtype)
        return torch.cat([start, fc], dim=1).cpu().double().numpy()
    raise InputTypeError(
        f"model: {type(model).__name__} is not supported by rollout_sequence; need a latent model with "
        "init_state/step/observe (ShPLRNN), NeuralODE, EchoStateNetwork, NVAR or PhyxMamba"
    )
