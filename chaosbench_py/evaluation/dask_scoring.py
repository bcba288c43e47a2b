"""Scorecards on a dask.distributed cluster, with the numbers of one process, bit for bit.

:func:`physics_metrics.weather.scorecard` walks over blocks of ``block`` inits (32 by default) per variable
and adds each piece's contributions (per-init sums for WB2, per-block values for ChaosBench) in order.
Here every ``(variable, block)`` pair is one task on the cluster
(:func:`physics_metrics.weather.scorecard.score_blocks`); the driver adds the returned contributions up in
the same order (:func:`~physics_metrics.weather.scorecard.assemble_scorecard`), so the floating-point
operations, and therefore the scorecards, are those of one process — identical, not just close — for both
conventions and every score the scorecard supports. (One cost of the split: a truth day verified by two
consecutive blocks is read by both tasks, where one process reads it once — with 32-init blocks and 44
leads, about 1.6× the truth reads; the forecast, by far the larger input, is read once.)

What travels to the workers: the lazy (zarr-backed) forecast and truth datasets — their dask graphs hold
the store paths, and each worker reads its own pieces from the stores (with dask's synchronous scheduler
inside the task) — and, scattered once, any in-memory input: a climatology (a lazily computed one below
:data:`COMPUTE_BELOW` is computed once first; a store-backed one stays lazy) and the climatology reference
forecast, which is in memory here as in one process (inits × leads × grid). Memory per worker: one piece of
``max_chunk_mb`` (128 MB by default) of the forecast plus the truth days it verifies on, plus those
in-memory inputs. Progress: a tqdm bar on a terminal and a log line per 5 % of finished tasks. The workers
must import this package (same version): a ``LocalCluster`` does; a remote cluster needs it installed, and
its first task per worker pays the import (torch included, seconds).

* :func:`dask_client` — a ``distributed.Client`` from a spec: ``local:N`` (a ``LocalCluster`` of N worker
  processes with 1 thread each), ``tcp://HOST:PORT`` (a running scheduler), ``scheduler-file:PATH`` (the
  file ``dask scheduler --scheduler-file PATH`` writes, e.g. under SLURM: ``scripts/slurm_evaluate.sh``).
* :func:`scorecard_dask` — :func:`~physics_metrics.weather.scorecard` on a cluster.
* :func:`evaluate_weather_dask` — :func:`~chaosbench_py.evaluation.evaluate_weather` (model, persistence
  and climatology scorecards) on a cluster, all their tasks submitted at once.
* :func:`per_init_scores_dask`, :func:`score_uncertainty_dask` — the per-init scores, intervals and paired
  tests of :mod:`~chaosbench_py.evaluation.uncertainty` with the per-init scores computed on the cluster
  (tasks of 16 inits, the blocks of :func:`~physics_metrics.weather.per_init_scores`).

``chaosbench evaluate RUN --out OUT --dask local:2`` uses them (:func:`~chaosbench_py.evaluation.evaluate_run`
with ``dask=``); ``dask.distributed`` is the optional extra ``pip install chaosbench-py[distributed]``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from physics_metrics.weather import (
    climatology_forecast,
    per_init_scores,
    persistence_forecast,
)
from physics_metrics.weather.scorecard import assemble_scorecard, score_blocks, scorecard_plan

from ..errors import InputError, InputTypeError
from .evaluate import weather_scoring_jobs
from .uncertainty import write_score_uncertainty

logger = logging.getLogger(__name__)

__all__ = [
    "dask_client",
    "evaluate_weather_dask",
    "parse_dask_spec",
    "per_init_scores_dask",
    "score_uncertainty_dask",
    "scorecard_dask",
]

_INSTALL = "pip install chaosbench-py[distributed]"
#: Dask-backed climatologies smaller than this (bytes) are computed once and scattered to the workers.
COMPUTE_BELOW = 2**30
#: Inits per task of the per-init scores (the block of ``per_init_scores``: the same arrays per call).
PER_INIT_BLOCK = 16


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - the dev environment has it
        raise ImportError(f"scoring on a dask cluster needs dask.distributed: {_INSTALL}") from err
    return distributed


def parse_dask_spec(spec: str) -> tuple[str, Any]:
    """``("local", N)``, ``("address", "tcp://HOST:PORT")`` or ``("scheduler-file", Path)`` from a spec;
    anything else is an :class:`~chaosbench_py.errors.InputError` naming the spec and the accepted forms."""
    forms = "expected local:N, tcp://HOST:PORT (or tls://) or scheduler-file:PATH"
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"--dask {spec!r}: {forms}")
    spec = spec.strip()
    if spec.startswith("local:"):
        n = spec[len("local:") :]
        if not n.isdigit() or int(n) < 1:
            raise InputError(f"--dask {spec!r}: local:N needs a number of workers N ≥ 1; {forms}")
        return "local", int(n)
    if spec.startswith("scheduler-file:"):
        path = spec[len("scheduler-file:") :]
        if not path:
            raise InputError(f"--dask {spec!r}: scheduler-file: needs a path; {forms}")
        return "scheduler-file", Path(path)
    if re.fullmatch(r"(tcp|tls)://[^\s:/]+:\d{1,5}", spec):
        return "address", spec
    raise InputError(f"--dask {spec!r}: {forms}")


@contextlib.contextmanager
def dask_client(spec: str, *, timeout: float = 5.0, memory_limit: str | int | None = "auto") -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (:func:`parse_dask_spec`), closed (with its ``LocalCluster``)
    on exit.

    ``local:N`` starts N worker processes with 1 thread each (``memory_limit`` per worker, e.g. ``"4GiB"``;
    dask pauses and restarts a worker above it); an address or scheduler file that does not answer within
    ``timeout`` seconds is an :class:`~chaosbench_py.errors.InputError` naming it.
    """
    kind, value = parse_dask_spec(spec)
    distributed = _distributed()
    with _quiet_distributed():
        with _connect(distributed, spec, kind, value, timeout, memory_limit) as client:
            n = len(client.scheduler_info().get("workers", {}))
            logger.info("dask: connected to %s (%d workers)", client.scheduler.address, n)
            yield client


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed's INFO lines (cluster start, every connection) only when this package logs at INFO too
    (``chaosbench -v``); its warnings and errors always."""
    log = logging.getLogger("distributed")
    old = log.level
    if logger.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(old)


@contextlib.contextmanager
def _connect(distributed, spec, kind, value, timeout, memory_limit) -> Iterator[Any]:
    cluster = None
    if kind == "local":
        cluster = distributed.LocalCluster(
            n_workers=value,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
        )
        client = distributed.Client(cluster)
    else:
        if kind == "scheduler-file" and not value.is_file():
            raise InputError(
                f"--dask {spec}: no scheduler file at {value} (start `dask scheduler "
                f"--scheduler-file {value}` first)"
            )
        where = f"{value}" if kind == "address" else f"the scheduler of {value}"
        try:
            if kind == "address":
                client = distributed.Client(value, timeout=timeout)
            else:
                client = distributed.Client(scheduler_file=str(value), timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise InputError(
                f"--dask {spec}: no dask scheduler answered at {where} within {timeout:g} s "
                f"({type(err).__name__}: {err})"
            ) from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------------------ tasks
def _score_task(
    plan, forecast, truth, climatology, climatology_std, variable, start, stop
) -> dict[str, list]:
    import dask

    with dask.config.set(scheduler="synchronous"):  # read this task's pieces here, one thread
        return score_blocks(plan, forecast, truth, climatology, climatology_std, variable, slice(start, stop))


def _per_init_task(forecast: xr.Dataset, truth: xr.Dataset, climatology: xr.Dataset | None) -> xr.Dataset:
    import dask

    with dask.config.set(scheduler="synchronous"):
        return per_init_scores(forecast, truth, climatology, block=PER_INIT_BLOCK).load()


def _remote(client: Any, obj: Any, cache: dict[int, Any]) -> Any:
    """``obj`` scattered to the cluster once (``cache``: ``id → future``); lazy datasets travel as their
    graphs (the store paths), in-memory ones as data, to the workers that need them."""
    if obj is None:
        return None
    if id(obj) not in cache:
        [cache[id(obj)]] = client.scatter([obj], hash=False)
        cache[-id(obj)] = obj  # keep obj alive so that its id stays unique while the cache lives
    return cache[id(obj)]


_READ_LAYERS = ("original-", "open_dataset-", "getitem-", "transpose-", "rechunk-", "xarray-")


def _nothing_computed(da: xr.DataArray) -> bool:
    """True for a dask array that only reads (and indexes) an opened store or chunks values in memory:
    every graph layer is the store's (``original-``/``open_dataset-``), indexing, or ``xarray-`` chunks."""
    layers = [str(k) for k in getattr(getattr(da.data, "dask", None), "layers", {})]
    return all(k.startswith(_READ_LAYERS) for k in layers)


