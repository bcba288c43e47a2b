"""The canonical gridded-state schema and the translation of any ERA5 layout into it.

Canonical gridded state (``../shared/DESIGN.md``, "Schemas"):

* an ``xarray.Dataset`` with dims ``(time, [member], level, latitude, longitude)``; surface
  variables (``t2m u10 v10 msl`` …) have no ``level``;
* short variable names ``z t q u v w`` (+ ``t2m u10 v10 msl sp d2m sst lsm tp zs`` …);
* ``z`` is geopotential in m² s⁻²; geopotential height (gpm) is converted at the boundary as
  ``Φ = g · Z`` and the conversion is recorded in the ``conversion`` and ``history`` attributes;
* ``level`` is pressure in hPa, ascending (10 … 1000, the ChaosBench and WeatherBench2 order),
  stored as int64 when every level is a whole number;
* ``latitude`` 90 → −90 (descending) in degrees_north, ``longitude`` 0 → 360 (ascending,
  ``0 <= lon < 360``) in degrees_east, ``time`` datetime64[ns] strictly increasing;
* every variable carries ``units`` and ``long_name`` in its attrs.

:func:`to_canonical` does the translation lazily (rename, sortby, transpose and a multiplication
are all lazy on dask arrays; nothing is loaded). :func:`validate_canonical` checks a dataset
against the schema from metadata and coordinates only. :func:`select` picks variables, levels
and times by name with errors that list what exists.

Name aliases come from WeatherBench2 (long CF-style names, ``docs/source/data-guide.ipynb``),
the CDS netCDF layouts (old: ``time``/``level``; new since 2024: ``valid_time``/``pressure_level``)
and cfgrib (``isobaricInhPa``, ``number``, ``step``, ``valid_time``).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError, InputTypeError, UnknownNameError

logger = logging.getLogger(__name__)

#: Standard gravity (WMO), m s⁻²: geopotential = STANDARD_GRAVITY × geopotential height (gpm).
STANDARD_GRAVITY = 9.80665
#: The constant ChaosBench divided ERA5 geopotential by (scripts/process_atmos.py, ``G_CONSTANT``);
#: multiplying by it recovers the ERA5 geopotential exactly as ChaosBench stored it.
CHAOSBENCH_GRAVITY = 9.81

#: Canonical dimension order; a variable uses the subsequence of the dims it has.
CANONICAL_DIMS: tuple[str, ...] = ("time", "member", "level", "latitude", "longitude")
#: Attributes that record where a dataset came from; they differ between sources of the same data.
PROVENANCE_ATTRS: tuple[str, ...] = ("source", "source_files", "history", "conversion")
SCHEMA_NAME = "chaosbench_py.gridded_state"
SCHEMA_VERSION = 1

#: Canonical variables: short name → (units, long_name). Upper-air variables first.
VARIABLES: dict[str, tuple[str, str]] = {
    "z": ("m**2 s**-2", "geopotential"),
    "t": ("K", "temperature"),
    "q": ("kg kg**-1", "specific humidity"),
    "u": ("m s**-1", "u component of wind"),
    "v": ("m s**-1", "v component of wind"),
    "w": ("Pa s**-1", "vertical velocity"),
    "r": ("%", "relative humidity"),
    "vo": ("s**-1", "relative vorticity"),
    "d": ("s**-1", "divergence"),
    "t2m": ("K", "2 metre temperature"),
    "d2m": ("K", "2 metre dewpoint temperature"),
    "u10": ("m s**-1", "10 metre u component of wind"),
    "v10": ("m s**-1", "10 metre v component of wind"),
    "msl": ("Pa", "mean sea level pressure"),
    "sp": ("Pa", "surface pressure"),
    "sst": ("K", "sea surface temperature"),
    "tp": ("m", "total precipitation"),
    "lsm": ("1", "land-sea mask"),
    "zs": ("m**2 s**-2", "geopotential at surface"),
}
#: Variables without a level dimension.
SURFACE_VARIABLES: frozenset[str] = frozenset(
    {"t2m", "d2m", "u10", "v10", "msl", "sp", "sst", "tp", "lsm", "zs"}
)

#: Source variable names → canonical short names (WeatherBench2 long names, CDS/cfgrib names).
VARIABLE_ALIASES: dict[str, str] = {
    "geopotential": "z",
    "temperature": "t",
    "air_temperature": "t",
    "specific_humidity": "q",
    "u_component_of_wind": "u",
    "eastward_wind": "u",
    "v_component_of_wind": "v",
    "northward_wind": "v",
    "vertical_velocity": "w",
    "lagrangian_tendency_of_air_pressure": "w",
    "relative_humidity": "r",
    "vorticity": "vo",
    "divergence": "d",
    "2m_temperature": "t2m",
    "2t": "t2m",
    "2m_dewpoint_temperature": "d2m",
    "2d": "d2m",
    "10m_u_component_of_wind": "u10",
    "10u": "u10",
    "10m_v_component_of_wind": "v10",
    "10v": "v10",
    "mean_sea_level_pressure": "msl",
    "surface_pressure": "sp",
    "sea_surface_temperature": "sst",
    "total_precipitation": "tp",
    "land_sea_mask": "lsm",
    "geopotential_at_surface": "zs",
    "gh": "z",  # geopotential height (S2S centres, GRIB shortName); converted from gpm
}

#: Source dimension / coordinate names → canonical names.
DIM_ALIASES: dict[str, str] = {
    "isobaricInhPa": "level",
    "pressure_level": "level",
    "plev": "level",
    "lev": "level",
    "lat": "latitude",
    "lon": "longitude",
    "number": "member",
    "realization": "member",
}

#: Units strings (lower-case, blanks removed) that mean "geopotential height in metres".
_GPM_UNITS = frozenset(
    {"gpm", "m", "gpm**1", "geopotentialmetre", "geopotentialmeters", "geopotentialmetres"}
)
#: Units strings that mean geopotential in m² s⁻².
_GEOPOTENTIAL_UNITS = frozenset({"m**2s**-2", "m2s-2", "m^2s^-2", "m^2/s^2", "m2/s2", "m**2/s**2"})
#: Pressure-level units accepted as hPa, and those converted from Pa.
_HPA_UNITS = frozenset({"", "hpa", "millibars", "mbar", "mb"})
_PA_UNITS = frozenset({"pa"})

_COORD_ATTRS: dict[str, dict[str, str]] = {
    "level": {"units": "hPa", "long_name": "pressure level", "standard_name": "air_pressure"},
    "latitude": {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude"},
    "longitude": {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude"},
    "member": {"long_name": "ensemble member"},
    "time": {"long_name": "valid time", "standard_name": "time"},
}

#: Sources to_canonical knows; they only change defaults (units of ``z`` when not stated).
SOURCES = ("cds", "weatherbench2", "chaosbench", "unknown")


def canonical_name(name: Hashable) -> str:
    """The canonical short name for a source variable name (unchanged if it is not an alias)."""
    return VARIABLE_ALIASES.get(str(name), str(name))


def strip_provenance(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy of ``ds`` without the provenance attributes (:data:`PROVENANCE_ATTRS`).

    Two canonical datasets made from different sources of the same data are
    ``xr.testing.assert_identical`` after this.
    """
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in PROVENANCE_ATTRS}
    for name in out.variables:
        out[name].attrs = {k: v for k, v in out[name].attrs.items() if k not in PROVENANCE_ATTRS}
    return out


