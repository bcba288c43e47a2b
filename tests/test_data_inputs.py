"""Bad inputs to the ERA5 loaders and the forecast writer: every one a clear error naming the file (or the
argument) and what is wrong — and a writer never damages a store it did not write.

Each case asserts the exception class and that the message names the thing.
"""

from __future__ import annotations

import datetime
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from synthetic_era5 import truth_dataset, write_cds_netcdf, write_chaosbench, write_weatherbench2_zarr

from chaosbench_py.data import ForecastWriter, open_era5, open_forecast, repair_forecast_store
from chaosbench_py.errors import (
    CorruptFileError,
    InputError,
    InputTypeError,
    MissingInputError,
    OutputExistsError,
)

LAT = np.linspace(90.0, -90.0, 5)
LON = np.arange(0.0, 360.0, 60.0)
LEADS = np.array([24, 48], dtype="timedelta64[h]")
INITS = np.array(["2022-01-01", "2022-01-02"], dtype="datetime64[ns]")


@pytest.fixture(scope="module")
def truth():
    return truth_dataset(n_days=3, resolution=30.0, levels=(500, 850))


def _digest(path: Path) -> str:
    """A hash of every file (name and bytes) under ``path``: equal before and after = untouched."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if p.is_file():
            h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- loaders
def test_missing_file_named(tmp_path):
    with pytest.raises(MissingInputError, match="nothing.nc"):
        open_era5(tmp_path / "nothing.nc")


def test_random_bytes_netcdf_named(tmp_path):
    bad = tmp_path / "rand.nc"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CorruptFileError, match=r"rand.nc: cannot be read as netCDF"):
        open_era5(bad)


def test_truncated_netcdf_named(tmp_path, truth):
    (path,) = write_cds_netcdf(truth, tmp_path)[:1]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=rf"{path.name}: cannot be read as netCDF"):
        open_era5(path).load()


def test_netcdf_without_latitude_named(tmp_path):
    path = tmp_path / "nolat.nc"
    xr.Dataset({"t": (("time", "x"), np.zeros((2, 3)), {"units": "K"})},
               coords={"time": pd.date_range("2020-01-01", periods=2)}).to_netcdf(path)  # fmt: skip
    with pytest.raises(CorruptFileError, match=r"nolat.nc: not an ERA5 file in a CDS layout.*latitude"):
        open_era5(path)


def test_duplicated_times_in_one_netcdf_named(tmp_path, truth):
    path = tmp_path / "dup.nc"
    dup = xr.concat([truth, truth.isel(time=[1])], dim="time").rename(
        time="valid_time", level="pressure_level"
    )
    dup.to_netcdf(path)
    with pytest.raises(InputError, match=r"dup.nc: coordinate 'time' has duplicated values \['2020-01-31"):
        open_era5(path)


def test_empty_folder_is_not_a_zarr_store(tmp_path):
    (tmp_path / "e.zarr").mkdir()
    with pytest.raises(CorruptFileError, match=r"e.zarr: not a zarr store \(no zarr.json"):
        open_era5(tmp_path / "e.zarr")


def test_file_named_zarr_is_not_a_store(tmp_path):
    (tmp_path / "f.zarr").write_text("hello")
    with pytest.raises(CorruptFileError, match=r"f.zarr: not a zarr store \(a file"):
        open_era5(tmp_path / "f.zarr")


def test_corrupt_zarr_metadata_named(tmp_path):
    (tmp_path / "c.zarr").mkdir()
    (tmp_path / "c.zarr" / ".zmetadata").write_text("{broken")
    (tmp_path / "c.zarr" / ".zgroup").write_text("{broken")
    with pytest.raises(CorruptFileError, match=r"c.zarr: cannot be read as a zarr store"):
        open_era5(tmp_path / "c.zarr")


def test_zarr_zero_length_time_named(tmp_path, truth):
    path = write_weatherbench2_zarr(truth.isel(time=slice(0, 0)), tmp_path / "t0.zarr")
    with pytest.raises(CorruptFileError, match=r"t0.zarr: dimension 'time' has length 0"):
        open_era5(path)


def test_zarr_duplicated_times_named(tmp_path, truth):
    path = write_weatherbench2_zarr(xr.concat([truth, truth.isel(time=[0])], dim="time"), tmp_path / "d.zarr")
    with pytest.raises(InputError, match=r"d.zarr: coordinate 'time' has duplicated values \['2020-01-30"):
        open_era5(path)


def test_zarr_without_latitude_named(tmp_path, truth):
    path = write_weatherbench2_zarr(truth, tmp_path / "nolat.zarr")
    shutil.rmtree(path / "latitude")
    meta = path / ".zmetadata"
    meta.write_text(meta.read_text().replace('"latitude/', '"gone/'))
    with pytest.raises((CorruptFileError, InputError), match=r"nolat.zarr.*latitude"):
        open_era5(path)


def test_chaosbench_impossible_date_named(tmp_path, truth):
    paths = write_chaosbench(truth, tmp_path / "cb")
    paths[1].rename(paths[1].with_name("era5_full_1.5deg_20230230.zarr"))
    with pytest.raises(InputError, match=r"era5_full_1.5deg_20230230.zarr: impossible date '20230230'"):
        open_era5(tmp_path / "cb", layout="chaosbench")


def test_chaosbench_corrupt_day_store_named(tmp_path, truth):
    paths = write_chaosbench(truth, tmp_path / "cb")
    shutil.rmtree(paths[2])
    paths[2].mkdir()
    (paths[2] / ".zgroup").write_text("{broken")
    with pytest.raises(CorruptFileError, match=rf"{paths[2].name}: cannot be read as a zarr store"):
        open_era5(tmp_path / "cb", layout="chaosbench")


def test_chaosbench_same_day_twice_named(tmp_path, truth):
    paths = write_chaosbench(truth, tmp_path / "cb")
    other = tmp_path / "copy" / paths[0].name
    shutil.copytree(paths[0], other)
    with pytest.raises(InputError, match=r"duplicated ChaosBench date.*era5_full_1.5deg_20200130.zarr"):
        open_era5([paths[0], other, paths[1]], layout="chaosbench")


# ------------------------------------------------------------------------------------------- writer
def _writer(path: Path, **kw) -> ForecastWriter:
    args = dict(variables=["t2m"], levels=None, latitude=LAT, longitude=LON, lead_times=LEADS)
    return ForecastWriter(path, **(args | kw))


def _fields(seed: int = 0, members: int | None = None) -> dict[str, np.ndarray]:
    m = () if members is None else (members,)
    return {"t2m": np.random.default_rng(seed).standard_normal((2, *m, 5, 6)).astype(np.float32)}


def _xarray_forecast(path: Path) -> Path:
    ds = xr.Dataset(
        {"t2m": (("init_time", "lead_time", "latitude", "longitude"), np.ones((2, 2, 5, 6)), {"units": "K"})},
        coords={
            "init_time": INITS,
            "lead_time": LEADS.astype("timedelta64[ns]"),
            "latitude": LAT,
            "longitude": LON,
        },
    )
    ds = ds.assign_coords(valid_time=ds["init_time"] + ds["lead_time"])
    ds.to_zarr(path, zarr_format=3, consolidated=False)
    return path


def test_writer_refuses_an_xarray_store_and_leaves_it_untouched(tmp_path):
    store = _xarray_forecast(tmp_path / "fc.zarr")
    before = _digest(store)
    with pytest.raises(OutputExistsError, match=r"fc.zarr: exists and was not written by ForecastWriter"):
        _writer(store)
    with pytest.raises(
        CorruptFileError, match=r"fc.zarr: exists and was not written by ForecastWriter.*not repaired"
    ):
        repair_forecast_store(store)
    assert _digest(store) == before
    assert open_forecast(store).sizes["init_time"] == 2  # a foreign forecast is read whole, not as 0 inits


def test_writer_overwrite_replaces_only_at_the_first_write(tmp_path):
    store = _xarray_forecast(tmp_path / "fc.zarr")
    before = _digest(store)
    w = _writer(store, overwrite=True)
    assert _digest(store) == before  # nothing touched yet
    w.write(INITS[1], _fields(1))
    ds = open_forecast(store)
    assert ds.sizes["init_time"] == 1 and ds.attrs["schema"] == "chaosbench_py.forecast"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.zarr"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"variables": ["t2m", "msl"]}, r"variables: store has \['t2m'\], this writer \['t2m', 'msl'\]"),
        (
            {"lead_times": ["24h", "72h"]},
            r"lead_times \(s\): store has \[86400, 172800\], this writer \[86400, 259200\]",
        ),
        ({"members": [0, 1]}, r"members: store has None, this writer \[0, 1\]"),
        (
            {"longitude": LON + 1.0},
            r"longitude: store has 6 values 0.0 … 300.0, this writer 6 values 1.0 … 301.0",
        ),
        ({"dtype": np.float64}, r"dtype: store has '<f4', this writer '<f8'"),
    ],
)
def test_writer_refuses_another_layout_naming_it(tmp_path, change, named):
    store = tmp_path / "w.zarr"
    _writer(store).write(INITS[0], _fields())
    before = _digest(store)
    with pytest.raises(OutputExistsError, match=named):
        _writer(store, **change)
    assert _digest(store) == before


def test_writer_refuses_a_file_and_an_unwanted_resume(tmp_path):
    (tmp_path / "f.zarr").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"f.zarr: exists and is not a forecast store \(a file\)"):
        _writer(tmp_path / "f.zarr")
    assert (tmp_path / "f.zarr").read_text() == "mine"
    _writer(tmp_path / "w.zarr").write(INITS[0], _fields())
    with pytest.raises(OutputExistsError, match=r"w.zarr: a forecast store exists; pass overwrite=True"):
        _writer(tmp_path / "w.zarr", resume=False)


def test_writer_refuses_a_store_with_a_short_array(tmp_path):
    store = tmp_path / "w.zarr"
    w = _writer(store)
    w.write(INITS[0], _fields(0))
    w.write(INITS[1], _fields(1))
    zarr.open_group(store, mode="a")["t2m"].resize((1, 2, 5, 6))  # damaged: fewer than the 2 committed
    with pytest.raises(
        CorruptFileError, match=r"w.zarr: damaged forecast store \(2 inits committed but arrays \{'t2m': 1\}"
    ):
        _writer(store)


@pytest.mark.parametrize(
    "leads",
    [
        np.array(["1D", "2D"]),  # numpy.str_ elements (pandas 2.x rejected them as a list)
        ["24h", "48h"],
        [datetime.timedelta(days=1), datetime.timedelta(days=2)],
        pd.to_timedelta(["1D", "2D"]),
        [np.timedelta64(24, "h"), pd.Timedelta("2D")],
    ],
)
def test_writer_lead_time_kinds(tmp_path, leads):
    w = _writer(tmp_path / "w.zarr", lead_times=leads)
    np.testing.assert_array_equal(w.lead_times, LEADS.astype("timedelta64[ns]"))


def test_writer_numbers_with_a_unit(tmp_path):
    w = _writer(tmp_path / "w.zarr", lead_times=[1, 2], lead_time_unit="D")
    np.testing.assert_array_equal(w.lead_times, LEADS.astype("timedelta64[ns]"))
    w = _writer(tmp_path / "w.zarr", lead_times=np.array([12.0, 36.0]), lead_time_unit="h")
    assert pd.Timedelta(w.lead_times[1]) == pd.Timedelta("36h")


@pytest.mark.parametrize(
    ("leads", "unit", "error", "named"),
    [
        (["24h", "banana"], None, InputError, r"lead_times\[1\]: cannot interpret 'banana'"),
        ([24, 48], None, InputTypeError, r"lead_times\[0\]: bare number 24; pass lead_time_unit="),
        (["24h", object()], None, InputTypeError, r"lead_times\[1\]: cannot use <object"),
        (["48h", "24h"], None, InputError, r"lead_times\[1\] = 1 days 00:00:00 follows 2 days"),
        ([np.timedelta64("NaT")], None, InputError, r"lead_times\[0\]: .*is not a time \(NaT\)"),
        ([1, 2], "parsecs", InputError, r"lead_time_unit='parsecs'"),
        ("24h", None, InputTypeError, r"lead_times: expected a sequence"),
        ([], None, InputError, r"lead_times: expected a non-empty 1-D sequence"),
    ],
)
def test_writer_bad_lead_times_named(tmp_path, leads, unit, error, named):
    with pytest.raises(error, match=named):
        _writer(tmp_path / "w.zarr", lead_times=leads, lead_time_unit=unit)
    assert not (tmp_path / "w.zarr").exists()


def test_open_forecast_bad_files_named(tmp_path):
    (tmp_path / "r.nc").write_bytes(np.random.default_rng(1).bytes(2048))
    with pytest.raises(CorruptFileError, match=r"r.nc: cannot be read as a forecast store"):
        open_forecast(tmp_path / "r.nc")
    (tmp_path / "e.zarr").mkdir()
    with pytest.raises(CorruptFileError, match=r"e.zarr: not a zarr store"):
        open_forecast(tmp_path / "e.zarr")
    store = _xarray_forecast(tmp_path / "fc.zarr")
    dup = xr.open_zarr(store, consolidated=False).load()
    dup = dup.assign_coords(init_time=[INITS[0], INITS[0]])
    dup.to_netcdf(tmp_path / "dup.nc")
    with pytest.raises(
        InputError, match=r"dup.nc: coordinate 'init_time' has duplicated values \['2022-01-01"
    ):
        open_forecast(tmp_path / "dup.nc")
    xr.open_zarr(store, consolidated=False).isel(init_time=slice(0, 0)).to_netcdf(tmp_path / "empty.nc")
    with pytest.raises(InputError, match=r"empty.nc: dimension 'init_time' has length 0"):
        open_forecast(tmp_path / "empty.nc")


def test_scorecard_and_evaluation_writers_refuse_existing_files(tmp_path):
    from chaosbench_py.evaluation import scorecards_to_csv
    from physics_metrics.errors import MetricOutputExistsError
    from physics_metrics.weather import write_scorecard_csv, write_scorecard_netcdf

    card = xr.Dataset(
        {"t2m": (("metric", "lead_time"), np.ones((1, 2)), {"units": "K"})},
        coords={"metric": ["rmse"], "lead_time": LEADS.astype("timedelta64[ns]")},
    )
    for path, write in (
        (tmp_path / "card.nc", lambda p, **kw: write_scorecard_netcdf(card, p, **kw)),
        (tmp_path / "rmse_m.csv", lambda p, **kw: write_scorecard_csv(card, p.parent, model_name="m", **kw)),
        (tmp_path / "scores.csv", lambda p, **kw: scorecards_to_csv({"m": card}, p, **kw)),
    ):
        path.write_text("mine")
        with pytest.raises(FileExistsError, match=rf"{path.name}: exists; pass overwrite=True"):
            write(path)
        assert path.read_text() == "mine"
        write(path, overwrite=True)
        assert path.read_bytes() != b"mine"
    with pytest.raises(MetricOutputExistsError):
        write_scorecard_netcdf(card, tmp_path / "card.nc")


@pytest.mark.filterwarnings("ignore:Object at .* is not recognized as a component of a Zarr hierarchy")
def test_writer_resume_removes_temporaries_of_a_killed_zarr_write(tmp_path):
    store = tmp_path / "w.zarr"
    _writer(store).write(INITS[0], _fields(0))
    left = store / f"zarr.{'0123456789abcdef' * 2}.partial"  # what a kill inside zarr's atomic write leaves
    left.write_text("{")
    mine = store / "notes.partial"  # not zarr's pattern: kept
    mine.write_text("x")
    w = _writer(store)
    assert not left.exists() and mine.exists()
    np.testing.assert_array_equal(w.written_init_times, INITS[:1])