def _in_memory(ds: xr.Dataset | None, limit: int = COMPUTE_BELOW) -> xr.Dataset | None:
    """``ds`` computed once (on the cluster, then scattered) when some variable is a dask computation
    (a lazily computed climatology, which every task would otherwise recompute) and ``ds`` is smaller than
    ``limit`` bytes; else ``ds`` itself (e.g. a store-backed climatology: each task reads its days).
    The computed variables keep their chunks (dask arrays over the values in memory), so that functions
    that reduce with dask (``per_init_scores``) add up in the same order as on the lazy input."""
    if ds is None:
        return None
    computed = [v for v in ds.data_vars if ds[v].chunks is not None and not _nothing_computed(ds[v])]
    if not computed:
        return ds
    if ds.nbytes >= limit:
        logger.warning("dask scoring: %s are lazy computations of %.1f GB (above %.1f GB): every task "
                       "recomputes the parts it needs; compute or store them first", computed, ds.nbytes / 1e9,
                       limit / 1e9)  # fmt: skip
        return ds
    out = ds.compute()
    for v in computed:  # the same chunks over the computed values: the same dask reductions downstream
        out[v] = out[v].chunk(ds[v].chunksizes)
    return out


def _gather(client: Any, futures: Mapping[Any, Any], what: str) -> dict[Any, Any]:
    """``{key: result}`` of ``futures``, shown as they finish (a tqdm bar on a terminal's stderr, and a log
    line per 5 % of the tasks); a task's error is raised here, with its own class and message."""
    from tqdm import tqdm

    distributed = _distributed()
    by_future = {f: k for k, f in futures.items()}
    out, n = {}, len(futures)
    step = max(1, n // 20)
    done = distributed.as_completed(list(futures.values()))
    with tqdm(total=n, desc=f"dask {what}", unit="task", disable=None) as bar:
        for i, fut in enumerate(done, start=1):
            out[by_future[fut]] = fut.result()
            bar.update()
            if i % step == 0 or i == n:
                logger.info("dask %s: %d/%d tasks done (last: %s)", what, i, n, by_future[fut])
    return out


def _check_client(client: Any) -> Any:
    distributed = _distributed()
    if not isinstance(client, distributed.Client):
        raise InputTypeError(f"client: expected a distributed.Client, got {type(client).__name__}")
    return client


def _submit_card(
    client, forecast, truth, climatology, climatology_std, blocks_per_task, tag, cache, **kwargs
):
    """Plan one scorecard on the driver (all argument checks) and submit its tasks: ``(plan, forecast, futures)``."""
    if isinstance(blocks_per_task, bool) or not isinstance(blocks_per_task, int) or blocks_per_task < 1:
        raise InputError(f"blocks_per_task={blocks_per_task!r}: expected an integer ≥ 1")
    plan = scorecard_plan(forecast, truth, climatology, climatology_std=climatology_std, **kwargs)
    remote = [_remote(client, x, cache) for x in (forecast, truth, climatology, climatology_std)]
    n = len(plan.chunks)
    futures = {}
    for v in plan.variables:
        for start in range(0, n, blocks_per_task):
            stop = min(start + blocks_per_task, n)
            futures[(tag, str(v), start)] = client.submit(
                _score_task, plan, *remote, v, start, stop, pure=False
            )
    return plan, forecast, futures


def _assemble(plan, forecast, results: Mapping[Any, Any], tag: str) -> xr.Dataset:
    parts = {
        v: [results[k] for k in sorted(k for k in results if k[0] == tag and k[1] == str(v))]
        for v in plan.variables
    }
    return assemble_scorecard(plan, forecast, parts)


def scorecard_dask(
    client: Any,
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None = None,
    *,
    climatology_std: xr.Dataset | None = None,
    blocks_per_task: int = 1,
    **kwargs: Any,
) -> xr.Dataset:
    """:func:`physics_metrics.weather.scorecard` of ``forecast`` on the cluster of ``client``.

    Same arguments and result as ``scorecard`` (``metrics``, ``convention``, ``variables``, ``block``,
    ``skipna``, ``crps_estimator``, ``ssr_correction``, ``max_chunk_mb``; not ``reference``: score the
    reference forecast as its own card, as :func:`evaluate_weather_dask` does). One task scores
    ``blocks_per_task`` blocks of ``block`` inits of one variable; the values equal ``scorecard``'s exactly.
    Pass lazy, zarr-backed ``forecast``/``truth`` (``xr.open_zarr``) so that workers read the stores
    themselves; in-memory inputs are scattered to the workers once.
    """
    if "reference" in kwargs:
        raise InputError(
            "reference: not supported by scorecard_dask; score the reference forecast as its own card"
        )
    _check_client(client)
    scorecard_plan(forecast, truth, climatology, climatology_std=climatology_std, **kwargs)  # checks first
    clim, std = _in_memory(climatology), _in_memory(climatology_std)
    plan, fc, futures = _submit_card(
        client, forecast, truth, clim, std, blocks_per_task, "card", {}, **kwargs
    )
    return _assemble(plan, fc, _gather(client, futures, "scorecard"), "card")


def evaluate_weather_dask(
    client: Any,
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None = None,
    *,
    metrics: Sequence[str] = ("rmse", "acc", "bias"),
    references: Sequence[str] = ("persistence", "climatology"),
    convention: str = "wb2",
    blocks_per_task: int = 1,
) -> dict[str, xr.Dataset]:
    """:func:`~chaosbench_py.evaluation.evaluate_weather` on the cluster of ``client``: the same scorecards
    (``"model"``, ``"persistence"``, ``"climatology"``; same arguments, checks and skipped-metric rules),
    with every card's tasks submitted together."""
    _check_client(client)
    truth_v, clim_v, jobs = weather_scoring_jobs(
        forecast, truth, climatology, metrics, references, prepare_climatology=_in_memory
    )
    planned, futures, cache = {}, {}, {}
    for name, (fc, ms) in jobs.items():
        plan, fc, fut = _submit_card(
            client, fc, truth_v, clim_v, None, blocks_per_task, name, cache, metrics=ms, convention=convention
        )
        planned[name] = (plan, fc)
        futures.update(fut)
    results = _gather(client, futures, "scorecards")
    return {name: _assemble(plan, fc, results, name) for name, (plan, fc) in planned.items()}


def per_init_scores_dask(
    client: Any,
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None = None,
    *,
    _cache: dict[int, Any] | None = None,
) -> xr.Dataset:
    """:func:`physics_metrics.weather.per_init_scores` on the cluster: one task per 16 inits
    (the function's own blocks, so each task computes the same arrays), concatenated along ``init_time``;
    identical values."""
    _check_client(client)
    if "init_time" not in getattr(forecast, "dims", {}):
        raise InputError("forecast: needs an 'init_time' dimension")
    if climatology is not None and "doy" in climatology.dims:
        climatology = climatology.rename(doy="dayofyear")
    cache = {} if _cache is None else _cache
    if _cache is None:  # called directly (score_uncertainty_dask prepares the climatology once)
        climatology = _in_memory(climatology)
    truth_r, clim_r = _remote(client, truth, cache), _remote(client, climatology, cache)
    n = forecast.sizes["init_time"]
    starts = list(range(0, n, PER_INIT_BLOCK))
    parts = client.scatter(
        [forecast.isel(init_time=slice(s, s + PER_INIT_BLOCK)) for s in starts], hash=False
    )
    futures = {
        s: client.submit(_per_init_task, part, truth_r, clim_r, pure=False) for s, part in zip(starts, parts)
    }
    results = _gather(client, futures, "per-init scores")
    parts = [results[s] for s in sorted(results)]
    return parts[0] if len(parts) == 1 else xr.concat(parts, dim="init_time")


def score_uncertainty_dask(
    client: Any,
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None,
    out_dir: str | os.PathLike,
    *,
    references: Sequence[str] = ("persistence", "climatology"),
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`~chaosbench_py.evaluation.score_uncertainty` (``per_init/``, ``intervals.csv``,
    ``paired_tests.csv`` in ``out_dir``) with the per-init scores computed on the cluster; same files."""
    inits, leads = forecast["init_time"].values, forecast["lead_time"].values
    clim, cache = _in_memory(climatology), {}
    per = {"model": per_init_scores_dask(client, forecast, truth, clim, _cache=cache)}
    for name in references:
        ref = None
        if name == "persistence":
            ref = persistence_forecast(truth, inits, leads)
        elif name == "climatology" and clim is not None:
            ref = climatology_forecast(clim, inits, leads)
        if ref is not None:
            per[name] = per_init_scores_dask(client, ref, truth, clim, _cache=cache)
    return write_score_uncertainty(per, out_dir, n_resamples=n_resamples, seed=seed)
