"""Maximum mean discrepancy between point clouds (attractor-geometry score and training loss).

PhyxMamba (Liu et al. 2025, ``util/loss_fn.py``) regularises its fine-tuning with
``MMD^2`` under a sum of rational-quadratic kernels on standardised states; the same estimator
is exposed here as a score (numpy in -> float out) and as a differentiable loss (torch in -> torch
out, gradients flow to both point clouds).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .errors import MetricInputError, MetricTypeError

__all__ = ["maximum_mean_discrepancy", "PHYXMAMBA_RQ_SCALES"]

logger = logging.getLogger(__name__)

#: Kernel scales of PhyxMamba's rational-quadratic kernel sum.
PHYXMAMBA_RQ_SCALES: tuple[float, ...] = (0.2, 0.5, 0.9, 1.3)


def _as_points(v: Any, name: str) -> tuple[torch.Tensor, bool]:
    """Return ``(tensor (..., n, d), was_torch)``; 1-D input is taken as ``n`` scalar points."""
    if isinstance(v, torch.Tensor):
        t, was_torch = v, True
    else:
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover
            xr = None
        if xr is not None and isinstance(v, xr.DataArray):
            raise MetricTypeError(f"{name}: pass point clouds as numpy arrays or torch tensors ((..., n, dim))")
        t, was_torch = torch.as_tensor(np.asarray(v, dtype=np.float64)), False
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim < 2:
        raise MetricInputError(f"{name}: expected shape (..., n_points, dim), got {tuple(t.shape)}")
    if t.shape[-2] < 1:
        raise MetricInputError(f"{name}: empty point cloud")
    if not bool(torch.isfinite(t).all()):
        raise MetricInputError(f"{name}: contains NaN/inf values")
    if not t.is_floating_point():
        t = t.double()
    return t, was_torch


def _kernel(x: torch.Tensor, y: torch.Tensor, kernel: str, scales: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``(..., n, m)`` summed over ``scales``."""
    if x.shape[-2] * y.shape[-2] * x.shape[-1] <= 2**24:  # small: exact differences (as PhyxMamba)
        d2 = (x.unsqueeze(-2) - y.unsqueeze(-3)).pow(2).sum(-1)  # (..., n, m)
    else:  # large clouds: expand ||a||^2 + ||b||^2 - 2 a.b to keep memory O(n m)
        d2 = x.pow(2).sum(-1).unsqueeze(-1) + y.pow(2).sum(-1).unsqueeze(-2) - 2.0 * x @ y.transpose(-1, -2)
        d2 = d2.clamp(min=0)
    s2 = scales.pow(2).view(-1, *([1] * d2.ndim))
    if kernel == "rational_quadratic":
        k = s2 / (s2 + d2.unsqueeze(0))
    else:  # gaussian
        k = torch.exp(-d2.unsqueeze(0) / (2.0 * s2))
    return k.sum(0)


