"""ERA5 sources → canonical schema: the real CDS sample, synthetic stores of each layout, bad input."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from chaosbench_py.data import (
    detect_layout,
    open_cds_netcdf,
    open_chaosbench,
    open_era5,
    open_weatherbench2_zarr,
    select,
    strip_provenance,
    to_canonical,
    validate_canonical,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic_era5 as se  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SAMPLE = SHARED / "data" / "era5" / "era5-levels-members.nc"


def _no_compute(*args, **kwargs):
    raise AssertionError("something was computed while opening (the loader must stay lazy)")


@pytest.fixture(scope="module")
def truth():
    return se.truth_dataset()


@pytest.fixture(scope="module")
def layouts(truth, tmp_path_factory):
    d = tmp_path_factory.mktemp("era5")
    se.write_cds_netcdf(truth, d / "cds_new", "new")
    se.write_cds_netcdf(truth, d / "cds_cfgrib", "cfgrib")
    se.write_weatherbench2_zarr(truth, d / "wb2_lonlat.zarr", lon_lat=True)
    se.write_weatherbench2_zarr(truth, d / "wb2_latlon.zarr", lon_lat=False)
    se.write_chaosbench(truth, d / "chaosbench")
    return {
        "cds_new": d / "cds_new",
        "cds_cfgrib": str(d / "cds_cfgrib" / "*.nc"),
        "wb2_lonlat": d / "wb2_lonlat.zarr",
        "wb2_latlon": d / "wb2_latlon.zarr",
        "chaosbench": d / "chaosbench",
    }


# ------------------------------------------------------------------------------------------ real sample
@pytest.fixture(scope="module")
def sample():
    if not SAMPLE.exists():
        pytest.skip(f"real ERA5 sample not found at {SAMPLE}")
    return SAMPLE


def test_real_sample_opens_unchanged_and_canonical(sample):
    raw = xr.open_dataset(sample)
    with dask.config.set(scheduler=_no_compute):
        ds = open_era5(sample)
    assert detect_layout(sample) == "cds"
    assert ds["z"].dims == ("time", "member", "level", "latitude", "longitude")
    assert isinstance(ds["z"].data, da.Array)
    assert ds["level"].values.tolist() == [500, 850]  # ascending, from isobaricInhPa 850, 500
    assert ds["latitude"].values[0] == 90 and ds["latitude"].values[-1] == -90
    assert ds.sizes == {"time": 4, "member": 10, "level": 2, "latitude": 61, "longitude": 120}
    assert ds["z"].attrs["units"] == "m**2 s**-2" and "conversion" not in ds.attrs  # already geopotential
    # same values, selected by label in both
    for lev in (500, 850):
        np.testing.assert_array_equal(
            ds["z"].sel(level=lev).transpose("member", "time", ...).values,
            raw["z"].sel(isobaricInhPa=lev).values,
        )
    np.testing.assert_array_equal(ds["time"].values, raw["valid_time"].values)
    # physically plausible Z500: 4.5e4 … 6.0e4 m² s⁻² (≈ 4.6–6.1 km), T850 in 220 … 310 K
    z500 = ds["z"].sel(level=500).values
    assert 4.4e4 < z500.min() and z500.max() < 6.1e4
    t850 = ds["t"].sel(level=850).values
    assert 220 < t850.min() and t850.max() < 310
    validate_canonical(ds)


def test_real_sample_selection_and_errors(sample):
    ds = open_era5(sample, variables=["geopotential"], levels=[500], time=slice("2017-01-02", None))
    assert list(ds.data_vars) == ["z"] and ds.sizes["time"] == 2 and ds["level"].values.tolist() == [500]
    with pytest.raises(KeyError, match=r"'q'.*available.*'t'"):
        select(open_era5(sample), variables=["q"])
    with pytest.raises(KeyError, match=r"700.*available: \[500, 850\]"):
        select(open_era5(sample), levels=[700])


# ------------------------------------------------------------------------------------------ synthetic layouts
def test_every_layout_opens_to_the_identical_canonical_dataset(layouts, truth):
    opened = {}
    for name, path in layouts.items():
        with dask.config.set(scheduler=_no_compute):
            ds = open_era5(path)
        assert all(isinstance(ds[v].data, da.Array) for v in ds.data_vars), name
        opened[name] = strip_provenance(ds)
    assert opened["chaosbench"].attrs == {"schema": "chaosbench_py.gridded_state", "schema_version": 1}
    ref = opened["cds_new"]
    for ds in opened.values():
        xr.testing.assert_identical(ref, ds)
    # translating a canonical dataset again changes nothing (idempotent)
    xr.testing.assert_identical(ref, strip_provenance(to_canonical(ref)))
    # and identical values/coords to the independent truth (built in canonical orientation)
    xr.testing.assert_equal(ref.drop_attrs(), truth.drop_attrs())
    assert ref["z"].dtype == np.float32


def test_detect_layout(layouts):
    assert detect_layout(layouts["cds_new"]) == "cds"
    assert detect_layout(layouts["cds_cfgrib"]) == "cds"
    assert detect_layout(layouts["wb2_lonlat"]) == "weatherbench2"
    assert detect_layout(layouts["chaosbench"]) == "chaosbench"
    assert detect_layout(layouts["chaosbench"] / "era5") == "chaosbench"
    with pytest.raises(ValueError, match="layout"):
        open_era5(layouts["cds_new"], layout="grib")


def test_chaosbench_conversion_recorded_and_gpm_exact(layouts, truth):
    ds = open_chaosbench(layouts["chaosbench"])
    assert "9.81" in ds.attrs["conversion"] and "gpm" in ds.attrs["conversion"]
    assert "9.81" in ds.attrs["history"]
    raw = xr.open_zarr(sorted((layouts["chaosbench"] / "era5").iterdir())[2])
    np.testing.assert_array_equal(raw["z"].values * np.float32(9.81), ds["z"].isel(time=2).values)
    np.testing.assert_array_equal(se.gpm_of(truth)[2], raw["z"].values)


def test_chaosbench_reads_only_the_requested_days(layouts, tmp_path, truth):
    root = tmp_path / "cb"
    shutil.copytree(layouts["chaosbench"], root)
    ds = open_chaosbench(root, variables=["t", "z"], levels=[500, 850])
    assert list(ds.data_vars) == ["t", "z"] and ds["level"].values.tolist() == [500, 850]
    assert ds["t"].data.chunks[0] == (1,) * 5
    keep = sorted((root / "era5").iterdir())[3]
    for p in (root / "era5").iterdir():  # every other day-store disappears after opening
        if p != keep:
            shutil.rmtree(p)
    got = ds["t"].isel(time=3).values
    np.testing.assert_array_equal(got, truth["t"].isel(time=3).sel(level=[500, 850]).values)
    with pytest.raises(Exception, match="era5_full_1.5deg_2020013"):
        ds["t"].isel(time=0).compute()


def test_chaosbench_years_and_real_grid(tmp_path):
    truth = se.truth_dataset(n_days=3, start="2021-12-31", resolution=1.5)
    se.write_chaosbench(truth, tmp_path)
    ds = open_chaosbench(tmp_path, years=[2022])
    assert ds.sizes == {"time": 2, "level": 10, "latitude": 121, "longitude": 240}
    assert str(ds["time"].values[0])[:10] == "2022-01-01"
    xr.testing.assert_equal(ds["q"].drop_attrs(), truth["q"].isel(time=slice(1, None)).drop_attrs())
    with pytest.raises(FileNotFoundError, match="2019"):
        open_chaosbench(tmp_path, years=[2019])


def test_weatherbench2_without_poles(tmp_path):
    truth = se.truth_dataset(n_days=2, resolution=10.0)
    lat = np.linspace(85.0, -85.0, 18)  # no poles, equal spacing
    truth = truth.isel(latitude=slice(0, 18)).assign_coords(latitude=lat)
    path = se.write_weatherbench2_zarr(truth, tmp_path / "64x32like.zarr")
    raw = xr.open_zarr(path)
    assert raw["geopotential"].dims == ("time", "level", "longitude", "latitude")
    assert raw["latitude"].values[0] == -85.0
    ds = open_weatherbench2_zarr(path)
    assert ds["latitude"].values[0] == 85.0 and ds["latitude"].values[-1] == -85.0
    pt = dict(time=truth["time"].values[1], level=700, latitude=-45.0, longitude=120.0)
    got = float(ds["u"].sel(pt).values)
    assert got == float(raw["u_component_of_wind"].sel(pt).values) == float(truth["u"].sel(pt).values)


def test_longitude_wrapped_and_gpm_units(truth):
    src = truth.isel(time=[0, 1]).assign_coords(longitude=((truth["longitude"] + 180) % 360) - 180)
    src = src.sortby("longitude")  # a −180 … 180 grid
    src["z"] = (src["z"] / np.float32(9.80665)).assign_attrs(units="gpm")
    ds = to_canonical(src.chunk())
    assert ds["longitude"].values[0] == 0.0 and np.all(np.diff(ds["longitude"].values) > 0)
    assert isinstance(ds["z"].data, da.Array)
    np.testing.assert_allclose(ds["z"].values, truth["z"].isel(time=[0, 1]).values, rtol=2e-7)
    assert "9.80665" in ds.attrs["conversion"]


# ------------------------------------------------------------------------------------------ bad input
def test_missing_variable_and_level_are_named(layouts):
    with pytest.raises(KeyError, match=r"'r'.*available"):
        open_chaosbench(layouts["chaosbench"], variables=["z", "r"])
    with pytest.raises(KeyError, match=r"level 600.*available"):
        open_chaosbench(layouts["chaosbench"], levels=[600])
    with pytest.raises(KeyError, match=r"\['sst'\] not in dataset"):
        open_era5(layouts["wb2_lonlat"], variables=["sst"])


def test_unsorted_and_duplicated_times(truth, tmp_path):
    bad = truth.isel(time=[0, 2, 1])
    bad.to_netcdf(tmp_path / "unsorted.nc")
    with pytest.raises(ValueError, match=r"'time'.*out of order"):
        open_cds_netcdf(tmp_path / "unsorted.nc")
    dup = truth.isel(time=[0, 1, 1])
    with pytest.raises(ValueError, match=r"'time'.*duplicated"):
        validate_canonical(to_canonical(dup))
    truth.isel(time=[0, 1]).to_netcdf(tmp_path / "a.nc")
    truth.isel(time=[1, 2]).to_netcdf(tmp_path / "b.nc")
    with pytest.raises(ValueError, match=r"a\.nc.*b\.nc.*duplicated"):
        open_cds_netcdf([tmp_path / "a.nc", tmp_path / "b.nc"])


def test_grid_mismatch_names_file_and_coordinate(truth, tmp_path, layouts):
    truth.isel(time=[0]).to_netcdf(tmp_path / "a.nc")
    shifted = truth.isel(time=[1]).assign_coords(longitude=truth["longitude"] + 1.0)
    shifted.to_netcdf(tmp_path / "b.nc")
    with pytest.raises(ValueError, match=r"grid mismatch.*'longitude'.*b\.nc"):
        open_cds_netcdf([tmp_path / "a.nc", tmp_path / "b.nc"])
    root = tmp_path / "cb"
    shutil.copytree(layouts["chaosbench"], root)
    victim = sorted((root / "era5").iterdir())[2]
    day = xr.open_zarr(victim).load()
    day = day.assign_coords(latitude=day["latitude"].values[::-1])
    day.to_zarr(victim, mode="w", zarr_format=2, consolidated=True)
    with pytest.raises(ValueError, match=rf"grid mismatch.*'latitude'.*{victim.name}"):
        open_chaosbench(root)


def test_validate_canonical_names_the_problem(truth):
    ds = to_canonical(truth)
    with pytest.raises(ValueError, match="'latitude'.*decreasing"):
        validate_canonical(ds.sortby("latitude"))
    with pytest.raises(ValueError, match="variable 'z'.*canonical order"):
        validate_canonical(ds.assign(z=ds["z"].transpose("time", "latitude", "level", "longitude")))
    with pytest.raises(ValueError, match="missing dimension 'time'"):
        validate_canonical(ds.isel(time=0))
    with pytest.raises(ValueError, match=r"\['w'\] contain only NaN"):
        validate_canonical(ds.assign(w=(ds["w"] * np.nan).assign_attrs(ds["w"].attrs)), check_nan=True)


def test_old_cds_layout_packed_with_expver(truth, tmp_path):
    """Old CDS netCDF: ``level`` in millibars ascending, int16 packing, ERA5/ERA5T ``expver`` dim."""
    part = truth[["t"]].isel(time=[0, 1, 2])
    era5 = part.where(part["time"] < truth["time"].values[2])  # ERA5 ends, ERA5T takes over
    era5t = part.where(part["time"] >= truth["time"].values[2])
    old = xr.concat([era5, era5t], dim=xr.DataArray([1, 5], dims="expver", name="expver"))
    old = old.transpose("time", "expver", "level", "latitude", "longitude")
    old["level"].attrs = {"units": "millibars", "long_name": "pressure_level"}
    scale, offset = 0.005, 250.0  # int16 range: 250 ± 163 K
    enc = {"t": {"dtype": "int16", "scale_factor": scale, "add_offset": offset, "_FillValue": -32767}}
    old.to_netcdf(tmp_path / "old.nc", encoding=enc)
    ds = open_era5(tmp_path / "old.nc")
    assert ds["t"].dims == ("time", "level", "latitude", "longitude")
    assert not bool(ds["t"].isnull().any())
    np.testing.assert_allclose(ds["t"].values, part["t"].values, atol=scale / 2 + 1e-4)


def test_chaosbench_dataset_pickles_for_dataloader_workers(layouts, truth):
    import pickle

    ds = open_chaosbench(layouts["chaosbench"], variables=["u"])
    back = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(back["u"].isel(time=4).values, truth["u"].isel(time=4).values)
