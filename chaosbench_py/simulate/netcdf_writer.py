"""Write a trajectory dataset to netCDF-4 with the netCDF4 library alone, without xarray.

``chaosbench generate --out run.nc`` spends more of its start-up importing xarray, pandas and dask
(which xarray imports to recognise dask arrays) than integrating 200 × 2000 Lorenz samples. This
writer produces the same file as ``save_trajectories(generate_trajectories(...), "run.nc")``:
same dimensions, variables, dtypes, chunking, compression (zlib level 1, shuffle), ``_FillValue``
(NaN on float variables, none on the integer coordinates, as xarray writes them) and attributes, so
``xarray.open_dataset`` reads back an identical Dataset (tested against the xarray writer).

The write is atomic (a temporary sibling renamed into place) and an existing file is refused unless
``overwrite=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, InputTypeError, OutputExistsError
from ..files import atomic_store

if TYPE_CHECKING:
    from .trajectories import TrajectoryArrays

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
TRAJECTORY_DIMS = ("trajectory", "time", "dim")
DEFAULT_CHUNKS = {"trajectory": 64, "time": 1000}


def check_chunks(chunks: Any, dims: tuple[str, ...], where: str) -> None:
    """``chunks`` maps names of ``dims`` to integers >= 1; a clear error naming ``where`` otherwise."""
    if chunks is None:
        return
    if not isinstance(chunks, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in chunks.values()
    ):
        raise InputError(f"{where}: chunks must map dimension names to integers >= 1; got {chunks!r}")
    unknown = sorted(set(chunks) - set(dims))
    if unknown:
        raise InputError(f"{where}: chunks names unknown dimension(s) {unknown}; the dims are {dims}")


def chunk_shape(shape: tuple[int, ...], dims: tuple[str, ...], chunks: dict[str, int]) -> tuple[int, ...]:
    """On-disk chunk of a variable: ``chunks[d]`` capped at the dimension's size, whole where unnamed."""
    return tuple(min(chunks.get(d, n), n) for d, n in zip(dims, shape))


def _set_attr(obj: Any, key: str, value: Any) -> None:
    """One attribute, typed as xarray's netCDF4 backend types it (a list of strings is a string array)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        obj.setncattr_string(key, list(value))
    elif isinstance(value, (list, tuple)):
        obj.setncattr(key, np.asarray(value))
    else:
        obj.setncattr(key, value)


def write_trajectories_netcdf(
    arrays: TrajectoryArrays,
    path: str | os.PathLike,
    *,
    chunks: dict[str, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``arrays`` (see :class:`~chaosbench_py.simulate.trajectories.TrajectoryArrays`) to the
    netCDF-4 file ``path`` (``.nc``, ``.nc4`` or ``.netcdf``), atomically.

    ``chunks``: on-disk chunking per dimension name (default 64 trajectories × 1000 time steps × all
    dims, as :func:`~chaosbench_py.simulate.store.save_trajectories`). Raises
    :class:`~chaosbench_py.errors.OutputExistsError` when ``path`` exists and ``overwrite`` is false
    (nothing is integrated or written then), :class:`~chaosbench_py.errors.InputError` for another
    suffix, bad chunks or arrays of the wrong shape.
    """
    import netCDF4

    path = Path(path)
    where = f"write_trajectories_netcdf({path})"
    if path.suffix.lower() not in NETCDF_SUFFIXES:
        raise InputError(
            f"{where}: a netCDF file needs one of the suffixes {NETCDF_SUFFIXES}; got {path.suffix!r}"
        )
    x = np.asarray(arrays.x)
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.floating):
        raise InputTypeError(
            f"{where}: x must be a float array (trajectory, time, dim); got {x.dtype} {x.shape}"
        )
    time = np.asarray(arrays.time)
    if time.shape != (x.shape[1],):
        raise InputError(f"{where}: time has shape {time.shape}, x has {x.shape[1]} time steps")
    check_chunks(chunks, TRAJECTORY_DIMS, where)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists; pass overwrite=True (--overwrite) to replace it, or choose another path"
        )
    chunking = chunk_shape(x.shape, TRAJECTORY_DIMS, chunks or DEFAULT_CHUNKS)
    with atomic_store(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            for name, size in zip(TRAJECTORY_DIMS, x.shape):
                nc.createDimension(name, size)
            var = nc.createVariable(
                "x", x.dtype, TRAJECTORY_DIMS, zlib=True, complevel=1, shuffle=True,
                chunksizes=chunking, fill_value=np.nan,
            )  # fmt: skip
            for key, value in arrays.x_attrs.items():
                _set_attr(var, key, value)
            var[:] = x
            coords = {
                "trajectory": np.arange(x.shape[0], dtype=np.int64),
                "time": time,
                "dim": np.arange(x.shape[2], dtype=np.int64),
            }
            for name, values in coords.items():
                float_coord = np.issubdtype(values.dtype, np.floating)
                cvar = nc.createVariable(
                    name, values.dtype, (name,), contiguous=True, fill_value=np.nan if float_coord else None
                )
                for key, value in (arrays.time_attrs if name == "time" else {}).items():
                    _set_attr(cvar, key, value)
                cvar[:] = values
            for key, value in arrays.attrs.items():
                _set_attr(nc, key, value)
    return path
