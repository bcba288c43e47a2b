"""ChaosBench's scores *as its code computes them* (repo leap-stc/ChaosBench, ``chaosbench/criterion.py``
and ``eval_*.py``, HEAD 4f82f40), re-implemented from a written specification of those
files; no ChaosBench code is copied (it is GPL-3.0).

Use these functions to reproduce or compare with numbers published by ChaosBench (its paper, leaderboard
and the ``logs/*/eval/*.csv`` files). For new work use the default WeatherBench2 (WB2) convention of
:mod:`physics_metrics.weather.deterministic` / :mod:`~physics_metrics.weather.probabilistic`; numbers of the
two conventions are **not** comparable with each other.

Side by side (one variable, one level, one lead time; φ latitude, ``n`` initialisation):

=================  =====================================================  ===========================================
aspect             ChaosBench as coded (this module)                      WB2 default
=================  =====================================================  ===========================================
latitude weights   ``w_i = N_lat·cos φ_i / Σ_k cos φ_k`` (mean 1),         cell area ``sin φ_{i+½} − sin φ_{i−½}``, mean 1
                   multiplied into the field or the error
samples            consecutive blocks of 32 inits (eval batch size),      all inits, one reduction
                   metric per block, then arithmetic mean over blocks
RMSE               ``mean_b sqrt(nanmean_{n,i,j} w_i (P−T)²)``            ``sqrt(mean_n Σ_ij w_i (P−T)² / Σ w)``
Bias               ``mean_b nanmean_{n,i,j} w_i (P−T)``                   ``mean_n`` weighted mean of ``P−T``
ACC                **unweighted**, uncentred, pooled over the block:       weighted, uncentred, per init then
                   ``Σ a_P a_T / (sqrt(Σ a_T² Σ a_P²) + 1e−10/Σ w²)``     averaged over inits
                   (the weights cancel, §2.4 of the notes)
SpecDiv / SpecRes  spectra of the **block-mean** field, 2-D FFT radial      (zonal energy spectrum /
                   binning, top-10 % band (§2.6)                          spherical-harmonic power spectrum)
CRPS               empirical-CDF (non-fair) estimator of ``w·X``, ``w·y``  fair estimator, weighted mean
Spread             ``nanmean w·std_m(X, ddof=1)``                         ``sqrt(mean weighted var_m)``
SSR                ``Spread_b / RMSE_b`` per block, then mean              spread / RMSE of the ensemble mean
=================  =====================================================  ===========================================

Comparable papers: ChaosBench (Nathaniel et al. 2024, arXiv 2402.00712) and works that evaluate with the
ChaosBench code use the left column; WeatherBench2 (Rasp et al. 2024), GraphCast, Pangu-Weather's WB2
scores and ECMWF scorecards use the right column. On a *single* 32-init block the ChaosBench RMSE equals
WB2's sqrt-after-time-mean RMSE with cos weights; over several blocks it is a mean of block RMSEs
(≤ the WB2 value by Jensen's inequality).

Array layout: every array function takes ``(n, ..., lat, lon)`` arrays (``n`` initialisations first, any
extra axes such as lead time and level in between, latitude and longitude last) as numpy arrays or torch
tensors, and the latitudes in degrees. xarray inputs should be transposed by the caller (see
:func:`physics_metrics.weather.scorecard.scorecard`, which does this for whole forecast datasets). All
reductions are NaN-aware (``nanmean``) as in ChaosBench. Results have the extra axes' shape ``(...)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import erf

from ..errors import MetricInputError, MetricTypeError

try:  # optional: physics_metrics must import without torch
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = [
    "CHAOSBENCH_BLOCK",
    "CHAOSBENCH_MS_SSIM_WEIGHTS",
    "acc_chaosbench_as_coded",
    "bias_chaosbench",
    "chaosbench_block_reduce",
    "chaosbench_blocks",
    "chaosbench_latitude_weights",
    "chaosbench_radial_spectrum",
    "crps_chaosbench",
    "crpss_chaosbench",
    "mae_chaosbench",
    "ms_ssim_chaosbench",
    "rmse_chaosbench",
    "spectral_divergence_chaosbench",
    "spectral_residual_chaosbench",
    "spread_chaosbench",
    "spread_skill_ratio_chaosbench",
]

#: ChaosBench's evaluation batch size (``BATCH_SIZE = 32`` in eval_iter/direct/ensemble.py).
CHAOSBENCH_BLOCK = 32
#: MS-SSIM scale weights used by ChaosBench (the standard Wang et al. 2003 values).
CHAOSBENCH_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Regulariser in ChaosBench's ACC denominator (divided by Σ w² after the weights cancel).
_ACC_EPS = 1e-10
#: Floor of the ratio inside the SpecDiv logarithm.
_SPEC_RATIO_FLOOR = 1e-9


def _np(x: Any, name: str) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if hasattr(x, "dims") and hasattr(x, "values"):
        raise MetricTypeError(
            f"{name}: pass a numpy array or torch tensor shaped (n, ..., lat, lon); for xarray use "
            "physics_metrics.weather.scorecard.scorecard(..., convention='chaosbench')"
        )
    return np.asarray(x, dtype=np.float64)


def _check_pair(pred: np.ndarray, targ: np.ndarray, names: tuple[str, str] = ("pred", "targ")) -> None:
    if pred.shape != targ.shape:
        raise MetricInputError(f"{names[0]} shape {pred.shape} differs from {names[1]} shape {targ.shape}")
    if pred.ndim < 3:
        raise MetricInputError(
            f"{names[0]}: expected (n, ..., lat, lon) with at least 3 axes, got {pred.shape}"
        )


def chaosbench_latitude_weights(latitude: Any) -> np.ndarray:
    """ChaosBench's latitude weights ``w_i = N·cos φ_i / Σ_k cos φ_k`` (mean 1), shape ``(N,)``.

    ``latitude`` in degrees, any order (the weights follow the given order). ChaosBench builds them for
    ``φ = 90, 88.5, …, −90`` (``get_adjusting_weights``; with 121 rows this is ``121·cos φ/Σ cos φ``). These
    are plain cos weights; WB2 uses cell-area weights, which differ mainly in the pole rows (0 here,
    ≈0.0052 there at 1.5°). float64 gives ``cos 90° ≈ 6e−17`` where ChaosBench's float32 gives −4.4e−8.
    """
    lat = _np(latitude, "latitude")
    if lat.ndim != 1 or lat.size == 0:
        raise MetricInputError(f"latitude: expected a non-empty 1-D array, got shape {lat.shape}")
    if np.any(np.abs(lat) > 90.0 + 1e-9) or not np.all(np.isfinite(lat)):
        raise MetricInputError("latitude: values must be finite degrees in [-90, 90]")
    c = np.cos(np.deg2rad(lat))
    return lat.size * c / c.sum()


def chaosbench_blocks(
    init_times: Sequence[Any] | np.ndarray, block: int = CHAOSBENCH_BLOCK
) -> list[np.ndarray]:
    """Split initialisations into ChaosBench's evaluation blocks.

    ChaosBench's loader sorts the per-day files by name (i.e. chronologically) and its ``DataLoader``
    (``batch_size=32``, no shuffle, ``drop_last=False``) cuts them into consecutive batches; every score is
    computed per batch and the reported number is the arithmetic mean over batches. For the 2022 test set
    (320 inits, Jan 1 – Nov 16) these are 10 blocks of 32.

    Returns a list of integer index arrays into ``init_times`` (each in chronological order); the last
    block is shorter when ``len(init_times)`` is not a multiple of ``block``.
    """
    if not isinstance(block, int | np.integer) or block < 1:
        raise MetricInputError(f"block: expected a positive integer, got {block!r}")
    t = np.asarray(init_times)
    if t.ndim != 1 or t.size == 0:
        raise MetricInputError(f"init_times: expected a non-empty 1-D sequence, got shape {t.shape}")
    order = np.argsort(t, kind="stable")
    if np.unique(t).size != t.size:
        raise MetricInputError("init_times: contains duplicates")
    return [order[i : i + block] for i in range(0, t.size, block)]


def chaosbench_block_reduce(
    per_block: Callable[..., Any], *arrays: Any, block: int | None = CHAOSBENCH_BLOCK, **kwargs: Any
) -> np.ndarray:
    """ChaosBench's reduction: ``per_block(*arrays_of_block, **kwargs)`` per block, then the mean over blocks.

    ``arrays`` share axis 0 (initialisations, already in chronological order); blocks are consecutive
    runs of ``block`` samples (``None``: one block). Returns ``mean_b per_block(block_b)`` with the shape
    of one per-block result. This is ``np.array(list).mean(axis=0)`` of ChaosBench's eval loop.
    """
    n = np.shape(arrays[0])[0]
    for k, a in enumerate(arrays):
        if np.shape(a)[0] != n:
            raise MetricInputError(f"arrays[{k}]: {np.shape(a)[0]} samples on axis 0, expected {n}")
    size = n if block is None else int(block)
    if size < 1:
        raise MetricInputError(f"block: expected a positive integer or None, got {block!r}")
    vals = [per_block(*(a[i : i + size] for a in arrays), **kwargs) for i in range(0, n, size)]
    return np.mean(np.stack([np.asarray(v, dtype=np.float64) for v in vals]), axis=0)


def _wshape(w: np.ndarray, ndim: int) -> np.ndarray:
    """Weights ``(lat,)`` broadcast against ``(n, ..., lat, lon)``."""
    return w.reshape((1,) * (ndim - 2) + (w.size, 1))


def _weights_for(latitude: Any, arr: np.ndarray) -> np.ndarray:
    w = chaosbench_latitude_weights(latitude)
    if w.size != arr.shape[-2]:
        raise MetricInputError(f"latitude: {w.size} values but the fields have {arr.shape[-2]} latitude rows")
    return _wshape(w, arr.ndim)


def _reduce_axes(ndim: int) -> tuple[int, ...]:
    return (0, ndim - 2, ndim - 1)


def _rmse_block(pred: np.ndarray, targ: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.sqrt(_nanmean(w * (pred - targ) ** 2, _reduce_axes(pred.ndim)))


def _nanmean(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    valid = ~np.isnan(x)
    cnt = valid.sum(axis=axes)
    s = np.where(valid, x, 0.0).sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def rmse_chaosbench(
    pred: Any, targ: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench RMSE: ``mean_b sqrt( nanmean_{n∈b,i,j} w_i (P−T)² )`` (notes §2.1).

    ``pred``, ``targ``: ``(n, ..., lat, lon)`` in physical units (z in gpm for ChaosBench numbers);
    ``latitude`` in degrees; ``block``: inits per block (32; ``None`` = one block). Returns ``(...)``.
    WB2 instead reports ``sqrt(mean_n ⟨(P−T)²⟩_area)`` (``deterministic.rmse_wb2``); on one block with cos
    weights the two agree.
    """
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)
    w = _weights_for(latitude, p)
    return chaosbench_block_reduce(lambda a, b: _rmse_block(a, b, w), p, t, block=block)


