"""Choosing delay-embedding parameters (delay tau, dimension m) from a scalar time series.

* :func:`mutual_information_curve` / :func:`choose_delay_mutual_information`: histogram estimate of the
  auto mutual information ``I(tau)`` and its first local minimum (Fraser & Swinney 1986).
* :func:`false_nearest_neighbors` / :func:`choose_embedding_dim_fnn`: Kennel, Brown & Abarbanel (1992)
  false-nearest-neighbour fractions.
* :func:`cao`: Cao (1997) ``E1(d)``, ``E2(d)`` and the dimension where ``E1`` saturates.

numpy/scipy only. Series: 1-D arrays ``(time,)`` of one observed variable.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .errors import MetricInputError

logger = logging.getLogger(__name__)

__all__ = [
    "cao",
    "choose_delay_mutual_information",
    "choose_embedding_dim_fnn",
    "false_nearest_neighbors",
    "mutual_information_curve",
]


def _series(x: Any, name: str = "x", min_length: int = 10) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise MetricInputError(f"{name}: expected a 1-D series (time,), got shape {a.shape}")
    if a.size < min_length:
        raise MetricInputError(f"{name}: series of length {a.size} is shorter than {min_length}")
    if not np.all(np.isfinite(a)):
        raise MetricInputError(f"{name}: contains NaN/inf")
    if np.ptp(a) == 0:
        raise MetricInputError(f"{name}: constant series")
    return a


def _embed(a: np.ndarray, m: int, tau: int, n: int) -> np.ndarray:
    """Rows ``(a_i, a_{i+tau}, ..., a_{i+(m-1)tau})`` for ``i < n``: ``(n, m)``."""
    return np.stack([a[j * tau : j * tau + n] for j in range(m)], axis=1)


def mutual_information_curve(x: Any, max_lag: int = 50, n_bins: int = 32) -> np.ndarray:
    """Auto mutual information ``I(tau) = sum p_ij log(p_ij / (p_i p_j))`` (nats), ``tau = 0..max_lag``.

    ``p`` from a 2-D histogram of ``(x_t, x_{t+tau})`` with ``n_bins`` equal-width bins over the range
    of ``x``. Returns ``(max_lag + 1,)``.
    """
    a = _series(x)
    if not 1 <= max_lag < a.size - 1:
        raise MetricInputError(f"max_lag: must be in [1, {a.size - 2}], got {max_lag}")
    if n_bins < 2:
        raise MetricInputError(f"n_bins: must be >= 2, got {n_bins}")
    edges = np.linspace(a.min(), a.max(), n_bins + 1)
    idx = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, n_bins - 1)
    out = np.empty(max_lag + 1)
    for lag in range(max_lag + 1):
        i, j = idx[: a.size - lag], idx[lag:]
        joint = np.bincount(i * n_bins + j, minlength=n_bins * n_bins).reshape(n_bins, n_bins)
        p = joint / joint.sum()
        pi, pj = p.sum(1), p.sum(0)
        nz = p > 0
        out[lag] = float(np.sum(p[nz] * np.log(p[nz] / np.outer(pi, pj)[nz])))
    return out


def choose_delay_mutual_information(x: Any, max_lag: int = 50, n_bins: int = 32) -> int:
    """Delay ``tau`` (in steps) at the first local minimum of :func:`mutual_information_curve`.

    Fraser & Swinney (1986). Falls back to the first lag where ``I`` drops below ``I(0)/e`` (with a
    log message) when the curve has no local minimum up to ``max_lag``.
    """
    mi = mutual_information_curve(x, max_lag=max_lag, n_bins=n_bins)
    for k in range(1, len(mi) - 1):
        if mi[k] < mi[k - 1] and mi[k] <= mi[k + 1]:
            return k
    below = np.nonzero(mi < mi[0] / np.e)[0]
    tau = int(below[0]) if below.size else int(max_lag)
    logger.info(
        "choose_delay_mutual_information: no MI minimum up to lag %d; using 1/e rule tau=%d", max_lag, tau
    )
    return tau


def false_nearest_neighbors(
    x: Any, tau: int, max_dim: int = 8, rtol: float = 15.0, atol: float = 2.0, theiler: int = 0
) -> np.ndarray:
    """Fraction of false nearest neighbours for ``m = 1..max_dim`` (Kennel et al. 1992).

    For each point of the ``m``-dim embedding and its nearest neighbour (Euclidean, excluding
    ``|i - j| <= theiler``), the pair is false when ``|x_{i+m tau} - x_{j+m tau}| / R_m > rtol`` or
    ``R_{m+1} / std(x) > atol``. Returns ``(max_dim,)`` fractions.
    """
    a = _series(x)
    if tau < 1 or max_dim < 1:
        raise MetricInputError(f"tau and max_dim: must be >= 1, got {tau}, {max_dim}")
    sd = a.std()
    out = np.empty(max_dim)
    for m in range(1, max_dim + 1):
        n = a.size - m * tau
        if n < 10:
            raise MetricInputError(f"x: too short for max_dim={max_dim}, tau={tau}")
        emb = _embed(a, m, tau, n)
        dist, nb = _nearest(emb, theiler)
        ext = np.abs(a[np.arange(n) + m * tau] - a[nb + m * tau])
        r = np.maximum(dist, 1e-300)
        false = (ext / r > rtol) | (np.sqrt(dist**2 + ext**2) / sd > atol)
        out[m - 1] = false.mean()
    return out


def _nearest(emb: np.ndarray, theiler: int, p: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbour (distance, index) of every row, excluding itself and ``|i-j| <= theiler``."""
    tree = cKDTree(emb)
    n = emb.shape[0]
    k = min(n, 2 * theiler + 3)
    while True:
        d, j = tree.query(emb, k=k, p=p)
        ok = (np.abs(j - np.arange(n)[:, None]) > theiler) & (d > 0)
        if ok.any(axis=1).all() or k >= n:
            first = np.where(ok.any(axis=1), ok.argmax(axis=1), 0)
            rows = np.arange(n)
            return d[rows, first], j[rows, first]
        k = min(n, 2 * k)


