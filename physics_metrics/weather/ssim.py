"""Multi-scale structural similarity (MS-SSIM) with ChaosBench's parameters.

Follows the specification of ChaosBench's ``criterion.MS_SSIM`` (notes ``chaosbench.md`` §2.5; written
from the description, not from their GPL code), which uses the MS-SSIM of Wang, Simoncelli & Bovik (2003):

1. NaNs of the forecast are replaced by that sample's spatial nanmean (the truth must be finite).
2. With ``rescale=True`` (ChaosBench) each sample of forecast and, separately, of truth is min–max rescaled
   to ``[0, data_range]`` by its own min and max (the score then ignores offset and amplitude).
3. Gaussian window of size ``win_size=11``, ``sigma=1.5``, normalised; applied as a separable *valid*
   correlation along each spatial axis whose length is ≥ ``win_size`` (skipped along a shorter axis).
   ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` with ``L = data_range = 255``.
   ``cs = mean[(2σ_xy + C2)/(σ_x² + σ_y² + C2)]``, ``ssim = mean[(2μ_xμ_y + C1)/(μ_x² + μ_y² + C1) · cs_map]``.
4. Five scales with weights ``β = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``; between scales
   ``avg_pool2d(kernel 2, padding (H mod 2, W mod 2))`` (zero padding counted): 121×240 → 61×120 → 31×60 →
   16×30 → 8×15.
5. ``MS-SSIM = Π_{s<5} relu(cs_s)^{β_s} · relu(ssim_5)^{β_5}`` per sample. No latitude weighting.

:func:`ms_ssim_torch` works on tensors ``(N, H, W)`` (latitude, longitude as stored: ChaosBench's grid is
latitude 90 → −90); :func:`ms_ssim` accepts tensors/arrays or DataArrays (the wrapper orders each field
as ``(latitude descending, longitude ascending)`` so the input orientation does not matter).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from ..errors import MetricInputError, MetricTypeError

logger = logging.getLogger(__name__)

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "ms_ssim_torch"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable valid correlation of ``x`` ``(N, 1, H, W)`` along each axis at least as long as ``win``."""
    k = win.numel()
    if x.shape[-2] >= k:
        x = F.conv2d(x, win.view(1, 1, k, 1))
    if x.shape[-1] >= k:
        x = F.conv2d(x, win.view(1, 1, 1, k))
    return x


def _ssim_cs(x, y, win, c1, c2):
    mu_x, mu_y = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mu_x**2
    syy = _filter(y * y, win) - mu_y**2
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs_map = (2.0 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2.0 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.flatten(1).mean(1), cs_map.flatten(1).mean(1)


def _minmax(x: torch.Tensor, data_range: float) -> torch.Tensor:
    flat = x.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1)
    hi = flat.max(1).values.view(-1, 1, 1)
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return (x - lo) / span * data_range


def ms_ssim_torch(
    forecast: torch.Tensor,
    truth: torch.Tensor,
    *,
    data_range: float = 255.0,
    win_size: int = 11,
    win_sigma: float = 1.5,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    k: tuple[float, float] = (0.01, 0.03),
    rescale: bool = True,
) -> torch.Tensor:
    """MS-SSIM per sample of ``forecast``, ``truth`` shaped ``(N, H, W)``; returns ``(N,)``, dimensionless.

    Differentiable. Raises ``ValueError`` for mismatched shapes, NaN in ``truth`` or a grid too small for
    the number of scales.
    """
    if forecast.shape != truth.shape or forecast.ndim != 3:
        raise MetricInputError(
            f"forecast/truth: expected equal shapes (N, H, W), got {forecast.shape} and {truth.shape}"
        )
    if torch.isnan(truth).any():
        raise MetricInputError("truth: contains NaN (only forecast NaNs are filled, as in ChaosBench)")
    if torch.isnan(forecast).any():
        fill = torch.nanmean(forecast.flatten(1), dim=1).view(-1, 1, 1)
        forecast = torch.where(torch.isnan(forecast), fill, forecast)
    if rescale:
        forecast, truth = _minmax(forecast, data_range), _minmax(truth, data_range)
    x, y = forecast.unsqueeze(1), truth.unsqueeze(1)
    win = _gaussian_window(win_size, win_sigma, x.dtype, x.device)
    c1, c2 = (k[0] * data_range) ** 2, (k[1] * data_range) ** 2
    n_scales = len(weights)
    if min(x.shape[-2:]) < 2 ** (n_scales - 1):
        raise MetricInputError(f"forecast: grid {tuple(x.shape[-2:])} too small for {n_scales} scales")
    cs_list = []
    for s in range(n_scales):
        ssim_val, cs = _ssim_cs(x, y, win, c1, c2)
        if s < n_scales - 1:
            cs_list.append(torch.relu(cs))
            pad = (x.shape[-2] % 2, x.shape[-1] % 2)
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    stack = torch.stack([*cs_list, torch.relu(ssim_val)], dim=0)
    w = torch.as_tensor(weights, dtype=stack.dtype, device=stack.device).view(-1, 1)
    return torch.prod(stack**w, dim=0)