def bias_chaosbench(
    pred: Any, targ: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench bias: ``mean_b nanmean_{n∈b,i,j} w_i (P−T)`` (notes §2.2), shape ``(...)``.

    With equal block sizes this equals the WB2 bias with cos weights (a mean of means); WB2 uses area weights.
    """
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)
    w = _weights_for(latitude, p)
    return chaosbench_block_reduce(
        lambda a, b: _nanmean(w * (a - b), _reduce_axes(a.ndim)), p, t, block=block
    )


def mae_chaosbench(
    pred: Any, targ: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench MAE: ``mean_b nanmean_{n∈b,i,j} |w_i P − w_i T|`` (notes §2.3; defined, unused by its eval)."""
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)
    w = _weights_for(latitude, p)
    return chaosbench_block_reduce(
        lambda a, b: _nanmean(np.abs(w * a - w * b), _reduce_axes(a.ndim)), p, t, block=block
    )


def _acc_block(pred: np.ndarray, targ: np.ndarray, clim: np.ndarray, w2sum: float) -> np.ndarray:
    ap, at = pred - clim, targ - clim
    valid = ~np.isnan(ap) & ~np.isnan(at)
    ap, at = np.where(valid, ap, 0.0), np.where(valid, at, 0.0)
    axes = _reduce_axes(pred.ndim)
    num = (ap * at).sum(axis=axes)
    den = np.sqrt((at * at).sum(axis=axes) * (ap * ap).sum(axis=axes)) + _ACC_EPS / w2sum
    return num / den