def _units_key(units: Any) -> str:
    return str(units).replace(" ", "").lower()


def _rename(ds: xr.Dataset) -> xr.Dataset:
    # Time: cfgrib writes time (dim, the analysis/initial time) + valid_time (coord along time)
    # + step; the new CDS netCDF writes valid_time as the dim; the old CDS netCDF writes time.
    if "valid_time" in ds.dims:
        if "time" in ds.variables:
            ds = ds.drop_vars("time")
        ds = ds.rename({"valid_time": "time"})
    elif "time" in ds.dims and "valid_time" in ds.coords:
        vt = ds["valid_time"]
        if vt.dims == ("time",):
            if not np.array_equal(vt.values, ds["time"].values):
                logger.info("using valid_time (time + step) as the time axis")
                ds = ds.assign_coords(time=vt.values)
            ds = ds.drop_vars("valid_time")
        else:
            raise InputError(
                f"coordinate 'valid_time' has dims {vt.dims}: a forecast (init time × step) is not a "
                "gridded state; open it with open_forecast or select one step first"
            )
    renames: dict[Hashable, str] = {}
    for name in ds.variables:
        target = DIM_ALIASES.get(str(name))
        if target is not None and (name in ds.dims or name in ds.coords):
            if target in ds.variables and target != name:
                raise InputError(f"both {name!r} and {target!r} present; cannot rename {name!r} → {target!r}")
            renames[name] = target
    for name in ds.data_vars:
        target = canonical_name(name)
        if target != name:
            if target in ds.data_vars or target in renames.values():
                raise InputError(
                    f"variables {name!r} and {target!r} both map to canonical {target!r}; drop one first"
                )
            renames[name] = target
    if renames:
        ds = ds.rename(renames)
    # A scalar ensemble number (new CDS: number=0) or an unrelated scalar coordinate is dropped.
    drop = [c for c in ds.coords if c not in ds.dims]
    if drop:
        logger.debug("dropping non-dimension coordinates %s", drop)
        ds = ds.drop_vars(drop)
    return ds


