"""Tests of physics_metrics.state_space (D_stsp: GTF binned, GTF GMM, dysts variant)."""

import numpy as np
import pytest
import torch
import xarray as xr
from dsr_inputs import dsr_test_series, load_gtf

from physics_metrics.state_space import (
    state_space_divergence_binned,
    state_space_divergence_dysts,
    state_space_divergence_gmm,
)

_inputs = dsr_test_series
_gtf = load_gtf


# ---------------------------------------------------------------- noise floors (reference notes A.6)
def test_binned_noise_floor_lorenz63():
    # dsr.md A.6: L63 test vs noisy train, 30 bins/dim, full 100000-point series: 0.119
    test, train = _gtf("lorenz63_test.npy"), _gtf("lorenz63_on0.05_train.npy")
    assert state_space_divergence_binned(test, train) == pytest.approx(0.119, abs=0.002)


def test_binned_noise_floor_ecg():
    # dsr.md A.6: ECG test vs train: 0.294
    test, train = _gtf("ECG_pecuzal_5d_test.npy"), _gtf("ECG_pecuzal_5d_train.npy")
    assert state_space_divergence_binned(test, train) == pytest.approx(0.294, abs=0.002)


def test_binned_shuffled_control_is_zero():
    # a time-shuffled copy visits exactly the same cells: D_stsp = 0 (dsr.md A.6 control row)
    test = _gtf("lorenz63_test.npy")[:20000]
    perm = np.random.default_rng(0).permutation(len(test))
    assert state_space_divergence_binned(test, test[perm]) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- binned: hand-derived cases
def test_binned_identical_is_zero_and_kl_direction():
    x, y = _inputs()
    assert state_space_divergence_binned(x, x) == pytest.approx(0.0, abs=1e-12)
    d_xy = state_space_divergence_binned(x, y)
    d_yx = state_space_divergence_binned(y, x)
    assert d_xy > 0 and d_yx > 0 and abs(d_xy - d_yx) > 1e-6  # KL is asymmetric


def test_binned_matches_dense_histogram_definition():
    # independent computation with numpy.histogramdd on the GTF range and Laplace smoothing
    x, y = _inputs(300)
    n_bins, alpha = 7, 1e-5
    s = x.std(axis=0, ddof=1)
    edges = [
        np.linspace(x[:, d].min() - 0.1 * s[d], x[:, d].max() + 0.1 * s[d], n_bins + 1) for d in range(3)
    ]
    hp, _ = np.histogramdd(x, bins=edges)
    hq, _ = np.histogramdd(y, bins=edges)
    p = (hp + alpha) / (hp.sum() + alpha * hp.size)
    q = (hq + alpha) / (hq.sum() + alpha * hq.size)
    expected = float(np.sum(p * np.log(p / q)))
    assert state_space_divergence_binned(x, y, n_bins=n_bins, alpha=alpha) == pytest.approx(
        expected, rel=1e-10
    )


def test_binned_disjoint_supports():
    # 1-d, 2 bins: true points all in bin 0, generated all in bin 1 (inside the true range)
    x = np.array([0.0, 0.1, 0.2, 0.3, 1.0])[:, None]  # range [min-0.1s, max+0.1s]
    x_gen_inside = np.full((4, 1), 0.9)
    alpha, n_true = 1e-5, 5
    # true histogram: bin edges split at the midpoint; counts h=(4, 1), g=(0, 4)
    p = (np.array([4.0, 1.0]) + alpha) / (n_true + 2 * alpha)
    q = (np.array([0.0, 4.0]) + alpha) / (4 + 2 * alpha)
    expected = float(np.sum(p * np.log(p / q)))
    got = state_space_divergence_binned(x, x_gen_inside, n_bins=2, alpha=alpha)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got > 5.0  # nearly disjoint supports -> large divergence


def test_binned_empty_generated_histogram_gives_nan(caplog):
    x, _ = _inputs()
    far = x + 1e3
    assert np.isnan(state_space_divergence_binned(x, far))
    assert "no x_gen point" in caplog.text