def acc_chaosbench_as_coded(
    pred: Any, targ: Any, climatology: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench's ACC as its code computes it (notes §2.4), shape ``(...)``.

    ``a_P = P − C``, ``a_T = T − C`` with ``C`` the climatology of each sample's **valid** day (``(n, ...,
    lat, lon)`` or broadcastable; ChaosBench: raw 1994–2023 day-of-year mean). Per block of inits::

        ACC_b = Σ_{n,i,j valid} a_P a_T / ( sqrt(Σ a_T² · Σ a_P²) + 1e−10 / Σ_i w_i² )

    then ``mean_b ACC_b``. The code intends a cos-weighted ACC, but its masking flattens the anomalies
    before the weights are broadcast (an outer product), so ``Σ_i w_i²`` multiplies every sum and cancels:
    the result is the **unweighted, uncentred** anomaly correlation pooled over all inits of the block and
    all grid points. An all-NaN prediction gives 0 (not NaN), as in ChaosBench. WB2's ACC
    (``deterministic.acc_uncentred``) is area-weighted, per init, then averaged over inits.
    """
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)
    c = np.broadcast_to(_np(climatology, "climatology"), p.shape)
    w = chaosbench_latitude_weights(latitude)
    if w.size != p.shape[-2]:
        raise MetricInputError(f"latitude: {w.size} values but the fields have {p.shape[-2]} latitude rows")
    w2sum = float(np.sum(w**2))
    return chaosbench_block_reduce(lambda a, b, cc: _acc_block(a, b, cc, w2sum), p, t, c, block=block)


def chaosbench_radial_spectrum(field: Any) -> tuple[np.ndarray, np.ndarray]:
    """Binned isotropic 2-D power spectrum as in ChaosBench's SpecDiv/SpecRes (notes §2.6, steps 3–5).

    ``field``: ``(..., lat, lon)``. Power ``E = |fft2(field)|²`` over (lat, lon) (no window, no weights, the
    latitude axis treated as periodic); wavenumbers ``k = sqrt(kx² + ky²)`` with ``kx = fftfreq(N_lat)·N_lat``,
    ``ky = fftfreq(N_lon)·N_lon``; ``n_bins = len(arange(0.5, k_max, 1))`` equal-width bins on
    ``[0.5, k_max]`` (k = 0 dropped, k = k_max put in the last bin, as ``torchist.histogram``); the bin value
    is the mean power of its modes. Returns ``(spectrum (..., n_bins), bin_centres (n_bins,))``. At
    121×240: 134 bins of width 0.99749.
    """
    f = _np(field, "field")
    nlat, nlon = f.shape[-2:]
    kx = np.fft.fftfreq(nlat) * nlat
    ky = np.fft.fftfreq(nlon) * nlon
    k = np.sqrt(kx[:, None] ** 2 + ky[None, :] ** 2)
    k_max = float(k.max())
    n_bins = len(np.arange(0.5, k_max, 1.0))
    if n_bins < 1:
        raise MetricInputError(f"field: grid {nlat}×{nlon} too small for a radial spectrum")
    width = (k_max - 0.5) / n_bins
    inside = (k >= 0.5) & (k <= k_max)
    idx = np.clip(np.floor((k - 0.5) / width).astype(np.int64), 0, n_bins - 1)
    flat_idx = np.where(inside, idx, n_bins).ravel()  # out-of-range modes go to a discarded bin
    counts = np.bincount(flat_idx, minlength=n_bins + 1)[:n_bins]
    power = np.abs(np.fft.fft2(f, axes=(-2, -1))) ** 2
    lead = power.shape[:-2]
    p2 = power.reshape(-1, nlat * nlon)
    onehot = np.zeros((nlat * nlon, n_bins + 1))
    onehot[np.arange(nlat * nlon), flat_idx] = 1.0
    sums = (p2 @ onehot)[:, :n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        spec = sums / counts
    centres = 0.5 + width * (np.arange(n_bins) + 0.5)
    return spec.reshape(*lead, n_bins), centres


def _band_spectra(pred: np.ndarray, targ: np.ndarray, percentile: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised high-wavenumber spectra ``(p_b, t_b)`` of the block-mean fields, each ``(..., n_band)``."""
    # NaNs in the prediction are filled with that sample's spatial mean; the target is not filled.
    fill = np.nanmean(pred, axis=(-2, -1), keepdims=True)
    p = np.where(np.isnan(pred), fill, pred)
    with np.errstate(invalid="ignore"), _quiet_nanmean():
        pbar = np.nanmean(p, axis=0)  # the spectrum of the block-mean field, not the mean spectrum
        tbar = np.nanmean(targ, axis=0)
    sp, _ = chaosbench_radial_spectrum(pbar)
    st, _ = chaosbench_radial_spectrum(tbar)
    start = int(sp.shape[-1] * percentile)
    sp, st = sp[..., start:], st[..., start:]
    return sp / sp.sum(axis=-1, keepdims=True), st / st.sum(axis=-1, keepdims=True)


