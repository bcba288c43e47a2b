"""Attractor dimensions and entropy bounds: Kaplan–Yorke, Pesin, Grassberger–Procaccia.

* :func:`kaplan_yorke_dimension` — Lyapunov (Kaplan–Yorke) dimension from a spectrum.
* :func:`pesin_entropy_bound` — sum of the positive exponents (upper bound of the KS entropy).
* :func:`correlation_dimension` — correlation dimension D₂ from a trajectory, by the
  Grassberger–Procaccia correlation sum with a Theiler window and an explicit scaling region.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ._arrays import as_time_series, to_numpy
from .errors import MetricInputError

logger = logging.getLogger(__name__)

__all__ = [
    "CorrelationDimension",
    "correlation_dimension",
    "correlation_sum",
    "kaplan_yorke_dimension",
    "pesin_entropy_bound",
]


def _spectrum(spectrum, name: str = "spectrum") -> np.ndarray:
    if hasattr(spectrum, "exponents"):  # a LyapunovSpectrum
        spectrum = spectrum.exponents
    lam = to_numpy(spectrum, name).reshape(-1)
    if lam.size == 0:
        raise MetricInputError(f"{name}: empty spectrum")
    if not np.all(np.isfinite(lam)):
        raise MetricInputError(f"{name}: contains NaN/inf")
    return np.sort(lam)[::-1]


def kaplan_yorke_dimension(spectrum) -> float:
    """Kaplan–Yorke (Lyapunov) dimension of a Lyapunov spectrum.

    With the exponents sorted in descending order ``λ_1 ≥ λ_2 ≥ … ≥ λ_n`` and ``j`` the largest
    count for which the partial sum ``S_j = Σ_{i≤j} λ_i ≥ 0``:

        D_KY = j + S_j / |λ_{j+1}|

    (Kaplan & Yorke 1979; Frederickson, Kaplan, Yorke & Yorke, J. Diff. Eq. 49 (1983) 185). This
    is the same number as the zero-based form ``1 + j' + Σ_{i≤j'} λ_i / |λ_{j'+1}|`` used by
    dysts (``j' = j − 1``). Edge cases: ``λ_1 < 0`` (stable fixed point) gives 0; when all partial
    sums are ≥ 0 (volume-expanding, or a truncated spectrum) the result is ``n``, the number of
    exponents given — a lower bound when the spectrum was truncated.

    ``spectrum``: ``(n,)`` array-like or a :class:`~physics_metrics.lyapunov.LyapunovSpectrum`;
    any order (sorted here). Units cancel.
    """
    lam = _spectrum(spectrum)
    partial = np.cumsum(lam)
    if lam[0] < 0:
        return 0.0
    nonneg = np.nonzero(partial >= 0)[0]
    j = int(nonneg[-1]) + 1  # count of exponents in the largest non-negative partial sum
    if j >= lam.size:
        return float(lam.size)
    return float(j + partial[j - 1] / abs(lam[j]))


def pesin_entropy_bound(spectrum) -> float:
    """Sum of the positive Lyapunov exponents, ``h_KS ≤ Σ_{λ_i > 0} λ_i`` (Pesin / Ruelle inequality).

    Equality (Pesin's identity) holds for SRB measures. Units: those of the exponents (nats per
    time unit or per step). ``spectrum``: ``(n,)`` array-like or a LyapunovSpectrum.
    """
    lam = _spectrum(spectrum)
    return float(lam[lam > 0].sum())


# --------------------------------------------------------------------------------------------
# correlation dimension


@dataclass(frozen=True)
class CorrelationDimension:
    """Result of :func:`correlation_dimension`.

    Attributes
    ----------
    dimension:
        Least-squares slope of ``log C(r)`` against ``log r`` over the scaling region.
    radii:
        ``(n_radii,)`` radii (units of the data), increasing.
    correlation_sum:
        ``(n_radii,)`` ``C(r)``: fraction of admissible pairs (``|i − j| > w``) closer than ``r``.
    pair_counts:
        ``(n_radii,)`` number of admissible pairs closer than ``r``.
    local_slopes:
        ``(n_radii,)`` ``d log C / d log r`` by finite differences (NaN where ``C = 0``).
    region:
        ``(i0, i1)`` inclusive indices into ``radii`` of the scaling region used for the fit.
    region_radii:
        ``(r0, r1)`` the same region in radii.
    n_points, theiler_window, n_pairs:
        Points used (after subsampling), Theiler window in samples of the *original* series,
        admissible pairs.
    auto_region:
        True when the region was detected automatically.
    """

    dimension: float
    radii: np.ndarray
    correlation_sum: np.ndarray
    pair_counts: np.ndarray
    local_slopes: np.ndarray
    region: tuple[int, int]
    region_radii: tuple[float, float]
    n_points: int
    theiler_window: int
    n_pairs: int
    auto_region: bool


def _subsample(x: np.ndarray, max_points: int | None) -> tuple[np.ndarray, int]:
    n = x.shape[0]
    if max_points is None or n <= max_points:
        return x, 1
    stride = math.ceil(n / max_points)
    return x[::stride], stride


def correlation_sum(
    x, radii, *, theiler_window: int = 0, max_points: int | None = 10_000
) -> tuple[np.ndarray, np.ndarray, int]:
    """Grassberger–Procaccia correlation sum with a Theiler window.

    ``C(r) = #{(i, j): i < j, |i − j| > w, ‖x_i − x_j‖ < r} / #{(i, j): i < j, |i − j| > w}``
    (Euclidean norm; Grassberger & Procaccia, Physica D 9 (1983) 189; Theiler, Phys. Rev. A 34
    (1986) 2427). ``x``: ``(time, dim)`` or ``(time,)``; ``radii``: increasing positive radii.
    When the series is longer than ``max_points`` it is subsampled with a constant stride ``s``
    and pairs with ``|i − j|·s ≤ w`` are excluded (``w`` stays in original samples).

    Returns ``(C, pair_counts, n_pairs)``. All pairs are counted with a k-d tree
    (:meth:`scipy.spatial.cKDTree.count_neighbors`) and the temporally close pairs, computed
    directly, are subtracted.
    """
    pts = as_time_series(x, "x", min_length=3)
    if pts.ndim != 2:
        raise MetricInputError(f"x: expected (time, dim) or (time,), got shape {pts.shape}")
    r = to_numpy(radii, "radii").reshape(-1)
    if r.size == 0 or np.any(r <= 0) or np.any(np.diff(r) <= 0) or not np.all(np.isfinite(r)):
        raise MetricInputError("radii: must be finite, positive and strictly increasing")
    w = int(theiler_window)
    if w < 0:
        raise MetricInputError(f"theiler_window must be >= 0, got {theiler_window}")
    pts, stride = _subsample(pts, max_points)
    n = pts.shape[0]
    w_sub = w // stride  # exclude |i - j| <= w_sub in subsampled indices
    if w_sub >= n - 1:
        raise MetricInputError(
            f"theiler_window={w} leaves no admissible pairs among {n} points (stride {stride}); "
            "use a longer series or a smaller window"
        )
    n_pairs = (n - w_sub - 1) * (n - w_sub) // 2
    # strict "<" via the k-d tree's "<=" on the next float below r
    r_strict = np.nextafter(r, 0.0)
    tree = cKDTree(pts)
    total = tree.count_neighbors(tree, r_strict).astype(np.int64)  # ordered pairs, incl. i == j
    counts = (total - n) // 2
    for m in range(1, w_sub + 1):  # remove temporally close pairs (offsets 1..w_sub)
        d = np.linalg.norm(pts[m:] - pts[:-m], axis=1)
        counts -= np.searchsorted(np.sort(d), r_strict, side="right")
    return counts / n_pairs, counts, n_pairs


def _default_radii(pts: np.ndarray, n_radii: int, n_pairs_total: int, rng: np.random.Generator) -> np.ndarray:
    """Log-spaced radii from where ~20 pairs are expected to the median pair distance."""
    n = pts.shape[0]
    m = min(200_000, n * (n - 1) // 2)
    i = rng.integers(0, n, size=m)
    j = rng.integers(0, n, size=m)
    keep = i != j
    d = np.linalg.norm(pts[i[keep]] - pts[j[keep]], axis=1)
    d = d[d > 0]
    if d.size == 0:
        raise MetricInputError("x: all points coincide; the correlation dimension is undefined")
    r_hi = float(np.quantile(d, 0.5))
    q_lo = max(20.0 / max(n_pairs_total, 1), 1.0 / d.size)
    r_lo = float(np.quantile(d, q_lo))
    if not r_lo > 0 or r_lo >= r_hi:
        r_lo = r_hi * 1e-3
    return np.geomspace(r_lo, r_hi, n_radii)


def _auto_region(
    log_r: np.ndarray, log_c: np.ndarray, counts: np.ndarray, min_pairs: int, min_span: float, c_max: float
):
    """The most linear window of ``log C`` vs ``log r``.

    Admissible points: at least ``min_pairs`` pairs inside ``r`` (statistics) and ``C(r) ≤ c_max``
    (well below saturation and edge effects at the attractor's size). Among all windows of consecutive
    admissible
    radii spanning at least ``min_span`` in ``ln r`` (default: a factor 4, i.e. 0.6 decades) the one
    whose local slopes have the smallest spread (max − min) wins; ties go to the wider window.
    """
    ok = (counts >= min_pairs) & (np.exp(log_c) <= c_max)
    slopes = np.gradient(log_c, log_r)
    best = None
    n = log_r.size
    for i0 in range(n):
        if not ok[i0]:
            continue
        for i1 in range(i0 + 2, n):
            if not ok[i1]:
                break
            if log_r[i1] - log_r[i0] < min_span:
                continue
            s = slopes[i0 : i1 + 1]
            score = (float(s.max() - s.min()), -(i1 - i0))
            if best is None or score < best[0]:
                best = (score, i0, i1)
    return None if best is None else (best[1], best[2])


def correlation_dimension(
    x,
    *,
    theiler_window: int,
    radii=None,
    n_radii: int = 32,
    scaling_region: tuple[float, float] | None = None,
    max_points: int | None = 5000,
    min_pairs: int = 100,
    min_span: float = math.log(4.0),
    max_correlation: float = 0.01,
    seed: int = 0,
) -> CorrelationDimension:
    """Correlation dimension D₂ by Grassberger–Procaccia with a Theiler window and a reported scaling region.

    ``C(r)`` is the fraction of pairs of points closer than ``r``, excluding pairs closer than
    ``theiler_window`` samples in time (:func:`correlation_sum`); for small ``r``
    ``C(r) ∝ r^{D₂}`` and ``D₂`` is the least-squares slope of ``ln C`` against ``ln r`` over a
    scaling region ``[r0, r1]`` (Grassberger & Procaccia, Physica D 9 (1983) 189; Theiler, Phys.
    Rev. A 34 (1986) 2427; Kantz & Schreiber, *Nonlinear Time Series Analysis*, ch. 6).

    The region is either given (``scaling_region=(r0, r1)`` in data units) or detected: the
    window of consecutive radii, spanning at least ``exp(min_span)`` in ``r``, with at least
    ``min_pairs`` pairs and ``C ≤ max_correlation`` (0.01), whose local slopes ``d ln C/d ln r``
    vary least (a plateau of the local slope). It is returned so it can be checked (plot ``local_slopes``).

    Compared with ``dysts.analysis.gp_dim`` (used for PhyxMamba's D_frac): that function keeps
    *all* pairs, including temporally adjacent points of the same trajectory (no Theiler window,
    which pulls the estimate toward 1 for densely sampled flows), uses a fixed 5th–50th percentile
    range of distances without checking that it is a scaling region, and fits it with the
    continuous power-law MLE ``1 + n / Σ ln(r/r_min)``, which is biased for this use (the reference
    notes measure 1.60 for a line, 2.09 for a square, 2.55 for a cube).

    Parameters
    ----------
    x:
        ``(time, dim)`` or ``(time,)`` trajectory (numpy, torch, or xarray with a ``time`` dim).
    theiler_window:
        Pairs with ``|i − j| ≤ theiler_window`` (original samples) are excluded; use about one
        autocorrelation time of a flow, 0 for independent samples.
    radii:
        Increasing radii; default ``n_radii`` log-spaced radii from where ~20 pairs are
        expected up to the median pair distance.
    max_points:
        Longer series are subsampled with a constant stride (``None``: use all points).
    seed:
        Seeds the random pair sample used only to choose the default radii.

    Raises
    ------
    ValueError
        Too short a series, NaN/inf, bad radii, or no admissible scaling region (message says
        which condition failed).
    """
    pts = as_time_series(x, "x", min_length=10)
    if pts.ndim != 2:
        raise MetricInputError(f"x: expected (time, dim) or (time,), got shape {pts.shape}")
    if n_radii < 4:
        raise MetricInputError(f"n_radii must be >= 4, got {n_radii}")
    sub, stride = _subsample(pts, max_points)
    if radii is None:
        n = sub.shape[0]
        w_sub = int(theiler_window) // stride
        n_pairs_total = max(0, (n - w_sub - 1) * (n - w_sub) // 2)
        radii = _default_radii(sub, n_radii, n_pairs_total, np.random.default_rng(seed))
    radii = to_numpy(radii, "radii").reshape(-1)
    c, counts, n_pairs = correlation_sum(pts, radii, theiler_window=theiler_window, max_points=max_points)
    with np.errstate(divide="ignore"):
        log_c = np.log(c)
    log_r = np.log(radii)
    positive = counts > 0
    slopes = np.full(radii.shape, np.nan)
    if positive.sum() >= 2:
        idx = np.nonzero(positive)[0]
        slopes[idx] = np.gradient(log_c[idx], log_r[idx])
    if scaling_region is not None:
        r0, r1 = (float(v) for v in scaling_region)
        sel = np.nonzero((radii >= r0) & (radii <= r1) & positive)[0]
        if sel.size < 2:
            raise MetricInputError(f"scaling_region=({r0}, {r1}) contains fewer than 2 radii with non-zero C(r)")
        i0, i1 = int(sel[0]), int(sel[-1])
        auto = False
    else:
        idx = np.nonzero(positive)[0]
        found = None
        if idx.size >= 3:
            # work on the contiguous positive tail (C(r) is non-decreasing, so positives are a suffix)
            lo = int(idx[0])
            found = _auto_region(log_r[lo:], log_c[lo:], counts[lo:], min_pairs, min_span, max_correlation)
        if found is None:
            raise MetricInputError(
                "correlation_dimension: no scaling region with >= min_pairs pairs, C(r) <= max_correlation "
                f"and a span of >= {math.exp(min_span):.2g}x in r; use more points, other radii or "
                "scaling_region="
            )
        i0, i1 = found[0] + lo, found[1] + lo
        auto = True
    fit = np.polyfit(log_r[i0 : i1 + 1], log_c[i0 : i1 + 1], 1)
    result = CorrelationDimension(
        dimension=float(fit[0]),
        radii=radii,
        correlation_sum=c,
        pair_counts=counts,
        local_slopes=slopes,
        region=(i0, i1),
        region_radii=(float(radii[i0]), float(radii[i1])),
        n_points=int(sub.shape[0]),
        theiler_window=int(theiler_window),
        n_pairs=int(n_pairs),
        auto_region=auto,
    )
    logger.debug("correlation_dimension: D2=%.4f over r in %s", result.dimension, result.region_radii)
    return result
