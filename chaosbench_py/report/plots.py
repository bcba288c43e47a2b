"""Figure builders for reports: scores vs lead time, maps, zonal spectra, attractors, Lyapunov spectra.

Every function returns a :class:`matplotlib.figure.Figure` built with the object API (no pyplot global
state, no ``plt.show``), so it works under any backend, in threads and on headless machines; save it with
``fig.savefig`` or :meth:`chaosbench_py.report.Report.figure`.

Inputs follow the project schemas: a forecast is an :class:`xarray.Dataset` with dims ``(init_time,
lead_time, [member], [level], latitude, longitude)`` and a ``valid_time`` coordinate; the truth
``(time, [level], latitude, longitude)``; a scorecard is the output of
:func:`physics_metrics.weather.scorecard` (per variable ``(metric, [level], lead_time)``, with
``<metric>_reference`` entries when it was computed with ``reference=``). Latitudes may run either way
and longitudes may be 0 → 360 or −180 → 180: maps are drawn on −180 → 180 with the cells where they are.

Maps of forecast and error with offline coastlines are in :mod:`chaosbench_py.report.maps`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from physics_metrics.weather.spectra import zonal_energy_spectrum

from ..errors import InputError, InputTypeError

logger = logging.getLogger(__name__)

__all__ = [
    "plot_attractors",
    "plot_lyapunov_spectra",
    "plot_scores_vs_lead",
    "plot_zonal_power_spectra",
    "score_curves",
]

VariableSpec = str | tuple[str, Any]


# ------------------------------------------------------------------------------------------ helpers
def _parse_variable(spec: VariableSpec, level: Any) -> tuple[str, Any]:
    """``"z"`` → ``("z", level)``; ``("z", 500)`` → ``("z", 500)``."""
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str):
            raise InputError(f"variables: expected a name or a (name, level) pair, got {spec!r}")
        return spec[0], spec[1]
    if not isinstance(spec, str):
        raise InputTypeError(f"variables: expected a name or a (name, level) pair, got {type(spec).__name__}")
    return spec, level


def _label(variable: str, level: Any) -> str:
    return variable if level is None else f"{variable}{_fmt_level(level)}"


def _fmt_level(level: Any) -> str:
    f = float(level)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _select_level(da: xr.DataArray, level: Any, variable: str, what: str) -> tuple[xr.DataArray, Any]:
    """Select ``level`` if ``da`` has a level dim (a single level is taken as is); surface variables
    ignore ``level``. Returns the selection and the level used (``None`` for surface variables)."""
    if "level" not in da.dims:
        return da, None
    levels = da["level"].values if "level" in da.coords else np.arange(da.sizes["level"])
    if level is None:
        if da.sizes["level"] == 1:
            return da.isel(level=0), levels[0]
        raise InputError(
            f"level: variable {variable!r} in {what} has levels {list(levels)}; pass level= "
            "(or a (name, level) pair)"
        )
    hit = np.flatnonzero(np.isclose(levels.astype(float), float(level)))
    if hit.size == 0:
        raise InputError(f"level: {level!r} is not a level of {variable!r} in {what} (has {list(levels)})")
    return da.isel(level=int(hit[0])), levels[hit[0]]


def _as_timedelta(value: Any, name: str) -> np.timedelta64:
    """A lead time: timedelta-like (``np.timedelta64``, ``pd.Timedelta``, ``"2D"``, ``"36h"``) or a number
    of **days**."""
    try:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.timedelta64)
        ):  # np.timedelta64 is an np.integer subclass
            return pd.to_timedelta(float(value), unit="D").to_timedelta64()
        return pd.to_timedelta(value).to_timedelta64()
    except (ValueError, TypeError) as err:
        raise InputError(f"{name}: cannot read {value!r} as a lead time ({err})") from None


def _lead_index(forecast_leads: np.ndarray, value: Any, name: str = "lead_time") -> int:
    td = _as_timedelta(value, name)
    leads = np.asarray(forecast_leads).astype("timedelta64[ns]")
    hit = np.flatnonzero(leads == td.astype("timedelta64[ns]"))
    if hit.size == 0:
        raise InputError(
            f"{name}: {pd.Timedelta(td)} is not a lead time of the forecast "
            f"(has {[str(pd.Timedelta(x)) for x in leads]})"
        )
    return int(hit[0])


def _fmt_lead(lead: Any) -> str:
    """``3 d`` for whole days, else ``36 h``."""
    td = pd.Timedelta(lead)
    if td % pd.Timedelta(days=1) == pd.Timedelta(0):
        return f"{td.days} d"
    return f"{td / pd.Timedelta(hours=1):g} h"


def _lead_axis(leads: np.ndarray) -> tuple[np.ndarray, str]:
    """Lead times as numbers for an x axis: days if all are whole days, else hours."""
    ns = np.asarray(leads).astype("timedelta64[ns]").astype(np.int64).astype(np.float64)
    day = 86400e9
    if ns.size and np.allclose(ns % day, 0.0):
        return ns / day, "lead time (days)"
    return ns / 3600e9, "lead time (hours)"


def _check_variable(ds: xr.Dataset, variable: str, what: str) -> xr.DataArray:
    if not isinstance(ds, xr.Dataset):
        raise InputTypeError(f"{what}: expected an xarray.Dataset, got {type(ds).__name__}")
    if variable not in ds.data_vars:
        raise InputError(f"variable: {variable!r} is not in {what} (has {list(ds.data_vars)})")
    return ds[variable]


def _metric_names(card: xr.Dataset) -> list[str]:
    return [str(m) for m in card["metric"].values] if "metric" in card.coords else []


def score_curves(
    scorecards: Mapping[str, xr.Dataset], metric: str, variable: str, level: Any = None
) -> dict[str, xr.DataArray]:
    """The ``metric`` of ``variable`` (at ``level``) vs lead time for each scorecard, as ``{label: (lead_time,)}``.

    One entry per scorecard (its mapping key). A scorecard computed with ``reference=`` also contributes its
    ``<metric>_reference`` row under the reference's name (``attrs["reference"]``) unless that name is
    already a key or was added by an earlier scorecard. Raises ``ValueError`` naming the metric / variable
    / level if a scorecard lacks it, and if no scorecard has the variable.
    """
    if not scorecards:
        raise InputError("scorecards: empty mapping")
    out: dict[str, xr.DataArray] = {}
    refs: dict[str, xr.DataArray] = {}
    found = False
    for name, card in scorecards.items():
        if not isinstance(card, xr.Dataset):
            raise InputTypeError(
                f"scorecards[{name!r}]: expected an xarray.Dataset, got {type(card).__name__}"
            )
        if variable not in card.data_vars:
            logger.warning("scorecard %r has no variable %r; left out of the plot", name, variable)
            continue
        found = True
        metrics = _metric_names(card)
        if metric not in metrics:
            raise InputError(f"metric: {metric!r} is not in scorecard {name!r} (has {metrics})")
        da, _ = _select_level(card[variable], level, variable, f"scorecard {name!r}")
        out[str(name)] = da.sel(metric=metric).drop_vars("metric", errors="ignore")
        ref_key = f"{metric}_reference"
        ref_name = str(card.attrs.get("reference", "reference"))
        if ref_key in metrics and ref_name not in scorecards and ref_name not in refs:
            refs[ref_name] = da.sel(metric=ref_key).drop_vars("metric", errors="ignore")
    if not found:
        raise InputError(f"variable: {variable!r} is in none of the scorecards {list(scorecards)}")
    out.update(refs)
    return out


# ------------------------------------------------------------------------------------------ scores
def plot_scores_vs_lead(
    scorecards: Mapping[str, xr.Dataset],
    metric: str,
    variables: Sequence[VariableSpec] | None = None,
    level: Any = None,
) -> Figure:
    """One panel per variable, one line per model: ``metric`` vs lead time (days, or hours if not whole days).

    ``scorecards``: ``{model name: scorecard Dataset}`` (e.g. ``{"fno": ..., "persistence": ...,
    "climatology": ...}``). ``variables``: names or ``(name, level)`` pairs (default: every variable of
    the scorecards, in order of first appearance); ``level`` applies to upper-air variables given by name
    (a variable with a single level needs none). Reference rows are added as in :func:`score_curves`
    (dashed). Returns the Figure; ``fig.axes`` are the panels in the order of ``variables``.
    """
    if variables is None:
        variables = []
        for card in scorecards.values():
            variables += [str(v) for v in card.data_vars if str(v) not in variables]
    if isinstance(variables, str):
        variables = [variables]
    specs = [_parse_variable(v, level) for v in variables]
    if not specs:
        raise InputError("variables: empty")
    n = len(specs)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows), layout="constrained")
    for i, (var, lev) in enumerate(specs):
        curves = score_curves(scorecards, metric, var, lev)
        ax = fig.add_subplot(nrows, ncols, i + 1)
        xlabel = "lead time"
        used_level = None  # surface variables ignore ``level``
        for label, da in curves.items():
            x, xlabel = _lead_axis(da["lead_time"].values)
            dashed = label not in scorecards
            ax.plot(
                x, np.asarray(da.values, dtype=float), marker=".", ls="--" if dashed else "-", label=label
            )
            if used_level is None and "level" in da.coords:
                used_level = da["level"].item()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_title(_label(var, used_level))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_zonal_power_spectra(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variable: str,
    lead_times: Sequence[Any],
    level: Any = None,
    *,
    lat_band: tuple[float, float] = (-60.0, 60.0),
) -> Figure:
    """Zonal energy spectra of truth and forecast at several lead times (log-log), one axis.

    The spectrum is :func:`physics_metrics.weather.spectra.zonal_energy_spectrum` (WeatherBench2:
    ``S_k = 2 C |rfft(f)/n_lon|²`` for ``k > 0``, ``C = 2πR cos φ``; units (field units)² m), averaged over
    the latitudes in ``lat_band`` (degrees, inclusive), over initialisations and, for ensembles, over the
    members' own spectra (not the spectrum of the ensemble mean). The truth line averages the truth's
    spectra over the valid times of the plotted leads that are in ``truth``. Wavenumber 0 is left out.
    A forecast that loses small-scale variance with lead time (spectral blurring) shows as lines dropping
    below the truth at large ``k``. Returns the Figure; its one axis has ``1 + len(lead_times)`` lines
    (truth first).
    """
    f = _check_variable(forecast, variable, "forecast")
    t = _check_variable(truth, variable, "truth")
    if isinstance(lead_times, (str, int, float, np.timedelta64, pd.Timedelta)):
        lead_times = [lead_times]
    if len(lead_times) == 0:
        raise InputError("lead_times: empty")
    f, lev = _select_level(f, level, variable, "forecast")
    if lev is not None:
        t, _ = _select_level(t, lev, variable, "truth")
    lat = f["latitude"].values
    band = (lat >= min(lat_band)) & (lat <= max(lat_band))
    if not band.any():
        raise InputError(f"lat_band: {lat_band} contains no latitude of the forecast")
    lat_sel = lat[band]
    times = pd.DatetimeIndex(t["time"].values)

    def mean_spectrum(da: xr.DataArray) -> xr.DataArray:
        if da.chunks is not None:  # a store chunked along longitude: the FFT needs whole rows
            da = da.chunk({"longitude": -1})
        spec = zonal_energy_spectrum(da.sel(latitude=lat_sel))
        return spec.mean([d for d in spec.dims if d != "zonal_wavenumber"])

    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    curves = []
    valid_all: list[pd.Timestamp] = []
    for lt in lead_times:
        il = _lead_index(f["lead_time"].values, lt, "lead_times")
        fl = f.isel(lead_time=il)
        lead = pd.Timedelta(f["lead_time"].values[il])
        curves.append((f"forecast, lead {_fmt_lead(lead)}", mean_spectrum(fl)))
        valid_all += [pd.Timestamp(v) + lead for v in f["init_time"].values]
    valid = sorted({v for v in valid_all if v in times})
    if not valid:
        raise InputError("truth: contains none of the valid times of the plotted lead times")
    tv = t.isel(time=[times.get_loc(v) for v in valid])
    try:
        tv = tv.sel(latitude=lat_sel, method="nearest", tolerance=1e-6)
    except KeyError:
        raise InputError("truth: its latitudes do not contain the forecast's") from None
    truth_spec = mean_spectrum(tv)
    k = truth_spec["zonal_wavenumber"].values
    pos = k > 0
    ax.loglog(k[pos], truth_spec.values[pos], color="k", lw=2, label="truth")
    for lab, spec in curves:
        ax.loglog(spec["zonal_wavenumber"].values[pos], spec.values[pos], label=lab, lw=1.2, alpha=0.9)
    units = forecast[variable].attrs.get("units", "field units")
    ax.set_xlabel("zonal wavenumber k")
    ax.set_ylabel(f"zonal energy ({units})² m")
    ax.set_title(f"{_label(variable, lev)}: zonal spectra, latitudes {min(lat_band):g}…{max(lat_band):g}°")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------------------------ dynamics
def plot_attractors(series: Mapping[str, Any], dims: Sequence[int] = (0, 2)) -> Figure:
    """2-D projections of trajectories ``(T, N)`` onto state dims ``dims = (i, j)``, one panel per source
    (e.g. ``{"data": x_test, "shPLRNN": free_run}``), sharing the axis limits so shapes compare directly.

    Returns the Figure; ``fig.axes`` are the panels in the mapping's order, each with one line.
    """
    if not series:
        raise InputError("series: empty mapping")
    dims = tuple(int(d) for d in dims)
    if len(dims) != 2 or dims[0] == dims[1]:
        raise InputError(f"dims: expected two different state indices, got {dims}")
    arrays = {}
    for name, x in series.items():
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(f"series[{name!r}]: expected shape (time, dim), got {arr.shape}")
        if max(dims) >= arr.shape[1] or min(dims) < -arr.shape[1]:
            raise InputError(f"dims: {dims} out of range for series[{name!r}] with {arr.shape[1]} dims")
        arrays[str(name)] = arr[:, list(dims)]
    n = len(arrays)
    fig = Figure(figsize=(3.8 * n, 3.6), layout="constrained")
    finite = [a[np.isfinite(a).all(axis=1)] for a in arrays.values()]
    finite = [a for a in finite if a.size]
    lims = None
    if finite:
        lo = np.min([a.min(axis=0) for a in finite], axis=0)
        hi = np.max([a.max(axis=0) for a in finite], axis=0)
        pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
        lims = (lo - pad, hi + pad)
    first = None
    for i, (name, a) in enumerate(arrays.items()):
        ax = fig.add_subplot(1, n, i + 1, sharex=first, sharey=first)
        first = first or ax
        ax.plot(a[:, 0], a[:, 1], lw=0.3, color="k" if i == 0 else f"C{i}")
        ax.set_title(name)
        ax.set_xlabel(f"x{dims[0] + 1 if dims[0] >= 0 else dims[0]}")
        ax.set_ylabel(f"x{dims[1] + 1 if dims[1] >= 0 else dims[1]}")
        if lims is not None:
            ax.set_xlim(lims[0][0], lims[1][0])
            ax.set_ylim(lims[0][1], lims[1][1])
    return fig


def plot_lyapunov_spectra(spectra: Mapping[str, Sequence[float]]) -> Figure:
    """Lyapunov exponents vs index (1 = largest) for each source, one marker set per source, with the
    zero line (a dotted ``axhline``, not labelled). Exponents are sorted descending before plotting.

    Returns the Figure; its one axis has one labelled line per source.
    """
    if not spectra:
        raise InputError("spectra: empty mapping")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    markers = "osD^vP*X"
    for i, (name, vals) in enumerate(spectra.items()):
        v = np.asarray(vals, dtype=np.float64).ravel()
        if v.size == 0:
            raise InputError(f"spectra[{name!r}]: empty")
        v = np.sort(v)[::-1]
        ax.plot(
            np.arange(1, v.size + 1),
            v,
            ls="none",
            marker=markers[i % len(markers)],
            ms=7,
            mfc="none",
            label=name,
        )
    ax.axhline(0.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("exponent index")
    ax.set_ylabel("λ (1 / time unit)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
