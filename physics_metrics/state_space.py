"""State-space divergence D_stsp: how differently two trajectories fill state space.

Three definitions circulate in the dynamical-systems-reconstruction literature and they are *not*
comparable with each other, so each has its own name here:

* :func:`state_space_divergence_binned` -- Hess et al. (ICML 2023, "GTF"), binned version used for
  observation dimension N < 6: ``KL(p_true || q_gen)`` between Laplace-smoothed histograms with
  ``n_bins`` bins per dimension.
* :func:`state_space_divergence_gmm` -- GTF Gaussian-mixture version (used for N >= 6): one
  isotropic Gaussian of variance ``sigma2`` per time point, Monte-Carlo KL (Hershey & Olsen 2007).
* :func:`state_space_divergence_dysts` -- the ``dysts.metrics.estimate_kl_divergence`` variant that
  PhyxMamba reports: the same Monte-Carlo GMM idea, but on *all* points in raw coordinates.

All take series shaped ``(..., time, dim)`` (numpy, torch or xarray with a ``time`` dim); leading
batch dims are looped over and give a result of shape ``(...)`` (a float when there are none).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy.special import logsumexp

from physics_metrics._arrays import as_time_series, check_same_dim

from .errors import MetricInputError

__all__ = [
    "state_space_divergence_binned",
    "state_space_divergence_gmm",
    "state_space_divergence_dysts",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# batching helper (shared with power_spectrum.py)
# --------------------------------------------------------------------------------------------
def _batch_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> tuple[int, ...]:
    """Leading (batch) shape of two ``(..., time, dim)`` arrays; one of them may have none."""
    sa, sb = a.shape[:-2], b.shape[:-2]
    if sa and sb and sa != sb:
        raise MetricInputError(f"{names[0]} and {names[1]} have different batch shapes: {sa} vs {sb}")
    return sa or sb


def _iter_pairs(
    a: np.ndarray, b: np.ndarray, names: tuple[str, str]
) -> Iterator[tuple[tuple[int, ...], np.ndarray, np.ndarray]]:
    """Yield ``(index, a_i, b_i)`` with ``a_i, b_i`` of shape ``(time, dim)`` over the batch dims."""
    shape = _batch_shape(a, b, names)
    for idx in np.ndindex(*shape):
        ai = a[idx] if a.ndim > 2 else a
        bi = b[idx] if b.ndim > 2 else b
        yield idx, ai, bi


def _map_pairs(
    fn: Callable[[np.ndarray, np.ndarray], float], a: np.ndarray, b: np.ndarray, names: tuple[str, str]
) -> float | np.ndarray:
    shape = _batch_shape(a, b, names)
    out = np.empty(shape, dtype=np.float64)
    for idx, ai, bi in _iter_pairs(a, b, names):
        out[idx] = fn(ai, bi)
    return float(out) if out.ndim == 0 else out


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# binned D_stsp (GTF)
# --------------------------------------------------------------------------------------------
def _bin_indices(x: np.ndarray, edges: list[np.ndarray], n_bins: int) -> np.ndarray:
    """Per-dimension bin indices ``(T_inside, N)`` of ``x``; points outside the range are dropped.

    Bins are left-closed ``[e_k, e_{k+1})`` as in Julia StatsBase ``fit(Histogram, ...)``.
    """
    idx = np.empty(x.shape, dtype=np.int64)
    for d, e in enumerate(edges):
        idx[:, d] = np.searchsorted(e, x[:, d], side="right") - 1
    inside = np.all((idx >= 0) & (idx < n_bins), axis=1)
    return idx[inside]


def _joint_counts(idx_p: np.ndarray, idx_q: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both series on the union of their occupied cells: ``(h, g)``, each ``(n_union,)``."""
    n = idx_p.shape[1]
    both = np.concatenate([idx_p, idx_q], axis=0)
    if n * math.log2(max(n_bins, 2)) < 62:  # one int64 label per cell
        labels = np.ravel_multi_index(tuple(both.T), (n_bins,) * n)
        _, inverse = np.unique(labels, return_inverse=True)
    else:  # too many cells for one int64 index: unique rows instead
        _, inverse = np.unique(both, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    n_union = int(inverse.max()) + 1 if inverse.size else 0
    h = np.bincount(inverse[: idx_p.shape[0]], minlength=n_union).astype(np.float64)
    g = np.bincount(inverse[idx_p.shape[0] :], minlength=n_union).astype(np.float64)
    return h, g


def _binned_kl(x_true: np.ndarray, x_gen: np.ndarray, n_bins: int, binning: str, alpha: float) -> float:
    sigma = x_true.std(axis=0, ddof=1)
    if binning == "default":
        lo = x_true.min(axis=0) - 0.1 * sigma
        hi = x_true.max(axis=0) + 0.1 * sigma
    else:  # legacy: [-2 sigma, 2 sigma] (assumes centred data, as the GTF code does)
        hi = 2.0 * sigma
        lo = -hi
    if np.any(hi <= lo):
        bad = np.flatnonzero(hi <= lo).tolist()
        raise MetricInputError(f"x_true: state dimension(s) {bad} are constant; the bin range is empty")
    edges = [np.linspace(lo[d], hi[d], n_bins + 1) for d in range(x_true.shape[1])]
    h, g = _joint_counts(_bin_indices(x_true, edges, n_bins), _bin_indices(x_gen, edges, n_bins), n_bins)
    total_p, total_q = float(h.sum()), float(g.sum())
    if total_q == 0:
        logger.warning("state_space_divergence_binned: no x_gen point inside the bin range; returning NaN")
        return float("nan")
    n_cells = float(n_bins) ** x_true.shape[1]
    denom_p = total_p + alpha * n_cells
    denom_q = total_q + alpha * n_cells
    p = (h + alpha) / denom_p
    q = (g + alpha) / denom_q
    kl = float(np.sum(p * (np.log(p) - np.log(q))))
    # every never-visited cell has the same smoothed p0 and q0: sum them in closed form
    n_empty = n_cells - h.shape[0]
    if n_empty > 0:
        p0, q0 = alpha / denom_p, alpha / denom_q
        kl += n_empty * p0 * (math.log(p0) - math.log(q0))
    return kl


def state_space_divergence_binned(
    x_true: Any,
    x_gen: Any,
    n_bins: int = 30,
    *,
    binning: str = "default",
    alpha: float = 1e-5,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float | np.ndarray:
    """Binned state-space divergence ``D_stsp = KL(p_true || q_gen)`` (GTF definition).

    Follows ``state_space_divergence(X, X̃, n_bins)`` of Hess et al., "Generalized Teacher Forcing
    for Learning Chaotic Dynamics", ICML 2023 (repository ``DurstewitzLab/GTF-shPLRNN``,
    ``src/measures/stsp_measure.jl``):

    1. Bin range per dimension from the **true** series: ``[min - 0.1 s, max + 0.1 s]`` with ``s``
       its sample standard deviation (``binning="default"``), or ``[-2 s, 2 s]``
       (``binning="legacy"``, Brenner et al. 2022; assumes centred, z-scored data).
       No z-scoring is applied here: the GTF code bins the data as given (its data files are
       z-scored); with the data-derived default range the score is invariant to a per-dimension
       affine rescaling applied to both series.
    2. ``n_bins`` equal bins per dimension (``n_bins**N`` cells), left-closed; points outside the
       range are dropped.
    3. Laplace smoothing of both histograms: ``p_c = (h_c + alpha) / (sum h + alpha * n_bins**N)``.
    4. ``D_stsp = sum_c p_c log(p_c / q_c)`` (natural log).

    Only occupied cells are stored (the never-visited cells share one smoothed value and are
    summed in closed form), so memory is O(T) rather than O(n_bins**N).

    Parameters
    ----------
    x_true, x_gen : array-like ``(..., time, dim)``
        Reference and generated trajectories (lengths may differ; leading batch dims are looped).
    n_bins : int
        Bins per dimension (GTF: 30).
    binning : {"default", "legacy"}
        Bin-range convention, see above.
    alpha : float
        Laplace smoothing constant (GTF: 1e-5).

    Returns
    -------
    float or ndarray of shape ``(...)``; NaN (with a logged warning) where no generated point falls
    inside the bin range -- the GTF code's convention for a diverged model.
    """
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise MetricInputError(f"n_bins: must be a positive integer, got {n_bins!r}")
    if binning not in ("default", "legacy"):
        raise MetricInputError(f"binning: must be 'default' or 'legacy', got {binning!r}")
    if not alpha > 0:
        raise MetricInputError(f"alpha: must be > 0, got {alpha!r}")
    a = as_time_series(x_true, "x_true", time_dim=time_dim, state_dim=state_dim, min_length=2)
    b = as_time_series(x_gen, "x_gen", time_dim=time_dim, state_dim=state_dim, min_length=1)
    check_same_dim(a, b, ("x_true", "x_gen"))
    return _map_pairs(
        lambda p, q: _binned_kl(p, q, int(n_bins), binning, float(alpha)), a, b, ("x_true", "x_gen")
    )


# --------------------------------------------------------------------------------------------
# Monte-Carlo GMM KL
# --------------------------------------------------------------------------------------------
def _log_mixture_density(
    samples: np.ndarray, centres: np.ndarray, var: float, chunk: int = 256
) -> np.ndarray:
    """``log( (1/T) sum_t N(s; c_t, var I) )`` for each sample, evaluated with logsumexp."""
    n = centres.shape[1]
    c2 = np.einsum("td,td->t", centres, centres)
    out = np.empty(samples.shape[0])
    norm = -0.5 * n * math.log(2.0 * math.pi * var) - math.log(centres.shape[0])
    for start in range(0, samples.shape[0], chunk):
        s = samples[start : start + chunk]
        d2 = np.einsum("sd,sd->s", s, s)[:, None] + c2[None, :] - 2.0 * s @ centres.T
        np.maximum(d2, 0.0, out=d2)
        out[start : start + chunk] = logsumexp(-0.5 * d2 / var, axis=1) + norm
    return out


def _check_samples(samples: Any, n_dim: int) -> np.ndarray:
    s = as_time_series(samples, "samples", min_length=1)
    if s.ndim != 2 or s.shape[1] != n_dim:
        raise MetricInputError(f"samples: expected shape (n_samples, {n_dim}), got {s.shape}")
    return s


def state_space_divergence_gmm(
    x_true: Any,
    x_gen: Any,
    sigma2: float = 1.0,
    *,
    n_samples: int = 1000,
    max_points: int = 10000,
    seed: int | np.random.Generator | None = None,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float | np.ndarray:
    """Gaussian-mixture state-space divergence (GTF definition for high-dimensional data).

    Follows the ``σ²`` method of ``state_space_divergence`` in Hess et al., ICML 2023
    (``src/measures/stsp_measure.jl``), after Hershey & Olsen (2007):

    * Only the first ``T' = min(T, max_points)`` points of each series are used (GTF: 10000).
    * ``p(s) = (1/T') sum_t N(s; x_t, sigma2 I)`` and likewise ``q`` from ``x_gen``.
    * ``n_samples`` Monte-Carlo samples ``s_i = x_{t_i} + sqrt(sigma2) * eps``, ``t_i`` uniform,
      i.e. drawn from ``p``.
    * ``D_stsp = mean_i [log p(s_i) - log q(s_i)]`` (natural log).

    Difference to the Julia code: it evaluates densities in Float32 and drops samples where ``p`` or
    ``q`` underflows to 0; here log-densities are evaluated with logsumexp in float64, so no sample is
    dropped. Where the Julia code drops none, both agree up to Monte-Carlo noise.

    Parameters
    ----------
    x_true, x_gen : array-like ``(..., time, dim)``
    sigma2 : float
        Variance of each isotropic mixture component (GTF ``D_stsp_scaling``, default 1).
    n_samples : int
        Monte-Carlo samples (GTF: 1000).
    max_points : int
        Number of leading points of each series used as mixture centres (GTF: 10000).
    seed : int, numpy Generator or None
        Randomness of the Monte-Carlo samples.

    Returns
    -------
    float or ndarray ``(...)``.
    """
    if not sigma2 > 0:
        raise MetricInputError(f"sigma2: must be > 0, got {sigma2!r}")
    if n_samples < 1:
        raise MetricInputError(f"n_samples: must be >= 1, got {n_samples!r}")
    if max_points < 1:
        raise MetricInputError(f"max_points: must be >= 1, got {max_points!r}")
    a = as_time_series(x_true, "x_true", time_dim=time_dim, state_dim=state_dim, min_length=1)
    b = as_time_series(x_gen, "x_gen", time_dim=time_dim, state_dim=state_dim, min_length=1)
    check_same_dim(a, b, ("x_true", "x_gen"))
    rng = _rng(seed)

    def one(p_pts: np.ndarray, q_pts: np.ndarray) -> float:
        p_pts, q_pts = p_pts[:max_points], q_pts[:max_points]
        t = rng.integers(0, p_pts.shape[0], size=n_samples)
        s = p_pts[t] + math.sqrt(sigma2) * rng.standard_normal((n_samples, p_pts.shape[1]))
        lp = _log_mixture_density(s, p_pts, sigma2)
        lq = _log_mixture_density(s, q_pts, sigma2)
        return float(np.mean(lp - lq))

    return _map_pairs(one, a, b, ("x_true", "x_gen"))


def state_space_divergence_dysts(
    x_true: Any,
    x_gen: Any,
    sigma_scale: float = 1.0,
    *,
    n_samples: int = 1000,
    samples: Any = None,
    seed: int | np.random.Generator | None = None,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float | np.ndarray:
    """State-space divergence as ``dysts.metrics.estimate_kl_divergence`` computes it (PhyxMamba).

    dysts (Gilpin; ``dysts/metrics.py``, used by PhyxMamba's ``KLD`` with ``n_samples=1000,
    sigma_scale=1.0``) builds a mixture with one Gaussian per point of the **whole** series, on
    **raw** (not standardised) coordinates, with covariance ``sigma_scale * I`` (``sigma_scale`` is
    a *variance*, although named a scale):

        p(s) = (1/T) sum_t N(s; x_t, sigma_scale I),    q likewise from ``x_gen``,
        KL ≈ mean_i log(p(s_i) / q(s_i)),  s_i ~ p  (n_samples draws).

    The value depends on the physical scale of the system and is not comparable with the GTF
    :func:`state_space_divergence_binned`. dysts evaluates ``p/q`` directly, which gives ``inf``
    where ``q`` underflows (PhyxMamba then drops that trajectory); here log-densities are evaluated
    with logsumexp, so the result is finite. dysts' local-scale variant (``sigma_scale=None``,
    k = 10 neighbour scales) is not offered: ``sigma_scale`` must be a number.

    Parameters
    ----------
    x_true, x_gen : array-like ``(..., time, dim)``
    sigma_scale : float
        Component variance (dysts default 1.0).
    n_samples : int
        Monte-Carlo samples drawn from ``p`` (ignored when ``samples`` is given).
    samples : array-like ``(n_samples, dim)``, optional
        Fixed evaluation points instead of random draws (makes the estimate deterministic; used to
        check agreement with dysts on identical samples). Only for unbatched inputs.
    seed : int, numpy Generator or None
    """
    if sigma_scale is None:
        raise MetricInputError(
            "sigma_scale: must be a positive number; dysts' sigma_scale=None variant (local k = 10 "
            "neighbour scales) is not offered"
        )
    if not sigma_scale > 0:
        raise MetricInputError(f"sigma_scale: must be > 0, got {sigma_scale!r}")
    if n_samples < 1:
        raise MetricInputError(f"n_samples: must be >= 1, got {n_samples!r}")
    a = as_time_series(x_true, "x_true", time_dim=time_dim, state_dim=state_dim, min_length=1)
    b = as_time_series(x_gen, "x_gen", time_dim=time_dim, state_dim=state_dim, min_length=1)
    check_same_dim(a, b, ("x_true", "x_gen"))
    fixed = None
    if samples is not None:
        if a.ndim > 2 or b.ndim > 2:
            raise MetricInputError("samples: fixed samples are only supported for unbatched (time, dim) inputs")
        fixed = _check_samples(samples, a.shape[-1])
    rng = _rng(seed)

    def one(p_pts: np.ndarray, q_pts: np.ndarray) -> float:
        if fixed is None:
            t = rng.integers(0, p_pts.shape[0], size=n_samples)
            s = p_pts[t] + math.sqrt(sigma_scale) * rng.standard_normal((n_samples, p_pts.shape[1]))
        else:
            s = fixed
        lp = _log_mixture_density(s, p_pts, sigma_scale)
        lq = _log_mixture_density(s, q_pts, sigma_scale)
        return float(np.mean(lp - lq))

    return _map_pairs(one, a, b, ("x_true", "x_gen"))
