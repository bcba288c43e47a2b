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

Maps and coastlines (:func:`plot_forecast_maps`): cartopy is used only if it is importable *and* the
Natural Earth 110 m coastline shapefile is already on disk (:func:`natural_earth_coastline_path`); the
shapefile is then read directly with ``cartopy.io.shapereader.Reader``, so cartopy's downloader is never
invoked. Otherwise the maps are plain lon/lat ``pcolormesh`` and, if a land-sea mask is given, its 0.5
contour is drawn as the coastline. The figure's attribute ``fig.coastlines`` (one of
:data:`COASTLINES_CARTOPY`, :data:`COASTLINES_MASK`, :data:`COASTLINES_NONE`) says which, and
``fig.caption`` is a one-sentence caption that includes it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from physics_metrics.weather.spectra import zonal_energy_spectrum

logger = logging.getLogger(__name__)

__all__ = [
    "COASTLINES_CARTOPY",
    "COASTLINES_MASK",
    "COASTLINES_NONE",
    "natural_earth_coastline_path",
    "plot_attractors",
    "plot_forecast_maps",
    "plot_lyapunov_spectra",
    "plot_scores_vs_lead",
    "plot_zonal_power_spectra",
    "score_curves",
]

#: ``fig.coastlines`` of :func:`plot_forecast_maps` when cartopy drew the Natural Earth coastline
COASTLINES_CARTOPY = "cartopy Natural Earth 110m"
#: ... when the 0.5 contour of the land-sea mask was drawn
COASTLINES_MASK = "land-sea-mask contour"
#: ... when neither was available
COASTLINES_NONE = "no coastlines: cartopy data not on disk"

VariableSpec = str | tuple[str, Any]


# ------------------------------------------------------------------------------------------ helpers
def _parse_variable(spec: VariableSpec, level: Any) -> tuple[str, Any]:
    """``"z"`` → ``("z", level)``; ``("z", 500)`` → ``("z", 500)``."""
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str):
            raise ValueError(f"variables: expected a name or a (name, level) pair, got {spec!r}")
        return spec[0], spec[1]
    if not isinstance(spec, str):
        raise TypeError(f"variables: expected a name or a (name, level) pair, got {type(spec).__name__}")
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
        raise ValueError(
            f"level: variable {variable!r} in {what} has levels {list(levels)}; pass level= "
            "(or a (name, level) pair)"
        )
    hit = np.flatnonzero(np.isclose(levels.astype(float), float(level)))
    if hit.size == 0:
        raise ValueError(f"level: {level!r} is not a level of {variable!r} in {what} (has {list(levels)})")
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
        raise ValueError(f"{name}: cannot read {value!r} as a lead time ({err})") from None


