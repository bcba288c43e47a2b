"""Training tasks: what the generic :class:`~chaosbench_py.training.trainer.Trainer` learns.

A task owns its data, its batch order and its loss; the trainer owns the loop (optimizer,
schedule, autocast, clipping, EMA, NaN guard, checkpoints, DDP, logging). Interface:

* ``model_config(values)``: the model's config keys with the data-dependent ones filled in.
* ``batch(step, rank, world)``: the local batch of global optimiser step ``step`` for process
  ``rank`` of ``world``. The global batch is a function of the task state and ``step`` only, and
  is split evenly, so ``world`` processes see together exactly the batch one process would.
* ``before_step(model, batch, step)``: state updates from the current weights (GTF's α).
* ``loss(model, batch)``: ``(scalar loss, {name: float})``, a mean over the local batch.
* ``validation_loss(model)``: mean loss on the held-out part (``None`` when there is none).
* ``state_dict()`` / ``load_state_dict()``: everything needed to continue the batch order exactly.
* ``metadata()``: what a checkpoint must carry to use the model again (channels, normalisation…).
* ``log_columns``: the names of the values ``loss`` returns, the extra columns of ``metrics.csv``.

Optional hooks: ``setup_model(model)`` (once, after the model is built: e.g. normalisation buffers
from the training data); ``lr_factor(step)`` (multiplies the schedule: stages with different
rates); ``prepare_step(model, optimizer, step) -> {"grad_clip": float} | None`` (before each step:
freeze / unfreeze parameters, reset the optimizer state at a stage boundary). All three must depend
on ``step`` only, so that a resumed run repeats them exactly.

Tasks: :class:`NextStepTask` (gridded emulators: multi-step autoregressive, area-weighted,
per-variable/level weights, truncated back-propagation), :class:`GTFTask` (shPLRNN with
generalized teacher forcing; ``chaosbench_py.training.gtf``) and :class:`MultiStepTask` (neural
ODE and any model with ``forward(x0, n_steps) -> (B, n_steps, N)``: multiple shooting).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import xarray as xr

from emulators.stepping import gridded_step
from physics_metrics.weather.losses import area_weighted_mae, area_weighted_mse, channel_weight_vector

from ..errors import InputError, MissingInputError
from .config import ConfigError, RunConfig
from .gtf import GTFConfig, estimate_alpha, gtf_loss, load_sequences, update_alpha

logger = logging.getLogger(__name__)

__all__ = ["GTFTask", "MultiStepTask", "NextStepTask", "build_task", "open_gridded"]


def open_gridded(path: str | Path) -> xr.Dataset:
    """Open a gridded store (any layout :func:`chaosbench_py.data.open_era5` knows) as the canonical dataset."""
    from chaosbench_py.data import open_era5

    if "://" in str(path):  # gs://, s3://, https:// (WeatherBench2 on cloud storage)
        return open_era5(str(path))
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"data.path: no gridded store at {p}")
    return open_era5(str(p))


def _config_fields(name: str) -> set[str]:
    """The keys of model ``name``'s config dataclass."""
    import emulators

    return {f.name for f in dataclasses.fields(emulators.model_config_class(name))}


def _time_slice(ds: xr.Dataset, rng: list | None, key: str) -> xr.Dataset:
    if rng is None:
        return ds
    out = ds.sel(time=slice(str(rng[0]), str(rng[1])))
    if out.sizes.get("time", 0) == 0:
        t = ds["time"].values
        raise ConfigError(f"{key}: no time of the data in [{rng[0]}, {rng[1]}] (data: {t[0]} … {t[-1]})")
    return out


