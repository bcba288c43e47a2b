"""Builders of small synthetic ERA5 stores in the exact layout of each real source (not a test file).

One "truth" (the canonical dataset) is written out as:

* CDS netCDF, one file per month, in the new 2024 layout (``valid_time``, ``pressure_level``
  descending, scalar ``number``, ``expver`` along time) or cfgrib's layout (``time`` +
  ``valid_time`` + ``step``, ``isobaricInhPa`` descending); latitude 90 → −90; z in m² s⁻²;
* a WeatherBench2 zarr (v2, consolidated): long names, latitude −90 → 90, dims
  ``(time, level, longitude, latitude)`` (regridded stores) or ``(time, level, latitude,
  longitude)``; z in m² s⁻²;
* ChaosBench per-day zarr stores ``<root>/era5/era5_full_1.5deg_YYYYMMDD.zarr`` (v2, consolidated,
  one chunk per variable): ``z q t u v w`` × levels ``(level, latitude, longitude)``, latitude
  90 → −90, z in gpm = geopotential / 9.81.

So that every layout holds bit-identical values, the truth's z is built *from* a float32 gpm
field as ``gpm · 9.81`` in float32, the same operation the ChaosBench loader undoes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

LEVELS = (10, 50, 100, 200, 300, 500, 700, 850, 925, 1000)
VARS = ("z", "q", "t", "u", "v", "w")
WB2_NAMES = {
    "z": "geopotential",
    "q": "specific_humidity",
    "t": "temperature",
    "u": "u_component_of_wind",
    "v": "v_component_of_wind",
    "w": "vertical_velocity",
}
UNITS = {"z": "m**2 s**-2", "q": "kg kg**-1", "t": "K", "u": "m s**-1", "v": "m s**-1", "w": "Pa s**-1"}


def truth_dataset(
    n_days: int = 5, start: str = "2020-01-30", resolution: float = 15.0, levels=LEVELS, seed: int = 0
) -> xr.Dataset:
    """Canonical-orientation truth: daily 00 UTC, levels ascending, lat 90 → −90 with poles, lon 0 → 360."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(90.0, -90.0, int(round(180 / resolution)) + 1)
    lon = np.arange(0.0, 360.0, resolution)
    time = pd.date_range(start, periods=n_days, freq="D").values.astype("datetime64[ns]")
    shape = (n_days, len(levels), lat.size, lon.size)
    lev = np.asarray(levels, dtype=np.int64)
    gpm = (30000.0 * np.exp(-lev / 300.0)[None, :, None, None] + 50 * rng.standard_normal(shape)).astype(
        np.float32
    )
    base = {
        "z": gpm * np.float32(9.81),
        "q": (1e-3 * rng.random(shape)).astype(np.float32),
        "t": (250 + 20 * rng.standard_normal(shape)).astype(np.float32),
        "u": (10 * rng.standard_normal(shape)).astype(np.float32),
        "v": (10 * rng.standard_normal(shape)).astype(np.float32),
        "w": (0.1 * rng.standard_normal(shape)).astype(np.float32),
    }
    dims = ("time", "level", "latitude", "longitude")
    ds = xr.Dataset(
        {k: (dims, v, {"units": UNITS[k]}) for k, v in base.items()},
        coords={"time": time, "level": lev, "latitude": lat, "longitude": lon},
    )
    ds.attrs["gpm_z"] = "z = float32(gpm) * float32(9.81)"
    return ds


def gpm_of(truth: xr.Dataset) -> np.ndarray:
    """The float32 gpm field the truth's z was made from (exact: z was computed from it)."""
    return (truth["z"].values / np.float32(9.81)).astype(np.float32)


def _months(truth: xr.Dataset):
    month = truth["time"].dt.strftime("%Y%m").values
    for m in sorted(set(month)):
        yield m, truth.isel(time=np.flatnonzero(month == m))


def write_cds_netcdf(truth: xr.Dataset, folder: Path, flavor: str = "new") -> list[Path]:
    """One netCDF file per month in the CDS ``flavor`` ("new" 2024 layout or "cfgrib")."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for m, part in _months(truth):
        ds = part.isel(level=slice(None, None, -1))  # GRIB/CDS order: 1000 → 10 hPa
        if flavor == "new":
            ds = ds.rename(time="valid_time", level="pressure_level")
            ds = ds.assign_coords(
                pressure_level=(
                    "pressure_level",
                    ds["pressure_level"].values.astype(np.float64),
                    {"units": "hPa"},
                ),
                number=np.int64(0),
                expver=("valid_time", np.array(["0001"] * ds.sizes["valid_time"], dtype=object)),
            )
        elif flavor == "cfgrib":
            ds = ds.rename(level="isobaricInhPa")
            ds = ds.assign_coords(
                isobaricInhPa=(
                    "isobaricInhPa",
                    ds["isobaricInhPa"].values.astype(np.float64),
                    {"units": "hPa"},
                ),
                step=np.timedelta64(0, "ns"),
                valid_time=("time", ds["time"].values),
            )
        else:
            raise ValueError(f"flavor={flavor!r}")
        ds["latitude"].attrs = {"units": "degrees_north", "stored_direction": "decreasing"}
        ds.attrs = {
            "Conventions": "CF-1.7",
            "institution": "European Centre for Medium-Range Weather Forecasts",
        }
        path = folder / f"era5_pl_{m}.nc"
        ds.to_netcdf(path, engine="netcdf4")
        paths.append(path)
    return paths


def write_weatherbench2_zarr(truth: xr.Dataset, path: Path, *, lon_lat: bool = True) -> Path:
    """A WB2-style zarr v2 store: long names, latitude ascending, (time, level, lon, lat) by default."""
    ds = truth.rename({k: WB2_NAMES[k] for k in truth.data_vars}).sortby("latitude")
    if lon_lat:
        ds = ds.transpose("time", "level", "longitude", "latitude")
    ds.attrs = {}
    enc = {v: {"chunks": (1,) + ds[v].shape[1:]} for v in ds.data_vars}
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    return path


def write_chaosbench(truth: xr.Dataset, root: Path) -> list[Path]:
    """ChaosBench per-day stores under ``root/era5``; z stored as gpm (no units attribute)."""
    folder = root / "era5"
    folder.mkdir(parents=True, exist_ok=True)
    gpm = gpm_of(truth)
    paths = []
    for i, t in enumerate(truth["time"].values):
        day = truth.isel(time=i, drop=True)
        ds = xr.Dataset(
            {v: (("level", "latitude", "longitude"), gpm[i] if v == "z" else day[v].values) for v in VARS},
            coords={
                "level": day["level"].values,
                "latitude": day["latitude"].values,
                "longitude": day["longitude"].values,
            },
        )
        name = f"era5_full_1.5deg_{pd.Timestamp(t).strftime('%Y%m%d')}.zarr"
        ds.to_zarr(folder / name, mode="w", zarr_format=2, consolidated=True)
        paths.append(folder / name)
    return paths
