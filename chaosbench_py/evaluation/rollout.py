"""Autoregressive rollouts of trained emulators: gridded (forecast schema) and low-dimensional.

* :func:`gridded_step`: one emulator step on a stacked channel tensor ``(B, C_in, H, W)``.
* :func:`rollout_gridded`: from initial states of a canonical gridded dataset to a forecast
  ``xarray.Dataset`` in the forecast schema (``../shared/DESIGN.md``, "Schemas"): dims
  ``(init_time, lead_time, [member], [level], latitude, longitude)`` plus ``valid_time``, in
  physical units, optionally written through :class:`chaosbench_py.data.ForecastWriter`
  (resumable).
* across ``torchrun`` ranks, one store written by all (``chaosbench forecast``), the same recursion
  batch by batch: :func:`chaosbench_py.evaluation.rank_rollout.rollout_gridded_ranks`;
* :func:`rollout_sequence`: free runs of the low-dimensional emulators ``(B, N)`` →
  ``(B, n_steps + 1, N)``.

Normalisation and channel order are those of :class:`chaosbench_py.data.WindowDataset`: channel
``c`` of the stacked state is ``(x_c − mean_c) / std_c`` with the per-channel statistics of
:func:`chaosbench_py.data.statistics.channel_statistics`; channels are the variables × levels of
:func:`chaosbench_py.data.statistics.channel_layout` (e.g. ``z-500, z-850, t2m``); constant fields
(land-sea mask, orography …) are appended after the dynamic channels, normalised exactly as the
``WindowDataset`` normalises them. The autoregressive recursion is::

    x̂_0 = normalise(X(t0)) [+ ε]            ŷ_k = f([x̂_{k−1}, constants])        k = 1 … n_steps
    F(t0, k·Δt) = ŷ_k · std + mean          (physical units)

Ensembles (``members > 1``): member ``m`` starts from ``x̂_0 + ε_m`` with ``ε_m ~ N(0, σ²)``
i.i.d. per grid point and dynamic channel in normalised units (``σ = perturbation_std``). By
default *every* member is perturbed (exchangeable members, as CRPS and spread/skill assume);
``control_member=True`` keeps member 0 unperturbed (an ECMWF-style control). The noise of one
initialisation comes from its own ``torch.Generator`` seeded by ``(seed, init_time)``, so a
member's forecast does not depend on the batch size, on the order of init times, or on which
init times were already in a resumed store. Inits are batched by their position in ``init_times``;
a resumed store recomputes whole batches (writing only the missing inits), so a resumed rollout is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import xarray as xr

from chaosbench_py.data import ForecastWriter, WindowDataset, channel_layout, open_forecast
from chaosbench_py.data.schema import SURFACE_VARIABLES
from chaosbench_py.data.statistics import normalisation_arrays
from emulators.stepping import gridded_step

from ..errors import InputError, InputTypeError, UnknownNameError
from .sequences import rollout_sequence

logger = logging.getLogger(__name__)

__all__ = ["gridded_step", "rollout_gridded", "rollout_sequence", "run_batches"]


# ------------------------------------------------------------------------------------------ one step
# ------------------------------------------------------------------------------------------ helpers
def _lead_models(model: Any) -> dict[int, nn.Module]:
    """``model`` or ``{lead_in_steps: model}`` → validated ``{lead: model}`` (nested leads, 1 present)."""
    if isinstance(model, nn.Module):
        return {1: model}
    if not isinstance(model, Mapping) or not model:
        raise InputTypeError(
            f"model: expected an nn.Module or a mapping {{lead_in_steps: nn.Module}}, got {model!r}"
        )
    out = {}
    for lead, m in model.items():
        if isinstance(lead, bool) or not isinstance(lead, int | np.integer) or lead < 1:
            raise InputError(f"model: lead {lead!r} must be a positive number of steps")
        if not isinstance(m, nn.Module):
            raise InputTypeError(f"model[{lead}]: expected an nn.Module, got {type(m).__name__}")
        out[int(lead)] = m
    leads = sorted(out, reverse=True)
    if leads[-1] != 1:
        raise InputError(f"model: leads {leads} need a 1-step model to reach every lead step")
    for larger, smaller in zip(leads, leads[1:]):
        if larger % smaller:
            raise InputError(f"model: leads must be nested; {smaller} does not divide {larger}")
    return out


def _as_init_times(init_times: Any) -> np.ndarray:
    try:
        t = pd.to_datetime(np.atleast_1d(np.asarray(init_times)).ravel()).values.astype("datetime64[ns]")
    except (TypeError, ValueError) as err:
        raise InputTypeError(f"init_times: cannot interpret {init_times!r} as times ({err})") from None
    if t.size == 0:
        raise InputError("init_times: empty; give at least one initialisation time")
    if len(np.unique(t)) != t.size:
        raise InputError(f"init_times: duplicated times in {[str(x) for x in t[:10]]}")
    return t


def _resolve_step(times: pd.DatetimeIndex, step: Any) -> np.timedelta64:
    if step is None:
        if len(times) < 2:
            raise InputError(
                "step: cannot infer the time step from a dataset with fewer than 2 times; pass step="
            )
        vals, counts = np.unique(np.diff(times.values), return_counts=True)
        out = vals[np.argmax(counts)]
    else:
        if isinstance(step, int | float | np.integer | np.floating) and not isinstance(step, np.timedelta64):
            raise InputTypeError(
                f"step={step!r}: give a time interval ('24h', np.timedelta64(1, 'D')), not a number"
            )
        try:
            out = pd.Timedelta(step).to_timedelta64()
        except (TypeError, ValueError):
            raise InputError(f"step={step!r}: not a time interval") from None
    out = np.timedelta64(out, "ns")
    if out <= np.timedelta64(0, "ns"):
        raise InputError(f"step={step!r}: must be positive")
    return out


def _normalised_constants(
    data: xr.Dataset,
    variables: list[str],
    levels: Sequence[float] | None,
    statistics: xr.Dataset,
    constants: xr.Dataset | Mapping[str, xr.DataArray] | None,
    n_dynamic: int,
) -> tuple[list[str], np.ndarray | None]:
    """The constant channels exactly as :class:`WindowDataset` appends them: ``(K, H, W)``."""
    if constants is None:
        return [], None
    if data.sizes["time"] < 2:
        raise InputError("data: needs at least 2 time steps to prepare the constant fields")
    ds = WindowDataset(
        data,
        variables=variables,
        levels=levels,
        statistics=statistics,
        constants=constants,
        time_indices=[0],
        lead_steps=(1,),
        time_step=None,
        check_finite=False,
    )
    inputs = ds[0][0].numpy()
    return list(ds.constant_names), np.ascontiguousarray(inputs[n_dynamic:])


def _read_states(data: xr.Dataset, layout: list, positions: np.ndarray) -> np.ndarray:
    """Raw states ``(n, C, H, W)`` (float64) of the channels ``layout`` at time positions."""
    parts = []
    n_lat, n_lon = data.sizes["latitude"], data.sizes["longitude"]
    done: set[str] = set()
    for ch in layout:
        if ch.variable in done:
            continue
        done.add(ch.variable)
        da = data[ch.variable].isel(time=positions)
        if "level" in da.dims:
            have = np.asarray(data["level"].values, dtype=np.float64)
            levs = [c.level for c in layout if c.variable == ch.variable]
            idx = [int(np.argmin(np.abs(have - lev))) for lev in levs]
            da = da.isel(level=idx).transpose("time", "level", "latitude", "longitude")
        else:
            extra = [d for d in da.dims if d not in ("time", "latitude", "longitude")]
            if extra:
                raise InputError(f"variable {ch.variable!r}: unexpected dimension(s) {extra}")
            da = da.transpose("time", "latitude", "longitude")
        parts.append(np.asarray(da.values, dtype=np.float64).reshape(len(positions), -1, n_lat, n_lon))
    return np.concatenate(parts, axis=1)


def _noise_generator(seed: int, init_time: np.datetime64) -> torch.Generator:
    seconds = int(init_time.astype("datetime64[s]").astype(np.int64))
    g = torch.Generator()
    g.manual_seed((int(seed) * 1_000_003 + seconds) % (2**63 - 1))
    return g


def _split_fields(
    phys: np.ndarray, layout: list, variables: list[str], has_members: bool
) -> dict[str, np.ndarray]:
    """``phys (n_lead, [M], C, H, W)`` → ``{var: (n_lead, [M], [level], H, W)}``."""
    out = {}
    axis = 2 if has_members else 1
    for v in variables:
        idx = [i for i, ch in enumerate(layout) if ch.variable == v]
        block = np.take(phys, idx, axis=axis)
        if layout[idx[0]].level is None:
            block = np.squeeze(block, axis=axis)
        out[v] = block
    return out


# ------------------------------------------------------------------------------------------ gridded
@torch.no_grad()
def rollout_gridded(
    model: nn.Module,
    data: xr.Dataset,
    *,
    variables: Sequence[str],
    levels: Sequence[float] | None = None,
    statistics: xr.Dataset,
    constants: xr.Dataset | Mapping[str, xr.DataArray] | None = None,
    init_times: Sequence[Any],
    n_steps: int,
    step: Any = None,
    members: int = 1,
    perturbation_std: float = 0.0,
    control_member: bool = False,
    seed: int = 0,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    store: str | os.PathLike | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    on_nonfinite: str = "raise",
) -> xr.Dataset:
    """Autoregressive forecasts of a gridded emulator from the states of ``data`` at ``init_times``.

    Args:
        model: maps a normalised stacked input ``(B, C + K, H, W)`` (``C`` dynamic channels,
            ``K`` constants) to the next normalised state ``(B, C, H, W)`` (see
            :func:`emulators.gridded_step`). Put in ``eval()`` mode for the rollout (restored
            afterwards) and moved to ``device``. Or a composition of lead-time models
            ``{lead_in_steps: model}`` (nested leads including 1, e.g. ``{1: m6h, 4: m24h}``),
            combined by Pangu-Weather's rule: lead ``k`` runs the largest model lead ``L`` dividing
            ``k`` on the state ``L`` steps earlier (:func:`emulators.rollout_hierarchical`).
        data: canonical gridded dataset ``(time, [level], latitude, longitude)`` holding the
            initial states (lazy is fine: only the init times are read).
        variables, levels: the channels (in the training order, see ``channel_layout``).
        statistics: per-channel ``mean``/``std`` indexed by ``channel`` (``channel_statistics``).
        constants: constant fields ``(latitude, longitude)`` appended after the dynamic channels
            exactly as :class:`~chaosbench_py.data.WindowDataset` does.
        init_times: initialisation times; each must be in ``data.time`` (``KeyError`` otherwise).
        n_steps: number of autoregressive steps; ``lead_time = k · step``, ``k = 1 … n_steps``.
        step: the time one model step stands for (``"24h"``, ``np.timedelta64``); default the
            most common spacing of ``data.time``.
        members, perturbation_std, control_member, seed: ensemble by perturbed initial states
            (module docstring). ``members == 1`` is deterministic (no ``member`` dim) and needs
            ``perturbation_std == 0``.
        batch_size: initialisations per model call (each with all its members).
        device, dtype: where and in which float type the model runs.
        store: a ``.zarr`` path: each init's forecast is written through
            :class:`~chaosbench_py.data.ForecastWriter` as soon as it is done; inits already in
            the store are skipped (resume) and the lazily opened store is returned (only the
            requested init times). An existing store that the writer did not make, or one of
            another layout (variables, levels, grid, leads, members), is refused before it is
            touched (:class:`~chaosbench_py.errors.OutputExistsError` naming what differs).
            Without a store the in-memory Dataset is returned.
        progress: show a tqdm progress bar over batches.
        on_nonfinite: ``"raise"`` (default) stops at the first NaN/inf output, naming the init time,
            lead and channel; ``"record"`` is for stability runs (a year-long rollout that may blow up):
            a forecast that turns non-finite is NaN from that lead on (its state is no longer stepped)
            and the others go on; the blow-up shows in the forecast (e.g.
            :func:`physics_metrics.weather.rollout_stability`).

    Returns:
        ``xarray.Dataset``, one variable per name in ``variables`` with dims ``(init_time,
        lead_time, [member], [level], latitude, longitude)``, float32 in physical units (the
        ``units`` of ``data``), coordinate ``valid_time = init_time + lead_time``.

    Raises:
        KeyError: an init time not in ``data``; a channel missing from ``statistics``.
        ValueError: the model returns another channel count than the ``C`` dynamic channels,
            or NaN/inf (named by init time, lead and channel); non-finite initial states.
    """
    plan = _plan_gridded(
        model, data, variables=variables, levels=levels, statistics=statistics, constants=constants,
        init_times=init_times, n_steps=n_steps, step=step, members=members, perturbation_std=perturbation_std,
        control_member=control_member, seed=seed, batch_size=batch_size, on_nonfinite=on_nonfinite,
    )  # fmt: skip
    inits = plan.inits
    writer = None
    if store is not None:
        writer = ForecastWriter(store, **plan.writer_kwargs())
        already = np.isin(inits, writer.written_init_times)
        todo = [int(i) for i in np.flatnonzero(~already)]
        if len(todo) < len(inits):
            logger.info(
                "rollout_gridded: %d of %d init(s) already in %s", len(inits) - len(todo), len(inits), store
            )
    else:
        todo = list(range(len(inits)))
    results: dict[int, dict[str, np.ndarray]] = {}
    # batches are fixed by position in init_times, and a resumed store recomputes a whole batch (writing
    # only its missing inits): the model sees the same batches as in an uninterrupted run, so the floats
    # are identical (a batch of another size may round differently)
    missing = set(todo)
    batches = [b for b in plan.batches() if missing.intersection(b)]

    def emit(i: int, fields: dict[str, np.ndarray]) -> None:
        if writer is None:
            results[i] = fields
        elif i in missing:
            writer.write(inits[i], fields)

    run_batches(plan, data, batches, device=device, dtype=dtype, progress=progress, emit=emit)
    if writer is not None:
        return open_forecast(store).sel(init_time=inits)
    p = plan
    return _to_dataset(
        results, inits, p.lead_times, p.variables, p.layout, p.used_levels, p.lat, p.lon, p.member_ids, p.units,
        p.attrs,
    )  # fmt: skip


@dataclasses.dataclass
class _GriddedPlan:
    """A validated gridded rollout: channels, normalisation, inits, leads and the store layout."""

    models: dict[int, nn.Module]
    leads: list[int]
    n_steps: int
    members: int
    sigma: float
    control_member: bool
    seed: int
    batch_size: int
    on_nonfinite: str
    variables: list[str]
    layout: list
    names: list[str]
    mean: np.ndarray
    std: np.ndarray
    const: np.ndarray | None
    inits: np.ndarray
    pos: np.ndarray
    lead_times: np.ndarray
    used_levels: list
    lat: np.ndarray
    lon: np.ndarray
    units: dict[str, str]
    member_ids: list[int] | None
    attrs: dict[str, Any]
    surface_variables: list[str]
    surface_with_level: list[str]

    def batches(self) -> list[list[int]]:
        """Positions in ``inits`` of each model batch (``batch_size`` consecutive inits)."""
        n, size = len(self.inits), self.batch_size
        return [list(range(i, min(i + size, n))) for i in range(0, n, size)]

    def writer_kwargs(self) -> dict[str, Any]:
        """The :class:`~chaosbench_py.data.ForecastWriter` layout of this rollout's store."""
        if self.surface_with_level:
            raise InputError(
                f"variables: surface variable(s) {self.surface_with_level} have a 'level' dim in data"
            )
        return dict(
            variables=self.variables, levels=self.used_levels, latitude=self.lat, longitude=self.lon,
            lead_times=self.lead_times, members=self.member_ids, attrs=self.attrs, units=self.units,
            surface_variables=self.surface_variables,
        )  # fmt: skip