def _combine_expver(ds: xr.Dataset) -> xr.Dataset:
    # Old CDS requests mixing ERA5 (expver 1) and ERA5T (expver 5) get an expver dim; each time
    # is valid in exactly one of them: take the first non-missing value along expver.
    if "expver" not in ds.dims:
        return ds
    logger.info("combining ERA5/ERA5T along 'expver' (first non-missing value)")
    out = ds.isel(expver=0, drop=True)
    for i in range(1, ds.sizes["expver"]):
        out = out.combine_first(ds.isel(expver=i, drop=True))
    return out


def _convert_level(ds: xr.Dataset) -> xr.Dataset:
    if "level" not in ds.dims:
        return ds
    lev = ds["level"]
    key = _units_key(lev.attrs.get("units", ""))
    values = np.asarray(lev.values, dtype=np.float64)
    if key in _PA_UNITS:
        values = values / 100.0
    elif key not in _HPA_UNITS:
        raise InputError(f"coordinate 'level' has units {lev.attrs.get('units')!r}; expected hPa or Pa")
    if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    return ds.assign_coords(level=("level", values))


def _convert_z(ds: xr.Dataset, source: str, gravity: float | None) -> tuple[xr.Dataset, list[str]]:
    notes: list[str] = []
    if "z" not in ds.data_vars:
        return ds, notes
    units = ds["z"].attrs.get("units")
    key = _units_key(units) if units is not None else None
    is_gpm = key in _GPM_UNITS if key is not None else source == "chaosbench"
    if key is not None and not is_gpm and key not in _GEOPOTENTIAL_UNITS:
        raise InputError(f"variable 'z' has units {units!r}; expected geopotential (m**2 s**-2) or gpm")
    if not is_gpm:
        return ds, notes
    g = (
        gravity
        if gravity is not None
        else (CHAOSBENCH_GRAVITY if source == "chaosbench" else STANDARD_GRAVITY)
    )
    z = ds["z"] * g  # lazy; keeps float32 as float32 (NEP 50)
    note = f"z: geopotential height (gpm) x {g} -> geopotential (m**2 s**-2)"
    ds = ds.assign(z=z)
    notes.append(note)
    return ds, notes


def _orient(ds: xr.Dataset) -> xr.Dataset:
    if "longitude" in ds.dims:
        lon = np.asarray(ds["longitude"].values, dtype=np.float64)
        wrapped = np.mod(lon, 360.0)
        if not np.array_equal(wrapped, lon):
            ds = ds.assign_coords(longitude=("longitude", wrapped.astype(ds["longitude"].dtype)))
        if not np.all(np.diff(ds["longitude"].values) > 0):
            ds = ds.sortby("longitude")
    if "latitude" in ds.dims and not np.all(np.diff(ds["latitude"].values) < 0):
        ds = ds.sortby("latitude", ascending=False)
    if "level" in ds.dims and not np.all(np.diff(ds["level"].values) > 0):
        ds = ds.sortby("level")
    return ds