def _lead_index(forecast_leads: np.ndarray, value: Any, name: str = "lead_time") -> int:
    td = _as_timedelta(value, name)
    leads = np.asarray(forecast_leads).astype("timedelta64[ns]")
    hit = np.flatnonzero(leads == td.astype("timedelta64[ns]"))
    if hit.size == 0:
        raise ValueError(
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
        raise TypeError(f"{what}: expected an xarray.Dataset, got {type(ds).__name__}")
    if variable not in ds.data_vars:
        raise ValueError(f"variable: {variable!r} is not in {what} (has {list(ds.data_vars)})")
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
        raise ValueError("scorecards: empty mapping")
    out: dict[str, xr.DataArray] = {}
    refs: dict[str, xr.DataArray] = {}
    found = False
    for name, card in scorecards.items():
        if not isinstance(card, xr.Dataset):
            raise TypeError(f"scorecards[{name!r}]: expected an xarray.Dataset, got {type(card).__name__}")
        if variable not in card.data_vars:
            logger.warning("scorecard %r has no variable %r; left out of the plot", name, variable)
            continue
        found = True
        metrics = _metric_names(card)
        if metric not in metrics:
            raise ValueError(f"metric: {metric!r} is not in scorecard {name!r} (has {metrics})")
        da, _ = _select_level(card[variable], level, variable, f"scorecard {name!r}")
        out[str(name)] = da.sel(metric=metric).drop_vars("metric", errors="ignore")
        ref_key = f"{metric}_reference"
        ref_name = str(card.attrs.get("reference", "reference"))
        if ref_key in metrics and ref_name not in scorecards and ref_name not in refs:
            refs[ref_name] = da.sel(metric=ref_key).drop_vars("metric", errors="ignore")
    if not found:
        raise ValueError(f"variable: {variable!r} is in none of the scorecards {list(scorecards)}")
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
        raise ValueError("variables: empty")
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


# ------------------------------------------------------------------------------------------ maps
def natural_earth_coastline_path(resolution: str = "110m") -> Path | None:
    """Path of cartopy's Natural Earth coastline shapefile if cartopy is importable and the file (with its
    ``.shx`` index) is already on disk under ``cartopy.config["pre_existing_data_dir"]`` or
    ``["data_dir"]`` (layout ``shapefiles/natural_earth/physical/ne_<res>_coastline.shp``, and the
    pre-0.20 name ``<res>_coastline.shp``); ``None`` otherwise. Never downloads anything."""
    try:
        import cartopy
    except ImportError:
        return None
    roots = [cartopy.config.get(k) for k in ("pre_existing_data_dir", "data_dir")]
    for root in roots:
        if not root:
            continue
        folder = Path(os.path.expanduser(str(root))) / "shapefiles" / "natural_earth" / "physical"
        for fname in (f"ne_{resolution}_coastline.shp", f"{resolution}_coastline.shp"):
            shp = folder / fname
            if shp.is_file() and shp.with_suffix(".shx").is_file():
                return shp
    return None


def _wrapped_grid(da: xr.DataArray) -> xr.DataArray:
    """Longitudes mapped to [−180, 180) and sorted, latitudes ascending (values move with their coords)."""
    lon = np.asarray(da["longitude"].values, dtype=np.float64)
    wrapped = ((lon + 180.0) % 360.0) - 180.0
    da = da.assign_coords(longitude=wrapped).sortby("longitude")
    return da.sortby("latitude")


def _edges(centres: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Cell edges of sorted centres: midpoints, ends extended by half a spacing, clipped to [lo, hi]."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return np.array([max(lo, c[0] - 0.5), min(hi, c[0] + 0.5)])
    mid = 0.5 * (c[1:] + c[:-1])
    e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.clip(e, lo, hi)


def _lon_cells(lon: np.ndarray, fields: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Longitude cell edges covering exactly −180 … 180 for sorted centres in [−180, 180), and the fields
    ``(lat, lon)`` to go with them: a cell that straddles the date line (e.g. the one centred on −180°)
    is drawn twice, clipped to each side."""
    e = _edges(lon, -np.inf, np.inf)
    if e.size > 2 and e[0] < -180.0:  # first cell crosses −180: repeat it at the east end
        fields = [np.concatenate([x, x[:, :1]], axis=1) for x in fields]
        e = np.append(e, e[-1] + (e[1] - e[0]))
    if e.size > 2 and e[-1] > 180.0 + 1e-9 and e[0] > -180.0:  # last cell crosses +180: repeat it west
        fields = [np.concatenate([x[:, -1:], x], axis=1) for x in fields]
        e = np.insert(e, 0, e[0] - (e[-1] - e[-2]))
    return np.clip(e, -180.0, 180.0), fields


def _field_2d(da: xr.DataArray, what: str) -> xr.DataArray:
    extra = [d for d in da.dims if d not in ("latitude", "longitude")]
    for d in extra:
        if da.sizes[d] != 1:
            raise ValueError(f"{what}: expected a 2-D (latitude, longitude) field, has dim {d!r}")
    da = da.squeeze(extra, drop=True) if extra else da
    for d in ("latitude", "longitude"):
        if d not in da.dims:
            raise ValueError(f"{what}: missing dimension {d!r} (dims: {da.dims})")
    return da.transpose("latitude", "longitude")


def _select_forecast_map(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variable: str,
    lead_time: Any,
    init_time: Any,
    level: Any,
    member: Any,
) -> tuple[xr.DataArray, xr.DataArray, dict[str, Any]]:
    f = _check_variable(forecast, variable, "forecast")
    t = _check_variable(truth, variable, "truth")
    for d in ("init_time", "lead_time", "latitude", "longitude"):
        if d not in f.dims:
            raise ValueError(f"forecast: missing dimension {d!r} (dims: {f.dims})")
    if "time" not in t.dims:
        raise ValueError(f"truth: missing dimension 'time' (dims: {t.dims})")
    il = _lead_index(f["lead_time"].values, lead_time)
    lead = f["lead_time"].values[il]
    f = f.isel(lead_time=il)
    times = pd.DatetimeIndex(t["time"].values)
    inits = pd.DatetimeIndex(f["init_time"].values)
    if init_time is None:
        ok = [i for i, it in enumerate(inits) if (it + pd.Timedelta(lead)) in times]
        if not ok:
            raise ValueError(
                f"truth: has none of the valid times of lead_time {pd.Timedelta(lead)} "
                f"(first {inits[0] + pd.Timedelta(lead)})"
            )
        ii = ok[0]
    else:
        hit = np.flatnonzero(inits == pd.Timestamp(init_time))
        if hit.size == 0:
            raise ValueError(f"init_time: {init_time!r} is not in the forecast")
        ii = int(hit[0])
    init = inits[ii]
    valid = init + pd.Timedelta(lead)
    if valid not in times:
        raise ValueError(
            f"truth: valid time {valid} (init {init} + lead {pd.Timedelta(lead)}) is not in truth"
        )
    f = f.isel(init_time=ii)
    if "member" in f.dims:
        if member is None:
            f = f.mean("member")
        elif "member" in f.coords:
            if member not in f["member"].values:
                raise ValueError(
                    f"member: {member!r} is not in the forecast (has {list(f['member'].values)})"
                )
            f = f.sel(member=member)
        else:
            f = f.isel(member=int(member))
    f, lev = _select_level(f, level, variable, "forecast")
    t = t.isel(time=int(times.get_loc(valid)))
    if lev is not None:
        t, _ = _select_level(t, lev, variable, "truth")
    f = _wrapped_grid(_field_2d(f, f"forecast {variable!r}"))
    t = _wrapped_grid(_field_2d(t, f"truth {variable!r}"))
    try:
        t = t.sel(
            latitude=f["latitude"].values, longitude=f["longitude"].values, method="nearest", tolerance=1e-6
        )
    except KeyError:
        raise ValueError("truth: its latitude/longitude grid does not contain the forecast's grid") from None
    t = t.assign_coords(latitude=f["latitude"].values, longitude=f["longitude"].values)
    info = {"init_time": init, "lead_time": pd.Timedelta(lead), "valid_time": valid, "level": lev}
    if "member" in forecast[variable].dims:
        info["member"] = "ensemble mean" if member is None else member
    return f, t, info


def _draw_mask_contour(ax: Any, mask: xr.DataArray, **kw: Any) -> None:
    m = _wrapped_grid(_field_2d(mask, "land_sea_mask"))
    vals = np.asarray(m.values, dtype=float)
    if not np.nanmin(vals) < 0.5 < np.nanmax(vals):
        logger.warning("land_sea_mask has no 0.5 crossing; no coastline drawn")
        return
    ax.contour(
        m["longitude"].values, m["latitude"].values, vals, levels=[0.5], colors="k", linewidths=0.6, **kw
    )


def plot_forecast_maps(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variable: str,
    lead_time: Any,
    init_time: Any = None,
    level: Any = None,
    member: Any = None,
    *,
    land_sea_mask: xr.DataArray | None = None,
    projection: str = "robinson",
) -> Figure:
    """Forecast, truth and forecast − truth of ``variable`` at one initialisation and lead time.

    ``lead_time``: timedelta-like or a number of days; must be one of the forecast's lead times.
    ``init_time``: default the first initialisation whose valid time is in ``truth``. ``level``: needed for
    upper-air variables with more than one level. ``member``: ensemble member (coordinate value, or index
    if there is no ``member`` coordinate); default the ensemble mean. ``land_sea_mask``: optional
    ``(latitude, longitude)`` DataArray (fraction of land, 0 … 1) whose 0.5 contour is the coastline when
    cartopy is not usable. ``projection``: ``"robinson"`` or ``"platecarree"`` (cartopy only).

    Returns a Figure with three map axes (``fig.axes[:3]``: forecast, truth, error) each followed by its
    colour bar axis; forecast and truth share one colour scale, the error uses a symmetric one. Cells are
    drawn with ``pcolormesh`` on longitudes −180 → 180 and ascending latitudes (the data's own order does
    not matter). ``fig.coastlines`` says which coastlines were drawn (module docstring), ``fig.caption`` is
    a caption for the report and ``fig.map_info`` holds the selected init/lead/valid time and level.
    """
    if projection not in ("robinson", "platecarree"):
        raise ValueError(f"projection: expected 'robinson' or 'platecarree', got {projection!r}")
    if land_sea_mask is not None and not isinstance(land_sea_mask, xr.DataArray):
        raise TypeError(f"land_sea_mask: expected an xarray.DataArray, got {type(land_sea_mask).__name__}")
    f, t, info = _select_forecast_map(forecast, truth, variable, lead_time, init_time, level, member)
    err = f - t
    lat_e = _edges(f["latitude"].values, -90.0, 90.0)
    lon_e, (fv, tv, ev) = _lon_cells(
        f["longitude"].values, [np.asarray(a.values, float) for a in (f, t, err)]
    )
    vmin = float(np.nanmin([np.nanmin(fv), np.nanmin(tv)]))
    vmax = float(np.nanmax([np.nanmax(fv), np.nanmax(tv)]))
    emax = float(np.nanmax(np.abs(ev))) or 1.0

    shp = natural_earth_coastline_path("110m")
    if shp is not None:
        import cartopy.crs as ccrs
        from cartopy.io.shapereader import Reader

        data_crs = ccrs.PlateCarree()
        proj = ccrs.Robinson() if projection == "robinson" else ccrs.PlateCarree()
        coastlines = COASTLINES_CARTOPY
        geoms = list(Reader(str(shp)).geometries())
    else:
        data_crs = proj = None
        coastlines = COASTLINES_MASK if land_sea_mask is not None else COASTLINES_NONE
        geoms = []

    fig = Figure(figsize=(15, 3.9), layout="constrained")
    units = forecast[variable].attrs.get("units", "")
    name = _label(variable, info["level"])
    panels = (
        (fv, f"forecast {name}", "viridis", vmin, vmax),
        (tv, f"truth {name}", "viridis", vmin, vmax),
        (ev, f"forecast − truth {name}", "RdBu_r", -emax, emax),
    )
    map_axes = []
    for i, (vals, title, cmap, lo, hi) in enumerate(panels):
        if proj is not None:
            ax = fig.add_subplot(1, 3, i + 1, projection=proj)
            mesh = ax.pcolormesh(lon_e, lat_e, vals, cmap=cmap, vmin=lo, vmax=hi, transform=data_crs)
            ax.add_geometries(geoms, crs=data_crs, facecolor="none", edgecolor="k", linewidth=0.5)
            ax.set_global()
        else:
            ax = fig.add_subplot(1, 3, i + 1)
            mesh = ax.pcolormesh(lon_e, lat_e, vals, cmap=cmap, vmin=lo, vmax=hi, shading="flat")
            if land_sea_mask is not None:
                _draw_mask_contour(ax, land_sea_mask)
            ax.set_xlim(-180, 180)
            ax.set_ylim(-90, 90)
            ax.set_aspect("equal")
            ax.set_xlabel("longitude (°E)")
            ax.set_ylabel("latitude (°N)" if i == 0 else "")
        ax.set_title(title, fontsize=10)
        map_axes.append((ax, mesh))
    for ax, mesh in map_axes:
        cb = fig.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.8, pad=0.04)
        cb.set_label(units)
    fig.suptitle(
        f"init {info['init_time']:%Y-%m-%d %H:%M}, lead {_fmt_lead(info['lead_time'])}, "
        f"valid {info['valid_time']:%Y-%m-%d %H:%M}"
    )
    # map axes first, then colour bars (colorbar() appends its axes after the map axes)
    fig.coastlines = coastlines
    fig.map_info = info
    member_txt = f", {info['member']}" if "member" in info else ""
    fig.caption = (
        f"{name}: forecast, truth and error at lead {_fmt_lead(info['lead_time'])} from {info['init_time']:%Y-%m-%d %H:%M}"
        f"{member_txt}; coastlines: {coastlines}."
    )
    return fig


# ------------------------------------------------------------------------------------------ spectra
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
        raise ValueError("lead_times: empty")
    f, lev = _select_level(f, level, variable, "forecast")
    if lev is not None:
        t, _ = _select_level(t, lev, variable, "truth")
    lat = f["latitude"].values
    band = (lat >= min(lat_band)) & (lat <= max(lat_band))
    if not band.any():
        raise ValueError(f"lat_band: {lat_band} contains no latitude of the forecast")
    lat_sel = lat[band]
    times = pd.DatetimeIndex(t["time"].values)

    def mean_spectrum(da: xr.DataArray) -> xr.DataArray:
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
        raise ValueError("truth: contains none of the valid times of the plotted lead times")
    tv = t.isel(time=[times.get_loc(v) for v in valid])
    try:
        tv = tv.sel(latitude=lat_sel, method="nearest", tolerance=1e-6)
    except KeyError:
        raise ValueError("truth: its latitudes do not contain the forecast's") from None
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
        raise ValueError("series: empty mapping")
    dims = tuple(int(d) for d in dims)
    if len(dims) != 2 or dims[0] == dims[1]:
        raise ValueError(f"dims: expected two different state indices, got {dims}")
    arrays = {}
    for name, x in series.items():
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"series[{name!r}]: expected shape (time, dim), got {arr.shape}")
        if max(dims) >= arr.shape[1] or min(dims) < -arr.shape[1]:
            raise ValueError(f"dims: {dims} out of range for series[{name!r}] with {arr.shape[1]} dims")
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
        raise ValueError("spectra: empty mapping")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    markers = "osD^vP*X"
    for i, (name, vals) in enumerate(spectra.items()):
        v = np.asarray(vals, dtype=np.float64).ravel()
        if v.size == 0:
            raise ValueError(f"spectra[{name!r}]: empty")
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
