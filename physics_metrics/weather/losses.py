"""Differentiable training losses for gridded emulators (torch).

Shapes: ``pred`` and ``target`` ``(B, C, H, W)`` (batch, channel, latitude, longitude); ``lat_weights``
``(H,)`` in the tensor's latitude order (e.g. ``latitude_weights(lat).values``), renormalised to mean 1
inside; ``channel_weights`` ``(C,)``, used as given (not renormalised) — build one from per-variable and
per-level weights with :func:`channel_weight_vector`.

* :func:`area_weighted_mse`: ``(1/(B C H W)) Σ_{b,c,h,w} γ_c w_h (p − t)²``;
* :func:`area_weighted_mae`: the same with ``|p − t|``;
* :func:`spectral_loss`: ``(1/(B C H K)) Σ w_h γ_c (log(P_k + ε) − log(T_k + ε))²`` with ``P_k``, ``T_k`` the
  zonal power ``|rfft(x, norm="forward")_k|²`` per latitude row, ``k = k_min … n_lon//2`` (default
  ``k_min = 1``: the zonal mean is left to the pointwise losses) and ``ε`` a floor relative to the mean
  target power of each (b, c) field (``eps_rel``), which keeps the log finite for flat fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import MetricInputError, MetricKeyError, MetricTypeError

logger = logging.getLogger(__name__)

__all__ = ["area_weighted_mae", "area_weighted_mse", "channel_weight_vector", "spectral_loss"]


def _check(pred: torch.Tensor, target: torch.Tensor, lat_weights: Any, channel_weights: Any):
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise MetricTypeError("pred/target: expected torch tensors")
    if pred.ndim != 4:
        raise MetricInputError(f"pred: expected shape (B, C, H, W), got {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise MetricInputError(f"target: shape {tuple(target.shape)} differs from pred {tuple(pred.shape)}")
    _, c, h, _ = pred.shape
    w = torch.as_tensor(lat_weights, dtype=pred.dtype, device=pred.device)
    if w.shape != (h,):
        raise MetricInputError(f"lat_weights: expected shape ({h},), got {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise MetricInputError("lat_weights: must be finite, non-negative and not all zero")
    w = (w / w.mean()).view(1, 1, h, 1)
    if channel_weights is None:
        g = torch.ones(c, dtype=pred.dtype, device=pred.device)
    else:
        g = torch.as_tensor(channel_weights, dtype=pred.dtype, device=pred.device)
        if g.shape != (c,):
            raise MetricInputError(f"channel_weights: expected shape ({c},), got {tuple(g.shape)}")
    return w, g.view(1, c, 1, 1)


def area_weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, lat_weights: Any, channel_weights: Any = None
) -> torch.Tensor:
    """Latitude- and channel-weighted mean squared error (scalar tensor); see the module docstring."""
    w, g = _check(pred, target, lat_weights, channel_weights)
    return (g * w * (pred - target) ** 2).mean()


def area_weighted_mae(
    pred: torch.Tensor, target: torch.Tensor, lat_weights: Any, channel_weights: Any = None
) -> torch.Tensor:
    """Latitude- and channel-weighted mean absolute error (scalar tensor); see the module docstring."""
    w, g = _check(pred, target, lat_weights, channel_weights)
    return (g * w * (pred - target).abs()).mean()


def spectral_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    lat_weights: Any = None,
    channel_weights: Any = None,
    *,
    k_min: int = 1,
    eps_rel: float = 1e-8,
) -> torch.Tensor:
    """Mean squared difference of log zonal power spectra (scalar tensor); see the module docstring.

    ``lat_weights=None`` means uniform weights. Zero when ``pred`` and ``target`` have the same zonal
    spectrum on every latitude row (e.g. ``pred`` is ``target`` shifted in longitude).
    """
    if lat_weights is None and isinstance(pred, torch.Tensor) and pred.ndim == 4:
        lat_weights = torch.ones(pred.shape[2], dtype=pred.dtype)
    w, g = _check(pred, target, lat_weights, channel_weights)
    n_k = pred.shape[-1] // 2 + 1
    if not 0 <= k_min < n_k:
        raise MetricInputError(f"k_min: must be in [0, {n_k - 1}], got {k_min}")
    p = torch.fft.rfft(pred, dim=-1, norm="forward").abs().pow(2)[..., k_min:]
    t = torch.fft.rfft(target, dim=-1, norm="forward").abs().pow(2)[..., k_min:]
    eps = eps_rel * t.detach().mean(dim=(-2, -1), keepdim=True) + torch.finfo(pred.dtype).tiny
    diff = torch.log(p + eps) - torch.log(t + eps)
    return (g * w * diff**2).mean()


def channel_weight_vector(
    channels: Sequence[str],
    variable_weights: Mapping[str, float] | None = None,
    level_weights: Mapping[float, float] | None = None,
    *,
    separator: str = "-",
) -> torch.Tensor:
    """Channel weights ``γ_c = variable_weight[var] · level_weight[level]`` for names like ``"z-500"``.

    ``channels``: channel names in tensor order (``"var-level"`` or a surface ``"var"``, whose level weight
    is 1). Missing variables in ``variable_weights`` raise ``KeyError`` naming them; a level absent from
    ``level_weights`` raises too. ``None`` means weight 1 for all. Returns a float64 tensor ``(C,)``.
    """
    out = []
    for name in channels:
        var, _, level = str(name).partition(separator)
        gv = 1.0
        if variable_weights is not None:
            if var not in variable_weights:
                raise MetricKeyError(f"variable_weights: no weight for variable {var!r} (channel {name!r})")
            gv = float(variable_weights[var])
        gl = 1.0
        if level and level_weights is not None:
            key = float(level)
            lw = {float(k): float(v) for k, v in level_weights.items()}
            if key not in lw:
                raise MetricKeyError(f"level_weights: no weight for level {level!r} (channel {name!r})")
            gl = lw[key]
        out.append(gv * gl)
    return torch.tensor(out, dtype=torch.float64)
