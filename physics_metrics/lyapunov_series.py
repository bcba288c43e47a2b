"""Largest Lyapunov exponent from a measured time series (no equations): Rosenstein and Kantz.

Both methods delay-embed the series, follow pairs of initially close points and average the
logarithm of their separation as a function of the elapsed time ``t = k·dt``:

    S(k) ≈ S(0) + λ₁ k dt       in the scaling region,

so ``λ₁`` is the slope of the divergence curve where it is straight — after the initial
alignment with the most unstable direction, before the separation saturates at the attractor's
size. The region is detected automatically by a documented rule (:func:`fit_scaling_region`)
and returned, so a user can check it on a plot, or it is given as ``fit_range``.

* Rosenstein, Collins & De Luca, Physica D 65 (1993) 117: the single nearest neighbour of each
  point, outside a Theiler window; ``S(k) = ⟨ln ‖y_{i+k} − y_{j(i)+k}‖⟩_i``.
* Kantz, Phys. Lett. A 185 (1994) 77: all neighbours within ``ε``;
  ``S(k) = ⟨ln ⟨‖y_{i+k} − y_{j+k}‖⟩_{j ∈ U_ε(i)}⟩_i``.

Units: ``λ₁`` in 1/time unit of ``dt`` (1/sample when ``dt = 1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ._arrays import as_time_series
from .errors import MetricInputError

logger = logging.getLogger(__name__)

__all__ = ["DivergenceEstimate", "delay_embed", "fit_scaling_region", "kantz", "rosenstein"]


@dataclass(frozen=True)
class DivergenceEstimate:
    """Largest Lyapunov exponent from the mean log-divergence curve.

    Attributes
    ----------
    exponent:
        Fitted slope of ``divergence`` against ``times`` over the fit region (1/time unit of ``dt``).
    times:
        ``(max_horizon + 1,)`` elapsed times ``k·dt``, ``k = 0 … max_horizon``.
    divergence:
        ``(max_horizon + 1,)`` mean log separation ``S(k)`` (natural log, data units inside).
    fit_range:
        ``(k0, k1)`` inclusive step indices of the fitted region.
    fit_times:
        ``(t0, t1)`` the same region in time.
    intercept:
        Intercept of the fitted line (for plotting).
    n_reference:
        Reference points that contributed (had a valid neighbour).
    method, auto_region:
        ``"rosenstein"`` or ``"kantz"``; whether the region was detected automatically.
    """

    exponent: float
    times: np.ndarray
    divergence: np.ndarray
    fit_range: tuple[int, int]
    fit_times: tuple[float, float]
    intercept: float
    n_reference: int
    method: str
    auto_region: bool


def delay_embed(x, embedding_dim: int, delay: int) -> np.ndarray:
    """Delay embedding ``y_i = (x_i, x_{i+τ}, …, x_{i+(m−1)τ})`` of every component.

    ``x``: ``(time,)`` or ``(time, dim)``; returns ``(time − (m−1)τ, m·dim)`` with the ``m`` delays of
    component 0 first. ``embedding_dim = 1`` returns the series itself.
    """
    arr = as_time_series(x, "x", min_length=2)
    if arr.ndim != 2:
        raise MetricInputError(f"x: expected (time,) or (time, dim), got shape {arr.shape}")
    m, tau = int(embedding_dim), int(delay)
    if m < 1:
        raise MetricInputError(f"embedding_dim must be >= 1, got {embedding_dim}")
    if tau < 1:
        raise MetricInputError(f"delay must be >= 1, got {delay}")
    n = arr.shape[0] - (m - 1) * tau
    if n < 2:
        raise MetricInputError(f"x: series of length {arr.shape[0]} too short for embedding_dim={m}, delay={tau}")
    cols = [arr[j * tau : j * tau + n, c] for c in range(arr.shape[1]) for j in range(m)]
    return np.stack(cols, axis=1)


def fit_scaling_region(
    times: np.ndarray, curve: np.ndarray, *, min_fraction: float = 0.25
) -> tuple[int, int]:
    """Automatic fit region of a divergence curve ``S(k)`` — the documented rule.

    1. Saturation cut: ``k_sat`` is the first index where ``S`` has completed 70 % of its total
       rise ``max S − S(0)``; only ``k ≤ k_sat`` is considered (the separation has not yet
       reached the attractor's size).
    2. Among all windows ``[k0, k1] ⊆ [0, k_sat]`` with at least ``max(4, min_fraction·(k_sat+1))``
       points, take the one whose local slopes ``ΔS/Δt`` have the smallest spread (max − min,
       relative to the median |slope|, rounded to 1e-9): the straightest part. Ties go to the
       longer window.

    Returns inclusive indices ``(k0, k1)``. Raises ``ValueError`` if the curve does not rise.
    """
    y = np.asarray(curve, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    finite = np.isfinite(y)
    if finite.sum() < 4:
        raise MetricInputError("divergence curve: fewer than 4 finite points; increase max_horizon or data")
    rise = np.nanmax(y) - y[0]
    if not rise > 0:
        raise MetricInputError("divergence curve does not rise: no exponential divergence detected")
    k_sat = int(np.argmax(y >= y[0] + 0.7 * rise))
    k_sat = max(k_sat, 3)
    slopes = np.diff(y[: k_sat + 1]) / np.diff(t[: k_sat + 1])  # slope between k and k+1
    length = max(4, int(np.ceil(min_fraction * (k_sat + 1))))
    scale = float(np.nanmedian(np.abs(slopes))) or 1.0
    best = None
    for k0 in range(0, k_sat + 2 - length):
        for k1 in range(k0 + length - 1, k_sat + 1):
            s = slopes[k0:k1]
            if not np.all(np.isfinite(s)):
                break
            score = (round(float(s.max() - s.min()) / scale, 9), -(k1 - k0))
            if best is None or score < best[0]:
                best = (score, k0, k1)
    if best is None:
        raise MetricInputError("divergence curve: no finite window to fit")
    return best[1], best[2]


def _prepare(x, dt, embedding_dim, delay, theiler_window, max_horizon):
    if not (np.isfinite(dt) and dt > 0):
        raise MetricInputError(f"dt must be positive and finite, got {dt}")
    y = delay_embed(x, embedding_dim, delay)
    h = int(max_horizon)
    if h < 4:
        raise MetricInputError(f"max_horizon must be >= 4, got {max_horizon}")
    w = 0 if theiler_window is None else int(theiler_window)
    if w < 0:
        raise MetricInputError(f"theiler_window must be >= 0, got {theiler_window}")
    n_ref = y.shape[0] - h
    if n_ref < 2 * w + 10:
        raise MetricInputError(
            f"x: too short: {y.shape[0]} embedded points leave {n_ref} reference points for "
            f"max_horizon={h}; need at least 2*theiler_window+10 = {2 * w + 10}"
        )
    return y, h, w, n_ref


def _finish(times, curve, fit_range, method, n_ref, dt) -> DivergenceEstimate:
    auto = fit_range is None
    if auto:
        k0, k1 = fit_scaling_region(times, curve)
    else:
        k0, k1 = (int(v) for v in fit_range)
        if not 0 <= k0 < k1 < curve.size:
            raise MetricInputError(
                f"fit_range={fit_range} must satisfy 0 <= k0 < k1 <= max_horizon={curve.size - 1}"
            )
    sel = slice(k0, k1 + 1)
    if not np.all(np.isfinite(curve[sel])):
        raise MetricInputError(f"divergence curve has non-finite values in fit_range=({k0}, {k1})")
    slope, intercept = np.polyfit(times[sel], curve[sel], 1)
    logger.debug("%s: lambda=%.4g over k in [%d, %d]", method, slope, k0, k1)
    return DivergenceEstimate(
        exponent=float(slope),
        times=times,
        divergence=curve,
        fit_range=(k0, k1),
        fit_times=(float(times[k0]), float(times[k1])),
        intercept=float(intercept),
        n_reference=int(n_ref),
        method=method,
        auto_region=auto,
    )


def rosenstein(
    x,
    *,
    dt: float = 1.0,
    embedding_dim: int,
    delay: int,
    theiler_window: int | None = None,
    max_horizon: int,
    fit_range: tuple[int, int] | None = None,
) -> DivergenceEstimate:
    """Largest Lyapunov exponent by Rosenstein's method (Physica D 65 (1993) 117).

    For every embedded point ``y_i`` (``i < N − H``) its nearest neighbour ``y_j`` with
    ``|i − j| > theiler_window`` (Euclidean norm) is found with a k-d tree; the divergence curve is
    ``S(k) = mean_i ln ‖y_{i+k} − y_{j+k}‖``, ``k = 0 … H`` (pairs at zero distance are skipped),
    and ``λ₁`` is its slope against ``k·dt`` over the fit region.

    Parameters
    ----------
    x:
        ``(time,)`` scalar or ``(time, dim)`` vector series (numpy / torch / xarray with ``time``).
    dt:
        Sampling interval; the exponent is per this time unit.
    embedding_dim, delay:
        Delay embedding ``m`` and ``τ`` (samples), applied to every component.
    theiler_window:
        Exclude neighbours closer than this many samples in time (default 0; use about one
        mean period or autocorrelation time).
    max_horizon:
        ``H``: how many steps the pairs are followed.
    fit_range:
        ``(k0, k1)`` inclusive step indices to fit; default: :func:`fit_scaling_region`.
    """
    y, h, w, n_ref = _prepare(x, dt, embedding_dim, delay, theiler_window, max_horizon)
    ref = y[:n_ref]
    tree = cKDTree(ref)
    # at most 2w+1 points lie in the excluded time window (itself included): 2w+2 candidates suffice
    kq = min(n_ref, 2 * w + 2)
    dist, idx = tree.query(ref, k=kq)
    dist = dist.reshape(n_ref, kq)
    idx = idx.reshape(n_ref, kq)
    valid = np.abs(idx - np.arange(n_ref)[:, None]) > w
    first = np.argmax(valid, axis=1)
    has = valid[np.arange(n_ref), first]
    i_ref = np.arange(n_ref)[has]
    j_nb = idx[has, first[has]]
    if i_ref.size == 0:
        raise MetricInputError("rosenstein: no admissible neighbour pairs (theiler_window too large?)")
    curve = np.empty(h + 1)
    for k in range(h + 1):
        d = np.linalg.norm(y[i_ref + k] - y[j_nb + k], axis=1)
        d = d[d > 0]
        curve[k] = np.log(d).mean() if d.size else np.nan
    times = np.arange(h + 1) * float(dt)
    return _finish(times, curve, fit_range, "rosenstein", i_ref.size, dt)


def kantz(
    x,
    *,
    dt: float = 1.0,
    embedding_dim: int,
    delay: int,
    epsilon: float,
    theiler_window: int,
    max_horizon: int,
    fit_range: tuple[int, int] | None = None,
    max_reference: int | None = 5000,
) -> DivergenceEstimate:
    """Largest Lyapunov exponent by Kantz's method (Phys. Lett. A 185 (1994) 77).

    For reference points ``y_i`` and their neighbourhoods ``U_i = {j : ‖y_j − y_i‖ < ε,
    |i − j| > theiler_window}``, ``S(k) = mean_i ln( mean_{j ∈ U_i} ‖y_{i+k} − y_{j+k}‖ )``
    (Euclidean norm of the embedded vectors); reference points with an empty ``U_i`` are skipped.
    ``λ₁`` is the slope of ``S`` against ``k·dt`` over the fit region.

    Parameters are those of :func:`rosenstein`, plus ``epsilon`` (neighbourhood radius in data
    units; a few percent of the attractor's extent) and ``max_reference`` (reference points, spread
    evenly over the series, to bound the cost; ``None`` uses all).
    """
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise MetricInputError(f"epsilon must be positive and finite, got {epsilon}")
    y, h, w, n_ref = _prepare(x, dt, embedding_dim, delay, theiler_window, max_horizon)
    cand = y[:n_ref]
    tree = cKDTree(cand)
    refs = np.arange(n_ref)
    if max_reference is not None and n_ref > max_reference:
        refs = np.unique(np.linspace(0, n_ref - 1, int(max_reference)).round().astype(int))
    neigh = tree.query_ball_point(cand[refs], r=float(epsilon))
    i_list, j_list, owner = [], [], []
    for slot, (i, nb) in enumerate(zip(refs, neigh)):
        nb = np.asarray(nb, dtype=np.int64)
        nb = nb[np.abs(nb - i) > w]
        if nb.size:
            i_list.append(np.full(nb.size, i))
            j_list.append(nb)
            owner.append(np.full(nb.size, slot))
    if not i_list:
        raise MetricInputError(f"kantz: no reference point has a neighbour within epsilon={epsilon}; increase it")
    ii = np.concatenate(i_list)
    jj = np.concatenate(j_list)
    own = np.concatenate(owner)
    uniq, own = np.unique(own, return_inverse=True)
    n_used = uniq.size
    per_owner = np.bincount(own, minlength=n_used).astype(np.float64)
    curve = np.empty(h + 1)
    for k in range(h + 1):
        d = np.linalg.norm(y[ii + k] - y[jj + k], axis=1)
        mean_d = np.bincount(own, weights=d, minlength=n_used) / per_owner
        mean_d = mean_d[mean_d > 0]
        curve[k] = np.log(mean_d).mean() if mean_d.size else np.nan
    times = np.arange(h + 1) * float(dt)
    return _finish(times, curve, fit_range, "kantz", n_used, dt)
