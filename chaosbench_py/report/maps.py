"""Maps of forecast, truth and error, with coastlines that never need a download.

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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from ..errors import InputError, InputTypeError
from .plots import (
    _check_variable,
    _fmt_lead,
    _label,
    _lead_index,
    _select_level,
)

logger = logging.getLogger(__name__)

__all__ = [
    "COASTLINES_CARTOPY",
    "COASTLINES_MASK",
    "COASTLINES_NONE",
    "natural_earth_coastline_path",
    "plot_forecast_maps",
]

#: ``fig.coastlines`` of :func:`plot_forecast_maps` when cartopy drew the Natural Earth coastline
COASTLINES_CARTOPY = "cartopy Natural Earth 110m"
#: ... when the 0.5 contour of the land-sea mask was drawn
COASTLINES_MASK = "land-sea-mask contour"
#: ... when neither was available
COASTLINES_NONE = "no coastlines: cartopy data not on disk"


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
            raise InputError(f"{what}: expected a 2-D (latitude, longitude) field, has dim {d!r}")
    da = da.squeeze(extra, drop=True) if extra else da
    for d in ("latitude", "longitude"):
        if d not in da.dims:
            raise InputError(f"{what}: missing dimension {d!r} (dims: {da.dims})")
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
            raise InputError(f"forecast: missing dimension {d!r} (dims: {f.dims})")
    if "time" not in t.dims:
        raise InputError(f"truth: missing dimension 'time' (dims: {t.dims})")
    il = _lead_index(f["lead_time"].values, lead_time)
    lead = f["lead_time"].values[il]
    f = f.isel(lead_time=il)
    times = pd.DatetimeIndex(t["time"].values)
    inits = pd.DatetimeIndex(f["init_time"].values)
    if init_time is None:
        ok = [i for i, it in enumerate(inits) if (it + pd.Timedelta(lead)) in times]
        if not ok:
            raise InputError(
                f"truth: has none of the valid times of lead_time {pd.Timedelta(lead)} "
                f"(first {inits[0] + pd.Timedelta(lead)})"
            )
        ii = ok[0]
    else:
        hit = np.flatnonzero(inits == pd.Timestamp(init_time))
        if hit.size == 0:
            raise InputError(f"init_time: {init_time!r} is not in the forecast")
        ii = int(hit[0])
    init = inits[ii]
    valid = init + pd.Timedelta(lead)
    if valid not in times:
        raise InputError(
            f"truth: valid time {valid} (init {init} + lead {pd.Timedelta(lead)}) is not in truth"
        )
    f = f.isel(init_time=ii)
    if "member" in f.dims:
        if member is None:
            f = f.mean("member")
        elif "member" in f.coords:
            if member not in f["member"].values:
                raise InputError(
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
        raise InputError("truth: its latitude/longitude grid does not contain the forecast's grid") from None
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
        raise InputError(f"projection: expected 'robinson' or 'platecarree', got {projection!r}")
    if land_sea_mask is not None and not isinstance(land_sea_mask, xr.DataArray):
        raise InputTypeError(
            f"land_sea_mask: expected an xarray.DataArray, got {type(land_sea_mask).__name__}"
        )
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
