"""Trajectory datasets on disk: atomic writes, lazy reads, resumable chunked generation.

* :func:`save_trajectories` writes a Dataset to zarr (``.zarr``) or netCDF (``.nc``) through a
  temporary sibling that is renamed into place, so a crash never leaves a half-written file
  where a good one was. An existing output is refused unless ``overwrite=True``.
* :func:`open_trajectories` opens a store lazily with dask; slicing a window reads only the
  chunks it touches.
* :func:`generate_to_store` integrates chunk by chunk and appends each chunk to a zarr store, so
  long runs use bounded memory and an interrupted run (even by SIGKILL) resumes where it stopped
  and ends with the same numbers as an uninterrupted run. Across ``torchrun`` ranks (one store, region
  writes): :func:`chaosbench_py.simulate.rank_generate.generate_to_store_ranks`.

Where an unfinished run lives
-----------------------------
:func:`generate_to_store` writes into a hidden sibling ``.<name>.partial`` of the output (marked
``generation_status = "incomplete"``, with ``samples_written`` / ``samples_requested``) and
renames it to the output only when every sample is in. So the output path holds either nothing,
the previous complete store, or the new complete one — never a partial run; the hidden store is
what ``resume=True`` continues, and :func:`open_trajectories` refuses it unless
``allow_incomplete=True``.
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

from ..errors import CorruptFileError, InputError, InputTypeError, MissingInputError, OutputExistsError
from ..files import atomic_store
from ..systems.base import System
from .netcdf_writer import DEFAULT_CHUNKS, NETCDF_SUFFIXES, check_chunks, chunk_shape
from .trajectories import (
    _TRANSIENT,
    _advance,
    _as_system,
    _check_noise_scale,
    add_observation_noise,
    check_generation_args,
    initial_conditions,
    iter_trajectory_chunks,
    noise_scale,
    resolve_sampling,
    trajectory_attrs,
)

logger = logging.getLogger(__name__)

ZARR_SUFFIXES = (".zarr",)
INCOMPLETE, COMPLETE = "incomplete", "complete"

# generate_to_store's keyword arguments (those of generate_trajectories it supports) and defaults
_GENERATE_OPTIONS: dict[str, Any] = {
    "pts_per_period": None,
    "pts_per_lyapunov": None,
    "sample_dt": None,
    "transient": 10.0,
    "noise": 0.0,
    "seed": 0,
    "ic_spread": 1e-6,
    "method": "dop853",
    "rtol": 1e-9,
    "atol": 1e-9,
    "dt": None,
}


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in ZARR_SUFFIXES:
        return "zarr"
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"
    raise InputError(
        f"{path}: unknown format {suffix or '(no suffix)'!r}; use a .zarr directory or a .nc file"
    )


def partial_path(path: str | os.PathLike) -> Path:
    """The hidden in-progress store of a :func:`generate_to_store` run writing ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def _encoding(ds: xr.Dataset, chunks: dict[str, int]) -> dict[str, Any]:
    enc = {}
    for name, var in ds.data_vars.items():
        enc[name] = {"chunks": chunk_shape(var.shape, var.dims, chunks)}
    return enc


def _check_trajectory_dataset(ds: Any, where: str) -> None:
    if not isinstance(ds, xr.Dataset):
        raise InputTypeError(f"{where}: expected an xarray.Dataset of trajectories; got {type(ds).__name__}")
    if "x" not in ds or ds["x"].dims != ("trajectory", "time", "dim"):
        raise InputError(
            f"{where}: not a trajectory dataset (need variable 'x' with dims (trajectory, time, dim))"
        )