def test_binned_batched_torch_xarray():
    x, y = _inputs()
    ref = state_space_divergence_binned(x, y)
    batch = np.stack([x, y])
    out = state_space_divergence_binned(batch, torch.as_tensor(np.stack([y, y])))
    assert out.shape == (2,)
    assert out[0] == pytest.approx(ref) and out[1] == pytest.approx(0.0, abs=1e-12)
    da = xr.DataArray(x.T, dims=("dim", "time"))  # dims located by name
    assert state_space_divergence_binned(da, y) == pytest.approx(ref)


def test_binned_high_dimension_uses_sparse_cells():
    # 30^14 cells would never fit densely; only occupied cells are stored
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 14))
    assert state_space_divergence_binned(x, x) == pytest.approx(0.0, abs=1e-12)
    assert state_space_divergence_binned(x, x + 0.5) > 0


# ---------------------------------------------------------------- GMM variants
def test_dysts_variant_matches_dysts_on_fixed_samples():
    # Reference: dysts 0.96 (/tmp/dysts-venv), p = GaussianMixture(X, s), q = GaussianMixture(Y, s),
    # np.mean(np.log(p(S) / q(S))) with the samples S below (estimate_kl_divergence's formula).
    x, y = _inputs()
    t = np.arange(60) * 0.37
    s = np.stack([np.sin(t) * 1.2, np.cos(0.9 * t) + 0.4, 0.8 * np.sin(1.7 * t)], axis=1)
    assert state_space_divergence_dysts(x, y, 1.0, samples=s) == pytest.approx(0.027770641260073003, rel=1e-9)
    assert state_space_divergence_dysts(x, y, 0.25, samples=s) == pytest.approx(0.06544367818930588, rel=1e-9)


def test_dysts_variant_random_estimate_is_consistent():
    # dysts' own random estimates for these inputs were 0.0042, 0.0016, 0.0060 (1000 samples each)
    x, y = _inputs()
    vals = [state_space_divergence_dysts(x, y, seed=k) for k in range(3)]
    assert 0.0 < np.mean(vals) < 0.01
    assert state_space_divergence_dysts(x, x, seed=0) == pytest.approx(0.0, abs=1e-12)


def test_gmm_identical_zero_and_separated_gaussians():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2000, 2)) * 0.01
    assert state_space_divergence_gmm(x, x, seed=0) == pytest.approx(0.0, abs=1e-12)
    # point clouds concentrated at 0 and at mu: KL(N(0,I) || N(mu,I)) = |mu|^2 / 2 = 2
    y = x + np.array([2.0, 0.0])
    assert state_space_divergence_gmm(x, y, sigma2=1.0, n_samples=4000, seed=1) == pytest.approx(
        2.0, rel=0.05
    )


def test_gmm_uses_only_max_points_and_seed_reproducible():
    x, y = _inputs()
    a = state_space_divergence_gmm(x, y, seed=3, max_points=100)
    b = state_space_divergence_gmm(x[:100], y[:100], seed=3)
    assert a == pytest.approx(b, rel=1e-12)
    assert state_space_divergence_gmm(x, y, seed=5) == state_space_divergence_gmm(x, y, seed=5)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "fn", [state_space_divergence_binned, state_space_divergence_gmm, state_space_divergence_dysts]
)
def test_bad_input(fn):
    x, y = _inputs()
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x_gen"):
        fn(x, bad)
    with pytest.raises(ValueError, match="x_true.*x_gen|state dimensions"):
        fn(x, y[:, :2])
    with pytest.raises(ValueError, match="x_true"):
        fn(np.zeros((1, 0, 3))[..., :0, :], y)


def test_bad_arguments():
    x, y = _inputs()
    with pytest.raises(ValueError, match="n_bins"):
        state_space_divergence_binned(x, y, n_bins=0)
    with pytest.raises(ValueError, match="binning"):
        state_space_divergence_binned(x, y, binning="foo")
    with pytest.raises(ValueError, match="sigma2"):
        state_space_divergence_gmm(x, y, sigma2=-1)
    with pytest.raises(ValueError, match="x_true"):
        state_space_divergence_binned(np.ones((10, 2)), y[:, :2])
