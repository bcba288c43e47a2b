"""Ordinal-pattern (Bandt-Pompe) permutation entropy and Jensen-Shannon statistical complexity.

The complexity-entropy plane (Rosso et al., PRL 99, 154102, 2007) separates regular, chaotic and
stochastic signals; PECCARY (Schaffner & Daniel) uses it to classify time series. Definitions:

* Ordinal patterns (Bandt & Pompe, PRL 88, 174102, 2002): for each ``t`` the window
  ``w_t = (x_t, x_{t+tau}, ..., x_{t+(m-1)tau})`` is replaced by the permutation that sorts it
  (``argsort``). **Ties** are broken by order of appearance (stable sort: the earlier of two equal
  values ranks lower), as PECCARY does (``argsort(kind='stable')``).
* ``P`` = relative frequencies of the ``N = m!`` patterns over the ``T - (m-1) tau`` windows.
* Normalised permutation entropy ``H = S(P) / ln N`` with ``S(P) = -sum p ln p``.
* Jensen-Shannon complexity ``C = Q_0 * J(P, P_e) * H`` with ``P_e`` uniform,
  ``J = S((P + P_e)/2) - S(P)/2 - S(P_e)/2`` and the normaliser
  ``Q_0 = -2 / [((N+1)/N) ln(N+1) - 2 ln(2N) + ln N]`` (so that ``0 <= C <= 1``).

Inputs: a scalar series ``(time,)`` or ``(..., time, dim)`` (numpy, torch, xarray with ``time``);
each state dimension is analysed separately.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from physics_metrics._arrays import as_time_series

from .errors import MetricInputError

__all__ = ["ordinal_pattern_distribution", "permutation_entropy", "statistical_complexity"]

logger = logging.getLogger(__name__)

_MAX_ORDER = 12


def _check(order: int, delay: int) -> None:
    if not isinstance(order, int | np.integer) or not 2 <= order <= _MAX_ORDER:
        raise MetricInputError(f"order: must be an integer in [2, {_MAX_ORDER}], got {order!r}")
    if not isinstance(delay, int | np.integer) or delay < 1:
        raise MetricInputError(f"delay: must be a positive integer, got {delay!r}")


def _pattern_codes(series: np.ndarray, order: int, delay: int) -> np.ndarray:
    """Integer code of the ordinal pattern of every window; ``series`` is ``(..., T)``."""
    n_win = series.shape[-1] - (order - 1) * delay
    win = np.stack([series[..., k * delay : k * delay + n_win] for k in range(order)], axis=-1)
    perm = np.argsort(win, axis=-1, kind="stable")
    weights = order ** np.arange(order, dtype=np.int64)
    return perm.astype(np.int64) @ weights  # (..., n_win): one integer per permutation


def _load(x: Any, order: int, delay: int, time_dim: str, state_dim: str) -> tuple[np.ndarray, bool]:
    _check(order, delay)
    scalar = not hasattr(x, "dims") and np.ndim(x) == 1
    arr = as_time_series(x, "x", time_dim=time_dim, state_dim=state_dim, min_length=(order - 1) * delay + 1)
    return np.moveaxis(arr, -2, -1), scalar  # (..., dim, T)


def _probabilities(codes: np.ndarray) -> np.ndarray:
    _, counts = np.unique(codes, return_counts=True)
    return counts / counts.sum()


def _shannon(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def ordinal_pattern_distribution(x: Any, order: int = 3, delay: int = 1) -> dict[tuple[int, ...], float]:
    """Relative frequencies of the observed ordinal patterns of a scalar series.

    Keys are the sorting permutations (tuples of ``order`` indices, ties broken by order of
    appearance); patterns that never occur are absent.
    """
    arr, _ = _load(x, order, delay, "time", "dim")
    if arr.ndim != 2 or arr.shape[0] != 1:
        raise MetricInputError(f"x: expected a scalar series (time,), got {arr.shape[::-1]}")
    codes = _pattern_codes(arr[0], order, delay)
    values, counts = np.unique(codes, return_counts=True)
    out = {}
    for v, c in zip(values, counts):
        digits = tuple(int(v) // order**k % order for k in range(order))
        out[digits] = c / codes.size
    return out


def _entropy_and_complexity(x: Any, order: int, delay: int, time_dim: str, state_dim: str):
    arr, scalar = _load(x, order, delay, time_dim, state_dim)
    codes = _pattern_codes(arr, order, delay)
    n_win = codes.shape[-1]
    n_pat = math.factorial(order)
    if n_win < n_pat:
        logger.warning(
            "permutation entropy: only %d windows for %d possible patterns (order=%d); "
            "the estimate is biased low",
            n_win,
            n_pat,
            order,
        )
    log_n = math.log(n_pat)
    q0 = -2.0 / (((n_pat + 1.0) / n_pat) * math.log(n_pat + 1.0) - 2.0 * math.log(2.0 * n_pat) + log_n)
    h = np.empty(codes.shape[:-1])
    c = np.empty(codes.shape[:-1])
    for idx in np.ndindex(*codes.shape[:-1]):
        p = _probabilities(codes[idx])
        s = _shannon(p)
        # S((P + Pe)/2): observed patterns (p + 1/N)/2, unobserved ones 1/(2N) each
        mix = np.concatenate([(p + 1.0 / n_pat) / 2.0, np.full(n_pat - p.size, 0.5 / n_pat)])
        js = _shannon(mix) - 0.5 * s - 0.5 * log_n
        h[idx] = s / log_n
        c[idx] = q0 * js * h[idx]
    if scalar:
        return float(h[0]), float(c[0])
    return h, c


def permutation_entropy(
    x: Any,
    order: int = 3,
    delay: int = 1,
    *,
    normalize: bool = True,
    time_dim: str = "time",
    state_dim: str = "dim",
) -> float | np.ndarray:
    """Permutation entropy (Bandt & Pompe 2002) of each state dimension.

    ``H = -sum_pi p(pi) ln p(pi)``, divided by ``ln(order!)`` when ``normalize`` (range [0, 1];
    0 for a monotone series, -> 1 for white noise). Ties: order of appearance (see module doc).

    Shapes: ``(time,)`` -> float; ``(..., time, dim)`` -> ``(..., dim)``.
    """
    h, _ = _entropy_and_complexity(x, order, delay, time_dim, state_dim)
    if normalize:
        return h
    return h * math.log(math.factorial(order))


def statistical_complexity(
    x: Any,
    order: int = 3,
    delay: int = 1,
    *,
    return_entropy: bool = False,
    time_dim: str = "time",
    state_dim: str = "dim",
):
    """Jensen-Shannon statistical complexity ``C_JS = Q_0 J(P, P_e) H`` (Rosso et al. 2007).

    As computed by PECCARY (``calcHC``; Weck et al. 2015 Eq. 4). ``C`` is 0 for both a monotone
    series (one pattern) and white noise (uniform patterns) and peaks for chaotic signals.
    Shapes as :func:`permutation_entropy`; with ``return_entropy`` returns ``(H, C)``.
    """
    h, c = _entropy_and_complexity(x, order, delay, time_dim, state_dim)
    return (h, c) if return_entropy else c