def save_trajectories(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    chunks: dict[str, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a trajectory Dataset atomically to ``path`` (``.zarr`` or ``.nc``).

    ``chunks`` sets the on-disk chunking per dimension (default: 64 trajectories × 1000 time
    steps × all dims), the unit of lazy reads later. An existing ``path`` is refused
    (:class:`~chaosbench_py.errors.OutputExistsError`) unless ``overwrite=True``; then it is
    replaced only once the new one is complete.
    """
    path = Path(path)
    fmt = _format_of(path)
    _check_trajectory_dataset(ds, f"save_trajectories({path})")
    check_chunks(chunks, ds["x"].dims, f"save_trajectories({path})")
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists; pass overwrite=True (--overwrite) to replace it, or choose another path"
        )
    chunks = chunks or DEFAULT_CHUNKS
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


def open_trajectories(
    path: str | os.PathLike,
    *,
    chunks: dict[str, int] | str | None = "auto",
    allow_incomplete: bool = False,
) -> xr.Dataset:
    """Open a trajectory store lazily (dask-backed); nothing is read until values are used.

    Raises :class:`~chaosbench_py.errors.MissingInputError` for a missing path (naming the hidden
    unfinished run when there is one), :class:`~chaosbench_py.errors.CorruptFileError` when the
    store cannot be read, and :class:`~chaosbench_py.errors.InputError` when it is not a trajectory
    dataset (no variable ``x`` with dims ``(trajectory, time, dim)``) or is an unfinished
    :func:`generate_to_store` run. ``allow_incomplete=True`` opens an unfinished run (the samples
    written so far; ``path`` may name the output, then its hidden ``.partial`` store is opened).
    """
    path = Path(path)
    fmt = "zarr" if path.name.endswith(".partial") else _format_of(path)
    if not path.exists():
        partial = partial_path(path)
        if partial.exists() and allow_incomplete:
            path, fmt = partial, "zarr"
        elif partial.exists():
            raise MissingInputError(
                f"no trajectory store at {path}: an unfinished run is at {partial}; resume it with "
                "generate_to_store(..., resume=True) or `chaosbench generate --resume` "
                "(or open it with allow_incomplete=True)"
            )
        else:
            raise MissingInputError(f"no trajectory store at {path}")
    try:
        if fmt == "zarr":
            ds = xr.open_zarr(path, chunks={} if chunks == "auto" else chunks, consolidated=False)
        else:
            ds = xr.open_dataset(path, engine="netcdf4", chunks={} if chunks == "auto" else chunks)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(
            f"{path}: cannot be read as a {fmt} trajectory store ({type(exc).__name__}: {exc})"
        ) from None
    _check_trajectory_dataset(ds, str(path))
    if _is_incomplete(ds.attrs) and not allow_incomplete:
        raise InputError(
            f"{path}: unfinished run ({ds.attrs.get('samples_written')} of {ds.attrs.get('samples_requested')} "
            "samples); resume it with generate_to_store(..., resume=True) or `chaosbench generate --resume`"
        )
    if _is_incomplete(ds.attrs):
        ds = ds.isel(time=slice(0, int(ds.attrs.get("samples_written", 0))))
    for key in ("last_state", "run_identity"):
        ds.attrs.pop(key, None)
    return ds


def _is_incomplete(attrs: dict[str, Any]) -> bool:
    if attrs.get("generation_status") == INCOMPLETE:
        return True
    n_written = attrs.get("samples_written")
    return n_written is not None and int(n_written) < int(attrs.get("samples_requested", 0))


def window(ds: xr.Dataset, *, trajectory: int | slice, start: int, length: int) -> xr.DataArray:
    """A lazy window ``x[trajectory, start:start+length, :]`` of a trajectory dataset."""
    n_t = ds.sizes["time"]
    if start < 0 or length < 1 or start + length > n_t:
        raise IndexError(f"window [{start}, {start + length}) outside time axis of length {n_t}")
    return ds["x"].isel(trajectory=trajectory, time=slice(start, start + length))


def _identity_differences(stored: str | None, now: dict[str, Any]) -> list[str]:
    """What differs between a store's recorded run identity and this call's (``key: stored vs now``)."""
    try:
        old = json.loads(stored) if stored else None
    except (TypeError, ValueError):
        old = None
    if not isinstance(old, dict):
        return ["it was not written by generate_to_store (no run identity recorded)"]
    now = json.loads(json.dumps(now))  # the same types as the stored copy (tuples -> lists, NaN kept)
    keys = sorted(set(old) | set(now))
    same = lambda k: json.dumps(old.get(k)) == json.dumps(now.get(k))  # noqa: E731 - NaN equals NaN here
    return [f"{k}: {old.get(k)!r} in the store, {now.get(k)!r} now" for k in keys if not same(k)]


def _read_attrs(store: Path) -> dict[str, Any]:
    try:
        return dict(zarr.open_group(store, mode="r").attrs)
    except Exception as exc:  # noqa: BLE001 - any failure to read means: not a usable store
        raise CorruptFileError(
            f"{store}: cannot be read as a trajectory store ({type(exc).__name__}: {exc}); "
            "pass overwrite=True (--overwrite) to start over"
        ) from None


def _checked_run(
    system: System | str, n_trajectories: Any, length: Any, chunk: Any, kwargs: dict[str, Any]
) -> tuple[System, dict[str, Any], Any, dict[str, Any], dict[str, Any]]:
    """Validate a chunked generation's arguments: ``(system, args, sampling, attrs, run identity)``."""
    system = _as_system(system)
    unknown = sorted(set(kwargs) - set(_GENERATE_OPTIONS))
    if unknown:
        raise InputTypeError(
            f"generate_to_store: unexpected argument(s) {unknown}; valid options are {sorted(_GENERATE_OPTIONS)}"
        )
    opts = {**_GENERATE_OPTIONS, **kwargs}
    args = check_generation_args(
        system,
        n_trajectories=n_trajectories,
        length=length,
        chunk=chunk,
        **{k: opts[k] for k in ("transient", "ic_spread", "noise", "seed", "method", "rtol", "atol", "dt")},
    )
    n_trajectories, length, chunk = args["n_trajectories"], args["length"], args["chunk"]
    method, rtol, atol, dt = args["method"], args["rtol"], args["atol"], args["dt"]
    transient, noise, seed, ic_spread = args["transient"], args["noise"], args["seed"], args["ic_spread"]
    sampling = resolve_sampling(
        system, **{k: opts[k] for k in ("pts_per_period", "pts_per_lyapunov", "sample_dt")}
    )
    _check_noise_scale(system, noise, n_trajectories, length)
    attrs = trajectory_attrs(system, sampling, method, rtol, atol, dt, transient, noise, seed, ic_spread)
    attrs.pop("created")
    identity_dict = {k: attrs[k] for k in sorted(attrs)} | {
        "n": n_trajectories,
        "length": length,
        "chunk": chunk,
    }
    return system, args, sampling, attrs, identity_dict


def generate_to_store(
    path: str | os.PathLike,
    system: System | str,
    n_trajectories: int,
    length: int,
    *,
    chunk: int = 1000,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> Path:
    """Generate trajectories straight into a zarr store, one time chunk at a time.

    Takes the arguments of :func:`generate_trajectories` (except ``initial_condition`` and
    ``dtype``: float64, initial conditions on the attractor). Memory is bounded by one chunk (``n_trajectories × chunk × dim``). The run is
    written to a hidden in-progress store beside ``path`` and renamed to ``path`` when complete
    (see the module docstring).

    * ``path`` exists (or an unfinished run of it): refused with
      :class:`~chaosbench_py.errors.OutputExistsError`, unless
    * ``resume=True``: continue the unfinished run from its last clean state (the numbers end
      identical to an uninterrupted run), or return at once when ``path`` is already the complete
      result of these arguments. A store made with other arguments (or not by this function) is
      refused before it is touched, naming what differs.
    * ``overwrite=True``: start over; an existing ``path`` is replaced only when the new run is
      complete.

    Raises
    ------
    InputError, InputTypeError, UnknownNameError
        Bad arguments (named), checked before anything is integrated or written.
    SimulationDivergedError
        A trajectory blows up (system, parameters, time and trajectory named); what was written
        so far stays resumable.
    """
    from tqdm.auto import tqdm

    from .. import __version__

    path = Path(path)
    if _format_of(path) != "zarr":
        raise InputError(
            f"{path}: chunked generation writes zarr; use a .zarr path (or save_trajectories for .nc)"
        )
    if resume and overwrite:
        raise InputError(f"{path}: pass resume=True or overwrite=True, not both")
    system, args, sampling, attrs, identity_dict = _checked_run(system, n_trajectories, length, chunk, kwargs)
    n_trajectories, length, chunk = args["n_trajectories"], args["length"], args["chunk"]
    method, rtol, atol, dt = args["method"], args["rtol"], args["atol"], args["dt"]
    transient, noise, seed, ic_spread = args["transient"], args["noise"], args["seed"], args["ic_spread"]
    identity = json.dumps(identity_dict)
    partial = partial_path(path)

    # Decide what to do before touching anything on disk.
    continuing = False
    if partial.exists():
        if overwrite:
            shutil.rmtree(partial)
        elif not resume:
            raise OutputExistsError(
                f"an unfinished run for {path} exists ({partial}); pass resume=True (--resume) to continue "
                "it, or overwrite=True (--overwrite) to start over"
            )
        else:
            meta = _read_attrs(partial)
            diff = _identity_differences(meta.get("run_identity"), identity_dict)
            if diff:
                raise InputError(
                    f"cannot resume {partial} with different arguments: {'; '.join(diff)} "
                    "(pass overwrite=True to start over)"
                )
            continuing = True
    if path.exists() and not continuing:
        if resume:
            meta = _read_attrs(path)
            diff = _identity_differences(meta.get("run_identity"), identity_dict)
            if diff:
                raise InputError(
                    f"cannot resume {path} with these arguments: {'; '.join(diff)} (pass overwrite=True to replace it)"
                )
            if not _is_incomplete(meta):
                logger.info("%s is complete; nothing to do", path)
                return path
            raise CorruptFileError(
                f"{path} is an unfinished run of an older layout; pass overwrite=True (--overwrite) to start over"
            )
        if not overwrite:
            raise OutputExistsError(
                f"{path} exists; pass overwrite=True (--overwrite) to replace it, or resume=True"
            )
    if continuing and path.exists() and not meta.get("replaces_existing"):
        raise OutputExistsError(
            f"{path} exists and the unfinished run {partial} was not started to replace it; "
            "pass overwrite=True (--overwrite) to start over"
        )
    for stale in path.parent.glob(f".{partial.name}.*"):  # temporary folders of a killed first block
        shutil.rmtree(stale, ignore_errors=True)

    if continuing:
        start = int(meta["samples_written"])
        x = torch.tensor(meta["last_state"], dtype=torch.float64, device=device)
        std = np.asarray(meta["noise_std"], dtype=np.float64)
        t_start = float(meta["time_offset"])
        if start < length:
            _truncate(partial, start)  # drop any partial block written after the last consistent point
            logger.info("resuming %s at sample %d of %d", partial, start, length)
    else:
        start = 0
        gen = torch.Generator().manual_seed(seed)
        x = initial_conditions(system, n_trajectories, ic_spread=ic_spread, generator=gen, device=device)
        n_transient = int(round(transient * sampling.unit_length / sampling.sample_dt))
        if n_transient > 0:
            x = _advance(system, x, 0.0, n_transient, sampling, method, rtol, atol, dt, label=_TRANSIENT)[
                :, -1
            ]
        std = None
        t_start = n_transient * sampling.sample_dt
        meta = {
            **attrs,
            "run_identity": identity,
            "generation_status": INCOMPLETE,
            "samples_requested": length,
            "time_offset": float(t_start),
            "chaosbench_py_version": __version__,
            "samples_written": 0,
            "replaces_existing": bool(overwrite),
        }

    bar = tqdm(total=length, initial=start, desc=system.name, unit="sample", disable=not progress)
    t0 = t_start + ((start - 1) * sampling.sample_dt if start > 0 else 0.0)
    chunks_iter = iter_trajectory_chunks(
        system,
        x,
        max(1, length - start + (1 if start > 0 else 0)),
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
        _append_block(partial, data, pos, sampling.sample_dt, system.dim, chunk, meta)
        meta.update(samples_written=pos + data.shape[1], last_state=clean[:, -1].tolist())
        zarr.open_group(partial, mode="a").attrs.update(
            {"samples_written": meta["samples_written"], "last_state": meta["last_state"]}
        )
        bar.update(data.shape[1])
    bar.close()
    _publish(partial, path, overwrite or bool(meta.get("replaces_existing")))
    return path


def _publish(partial: Path, path: Path, replace: bool) -> None:
    """Mark the finished in-progress store complete and rename it to ``path`` (replacing the old
    output, moved aside first, when ``replace``)."""
    zarr.open_group(partial, mode="a").attrs.update({"generation_status": COMPLETE})
    old = path.with_name(f".{path.name}.replaced")
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        if not replace:
            raise OutputExistsError(
                f"{path} appeared while generating; the finished run is kept at {partial}"
            )
        os.replace(path, old)
    os.replace(partial, path)
    if old.exists():
        shutil.rmtree(old)
    logger.info("wrote %s", path)


def _truncate(path: Path, n_time: int) -> None:
    """Cut ``x`` and ``time`` back to the ``n_time`` committed samples (each on its own: a kill
    inside an append may have grown one of them and not the other)."""
    root = zarr.open_group(path, mode="a")
    x, t = root["x"], root["time"]
    if x.shape[1] != n_time:
        logger.warning("%s: dropping %d samples of an interrupted block", path, x.shape[1] - n_time)
        x.resize((x.shape[0], n_time, x.shape[2]))
    if t.shape[0] != n_time:
        t.resize((n_time,))


def _append_block(
    path: Path, data: np.ndarray, pos: int, sample_dt: float, dim: int, chunk: int, attrs: dict[str, Any]
) -> None:
    """Append samples ``data`` (B, T, D) starting at time index ``pos`` to the store at ``path``;
    the first block creates the store beside it and renames it into place (so the store exists
    only once it holds its first sample and its attributes)."""
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
        with atomic_store(path) as tmp:
            ds.to_zarr(tmp, mode="w-", encoding=enc, consolidated=False, zarr_format=3)
    else:
        ds.to_zarr(path, append_dim="time", consolidated=False)
