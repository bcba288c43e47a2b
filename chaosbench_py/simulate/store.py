"""Trajectory datasets on disk: atomic writes, lazy reads, resumable chunked generation.

* :func:`save_trajectories` writes a Dataset to zarr (``.zarr``) or netCDF (``.nc``) through a
  temporary sibling that is renamed into place, so a crash never leaves a half-written file
  where a good one was.
* :func:`open_trajectories` opens a store lazily with dask; slicing a window reads only the
  chunks it touches.
* :func:`generate_to_store` integrates chunk by chunk and appends each chunk to a zarr store, so
  long runs use bounded memory and an interrupted run resumes where it stopped (the last clean
  state is kept in the store) and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
import zarr

from ..errors import InputError, InputTypeError, MissingInputError, OutputExistsError
from ..files import atomic_store
from ..systems import get_system
from ..systems.base import System
from .trajectories import (
    _advance,
    add_observation_noise,
    initial_conditions,
    iter_trajectory_chunks,
    noise_scale,
    resolve_sampling,
    trajectory_attrs,
)

logger = logging.getLogger(__name__)

ZARR_SUFFIXES = (".zarr",)
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in ZARR_SUFFIXES:
        return "zarr"
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"
    raise InputError(f"{path}: unknown format; use a .zarr directory or a .nc file")


def _encoding(ds: xr.Dataset, chunks: dict[str, int]) -> dict[str, Any]:
    enc = {}
    for name, var in ds.data_vars.items():
        enc[name] = {"chunks": tuple(min(chunks.get(d, n), n) for d, n in zip(var.dims, var.shape))}
    return enc


def save_trajectories(
    ds: xr.Dataset, path: str | os.PathLike, *, chunks: dict[str, int] | None = None
) -> Path:
    """Write a trajectory Dataset atomically to ``path`` (``.zarr`` or ``.nc``).

    ``chunks`` sets the on-disk chunking per dimension (default: 64 trajectories × 1000 time
    steps × all dims), the unit of lazy reads later.
    """
    path = Path(path)
    fmt = _format_of(path)
    chunks = chunks or {"trajectory": 64, "time": 1000}
    with atomic_store(path) as tmp:
        if fmt == "zarr":
            ds.to_zarr(tmp, mode="w", encoding=_encoding(ds, chunks), consolidated=False, zarr_format=3)
        else:
            enc = {
                k: {"chunksizes": v["chunks"], "zlib": True, "complevel": 1}
                for k, v in _encoding(ds, chunks).items()
            }
            ds.to_netcdf(tmp, engine="netcdf4", encoding=enc)
    logger.info("wrote %s", path)
    return path


def open_trajectories(path: str | os.PathLike, *, chunks: dict[str, int] | str | None = "auto") -> xr.Dataset:
    """Open a trajectory store lazily (dask-backed); nothing is read until values are used.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` when the store is not a
    trajectory dataset (no variable ``x`` with dims ``(trajectory, time, dim)``) or is an
    unfinished :func:`generate_to_store` run.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"no trajectory store at {path}")
    fmt = _format_of(path)
    if fmt == "zarr":
        ds = xr.open_zarr(path, chunks={} if chunks == "auto" else chunks, consolidated=False)
    else:
        ds = xr.open_dataset(path, engine="netcdf4", chunks={} if chunks == "auto" else chunks)
    if "x" not in ds or ds["x"].dims != ("trajectory", "time", "dim"):
        raise InputError(
            f"{path}: not a trajectory dataset (need variable 'x' with dims (trajectory, time, dim))"
        )
    n_written = ds.attrs.get("samples_written")
    if n_written is not None and int(n_written) < ds.attrs.get("samples_requested", 0):
        raise InputError(
            f"{path}: unfinished run ({n_written} of {ds.attrs['samples_requested']} samples); "
            "resume it with generate_to_store(..., resume=True) or `chaosbench generate --resume`"
        )
    for key in ("last_state", "run_identity"):
        ds.attrs.pop(key, None)
    return ds


def window(ds: xr.Dataset, *, trajectory: int | slice, start: int, length: int) -> xr.DataArray:
    """A lazy window ``x[trajectory, start:start+length, :]`` of a trajectory dataset."""
    n_t = ds.sizes["time"]
    if start < 0 or length < 1 or start + length > n_t:
        raise IndexError(f"window [{start}, {start + length}) outside time axis of length {n_t}")
    return ds["x"].isel(trajectory=trajectory, time=slice(start, start + length))


def generate_to_store(
    path: str | os.PathLike,
    system: System | str,
    n_trajectories: int,
    length: int,
    *,
    chunk: int = 1000,
    resume: bool = False,
    progress: bool = False,
    **kwargs: Any,
) -> Path:
    """Generate trajectories straight into a zarr store, one time chunk at a time.

    Takes the arguments of :func:`generate_trajectories`. Memory is bounded by one chunk
    (``n_trajectories × chunk × dim``). With ``resume=True`` an existing unfinished store made
    with the same arguments is continued from its last clean state; with ``resume=False`` an
    existing store is an error (nothing already written is overwritten).
    """
    from tqdm.auto import tqdm

    from .. import __version__

    path = Path(path)
    if _format_of(path) != "zarr":
        raise InputError(
            f"{path}: chunked generation writes zarr; use a .zarr path (or save_trajectories for .nc)"
        )
    system = get_system(system) if isinstance(system, str) else system
    opts = dict(
        pts_per_period=kwargs.pop("pts_per_period", None),
        pts_per_lyapunov=kwargs.pop("pts_per_lyapunov", None),
        sample_dt=kwargs.pop("sample_dt", None),
    )
    transient = kwargs.pop("transient", 10.0)
    noise = kwargs.pop("noise", 0.0)
    seed = kwargs.pop("seed", 0)
    ic_spread = kwargs.pop("ic_spread", 1e-6)
    method = kwargs.pop("method", "dop853")
    rtol = kwargs.pop("rtol", 1e-9)
    atol = kwargs.pop("atol", 1e-9)
    dt = kwargs.pop("dt", None)
    if kwargs:
        raise InputTypeError(f"unexpected argument(s): {sorted(kwargs)}")
    sampling = resolve_sampling(system, **opts)
    attrs = trajectory_attrs(system, sampling, method, rtol, atol, dt, transient, noise, seed, ic_spread)
    attrs.pop("created")
    identity = json.dumps({k: attrs[k] for k in sorted(attrs)} | {"n": n_trajectories, "length": length})

    if path.exists():
        if not resume:
            raise OutputExistsError(f"{path} exists; pass resume=True to continue it, or choose another path")
        meta = dict(xr.open_zarr(path, consolidated=False).attrs)
        if meta.get("run_identity") != identity:
            raise InputError(f"{path} was made with different arguments; cannot resume it with these")
        start = int(meta["samples_written"])
        if start >= length:
            logger.info("%s is complete; nothing to do", path)
            return path
        if start == 0:  # interrupted inside the first block: nothing worth keeping
            shutil.rmtree(path)
    if not path.exists():
        start = 0
        gen = torch.Generator().manual_seed(seed)
        x = initial_conditions(system, n_trajectories, ic_spread=ic_spread, generator=gen)
        n_transient = int(round(transient * sampling.unit_length / sampling.sample_dt))
        if n_transient > 0:
            x = _advance(system, x, 0.0, n_transient, sampling, method, rtol, atol, dt)[:, -1]
        std = None
        t_start = n_transient * sampling.sample_dt
        meta = {
            **attrs,
            "run_identity": identity,
            "samples_requested": length,
            "time_offset": float(t_start),
            "chaosbench_py_version": __version__,
            "samples_written": 0,
        }
    else:
        x = torch.tensor(meta["last_state"], dtype=torch.float64)
        std = np.asarray(meta["noise_std"], dtype=np.float64)
        t_start = float(meta["time_offset"])
        _truncate(path, start)  # drop any partial block written after the last consistent point
        logger.info("resuming %s at sample %d of %d", path, start, length)

    bar = tqdm(total=length, initial=start, desc=system.name, unit="sample", disable=not progress)
    t0 = t_start + ((start - 1) * sampling.sample_dt if start > 0 else 0.0)
    chunks_iter = iter_trajectory_chunks(
        system,
        x,
        length - start + (1 if start > 0 else 0),
        sampling,
        chunk=chunk,
        t0=t0,
        method=method,
        rtol=rtol,
        atol=atol,
        dt=dt,
    )
    for rel, block in chunks_iter:
        if start > 0 and rel == 0:
            continue  # the resumed state itself was written already
        pos = start + rel - (1 if start > 0 else 0)
        clean = block.cpu().numpy()
        if std is None:
            std = noise_scale(system, clean)
            meta["noise_std"] = std.tolist()
        data = add_observation_noise(clean, noise, std, seed, start=pos, chunk=chunk)
        # The block goes in with the metadata of the state *before* it (xarray rewrites the group
        # attributes on every append); one metadata write afterwards marks it as done and records
        # where to resume from. An interruption anywhere leaves a store that resumes correctly.
        _append_block(path, data, pos, sampling.sample_dt, system.dim, chunk, meta)
        meta.update(samples_written=pos + data.shape[1], last_state=clean[:, -1].tolist())
        zarr.open_group(path, mode="a").attrs.update(
            {"samples_written": meta["samples_written"], "last_state": meta["last_state"]}
        )
        bar.update(data.shape[1])
    bar.close()
    return path


def _truncate(path: Path, n_time: int) -> None:
    root = zarr.open_group(path, mode="a")
    x, t = root["x"], root["time"]
    if x.shape[1] != n_time:
        logger.warning("%s: dropping %d samples of an interrupted block", path, x.shape[1] - n_time)
        x.resize((x.shape[0], n_time, x.shape[2]))
        t.resize((n_time,))


def _append_block(
    path: Path, data: np.ndarray, pos: int, sample_dt: float, dim: int, chunk: int, attrs: dict[str, Any]
) -> None:
    n_traj, n_t, _ = data.shape
    ds = xr.Dataset(
        {"x": (("trajectory", "time", "dim"), data)},
        coords={
            "trajectory": np.arange(n_traj),
            "time": (pos + np.arange(n_t)) * sample_dt,
            "dim": np.arange(dim),
        },
        attrs=attrs,
    )
    if pos == 0:
        enc = {"x": {"chunks": (min(64, n_traj), chunk, dim)}}
        ds.to_zarr(path, mode="w-", encoding=enc, consolidated=False, zarr_format=3)
    else:
        ds.to_zarr(path, append_dim="time", consolidated=False)
