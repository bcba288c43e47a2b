"""Scorecards: every requested score of a forecast dataset, per variable, level and lead time.

:func:`scorecard` reads a forecast ``(init_time, lead_time, [member], [level], latitude, longitude)`` (any
dim order, any latitude orientation, numpy- or dask-backed) and the truth, and returns an
:class:`xarray.Dataset` whose **data variables are the forecast variables** and whose dims are
``(metric, [level], lead_time)`` (surface variables have no ``level``). It never materialises the whole
forecast: it walks over blocks of ``block`` initialisations and, inside a block, over groups of lead times
and levels sized to ``max_chunk_mb``; each piece is loaded, scored per init (WB2) or per block (ChaosBench)
and reduced to running sums, so memory stays bounded for a ChaosBench-size year (320 inits × 44 leads ×
60 channels at 1.5°). Only the small result is in memory.

The deterministic scores (WB2 ``mse``/``rmse``/``rmse_per_sample``/``bias``/``mae``/``acc``/``acc_centred``,
ChaosBench ``rmse``/``bias``/``mae``/``acc``) go through the fused kernel of
:mod:`~physics_metrics.weather.scorecard_fast` (each truth day read once per block and shared by the inits
and leads that verify on it, row sums on plain float64 arrays, a zarr store read several chunks per call);
its values equal the general per-piece path below to rounding. Measured (``benchmarks/scorecard_speed.py``,
1 thread, 44 leads × 60 channels at 1.5°, RMSE/bias/ACC, shared 2-core machine, so ±40 % between runs):
ChaosBench convention 0.7–1.2 s per init (8 inits 5–6 s vs 33–48 s for a per-batch torch loop; 32 inits
22–39 s vs 230 s; before: 0.61× the loop), WB2 the same; a generated 320-init year 237 s; peak RSS
0.6–0.9 GB, flat in the number of inits (the loop's grows: 1.1 GB at 8, 3.3 GB at 32).

Conventions (``convention=``):

* ``"wb2"`` (default): the functions of :mod:`~physics_metrics.weather.deterministic` and
  :mod:`~physics_metrics.weather.probabilistic` with ``time_dim=None`` on each piece (per-init scores,
  cell-area weights), then the WB2 time reduction: ``mse``/``bias``/``mae``/``acc``/``acc_centred``/
  ``rmse_per_sample``/``crps`` = mean over inits; ``rmse = sqrt(mean mse)``; ``spread = sqrt(mean ⟨var_m⟩)``;
  ``ssr = c · spread / rmse(ensemble mean)`` with ``c = sqrt((M+1)/M)`` if ``ssr_correction``;
  ``crpss = 1 − mean CRPS / mean CRPS_gauss-clim``. Equal to calling those functions on the whole data.
* ``"chaosbench"``: :mod:`~physics_metrics.weather.chaosbench_convention` per block of 32 chronological
  inits, then the arithmetic mean over blocks — ChaosBench's published numbers (see that module for the
  side-by-side table). Extra metrics ``specdiv`` and ``specres``.

Deterministic metrics of an ensemble forecast are scored on the ensemble mean; ``crps``, ``spread``,
``ssr`` and ``crpss`` need a ``member`` dim. ``acc`` needs ``climatology``, ``crpss`` also
``climatology_std`` (both ``(dayofyear, [hour], [level], latitude, longitude)``, as the truth's variables).

Which scores exist, in which convention, and what each needs is the table of
:mod:`~physics_metrics.weather.registry` (:data:`SCORES`, one :class:`ScoreSpec` per score); this module
iterates it, so a score added with :func:`register_score` is available here at once.

Non-finite values: ``skipna=False`` (default) raises :class:`~physics_metrics.errors.NonFiniteInputError`
naming the input, the variable and the first init / lead time / level / grid point holding NaN or ±inf;
``skipna=True`` is the policy for fields with legitimately missing points (masked ocean, missing
observations): NaN points are left out of the spatial means (and all-NaN inits out of the init means), as
documented by the underlying functions — ``±inf`` still raises. The check runs on each piece as it is
loaded for scoring, so nothing extra is read. Grids, levels, lead times and valid times are matched by
value; a mismatch is a :class:`~physics_metrics.errors.MetricInputError` naming the dimension; a dimension
of length 0 and duplicated ``init_time``/``lead_time``/``time`` values are errors naming them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricTypeError
from . import chaosbench_convention as cbc
from .deterministic import check_dims_nonempty_unique
from .references import climatology_forecast, persistence_forecast
from .registry import SCORECARD_METRICS, SCORES, ChaosBenchPiece, WB2Piece
from .scorecard_fast import fast_finish, fast_parts, split_metrics
from .scorecard_inputs import _HEAD, _SPACE, _Clim, _load, _nonfinite_error, _same_grid, _Truth
from .scorecard_io import write_scorecard_csv, write_scorecard_netcdf

logger = logging.getLogger(__name__)

__all__ = [
    "SCORECARD_METRICS",
    "ScorecardPlan",
    "assemble_scorecard",
    "score_blocks",
    "scorecard",
    "scorecard_plan",
    "write_scorecard_csv",
    "write_scorecard_netcdf",
]


# -------------------------------------------------------------------------------------------- checks
def _validate(forecast: xr.Dataset, metrics: Sequence[str], convention: str, has_members: bool) -> list[str]:
    if convention not in SCORECARD_METRICS:
        raise MetricInputError(f"convention: must be one of {tuple(SCORECARD_METRICS)}, got {convention!r}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    out = []
    for m in metrics:
        if m not in SCORECARD_METRICS[convention]:
            raise MetricInputError(
                f"metrics: {m!r} is not available in convention {convention!r} "
                f"(available: {SCORECARD_METRICS[convention]})"
            )
        if SCORES[m].needs_ensemble and not has_members:
            raise MetricInputError(f"metrics: {m!r} needs an ensemble forecast with a 'member' dimension")
        if m not in out:
            out.append(m)
    if not out:
        raise MetricInputError("metrics: empty")
    return out


def _check_forecast(forecast: Any) -> xr.Dataset:
    if isinstance(forecast, xr.DataArray):
        if forecast.name is None:
            raise MetricInputError(
                "forecast: a DataArray needs a name (the variable name), or pass a Dataset"
            )
        forecast = forecast.to_dataset()
    if not isinstance(forecast, xr.Dataset):
        raise MetricTypeError(f"forecast: expected an xarray.Dataset, got {type(forecast).__name__}")
    for d in _HEAD + _SPACE:
        if d not in forecast.dims:
            raise MetricInputError(f"forecast: missing dimension {d!r} (dims: {tuple(forecast.dims)})")
    if not np.issubdtype(forecast["init_time"].dtype, np.datetime64):
        raise MetricInputError("forecast: 'init_time' must be datetime64")
    if not np.issubdtype(forecast["lead_time"].dtype, np.timedelta64):
        raise MetricInputError("forecast: 'lead_time' must be timedelta64")
    if not forecast.data_vars:
        raise MetricInputError("forecast: has no data variables")
    check_dims_nonempty_unique(forecast, "forecast")
    return forecast


# -------------------------------------------------------------------------------------------- scoring
class _Accumulator:
    """The contributions of the general path's pieces of one variable, recorded in order: ``("sum", key, ix,
    shape, Σ over the piece's inits, count)`` (WB2) and ``("block", key, ix, shape, block, values)``
    (ChaosBench). :class:`_Replay` adds them up in that order, so blocks scored apart (one dask task each,
    :func:`score_blocks`) give the same floating-point operations as one pass over all blocks."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def add_per_init(self, key: str, values: np.ndarray, lead_sl: slice, lev_sl: slice | None, shape) -> None:
        ix = (lead_sl,) if lev_sl is None else (lead_sl, lev_sl)
        self.ops.append(("sum", key, ix, shape, np.nansum(values, axis=0), np.sum(~np.isnan(values), axis=0)))

    def add_block(self, key: str, values: np.ndarray, lead_sl: slice, lev_sl: slice | None, shape, b: int):
        ix = (lead_sl,) if lev_sl is None else (lead_sl, lev_sl)
        self.ops.append(("block", key, ix, shape, b, values))