class _quiet_nanmean:
    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._w.__exit__(*exc)


def _check_percentile(percentile: float) -> None:
    if not 0.0 <= percentile < 1.0:
        raise MetricInputError(f"percentile: expected a value in [0, 1), got {percentile!r}")


def spectral_divergence_chaosbench(
    pred: Any, targ: Any, *, percentile: float = 0.9, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench SpecDiv, eval mode (notes §2.6): ``mean_b Σ_k t_k ln(max(t_k / p_k, 1e−9))``.

    Per block: the block-mean fields ``P̄ = nanmean_n P`` (NaNs of P first filled by the sample's spatial
    mean) and ``T̄`` → :func:`chaosbench_radial_spectrum` → the bins ``b ≥ int(n_bins·percentile)`` (top 14
    of 134 at 121×240, k ∈ [120.2, 134.2]) renormalised to sum 1 → KL(target ‖ prediction). Input
    ``(n, ..., lat, lon)``, output ``(...)``; dimensionless, 0 for identical spectra. It is the spectrum of
    the mean field, not the mean spectrum, and not comparable with WB2's zonal energy spectra.
    """
    _check_percentile(percentile)
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)

    def one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        pb, tb = _band_spectra(a, b, percentile)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(tb * np.log(np.maximum(tb / pb, _SPEC_RATIO_FLOOR)), axis=-1)

    return chaosbench_block_reduce(one, p, t, block=block)


def spectral_residual_chaosbench(
    pred: Any, targ: Any, *, percentile: float = 0.9, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench SpecRes, eval mode (notes §2.6): ``mean_b sqrt( mean_k (p_k − t_k)² )``.

    Same band spectra as :func:`spectral_divergence_chaosbench`; dimensionless.
    """
    _check_percentile(percentile)
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)

    def one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        pb, tb = _band_spectra(a, b, percentile)
        return np.sqrt(np.mean((pb - tb) ** 2, axis=-1))

    return chaosbench_block_reduce(one, p, t, block=block)


