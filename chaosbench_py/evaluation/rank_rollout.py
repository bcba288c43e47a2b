"""Forecast rollouts split by init time across ``torchrun`` ranks, into one forecast store.

:func:`rollout_gridded_ranks` runs :func:`~chaosbench_py.evaluation.rollout_gridded`'s recursion with
the init times cut into model batches of ``batch_size`` consecutive inits; rank ``r`` of ``W`` takes the
``r``-th contiguous share of the batches (:func:`chaosbench_py.ranks.contiguous_share`) and writes each
finished batch into its own region of one store (:class:`chaosbench_py.data.ForecastRegions`: template
by rank 0, barrier, region writes of whole zarr chunks, a completion marker per batch). Because every
batch is the same model call as in one process (same inits, same order, the ensemble noise seeded by
``(seed, init_time)``), the store holds the same floats whatever the number of ranks, and the same as
``rollout_gridded(..., batch_size=batch_size)`` on the same device type. A restarted job (``resume``)
skips the batches already marked done, on any number of ranks.

:func:`forecast_run` does this for a trainer run folder (what ``chaosbench forecast`` calls)::

    torchrun --nproc_per_node 4 -m chaosbench_py forecast RUN --out forecast.zarr --n-inits 64 --steps 40
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import xarray as xr

from ..data import open_forecast
from ..data.forecast_regions import ForecastRegions
from ..errors import InputError
from ..ranks import RankContext, contiguous_share
from .rollout import _plan_gridded, run_batches

logger = logging.getLogger(__name__)

__all__ = ["forecast_run", "rollout_gridded_ranks"]


@torch.no_grad()
def rollout_gridded_ranks(
    model: nn.Module | Mapping[int, nn.Module],
    data: xr.Dataset,
    *,
    variables: Sequence[str],
    levels: Sequence[float] | None = None,
    statistics: xr.Dataset,
    constants: xr.Dataset | Mapping[str, xr.DataArray] | None = None,
    init_times: Sequence[Any],
    n_steps: int,
    store: str | os.PathLike,
    step: Any = None,
    members: int = 1,
    perturbation_std: float = 0.0,
    control_member: bool = False,
    seed: int = 0,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    on_nonfinite: str = "raise",
    resume: bool = True,
    overwrite: bool = False,
    ranks: RankContext | None = None,
) -> xr.Dataset:
    """Forecasts from ``init_times`` split over the ranks of this job, written to one store ``store``.

    Call it on every rank with the same arguments (under ``torchrun``; in one process it is rank 0
    of 1). The arguments are those of :func:`~chaosbench_py.evaluation.rollout_gridded` (shapes, units
    and the recursion are documented there), plus:

    Args:
        store: the ``.zarr`` forecast store (required). Its ``init_time`` axis holds ``init_times`` in
            the given order; dims ``(init_time, lead_time, [member], [level], latitude, longitude)``,
            float32 in the units of ``data``.
        batch_size: inits per model call; also the unit of the split over ranks and of resume.
        device: ``None``/``"auto"``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
        resume: continue an existing store of this rollout (same inits, batches, layout, seed …),
            skipping the batches it holds; ``False`` refuses an existing store unless ``overwrite``.
        overwrite: replace an existing store (the new template is swapped in by rank 0).
        ranks: the rank context (default: from ``torchrun``'s environment; a gloo group for the
            barriers is initialised when ``WORLD_SIZE > 1``).

    Returns:
        the finished store opened lazily (:func:`~chaosbench_py.data.open_forecast`), on every rank.

    Raises:
        OutputExistsError: an existing store without ``resume``/``overwrite``, or one of another
            rollout (what differs is named) — raised on every rank, before any rollout.
        InputError and the errors of ``rollout_gridded`` for bad arguments.
    """
    if store is None:
        raise InputError("store: rollout_gridded_ranks writes a .zarr store; give its path")
    ctx = ranks if ranks is not None else RankContext.from_env()
    try:
        plan = _plan_gridded(
            model, data, variables=variables, levels=levels, statistics=statistics, constants=constants,
            init_times=init_times, n_steps=n_steps, step=step, members=members, perturbation_std=perturbation_std,
            control_member=control_member, seed=seed, batch_size=batch_size, on_nonfinite=on_nonfinite,
        )  # fmt: skip
        identity = {
            k: plan.attrs[k]
            for k in (
                "model",
                "channels",
                "constants",
                "n_steps",
                "step_seconds",
                "members",
                "perturbation_std",
                "control_member",
                "seed",
            )  # fmt: skip
        } | {"dtype": str(dtype), "on_nonfinite": on_nonfinite}
        regions = ForecastRegions(
            store,
            layout=plan.writer_kwargs(),
            init_times=plan.inits,
            batch_size=plan.batch_size,
            identity=identity,
        )
        done = ctx.main_decides(lambda: regions.open_or_create(resume=resume, overwrite=overwrite))
        share = contiguous_share(regions.n_batches, ctx.world, ctx.rank)
        mine = [b for b in share if not done[b]]
        logger.info(
            "rank %d of %d: batches %d…%d, %d to do",
            ctx.rank,
            ctx.world,
            share.start,
            share.stop - 1,
            len(mine),
        )
        batches = plan.batches()
        pending: dict[int, dict[str, np.ndarray]] = {}

        def emit(i: int, fields: dict[str, np.ndarray]) -> None:
            pending[i] = fields
            b = i // plan.batch_size
            if len(pending) == len(batches[b]):
                regions.write_batch(b, pending)
                pending.clear()

        run_batches(
            plan, data, [batches[b] for b in mine], device=ctx.device(device), dtype=dtype,
            progress=progress and ctx.is_main, emit=emit,
        )  # fmt: skip
        ctx.barrier()
        complete = ctx.main_decides(regions.finalise)
        if not complete:
            raise InputError(
                f"{store}: some batches were not written (a rank failed); rerun with resume=True"
            )
        return open_forecast(store).sel(init_time=plan.inits)
    finally:
        if (
            ranks is None
        ):  # the group this call created: destroyed, so no rank exits with gloo threads running
            ctx.close()


# ------------------------------------------------------------------------------------------ run folders
def _test_times(data: xr.Dataset, d: Mapping[str, Any], test: Sequence[str] | None) -> pd.DatetimeIndex:
    """The test period's times: ``test = (start, end)`` (inclusive), else after the run's validation
    (or training) period — the rule of ``chaosbench evaluate``."""
    times = pd.DatetimeIndex(data["time"].values)
    if test is None:
        after = d["valid"][1] if d.get("valid") else (d["train"][1] if d.get("train") else None)
        if after is None:
            raise InputError("no test period: pass test=[start, end] (--test START END)")
        return times[times > pd.Timestamp(after) + pd.Timedelta("1D") - pd.Timedelta("1ns")]
    return times[(times >= pd.Timestamp(test[0])) & (times <= pd.Timestamp(test[1]))]


def forecast_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    data_path: str | os.PathLike | None = None,
    test: Sequence[str] | None = None,
    init_times: Sequence[Any] | None = None,
    n_inits: int = 8,
    n_steps: int = 20,
    members: int = 1,
    perturbation_std: float = 0.0,
    seed: int = 0,
    batch_size: int = 8,
    device: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    ranks: RankContext | None = None,
) -> Path:
    """Forecasts of the trained gridded emulator ``RUN/model.pt`` into the store ``out``, split over the
    ranks of this job (:func:`rollout_gridded_ranks`).

    Inits: ``init_times`` when given, else ``n_inits`` evenly spread over the test period (``test`` or
    after the run's validation period) leaving room for ``n_steps`` steps — the inits of
    ``chaosbench evaluate`` with the same options. Variables, levels, constants, normalisation and the
    time step are the run's; the data is the run's data store unless ``data_path``.
    """
    from ..data import open_gridded
    from .pipeline import _load_run, _pick_inits, statistics_from_metadata

    model, extra, path = _load_run(run_dir)
    if extra.get("kind") != "gridded":
        raise InputError(f"{path}: a {extra.get('kind')!r} model; forecast stores are for gridded emulators")
    d = extra["run_config"]["data"]
    data = open_gridded(data_path or extra["data_path"])
    step = np.timedelta64(int(round(extra["schema"]["time_step_seconds"])), "s")
    if init_times is None:
        test_times = _test_times(data, d, test)
        if test_times.size == 0:
            raise InputError(f"the test period holds no time of {data_path or extra['data_path']}")
        init_times = _pick_inits(test_times, n_inits, n_steps, step)
    constants = {c: data[c] for c in d.get("constants") or []}
    rollout_gridded_ranks(
        model, data, variables=list(d["variables"]), levels=d["levels"], statistics=statistics_from_metadata(extra),
        constants=constants or None, init_times=init_times, n_steps=n_steps, step=step, members=members,
        perturbation_std=perturbation_std, seed=seed, batch_size=batch_size, device=device, store=out,
        resume=resume, overwrite=overwrite, progress=progress, ranks=ranks,
    )  # fmt: skip
    return Path(out)
