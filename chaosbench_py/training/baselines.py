"""Fit the closed-form dynamical-systems baselines: reservoir computers (no gradient training).

* :func:`fit_reservoir` — ridge read-out of an :class:`emulators.reservoir.EchoStateNetwork` or
  :class:`emulators.reservoir.NVAR` in closed form (float64).
* :func:`as_trajectory_tensor` — the inputs they (and :func:`chaosbench_py.training.train_neural_ode`,
  a front end of the trainer) take, as one tensor.

Inputs: ``(T, D)`` or ``(B, T, D)`` numpy arrays / tensors, or a trajectory ``xarray.Dataset`` with
variable ``x`` of dims ``(trajectory, time, dim)`` / a ``DataArray`` with those dims.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import xarray as xr

from emulators.reservoir import NVAR, EchoStateNetwork

from ..errors import InputError, InputTypeError

logger = logging.getLogger(__name__)

__all__ = ["as_trajectory_tensor", "fit_reservoir"]


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
        raise InputTypeError(
            f"{name}: expected an array, tensor or trajectory Dataset, got {type(x).__name__}"
        )
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise InputError(f"{name}: expected shape (T, D) or (B, T, D), got {tuple(x.shape)}")
    x = x.to(dtype)
    if not torch.isfinite(x).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return x


def fit_reservoir(
    model: EchoStateNetwork | NVAR,
    x_train: Any,
    *,
    ridge: float | None = None,
    washout: int = 100,
    solver: str = "svd",
) -> EchoStateNetwork | NVAR:
    """Fit the read-out of a reservoir model on ``x_train`` in closed form and return the model.

    ``ridge`` defaults to each model's own default (ESN 1e-6, NVAR 2.5e-6, Gauthier et al. 2021).
    ``washout`` (ESN only): teacher-forced steps discarded before the regression.
    ``solver`` (ESN only): ``"svd"`` (all states in memory) or ``"normal"`` (chunked normal equations,
    memory independent of the series length; see :meth:`emulators.reservoir.EchoStateNetwork.fit`).
    """
    x = as_trajectory_tensor(x_train)
    if isinstance(model, EchoStateNetwork):
        kwargs = {} if ridge is None else {"ridge": ridge}
        return model.fit(x, washout=washout, solver=solver, **kwargs)
    if isinstance(model, NVAR):
        kwargs = {} if ridge is None else {"ridge": ridge}
        return model.fit(x, **kwargs)
    raise InputTypeError(f"model: expected an EchoStateNetwork or NVAR, got {type(model).__name__}")
