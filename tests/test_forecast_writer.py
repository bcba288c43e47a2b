"""ForecastWriter / open_forecast: schema, append, resume, crash consistency, netCDF export, bad input."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from chaosbench_py.data import ForecastWriter, open_era5, open_forecast

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLE = SHARED / "data" / "era5" / "era5-levels-members.nc"

LAT = np.linspace(90.0, -90.0, 7)
LON = np.arange(0.0, 360.0, 30.0)
LEVELS = [500, 850]
LEADS = np.array([24, 48, 72], dtype="timedelta64[h]")
INITS = np.array(["2022-01-01", "2022-01-02", "2022-01-03"], dtype="datetime64[ns]")


def _fields(seed: int, members: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = () if members is None else (members,)
    return {
        "z": rng.standard_normal((3, *m, 2, 7, 12)).astype(np.float32),
        "t2m": rng.standard_normal((3, *m, 7, 12)).astype(np.float32),
    }


def _writer(path: Path, **kw) -> ForecastWriter:
    args = dict(variables=["z", "t2m"], levels=LEVELS, latitude=LAT, longitude=LON, lead_times=LEADS)
    return ForecastWriter(path, **(args | kw), attrs={"model": "persistence"})


def test_schema_values_and_lazy_open(tmp_path):
    w = _writer(tmp_path / "f.zarr")
    for i, t in enumerate(INITS):
        assert w.write(t, _fields(i)) is True
    ds = open_forecast(tmp_path / "f.zarr")
    assert ds["z"].dims == ("init_time", "lead_time", "level", "latitude", "longitude")
    assert ds["t2m"].dims == ("init_time", "lead_time", "latitude", "longitude")
    assert isinstance(ds["z"].data, da.Array)
    assert ds["valid_time"].dims == ("init_time", "lead_time")
    np.testing.assert_array_equal(ds["valid_time"].values[1], INITS[1] + LEADS.astype("timedelta64[ns]"))
    np.testing.assert_array_equal(ds["z"].values[2], _fields(2)["z"])
    np.testing.assert_array_equal(ds["t2m"].values[0], _fields(0)["t2m"])
    assert ds.attrs["model"] == "persistence" and ds["z"].attrs["units"] == "m**2 s**-2"
    assert ds["z"].encoding["chunks"] == (1, 1, 2, 7, 12)


def test_resume_never_rewrites_and_sorts(tmp_path):
    path = tmp_path / "f.zarr"
    w = _writer(path)
    w.write(INITS[2], _fields(2))
    w.write(INITS[0], _fields(0))
    w2 = _writer(path)  # a restarted job
    np.testing.assert_array_equal(w2.written_init_times, INITS[[2, 0]])
    assert INITS[0] in w2
    assert w2.write(INITS[0], _fields(99)) is False  # already there: skipped, not overwritten
    assert w2.write(INITS[1], _fields(1)) is True
    ds = open_forecast(path)
    np.testing.assert_array_equal(ds["init_time"].values, INITS)  # sorted on open
    for i in range(3):
        np.testing.assert_array_equal(ds["z"].values[i], _fields(i)["z"])


def test_interrupted_append_reopens_consistently(tmp_path):
    path = tmp_path / "f.zarr"
    w = _writer(path)
    w.write(INITS[0], _fields(0))
    # crash after the data of the 2nd init was appended but before it was committed
    w._append_uncommitted(INITS[1], _fields(1))
    ds = open_forecast(path)
    assert ds.sizes["init_time"] == 1  # the uncommitted tail is invisible
    # crash in the middle of an append: one array grew, the others did not
    zarr.open_group(path, mode="a")["t2m"].resize((3, 3, 7, 12))
    assert zarr.open_group(path, mode="r")["z"].shape[0] == 2
    with pytest.raises(ValueError, match="interrupted"):
        open_forecast(path)
    w2 = _writer(path)  # resuming repairs the store
    np.testing.assert_array_equal(w2.written_init_times, INITS[:1])
    w2.write(INITS[1], _fields(1))
    ds = open_forecast(path)
    assert ds.sizes["init_time"] == 2
    np.testing.assert_array_equal(ds["t2m"].values[1], _fields(1)["t2m"])
    np.testing.assert_array_equal(ds["z"].values[0], _fields(0)["z"])


def test_members_torch_xarray_inputs_and_netcdf_export(tmp_path):
    w = _writer(tmp_path / "e.zarr", members=[0, 1, 2, 3])
    f = _fields(0, members=4)
    w.write(INITS[0], {"z": torch.from_numpy(f["z"]), "t2m": f["t2m"]})
    # xarray input with reversed latitude is aligned by coordinate values
    f1 = _fields(1, members=4)
    z = xr.DataArray(
        f1["z"][..., ::-1, :],
        dims=("lead_time", "member", "level", "latitude", "longitude"),
        coords={"latitude": LAT[::-1], "longitude": LON, "level": LEVELS},
    )
    w.write(
        INITS[1], xr.Dataset({"z": z, "t2m": (("lead_time", "member", "latitude", "longitude"), f1["t2m"])})
    )
    ds = open_forecast(tmp_path / "e.zarr")
    assert ds["z"].dims == ("init_time", "lead_time", "member", "level", "latitude", "longitude")
    np.testing.assert_array_equal(ds["z"].values[1], f1["z"])
    np.testing.assert_array_equal(ds["z"].values[0], f["z"])
    out = w.to_netcdf(tmp_path / "e.nc")
    with pytest.raises(FileExistsError, match="e.nc"):
        w.to_netcdf(out)
    w.to_netcdf(out, overwrite=True)  # replacing an existing export is atomic too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.nc", "e.zarr"]  # no temp files left
    nc = open_forecast(out)
    xr.testing.assert_identical(nc.load(), ds.load())


def test_bad_input_is_named(tmp_path):
    w = _writer(tmp_path / "f.zarr")
    bad = _fields(0)
    bad["z"] = bad["z"][:, :1]
    with pytest.raises(ValueError, match=r"fields\['z'\].*shape"):
        w.write(INITS[0], bad)
    with pytest.raises(KeyError, match=r"\['t2m'\] missing"):
        w.write(INITS[0], {"z": _fields(0)["z"]})
    with pytest.raises(TypeError, match="lead_times"):
        _writer(tmp_path / "g.zarr", lead_times=[24, 48])
    with pytest.raises(ValueError, match="path"):
        _writer(tmp_path / "g.nc")
    w.write(INITS[0], _fields(0))
    with pytest.raises(
        FileExistsError, match="latitude: store has 7 values 90.0 … -90.0, this writer 7 values -90.0"
    ):
        _writer(tmp_path / "f.zarr", latitude=LAT[::-1])
    with pytest.raises(FileNotFoundError):
        open_forecast(tmp_path / "nothing.zarr")


def test_real_sample_round_trips_through_the_writer(tmp_path):
    if not SAMPLE.exists():
        pytest.skip(f"real ERA5 sample not found at {SAMPLE}")
    ds = open_era5(SAMPLE)  # 4 times 12 h apart, 10 members: one "forecast" from the first time
    leads = ds["time"].values - ds["time"].values[0]
    w = ForecastWriter(
        tmp_path / "era5.zarr",
        variables=["z", "t"],
        levels=ds["level"].values,
        latitude=ds["latitude"].values,
        longitude=ds["longitude"].values,
        lead_times=leads,
        members=ds["member"].values,
        dtype=np.float64,
        attrs={"source": "era5 sample"},
    )
    w.write(ds["time"].values[0], {v: ds[v].values for v in ("z", "t")})
    fc = open_forecast(tmp_path / "era5.zarr")
    np.testing.assert_array_equal(fc["valid_time"].values[0], ds["time"].values)
    for v in ("z", "t"):
        np.testing.assert_array_equal(fc[v].isel(init_time=0).values, ds[v].values)
    nc = open_forecast(w.to_netcdf(tmp_path / "era5.nc"))
    np.testing.assert_array_equal(nc["z"].values, fc["z"].values)