def to_canonical(
    ds: xr.Dataset,
    *,
    source: str = "unknown",
    gravity: float | None = None,
    float_coords: bool = True,
) -> xr.Dataset:
    """Translate a gridded ERA5-like dataset into the canonical schema, lazily.

    Steps: combine an ``expver`` dim (ERA5/ERA5T) → rename variables and dims (aliases in
    :data:`VARIABLE_ALIASES`, :data:`DIM_ALIASES`; ``valid_time`` becomes ``time``) → drop
    non-dimension coordinates (``step``, scalar ``number``, ``expver``) → pressure in hPa (Pa
    converted) → ``z`` from gpm to m² s⁻² when its units say gpm (or, without units, when
    ``source="chaosbench"``): ``z = g · Z`` with ``g = gravity`` or, by default, 9.81 for
    ChaosBench (the constant it divided by) and 9.80665 (standard gravity) otherwise →
    longitude wrapped to ``[0, 360)`` and sorted ascending, latitude sorted 90 → −90, level
    ascending → dims transposed to ``(time, member, …, level, latitude, longitude)`` → canonical
    ``units``/``long_name`` attrs, source encodings dropped (so a later write does not re-pack
    with the source's ``scale_factor``).

    Args:
        ds: the source dataset (any dim order and orientation; dask or numpy backed).
        source: one of :data:`SOURCES`; recorded in ``attrs["source"]``.
        gravity: override g for a gpm → m² s⁻² conversion (m s⁻²).
        float_coords: cast latitude/longitude to float64 (so grids from float32 and float64
            sources compare equal).

    Returns:
        The canonical dataset; dask arrays stay dask arrays (nothing is computed).

    Raises:
        ValueError: unknown units of ``z`` or ``level``, conflicting names, or a missing
            ``latitude``/``longitude`` dimension (named).
    """
    if not isinstance(ds, xr.Dataset):
        raise InputTypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    if source not in SOURCES:
        raise InputError(f"source={source!r}: expected one of {SOURCES}")
    ds = _combine_expver(ds)
    ds = _rename(ds)
    for dim in ("latitude", "longitude"):
        if dim not in ds.dims:
            raise InputError(f"dataset has no {dim!r} dimension (dims: {sorted(map(str, ds.dims))})")
    ds = _convert_level(ds)
    ds, notes = _convert_z(ds, source, gravity)
    if float_coords:
        ds = ds.assign_coords(
            latitude=("latitude", np.asarray(ds["latitude"].values, dtype=np.float64)),
            longitude=("longitude", np.asarray(ds["longitude"].values, dtype=np.float64)),
        )
    if "time" in ds.dims and np.issubdtype(ds["time"].dtype, np.datetime64):
        ds = ds.assign_coords(time=("time", ds["time"].values.astype("datetime64[ns]")))
    ds = _orient(ds)
    ds = ds.transpose("time", "member", ..., "level", "latitude", "longitude", missing_dims="ignore")

    old_attrs = dict(ds.attrs)
    ds = ds.copy()  # shallow: new Variable objects (own attrs/encoding), same lazy data
    for name in ds.variables:
        var = ds[name]
        var.encoding = {}
        if name in _COORD_ATTRS:
            var.attrs = dict(_COORD_ATTRS[name])
        elif name in VARIABLES:
            units, long_name = VARIABLES[str(name)]
            var.attrs = {"units": units, "long_name": long_name}
        elif name in ds.data_vars and "units" not in var.attrs:
            logger.warning("variable %r is not in the canonical schema and has no units", name)
    history = [str(old_attrs["history"])] if old_attrs.get("history") else []
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    history.append(
        f"{stamp} chaosbench_py.data.to_canonical(source={source!r})" + "".join(f"; {n}" for n in notes)
    )
    ds.attrs = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "history": "\n".join(history),
    }
    if notes:
        ds.attrs["conversion"] = "; ".join(notes)
        ds["z"].attrs["conversion"] = notes[0]
    return ds