class _Replay:
    """Running per-init sums (WB2) and per-block values (ChaosBench) of one variable from recorded ops."""

    def __init__(self, ops: Sequence[tuple]) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.blocks: dict[str, list[np.ndarray]] = {}
        for kind, key, ix, shape, *rest in ops:
            if kind == "sum":
                if key not in self.sums:
                    self.sums[key] = np.zeros(shape)
                    self.counts[key] = np.zeros(shape)
                self.sums[key][ix] += rest[0]
                self.counts[key][ix] += rest[1]
            else:
                lst = self.blocks.setdefault(key, [])
                while len(lst) <= rest[0]:
                    lst.append(np.full(shape, np.nan))
                lst[rest[0]][ix] = rest[1]

    def mean(self, key: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts[key] > 0, self.sums[key] / self.counts[key], np.nan)


def _da(arr: np.ndarray, dims: Sequence[str], coords: dict[str, Any]) -> xr.DataArray:
    return xr.DataArray(arr, dims=tuple(dims), coords={d: coords[d] for d in dims if d in coords})


def _wb2_piece(acc, metrics, f, o, c, s, dims, coords, lead_sl, lev_sl, shape, skipna, opts) -> None:
    """Per-init WB2 values of one piece from each score's ``wb2`` (keys shared between scores added once)."""
    has_m = "member" in dims
    odims = [d for d in dims if d != "member"]
    fd = _da(f, dims, coords)
    piece = WB2Piece(
        f=fd,
        fmean=fd.mean("member", skipna=skipna) if has_m else fd,
        o=_da(o, odims, coords),
        c=None if c is None else _da(c, odims, coords),
        s=None if s is None else _da(s, odims, coords),
        kw={"time_dim": None, "skipna": skipna},
        opts=opts,
        latitude=np.asarray(coords["latitude"]),
    )
    values: dict[str, Any] = {}
    for m in metrics:
        values.update(SCORES[m].wb2(piece))
    head = [d for d in odims if d not in _SPACE]
    for key, v in values.items():
        arr = np.asarray(v.transpose(*head).values) if isinstance(v, xr.DataArray) else np.asarray(v)
        acc.add_per_init(key, arr, lead_sl, lev_sl, shape)