def maximum_mean_discrepancy(
    x: Any,
    y: Any,
    *,
    kernel: str = "rational_quadratic",
    scales: Sequence[float] = PHYXMAMBA_RQ_SCALES,
    estimator: str = "biased",
    mean: Any = None,
    variance: Any = None,
    clamp: bool | None = None,
):
    """Squared maximum mean discrepancy ``MMD^2(X, Y)`` between two point clouds.

    Kernel (``kernel="rational_quadratic"``, PhyxMamba's ``rational_quadratic_kernel``):
    ``k(a, b) = sum_{s in scales} s^2 / (s^2 + ||a - b||^2)`` with ``scales = (0.2, 0.5, 0.9, 1.3)``
    (a sum of rational-quadratic kernels with exponent 1). ``kernel="gaussian"``:
    ``sum_s exp(-||a - b||^2 / (2 s^2))``.

    Estimators (Gretton et al. 2012):

    * ``"biased"`` (V-statistic, PhyxMamba ``compute_mmd``):
      ``mean K_xx + mean K_yy - 2 mean K_xy``, all means over full Gram matrices (diagonals included),
      clamped at 0 by default as in PhyxMamba.
    * ``"unbiased"`` (U-statistic): diagonals of ``K_xx``, ``K_yy`` excluded,
      ``sum_{i!=j} K_xx/(n(n-1)) + sum_{i!=j} K_yy/(m(m-1)) - 2 mean K_xy``; zero in expectation when
      X and Y come from the same distribution, so it can be negative (not clamped by default).

    Standardisation: when ``mean`` and ``variance`` (per dimension, e.g. training-set statistics)
    are given, both clouds are mapped to ``(v - mean) / sqrt(variance + 1e-6)`` first, as PhyxMamba does.

    Parameters
    ----------
    x, y : ``(..., n, dim)`` and ``(..., m, dim)`` numpy arrays or torch tensors; leading batch dims
        broadcast (a batch of ``MMD^2`` values is returned).
    clamp : bool, optional
        Clamp the result at 0; default ``True`` for ``"biased"``, ``False`` for ``"unbiased"``.

    Returns
    -------
    torch tensor (differentiable) when either input is a tensor; otherwise float / ndarray.
    """
    if kernel not in ("rational_quadratic", "gaussian"):
        raise MetricInputError(f"kernel: must be 'rational_quadratic' or 'gaussian', got {kernel!r}")
    if estimator not in ("biased", "unbiased"):
        raise MetricInputError(f"estimator: must be 'biased' or 'unbiased', got {estimator!r}")
    xt, x_torch = _as_points(x, "x")
    yt, y_torch = _as_points(y, "y")
    if xt.shape[-1] != yt.shape[-1]:
        raise MetricInputError(f"x and y have different state dimensions: {xt.shape[-1]} vs {yt.shape[-1]}")
    dtype = torch.promote_types(xt.dtype, yt.dtype)
    device = xt.device
    xt, yt = xt.to(dtype), yt.to(dtype=dtype, device=device)
    sc = torch.as_tensor(list(scales), dtype=dtype, device=device)
    if sc.ndim != 1 or sc.numel() == 0 or bool((sc <= 0).any()):
        raise MetricInputError(f"scales: must be a non-empty sequence of positive numbers, got {scales!r}")
    if (mean is None) != (variance is None):
        raise MetricInputError("mean/variance: give both (standardise) or neither")
    if mean is not None:
        mu = torch.as_tensor(mean, dtype=dtype, device=device)
        var = torch.as_tensor(variance, dtype=dtype, device=device)
        if mu.shape[-1:] != xt.shape[-1:] or var.shape[-1:] != xt.shape[-1:]:
            raise MetricInputError(f"mean/variance: last dim must be {xt.shape[-1]}")
        if bool((var < 0).any()):
            raise MetricInputError("variance: must be >= 0")
        sd = torch.sqrt(var + 1e-6)
        xt, yt = (xt - mu) / sd, (yt - mu) / sd
    n, m = xt.shape[-2], yt.shape[-2]
    kxx = _kernel(xt, xt, kernel, sc)
    kyy = _kernel(yt, yt, kernel, sc)
    kxy = _kernel(xt, yt, kernel, sc)
    if estimator == "biased":
        val = kxx.mean((-2, -1)) + kyy.mean((-2, -1)) - 2.0 * kxy.mean((-2, -1))
    else:
        if n < 2 or m < 2:
            raise MetricInputError("x/y: the unbiased estimator needs at least 2 points in each cloud")
        sxx = kxx.sum((-2, -1)) - torch.diagonal(kxx, dim1=-2, dim2=-1).sum(-1)
        syy = kyy.sum((-2, -1)) - torch.diagonal(kyy, dim1=-2, dim2=-1).sum(-1)
        val = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * kxy.mean((-2, -1))
    if clamp is None:
        clamp = estimator == "biased"
    if clamp:
        val = val.clamp(min=0)
    if x_torch or y_torch:
        return val
    out = val.detach().cpu().numpy()
    return float(out) if out.ndim == 0 else out