def _plan_gridded(
    model, data, *, variables, levels, statistics, constants, init_times, n_steps, step, members,
    perturbation_std, control_member, seed, batch_size, on_nonfinite,
) -> _GriddedPlan:  # fmt: skip
    """Check the arguments of :func:`rollout_gridded` (before anything runs or is written)."""
    if not isinstance(data, xr.Dataset):
        raise InputTypeError(f"data: expected an xarray.Dataset, got {type(data).__name__}")
    models = _lead_models(model)
    leads = sorted(models, reverse=True)
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise InputError(f"n_steps={n_steps!r}: must be an integer ≥ 1")
    n_steps = int(n_steps)
    if isinstance(members, bool) or int(members) != members or members < 1:
        raise InputError(f"members={members!r}: must be an integer ≥ 1")
    members = int(members)
    sigma = float(perturbation_std)
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError(f"perturbation_std={perturbation_std!r}: must be finite and ≥ 0")
    if members == 1 and sigma > 0:
        raise InputError("perturbation_std: > 0 needs members > 1 (a single member is the deterministic run)")
    if members > 1 and sigma == 0:
        logger.warning("rollout_gridded: %d members with perturbation_std=0 are identical", members)
    if int(batch_size) != batch_size or batch_size < 1:
        raise InputError(f"batch_size={batch_size!r}: must be an integer ≥ 1")
    if on_nonfinite not in ("raise", "record"):
        raise InputError(f"on_nonfinite={on_nonfinite!r}: expected 'raise' or 'record'")
    variables = list(variables) if not isinstance(variables, str) else [variables]
    for d in ("time", "latitude", "longitude"):
        if d not in data.dims:
            raise InputError(f"data: no {d!r} dimension (dims: {dict(data.sizes)})")

    layout = channel_layout(data, variables, levels)
    names = [ch.name for ch in layout]
    n_dyn = len(layout)
    mean, std = normalisation_arrays(statistics, names)
    const_names, const = _normalised_constants(data, variables, levels, statistics, constants, n_dyn)
    times = data.indexes["time"]
    if not isinstance(times, pd.DatetimeIndex):
        raise InputTypeError(f"data: time coordinate must be datetime64, got {times.dtype}")
    inits = _as_init_times(init_times)
    pos = times.get_indexer(inits)
    if np.any(pos < 0):
        raise UnknownNameError(
            f"init_times: {[str(t) for t in inits[pos < 0][:5]]} not in the data's time axis"
        )
    lead_step = _resolve_step(times, step)
    lead_times = lead_step * np.arange(1, n_steps + 1)
    used_levels = list(dict.fromkeys(ch.level for ch in layout if ch.level is not None))
    if used_levels:  # the data's own level values (and dtype), in channel order
        have = np.asarray(data["level"].values)
        used_levels = [have[int(np.argmin(np.abs(have.astype(np.float64) - lev)))] for lev in used_levels]
    lat = np.asarray(data["latitude"].values)
    lon = np.asarray(data["longitude"].values)
    units = {v: str(data[v].attrs.get("units", "")) for v in variables}
    member_ids = list(range(members)) if members > 1 else None
    attrs = {
        "model": ", ".join(f"{lead}: {type(m).__name__}" for lead, m in models.items())
        if len(models) > 1
        else type(models[leads[0]]).__name__,
        "channels": names,
        "constants": const_names,
        "n_steps": n_steps,
        "step_seconds": float(lead_step / np.timedelta64(1, "s")),
        "members": members,
        "perturbation_std": sigma,
        "control_member": int(bool(control_member)),
        "seed": int(seed),
        "description": "autoregressive rollout, see chaosbench_py.evaluation.rollout_gridded",
    }
    return _GriddedPlan(
        models=models, leads=leads, n_steps=n_steps, members=members, sigma=sigma,
        control_member=bool(control_member), seed=int(seed), batch_size=int(batch_size), on_nonfinite=on_nonfinite,
        variables=variables, layout=layout, names=names, mean=mean, std=std, const=const, inits=inits, pos=pos,
        lead_times=lead_times, used_levels=used_levels, lat=lat, lon=lon, units=units, member_ids=member_ids,
        attrs=attrs, surface_variables=[v for v in variables if "level" not in data[v].dims],
        surface_with_level=[v for v in variables if v in SURFACE_VARIABLES and "level" in data[v].dims],
    )  # fmt: skip


