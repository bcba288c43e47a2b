"""Power-spectrum distance D_H: Hellinger distance between per-dimension power spectra.

Two definitions are in use, under separate names:

* :func:`power_spectrum_hellinger` -- Hess et al. (ICML 2023, "GTF") / Mikhaeil et al. (NeurIPS
  2022): z-scored series, ``|rfft|^2``, Gaussian smoothing (sigma = 20 frequency bins), normalised,
  Hellinger distance, mean over dimensions.
* :func:`power_spectrum_hellinger_first_bins` -- ``dysts.metrics.average_hellinger_distance``
  (used by PhyxMamba): unsmoothed ``|fft|^2`` of the raw series, first ``n_bins`` bins only.

Inputs are ``(..., time, dim)`` (numpy, torch, xarray with a ``time`` dim); both series must have
the same length (the frequency grids must agree). Leading batch dims are broadcast.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from physics_metrics._arrays import as_time_series, check_same_dim

from .errors import MetricInputError

__all__ = ["power_spectrum_hellinger", "power_spectrum_hellinger_first_bins", "smoothed_power_spectrum"]

logger = logging.getLogger(__name__)


def _load_pair(x_true: Any, x_gen: Any, time_dim: str, state_dim: str, min_length: int):
    a = as_time_series(x_true, "x_true", time_dim=time_dim, state_dim=state_dim, min_length=min_length)
    b = as_time_series(x_gen, "x_gen", time_dim=time_dim, state_dim=state_dim, min_length=min_length)
    check_same_dim(a, b, ("x_true", "x_gen"))
    if a.shape[-2] != b.shape[-2]:
        raise MetricInputError(
            f"x_true and x_gen have different lengths ({a.shape[-2]} vs {b.shape[-2]} time steps); "
            "their power spectra would live on different frequency grids"
        )
    sa, sb = a.shape[:-2], b.shape[:-2]
    if sa and sb and sa != sb:
        raise MetricInputError(f"x_true and x_gen have different batch shapes: {sa} vs {sb}")
    return a, b


def _hellinger(p: np.ndarray, q: np.ndarray, axis: int = -2) -> np.ndarray:
    """``H(p, q) = (1/sqrt 2) ||sqrt p - sqrt q||_2`` along ``axis`` (p, q normalised)."""
    return np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=axis)) / np.sqrt(2.0)


def smoothed_power_spectrum(
    x: Any,
    smoothing_sigma: float = 20.0,
    *,
    normalize: bool = True,
    name: str = "x",
    time_dim: str = "time",
    state_dim: str = "dim",
) -> np.ndarray:
    """Per-dimension z-scored, Gaussian-smoothed, normalised power spectrum (GTF convention).

    For each dimension (``src/measures/pse.jl`` of DurstewitzLab/GTF-shPLRNN):
    ``PS = |rfft(z)|^2`` with ``z`` the z-scored series; smoothed along frequency with a Gaussian of
    standard deviation ``smoothing_sigma`` bins (kernel radius 4 sigma, reflect padding -- exactly
    ``scipy.ndimage.gaussian_filter1d``'s defaults, which the Julia code mimics); negatives clipped
    to 0; then divided by its sum over frequencies. ``smoothing_sigma = 0`` skips the smoothing.

    Returns an array of shape ``(..., time // 2 + 1, dim)``.
    """
    if smoothing_sigma < 0:
        raise MetricInputError(f"smoothing_sigma: must be >= 0, got {smoothing_sigma!r}")
    a = as_time_series(x, name, time_dim=time_dim, state_dim=state_dim, min_length=2)
    std = a.std(axis=-2, keepdims=True)
    if np.any(std == 0):
        raise MetricInputError(f"{name}: a state dimension is constant in time; its spectrum cannot be z-scored")
    z = (a - a.mean(axis=-2, keepdims=True)) / std
    ps = np.abs(np.fft.rfft(z, axis=-2)) ** 2
    if smoothing_sigma > 0:
        ps = gaussian_filter1d(ps, smoothing_sigma, axis=-2, mode="reflect", truncate=4.0)
        np.maximum(ps, 0.0, out=ps)
    if normalize:
        ps = ps / ps.sum(axis=-2, keepdims=True)
    return ps


def power_spectrum_hellinger(
    x_true: Any,
    x_gen: Any,
    smoothing_sigma: float = 20.0,
    *,
    reduce_dims: bool = True,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float | np.ndarray:
    """Power-spectrum distance ``D_H`` as defined by Hess et al., ICML 2023 (GTF paper).

    ``D_H = (1/N) sum_i H(f_i, g_i)`` with ``H(f, g) = (1/sqrt 2) ||sqrt f - sqrt g||_2
    = sqrt(1 - sum_w sqrt(f_w g_w))``, where ``f_i``/``g_i`` are the
    :func:`smoothed_power_spectrum` of dimension ``i`` of the true/generated series (z-scored,
    ``|rfft|^2``, Gaussian smoothing with ``smoothing_sigma`` frequency bins (GTF: 20), clipped,
    normalised to sum 1). Range ``[0, 1]``.

    Parameters
    ----------
    x_true, x_gen : array-like ``(..., time, dim)``, same length.
    smoothing_sigma : float
        Standard deviation of the smoothing kernel in frequency bins (``PSE_smoothing``).
    reduce_dims : bool
        ``True``: mean over dimensions, result ``(...)``; ``False``: per dimension ``(..., dim)``.
    """
    a, b = _load_pair(x_true, x_gen, time_dim, state_dim, min_length=2)
    pa = smoothed_power_spectrum(a, smoothing_sigma, name="x_true")
    pb = smoothed_power_spectrum(b, smoothing_sigma, name="x_gen")
    h = _hellinger(pa, pb, axis=-2)
    out = h.mean(axis=-1) if reduce_dims else h
    return float(out) if np.ndim(out) == 0 else out


def power_spectrum_hellinger_first_bins(
    x_true: Any,
    x_gen: Any,
    n_bins: int = 100,
    normalize: str = "within_bins",
    *,
    reduce_dims: bool = True,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float | np.ndarray:
    """Unsmoothed first-bins Hellinger distance of ``dysts.metrics.average_hellinger_distance``.

    Per dimension, ``P = |fft(x)|^2`` of the raw series (full two-sided FFT, no z-scoring, no mean
    removal, no smoothing); only the first ``n_bins`` bins (starting at frequency 0) are compared:

    * ``normalize="within_bins"`` (dysts upstream HEAD): ``p = P[:n] / sum(P[:n])``, and
      ``H = sqrt(1 - sum_k sqrt(p_k q_k))``.
    * ``normalize="all_bins"`` (PhyxMamba's vendored dysts copy, as described in the project's
      reference notes): ``p = P / sum(P)`` over all bins, then the same formula on the first
      ``n_bins`` bins (``p`` then does not sum to 1 and ``H`` is not a distance between
      distributions; kept for reproducing their numbers).

    Result: mean of ``H`` over dimensions (``reduce_dims=True``), as in dysts (Mikhaeil et al. 2022).
    """
    if normalize not in ("within_bins", "all_bins"):
        raise MetricInputError(f"normalize: must be 'within_bins' or 'all_bins', got {normalize!r}")
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise MetricInputError(f"n_bins: must be a positive integer, got {n_bins!r}")
    a, b = _load_pair(x_true, x_gen, time_dim, state_dim, min_length=2)
    if n_bins > a.shape[-2]:
        raise MetricInputError(f"n_bins: {n_bins} exceeds the series length {a.shape[-2]}")
    pa = np.abs(np.fft.fft(a, axis=-2)) ** 2
    pb = np.abs(np.fft.fft(b, axis=-2)) ** 2
    if normalize == "all_bins":
        pa, pb = pa / pa.sum(axis=-2, keepdims=True), pb / pb.sum(axis=-2, keepdims=True)
        pa, pb = pa[..., :n_bins, :], pb[..., :n_bins, :]
    else:
        pa, pb = pa[..., :n_bins, :], pb[..., :n_bins, :]
        pa, pb = pa / pa.sum(axis=-2, keepdims=True), pb / pb.sum(axis=-2, keepdims=True)
    for name, p in (("x_true", pa), ("x_gen", pb)):
        if not np.all(np.isfinite(p)):
            raise MetricInputError(f"{name}: zero power in the first {n_bins} frequency bins of some dimension")
    overlap = np.sum(np.sqrt(pa * pb), axis=-2)
    h = np.sqrt(np.clip(1.0 - overlap, 0.0, None))
    out = h.mean(axis=-1) if reduce_dims else h
    return float(out) if np.ndim(out) == 0 else out
