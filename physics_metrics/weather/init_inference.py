"""Scorecards with uncertainty: per-init scores, bootstrap intervals over inits, paired tests of two models.

A scorecard averages over forecast initialisations; how much that average can be trusted depends on how
many inits went into it and how much they disagree. Following WeatherBench-X
(``weatherbenchX/statistical_inference/``, github.com/google-research/weatherbench-x), the
*experimental unit* is the init time:

1. :func:`per_init_scores` — one value per init time (and lead time, [level]) of the spatial scores whose
   time mean makes the scorecard: ``mse`` (``Σ_ij w_i (f−o)² / Σ_ij w_i``, cell-area weights, WB2) and,
   with a climatology, ``acc`` (uncentred, per init; WB2 ``ACC``). Ensemble forecasts are scored on the
   ensemble mean.
2. :func:`scorecard_intervals` — the IID bootstrap over init times (:func:`physics_metrics.inference.bootstrap_interval`,
   percentile or BCa) of the scorecard values themselves: ``rmse = sqrt(mean_t mse_t)`` (the RMSE of each
   resample, the WB2 order of reduction — not the mean of per-init RMSEs) and ``acc = mean_t acc_t``. All
   lead times are resampled with the same inits (joint resampling).
3. :func:`paired_score_test` — model A against model B on the **same** init times: the per-init
   differences ``d_t = mse_A,t − mse_B,t`` (or of ``acc``) tested by a sign-flip permutation test, the
   Wilcoxon signed-rank test or the paired t-test (IID or AR(2)-corrected for serially correlated inits,
   Geer 2016) of :mod:`physics_metrics.paired_tests`. A mean MSE difference below 0 is an RMSE below B's,
   so the test of ``mse`` is the test of the scorecard's RMSE ordering.

The bootstrap assumes independent inits. Inits a few days apart in a chaotic flow decorrelate quickly,
but for closely spaced inits use ``test="t_ar2"`` (the AR(2) inflation) in the paired test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricTypeError
from ..inference import bootstrap_interval
from ..paired_tests import paired_permutation_test, paired_t_test, paired_wilcoxon_test
from .deterministic import acc_uncentred, align_truth, mse

__all__ = ["PAIRED_TESTS", "paired_score_test", "per_init_scores", "scorecard_intervals"]

#: The paired tests :func:`paired_score_test` offers.
PAIRED_TESTS = ("permutation", "wilcoxon", "t", "t_ar2")
_UNIT = "init_time"


def _check_dataset(ds: Any, name: str) -> xr.Dataset:
    if not isinstance(ds, xr.Dataset):
        raise MetricTypeError(f"{name}: expected an xarray.Dataset, got {type(ds).__name__}")
    return ds


def per_init_scores(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None = None,
    *,
    variables: Sequence[str] | None = None,
    weights: Any = None,
    block: int = 16,
) -> xr.Dataset:
    """Per-init ``mse`` (and ``acc`` with a climatology) of every forecast variable.

    Args:
        forecast: ``(init_time, lead_time, [member], [level], latitude, longitude)`` with ``valid_time``
            (or datetime ``init_time`` + timedelta ``lead_time``); an ensemble is scored on its mean.
        truth: gridded state ``(time, [level], latitude, longitude)`` holding every valid time, same grid.
        climatology: ``(dayofyear, [hour], [level], latitude, longitude)``, for ``acc``.
        variables: subset of the forecast's variables (default: all).
        weights: latitude weights (default cell-area, WB2).
        block: inits loaded at once (memory: ``block × leads × [levels] × lat × lon`` floats per variable).

    Returns:
        Dataset with the forecast's variables, each ``(metric, init_time, [level], lead_time)`` (the scorecard's order); ``metric``
        is ``["mse"]`` or ``["mse", "acc"]``. Units: ``mse`` in (field units)², ``acc`` dimensionless.
        Non-finite forecast values raise :class:`~physics_metrics.errors.NonFiniteInputError` naming the
        variable and the first init / lead time holding them.
    """
    forecast = _check_dataset(forecast, "forecast")
    truth = _check_dataset(truth, "truth")
    if climatology is not None:
        climatology = _check_dataset(climatology, "climatology")
        if "doy" in climatology.dims:
            climatology = climatology.rename(doy="dayofyear")
    for dim in (_UNIT, "lead_time"):
        if dim not in forecast.dims:
            raise MetricInputError(f"forecast: missing dimension {dim!r} (dims: {tuple(forecast.dims)})")
    names = [str(v) for v in forecast.data_vars] if variables is None else [str(v) for v in variables]
    for src, what in ((forecast, "forecast"), (truth, "truth")) + (
        ((climatology, "climatology"),) if climatology is not None else ()
    ):
        missing = [v for v in names if v not in src.data_vars]
        if missing:
            raise MetricInputError(
                f"{what}: variables {missing} missing (has {sorted(map(str, src.data_vars))})"
            )
    if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
        raise MetricInputError(f"block: expected an integer ≥ 1, got {block!r}")
    metrics = ["mse"] + (["acc"] if climatology is not None else [])
    n = forecast.sizes[_UNIT]
    out = {}
    for v in names:
        pieces = []
        for start in range(0, n, int(block)):
            f = forecast[v].isel({_UNIT: slice(start, start + int(block))}).load()
            if "member" in f.dims:
                f = f.mean("member")
            o = align_truth(f, truth[v]).load()
            parts = [mse(f, o, weights=weights, time_dim=None)]
            if climatology is not None:
                parts.append(acc_uncentred(f, o, climatology[v], weights=weights, time_dim=None))
            pieces.append(
                xr.concat([p.drop_vars("valid_time", errors="ignore") for p in parts], dim="metric")
            )
        da = xr.concat(pieces, dim=_UNIT)
        head = [d for d in ("metric", _UNIT, "level", "lead_time") if d in da.dims]
        da = da.transpose(*head).assign_coords(metric=np.array(metrics, dtype=object))
        da.attrs = {"units": forecast[v].attrs.get("units", "")}
        out[v] = da
    ds = xr.Dataset(out)
    ds.attrs.update(
        per_init_metrics=",".join(metrics), latitude_weights="cell area (WB2)" if weights is None else "given"
    )
    return ds


def _rmse_of_resample(x: np.ndarray, axis: int) -> np.ndarray:
    return np.sqrt(np.mean(x, axis=axis))


def scorecard_intervals(
    per_init: xr.Dataset,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: str = "percentile",
    seed: Any = 0,
) -> xr.Dataset:
    """Bootstrap intervals over init times of the scorecard's ``rmse`` (and ``acc``).

    ``rmse = sqrt(mean_t mse_t)`` and ``acc = mean_t acc_t`` of each resample of the init times (the same
    resampled inits for every lead time and level). Needs ≥ 2 inits; use ≥ 32 for a useful interval.
    A lead or level where some init's score is undefined (NaN, e.g. the ACC of the climatology forecast,
    whose anomaly is zero) gets NaN bounds.

    Returns:
        Dataset with the variables of ``per_init``, each ``(metric, bound, [level], lead_time)`` with
        ``bound = ["estimate", "low", "high"]`` and ``metric = ["rmse"]`` or ``["rmse", "acc"]``; attrs
        record n_inits, confidence, method, n_resamples.
    """
    per_init = _check_dataset(per_init, "per_init")
    out = {}
    n_units = None
    for v, da in per_init.data_vars.items():
        if _UNIT not in da.dims or "metric" not in da.dims:
            raise MetricInputError(f"per_init[{v!r}]: expected dims (metric, init_time, …), got {da.dims}")
        rows, names = [], []
        for metric, stat, new in (("mse", _rmse_of_resample, "rmse"), ("acc", "mean", "acc")):
            if metric not in da["metric"].values:
                continue
            x = np.asarray(da.sel(metric=metric).transpose(_UNIT, ...).values, dtype=np.float64)
            flat = x.reshape(x.shape[0], -1)
            ok = np.isfinite(flat).all(axis=0)  # an undefined score (ACC of a zero anomaly) stays NaN
            bounds = np.full((3, flat.shape[1]), np.nan)
            if ok.any():
                ci = bootstrap_interval(
                    flat[:, ok],
                    stat,
                    confidence=confidence,
                    n_resamples=n_resamples,
                    method=method,
                    seed=seed,
                )
                bounds[:, ok] = np.stack(
                    [np.atleast_1d(ci.estimate), np.atleast_1d(ci.low), np.atleast_1d(ci.high)]
                )
                n_units = ci.n
            rows.append(bounds.reshape((3,) + x.shape[1:]))
            names.append(new)
        rest = [d for d in da.dims if d not in ("metric", _UNIT)]
        arr = xr.DataArray(
            np.stack(rows),
            dims=("metric", "bound", *rest),
            coords={"metric": np.array(names, dtype=object), "bound": ["estimate", "low", "high"],
                    **{d: da[d].values for d in rest if d in da.coords}},
        )  # fmt: skip
        arr.attrs = dict(da.attrs)
        out[v] = arr
    ds = xr.Dataset(out)
    ds.attrs.update(n_inits=int(n_units or 0), confidence=float(confidence), method=method,
                    n_resamples=int(n_resamples), statistic="rmse = sqrt(mean mse) per resample; acc = mean")  # fmt: skip
    return ds


def _common_inits(a: xr.Dataset, b: xr.Dataset) -> np.ndarray:
    ia, ib = np.asarray(a[_UNIT].values), np.asarray(b[_UNIT].values)
    common = np.intersect1d(ia, ib)
    if common.size < 2:
        raise MetricInputError(
            f"paired test: the two models share {common.size} init time(s) (A has {ia.size}, B {ib.size}); "
            "a paired test needs ≥ 2 inits scored by both"
        )
    return common


def paired_score_test(
    per_init_a: xr.Dataset,
    per_init_b: xr.Dataset,
    *,
    metric: str = "mse",
    test: str = "permutation",
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: Any = 0,
) -> xr.Dataset:
    """Paired test of model A against model B on their common init times, per variable, lead and level.

    ``d_t = score_A,t − score_B,t`` for ``metric`` (``"mse"`` — its sign orders the RMSEs — or ``"acc"``);
    ``test``: ``"permutation"`` (sign-flip, mean difference), ``"wilcoxon"`` (signed rank), ``"t"`` (IID
    paired t) or ``"t_ar2"`` (Geer 2016 AR(2)-inflated standard error; inits in time order with a uniform
    spacing). ``alternative`` concerns ``A − B``: ``"less"`` = A has the lower score.

    Returns:
        Dataset with ``mean_difference``, ``p_value`` and (for ``mse``) ``rmse_a``, ``rmse_b`` per variable,
        named ``<variable>_<quantity>``, over ``(lead_time, [level])``; attrs: n_inits, test, method,
        alternative. Leads or levels present in only one model are dropped (inner join); the inits are the
        common ones (≥ 2, else an error naming both counts).
    """
    a = _check_dataset(per_init_a, "per_init_a")
    b = _check_dataset(per_init_b, "per_init_b")
    if test not in PAIRED_TESTS:
        raise MetricInputError(f"test: expected one of {PAIRED_TESTS}, got {test!r}")
    if metric not in ("mse", "acc"):
        raise MetricInputError(f"metric: expected 'mse' or 'acc', got {metric!r}")
    common = _common_inits(a, b)
    shared = [v for v in a.data_vars if v in b.data_vars]
    if not shared:
        raise MetricInputError(
            f"paired test: no variable in common (A: {sorted(map(str, a.data_vars))}, B: {sorted(map(str, b.data_vars))})"
        )
    out: dict[str, xr.DataArray] = {}
    method = ""
    for v in shared:
        for name, ds in (("A", a), ("B", b)):
            if metric not in ds[v]["metric"].values:
                raise MetricInputError(
                    f"per_init_{name.lower()}[{v!r}]: has no {metric!r} (a climatology is needed for acc)"
                )
        xa, xb = xr.align(
            a[v].sel(metric=metric, **{_UNIT: common}),
            b[v].sel(metric=metric, **{_UNIT: common}),
            join="inner",
        )
        xa, xb = xa.transpose(_UNIT, ...), xb.transpose(_UNIT, ...)
        rest = [d for d in xa.dims if d != _UNIT]
        if test == "permutation":
            res = paired_permutation_test(
                xa.values, xb.values, alternative=alternative, n_resamples=n_resamples, seed=seed
            )
        elif test == "wilcoxon":
            res = paired_wilcoxon_test(xa.values, xb.values, alternative=alternative)
        else:
            res = paired_t_test(xa.values, xb.values, alternative=alternative,
                                autocorrelation="ar2" if test == "t_ar2" else "none")  # fmt: skip
        method = res.method
        coords = {d: xa[d].values for d in rest if d in xa.coords}

        def wrap(
            values: Any, coords: dict = coords, rest: list = rest, shape: tuple = xa.shape[1:]
        ) -> xr.DataArray:
            return xr.DataArray(np.asarray(values, dtype=np.float64).reshape(shape), dims=rest, coords=coords)

        out[f"{v}_mean_difference"] = wrap(res.mean_difference)
        out[f"{v}_p_value"] = wrap(res.p_value)
        if metric == "mse":
            out[f"{v}_rmse_a"] = wrap(np.sqrt(xa.values.mean(axis=0)))
            out[f"{v}_rmse_b"] = wrap(np.sqrt(xb.values.mean(axis=0)))
    ds = xr.Dataset(out)
    ds.attrs.update(
        n_inits=int(common.size), test=test, method=method, alternative=alternative, metric=metric
    )
    return ds
