"""Normalisation statistics and climatology of canonical gridded datasets, with an on-disk cache.

Inputs are canonical gridded states (``xarray.Dataset`` with dims ``(time, level, latitude,
longitude)``, surface variables without ``level``; see ``DESIGN.md`` "Schemas"), normally lazy on
dask. Every reduction here streams over the dask chunks; nothing loads the whole archive.

* :func:`channel_statistics` -- per-channel mean and standard deviation over an **explicit**
  year range (there is no default range, so test years never leak into the normalisation by
  accident; :func:`default_train_years` returns the ChaosBench training split).
* :func:`climatology` -- day-of-year (or day-of-year × hour) mean with a periodic smoothing
  window across the year boundary.
* :func:`~chaosbench_py.data.stats_cache.cached_statistics` /
  :func:`~chaosbench_py.data.stats_cache.cached_climatology` (module ``stats_cache``) -- the same,
  cached on disk next to the data and keyed by a fingerprint of the inputs.

Channel naming and order (:func:`channel_layout`) is shared with
:class:`chaosbench_py.data.windows.WindowDataset`: variables in the order given, each 3-D
variable expanded over the levels in the order given (ChaosBench's param-major, level-minor
order), named ``"<var>-<level>"`` (``"z-500"``); surface variables are one channel named by the
variable (``"t2m"``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError, InputTypeError, UnknownNameError

logger = logging.getLogger(__name__)

__all__ = [
    "Channel",
    "calendar_dayofyear",
    "channel_layout",
    "channel_statistics",
    "climatology",
    "default_train_years",
    "latitude_weights",
    "normalisation_arrays",
]

#: Train / validation / test year splits of published benchmarks (inclusive ranges).
SPLITS: dict[str, dict[str, tuple[int, int]]] = {
    # ChaosBench configs (chaosbench/configs/*.yaml): train 1979-2015, val 2016-2021, test 2022(-2023).
    "chaosbench": {"train": (1979, 2015), "val": (2016, 2021), "test": (2022, 2023)},
    # WeatherBench2: climatology 1990-2019, evaluation on 2020.
    "weatherbench2": {"train": (1979, 2017), "val": (2018, 2019), "test": (2020, 2020)},
}

_CACHE_VERSION = 1
_SPATIAL = ("latitude", "longitude")
N_CALENDAR_DAYS = 366
FEB29 = 60  # calendar day-of-year of 29 February (see calendar_dayofyear)


def default_train_years(convention: str = "chaosbench") -> tuple[int, int]:
    """The training year range (inclusive) of a published split: ``"chaosbench"`` (1979, 2015)
    or ``"weatherbench2"`` (1979, 2017). Never overlaps that split's test years."""
    if convention not in SPLITS:
        raise InputError(f"convention={convention!r}: unknown; choose one of {sorted(SPLITS)}")
    return SPLITS[convention]["train"]