def _first_bad(values: np.ndarray, ok: np.ndarray) -> int:
    return int(np.flatnonzero(~ok)[0])


def validate_canonical(ds: xr.Dataset, *, require_time: bool = True, check_nan: bool = False) -> xr.Dataset:
    """Check that ``ds`` follows the canonical schema; return it unchanged.

    Metadata-level checks (nothing is loaded): the dims exist, none has length 0, and each variable's dims are in
    canonical order; ``time`` is strictly increasing (the first duplicated or decreasing value
    is named); ``latitude`` strictly decreasing within [−90, 90]; ``longitude`` strictly
    increasing within [0, 360); ``level`` strictly increasing; every variable has ``units`` and
    ``z`` is in m**2 s**-2. With ``check_nan=True`` each variable is also reduced (lazily, chunk
    by chunk) to find variables that are NaN everywhere.

    Raises:
        ValueError: naming the variable, dimension or coordinate (and the offending value).
    """
    if not isinstance(ds, xr.Dataset):
        raise InputTypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    required = ("time", "latitude", "longitude") if require_time else ("latitude", "longitude")
    for dim in required:
        if dim not in ds.dims:
            raise InputError(f"missing dimension {dim!r} (dims: {sorted(map(str, ds.dims))})")
    empty_dims = [str(d) for d, n in ds.sizes.items() if n == 0]
    if empty_dims:
        raise InputError(f"dimension(s) {empty_dims} have length 0 (no values to use)")
    unknown = [d for d in ds.dims if d not in CANONICAL_DIMS]
    if unknown:
        raise InputError(f"dimension(s) {unknown} are not canonical (allowed: {CANONICAL_DIMS})")
    for name in ds.dims:
        if name not in ds.coords:
            raise InputError(f"dimension {name!r} has no coordinate values")
    if not ds.data_vars:
        raise InputError("dataset has no data variables")

    def _check(coord: str, ok_fn, what: str) -> None:
        if coord not in ds.dims:
            return
        vals = np.asarray(ds[coord].values)
        if vals.size > 1:
            ok = ok_fn(np.diff(vals))
            if not np.all(ok):
                i = _first_bad(vals, ok)
                raise InputError(
                    f"coordinate {coord!r} must be {what}: values {vals[i]!r} (index {i}) and "
                    f"{vals[i + 1]!r} (index {i + 1})"
                    + (" are duplicated" if vals[i] == vals[i + 1] else " are out of order")
                )

    zero = np.timedelta64(0, "ns")
    _check("time", lambda d: d > zero, "strictly increasing (sorted, no duplicates)")
    _check("latitude", lambda d: d < 0, "strictly decreasing (90 → -90)")
    _check("longitude", lambda d: d > 0, "strictly increasing (0 → 360)")
    _check("level", lambda d: d > 0, "strictly increasing (hPa, 10 → 1000)")
    if "member" in ds.dims:
        m = np.asarray(ds["member"].values)
        if len(np.unique(m)) != m.size:
            raise InputError("coordinate 'member' has duplicated values")
    lat = np.asarray(ds["latitude"].values, dtype=np.float64)
    lon = np.asarray(ds["longitude"].values, dtype=np.float64)
    if lat.size and (lat.max() > 90 or lat.min() < -90):
        raise InputError(f"coordinate 'latitude' outside [-90, 90]: {lat.min()} … {lat.max()}")
    if lon.size and (lon.min() < 0 or lon.max() >= 360):
        raise InputError(f"coordinate 'longitude' outside [0, 360): {lon.min()} … {lon.max()}")

    for name, var in ds.data_vars.items():
        order = [d for d in CANONICAL_DIMS if d in var.dims]
        if list(var.dims) != order:
            raise InputError(f"variable {name!r} has dims {var.dims}; canonical order is {tuple(order)}")
        if "latitude" not in var.dims or "longitude" not in var.dims:
            raise InputError(f"variable {name!r} has dims {var.dims}; needs latitude and longitude")
        if "units" not in var.attrs:
            raise InputError(f"variable {name!r} has no 'units' attribute")
        if name == "z" and _units_key(var.attrs["units"]) not in _GEOPOTENTIAL_UNITS:
            raise InputError(f"variable 'z' has units {var.attrs['units']!r}; canonical is m**2 s**-2")
        if name in SURFACE_VARIABLES and "level" in var.dims:
            raise InputError(f"surface variable {name!r} must not have a 'level' dimension")
    if check_nan:
        import dask

        flags = {name: var.notnull().any() for name, var in ds.data_vars.items()}
        (computed,) = dask.compute(flags)
        empty = [name for name, ok in computed.items() if not bool(ok)]
        if empty:
            raise InputError(f"variable(s) {empty} contain only NaN")
    return ds