class NextStepTask:
    """Gridded emulator trained to step ``x_t → x_{t+Δ}``, optionally over several autoregressive steps.

    Loss of a sample: ``(1/R) Σ_{k=1..R} L(x̂_k, x_k)`` with ``x̂_k = step(cat(x̂_{k-1}, constants))``,
    ``x̂_0`` the normalised input, ``L`` the latitude-weighted (``cell_area`` weights, mean 1) and
    channel-weighted MSE or MAE of :mod:`physics_metrics.weather.losses`. With ``detach_every = n``
    the state fed back after every n-th step is detached (truncated back-propagation).
    Batches: each epoch is a permutation of the samples drawn from ``seed + epoch``; global step
    ``s`` takes permutation slots ``[k·B, (k+1)·B)`` with ``k = s mod (N // B)``; process ``r`` of
    ``W`` takes every W-th of them starting at ``r``.
    """

    kind = "next_step"

    def __init__(self, cfg: RunConfig, device: torch.device):
        from chaosbench_py.data import WindowDataset, channel_statistics, latitude_weights

        d, k = cfg.data, cfg.task
        if not d.variables:
            raise ConfigError("data.variables: list the variables to train on, e.g. [z, u, v]")
        self.device = device
        self.rollout_steps = k.rollout_steps
        self.detach_every = k.detach_every
        self.loss_kind = k.loss
        self.seed = cfg.train.seed
        self.batch_size = cfg.train.batch_size
        ds = open_gridded(d.path)
        self.path = d.path
        self.num_workers = d.num_workers
        self._loader: tuple[int, Any] | None = None  # (next step, iterator) of the DataLoader
        if d.in_memory:  # small stores: one read instead of one dask graph per sample
            ds = ds[list(d.variables) + list(d.constants)].load()
        train = _time_slice(ds, d.train, "data.train")
        years = pd_years(train)
        self.statistics = channel_statistics(train, variables=d.variables, levels=d.levels, years=years)
        constants = None
        if d.constants:
            missing = [c for c in d.constants if c not in ds]
            if missing:
                raise ConfigError(
                    f"data.constants: {missing} not in {d.path} (variables: {list(ds.data_vars)})"
                )
            constants = {c: ds[c].isel(time=0) if "time" in ds[c].dims else ds[c] for c in d.constants}
        common = dict(variables=d.variables, levels=d.levels, n_input_steps=1,
                      lead_steps=tuple(range(1, k.rollout_steps + 1)), statistics=self.statistics,
                      constants=constants, time_step=d.time_step or "infer")  # fmt: skip
        self.train_set = WindowDataset(train, **common)
        if len(self.train_set) < self.batch_size:
            raise ConfigError(
                f"train.batch_size: {self.batch_size} > {len(self.train_set)} training samples in data.train"
            )
        self.valid_set = WindowDataset(_time_slice(ds, d.valid, "data.valid"), **common) if d.valid else None
        self.channel_names = list(self.train_set.channel_names)
        self.input_channel_names = list(self.train_set.input_channel_names)
        self.n_dynamic = len(self.channel_names)
        lat = self.train_set.latitude
        self.grid = (int(lat.size), int(self.train_set.longitude.size))
        self.lat_weights = torch.as_tensor(latitude_weights(lat) if k.area_weighted else np.ones(lat.size))
        self.channel_weights = channel_weight_vector(self.channel_names, k.variable_weights, k.level_weights)
        self.steps_per_epoch = len(self.train_set) // self.batch_size
        self.log_columns = (
            [f"loss_step{k + 1}" for k in range(self.rollout_steps)] if self.rollout_steps > 1 else []
        )
        self._perm_cache: tuple[int, torch.Tensor] | None = None
        self.time_step = self.train_set.time_step

    # ------------------------------------------------------------------ model / metadata
    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:

        out = dict(values)
        fields = _config_fields(name)
        if name == "pangu":
            layout = self.train_set._layout
            up = [c for c in layout if c.level is not None]
            n_levels = len(self.train_set.levels)
            is_up = [c.level is not None for c in layout]
            if any(is_up[i] and not is_up[i + 1] for i in range(len(is_up) - 1)):
                raise ConfigError(
                    "data.variables: pangu splits the channels into surface fields first, then upper-air "
                    f"variables × levels; list the surface variables first (got {self.train_set.variables})"
                )
            if n_levels and len(up) % n_levels:
                raise ConfigError(
                    f"data.levels: every upper-air variable needs all {n_levels} levels for pangu"
                )
            defaults = {"grid": list(self.grid), "n_levels": max(n_levels, 1),
                        "n_upper_vars": len(up) // max(n_levels, 1),
                        "n_surface_vars": len(layout) - len(up), "n_masks": len(self.input_channel_names) - self.n_dynamic}  # fmt: skip
        else:
            defaults = {"in_channels": len(self.input_channel_names), "out_channels": self.n_dynamic,
                        "img_size": list(self.grid)}  # fmt: skip
        for key, value in defaults.items():
            if key in fields and key not in out:
                out[key] = value
        return out

    def metadata(self) -> dict[str, Any]:
        stats = self.statistics
        return {
            "kind": "gridded",
            "channel_names": self.channel_names,
            "input_channel_names": self.input_channel_names,
            "normalisation": {
                "mean": torch.as_tensor(stats["mean"].values, dtype=torch.float64),
                "std": torch.as_tensor(stats["std"].values, dtype=torch.float64),
            },
            "schema": {
                "dims": ["batch", "channel", "latitude", "longitude"],
                "latitude": torch.tensor(np.array(self.train_set.latitude), dtype=torch.float64),
                "longitude": torch.tensor(np.array(self.train_set.longitude), dtype=torch.float64),
                "time_step_seconds": float(self.time_step / np.timedelta64(1, "s"))
                if self.time_step is not None
                else math.nan,
            },
            "data_path": str(self.path),
        }

    # ------------------------------------------------------------------ batches
    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._perm_cache is None or self._perm_cache[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm_cache = (epoch, torch.randperm(len(self.train_set), generator=g))
        return self._perm_cache[1]

    def global_indices(self, step: int) -> list[int]:
        """Sample indices of the global batch of optimiser step ``step`` (the data position)."""
        epoch, k = divmod(step, self.steps_per_epoch)
        perm = self._permutation(epoch)
        return perm[k * self.batch_size : (k + 1) * self.batch_size].tolist()

    def batch(self, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        if self.num_workers > 0:
            return self._loader_batch(step, rank, world)
        idx = self.global_indices(step)[rank::world]
        return self._stack(self.train_set, idx)

    def _stack(self, dataset: Any, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs (B, C_in, H, W), targets (B, R, C, H, W))`` of the samples ``indices``, on the device."""
        items = [dataset[i] for i in indices]
        return torch.stack([a for a, _ in items]).to(self.device), torch.stack([b for _, b in items]).to(
            self.device
        )

    def _loader_batch(self, step: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``data.num_workers`` worker processes read the next batches ahead (same batches, same order)."""
        if self._loader is None or self._loader[0] != step:
            sampler = _StepBatches(self, step, rank, world)
            loader = torch.utils.data.DataLoader(
                self.train_set, batch_sampler=sampler, num_workers=self.num_workers, prefetch_factor=2,
                pin_memory=self.device.type == "cuda",
            )  # fmt: skip
            self._loader = (step, iter(loader))
        x, y = next(self._loader[1])
        self._loader = (step + 1, self._loader[1])
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def before_step(self, model: nn.Module, batch: Any, step: int) -> None:
        return None

    # ------------------------------------------------------------------ loss
    def _criterion(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fn = area_weighted_mse if self.loss_kind == "mse" else area_weighted_mae
        return fn(pred.float(), target.float(), self.lat_weights, self.channel_weights)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        x, y = batch  # (B, C_in, H, W), (B, R, C, H, W)
        constants = x[:, self.n_dynamic :]
        state = x
        total = x.new_zeros((), dtype=torch.float32)
        per_step = {}
        for k in range(self.rollout_steps):
            pred = gridded_step(model, state, self.n_dynamic)
            if pred.shape[1] != self.n_dynamic:
                raise InputError(
                    f"model returned {pred.shape[1]} channels, the data has {self.n_dynamic} dynamic channels "
                    f"({self.channel_names}); set model.config out_channels"
                )
            term = self._criterion(pred, y[:, k])
            per_step[f"loss_step{k + 1}"] = float(term.detach())
            total = total + term
            fed = pred
            if self.detach_every and (k + 1) % self.detach_every == 0:
                fed = pred.detach()
            state = torch.cat([fed.to(x.dtype), constants], dim=1)
        return total / self.rollout_steps, per_step if self.rollout_steps > 1 else {}

    @torch.no_grad()
    def validation_loss(self, model: nn.Module, max_samples: int = 64) -> float | None:
        if self.valid_set is None or len(self.valid_set) == 0:
            return None
        n = min(len(self.valid_set), max_samples)
        idx = np.linspace(0, len(self.valid_set) - 1, n).round().astype(int)
        losses = []
        for start in range(0, n, self.batch_size):
            chunk = [int(i) for i in idx[start : start + self.batch_size]]
            losses.append(float(self.loss(model, self._stack(self.valid_set, chunk))[0]) * len(chunk))
        return sum(losses) / n

    def state_dict(self) -> dict[str, Any]:
        return {}  # the batch order is a function of (seed, step)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class _StepBatches(torch.utils.data.Sampler):
    """Index lists of the local batches of steps ``start, start + 1, …`` (the trainer's batch order)."""

    def __init__(self, task: NextStepTask, start: int, rank: int, world: int):
        self.task, self.start, self.rank, self.world = task, start, rank, world

    def __iter__(self):
        step = self.start
        while True:
            yield self.task.global_indices(step)[self.rank :: self.world]
            step += 1


def pd_years(ds: xr.Dataset) -> tuple[int, int]:
    """Inclusive (first, last) calendar year of ``ds.time``."""
    import pandas as pd

    t = pd.DatetimeIndex(ds["time"].values)
    return int(t.year.min()), int(t.year.max())


# ---------------------------------------------------------------------------- low-dimensional tasks
class _SequenceTask:
    """Shared data handling of the trajectory tasks: series split in time, optional standardisation,
    windows of ``window + 1`` points drawn uniformly with replacement from a seeded generator (the
    generator state is the data position). Every process draws the same global batch and keeps its
    slice."""

    def __init__(self, cfg: RunConfig, device: torch.device, window: int, series: Any = None):
        d = cfg.data
        self.time_step = math.nan  # time units per sample, when the store records its time axis
        if series is None:
            source = _load_trajectory_source(d.path)
            if isinstance(source, xr.Dataset) and "time" in source.coords and source.sizes.get("time", 0) > 1:
                t = np.asarray(source["time"].values[:2], dtype=np.float64)
                self.time_step = float(t[1] - t[0])
            series = load_sequences(source, name="data.path")
        else:  # in memory: anything load_sequences takes (array, tensor, DataArray, Dataset)
            series = load_sequences(series, name="data")
        self.device = device
        self.path = d.path
        self.train_fraction = d.train_fraction
        self.window = window
        self.batch_size = cfg.train.batch_size
        split = [max(int(round(s.shape[0] * d.train_fraction)), 1) for s in series]
        train = [s[:n] for s, n in zip(series, split)]
        held = [s[n:] for s, n in zip(series, split) if s.shape[0] - n > window]
        cat = torch.cat(train)
        self.mean = cat.mean(0) if d.standardize else torch.zeros(cat.shape[-1])
        self.std = cat.std(0) if d.standardize else torch.ones(cat.shape[-1])
        self.train = [((s - self.mean) / self.std).to(device) for s in train]
        self.valid = [((s - self.mean) / self.std).to(device) for s in held]
        for i, s in enumerate(self.train):
            if s.shape[0] < window + 1:
                raise ConfigError(
                    f"data: training part of trajectory {i} has {s.shape[0]} points < window + 1 = {window + 1} "
                    "(the sequence / rollout length + 1)"
                )
        self.dim = int(cat.shape[-1])
        lengths = torch.tensor([s.shape[0] - window for s in self.train], dtype=torch.float64)
        self._weights = lengths / lengths.sum()
        self.generator = torch.Generator().manual_seed(cfg.train.seed)
        self._last: tuple[int, torch.Tensor] | None = None

    def _draw(self) -> torch.Tensor:
        s, t1 = self.batch_size, self.window + 1
        traj = torch.multinomial(self._weights, s, replacement=True, generator=self.generator)
        u = torch.rand(s, generator=self.generator, dtype=torch.float64)
        out = []
        for i in range(s):
            series = self.train[int(traj[i])]
            start = int(u[i] * (series.shape[0] - t1 + 1))
            out.append(series[start : start + t1])
        return torch.stack(out)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> dict[str, torch.Tensor]:
        if self._last is None or self._last[0] != step:
            self._last = (step, self._draw())
        full = self._last[1]
        return {"x": full[rank::world], "global": full}

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": "trajectories",
            "channel_names": [f"x{i}" for i in range(self.dim)],
            "normalisation": {"mean": self.mean.double(), "std": self.std.double()},
            "schema": {"dims": ["batch", "time", "dim"], "time_step": self.time_step},
            "data_path": str(self.path),
            "train_fraction": self.train_fraction,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"sampler_rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["sampler_rng"])
        self._last = None

    @torch.no_grad()
    def validation_loss(self, model: nn.Module) -> float | None:
        if not self.valid:
            return None
        t1 = self.window + 1
        windows = [s[i : i + t1] for s in self.valid for i in range(0, s.shape[0] - t1 + 1, max(t1, 1))][:256]
        if not windows:
            return None
        return float(self.loss(model, {"x": torch.stack(windows)})[0])


def _load_trajectory_source(path: str) -> Any:
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"data.path: no trajectory file at {p}")
    if p.suffix == ".npy":
        return p
    from chaosbench_py.simulate import open_trajectories

    return open_trajectories(p)  # .zarr or .nc trajectory store, lazily


class GTFTask(_SequenceTask):
    """shPLRNN with generalized teacher forcing (:mod:`chaosbench_py.training.gtf`).

    ``task.gtf`` holds the forcing keys of :class:`GTFConfig`; the windows hold ``sequence_length + 1``
    points. α is re-estimated every ``alpha_update_interval`` steps on the GLOBAL batch (so DDP and one
    process agree) and carried in the task state.
    """

    kind = "gtf"
    log_columns = ["mse", "alpha"]
    _KEYS = ("sequence_length", "alpha", "alpha_method", "alpha_update_interval", "alpha_decay",
             "partial_forcing", "forcing", "stf_interval", "lambda_latent", "lambda_observation")  # fmt: skip

    def __init__(self, cfg: RunConfig, device: torch.device, series: Any = None):
        bad = sorted(set(cfg.task.gtf) - set(self._KEYS))
        if bad:
            raise ConfigError(f"task.gtf.{bad[0]}: unknown key; valid keys: {list(self._KEYS)}")
        try:
            self.gtf = GTFConfig.from_dict(dict(cfg.task.gtf))
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"task.gtf: {exc}") from exc
        super().__init__(cfg, device, self.gtf.sequence_length, series)
        self.alpha = self.gtf.alpha

    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        out.setdefault("obs_dim", self.dim)
        return out

    def before_step(self, model: nn.Module, batch: dict, step: int) -> None:
        g = self.gtf
        if g.forcing == "gtf" and g.alpha_method != "constant" and step % g.alpha_update_interval == 0:
            self.alpha = update_alpha(
                self.alpha, estimate_alpha(model, batch["global"], g.alpha_method), g.alpha_decay
            )

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        loss, mse = gtf_loss(model, batch["x"], self.alpha, self.gtf)
        return loss, {"mse": float(mse.detach()), "alpha": self.alpha}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "alpha": self.alpha}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.alpha = float(state["alpha"])