def ms_ssim(
    forecast: Any,
    truth: Any,
    *,
    lat_dim: str = "latitude",
    lon_dim: str = "longitude",
    time_dim: str | None = None,
    **kwargs: Any,
) -> Any:
    """MS-SSIM (ChaosBench parameters) for tensors/arrays ``(N, H, W)`` or DataArrays.

    Tensors/arrays: returns ``(N,)`` (a tensor for tensor input, else numpy). DataArrays: ``truth`` must
    have the same dims and coordinates (compared by value, any order); every field over
    (``lat_dim``, ``lon_dim``) is scored and the result keeps the other dims (averaged over ``time_dim`` if
    given). Keyword options as in :func:`ms_ssim_torch`.
    """
    if isinstance(forecast, xr.DataArray) or isinstance(truth, xr.DataArray):
        if not (isinstance(forecast, xr.DataArray) and isinstance(truth, xr.DataArray)):
            raise MetricTypeError("forecast/truth: pass both as DataArrays or both as arrays")
        for name, a in (("forecast", forecast), ("truth", truth)):
            for d in (lat_dim, lon_dim):
                if d not in a.dims:
                    raise MetricInputError(f"{name}: missing dimension {d!r} (dims: {a.dims})")
        if set(forecast.dims) != set(truth.dims):
            raise MetricInputError(f"truth: dims {truth.dims} differ from forecast dims {forecast.dims}")
        others = [d for d in forecast.dims if d not in (lat_dim, lon_dim)]
        f = forecast.sortby(lat_dim, ascending=False).sortby(lon_dim).transpose(*others, lat_dim, lon_dim)
        t = truth.sortby(lat_dim, ascending=False).sortby(lon_dim).transpose(*others, lat_dim, lon_dim)
        for d in f.dims:
            if d in f.coords and d in t.coords:
                if f.sizes[d] != t.sizes[d] or not np.array_equal(
                    np.asarray(f[d].values), np.asarray(t[d].values)
                ):
                    if set(np.asarray(f[d].values).tolist()) != set(np.asarray(t[d].values).tolist()):
                        raise MetricInputError(f"truth: {d!r} coordinates differ from the forecast's")
                    t = t.sel({d: f[d].values})
        shape = [f.sizes[d] for d in others]
        ft = torch.as_tensor(np.asarray(f.values, dtype=np.float64)).reshape(
            -1, f.sizes[lat_dim], f.sizes[lon_dim]
        )
        tt = torch.as_tensor(np.asarray(t.values, dtype=np.float64)).reshape(ft.shape)
        vals = ms_ssim_torch(ft, tt, **kwargs).numpy().reshape(shape)
        coords = {d: f[d] for d in others if d in f.coords}
        out = xr.DataArray(vals, dims=others, coords=coords, name="ms_ssim")
        return out.mean(time_dim) if time_dim is not None else out
    if isinstance(forecast, torch.Tensor):
        return ms_ssim_torch(forecast, torch.as_tensor(truth, dtype=forecast.dtype), **kwargs)
    f = torch.as_tensor(np.asarray(forecast, dtype=np.float64))
    t = torch.as_tensor(np.asarray(truth, dtype=np.float64))
    return ms_ssim_torch(f, t, **kwargs).numpy()
