"""Kaplan–Yorke dimension, Pesin bound, Grassberger–Procaccia correlation dimension."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from physics_metrics.dimensions import (
    correlation_dimension,
    correlation_sum,
    kaplan_yorke_dimension,
    pesin_entropy_bound,
)


def test_kaplan_yorke_known_and_edge_cases():
    assert kaplan_yorke_dimension([0.9056, 0.0, -14.5723]) == pytest.approx(2 + 0.9056 / 14.5723)
    # order does not matter; j = 1 case (Hénon): 1 + λ1/|λ2|
    assert kaplan_yorke_dimension([-1.6232, 0.4192]) == pytest.approx(1 + 0.4192 / 1.6232)
    assert kaplan_yorke_dimension([-0.1, -2.0]) == 0.0  # stable fixed point
    assert kaplan_yorke_dimension([0.5, 0.2]) == 2.0  # all partial sums >= 0: n
    assert kaplan_yorke_dimension([0.0, -1.0]) == 1.0  # limit cycle
    # the dysts zero-based form 1 + j' + S/|λ_{j'+1}| gives the same number
    lam = np.array([0.3, 0.1, -0.2, -0.5])
    jp = 1  # last zero-based index with non-negative partial sum (0.4, 0.2 >= 0 -> j' = 2)
    jp = int(np.nonzero(np.cumsum(lam) >= 0)[0][-1])
    assert kaplan_yorke_dimension(lam) == pytest.approx(1 + jp + lam[: jp + 1].sum() / abs(lam[jp + 1]))
    with pytest.raises(ValueError, match="spectrum"):
        kaplan_yorke_dimension([np.nan, 1.0])


def test_pesin():
    assert pesin_entropy_bound([0.9056, 0.0, -14.5723]) == pytest.approx(0.9056)
    assert pesin_entropy_bound([0.2, 0.1, -3.0]) == pytest.approx(0.3)
    assert pesin_entropy_bound([-0.2]) == 0.0


def test_correlation_sum_brute_force():
    rng = np.random.default_rng(0)
    x = rng.random((300, 2))
    radii = np.array([0.05, 0.1, 0.3])
    c, counts, n_pairs = correlation_sum(x, radii, theiler_window=3, max_points=None)
    i, j = np.triu_indices(300, k=1)
    keep = (j - i) > 3
    d = np.linalg.norm(x[i[keep]] - x[j[keep]], axis=1)
    assert n_pairs == keep.sum()
    np.testing.assert_array_equal(counts, [(d < r).sum() for r in radii])
    np.testing.assert_allclose(c, counts / n_pairs)


def test_square_and_circle():
    rng = np.random.default_rng(1)
    sq = correlation_dimension(rng.random((4000, 2)), theiler_window=0)
    assert sq.dimension == pytest.approx(2.0, abs=0.05)
    th = rng.random(4000) * 2 * math.pi
    circ = correlation_dimension(np.c_[np.cos(th), np.sin(th)], theiler_window=0)
    assert circ.dimension == pytest.approx(1.0, abs=0.05)
    i0, i1 = circ.region
    assert circ.auto_region and circ.region_radii == (circ.radii[i0], circ.radii[i1])
    assert np.all(circ.pair_counts[i0 : i1 + 1] >= 100)


def test_henon_correlation_dimension():
    x = np.empty((6000, 2))
    x[0] = [0.1, 0.1]
    for n in range(1, 6000):
        x[n] = [1 - 1.4 * x[n - 1, 0] ** 2 + x[n - 1, 1], 0.3 * x[n - 1, 0]]
    res = correlation_dimension(x[100:], theiler_window=0)
    assert res.dimension == pytest.approx(1.21, abs=0.05)  # Grassberger & Procaccia 1983: 1.21 ± 0.01


def test_lorenz_correlation_dimension_and_theiler():
    def f(t, u):
        return [10 * (u[1] - u[0]), u[0] * (28 - u[2]) - u[1], u[0] * u[1] - 8 / 3 * u[2]]

    sol = solve_ivp(f, (0, 270), [1.0, 1.0, 20.0], t_eval=np.arange(20, 270, 0.05), rtol=1e-9, atol=1e-9)
    res = correlation_dimension(sol.y.T, theiler_window=10, max_points=5000)
    assert res.dimension == pytest.approx(2.05, abs=0.1)  # Grassberger & Procaccia 1983: 2.05 ± 0.01
    # given scaling region is honoured
    r0, r1 = res.region_radii
    fixed = correlation_dimension(sol.y.T, theiler_window=10, scaling_region=(r0, r1), radii=res.radii)
    assert fixed.dimension == pytest.approx(res.dimension) and not fixed.auto_region
    # densely sampled flow without a Theiler window: temporally adjacent pairs (a 1-d curve locally)
    # dominate C(r) at small r and pull the slope toward 1
    dense = solve_ivp(f, (0, 70), [1.0, 1.0, 20.0], t_eval=np.arange(20, 70, 0.005), rtol=1e-9, atol=1e-9).y.T
    radii = np.geomspace(0.3, 3.0, 8)
    c0, _, _ = correlation_sum(dense, radii, theiler_window=0, max_points=None)
    c1, _, _ = correlation_sum(dense, radii, theiler_window=200, max_points=None)
    s0 = np.polyfit(np.log(radii), np.log(c0), 1)[0]
    s1 = np.polyfit(np.log(radii), np.log(c1), 1)[0]
    assert s0 < s1 - 0.05  # measured: 1.99 vs 2.08


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        correlation_dimension(np.r_[np.nan, np.ones(100)], theiler_window=0)
    with pytest.raises(ValueError, match="too short"):
        correlation_dimension(np.ones((5, 2)), theiler_window=0)
    with pytest.raises(ValueError, match="radii"):
        correlation_sum(np.random.default_rng(0).random((50, 2)), [0.2, 0.1])
    with pytest.raises(ValueError, match="theiler_window"):
        correlation_sum(np.random.default_rng(0).random((50, 2)), [0.1], theiler_window=60)
    with pytest.raises(ValueError, match="coincide"):
        correlation_dimension(np.ones((50, 2)), theiler_window=0)
