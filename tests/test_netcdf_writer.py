"""The xarray-free netCDF writer of ``chaosbench generate x.nc`` writes the file xarray writes."""

from __future__ import annotations

import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

from chaosbench_py.errors import InputError, InputTypeError, OutputExistsError
from chaosbench_py.simulate.netcdf_writer import write_trajectories_netcdf
from chaosbench_py.simulate.store import save_trajectories
from chaosbench_py.simulate.trajectories import TrajectoryArrays, generate_trajectory_arrays


def _layout(path) -> list:
    """Everything netCDF4 reports about a file: dims, variables, dtypes, chunking, filters, attributes."""
    with netCDF4.Dataset(path) as nc:
        out = [nc.data_model, [(k, len(v)) for k, v in nc.dimensions.items()]]
        for name, var in nc.variables.items():
            attrs = [(a, repr(var.getncattr(a))) for a in var.ncattrs()]
            out.append((name, str(var.dtype), var.dimensions, var.chunking(), var.filters(), attrs))
        out.append([(a, repr(nc.getncattr(a))) for a in nc.ncattrs()])
    return out


@pytest.mark.parametrize(
    ("system", "kwargs", "chunks"),
    [
        ("Lorenz", {}, None),
        ("Henon", {"noise": 0.05}, {"trajectory": 2, "time": 7}),
        ("Lorenz96", {"transient": 0.0}, {"dim": 3}),
    ],
)
def test_same_file_as_xarray(tmp_path, system, kwargs, chunks):
    arrays = generate_trajectory_arrays(system, 3, 40, **kwargs)
    ours = write_trajectories_netcdf(arrays, tmp_path / "ours.nc", chunks=chunks)
    theirs = save_trajectories(arrays.to_dataset(), tmp_path / "xarray.nc", chunks=chunks)
    assert _layout(ours) == _layout(theirs)
    with xr.open_dataset(ours) as a, xr.open_dataset(theirs) as b:
        xr.testing.assert_identical(a.load(), b.load())
        assert np.array_equal(a["x"].values, arrays.x)


def test_generate_trajectories_is_the_arrays_dataset():
    arrays = generate_trajectory_arrays("Lorenz", 2, 30, seed=3)
    from chaosbench_py.simulate import generate_trajectories

    ds = generate_trajectories("Lorenz", 2, 30, seed=3)
    assert np.array_equal(ds["x"].values, arrays.x)
    assert np.array_equal(ds["time"].values, arrays.time)
    same = {k: v for k, v in ds.attrs.items() if k != "created"}
    assert repr(same) == repr({k: v for k, v in arrays.attrs.items() if k != "created"})  # repr: NaN == NaN


def _small() -> TrajectoryArrays:
    return TrajectoryArrays(x=np.zeros((2, 5, 3)), time=np.arange(5.0), attrs={"system": "toy"})


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "keep.nc"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_trajectories_netcdf(_small(), path)
    assert path.read_bytes() == b"precious"
    write_trajectories_netcdf(_small(), path, overwrite=True)
    with xr.open_dataset(path) as ds:
        assert ds["x"].shape == (2, 5, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.nc"]  # no temporary left behind


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(InputError, match="suffix"):
        write_trajectories_netcdf(_small(), tmp_path / "out.zarr")
    with pytest.raises(InputError, match="unknown dimension"):
        write_trajectories_netcdf(_small(), tmp_path / "out.nc", chunks={"lat": 2})
    with pytest.raises(InputError, match="integers >= 1"):
        write_trajectories_netcdf(_small(), tmp_path / "out.nc", chunks={"time": 0})
    bad = TrajectoryArrays(x=np.zeros((2, 5)), time=np.arange(5.0), attrs={})
    with pytest.raises(InputTypeError, match="trajectory, time, dim"):
        write_trajectories_netcdf(bad, tmp_path / "out.nc")
    bad = TrajectoryArrays(x=np.zeros((2, 5, 3)), time=np.arange(4.0), attrs={})
    with pytest.raises(InputError, match="time has shape"):
        write_trajectories_netcdf(bad, tmp_path / "out.nc")
    assert not any(tmp_path.iterdir())


def test_cli_netcdf_output_imports_no_xarray_pandas_or_dask(tmp_path):
    """The point of the writer: `chaosbench generate x.nc` starts without xarray, pandas and dask."""
    out = tmp_path / "run.nc"
    code = (
        "import sys\n"
        "from chaosbench_py.cli import main\n"
        f"rc = main(['generate', '--system', 'Lorenz', '--trajectories', '2', '--length', '20', '--out', {str(out)!r}, "
        "'--quiet'])\n"
        "print(rc, sorted(m for m in ('xarray', 'pandas', 'dask', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "0 []"
    with xr.open_dataset(out) as ds:
        assert ds["x"].shape == (2, 20, 3)
        assert ds.attrs["system"] == "Lorenz"