def ms_ssim_chaosbench(
    pred: Any, targ: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench MS-SSIM (notes §2.5): ``mean_b nanmean_{n∈b} MS-SSIM(P_n, T_n)``, shape ``(...)``.

    Per field, :func:`physics_metrics.weather.ssim.ms_ssim` with ChaosBench's parameters (per-sample
    min–max rescaling to [0, 255], 11-point Gaussian window σ = 1.5, 5 scales); fields are put in
    ChaosBench's orientation (latitude 90 → −90) first. No latitude weighting; dimensionless, 1 for identical
    fields. It ignores each field's offset and amplitude, so it is not comparable with an SSIM on raw values.
    """
    from .ssim import ms_ssim

    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_pair(p, t)
    lat = _np(latitude, "latitude")
    if lat.shape != (p.shape[-2],):
        raise MetricInputError(f"latitude: {lat.size} values but the fields have {p.shape[-2]} latitude rows")
    if lat.size > 1 and lat[0] < lat[-1]:
        p, t = p[..., ::-1, :], t[..., ::-1, :]

    def one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        flat = np.asarray(ms_ssim(a.reshape(-1, *a.shape[-2:]).copy(), b.reshape(-1, *b.shape[-2:]).copy()))
        with _quiet_nanmean():
            return np.nanmean(flat.reshape(a.shape[:-2]), axis=0)

    return chaosbench_block_reduce(one, p, t, block=block)


# ----------------------------------------------------------------------------------------------------------
# Ensembles (eval_ensemble.py): members on axis 1, (n, M, ..., lat, lon); deterministic scores use the mean.


def _check_members(pred: np.ndarray, targ: np.ndarray) -> None:
    if pred.ndim != targ.ndim + 1 or pred.shape[:1] + pred.shape[2:] != targ.shape:
        raise MetricInputError(
            f"pred: expected (n, member, ...) matching targ {targ.shape} with a member axis 1, got {pred.shape}"
        )
    if pred.shape[1] < 2:
        raise MetricInputError(f"pred: need at least 2 members on axis 1, got {pred.shape[1]}")


def _crps_empirical(members: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Empirical-CDF CRPS ``(1/M)Σ|X_m−y| − (1/(2M²))Σ_{m,m'}|X_m−X_m'|``, members on axis 1."""
    m = members.shape[1]
    skill = np.mean(np.abs(members - y[:, None]), axis=1)
    xs = np.sort(members, axis=1)
    coef = (2.0 * np.arange(1, m + 1) - m - 1).reshape((1, m) + (1,) * (members.ndim - 2))
    pair_sum = 2.0 * np.sum(coef * xs, axis=1)  # Σ_{m,m'} |X_m − X_m'|
    return skill - pair_sum / (2.0 * m * m)


