"""Forecast scores of the chaotic-forecasting literature: sMAPE, valid prediction time, PE(n), D_frac.

Conventions are pinned by argument, because papers disagree:

* sMAPE scale: ``scale=200`` (range 0-200; PhyxMamba, Gilpin 2023, most papers) or ``scale=100``
  (range 0-100; dysts >= 2025-04-23 default ``smape(..., scaled=True)``).
* Valid prediction time: first index at which the *cumulative* (PhyxMamba ``vpt_smape``) or the
  *per-step* error exceeds a threshold.

Series are ``(..., time, dim)``: numpy, torch or xarray (``time`` dim located by name).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from physics_metrics._arrays import as_time_series, check_same_dim

from .errors import MetricInputError, NonFiniteInputError

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

__all__ = [
    "smape",
    "smape_per_step",
    "smape_cumulative",
    "ValidPredictionTime",
    "valid_prediction_time",
    "first_crossing",
    "prediction_error_n_step",
    "fractal_dimension_error",
]

logger = logging.getLogger(__name__)


def _check_scale(scale: float) -> float:
    if scale not in (100, 200):
        raise MetricInputError(f"scale: must be 200 (range 0-200) or 100 (range 0-100), got {scale!r}")
    return float(scale)


def _check_finite(arr: np.ndarray, name: str) -> None:
    """:class:`NonFiniteInputError` naming ``name`` and the first NaN/inf as ``(…, time t, dim d)``."""
    ok = np.isfinite(arr)
    if not ok.all():
        pos = tuple(int(i) for i in np.argwhere(~ok)[0])
        lead = f"series {pos[:-2]}, " if len(pos) > 2 else ""
        raise NonFiniteInputError(
            f"{name}: {int(ok.size - ok.sum())} non-finite value(s), the first ({arr[pos]}) at {lead}"
            f"time step {pos[-2]}, dim {pos[-1]}"
        )


def _pair(y_true: Any, y_pred: Any, time_dim: str, state_dim: str) -> tuple[np.ndarray, np.ndarray]:
    """Both series as ``(..., time, dim)`` float64, finite, of the same length and dimension."""
    a = as_time_series(y_true, "y_true", time_dim=time_dim, state_dim=state_dim, min_length=1, allow_nan=True)
    b = as_time_series(y_pred, "y_pred", time_dim=time_dim, state_dim=state_dim, min_length=1, allow_nan=True)
    _check_finite(a, "y_true")
    _check_finite(b, "y_pred")
    check_same_dim(a, b, ("y_true", "y_pred"))
    if a.shape[-2] != b.shape[-2]:
        raise MetricInputError(
            f"y_true and y_pred have different lengths: {a.shape[-2]} vs {b.shape[-2]} steps"
        )
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise MetricInputError(
            f"y_true and y_pred have incompatible shapes {a.shape} and {b.shape}"
        ) from None
    return a, b


def _ratio(a, b, eps: float):
    """Elementwise ``|a - b| / (|a| + |b| + eps)`` for numpy arrays or torch tensors."""
    if torch is not None and isinstance(a, torch.Tensor):
        return (a - b).abs() / (a.abs() + b.abs() + eps)
    return np.abs(a - b) / (np.abs(a) + np.abs(b) + eps)


def smape_per_step(
    y_true: Any,
    y_pred: Any,
    *,
    scale: float = 200,
    eps: float = 1e-10,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> np.ndarray:
    """sMAPE of each time step: ``s_t = scale * mean_d |y - ŷ| / (|y| + |ŷ| + eps)``.

    Shape ``(..., time, dim)`` in, ``(..., time)`` out. ``eps = 1e-10`` as in dysts (PhyxMamba's copy
    has no eps and returns NaN where ``y = ŷ = 0``).
    """
    s = _check_scale(scale)
    a, b = _pair(y_true, y_pred, time_dim, state_dim)
    return s * np.mean(_ratio(a, b, eps), axis=-1)


def smape_cumulative(
    y_true: Any,
    y_pred: Any,
    *,
    scale: float = 200,
    eps: float = 1e-10,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> np.ndarray:
    """sMAPE over the horizon ``[0, t]`` for each ``t``: ``c_t = (1/(t+1)) sum_{k<=t} s_k``.

    Equals PhyxMamba's ``horizoned_smape`` (``smape(x[:t+1], x̂[:t+1])``) and dysts'
    ``horizoned_metric``: every step holds the same number of values, so the mean over
    ``[0, t] x dims`` is the mean of the per-step values. ``(..., time, dim)`` -> ``(..., time)``.
    """
    per = smape_per_step(y_true, y_pred, scale=scale, eps=eps, time_dim=time_dim, state_dim=state_dim)
    return np.cumsum(per, axis=-1) / np.arange(1, per.shape[-1] + 1)


def smape(
    y_true: Any,
    y_pred: Any,
    *,
    scale: float = 200,
    eps: float = 1e-10,
    steps: int | None = None,
    time_dim: str = "time",
    state_dim: str = "dim",
):
    """Symmetric mean absolute percentage error.

    ``sMAPE = scale * mean_{t,d} |y - ŷ| / (|y| + |ŷ| + eps)`` over time and state dims of each series.

    * ``scale=200``: range 0-200 (PhyxMamba ``2*100*mean(...)``, Gilpin 2023; the default here).
    * ``scale=100``: range 0-100 (dysts ``smape(x, y, scaled=True)``, its default since 2025-04).

    ``steps``: only the first ``steps`` steps (PhyxMamba's "sMAPE@k" is ``steps = int(T*k/10)``).
    Shape ``(..., time, dim)`` in, ``(...)`` out (float for a single series). torch tensors in give a
    differentiable torch scalar/tensor out; numpy/xarray give numpy/float.
    """
    s = _check_scale(scale)
    if torch is not None and isinstance(y_true, torch.Tensor) and isinstance(y_pred, torch.Tensor):
        if y_true.shape[-2:] != y_pred.shape[-2:] or y_true.ndim < 2:
            raise MetricInputError(
                f"y_true and y_pred: shapes {tuple(y_true.shape)} and {tuple(y_pred.shape)}"
            )
        for name, t in (("y_true", y_true), ("y_pred", y_pred)):
            if not bool(torch.isfinite(t).all()):
                _check_finite(t.detach().cpu().double().numpy(), name)
        if steps is not None:
            y_true, y_pred = y_true[..., :steps, :], y_pred[..., :steps, :]
        return s * _ratio(y_true, y_pred, eps).mean(dim=(-2, -1))
    a, b = _pair(y_true, y_pred, time_dim, state_dim)
    if steps is not None:
        if steps < 1:
            raise MetricInputError(f"steps: must be >= 1, got {steps!r}")
        a, b = a[..., :steps, :], b[..., :steps, :]
    out = s * np.mean(_ratio(a, b, eps), axis=(-2, -1))
    return float(out) if np.ndim(out) == 0 else out


def first_crossing(curve: Any, threshold: float, *, name: str = "curve") -> np.ndarray | int:
    """Index of the first entry of ``curve`` (last axis = time) that is strictly ``> threshold``.

    Returns ``T`` (the curve length) where the curve never exceeds the threshold -- PhyxMamba's
    ``vpt_smape`` convention (``np.where(arr > threshold)[0][0]``, else ``len(arr)``). The value is
    therefore the number of leading steps before the first failure: 0 if the first step already
    fails. Shape ``(..., T)`` -> ``(...)`` integers.
    """
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim < 1 or c.shape[-1] < 1:
        raise MetricInputError(f"{name}: expected at least one time step, got shape {c.shape}")
    if np.any(np.isnan(c)):
        raise MetricInputError(f"{name}: contains NaN")
    above = c > threshold
    idx = np.where(above.any(axis=-1), above.argmax(axis=-1), c.shape[-1])
    return int(idx) if idx.ndim == 0 else idx


@dataclass(frozen=True)
class ValidPredictionTime:
    """Result of :func:`valid_prediction_time`.

    ``steps``: number of valid steps (int or int array ``(...)``); ``time = steps * dt`` when ``dt``
    was given; ``lyapunov_times = steps * dt * lambda_max`` when ``dt`` and the exponent were given.
    """

    steps: Any
    time: Any = None
    lyapunov_times: Any = None


def _nrmse_per_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PhyxMamba ``rmse_at_t``: ``sqrt(mean_d ((ŷ_t - y_t)/std_t(y))^2)``, std over the window."""
    std = a.std(axis=-2, keepdims=True)
    if np.any(std == 0):
        raise MetricInputError(
            "y_true: a state dimension is constant over the window; cannot normalise (nrmse)"
        )
    return np.sqrt(np.mean(((b - a) / std) ** 2, axis=-1))


def valid_prediction_time(
    y_true: Any,
    y_pred: Any,
    threshold: float = 30.0,
    *,
    error: str = "smape",
    mode: str = "cumulative",
    scale: float = 200,
    dt: float | None = None,
    lyapunov_exponent: float | None = None,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> ValidPredictionTime:
    """Valid prediction time: first time the forecast error exceeds ``threshold``.

    PhyxMamba (``util/metrics_utils.py::vpt_smape``): ``e_t`` = cumulative sMAPE (0-200) over
    ``[0, t]``, ``VPT = min{t : e_t > 30}`` (0-based step index, strict ``>``), or ``T`` if it never
    exceeds. So VPT counts the valid leading steps; the first forecast step has index 0. The paper
    table reports it averaged over trajectories and (apparently) divided by the 30 samples per
    Lyapunov time; that conversion is ``lyapunov_times = steps * dt * lambda_max`` here.

    Parameters
    ----------
    y_true, y_pred : ``(..., time, dim)`` forecasts starting at the first forecast step.
    threshold : float
        Error threshold (PhyxMamba: 30 for sMAPE on the 0-200 scale; 0.01 for its "VPS" nrmse).
    error : {"smape", "nrmse"}
        ``"nrmse"`` is PhyxMamba's per-step RMSE normalised by the per-dimension std of ``y_true``
        over the window (its "VPS").
    mode : {"cumulative", "per_step"}
        Threshold the running mean of the per-step error over ``[0, t]`` or the per-step error.
        (PhyxMamba: cumulative for sMAPE, per-step for nrmse.)
    scale : 200 or 100
        sMAPE scale (only for ``error="smape"``).
    dt : float, optional
        Time between steps; gives ``time``.
    lyapunov_exponent : float, optional
        Largest Lyapunov exponent (per unit time); with ``dt`` gives ``lyapunov_times``.
    """
    if mode not in ("cumulative", "per_step"):
        raise MetricInputError(f"mode: must be 'cumulative' or 'per_step', got {mode!r}")
    if error == "smape":
        curve = smape_per_step(y_true, y_pred, scale=scale, time_dim=time_dim, state_dim=state_dim)
    elif error == "nrmse":
        a, b = _pair(y_true, y_pred, time_dim, state_dim)
        curve = _nrmse_per_step(*np.broadcast_arrays(a, b))
    else:
        raise MetricInputError(f"error: must be 'smape' or 'nrmse', got {error!r}")
    if mode == "cumulative":
        curve = np.cumsum(curve, axis=-1) / np.arange(1, curve.shape[-1] + 1)
    steps = first_crossing(curve, threshold, name="error curve")
    if lyapunov_exponent is not None and dt is None:
        raise MetricInputError("dt: required to convert steps into Lyapunov times (lyapunov_exponent given)")
    if dt is not None and not dt > 0:
        raise MetricInputError(f"dt: must be > 0, got {dt!r}")
    time = None if dt is None else np.asarray(steps) * float(dt)
    lt = None if lyapunov_exponent is None else time * float(lyapunov_exponent)
    if time is not None and np.ndim(time) == 0:
        time = float(time)
        lt = None if lt is None else float(lt)
    return ValidPredictionTime(steps=steps, time=time, lyapunov_times=lt)


def prediction_error_n_step(
    x: Any,
    n: int = 20,
    *,
    step: Callable[[Any], Any] | None = None,
    predictions: Any = None,
    batch_size: int = 65536,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float:
    """n-step-ahead prediction error PE(n) of Hess et al., ICML 2023 (GTF paper).

    ``PE(n) = 1/((T-n) N) sum_{t=0}^{T-n-1} || f^n(x_t) - x_{t+n} ||^2`` (``prediction_error.jl``:
    every test point except the last ``n`` starts an ``n``-step free run; MSE over all start points
    and dimensions). GTF uses ``n = 20``.

    Give the model either as

    * ``step``: the one-step map, called on a batch of states ``(B, dim)`` of the input's array type
      (numpy in -> numpy batch; torch in -> torch batch under ``torch.no_grad()``) and returning
      ``(B, dim)``. (For a latent model, wrap encoder/decoder so that ``step`` maps observations to
      observations, as the GTF identity observation model does.) or
    * ``predictions``: precomputed ``f^n(x_t)`` for ``t = 0 .. T-n-1``, shape ``(T-n, dim)``.

    ``x``: ``(time, dim)`` test series (a single trajectory).
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise MetricInputError(f"n: must be a positive integer, got {n!r}")
    if (step is None) == (predictions is None):
        raise MetricInputError("step/predictions: give exactly one of them")
    is_torch = torch is not None and isinstance(x, torch.Tensor)
    xs = as_time_series(x, "x", time_dim=time_dim, state_dim=state_dim, min_length=n + 1)
    if xs.ndim != 2:
        raise MetricInputError(f"x: expected a single (time, dim) series, got shape {xs.shape}")
    t_start = xs.shape[0] - n
    target = xs[n:]
    if predictions is not None:
        pred = as_time_series(predictions, "predictions", min_length=1)
        if pred.shape != target.shape:
            raise MetricInputError(
                f"predictions: expected shape {target.shape} (T - n, dim), got {pred.shape}"
            )
    else:
        pred = np.empty_like(target)
        for start in range(0, t_start, batch_size):
            if is_torch:
                z = x[start : min(start + batch_size, t_start)]
                with torch.no_grad():
                    for _ in range(n):
                        z = step(z)
                zn = z.detach().cpu().double().numpy()
            else:
                z = xs[start : min(start + batch_size, t_start)]
                for _ in range(n):
                    z = step(z)
                zn = np.asarray(z, dtype=np.float64)
            if zn.shape != (min(start + batch_size, t_start) - start, xs.shape[1]):
                raise MetricInputError(f"step: returned shape {zn.shape}, expected (batch, {xs.shape[1]})")
            pred[start : start + zn.shape[0]] = zn
        if not np.all(np.isfinite(pred)):
            logger.warning("prediction_error_n_step: the model produced NaN/inf states")
            return float("inf")
    return float(np.mean((pred - target) ** 2))


def fractal_dimension_error(
    dims_true: Sequence[float] | np.ndarray,
    dims_pred: Sequence[float] | np.ndarray,
) -> float:
    """D_frac of PhyxMamba: RMS difference of fractal-dimension estimates over test trajectories.

    ``D_frac = sqrt( mean_j (d_true_j - d_pred_j)^2 )`` (``util/metrics.py::gpdim_rmse``), where
    PhyxMamba takes ``d`` = dysts ``gp_dim`` of each 300-step true and predicted window (a biased
    Grassberger-Procaccia estimate, see the reference notes). This function takes the dimension
    estimates themselves, so any estimator can be plugged in; PhyxMamba skips trajectories whose
    estimate failed -- pass NaN for those and they are dropped pairwise here (with a log message).
    """
    a = np.asarray(dims_true, dtype=np.float64).reshape(-1)
    b = np.asarray(dims_pred, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise MetricInputError(f"dims_true and dims_pred have different lengths: {a.size} vs {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    if not np.any(ok):
        raise MetricInputError("dims_true/dims_pred: no pair of finite dimension estimates")
    if not np.all(ok):
        logger.info("fractal_dimension_error: dropped %d non-finite pair(s)", int((~ok).sum()))
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))
