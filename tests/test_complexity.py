"""Tests of physics_metrics.complexity (Bandt-Pompe permutation entropy, Jensen-Shannon complexity)."""

import math

import numpy as np
import pytest
import torch

from physics_metrics.complexity import (
    ordinal_pattern_distribution,
    permutation_entropy,
    statistical_complexity,
)


def _logistic(n=3000, x0=0.1234):
    x = np.empty(n)
    x[0] = x0
    for i in range(1, n):
        x[i] = 4 * x[i - 1] * (1 - x[i - 1])
    return x


def test_monotone_series():
    x = np.arange(100.0)
    assert permutation_entropy(x, 4) == 0.0
    assert statistical_complexity(x, 4) == 0.0
    assert permutation_entropy(-x, 3) == 0.0


def test_white_noise():
    x = np.random.default_rng(0).standard_normal(20000)
    h, c = statistical_complexity(x, 4, return_entropy=True)
    assert h == pytest.approx(1.0, abs=0.005)
    assert c == pytest.approx(0.0, abs=0.005)


@pytest.mark.parametrize(
    ("series", "order", "delay", "h_ref", "c_ref"),
    [
        # Reference: PECCARY 0.1.1 peccary(x, n=order).calcHC(sampInt=delay), computed offline
        # (ordpy 1.2.3 complexity_entropy agrees to 1e-15); "ties" = floor(3 * logistic[:600]).
        ("logistic", 3, 1, 0.829733525185788, 0.16745612772376597),
        ("logistic", 5, 1, 0.6799135445316725, 0.4000383888727384),
        ("logistic", 4, 2, 0.9901240575654932, 0.012821911781297012),
        ("ties", 3, 1, 0.8060904780967645, 0.1781628621902613),
        ("ties", 5, 1, 0.6635019334710164, 0.39771383851205266),
        ("ties", 4, 2, 0.89044045060262, 0.1479894713226977),
    ],
)
def test_matches_peccary(series, order, delay, h_ref, c_ref):
    x = _logistic() if series == "logistic" else np.floor(3 * _logistic()[:600])
    h, c = statistical_complexity(x, order, delay, return_entropy=True)
    assert h == pytest.approx(h_ref, rel=1e-9)
    assert c == pytest.approx(c_ref, rel=1e-9)
    assert permutation_entropy(x, order, delay) == pytest.approx(h_ref, rel=1e-9)


def test_pattern_distribution_and_ties():
    # windows (1,3,2) -> argsort (0,2,1); ties: (3,2,2) -> stable argsort (1,2,0), (2,2,1) -> (2,0,1)
    d = ordinal_pattern_distribution([1.0, 3.0, 2.0, 2.0, 1.0], 3)
    assert d == {(0, 2, 1): 1 / 3, (1, 2, 0): 1 / 3, (2, 0, 1): 1 / 3}
    # logistic map r=4, order 3: the pattern (2,1,0) (strictly decreasing) is forbidden
    d = ordinal_pattern_distribution(_logistic(), 3)
    assert (2, 1, 0) not in d and len(d) == 5


def test_unnormalised_and_batched_shapes():
    x = np.random.default_rng(1).standard_normal((2, 500, 3))
    h = permutation_entropy(x, 3)
    assert h.shape == (2, 3)
    assert permutation_entropy(x[0, :, 1], 3) == pytest.approx(h[0, 1])
    raw = permutation_entropy(x[0, :, 1], 3, normalize=False)
    assert raw == pytest.approx(h[0, 1] * math.log(6))
    assert permutation_entropy(torch.as_tensor(x[0, :, 1]), 3) == pytest.approx(h[0, 1])


def test_bad_input():
    with pytest.raises(ValueError, match="order"):
        permutation_entropy(np.arange(10.0), 1)
    with pytest.raises(ValueError, match="delay"):
        permutation_entropy(np.arange(10.0), 3, 0)
    with pytest.raises(ValueError, match="too short"):
        permutation_entropy(np.arange(4.0), 3, 2)
    with pytest.raises(ValueError, match="NaN"):
        statistical_complexity(np.array([1.0, np.nan, 2.0, 3.0]), 3)
