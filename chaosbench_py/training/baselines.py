"""Fit and train the dynamical-systems baselines: reservoir computers (closed form) and the neural ODE.

Small helpers on one trajectory set; the trainer harness generalises them later.

* :func:`fit_reservoir` — ridge read-out of an :class:`emulators.reservoir.EchoStateNetwork` or
  :class:`emulators.reservoir.NVAR` in closed form (float64).
* :func:`train_neural_ode` — fixed-length-window multiple shooting for
  :class:`emulators.neural_ode.NeuralODE`: random windows ``x_i … x_{i+L}`` of the training series,
  each integrated from its own first point, loss ``mean ‖x̂_{i+j} − x_{i+j}‖²`` over j = 1…L, Adam.
  Short windows keep the gradients of a chaotic system bounded (each window is shorter than a
  Lyapunov time), the multiple-shooting idea of Gilpin 2023 / torchdiffeq examples.

Inputs: ``(T, D)`` or ``(B, T, D)`` numpy arrays / tensors, or a trajectory ``xarray.Dataset`` with
variable ``x`` of dims ``(trajectory, time, dim)`` / a ``DataArray`` with those dims.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from emulators.neural_ode import NeuralODE
from emulators.reservoir import NVAR, EchoStateNetwork

from ..errors import InputError, InputTypeError, NonFiniteError

logger = logging.getLogger(__name__)

__all__ = ["NeuralODETrainingResult", "as_trajectory_tensor", "fit_reservoir", "train_neural_ode"]


def as_trajectory_tensor(x: Any, name: str = "x_train", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(T, D)`` / ``(B, T, D)`` array, tensor, DataArray or trajectory Dataset → tensor ``(B, T, D)``.

    A Dataset must hold a variable ``x``; DataArrays are transposed to ``(trajectory, time, dim)``
    when they carry those dims. Raises ``ValueError`` naming ``name`` on a wrong rank or non-finite values.
    """
    if isinstance(x, xr.Dataset):
        if "x" not in x:
            raise InputError(f"{name}: Dataset has no variable 'x' (variables: {list(x.data_vars)})")
        x = x["x"]
    if isinstance(x, xr.DataArray):
        dims = [d for d in ("trajectory", "time", "dim") if d in x.dims]
        if set(dims) == set(x.dims):
            x = x.transpose(*dims)
        x = x.values
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{name}: expected an array, tensor or trajectory Dataset, got {type(x).__name__}")
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise InputError(f"{name}: expected shape (T, D) or (B, T, D), got {tuple(x.shape)}")
    x = x.to(dtype)
    if not torch.isfinite(x).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return x


def fit_reservoir(
    model: EchoStateNetwork | NVAR, x_train: Any, *, ridge: float | None = None, washout: int = 100
) -> EchoStateNetwork | NVAR:
    """Fit the read-out of a reservoir model on ``x_train`` in closed form and return the model.

    ``ridge`` defaults to each model's own default (ESN 1e-6, NVAR 2.5e-6, Gauthier et al. 2021).
    ``washout`` (ESN only): teacher-forced steps discarded before the regression.
    """
    x = as_trajectory_tensor(x_train)
    if isinstance(model, EchoStateNetwork):
        kwargs = {} if ridge is None else {"ridge": ridge}
        return model.fit(x, washout=washout, **kwargs)
    if isinstance(model, NVAR):
        kwargs = {} if ridge is None else {"ridge": ridge}
        return model.fit(x, **kwargs)
    raise InputTypeError(f"model: expected an EchoStateNetwork or NVAR, got {type(model).__name__}")


@dataclasses.dataclass
class NeuralODETrainingResult:
    """What :func:`train_neural_ode` returns: per-iteration losses and the final model (trained in place)."""

    losses: list[float]
    model: NeuralODE


def train_neural_ode(
    model: NeuralODE,
    x_train: Any,
    *,
    window: int = 10,
    batch_size: int = 64,
    n_iters: int = 500,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    grad_clip: float | None = 10.0,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> NeuralODETrainingResult:
    """Train ``model`` by fixed-length-window multiple shooting with Adam (in place).

    Parameters
    ----------
    model:
        A :class:`emulators.neural_ode.NeuralODE`; its ``config.dt`` must be the sample spacing of ``x_train``.
    x_train:
        ``(T, D)`` / ``(B, T, D)`` series (see :func:`as_trajectory_tensor`), T > ``window``.
    window:
        L, the number of steps each window is integrated (loss over its L predicted points).
    batch_size, n_iters, lr, weight_decay:
        Windows per iteration (sampled uniformly with a seeded generator), iterations, Adam settings.
    grad_clip:
        Max global gradient norm (``None``: no clipping).
    device:
        Where to train (the data are moved there in the model's dtype).
    seed:
        Seeds the window sampling.
    progress:
        Show a tqdm bar.

    Returns
    -------
    :class:`NeuralODETrainingResult` with the loss (mean squared error) of every iteration.
    """
    if not isinstance(model, NeuralODE):
        raise InputTypeError(f"model: expected a NeuralODE, got {type(model).__name__}")
    for key, val in (("window", window), ("batch_size", batch_size), ("n_iters", n_iters)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise InputError(f"{key} must be a positive int, got {val!r}")
    if not lr > 0:
        raise InputError(f"lr must be > 0, got {lr!r}")
    device = torch.device(device)
    param = next(model.parameters())
    x = as_trajectory_tensor(x_train).to(device=device, dtype=param.dtype)
    b, t_len, d = x.shape
    if d != model.config.state_dim:
        raise InputError(
            f"x_train: last dimension {d} does not match the model's state_dim {model.config.state_dim}"
        )
    if t_len <= window:
        raise InputError(f"x_train: needs more than window={window} time steps, got {t_len}")
    model.to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seed))
    n_starts = t_len - window
    offsets = torch.arange(window + 1, device=device)
    losses: list[float] = []
    bar = tqdm(range(n_iters), desc="neural ODE", disable=not progress, leave=False)
    for _ in bar:
        traj = torch.randint(b, (batch_size,), generator=gen).to(device)
        start = torch.randint(n_starts, (batch_size,), generator=gen).to(device)
        seg = x[traj[:, None], start[:, None] + offsets]  # (batch, L+1, D)
        pred = model(seg[:, 0], window)
        loss = (pred - seg[:, 1:]).pow(2).mean()
        if not math.isfinite(loss.item()):
            raise NonFiniteError(
                f"train_neural_ode: loss became {loss.item()} at iteration {len(losses)}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3g}")
    model.eval()
    logger.info("neural ODE trained for %d iterations: loss %.3g -> %.3g", n_iters, losses[0], losses[-1])
    return NeuralODETrainingResult(losses=losses, model=model)
