"""Trajectory generation split across ``torchrun`` ranks (or dask workers) into one zarr store, by region
writes.

:func:`generate_to_store_ranks` cuts the ``n_trajectories`` initial conditions into blocks of
``trajectory_chunk`` consecutive trajectories (the store's chunk along ``trajectory``); rank ``r`` of ``W``
integrates the ``r``-th contiguous share of the blocks (:func:`chaosbench_py.ranks.contiguous_share`),
each block as one batch, time chunk by time chunk, and writes each time chunk of a block with
``to_zarr(region={"trajectory": …, "time": …})`` into one store. Only the process owning a block writes
its chunks, so no zarr chunk is ever written by two processes.

Same numbers on any number of ranks:

* initial conditions: every rank draws all ``n_trajectories`` of them exactly as
  :func:`~chaosbench_py.simulate.generate_to_store` does (one ``torch.Generator`` seeded by ``seed``) and
  takes its rows, so a trajectory's start does not depend on which rank computes it;
* a block is integrated as one batch (the transient, then ``chunk`` samples per solver call): the
  adaptive solvers take one step size for a whole batch (max error norm over it), so the block, not the
  rank, is the unit — 1 rank and 8 ranks give identical floats, and with ``trajectory_chunk >=
  n_trajectories`` the store equals ``generate_to_store``'s;
* observation noise of time chunk ``k`` comes from ``default_rng([seed, k])`` drawn for all trajectories
  (rows taken), as in :func:`~chaosbench_py.simulate.trajectories.add_observation_noise`.

Resumable: rank 0 writes the template of the hidden in-progress store ``.<name>.partial`` (the one
:func:`~chaosbench_py.simulate.generate_to_store` uses; metadata and coordinates only, ``compute=False``),
each block records after every written time chunk its progress row ``[samples written, last clean state]``
in the array ``block_progress`` (one chunk per block: replaced atomically), and a restarted job continues
each block from its last row, on any number of ranks. When every block is complete rank 0 drops the
progress array, marks the store complete and renames it to ``path``.

:func:`generate_to_store_dask` runs the same blocks as tasks on a ``dask.distributed`` cluster (this
process writes the template and publishes; same numbers, same store, same resume).
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

from ..errors import InputError, OutputExistsError
from ..files import atomic_store
from ..ranks import RankContext, contiguous_share
from ..systems.base import System
from .store import (
    INCOMPLETE,
    _checked_run,
    _format_of,
    _identity_differences,
    _is_incomplete,
    _publish,
    _read_attrs,
    partial_path,
)
from .trajectories import _TRANSIENT, _advance, initial_conditions, iter_trajectory_chunks, noise_scale

logger = logging.getLogger(__name__)

__all__ = ["generate_to_store_dask", "generate_to_store_ranks"]

PROGRESS = "block_progress"


def _noise_rows(data: np.ndarray, noise: float, std: np.ndarray, seed: int, *, start: int, chunk: int,
                rows: slice, n_total: int) -> np.ndarray:  # fmt: skip
    """Rows ``rows`` of :func:`~chaosbench_py.simulate.trajectories.add_observation_noise` applied to all
    ``n_total`` trajectories: ``data`` (rows, T, D) from time index ``start`` plus ``noise · std · ε``."""
    if noise == 0:
        return data
    out = np.empty_like(data)
    n_t, pos = data.shape[1], 0
    while pos < n_t:
        k, offset = divmod(start + pos, chunk)
        take = min(chunk - offset, n_t - pos)
        rng = np.random.default_rng([seed, k])
        eps = rng.standard_normal((n_total, chunk, data.shape[2]))[rows, offset : offset + take]
        out[:, pos : pos + take] = data[:, pos : pos + take] + noise * std * eps
        pos += take
    return out


class _Run:
    """The arguments of one ranked generation and its in-progress store."""

    def __init__(self, path: Path, system: System, args: dict[str, Any], sampling: Any, attrs: dict[str, Any],
                 identity: dict[str, Any], trajectory_chunk: int, device: torch.device) -> None:  # fmt: skip
        self.path, self.partial, self.system, self.sampling = path, partial_path(path), system, sampling
        self.args, self.attrs, self.identity, self.device = args, attrs, identity, device
        self.n, self.length, self.chunk = args["n_trajectories"], args["length"], args["chunk"]
        self.tc = trajectory_chunk
        self.n_blocks = -(-self.n // self.tc)
        self.n_transient = int(round(args["transient"] * sampling.unit_length / sampling.sample_dt))
        self.t_start = self.n_transient * sampling.sample_dt
        has_std = system.info.std is not None and len(system.info.std) == system.dim
        self.std = noise_scale(system, np.zeros((1, 1, system.dim))) if has_std else None

    def rows(self, b: int) -> slice:
        return slice(b * self.tc, min((b + 1) * self.tc, self.n))

    def solver(self) -> tuple[str, float, float, float | None]:
        return self.args["method"], self.args["rtol"], self.args["atol"], self.args["dt"]

    # ------------------------------------------------------------------ rank 0: decide, template, publish
    def prepare(self, *, resume: bool, overwrite: bool) -> np.ndarray | None:
        """Check what is on disk and make the template; return samples written per block, or None when
        ``path`` is already the complete result (resume)."""
        from .. import __version__

        continuing, meta = False, {}
        if self.partial.exists():
            if overwrite:
                shutil.rmtree(self.partial)
            elif not resume:
                raise OutputExistsError(
                    f"an unfinished run for {self.path} exists ({self.partial}); pass resume=True (--resume) to "
                    "continue it, or overwrite=True (--overwrite) to start over"
                )
            else:
                meta = _read_attrs(self.partial)
                diff = _identity_differences(meta.get("run_identity"), self.identity)
                if diff:
                    raise InputError(f"cannot resume {self.partial} with different arguments: {'; '.join(diff)} "
                                     "(pass overwrite=True to start over)")  # fmt: skip
                continuing = True
        if self.path.exists() and not continuing:
            if resume:
                meta = _read_attrs(self.path)
                diff = _identity_differences(meta.get("run_identity"), self.identity)
                if diff:
                    raise InputError(f"cannot resume {self.path} with these arguments: {'; '.join(diff)} "
                                     "(pass overwrite=True to replace it)")  # fmt: skip
                if not _is_incomplete(meta):
                    logger.info("%s is complete; nothing to do", self.path)
                    return None
            if not overwrite:
                raise OutputExistsError(
                    f"{self.path} exists; pass overwrite=True (--overwrite) to replace it, or resume=True"
                )
        if continuing and self.path.exists() and not meta.get("replaces_existing"):
            raise OutputExistsError(f"{self.path} exists and the unfinished run {self.partial} was not started "
                                    "to replace it; pass overwrite=True (--overwrite) to start over")  # fmt: skip
        for stale in self.path.parent.glob(f".{self.partial.name}.*"):  # temporaries of a killed template
            shutil.rmtree(stale, ignore_errors=True)
        if continuing:
            return self.progress()[:, 0].astype(np.int64)
        meta = {
            **self.attrs,
            "run_identity": json.dumps(self.identity),
            "generation_status": INCOMPLETE,
            "samples_requested": self.length,
            "time_offset": float(self.t_start),
            "chaosbench_py_version": __version__,
            "samples_written": 0,
            "replaces_existing": bool(overwrite and self.path.exists()),
        }
        self._template(meta)
        return np.zeros(self.n_blocks, dtype=np.int64)

    def _template(self, meta: dict[str, Any]) -> None:
        import dask.array as da

        dim = self.system.dim
        x_chunks = (min(self.tc, self.n), min(self.chunk, self.length), dim)
        ds = xr.Dataset(
            {
                "x": (("trajectory", "time", "dim"), da.zeros((self.n, self.length, dim), chunks=x_chunks)),
                PROGRESS: (("block", "progress"), np.zeros((self.n_blocks, 1 + self.tc * dim))),
            },
            coords={
                "trajectory": np.arange(self.n),
                "time": np.arange(self.length) * self.sampling.sample_dt,
                "dim": np.arange(dim),
            },
            attrs=meta,
        )
        enc = {"x": {"chunks": x_chunks}, PROGRESS: {"chunks": (1, 1 + self.tc * dim)}}
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        with atomic_store(self.partial) as tmp:  # metadata and coordinates; no chunk of x is written
            ds.to_zarr(tmp, mode="w-", encoding=enc, compute=False, consolidated=False, zarr_format=3)

    def progress(self) -> np.ndarray:
        """``(n_blocks, 1 + trajectory_chunk · dim)``: samples written, then the last clean state."""
        root = zarr.open_group(self.partial, mode="r")
        if int(root.attrs.get("samples_written", 0)) >= self.length:
            out = np.zeros((self.n_blocks, 1 + self.tc * self.system.dim))
            out[:, 0] = self.length  # committed whole by publish(); the progress array may be gone
            return out
        return np.nan_to_num(np.asarray(root[PROGRESS][:], dtype=np.float64))

    def publish(self) -> bool:
        """All blocks complete: commit, drop the progress array, rename to ``path``. Else False."""
        prog = self.progress()
        if not np.all(prog[:, 0] >= self.length):
            return False
        root = zarr.open_group(self.partial, mode="r+")
        if int(root.attrs.get("samples_written", 0)) < self.length:
            last = np.concatenate([prog[b, 1:].reshape(self.tc, -1)[: self.rows(b).stop - self.rows(b).start]
                                   for b in range(self.n_blocks)])  # fmt: skip
            std = self.std if self.std is not None else noise_scale(self.system, np.asarray(root["x"][:, :1]))
            root.attrs.update({"samples_written": self.length, "last_state": last.tolist(),
                               "noise_std": np.asarray(std).tolist()})  # fmt: skip
        if PROGRESS in root:
            del root[PROGRESS]
        meta = dict(root.attrs)
        _publish(self.partial, self.path, bool(meta.get("replaces_existing")))
        return True

    # ------------------------------------------------------------------ any rank: one block
    def initial_conditions(self) -> torch.Tensor:
        """All ``n_trajectories`` initial conditions, drawn as :func:`generate_to_store` draws them."""
        gen = torch.Generator().manual_seed(self.args["seed"])
        return initial_conditions(
            self.system, self.n, ic_spread=self.args["ic_spread"], generator=gen, device=self.device
        )

    def run_block(self, b: int, written: int, x0: Any, progress: Any = None) -> int:
        """Integrate block ``b`` from sample ``written`` (0: from ``x0``, its rows of the initial
        conditions) to the end; return ``b``."""
        rows = self.rows(b)
        method, rtol, atol, dt = self.solver()
        sdt, seed, noise = self.sampling.sample_dt, self.args["seed"], self.args["noise"]
        if written > 0:
            last = self.progress()[b, 1:].reshape(self.tc, -1)[: rows.stop - rows.start]
            x = torch.tensor(last, dtype=torch.float64, device=self.device)
            start = written
        else:
            x = torch.as_tensor(x0, dtype=torch.float64, device=self.device)
            if self.n_transient > 0:
                x = _advance(self.system, x, 0.0, self.n_transient, self.sampling, method, rtol, atol, dt,
                             label=_TRANSIENT)[:, -1]  # fmt: skip
            start = 0
        t0 = self.t_start + ((start - 1) * sdt if start > 0 else 0.0)
        n_left = max(1, self.length - start + (1 if start > 0 else 0))
        std = self.std if self.std is not None else np.zeros(self.system.dim)
        arr = zarr.open_group(self.partial, mode="r+")[PROGRESS]
        for rel, block in iter_trajectory_chunks(self.system, x, n_left, self.sampling, chunk=self.chunk, t0=t0,
                                                 method=method, rtol=rtol, atol=atol, dt=dt):  # fmt: skip
            if start > 0 and rel == 0:
                continue  # the resumed state itself was written already
            pos = start + rel - (1 if start > 0 else 0)
            clean = block.cpu().numpy()
            data = _noise_rows(
                clean, noise, std, seed, start=pos, chunk=self.chunk, rows=rows, n_total=self.n
            )
            part = xr.Dataset({"x": (("trajectory", "time", "dim"), data)})
            region = {
                "trajectory": rows,
                "time": slice(pos, pos + data.shape[1]),
                "dim": slice(0, self.system.dim),
            }
            part.to_zarr(self.partial, region=region, mode="r+", consolidated=False)
            row = np.zeros(1 + self.tc * self.system.dim)
            row[0] = pos + data.shape[1]
            row[1 : 1 + clean[:, -1].size] = clean[:, -1].ravel()
            arr[b] = row  # the commit of this time chunk of block b
            if progress is not None:
                progress(data.shape[1] * data.shape[0])
        return b


def _make_run(path: Any, system: Any, n_trajectories: Any, length: Any, chunk: Any, trajectory_chunk: Any,
              resume: bool, overwrite: bool, kwargs: dict[str, Any], device: torch.device) -> _Run:  # fmt: skip
    """Validate the arguments of a block-wise generation (nothing touched on disk yet)."""
    path = Path(path)
    if _format_of(path) != "zarr":
        raise InputError(f"{path}: generation across ranks or workers writes zarr; use a .zarr path")
    if resume and overwrite:
        raise InputError(f"{path}: pass resume=True or overwrite=True, not both")
    if (
        isinstance(trajectory_chunk, bool)
        or not isinstance(trajectory_chunk, int | np.integer)
        or trajectory_chunk < 1
    ):
        raise InputError(f"trajectory_chunk={trajectory_chunk!r}: must be an integer ≥ 1")
    system, args, sampling, attrs, identity = _checked_run(system, n_trajectories, length, chunk, kwargs)
    identity = identity | {"trajectory_chunk": int(trajectory_chunk)}
    run = _Run(path, system, args, sampling, attrs, identity, int(trajectory_chunk), device)
    if args["noise"] > 0 and run.std is None:
        raise InputError(
            f"{system.name}: noise > 0 across ranks or workers needs the catalog's attractor std (this system has none, so "
            "the noise scale would be a statistic of all trajectories); generate it with generate_to_store"
        )
    return run


def generate_to_store_ranks(
    path: str | os.PathLike,
    system: System | str,
    n_trajectories: int,
    length: int,
    *,
    chunk: int = 1000,
    trajectory_chunk: int = 64,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    device: torch.device | str | None = None,
    ranks: RankContext | None = None,
    **kwargs: Any,
) -> Path:
    """Generate ``n_trajectories × length`` samples into the zarr store ``path``, split over the ranks.

    Call it on every rank with the same arguments (under ``torchrun``; in one process it is rank 0 of
    1). Takes the arguments of :func:`~chaosbench_py.simulate.generate_to_store` (``resume``,
    ``overwrite``, the sampling, solver, noise and seed options; the store's variable ``x`` has dims
    ``(trajectory, time, dim)``, float64, in the system's units) plus:

    Args:
        trajectory_chunk: trajectories per block — integrated as one batch, the unit of work split over
            the ranks and the store's chunk along ``trajectory`` (module docstring: why the numbers are
            the same for any number of ranks).
        device: ``None``/``"auto"``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
        ranks: the rank context (default: from ``torchrun``'s environment).

    Raises:
        InputError: bad arguments (named), or ``noise > 0`` for a system without a catalog attractor
            std (its noise scale would be a statistic over all trajectories); OutputExistsError,
            InputError: an existing output or unfinished run (as ``generate_to_store``), on every rank.
    """
    from tqdm.auto import tqdm

    ctx = ranks if ranks is not None else RankContext.from_env()
    try:
        run = _make_run(path, system, n_trajectories, length, chunk, trajectory_chunk, resume, overwrite, kwargs,
                        ctx.device(device))  # fmt: skip
        system = run.system
        written = ctx.main_decides(lambda: run.prepare(resume=resume, overwrite=overwrite))
        if written is None:
            return run.path
        mine = [b for b in contiguous_share(run.n_blocks, ctx.world, ctx.rank) if written[b] < run.length]
        x0_all = run.initial_conditions() if any(written[b] == 0 for b in mine) else None
        total = sum((run.length - int(written[b])) * (run.rows(b).stop - run.rows(b).start) for b in mine)
        bar = tqdm(total=total, desc=f"{system.name} rank {ctx.rank}", unit="sample", disable=not progress)
        for b in mine:
            run.run_block(b, int(written[b]), None if x0_all is None else x0_all[run.rows(b)], bar.update)
        bar.close()
        ctx.barrier()
        if not ctx.main_decides(run.publish):
            raise InputError(
                f"{path}: some trajectory blocks are unfinished (a rank failed); rerun with resume=True"
            )
        return run.path
    finally:
        if (
            ranks is None
        ):  # the group this call created: destroyed, so no rank exits with gloo threads running
            ctx.close()


def _dask_block(run: _Run, b: int, written: int, x0: np.ndarray | None) -> int:
    """One block on a dask worker (one thread: the worker's process runs one task at a time)."""
    torch.set_num_threads(1)
    return run.run_block(b, written, x0)


def generate_to_store_dask(
    path: str | os.PathLike,
    system: System | str,
    n_trajectories: int,
    length: int,
    *,
    client: Any,
    chunk: int = 1000,
    trajectory_chunk: int = 64,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    **kwargs: Any,
) -> Path:
    """:func:`generate_to_store_ranks` with the blocks run as tasks on the workers of a
    ``distributed.Client`` (``client``), CPU only: this process writes the template (and draws the
    initial conditions), each task integrates one block and writes its regions, and this process
    publishes the store when every task is done. The same numbers as on any number of ranks; the
    store path must be on a file system every worker sees. A resumed run submits only the unfinished
    blocks (each continues from its last written chunk).
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    run = _make_run(path, system, n_trajectories, length, chunk, trajectory_chunk, resume, overwrite, kwargs,
                    torch.device("cpu"))  # fmt: skip
    written = run.prepare(resume=resume, overwrite=overwrite)
    if written is None:
        return run.path
    todo = [b for b in range(run.n_blocks) if written[b] < run.length]
    x0_all = run.initial_conditions().numpy() if any(written[b] == 0 for b in todo) else None
    futures = [
        client.submit(
            _dask_block,
            run,
            b,
            int(written[b]),
            None if x0_all is None else x0_all[run.rows(b)],
            pure=False,
            key=f"chaosbench-generate-{run.path.name}-block{b}-{os.getpid()}",
        )  # fmt: skip
        for b in todo
    ]
    bar = tqdm(total=len(todo), desc=f"{run.system.name} blocks", unit="block", disable=not progress)
    for fut in as_completed(futures):
        fut.result()  # a failed block raises here (its finished chunks stay; resume continues them)
        bar.update(1)
    bar.close()
    if not run.publish():
        raise InputError(f"{run.path}: some trajectory blocks are unfinished; rerun with resume=True")
    return run.path