def crps_chaosbench(
    pred: Any, targ: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench CRPS (notes §2.7): ``mean_b nanmean_{n∈b} mean_{ij} CRPS_emp(w_i X_{n,:,ij}; w_i y_{nij})``.

    ``pred``: ``(n, M, ..., lat, lon)``, ``targ``: ``(n, ..., lat, lon)``. CRPS_emp is the exact CRPS of the
    empirical ensemble CDF (``properscoring.crps_ensemble``, the biased estimator, ``1/(2M²)``), not WB2's
    fair ``1/(2M(M−1))``; multiplying both fields by ``w_i ≥ 0`` gives a ``w``-weighted spatial mean.
    """
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_members(p, t)
    w = _weights_for(latitude, t)

    def one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        c = _crps_empirical(w[:, None] * a, w * b)
        with _quiet_nanmean():
            return np.nanmean(np.nanmean(c, axis=(-2, -1)), axis=0)

    return chaosbench_block_reduce(one, p, t, block=block)


def _crps_gaussian(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``σ [z(2Φ(z) − 1) + 2φ(z) − 1/√π]``, ``z = (y − μ)/σ`` (Gneiting & Raftery 2007)."""
    z = (y - mu) / sigma
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
    return sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))


def crpss_chaosbench(
    pred: Any,
    targ: Any,
    clim_mean: Any,
    clim_std: Any,
    latitude: Any,
    *,
    block: int | None = CHAOSBENCH_BLOCK,
) -> np.ndarray:
    """ChaosBench CRPSS (notes §2.7): ``mean_b (1 − CRPS_b / CRPS_ref,b)``.

    ``CRPS_b`` as :func:`crps_chaosbench` for the block; ``CRPS_ref,b = nanmean_n mean_ij
    crps_gaussian(w T; w μ, w σ)`` with ``μ``, ``σ`` the day-of-year climatological mean and standard deviation
    at each valid date (``(n, ..., lat, lon)`` or broadcastable). The ratio is formed per block.
    """
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_members(p, t)
    mu = np.broadcast_to(_np(clim_mean, "clim_mean"), t.shape)
    sd = np.broadcast_to(_np(clim_std, "clim_std"), t.shape)
    if np.any(sd[~np.isnan(sd)] <= 0):
        raise MetricInputError("clim_std: must be positive")
    w = _weights_for(latitude, t)

    def one(a: np.ndarray, b: np.ndarray, m_: np.ndarray, s_: np.ndarray) -> np.ndarray:
        with _quiet_nanmean():
            fc = np.nanmean(np.nanmean(_crps_empirical(w[:, None] * a, w * b), axis=(-2, -1)), axis=0)
            ref = np.nanmean(np.nanmean(w * _crps_gaussian(b, m_, s_), axis=(-2, -1)), axis=0)
        return 1.0 - fc / ref

    return chaosbench_block_reduce(one, p, t, mu, sd, block=block)


def spread_chaosbench(pred: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK) -> np.ndarray:
    """ChaosBench spread (notes §2.7): ``mean_b nanmean_{n,i,j} std_m(w_i X_m)`` with ``ddof=1``.

    ``pred``: ``(n, M, ..., lat, lon)``. This is the weighted mean of the ensemble standard deviation, not
    WB2's ``sqrt`` of the mean ensemble variance.
    """
    p = _np(pred, "pred")
    if p.ndim < 4 or p.shape[1] < 2:
        raise MetricInputError(f"pred: expected (n, member>=2, ..., lat, lon), got {p.shape}")
    w = _weights_for(latitude, p[:, 0])

    def one(a: np.ndarray) -> np.ndarray:
        sd = np.std(w[:, None] * a, axis=1, ddof=1)
        return _nanmean(sd, _reduce_axes(sd.ndim))

    return chaosbench_block_reduce(one, p, block=block)


def spread_skill_ratio_chaosbench(
    pred: Any, targ: Any, latitude: Any, *, block: int | None = CHAOSBENCH_BLOCK
) -> np.ndarray:
    """ChaosBench SSR: ``mean_b Spread_b / RMSE_b(ensemble mean)``, no ``(M+1)/M`` correction (notes §2.7)."""
    p, t = _np(pred, "pred"), _np(targ, "targ")
    _check_members(p, t)
    w = _weights_for(latitude, t)

    def one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sd = np.std(w[:, None] * a, axis=1, ddof=1)
        return _nanmean(sd, _reduce_axes(sd.ndim)) / _rmse_block(np.mean(a, axis=1), b, w)

    return chaosbench_block_reduce(one, p, t, block=block)