def run_batches(
    plan: _GriddedPlan,
    data: xr.Dataset,
    batches: Sequence[Sequence[int]],
    *,
    device: str | torch.device,
    dtype: torch.dtype,
    progress: bool,
    emit: Any,
) -> None:
    """Roll out the inits of ``batches`` (positions in ``plan.inits``, one model call per batch) and
    call ``emit(position, {variable: (n_lead, [member], [level], lat, lon) float32})`` per init, in order.
    The model is in ``eval()`` mode meanwhile (its mode is restored afterwards)."""
    p = plan
    models, leads, n_steps, members, sigma = p.models, p.leads, p.n_steps, p.members, p.sigma
    names, layout, variables, inits, pos = p.names, p.layout, p.variables, p.inits, p.pos
    n_dyn, lead_times, on_nonfinite = len(names), p.lead_times, p.on_nonfinite
    device = torch.device(device)
    was_training = {lead: m.training for lead, m in models.items()}
    for m in models.values():
        m.to(device).eval()
    const_t = None if p.const is None else torch.as_tensor(p.const, dtype=dtype, device=device)
    mean_r = p.mean[:, None, None]
    std_r = p.std[:, None, None]
    iterator: Any = batches
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc="rollout", unit="batch")
    try:
        for batch in iterator:
            raw = _read_states(data, layout, pos[batch])  # (b, C, H, W)
            bad = ~np.isfinite(raw).all(axis=(2, 3))
            if bad.any():
                k, c = (int(a[0]) for a in np.nonzero(bad))
                raise InputError(f"data: channel {names[c]!r} has NaN/inf at init time {inits[batch[k]]}")
            x0 = torch.as_tensor((raw - mean_r) / std_r, dtype=dtype, device=device)
            x0 = x0.repeat_interleave(members, dim=0)  # (b·M, C, H, W), init-major
            if sigma > 0:
                for j, i in enumerate(batch):
                    g = _noise_generator(p.seed, inits[i])
                    eps = torch.randn((members, *x0.shape[1:]), generator=g, dtype=torch.float64)
                    if p.control_member:
                        eps[0] = 0.0
                    x0[j * members : (j + 1) * members] += (sigma * eps).to(dtype=dtype, device=device)
            chain = {lead: x0 for lead in leads}  # Pangu's rule: chain[L] = the state L steps before now
            preds = []
            for k in range(1, n_steps + 1):
                lead = next(v for v in leads if k % v == 0)  # the largest model lead dividing k
                state = chain[lead]
                inp = (
                    state
                    if const_t is None
                    else torch.cat([state, const_t.expand(state.shape[0], -1, -1, -1)], 1)
                )
                out = gridded_step(models[lead], inp, n_dynamic=len(names))
                if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[1] != n_dyn:
                    shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
                    raise InputError(
                        f"model: returned shape {shape} at lead step {k}; expected ({state.shape[0]}, {n_dyn}, "
                        f"{state.shape[2]}, {state.shape[3]}): one output channel per dynamic channel {names}"
                    )
                if out.shape[2:] != state.shape[2:]:
                    raise InputError(
                        f"model: returned grid {tuple(out.shape[2:])}, expected {tuple(state.shape[2:])}"
                    )
                finite = torch.isfinite(out).all(dim=(2, 3))
                if on_nonfinite == "record":
                    # a blown-up forecast is NaN from here on; its NaN state is never fed back as a number
                    out = torch.where(
                        finite.all(dim=1)[:, None, None, None], out, torch.full_like(out, math.nan)
                    )
                elif not bool(finite.all()):
                    r, c = (int(a[0]) for a in torch.nonzero(~finite, as_tuple=True))
                    raise InputError(
                        f"model: non-finite output (NaN/inf) in channel {names[c]!r} at lead step {k} "
                        f"(lead {pd.Timedelta(lead_times[k - 1])}) from init time {inits[batch[r // members]]}"
                    )
                for v in leads:
                    if v <= lead:
                        chain[v] = out.to(dtype)
                preds.append(out.detach().to("cpu", torch.float64).numpy())
            y = np.stack(preds, axis=1)  # (b·M, n_lead, C, H, W)
            y = y * std_r + mean_r
            y = y.reshape(len(batch), members, n_steps, n_dyn, *y.shape[-2:]).transpose(0, 2, 1, 3, 4, 5)
            for j, i in enumerate(batch):
                block = y[j] if members > 1 else y[j][:, 0]  # (n_lead, [M], C, H, W)
                with np.errstate(
                    over="ignore"
                ):  # a blown-up "record" rollout: values beyond float32 become inf
                    fields = _split_fields(block.astype(np.float32), layout, variables, members > 1)
                emit(i, fields)
    finally:
        for lead, m in models.items():
            m.train(was_training[lead])


def _to_dataset(results, inits, lead_times, variables, layout, levels, lat, lon, member_ids, units, attrs):
    head = ["init_time", "lead_time"] + (["member"] if member_ids is not None else [])
    data_vars = {}
    for v in variables:
        has_level = layout[[ch.variable for ch in layout].index(v)].level is not None
        dims = (*head, *(["level"] if has_level else []), "latitude", "longitude")
        arr = np.stack([results[i][v] for i in range(len(inits))])
        data_vars[v] = (dims, arr, {"units": units[v]} if units[v] else {})
    coords: dict[str, Any] = {
        "init_time": ("init_time", inits),
        "lead_time": ("lead_time", lead_times.astype("timedelta64[ns]")),
        "latitude": ("latitude", lat, {"units": "degrees_north"}),
        "longitude": ("longitude", lon, {"units": "degrees_east"}),
        "valid_time": (("init_time", "lead_time"), inits[:, None] + lead_times[None, :]),
    }
    if levels:
        coords["level"] = ("level", np.asarray(levels), {"units": "hPa"})
    if member_ids is not None:
        coords["member"] = ("member", np.asarray(member_ids))
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
