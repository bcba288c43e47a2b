"""Task ``next_step``: gridded emulators trained to step ``x_t → x_{t+Δ}`` (FNO, SFNO, UNet, Pangu …)."""

from __future__ import annotations

import logging
import math
import types
import typing
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
import xarray as xr

from emulators.stepping import gridded_step
from physics_metrics.weather.losses import area_weighted_mae, area_weighted_mse, channel_weight_vector

from ...data.training_sources import open_gridded, year_range
from ...errors import ConfigError, InputError
from .base import Task, register_task

if TYPE_CHECKING:
    from ..config import RunConfig

logger = logging.getLogger(__name__)

__all__ = ["NextStepTask", "tendency_ratio"]


def tendency_ratio(
    dataset: Any, lat_weights: torch.Tensor, n_dynamic: int, max_samples: int = 256, chunk: int = 32
) -> torch.Tensor:
    """Root-mean-square one-step change of each normalised channel, ``(C,)`` float64.

    ``r_c = sqrt(Σ_{s,i,j} w_i (x̂_{s+1} − x̂_s)²_{c,i,j} / Σ_{s,i,j} w_i)`` over up to ``max_samples``
    training windows evenly spaced in time (``dataset``: a
    :class:`~chaosbench_py.data.windows.WindowDataset` whose first lead is one step; ``x̂ = (x − mean)/std``,
    so ``r_c`` is the ratio of the tendency's spread to the state's; ``w_i`` the latitude weights).
    ``task.loss_scale: tendency`` divides each channel's squared error by ``r_c²`` (absolute error by
    ``r_c``): errors are then measured in units of the one-step change, and persistence scores ≈ 1 on
    every channel, so a slowly changing channel (geopotential: r ≈ 0.04 at 12 h) weighs as much as a
    fast one (the residual normalisation of GraphCast, Lam et al. 2023, Science 382, supplement §3.4).
    Raises ``ConfigError`` naming a channel that never changes.
    """
    n = len(dataset)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).round().astype(int)).tolist()
    w = lat_weights.to(torch.float64)[:, None]
    num = torch.zeros(n_dynamic, dtype=torch.float64)
    den = 0.0
    for k in range(0, len(idx), chunk):
        x, y = dataset.batch(idx[k : k + chunk])
        d = (y[:, 0].to(torch.float64) - x[:, :n_dynamic].to(torch.float64)) ** 2
        num += (d * w).sum(dim=(0, 2, 3))
        den += float(w.sum()) * d.shape[0] * d.shape[3]
    ratio = torch.sqrt(num / den)
    names = list(getattr(dataset, "channel_names", range(n_dynamic)))
    still = [str(names[c]) for c in range(n_dynamic) if not ratio[c] > 0]
    if still:
        raise ConfigError(
            f"task.loss_scale: tendency / task.input_noise: channel(s) {still} do not change from one step to "
            "the next in data.train, so they have no tendency unit; use loss_scale: state and input_noise: 0"
        )
    return ratio


def _time_slice(ds: xr.Dataset, rng: list | None, key: str) -> xr.Dataset:
    if rng is None:
        return ds
    out = ds.sel(time=slice(str(rng[0]), str(rng[1])))
    if out.sizes.get("time", 0) == 0:
        t = ds["time"].values
        raise ConfigError(f"{key}: no time of the data in [{rng[0]}, {rng[1]}] (data: {t[0]} … {t[-1]})")
    return out


