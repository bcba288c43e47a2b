"""ChaosBench-as-coded scores against independent computations from the notes (chaosbench.md §2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from physics_metrics.weather import chaosbench_convention as cbc
from physics_metrics.weather import deterministic as det
from physics_metrics.weather.weights import latitude_weights

LAT121 = np.arange(90, -91.5, -1.5)


def _grid(nlat=19, nlon=36):
    return np.linspace(90, -90, nlat), np.arange(nlon) * 360.0 / nlon


def test_latitude_weights_are_121_cos_over_sum_cos():
    w = cbc.chaosbench_latitude_weights(LAT121)
    c = np.cos(np.deg2rad(LAT121))
    np.testing.assert_allclose(w, 121 * c / c.sum(), rtol=1e-14)
    assert w.mean() == pytest.approx(1.0, abs=1e-14)
    assert abs(w[0]) < 1e-15 and abs(w[-1]) < 1e-15
    np.testing.assert_allclose(w, latitude_weights(LAT121, "cos").values, atol=1e-14)
    with pytest.raises(ValueError, match="latitude"):
        cbc.chaosbench_latitude_weights([0.0, 95.0])


def test_blocks_chronological_32():
    days = pd.date_range("2022-01-01", periods=320, freq="D").values
    blocks = cbc.chaosbench_blocks(days)
    assert [len(b) for b in blocks] == [32] * 10
    rng = np.random.default_rng(0)
    perm = rng.permutation(70)
    blocks = cbc.chaosbench_blocks(days[:70][perm])
    assert [len(b) for b in blocks] == [32, 32, 6]
    got = np.concatenate([days[:70][perm][b] for b in blocks])
    np.testing.assert_array_equal(got, days[:70])  # chronological order
    with pytest.raises(ValueError, match="block"):
        cbc.chaosbench_blocks(days, block=0)
    with pytest.raises(ValueError, match="duplicates"):
        cbc.chaosbench_blocks(np.r_[days[:3], days[:1]])


def test_constant_offset_rmse_bias_mae():
    lat, _ = _grid(13, 24)
    t = np.random.default_rng(1).normal(size=(40, 2, 13, 24))
    p = t + 2.0
    np.testing.assert_allclose(cbc.rmse_chaosbench(p, t, lat), np.full(2, 2.0), rtol=1e-12)
    np.testing.assert_allclose(cbc.bias_chaosbench(p, t, lat), np.full(2, 2.0), rtol=1e-12)
    np.testing.assert_allclose(cbc.mae_chaosbench(p, t, lat), np.full(2, 2.0), rtol=1e-12)


def test_rmse_block_mean_vs_wb2():
    lat, lon = _grid(13, 24)
    rng = np.random.default_rng(2)
    t = rng.normal(size=(64, 13, 24))
    p = t + rng.normal(size=t.shape) * np.linspace(0.5, 3.0, 64)[:, None, None]  # error grows over the year
    w = cbc.chaosbench_latitude_weights(lat)[None, :, None]
    blocks = [np.sqrt(np.mean(w * (p[i : i + 32] - t[i : i + 32]) ** 2)) for i in (0, 32)]
    got = cbc.rmse_chaosbench(p, t, lat)
    assert got == pytest.approx(np.mean(blocks), rel=1e-12)
    # one block = WB2's sqrt-after-time-mean RMSE with cos weights
    coords = {"init_time": pd.date_range("2022-01-01", periods=64).values, "latitude": lat, "longitude": lon}
    dims = ("init_time", "latitude", "longitude")
    wb2 = float(det.rmse_wb2(xr.DataArray(p, coords, dims), xr.DataArray(t, coords, dims), weights="cos"))
    assert cbc.rmse_chaosbench(p, t, lat, block=None) == pytest.approx(wb2, rel=1e-12)
    assert got < wb2  # mean of block RMSEs ≤ overall RMSE (Jensen), strictly here


def _acc_case():
    """Anomalies that agree in the tropics and disagree near the poles, with stronger polar amplitude."""
    lat, lon = _grid(19, 36)
    rng = np.random.default_rng(3)
    n = 32
    clim = rng.normal(size=(19, 36))
    signal = rng.normal(size=(n, 19, 36))
    polar = (np.abs(lat) > 50)[None, :, None]
    amp = np.where(polar, 3.0, 1.0)
    t = clim + amp * signal
    p = clim + amp * np.where(
        polar, rng.normal(size=(n, 19, 36)), signal + 0.3 * rng.normal(size=(n, 19, 36))
    )
    return lat, lon, p, t, np.broadcast_to(clim, p.shape)


def test_acc_as_coded_is_unweighted_pooled_and_differs_from_weighted():
    lat, lon, p, t, c = _acc_case()
    as_coded = float(cbc.acc_chaosbench_as_coded(p, t, c, lat))
    ap, at = p - c, t - c
    unweighted_pooled = np.sum(ap * at) / np.sqrt(np.sum(ap**2) * np.sum(at**2))
    assert as_coded == pytest.approx(unweighted_pooled, rel=1e-9)

    # the code line by line in torch: mask flattens, then [1,121,1]-style weights broadcast as an outer product
    w = torch.tensor(cbc.chaosbench_latitude_weights(lat)).reshape(1, -1, 1)
    tp, tt, tc = (torch.tensor(a) for a in (p, t, c))
    a_p, a_t = tp - tc, tt - tc
    mask = ~torch.isnan(a_p) & ~torch.isnan(a_t)
    a_p, a_t = a_p[mask], a_t[mask]
    num = torch.nansum(w * a_p * w * a_t)
    den = torch.sqrt(torch.nansum(w * a_t**2 * w) * torch.nansum(w * a_p**2 * w)) + 1e-10
    assert as_coded == pytest.approx(float(num / den), rel=1e-9)

    # the intended (WB2-style) ACC: cos-weighted, per init, then averaged
    coords = {"init_time": pd.date_range("2022-01-01", periods=32).values, "latitude": lat, "longitude": lon}
    dims = ("init_time", "latitude", "longitude")
    weighted = float(
        det.acc_uncentred(
            xr.DataArray(p, coords, dims),
            xr.DataArray(t, coords, dims),
            xr.DataArray(c, coords, dims),
            weights="cos",
        )
    )
    wc = cbc.chaosbench_latitude_weights(lat)[None, :, None]
    by_hand = np.mean(
        np.sum(wc * ap * at, axis=(1, 2))
        / np.sqrt(np.sum(wc * ap**2, axis=(1, 2)) * np.sum(wc * at**2, axis=(1, 2)))
    )
    assert weighted == pytest.approx(by_hand, rel=1e-12)
    # the numbers on this case: as coded 0.124, cos-weighted per init 0.325 (cell-area 0.321)
    assert weighted - as_coded > 0.2, (as_coded, weighted)


def test_acc_all_nan_prediction_gives_zero():
    lat, _, p, t, c = _acc_case()
    assert float(cbc.acc_chaosbench_as_coded(np.full_like(p, np.nan), t, c, lat)) == 0.0


def test_radial_spectrum_binning_at_121x240():
    spec, centres = cbc.chaosbench_radial_spectrum(np.zeros((121, 240)))
    assert spec.shape == (134,) and centres.shape == (134,)
    width = (np.sqrt(60**2 + 120**2) - 0.5) / 134
    assert centres[1] - centres[0] == pytest.approx(width) and width == pytest.approx(0.99749, abs=1e-5)
    assert int(134 * 0.9) == 120 and 0.5 + 120 * width == pytest.approx(120.20, abs=0.01)


def test_radial_spectrum_of_a_sinusoid():
    j = np.arange(240)
    k0 = 110
    field = np.broadcast_to(np.cos(2 * np.pi * k0 * j / 240), (121, 240))
    spec, _ = cbc.chaosbench_radial_spectrum(field)
    width = (np.sqrt(60**2 + 120**2) - 0.5) / 134
    b = int(np.floor((k0 - 0.5) / width))
    nz = np.flatnonzero(spec > 1e-6 * spec.max())
    assert nz.tolist() == [b]
    # two modes (ky = ±110) of power (121·240/2)² each, averaged over the bin's mode count
    kx = np.fft.fftfreq(121) * 121
    ky = np.fft.fftfreq(240) * 240
    k = np.sqrt(kx[:, None] ** 2 + ky[None] ** 2)
    count = np.sum((np.clip(np.floor((k - 0.5) / width), 0, 133) == b) & (k >= 0.5))
    assert spec[b] == pytest.approx(2 * (121 * 240 / 2) ** 2 / count, rel=1e-9)


def test_specdiv_specres_identity_and_positive():
    rng = np.random.default_rng(4)
    t = rng.normal(size=(32, 121, 240))
    assert float(cbc.spectral_divergence_chaosbench(t, t)) == pytest.approx(0.0, abs=1e-12)
    assert float(cbc.spectral_residual_chaosbench(t, t)) == pytest.approx(0.0, abs=1e-12)
    # a smoothed prediction loses high-wavenumber power: both scores > 0
    p = 0.5 * (t + np.roll(t, 1, axis=-1))
    sd = float(cbc.spectral_divergence_chaosbench(p, t))
    sr = float(cbc.spectral_residual_chaosbench(p, t))
    assert sd > 0.01 and sr > 0
    # independent check: block-mean field → band spectra → KL
    sp, _ = cbc.chaosbench_radial_spectrum(p.mean(0))
    st, _ = cbc.chaosbench_radial_spectrum(t.mean(0))
    pb, tb = sp[120:] / sp[120:].sum(), st[120:] / st[120:].sum()
    assert sd == pytest.approx(np.sum(tb * np.log(np.maximum(tb / pb, 1e-9))), rel=1e-10)
    assert sr == pytest.approx(np.sqrt(np.mean((pb - tb) ** 2)), rel=1e-10)


def test_ensemble_scores_match_properscoring():
    ps = pytest.importorskip("properscoring")
    lat, _ = _grid(7, 12)
    rng = np.random.default_rng(5)
    n, m = 40, 5
    t = rng.normal(size=(n, 7, 12))
    p = t[:, None] + rng.normal(size=(n, m, 7, 12))
    w = cbc.chaosbench_latitude_weights(lat)[None, :, None]
    blocks = [slice(0, 32), slice(32, 40)]
    # CRPS: properscoring on w-scaled fields, spatial mean per sample, mean over the block, mean over blocks
    ref = np.mean(
        [
            np.mean(ps.crps_ensemble(w * t[b], np.moveaxis(w[:, None] * p[b], 1, -1)).mean(axis=(1, 2)))
            for b in blocks
        ]
    )
    assert float(cbc.crps_chaosbench(p, t, lat)) == pytest.approx(ref, rel=1e-12)
    spread = [np.mean(np.std(w[:, None] * p[b], axis=1, ddof=1)) for b in blocks]
    assert float(cbc.spread_chaosbench(p, lat)) == pytest.approx(np.mean(spread), rel=1e-12)
    rm = [np.sqrt(np.mean(w * (p[b].mean(1) - t[b]) ** 2)) for b in blocks]
    ssr = np.mean(np.array(spread) / np.array(rm))
    assert float(cbc.spread_skill_ratio_chaosbench(p, t, lat)) == pytest.approx(ssr, rel=1e-12)
    mu, sd = rng.normal(size=(7, 12)), rng.uniform(0.5, 2.0, size=(7, 12))
    crpss = np.mean(
        [
            1
            - np.mean(ps.crps_ensemble(w * t[b], np.moveaxis(w[:, None] * p[b], 1, -1)).mean(axis=(1, 2)))
            / np.mean(ps.crps_gaussian(w * t[b], w * mu, w * sd).mean(axis=(1, 2)))
            for b in blocks
        ]
    )
    assert float(cbc.crpss_chaosbench(p, t, mu, sd, lat)) == pytest.approx(crpss, rel=1e-10)


def test_bad_input_named():
    lat, _ = _grid(7, 12)
    a = np.zeros((4, 7, 12))
    with pytest.raises(ValueError, match="pred shape"):
        cbc.rmse_chaosbench(a, a[:, :6], lat)
    with pytest.raises(ValueError, match="latitude"):
        cbc.rmse_chaosbench(a, a, lat[:6])
    with pytest.raises(ValueError, match="percentile"):
        cbc.spectral_divergence_chaosbench(a, a, percentile=1.5)
    with pytest.raises(ValueError, match="member"):
        cbc.crps_chaosbench(np.zeros((4, 1, 7, 12)), a, lat)
    with pytest.raises(TypeError, match="pred"):
        cbc.rmse_chaosbench(xr.DataArray(a), a, lat)
