"""Tests of the delay / dimension choice tools (physics_metrics.embedding)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from physics_metrics.embedding import (
    cao,
    choose_delay_mutual_information,
    choose_embedding_dim_fnn,
    false_nearest_neighbors,
    mutual_information_curve,
)


@pytest.fixture(scope="module")
def lorenz_x() -> np.ndarray:
    def f(_, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    s0 = solve_ivp(f, (0, 20), [1.0, 1.0, 20.0], rtol=1e-9, atol=1e-9).y[:, -1]
    dt = 0.02
    t = np.arange(5000) * dt
    return solve_ivp(f, (0, t[-1]), s0, t_eval=t, rtol=1e-9, atol=1e-9).y[0]


def test_mutual_information_of_independent_and_identical():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=20000)
    mi = mutual_information_curve(noise, max_lag=5, n_bins=16)
    # I(0) = entropy of the binned variable; independent lags have I ~ bias (n_bins^2 / 2N)
    p = np.histogram(noise, bins=np.linspace(noise.min(), noise.max(), 17))[0] / noise.size
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    assert mi[0] == pytest.approx(entropy, rel=1e-9)
    assert np.all(mi[1:] < 0.02)


def test_lorenz_delay_and_dimension(lorenz_x):
    tau = choose_delay_mutual_information(lorenz_x, max_lag=40)
    mi = mutual_information_curve(lorenz_x, max_lag=40)
    assert mi[tau] < mi[tau - 1] and mi[tau] <= mi[tau + 1]  # a local minimum, the first one
    assert all(not (mi[k] < mi[k - 1] and mi[k] <= mi[k + 1]) for k in range(1, tau))
    # first MI minimum of Lorenz x lies around 0.1-0.2 time units (Fraser & Swinney-type values)
    assert 0.08 <= tau * 0.02 <= 0.3
    m_fnn = choose_embedding_dim_fnn(lorenz_x, tau, max_dim=6)
    assert m_fnn in (2, 3, 4)
    fnn = false_nearest_neighbors(lorenz_x, tau, max_dim=4)
    assert fnn[0] > 0.5 and fnn[2] < 0.02
    c = cao(lorenz_x, tau, max_dim=6)
    assert c["dimension"] in (2, 3, 4)
    assert c["E1"][-1] > 0.85


def test_noise_needs_many_dimensions():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=3000)
    c = cao(noise, 1, max_dim=5)
    # random data: E2 ~ 1 for all d (Cao 1997)
    assert np.all(np.abs(c["E2"] - 1) < 0.15)


def test_bad_input_named():
    with pytest.raises(ValueError, match="x"):
        mutual_information_curve(np.ones((10, 3)))
    with pytest.raises(ValueError, match="max_lag"):
        mutual_information_curve(np.arange(20.0), max_lag=50)
    with pytest.raises(ValueError, match="constant"):
        cao(np.ones(100), 1)
