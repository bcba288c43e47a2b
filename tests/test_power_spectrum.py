"""Tests of physics_metrics.power_spectrum (D_H: GTF smoothed, dysts first-bins)."""

import numpy as np
import pytest
import torch
from dsr_inputs import dsr_test_series, load_gtf
from scipy.ndimage import gaussian_filter1d

from physics_metrics.power_spectrum import (
    power_spectrum_hellinger,
    power_spectrum_hellinger_first_bins,
    smoothed_power_spectrum,
)

_inputs = dsr_test_series
_gtf = load_gtf


# ---------------------------------------------------------------- noise floors (reference notes A.6)
def test_noise_floor_lorenz63():
    # dsr.md A.6: L63 test vs noisy train, full 100000-point series, sigma = 20: D_H = 0.070
    test, train = _gtf("lorenz63_test.npy"), _gtf("lorenz63_on0.05_train.npy")
    assert power_spectrum_hellinger(test, train, 20) == pytest.approx(0.070, abs=0.002)


def test_noise_floor_ecg():
    test, train = _gtf("ECG_pecuzal_5d_test.npy"), _gtf("ECG_pecuzal_5d_train.npy")
    assert power_spectrum_hellinger(test, train) == pytest.approx(0.060, abs=0.002)


def test_shuffled_control_near_ceiling():
    # dsr.md A.6: any series vs a time-shuffled copy: D_H ~ 0.87-0.88
    test = _gtf("lorenz63_test.npy")
    perm = np.random.default_rng(0).permutation(len(test))
    assert power_spectrum_hellinger(test, test[perm]) == pytest.approx(0.875, abs=0.01)


# ---------------------------------------------------------------- GTF D_H: hand-derived cases
def test_identical_zero_and_range():
    x, y = _inputs()
    assert power_spectrum_hellinger(x, x) == pytest.approx(0.0, abs=1e-12)
    # amplitude and offset do not matter (z-scoring)
    assert power_spectrum_hellinger(x, 3.0 * x - 7.0) == pytest.approx(0.0, abs=1e-12)
    d = power_spectrum_hellinger(x, y)
    assert 0.0 < d < 1.0


def test_sinusoid_spectrum_and_disjoint_frequencies():
    n = 1024
    t = np.arange(n)
    a = np.sin(2 * np.pi * 50 * t / n)[:, None]
    b = np.sin(2 * np.pi * 300 * t / n)[:, None]
    # unsmoothed spectrum of an on-grid sinusoid: all power in bin 50
    ps = smoothed_power_spectrum(a, 0.0)
    assert ps.shape == (n // 2 + 1, 1)
    assert ps[50, 0] == pytest.approx(1.0, abs=1e-12)
    # disjoint spectra -> Hellinger distance 1
    assert power_spectrum_hellinger(a, b, smoothing_sigma=0) == pytest.approx(1.0, abs=1e-12)
    # smoothing with sigma = 5 bins: overlap of two Gaussians 250 bins apart ~ 0 -> still ~ 1
    assert power_spectrum_hellinger(a, b, smoothing_sigma=5) == pytest.approx(1.0, abs=1e-6)
    # two Gaussians sigma apart by delta: H^2 = 1 - exp(-delta^2 / (8 sigma^2))
    c = np.sin(2 * np.pi * 60 * t / n)[:, None]
    expected = np.sqrt(1 - np.exp(-(10.0**2) / (8 * 5.0**2)))
    # (continuous-Gaussian formula; the sampled, truncated kernel differs by ~0.1 %)
    assert power_spectrum_hellinger(a, c, smoothing_sigma=5) == pytest.approx(expected, rel=3e-3)


def test_matches_independent_computation():
    x, y = _inputs()

    def spec(v):
        z = (v - v.mean(0)) / v.std(0, ddof=1)
        p = gaussian_filter1d(np.abs(np.fft.rfft(z, axis=0)) ** 2, 20, axis=0)
        p = np.clip(p, 0, None)
        return p / p.sum(0)

    h = np.sqrt(0.5 * np.sum((np.sqrt(spec(x)) - np.sqrt(spec(y))) ** 2, axis=0))
    assert power_spectrum_hellinger(x, y, reduce_dims=False) == pytest.approx(h, rel=1e-10)
    assert power_spectrum_hellinger(x, y) == pytest.approx(h.mean(), rel=1e-10)


def test_batched_and_torch():
    x, y = _inputs()
    out = power_spectrum_hellinger(np.stack([x, x]), torch.as_tensor(np.stack([y, x])))
    assert out.shape == (2,)
    assert out[0] == pytest.approx(power_spectrum_hellinger(x, y)) and out[1] == pytest.approx(0, abs=1e-12)


# ---------------------------------------------------------------- dysts variant
def test_first_bins_matches_dysts():
    # Reference: dysts 0.96 average_hellinger_distance(X, Y) = 0.13313373295741962 and with
    # num_freq_bins=37: 0.13308847597444273 (computed offline with /tmp/dysts-venv on _inputs()).
    x, y = _inputs()
    assert power_spectrum_hellinger_first_bins(x, y) == pytest.approx(0.13313373295741962, rel=1e-9)
    assert power_spectrum_hellinger_first_bins(x, y, 37) == pytest.approx(0.13308847597444273, rel=1e-9)


def test_first_bins_all_bins_normalisation():
    x, y = _inputs()
    pa = np.abs(np.fft.fft(x, axis=0)) ** 2
    pb = np.abs(np.fft.fft(y, axis=0)) ** 2
    pa, pb = (pa / pa.sum(0))[:100], (pb / pb.sum(0))[:100]
    expected = np.mean(np.sqrt(1 - np.sum(np.sqrt(pa * pb), axis=0)))
    got = power_spectrum_hellinger_first_bins(x, y, normalize="all_bins")
    assert got == pytest.approx(expected, rel=1e-10)
    assert power_spectrum_hellinger_first_bins(x, x, normalize="all_bins") > 0  # not a true distance


# ---------------------------------------------------------------- bad input
def test_bad_input():
    x, y = _inputs()
    bad = y.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="x_gen"):
        power_spectrum_hellinger(x, bad)
    with pytest.raises(ValueError, match="different lengths"):
        power_spectrum_hellinger(x, y[:-1])
    with pytest.raises(ValueError, match="state dimensions"):
        power_spectrum_hellinger(x, y[:, :2])
    with pytest.raises(ValueError, match="x_true"):
        power_spectrum_hellinger(x[:1], y[:1])
    with pytest.raises(ValueError, match="x_true"):
        power_spectrum_hellinger(np.ones_like(x), y)
    with pytest.raises(ValueError, match="normalize"):
        power_spectrum_hellinger_first_bins(x, y, normalize="foo")
    with pytest.raises(ValueError, match="n_bins"):
        power_spectrum_hellinger_first_bins(x, y, n_bins=10**6)
    with pytest.raises(ValueError, match="smoothing_sigma"):
        power_spectrum_hellinger(x, y, -1.0)