def _as_list(x: Any) -> list[Any]:
    if isinstance(x, str | bytes) or not isinstance(x, Iterable):
        return [x]
    return list(x)


def select(
    ds: xr.Dataset,
    *,
    variables: Sequence[str] | str | None = None,
    levels: Sequence[float] | float | None = None,
    time: Any = None,
) -> xr.Dataset:
    """Select variables, pressure levels and times of a canonical dataset by name/value (lazy).

    Args:
        ds: canonical dataset.
        variables: short or alias names (``"geopotential"`` means ``z``); order is kept.
        levels: pressure levels in hPa; surface variables are unaffected.
        time: a ``slice`` (label-based, inclusive), a ``(start, stop)`` tuple, a date string
            (``"2017-01"`` selects a month), or a list of exact times.

    Raises:
        KeyError: a missing variable, level or time, naming it and listing what exists.
    """
    if variables is not None:
        names = [canonical_name(v) for v in _as_list(variables)]
        missing = [v for v in names if v not in ds.data_vars]
        if missing:
            raise UnknownNameError(
                f"variable(s) {missing} not in dataset; available: {sorted(map(str, ds.data_vars))}"
            )
        ds = ds[names]
    if levels is not None:
        if "level" not in ds.dims:
            raise UnknownNameError(f"levels={levels!r} requested but the dataset has no 'level' dimension")
        want = _as_list(levels)
        have = np.asarray(ds["level"].values)
        missing = [lv for lv in want if not np.any(np.isclose(have, float(lv)))]
        if missing:
            raise UnknownNameError(f"level(s) {missing} hPa not in dataset; available: {have.tolist()}")
        ds = ds.sel(level=np.asarray(want, dtype=have.dtype))
    if time is not None:
        if "time" not in ds.dims:
            raise UnknownNameError("time selection requested but the dataset has no 'time' dimension")
        if isinstance(time, tuple) and len(time) == 2:
            time = slice(*time)
        if isinstance(time, slice):
            ds = ds.sel(time=time)
            if ds.sizes["time"] == 0:
                raise UnknownNameError(f"time={time!r} selects no time step")
        elif isinstance(time, str):
            try:
                ds = ds.sel(time=time)
            except KeyError as err:
                t = ds["time"].values
                raise UnknownNameError(
                    f"time={time!r} not in dataset (time runs {t[0]} … {t[-1]}, {t.size} steps)"
                ) from err
        else:
            want_t = np.asarray(_as_list(time), dtype="datetime64[ns]")
            have_t = np.asarray(ds["time"].values, dtype="datetime64[ns]")
            missing_t = want_t[~np.isin(want_t, have_t)]
            if missing_t.size:
                raise UnknownNameError(
                    f"time(s) {missing_t.tolist()} not in dataset "
                    f"(time runs {have_t[0]} … {have_t[-1]}, {have_t.size} steps)"
                )
            ds = ds.sel(time=want_t)
    return ds


def grid_of(ds: xr.Dataset) -> Mapping[str, np.ndarray]:
    """The horizontal grid (``latitude``, ``longitude`` values) of a dataset, as numpy arrays."""
    return {c: np.asarray(ds[c].values) for c in ("latitude", "longitude") if c in ds.coords}