def choose_embedding_dim_fnn(x: Any, tau: int, max_dim: int = 8, threshold: float = 0.01, **kwargs) -> int:
    """Smallest ``m`` whose false-nearest-neighbour fraction is ``<= threshold`` (else the argmin)."""
    f = false_nearest_neighbors(x, tau, max_dim=max_dim, **kwargs)
    ok = np.nonzero(f <= threshold)[0]
    return int(ok[0] + 1) if ok.size else int(np.argmin(f) + 1)


def cao(x: Any, tau: int, max_dim: int = 8, threshold: float = 0.9, theiler: int = 0) -> dict:
    """Cao's method (Cao 1997, Physica D 110, 43): ``E1(d) = E(d+1)/E(d)``, ``E2(d) = E*(d+1)/E*(d)``.

    ``E(d) = mean_i ||y_i^{d+1} - y_{n(i,d)}^{d+1}||_inf / ||y_i^d - y_{n(i,d)}^d||_inf`` with ``n(i,d)``
    the nearest neighbour of ``y_i^d`` in the max norm; ``E*(d) = mean_i |x_{i+d tau} - x_{n(i,d)+d tau}|``.
    ``E1`` saturates near 1 from the minimum embedding dimension on; ``E2 != 1`` for some ``d``
    separates deterministic from random data. Returns ``{"E1": (max_dim,), "E2": (max_dim,),
    "dimension": smallest d with E1(d) >= threshold (else argmax E1), as an int}``.
    """
    a = _series(x)
    if tau < 1 or max_dim < 1:
        raise MetricInputError(f"tau and max_dim: must be >= 1, got {tau}, {max_dim}")
    E, Es = [], []
    for d in range(1, max_dim + 2):
        n = a.size - d * tau
        if n < 10:
            raise MetricInputError(f"x: too short for max_dim={max_dim}, tau={tau}")
        emb = _embed(a, d, tau, n)
        dist, nb = _nearest(emb, theiler, p=np.inf)
        ext = np.abs(a[np.arange(n) + d * tau] - a[nb + d * tau])
        E.append(np.mean(np.maximum(dist, ext) / np.maximum(dist, 1e-300)))
        Es.append(np.mean(ext))
    E, Es = np.asarray(E), np.asarray(Es)
    e1, e2 = E[1:] / E[:-1], Es[1:] / Es[:-1]
    ok = np.nonzero(e1 >= threshold)[0]
    dim = int(ok[0] + 1) if ok.size else int(np.argmax(e1) + 1)
    return {"E1": e1, "E2": e2, "dimension": dim}