def _fits(value: Any, hint: Any) -> bool:
    """Whether a data-derived ``value`` (int or list of ints) fits a config field annotated ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(hint) if a is not type(None))
    if isinstance(value, list):
        return hint is tuple or origin is tuple or hint is list or origin is list
    return hint is int


@register_task("next_step")
class NextStepTask(Task):
    """Gridded emulator trained to step ``x_t → x_{t+Δ}``, optionally over several autoregressive steps.

    Loss of a sample: ``(1/R) Σ_{k=1..R} L(x̂_k, x_k)`` with ``x̂_k = step(cat(x̂_{k-1}, constants))``,
    ``x̂_0`` the normalised input, ``L`` the latitude-weighted (``cell_area`` weights, mean 1) and
    channel-weighted MSE or MAE of :mod:`physics_metrics.weather.losses`. With ``detach_every = n``
    the state fed back after every n-th step is detached (truncated back-propagation).

    Batches: each epoch is an order of the samples that depends only on ``(seed, epoch)``; global step
    ``s`` takes order slots ``[k·B, (k+1)·B)`` with ``k = s mod (N // B)``; process ``r`` of
    ``W`` takes every W-th of them starting at ``r`` (so a run resumes at any step, and any
    ``num_workers`` or world size serves the same global batches). ``data.order``:

    * ``random``: ``torch.randperm`` seeded with ``seed · 1 000 003 + epoch`` (the default: the order of
      every earlier run);
    * ``blocks``: :func:`~chaosbench_py.data.block_sampler.block_order` with seed ``(seed, epoch)`` over
      blocks of whole time chunks of ``≥ data.block_size`` steps
      (:func:`~chaosbench_py.data.block_sampler.chunk_blocks`), ``data.buffer_blocks`` blocks shuffled
      together. The training window cache (a least-recently-used cache of normalised states) is then
      sized to hold two buffers (a batch may straddle two; so a state of the current buffer is never
      evicted while it is served), each block with the chunk(s) its last windows reach into:
      ``M = 2 · buffer_blocks · (L + ⌈R / c⌉ · c)`` states (``L`` the longest block in steps, ``c`` the
      longest time chunk, ``R`` = ``rollout_steps``), i.e. at most ``4 · M · C · H · W`` bytes per
      process (each ``DataLoader`` worker holds its own), whatever the store's length (the default
      ``block_size`` keeps it ≤ 1 GiB where one chunk allows). Each chunk is then decoded at most
      ``1 + 1/k`` times per epoch on average in blocks of ``k`` chunks (once for its block, once more
      when the block before it in time reaches into it), in one process; with workers, up to
      ``num_workers`` times (each worker reads the buffers its batches come from).

    Model config keys filled in from the data when the run file omits them (:attr:`data_fields`, each
    only where the model's config has a field of that name and type): ``in_channels`` (dynamic +
    constant channels), ``out_channels`` (dynamic channels), ``img_size`` / ``grid`` (``[lat, lon]``),
    and for models that take the surface channels first and then upper-air variables × levels (configs
    with ``n_surface_vars`` and ``n_upper_vars``): ``n_levels``, ``n_upper_vars``, ``n_surface_vars``,
    ``n_masks`` (constant channels); for those models the channel layout is checked.
    """

    data_kinds = ("gridded",)
    data_fields = frozenset(
        {
            "in_channels",
            "out_channels",
            "img_size",
            "grid",
            "n_levels",
            "n_upper_vars",
            "n_surface_vars",
            "n_masks",
        }
    )

    @classmethod
    def check_config(cls, cfg: RunConfig) -> None:
        super().check_config(cfg)
        if not cfg.data.variables:
            raise ConfigError("data.variables: list the variables to train on, e.g. [z, u, v]")

    def __init__(self, cfg: RunConfig, device: torch.device):
        from chaosbench_py.data import WindowDataset, channel_statistics, latitude_weights

        super().__init__(cfg, device)
        d, k = cfg.data, cfg.task
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
        self.statistics = channel_statistics(
            train, variables=d.variables, levels=d.levels, years=year_range(train)
        )
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
        self.loss_scale = k.loss_scale
        self.tendency_ratio: torch.Tensor | None = None
        self.input_noise = float(k.input_noise)
        if k.loss_scale == "tendency" or self.input_noise > 0:
            self.tendency_ratio = tendency_ratio(self.train_set, self.lat_weights, self.n_dynamic)
        if k.loss_scale == "tendency":
            power = 2 if self.loss_kind == "mse" else 1
            self.channel_weights = self.channel_weights / self.tendency_ratio**power
            logger.info(
                "task.loss_scale: tendency: one-step change / std per channel %s",
                {c: round(float(r), 4) for c, r in zip(self.channel_names, self.tendency_ratio)},
            )
        self.steps_per_epoch = len(self.train_set) // self.batch_size
        self.log_columns = (
            [f"loss_step{i + 1}" for i in range(self.rollout_steps)] if self.rollout_steps > 1 else []
        )
        self._perm_cache: tuple[int, torch.Tensor] | None = None
        self.order, self.buffer_blocks = d.order, d.buffer_blocks
        self.block_size: int | None = None
        self._block_of: np.ndarray | None = None
        if d.order == "blocks":
            self._set_up_blocks(d.block_size)
        self.time_step = self.train_set.time_step

    # ------------------------------------------------------------------ model / metadata
    def _layout_facts(self) -> dict[str, int]:
        """Surface channels first, then upper-air variables × levels: the counts, with the layout checked."""
        layout = self.train_set._layout
        is_up = [c.level is not None for c in layout]
        if any(is_up[i] and not is_up[i + 1] for i in range(len(is_up) - 1)):
            raise ConfigError(
                "data.variables: this model takes the surface fields first, then upper-air variables × levels; "
                f"list the surface variables first (got {self.train_set.variables})"
            )
        n_levels = len(self.train_set.levels)
        n_up = sum(is_up)
        if n_levels and n_up % n_levels:
            raise ConfigError(
                f"data.levels: every upper-air variable needs all {n_levels} levels for this model"
            )
        return {"n_levels": max(n_levels, 1), "n_upper_vars": n_up // max(n_levels, 1),
                "n_surface_vars": len(layout) - n_up,
                "n_masks": len(self.input_channel_names) - self.n_dynamic}  # fmt: skip

    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        import emulators

        config_cls = emulators.model_config_class(name)
        hints = typing.get_type_hints(config_cls)
        facts: dict[str, Any] = {"in_channels": len(self.input_channel_names), "out_channels": self.n_dynamic,
                                 "img_size": list(self.grid), "grid": list(self.grid)}  # fmt: skip
        if {"n_surface_vars", "n_upper_vars"} <= set(hints):
            facts.update(self._layout_facts())
        out = dict(values)
        for key, value in facts.items():
            if key in hints and key not in out and _fits(value, hints[key]):
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
            "loss_scale": self.loss_scale,
            **({"tendency_ratio": self.tendency_ratio} if self.tendency_ratio is not None else {}),
        }

    # ------------------------------------------------------------------ batches
    def _set_up_blocks(self, block_size: int | None) -> None:
        """Block labels of the training samples and a window cache that holds two buffers (``data.order:
        blocks``)."""
        from chaosbench_py.data.block_sampler import cache_states_needed, chunk_blocks, default_block_size

        ts = self.train_set
        starts = ts._time_chunk_starts()
        chunk = int(np.diff(starts).max())
        span = int(ts._offsets.max() - ts._offsets.min())
        state_bytes = 4 * len(ts.channel_names) * ts.latitude.size * ts.longitude.size
        if block_size is None:
            block_size = default_block_size(chunk, state_bytes, span, self.buffer_blocks)
        elif block_size % chunk:
            logger.warning("data.block_size %d is not a multiple of the store's time chunk (%d steps): "
                           "blocks are rounded up to whole chunks", block_size, chunk)  # fmt: skip
        self.block_size = int(block_size)
        self._block_of, longest = chunk_blocks(ts.anchors, self.block_size, starts)
        need = cache_states_needed(longest, self.buffer_blocks, span, chunk, each_block=True)
        ts.cache_states = max(ts.cache_states, 2 * need)
        logger.info(
            "training order: blocks of %d step(s) (time chunk %d, %d blocks), %d block(s) per buffer; "
            "window cache %d states = %.0f MiB",
            self.block_size, chunk, len(np.unique(self._block_of)), self.buffer_blocks, ts.cache_states,
            ts.cache_states * state_bytes / 2**20,
        )  # fmt: skip

    def _permutation(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (``data.order``: ``random`` or ``blocks``)."""
        if self._perm_cache is None or self._perm_cache[0] != epoch:
            if self._block_of is not None:
                from chaosbench_py.data.block_sampler import block_order

                order = block_order(self._block_of, seed=self.seed % (1 << 63), epoch=epoch,
                                    buffer_blocks=self.buffer_blocks)  # fmt: skip
                perm = torch.from_numpy(order)
            else:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                perm = torch.randperm(len(self.train_set), generator=g)
            self._perm_cache = (epoch, perm)
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
        """``(inputs (B, C_in, H, W), targets (B, R, C, H, W))`` of the samples ``indices``, on the device
        (:meth:`WindowDataset.batch <chaosbench_py.data.windows.WindowDataset.batch>`: each state copied
        once into the batch)."""
        x, y = dataset.batch(indices)
        return x.to(self.device), y.to(self.device)

    def _loader_batch(self, step: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``data.num_workers`` worker processes read the next batches ahead (same batches, same order)."""
        if self._loader is None or self._loader[0] != step:
            sampler = _StepBatches(self, step, rank, world)
            loader = torch.utils.data.DataLoader(
                _Batches(self.train_set), sampler=sampler, batch_size=None, num_workers=self.num_workers,
                prefetch_factor=2, pin_memory=self.device.type == "cuda",
            )  # fmt: skip
            self._loader = (step, iter(loader))
        x, y = next(self._loader[1])
        self._loader = (step + 1, self._loader[1])
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    # ------------------------------------------------------------------ loss
    def _criterion(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fn = area_weighted_mse if self.loss_kind == "mse" else area_weighted_mae
        return fn(pred.float(), target.float(), self.lat_weights, self.channel_weights)

    def compute_loss(
        self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, dict]:
        x, y = batch  # (B, C_in, H, W), (B, R, C, H, W)
        if self.input_noise > 0 and model.training:
            scale = (self.input_noise * self.tendency_ratio).to(x.dtype).view(1, -1, 1, 1)
            noise = torch.randn(x[:, : self.n_dynamic].shape, dtype=x.dtype).to(x.device) * scale
            x = torch.cat([x[:, : self.n_dynamic] + noise, x[:, self.n_dynamic :]], dim=1)
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
    def validation_loss(self, model: nn.Module, step: int, max_samples: int = 64) -> float | None:
        if self.valid_set is None or len(self.valid_set) == 0:
            return None
        n = min(len(self.valid_set), max_samples)
        idx = np.linspace(0, len(self.valid_set) - 1, n).round().astype(int)
        losses = []
        for start in range(0, n, self.batch_size):
            chunk = [int(i) for i in idx[start : start + self.batch_size]]
            losses.append(
                float(self.compute_loss(model, self._stack(self.valid_set, chunk), step)[0]) * len(chunk)
            )
        return sum(losses) / n


class _Batches(torch.utils.data.Dataset):
    """A dataset whose items are whole batches: ``self[indices] = windows.batch(indices)`` (read in a
    ``DataLoader`` worker, no collation)."""

    def __init__(self, windows: Any):
        self.windows = windows

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.windows.batch(indices)


class _StepBatches(torch.utils.data.Sampler):
    """Index lists of the local batches of steps ``start, start + 1, …`` (the trainer's batch order)."""

    def __init__(self, task: NextStepTask, start: int, rank: int, world: int):
        self.task, self.start, self.rank, self.world = task, start, rank, world

    def __iter__(self):
        step = self.start
        while True:
            yield self.task.global_indices(step)[self.rank :: self.world]
            step += 1