# --------------------------------------------------------------------------------------------
# channels, years, weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One channel of the stacked tensor: ``name`` (``"z-500"``, ``"t2m"``), the variable and,
    for a 3-D variable, its pressure level in hPa (``None`` for a surface variable)."""

    name: str
    variable: str
    level: float | None


def _level_name(level: float) -> str:
    return f"{float(level):g}"


def channel_layout(
    ds: xr.Dataset, variables: Sequence[str], levels: Sequence[float] | None = None
) -> list[Channel]:
    """The channels that ``variables`` × ``levels`` make in ``ds``, in order.

    Variables keep the order given; each variable with a ``level`` dimension is expanded over
    ``levels`` in the order given (all of the dataset's levels, in stored order, when ``None``);
    variables without ``level`` give one channel. Raises ``KeyError`` naming a missing variable
    or a level a variable does not have, ``ValueError`` for duplicates.
    """
    if isinstance(variables, str):
        raise InputTypeError(f"variables={variables!r}: pass a list of names, e.g. [{variables!r}]")
    variables = list(variables)
    if not variables:
        raise InputError("variables: empty list; name at least one variable")
    if len(set(variables)) != len(variables):
        raise InputError(f"variables={variables}: duplicated names")
    out: list[Channel] = []
    for var in variables:
        if var not in ds.data_vars:
            raise UnknownNameError(f"variable {var!r} not in dataset (variables: {sorted(map(str, ds.data_vars))})")
        da = ds[var]
        if "level" not in da.dims:
            out.append(Channel(var, var, None))
            continue
        have = np.asarray(ds["level"].values, dtype=np.float64)
        wanted = have if levels is None else np.asarray(list(levels), dtype=np.float64)
        if wanted.size == 0:
            raise InputError("levels: empty list")
        if len(np.unique(wanted)) != wanted.size:
            raise InputError(f"levels={list(wanted)}: duplicated levels")
        for lev in wanted:
            if not np.any(np.isclose(have, lev, rtol=0, atol=1e-6)):
                raise UnknownNameError(
                    f"variable {var!r}: level {_level_name(lev)} not in dataset levels "
                    f"{[_level_name(h) for h in have]}"
                )
            out.append(Channel(f"{var}-{_level_name(lev)}", var, float(lev)))
    return out


def _level_indices(ds: xr.Dataset, levels: Sequence[float]) -> np.ndarray:
    have = np.asarray(ds["level"].values, dtype=np.float64)
    return np.array([int(np.argmin(np.abs(have - lev))) for lev in levels])


def _check_time_axis(ds: xr.Dataset) -> pd.DatetimeIndex:
    if "time" not in ds.dims:
        raise InputError(f"dataset has no 'time' dimension (dims: {dict(ds.sizes)})")
    index = ds.indexes["time"]
    if not isinstance(index, pd.DatetimeIndex):
        raise InputTypeError(f"time coordinate must be datetime64, got {index.dtype}")
    if not index.is_unique:
        dup = index[index.duplicated()][:5]
        raise InputError(f"time coordinate has duplicated times, e.g. {[str(t) for t in dup]}")
    if not index.is_monotonic_increasing:
        raise InputError("time coordinate is not sorted increasingly; sort with ds.sortby('time')")
    return index


def select_years(ds: xr.Dataset, years: tuple[int, int]) -> xr.Dataset:
    """The part of ``ds`` whose times fall in the inclusive year range ``years = (start, end)``.

    Raises ``ValueError`` for a malformed range or when no time falls inside it.
    """
    try:
        start, end = (int(y) for y in years)
    except (TypeError, ValueError):
        raise InputError(f"years={years!r}: expected (start_year, end_year), both inclusive") from None
    if start > end:
        raise InputError(f"years={years!r}: start year after end year")
    index = _check_time_axis(ds)
    inside = np.flatnonzero((index.year >= start) & (index.year <= end))
    if inside.size == 0:
        raise InputError(
            f"years=({start}, {end}): no times in this range; the dataset covers "
            f"{index[0]:%Y-%m-%d} to {index[-1]:%Y-%m-%d}"
        )
    return ds.isel(time=slice(int(inside[0]), int(inside[-1]) + 1))


def latitude_weights(latitude: Any, kind: str = "cell_area") -> np.ndarray:
    """Area weights of latitude rows, normalised to mean 1, in the order given.

    * ``"cell_area"`` (WeatherBench2 ``get_lat_weights``): ``w_i = sin(φ_{i+½}) − sin(φ_{i−½})``
      with cell bounds at the midpoints between rows and the outer bounds half a spacing beyond
      the first/last row, clipped to ±90° (so a grid with poles gets small, non-zero pole rows).
    * ``"cos"`` (ChaosBench ``get_adjusting_weights``): ``w_i = cos φ_i`` (zero at the poles).

    Works for ascending or descending latitude. Shape ``(n_lat,)``, float64.
    """
    lat = np.asarray(latitude, dtype=np.float64)
    if lat.ndim != 1 or lat.size < 2:
        raise InputError(f"latitude: need a 1-D coordinate with at least 2 rows, got shape {lat.shape}")
    if np.any(np.abs(lat) > 90 + 1e-9):
        raise InputError("latitude: values outside [-90, 90] degrees")
    if kind == "cos":
        w = np.clip(np.cos(np.deg2rad(lat)), 0.0, None)
    elif kind == "cell_area":
        order = np.argsort(lat)
        s = lat[order]
        mid = 0.5 * (s[1:] + s[:-1])
        lo = np.concatenate([[s[0] - (s[1] - s[0]) / 2], mid])
        hi = np.concatenate([mid, [s[-1] + (s[-1] - s[-2]) / 2]])
        lo, hi = np.clip(lo, -90, 90), np.clip(hi, -90, 90)
        w = np.empty_like(lat)
        w[order] = np.sin(np.deg2rad(hi)) - np.sin(np.deg2rad(lo))
    else:
        raise InputError(f"kind={kind!r}: choose 'cell_area' or 'cos'")
    return w / w.mean()


def _weight_kind(area_weighted: bool | str) -> str | None:
    if area_weighted is False or area_weighted is None:
        return None
    if area_weighted is True:
        return "cell_area"
    if area_weighted in ("cell_area", "cos"):
        return str(area_weighted)
    raise InputError(
        f"area_weighted={area_weighted!r}: use False, True (= 'cell_area'), 'cell_area' or 'cos'"
    )


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


def normalisation_arrays(
    statistics: xr.Dataset, names: Sequence[str], what: str = "statistics"
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` float64 arrays of the channels ``names`` from a :func:`channel_statistics` Dataset.

    Raises ``TypeError`` for another object, ``KeyError`` naming a missing ``mean``/``std`` variable or
    channel, and ``ValueError`` naming channels with a NaN mean or a std that is not positive (they
    cannot be normalised). ``what`` names the argument in the messages.
    """
    if not isinstance(statistics, xr.Dataset):
        raise InputTypeError(
            f"{what}: expected the per-channel mean/std Dataset of channel_statistics, got {type(statistics).__name__}"
        )
    for key in ("mean", "std"):
        if key not in statistics:
            raise UnknownNameError(f"{what}: no variable {key!r} (need mean(channel) and std(channel))")
    have = [str(c) for c in statistics["channel"].values]
    missing = [n for n in names if n not in have]
    if missing:
        raise UnknownNameError(f"{what}: no entry for channel(s) {missing}; it has {have}")
    sel = statistics.sel(channel=list(names))
    mean = np.asarray(sel["mean"].values, dtype=np.float64)
    std = np.asarray(sel["std"].values, dtype=np.float64)
    bad = [n for n, s, m in zip(names, std, mean) if not (np.isfinite(s) and s > 0 and np.isfinite(m))]
    if bad:
        raise InputError(f"{what}: channel(s) {bad} have a NaN mean or a std that is not positive")
    return mean, std


def channel_statistics(
    ds: xr.Dataset,
    *,
    variables: Sequence[str],
    levels: Sequence[float] | None = None,
    years: tuple[int, int],
    area_weighted: bool | str = False,
) -> xr.Dataset:
    """Per-channel mean and standard deviation over the times of ``years`` (inclusive).

    For channel ``c`` with values ``x[t, i, j]`` (time, latitude row, longitude) and latitude
    weights ``w_i`` (all 1 unless ``area_weighted``; see :func:`latitude_weights`)::

        mean_c = Σ w_i x[t,i,j] / Σ w_i          std_c = sqrt(Σ w_i (x[t,i,j] − mean_c)² / Σ w_i)

    summed over all ``t, i, j`` (population std, ddof = 0; ChaosBench uses the unweighted form).
    Computed in float64 in one dask pass from sums of ``x − x₀`` and ``(x − x₀)²``, with ``x₀`` one
    sample of the channel (shifting keeps the variance free of cancellation for fields such as
    geopotential, mean 5·10⁴ m² s⁻² with std 3·10³).

    Returns an in-memory Dataset with variables ``mean(channel)`` and ``std(channel)`` in the
    units of each variable, coordinates ``channel`` (names, see :func:`channel_layout`),
    ``variable`` and ``level`` (NaN for surface variables), and attrs recording years, weights
    and the number of time steps. Raises ``ValueError`` naming the variable and level when a
    channel contains NaN/inf or is constant (std 0: it cannot be normalised).
    """
    kind = _weight_kind(area_weighted)
    sel = select_years(ds, years)
    layout = channel_layout(sel, variables, levels)
    missing = [d for d in _SPATIAL if d not in sel.dims]
    if missing:
        raise InputError(f"dataset has no {missing} dimension(s) (dims: {dict(sel.sizes)})")
    w = latitude_weights(sel["latitude"].values, kind) if kind else np.ones(sel.sizes["latitude"])
    w_da = xr.DataArray(w, dims="latitude")
    n_time, n_lon = sel.sizes["time"], sel.sizes["longitude"]
    total_weight = float(w.sum()) * n_time * n_lon

    lazy: list[tuple[Any, Any, Any]] = []
    for var in dict.fromkeys(ch.variable for ch in layout):
        da = sel[var]
        extra = [d for d in da.dims if d not in ("time", "level", *_SPATIAL)]
        if extra:
            raise InputError(
                f"statistics: variable {var!r} has extra dimension(s) {extra} (e.g. ensemble members); "
                "select or stack them first"
            )
        if "level" in da.dims:
            lev = [ch.level for ch in layout if ch.variable == var]
            da = da.isel(level=_level_indices(sel, lev)).transpose("level", "time", *_SPATIAL)
        else:
            da = da.transpose("time", *_SPATIAL).expand_dims("level")
        da = da.astype(np.float64)
        x0 = da.isel(time=0, latitude=0, longitude=0)
        d = da - x0
        s1 = (d * w_da).sum(("time", *_SPATIAL), skipna=False)
        s2 = (d * d * w_da).sum(("time", *_SPATIAL), skipna=False)
        lazy.append((x0.data, s1.data, s2.data))
    (computed,) = dask.compute(lazy)
    means, stds = [], []
    names = [ch.name for ch in layout]
    k = 0
    for x0, s1, s2 in computed:
        for x0_l, s1_l, s2_l in zip(np.atleast_1d(x0), np.atleast_1d(s1), np.atleast_1d(s2)):
            ch = layout[k]
            k += 1
            m1 = s1_l / total_weight
            var_ = s2_l / total_weight - m1 * m1
            if not (np.isfinite(x0_l) and np.isfinite(m1) and np.isfinite(var_)):
                raise InputError(
                    f"statistics: variable {ch.variable!r}"
                    + (f" level {_level_name(ch.level)}" if ch.level is not None else "")
                    + f" contains NaN/inf values in years {tuple(years)}; fill or mask them first"
                )
            std = float(np.sqrt(max(var_, 0.0)))
            if std == 0.0:
                raise InputError(
                    f"statistics: channel {ch.name!r} (variable {ch.variable!r}) is constant over "
                    f"years {tuple(years)}: std = 0, it cannot be normalised"
                )
            means.append(float(x0_l + m1))
            stds.append(std)
    index = sel.indexes["time"]
    out = xr.Dataset(
        {"mean": ("channel", np.array(means)), "std": ("channel", np.array(stds))},
        coords={
            "channel": names,
            "variable": ("channel", [ch.variable for ch in layout]),
            "level": ("channel", [np.nan if ch.level is None else ch.level for ch in layout]),
        },
        attrs={
            "years": [int(years[0]), int(years[1])],
            "time_start": str(index[0]),
            "time_end": str(index[-1]),
            "n_time": int(n_time),
            "area_weighted": kind or "none",
            "ddof": 0,
            "description": "per-channel mean and std over (time, latitude, longitude); "
            "see chaosbench_py.data.statistics.channel_statistics",
        },
    )
    for name in ("mean", "std"):
        out[name].attrs["units"] = "units of each channel's variable"
    logger.info("statistics of %d channels over %d times (%s)", len(names), n_time, tuple(years))
    return out


# --------------------------------------------------------------------------------------------
# climatology
# --------------------------------------------------------------------------------------------


def calendar_dayofyear(times: Any) -> np.ndarray:
    """Day of year on a fixed 366-day calendar: 1 = 1 January, 60 = 29 February, 61 = 1 March,
    366 = 31 December in every year (in non-leap years days from 1 March on are shifted by one).

    So a calendar date has the same number in every year, and 29 February has its own day.
    Returns an int array of the shape of ``times``.
    """
    idx = pd.DatetimeIndex(np.ravel(np.asarray(times, dtype="datetime64[ns]")))
    doy = np.asarray(idx.day_of_year, dtype=np.int64)
    shift = (~np.asarray(idx.is_leap_year)) & (doy >= FEB29)
    return (doy + shift).reshape(np.shape(times))


def _circular_window(window: int) -> np.ndarray:
    """366 × 366 0/1 matrix: ``K[a, b] = 1`` when calendar days a, b are at most ``window // 2``
    days apart on the periodic calendar (31 December is next to 1 January)."""
    d = np.arange(N_CALENDAR_DAYS)
    dist = np.abs(d[:, None] - d[None, :])
    dist = np.minimum(dist, N_CALENDAR_DAYS - dist)
    return (dist <= window // 2).astype(np.float64)


def _climatology_weights(doy: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised weights ``M (366, n_time)`` with ``clim = M @ x`` and the sample count of
    each calendar day's window."""
    onehot = np.zeros((N_CALENDAR_DAYS, doy.size))
    onehot[doy - 1, np.arange(doy.size)] = 1.0
    m = _circular_window(window) @ onehot
    counts = m.sum(axis=1)
    empty = np.flatnonzero(counts == 0) + 1
    if empty.size and set(empty.tolist()) == {FEB29} and counts[FEB29 - 2] > 0 and counts[FEB29] > 0:
        # no leap year in range and a window too short to reach it: 29 Feb = mean of 28 Feb and 1 Mar
        logger.warning("climatology: no 29 February in the data; using the mean of 28 Feb and 1 Mar")
        m[FEB29 - 1] = 1.0  # placeholder, replaced below after normalisation
        counts[FEB29 - 1] = 0.5 * (counts[FEB29 - 2] + counts[FEB29])
        m = m / m.sum(axis=1)[:, None]
        m[FEB29 - 1] = 0.5 * (m[FEB29 - 2] + m[FEB29])
        return m, counts
    if empty.size:
        raise InputError(
            f"climatology: calendar days {empty.tolist()[:10]}{' …' if empty.size > 10 else ''} have no "
            f"data within smoothing_window_days={window}; use more years or a wider window"
        )
    return m / counts[:, None], counts


def climatology(
    ds: xr.Dataset,
    *,
    years: tuple[int, int],
    variables: Sequence[str] | None = None,
    levels: Sequence[float] | None = None,
    by: str = "dayofyear",
    smoothing_window_days: int = 61,
) -> xr.Dataset:
    """Day-of-year (``by="dayofyear"``) or day-of-year × hour (``"dayofyear_hour"``) climatology.

    Days are numbered on the fixed 366-day calendar of :func:`calendar_dayofyear` (29 February is
    day 60 and only leap years contribute to it; 1 March is day 61 in every year). For calendar
    day ``d`` (and hour ``h``)::

        clim[d] = mean of x[t] over all times t (at hour h) with periodic distance
                  |doy(t) − d| (mod 366) ≤ smoothing_window_days // 2

    i.e. a uniform running window centred on ``d`` that wraps across the year boundary (31 Dec is
    next to 1 Jan), each sample weighted equally (WeatherBench2 ``compute_climatology`` smooths
    with a 61-day window; ChaosBench uses no smoothing, ``smoothing_window_days=1``). If the
    window of 29 February holds no data (no leap year and window 1) it is the mean of 28 Feb and
    1 Mar; any other empty day is a ``ValueError``.

    Returns a lazy (dask) Dataset: each variable with dims ``(dayofyear, [level], latitude,
    longitude)`` or ``(hour, dayofyear, [level], latitude, longitude)``, float64, in the units
    of the input; coordinate ``samples`` counts the times averaged per day (and hour). Computed
    as one weighted sum over time per variable (reduced chunk by chunk).
    """
    if by not in ("dayofyear", "dayofyear_hour"):
        raise InputError(f"by={by!r}: choose 'dayofyear' or 'dayofyear_hour'")
    window = int(smoothing_window_days)
    if window != smoothing_window_days or window < 1 or window % 2 == 0 or window > N_CALENDAR_DAYS:
        raise InputError(
            f"smoothing_window_days={smoothing_window_days!r}: must be an odd integer in [1, 365]"
        )
    sel = select_years(ds, years)
    variables = list(sel.data_vars) if variables is None else list(variables)
    layout = channel_layout(sel, variables, levels)
    used_levels = [ch.level for ch in layout if ch.level is not None]
    lev_list = list(dict.fromkeys(used_levels))
    if lev_list:
        sel = sel.isel(level=_level_indices(sel, lev_list))
    times = sel.indexes["time"]
    doy = calendar_dayofyear(times.values)
    hours = np.asarray(times.hour) if by == "dayofyear_hour" else np.zeros(len(times), dtype=int)
    groups = np.unique(hours)
    per_hour: dict[str, list[xr.DataArray]] = {v: [] for v in variables}
    counts = []
    for h in groups:
        at = np.flatnonzero(hours == h)
        m, c = _climatology_weights(doy[at], window)
        counts.append(c)
        for var in variables:
            x = sel[var].isel(time=at)
            other = [d for d in x.dims if d != "time"]
            x = x.transpose("time", *other).astype(np.float64)
            time_chunks = x.chunks[0] if x.chunks else (x.sizes["time"],)
            m_da = xr.DataArray(
                dsa.from_array(m, chunks=(N_CALENDAR_DAYS, time_chunks)), dims=("dayofyear", "time")
            )
            per_hour[var].append(xr.dot(m_da, x, dim="time"))
    out = xr.Dataset()
    for var in variables:
        if by == "dayofyear_hour":
            da = xr.concat(per_hour[var], dim=pd.Index(groups, name="hour"))
        else:
            da = per_hour[var][0]
        da.attrs = dict(sel[var].attrs)
        out[var] = da
    out = out.assign_coords(dayofyear=np.arange(1, N_CALENDAR_DAYS + 1))
    if by == "dayofyear_hour":
        out = out.assign_coords(samples=(("hour", "dayofyear"), np.stack(counts)))
    else:
        out = out.assign_coords(samples=("dayofyear", counts[0]))
    for c in ("level", "latitude", "longitude"):
        if c in sel.coords and c in out.dims:
            out = out.assign_coords({c: sel[c]})
    out.attrs = {
        "years": [int(years[0]), int(years[1])],
        "by": by,
        "smoothing_window_days": window,
        "calendar": "366-day: 60 = 29 Feb (leap years only), 61 = 1 Mar in every year",
        "description": "climatological mean, see chaosbench_py.data.statistics.climatology",
    }
    return out


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------