def _cb_piece(acc, metrics, f, o, c, s, lat, lead_sl, lev_sl, shape, b) -> None:
    """One ChaosBench block of one piece; arrays are (n, [member], lead, [level], lat, lon)."""
    has_m = f.ndim == o.ndim + 1
    if has_m:  # (n, lead, member, ...) -> ChaosBench's (n, member, lead, ...)
        f = np.moveaxis(f, 2, 1)
    piece = ChaosBenchPiece(f=f, fmean=f.mean(axis=1) if has_m else f, o=o, c=c, s=s, latitude=lat)
    for m in metrics:
        acc.add_block(m, SCORES[m].chaosbench(piece), lead_sl, lev_sl, shape, b)


def _group(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _variable_parts(var, forecast, srcs, metrics, convention, chunks, skipna, opts, first_block=0) -> dict:
    """The contributions of the blocks ``chunks`` (numbered from ``first_block``) to one variable's scores:
    ``{"fast": [...], "general": [...]}`` (the fused kernel's metrics and the rest)."""
    t_src, c_src, s_src, truth, clim, spatial, c_grid = srcs
    fast, general = split_metrics(metrics, convention)
    parts: dict[str, list] = {"fast": [], "general": []}
    if fast:
        parts["fast"] = fast_parts(var, forecast, truth, clim, t_src, c_src, spatial, c_grid, fast, convention,
                                   chunks, skipna, opts, first_block)  # fmt: skip
    if general:
        parts["general"] = _general_parts(var, forecast, t_src, c_src, s_src, general, convention, chunks,
                                          skipna, opts, first_block)  # fmt: skip
    return parts


def _variable_card(var, forecast, parts: Sequence[dict], metrics, convention, opts) -> xr.DataArray:
    """``(metric, [level], lead_time)`` of one variable from the parts of all its blocks, in block order."""
    fast, general = split_metrics(metrics, convention)
    fda = forecast[var]
    vals = {}
    if fast:
        vals.update(fast_finish([op for p in parts for op in p["fast"]], fda, fast, convention, opts))
    if general:
        acc = _Replay([op for p in parts for op in p["general"]])
        if convention == "wb2":
            n_m = fda.sizes["member"] if "member" in fda.dims else 1
            vals.update({m: SCORES[m].finish_wb2(acc.mean, opts, n_m) for m in general})
        else:
            vals.update({m: np.mean(np.stack(acc.blocks[m]), axis=0) for m in general})
    has_level = "level" in fda.dims
    data = np.stack([vals[m] for m in metrics])
    dims = ("metric", "level", "lead_time") if has_level else ("metric", "lead_time")
    if has_level:
        data = np.swapaxes(data, 1, 2)
    out = xr.DataArray(data, dims=dims, name=var)
    out.attrs = {k: v for k, v in fda.attrs.items() if k in ("units", "long_name", "standard_name")}
    return out


def _general_parts(var, forecast, truth_src, clim_src, std_src, metrics, convention, chunks, skipna, opts,
                   first_block=0) -> list[tuple]:  # fmt: skip
    fda = forecast[var]
    has_level = "level" in fda.dims
    has_m = "member" in fda.dims
    n_lead = fda.sizes["lead_time"]
    n_lev = fda.sizes["level"] if has_level else 1
    shape = (n_lead, n_lev) if has_level else (n_lead,)
    inits = forecast["init_time"].values
    leads = forecast["lead_time"].values
    lat = forecast["latitude"].values
    fdims = ["init_time", "lead_time"] + (["member"] if has_m else []) + (["level"] if has_level else [])
    fdims += list(_SPACE)
    odims = [d for d in fdims if d != "member"]
    n_m = fda.sizes["member"] if has_m else 1
    point_bytes = 8 * n_m * fda.sizes["latitude"] * fda.sizes["longitude"]
    acc = _Accumulator()
    for b, idx in enumerate(chunks, start=first_block):
        budget = max(1, opts["max_chunk_bytes"] // (point_bytes * len(idx)))
        lev_size = min(n_lev, budget)
        lead_size = max(1, min(n_lead, budget // lev_size))
        for lead_sl in _group(n_lead, lead_size):
            for lev_sl in _group(n_lev, lev_size) if has_level else [None]:
                isel: dict[str, Any] = {"init_time": idx, "lead_time": lead_sl}
                if has_level:
                    isel["level"] = lev_sl
                f = _load(fda.isel(isel), fdims)
                valid = inits[idx][:, None] + leads[lead_sl][None, :]
                o = truth_src.get(valid, idx, lead_sl, lev_sl, odims)
                c = clim_src.get(valid, idx, lead_sl, lev_sl, odims) if clim_src is not None else None
                s = std_src.get(valid, idx, lead_sl, lev_sl, odims) if std_src is not None else None
                for arr, what in ((f, "forecast"), (o, "truth"), (c, "climatology"), (s, "climatology_std")):
                    if arr is not None and not np.isfinite(arr).all():
                        lev_values = forecast["level"].values[lev_sl] if has_level else None
                        _nonfinite_error(arr, var, what, inits[idx], leads[lead_sl], lev_values, lat,
                                         forecast["longitude"].values, skipna)  # fmt: skip
                if s is not None and np.any(s[~np.isnan(s)] < 0):
                    raise MetricInputError(f"climatology_std: variable {var!r} has negative values")
                coords = {
                    "init_time": inits[idx],
                    "lead_time": leads[lead_sl],
                    "latitude": lat,
                    "longitude": forecast["longitude"].values,
                }
                if has_level:
                    coords["level"] = forecast["level"].values[lev_sl]
                if has_m:
                    coords["member"] = np.arange(n_m)
                if convention == "wb2":
                    _wb2_piece(acc, metrics, f, o, c, s, fdims, coords, lead_sl, lev_sl, shape, skipna, opts)
                else:
                    _cb_piece(acc, metrics, f, o, c, s, lat, lead_sl, lev_sl, shape, b)
        logger.debug("scorecard: %s block %d done", var, b + 1)
    return acc.ops


@dataclasses.dataclass(frozen=True)
class ScorecardPlan:
    """What :func:`scorecard` scores, checked: the metrics, variables, blocks of inits (``chunks``: index arrays
    into ``init_time``) and options. Small and picklable: it is what a dask task needs besides the inputs."""

    metrics: list[str]
    convention: str
    variables: list[str]
    chunks: list[np.ndarray]
    block: int
    skipna: bool
    opts: dict[str, Any]
    needs_clim: bool
    needs_std: bool


def _sources(plan: ScorecardPlan, forecast, truth, climatology, climatology_std, v: str) -> tuple:
    """The truth / climatology readers of variable ``v`` (their constructors check names, levels and grids)."""
    spatial = _same_grid(forecast, truth, "truth")
    levels = forecast["level"].values if "level" in forecast[v].dims else None
    t_src = _Truth(truth, forecast, v, spatial, levels)
    c_src = s_src = c_grid = None
    if climatology is not None and plan.needs_clim:
        c_grid = _same_grid(forecast, climatology, "climatology")
        c_src = _Clim(climatology, v, c_grid, levels, "climatology")
    if climatology_std is not None and plan.needs_std:
        s_grid = _same_grid(forecast, climatology_std, "climatology_std")
        s_src = _Clim(climatology_std, v, s_grid, levels, "climatology_std")
    return t_src, c_src, s_src, truth, climatology, spatial, c_grid


def scorecard_plan(forecast, truth, climatology=None, *, metrics=("rmse", "bias", "acc"), convention="wb2",
                   climatology_std=None, variables=None, block=cbc.CHAOSBENCH_BLOCK, skipna=False,
                   crps_estimator=None, ssr_correction=None, max_chunk_mb=128.0) -> ScorecardPlan:  # fmt: skip
    """Check :func:`scorecard`'s arguments (same meaning, same errors) and return its :class:`ScorecardPlan`.

    With :func:`score_blocks` and :func:`assemble_scorecard` this is :func:`scorecard` in three steps, so the
    blocks can be scored apart (e.g. on dask workers) and combined into the same numbers, bit for bit:
    ``assemble_scorecard(plan, forecast, {v: [score_blocks(plan, ..., v, slice(i, j)) for i, j in ranges]})``
    with the ranges covering ``range(len(plan.chunks))`` in order.
    """
    forecast = _check_forecast(forecast)
    if not isinstance(truth, xr.Dataset):
        raise MetricTypeError(f"truth: expected an xarray.Dataset, got {type(truth).__name__}")
    has_members = "member" in forecast.dims
    metric_list = _validate(forecast, metrics, convention, has_members)
    if convention == "chaosbench" and (crps_estimator not in (None, "classic") or ssr_correction):
        raise MetricInputError(
            "crps_estimator/ssr_correction: fixed by the ChaosBench convention (classic, none)"
        )
    opts = {
        "crps_estimator": crps_estimator or "fair",
        "ssr_correction": True if ssr_correction is None else bool(ssr_correction),
        "max_chunk_bytes": int(max_chunk_mb * 2**20),
    }
    needs_clim = [m for m in metric_list if SCORES[m].needs_climatology]
    needs_std = [m for m in metric_list if SCORES[m].needs_climatology_std]
    if needs_clim and climatology is None:
        raise MetricInputError(f"climatology: required by metric(s) {needs_clim}")
    if needs_std and climatology_std is None:
        raise MetricInputError(f"climatology_std: required by metric(s) {needs_std}")
    names = list(forecast.data_vars) if variables is None else list(variables)
    for v in names:
        if v not in forecast.data_vars:
            raise MetricInputError(
                f"variables: {v!r} is not a forecast variable (has {list(forecast.data_vars)})"
            )
    _same_grid(forecast, truth, "truth")
    inits = forecast["init_time"].values
    if convention == "chaosbench":
        chunks = cbc.chaosbench_blocks(inits, block)
    else:
        chunks = [np.arange(i, min(i + block, inits.size)) for i in range(0, inits.size, block)]
    plan = ScorecardPlan(metrics=metric_list, convention=convention, variables=list(names),
                         chunks=chunks, block=int(block), skipna=bool(skipna), opts=opts,
                         needs_clim=bool(needs_clim), needs_std=bool(needs_std))  # fmt: skip
    for v in plan.variables:
        _sources(plan, forecast, truth, climatology, climatology_std, v)
    return plan


def score_blocks(plan: ScorecardPlan, forecast, truth, climatology, climatology_std, variable: str,
                 blocks: slice | None = None) -> dict[str, list]:  # fmt: skip
    """The contributions of the blocks ``plan.chunks[blocks]`` (default all) to ``variable``'s scores.

    Memory: one piece of ``max_chunk_mb`` of the forecast and the truth days it verifies on. The result is
    small (per piece, ``lead × [level]`` sums per metric); pass the parts of all blocks, in block order, to
    :func:`assemble_scorecard`.
    """
    forecast = _check_forecast(forecast)
    sl = slice(0, len(plan.chunks)) if blocks is None else slice(*blocks.indices(len(plan.chunks)))
    srcs = _sources(plan, forecast, truth, climatology, climatology_std, variable)
    return _variable_parts(variable, forecast, srcs, plan.metrics, plan.convention, plan.chunks[sl],
                           plan.skipna, plan.opts, sl.start)  # fmt: skip


def assemble_scorecard(plan: ScorecardPlan, forecast, parts: dict[str, Sequence[dict]]) -> xr.Dataset:
    """The scorecard Dataset (as :func:`scorecard` returns it, without ``reference``) from, per variable, the
    :func:`score_blocks` results of consecutive block ranges covering all blocks, in block order."""
    forecast = _check_forecast(forecast)
    cards = {v: _variable_card(v, forecast, parts[v], plan.metrics, plan.convention, plan.opts)
             for v in plan.variables}  # fmt: skip
    card = xr.Dataset(cards)
    card = card.assign_coords(
        metric=np.array(plan.metrics, dtype=object), lead_time=forecast["lead_time"].values
    )
    if "level" in card.dims:
        card = card.assign_coords(level=forecast["level"].values)
    cb = plan.convention == "chaosbench"
    card.attrs.update(
        convention=plan.convention,
        n_init_time=int(forecast.sizes["init_time"]),
        n_blocks=len(plan.chunks) if cb else 1,
        block=plan.block,
        latitude_weights="cos, mean 1 (ChaosBench)" if cb else "cell area, mean 1 (WB2)",
        skipna=int(plan.skipna),
        ensemble_members=int(forecast.sizes.get("member", 0)),
    )
    if not cb and "member" in forecast.dims:
        opts = plan.opts
        card.attrs.update(crps_estimator=opts["crps_estimator"], ssr_correction=int(opts["ssr_correction"]))
    return card


def scorecard(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None = None,
    *,
    metrics: Sequence[str] = ("rmse", "bias", "acc"),
    convention: str = "wb2",
    reference: str | xr.Dataset | None = None,
    climatology_std: xr.Dataset | None = None,
    variables: Sequence[str] | None = None,
    block: int = cbc.CHAOSBENCH_BLOCK,
    skipna: bool = False,
    crps_estimator: str | None = None,
    ssr_correction: bool | None = None,
    max_chunk_mb: float = 128.0,
) -> xr.Dataset:
    """Score a forecast dataset against the truth; returns ``(metric, [level], lead_time)`` per variable.

    Parameters
    ----------
    forecast
        ``(init_time, lead_time, [member], [level], latitude, longitude)``, any dim order/orientation,
        ``init_time`` datetime64, ``lead_time`` timedelta64; lazy (dask/zarr) is fine and preferred.
    truth
        Gridded state ``(time, [level], latitude, longitude)`` containing every valid time, or a dataset in
        the forecast schema with the same init and lead times. Same grid (by value) as the forecast.
    climatology, climatology_std
        ``(dayofyear, [hour], [level], latitude, longitude)`` mean / standard deviation (``doy`` accepted);
        needed by ``acc``/``acc_centred`` and ``crpss``. A valid day missing from it raises ``ValueError``.
    metrics
        Names from ``SCORECARD_METRICS[convention]``.
    convention
        ``"wb2"`` (default, WeatherBench2) or ``"chaosbench"`` (ChaosBench as coded); see the module doc.
    reference
        ``None``, ``"persistence"`` (built from ``truth``), ``"climatology"`` (from ``climatology``) or a
        forecast-schema Dataset. Adds ``<metric>_reference`` for every metric the reference supports and
        the skill ``<m>_skill = 1 − m / m_reference`` for ``mse``, ``rmse``, ``rmse_per_sample``, ``mae``,
        ``crps``.
    variables
        Subset of the forecast's data variables (default: all).
    block
        Inits per chunk: ChaosBench's block (32) for ``"chaosbench"``; any size for ``"wb2"`` (the result
        does not depend on it).
    skipna
        See the module doc.
    crps_estimator, ssr_correction
        WB2 only: ``"fair"`` (default) or ``"classic"`` CRPS; ``sqrt((M+1)/M)`` spread correction in ``ssr``
        (default True, as :func:`probabilistic.spread_skill_ratio`). ChaosBench fixes both (classic, none).
    max_chunk_mb
        Budget for one loaded forecast piece (float64); lead times and levels are grouped to fit it.

    Returns
    -------
    xarray.Dataset
        Data variables = forecast variables, dims ``(metric, level, lead_time)`` (``(metric, lead_time)``
        for surface variables), coords ``metric``, ``level``, ``lead_time``; attrs record the convention,
        number of inits and blocks, weights and NaN policy. Units: each metric in the variable's units
        except ``acc``, ``ssr``, ``crpss``, ``specdiv``, ``specres`` and the skills (dimensionless).
    """
    plan = scorecard_plan(forecast, truth, climatology, metrics=metrics, convention=convention,
                          climatology_std=climatology_std, variables=variables, block=block, skipna=skipna,
                          crps_estimator=crps_estimator, ssr_correction=ssr_correction,
                          max_chunk_mb=max_chunk_mb)  # fmt: skip
    forecast = _check_forecast(forecast)
    parts = {
        v: [score_blocks(plan, forecast, truth, climatology, climatology_std, v)] for v in plan.variables
    }
    card = assemble_scorecard(plan, forecast, parts)
    metric_list, names, opts = plan.metrics, plan.variables, plan.opts
    if reference is not None:
        card = _add_reference(
            card,
            forecast,
            truth,
            climatology,
            climatology_std,
            reference,
            metric_list,
            convention,
            names,
            block,
            skipna,
            opts,
            max_chunk_mb,
        )
    return card


def _add_reference(
    card,
    forecast,
    truth,
    climatology,
    climatology_std,
    reference,
    metric_list,
    convention,
    names,
    block,
    skipna,
    opts,
    max_chunk_mb,
) -> xr.Dataset:
    inits, leads = forecast["init_time"].values, forecast["lead_time"].values
    if isinstance(reference, str):
        if reference == "persistence":
            ref = persistence_forecast(truth[names], inits, leads)
        elif reference == "climatology":
            if climatology is None:
                raise MetricInputError("reference: 'climatology' needs the climatology argument")
            clim = climatology.rename(doy="dayofyear") if "doy" in climatology.dims else climatology
            ref = climatology_forecast(clim[names], inits, leads)
        else:
            raise MetricInputError(
                f"reference: expected 'persistence', 'climatology' or a Dataset, got {reference!r}"
            )
        ref_name = reference
    elif isinstance(reference, xr.Dataset):
        ref = reference
        ref_name = str(reference.attrs.get("name", "dataset"))
    else:
        raise MetricTypeError(f"reference: expected a str or xarray.Dataset, got {type(reference).__name__}")
    ref_metrics = [m for m in metric_list if not SCORES[m].needs_ensemble or "member" in ref.dims]
    ref_card = scorecard(
        ref,
        truth,
        climatology,
        metrics=ref_metrics,
        convention=convention,
        climatology_std=climatology_std,
        variables=names,
        block=block,
        skipna=skipna,
        crps_estimator=opts["crps_estimator"] if convention == "wb2" else None,
        ssr_correction=opts["ssr_correction"] if convention == "wb2" else None,
        max_chunk_mb=max_chunk_mb,
    )
    ref_card = ref_card.assign_coords(metric=[f"{m}_reference" for m in ref_metrics])
    skills = []
    for m in ref_metrics:
        if SCORES[m].skill:
            s = 1.0 - card.sel(metric=m) / ref_card.sel(metric=f"{m}_reference")
            skills.append(s.drop_vars("metric", errors="ignore").expand_dims(metric=[f"{m}_skill"]))
    out = xr.concat([card, ref_card] + skills, dim="metric", combine_attrs="drop_conflicts")
    out.attrs = dict(card.attrs, reference=ref_name)
    for v in names:
        out[v].attrs = card[v].attrs
    return out


# -------------------------------------------------------------------------------------------- output