class MultiStepTask(_SequenceTask):
    """Multiple shooting: windows ``x_0 … x_R`` integrated from ``x_0``, loss ``mean ‖x̂_{1:R} − x_{1:R}‖²``."""

    kind = "multi_step"

    def __init__(self, cfg: RunConfig, device: torch.device):
        super().__init__(cfg, device, cfg.task.rollout_steps)

    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:

        out = dict(values)
        fields = _config_fields(name)
        for key in ("state_dim", "obs_dim", "dim"):
            if key in fields:
                out.setdefault(key, self.dim)
        return out

    def before_step(self, model: nn.Module, batch: dict, step: int) -> None:
        return None

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        x = batch["x"]
        pred = model(x[:, 0], self.window)
        return torch.mean((pred.float() - x[:, 1:].float()) ** 2), {}


def build_task(cfg: RunConfig, device: torch.device):
    """The task object for ``cfg.task.kind`` (checks that it matches ``cfg.data.kind``)."""
    kind, data_kind = cfg.task.kind, cfg.data.kind
    if kind == "next_step":
        if data_kind != "gridded":
            raise ConfigError(f"task.kind: 'next_step' trains gridded emulators; data.kind is {data_kind!r}")
        return NextStepTask(cfg, device)
    if data_kind != "trajectories":
        raise ConfigError(f"task.kind: {kind!r} trains on trajectories; data.kind is {data_kind!r}")
    if kind == "phyxmamba":
        from .phyxmamba_task import PhyxMambaTask

        return PhyxMambaTask(cfg, device)
    return GTFTask(cfg, device) if kind == "gtf" else MultiStepTask(cfg, device)
