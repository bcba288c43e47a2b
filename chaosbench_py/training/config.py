"""Run configuration: YAML → typed, validated dataclasses, before any heavy work starts.

A run file has six sections (every key optional except ``model.name`` and ``data.path``)::

    model:     {name: fno, config: {n_modes: [8, 16], hidden_channels: 32}}
    data:      {kind: gridded, path: sw.zarr, variables: [z, u, v], train: [2000-01-01, 2000-01-20], ...}
    task:      {kind: next_step, rollout_steps: 2, variable_weights: {z: 1.0}, ...}
    optimizer: {name: adamw, lr: 1.0e-3, weight_decay: 0.0}
    schedule:  {name: cosine, warmup_steps: 50, min_lr: 1.0e-5}
    train:     {steps: 1000, batch_size: 8, grad_clip: 1.0, bf16: false, ema_decay: 0.999, ...}

Validation (:func:`config_from_dict`) is recursive and strict: an unknown key, a value of the
wrong type or a value outside its allowed set raises :class:`ConfigError` whose message starts
with the dotted key, e.g. ``train.batch_size: expected int, got 'eight'``, and lists the valid
keys or choices. Everything that can be checked without reading data is checked here, so a bad
file fails before a store is opened: ``task.kind`` against the task registry
(:func:`chaosbench_py.training.tasks.get_task`, close matches listed), ``model.name`` against the model
registry, the task kind's own rules and options (``task.gtf``, ``task.phyxmamba``, which ``data.kind``
it trains on: :meth:`Task.check_config <chaosbench_py.training.tasks.Task.check_config>`), and
``model.config`` against the model's config dataclass — unknown keys (with the closest valid key),
value types, and required keys, except those the task fills in from the data (channel counts, grid
sizes: the task's ``data_fields``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, MissingInputError, UnknownNameError

__all__ = [
    "ConfigError",
    "DataSection",
    "ModelSection",
    "OptimizerSection",
    "RunConfig",
    "ScheduleSection",
    "TaskSection",
    "TrainSection",
    "config_from_dict",
    "config_to_dict",
    "load_run_config",
]


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


@dataclass
class ModelSection:
    """``name``: a registered model (``emulators.list_models()``); ``config``: its config keys.
    Channel counts (``in_channels``/``out_channels``/``obs_dim``) and grid sizes (``img_size``) the model
    config has but the file omits are filled in from the data."""

    name: str = ""
    config: dict = field(default_factory=dict)


@dataclass
class DataSection:
    """Where the training data comes from.

    ``kind="gridded"``: ``path`` is a canonical gridded store (zarr/netCDF, any layout
    :func:`chaosbench_py.data.open_era5` reads); ``variables`` / ``levels`` / ``constants`` pick the
    channels (order = channel order); ``train`` / ``valid`` are inclusive ``[start, end]`` time ranges
    (ISO strings); ``num_workers`` processes read batches ahead (a ``DataLoader`` over the trainer's own
    batch order, so results do not depend on it); ``in_memory`` loads the selected variables once (small
    stores: avoids one dask graph per sample). ``order``: the epoch order of the training windows —
    ``random`` (a uniform permutation, the default: it keeps the sample order of every earlier run and
    checkpoint) or ``blocks`` (chunk-aware: blocks of ``block_size`` consecutive time steps in random order,
    the samples of ``buffer_blocks`` consecutive blocks shuffled together; each chunk is decoded about once
    per epoch, :mod:`chaosbench_py.data.block_sampler`); ``block_size`` defaults to the store's time chunk
    rounded up to 8 steps (8 days for the ChaosBench per-day layout), fewer whole chunks when that buffer
    would pass 1 GiB.
    ``kind="trajectories"``: ``path`` is a ``.npy`` ``(time, dim)`` / ``(trajectory, time, dim)`` array or a
    trajectory store (``.zarr``/``.nc``, variable ``x``); ``train_fraction`` of the time axis trains,
    the rest is held out; ``standardize`` divides by the training std (after removing the mean);
    ``smoothing_window`` > 0 replaces every series (its training and held-out parts separately) by its
    Savitzky–Golay smoothing (:func:`scipy.signal.savgol_filter`, ``smoothing_window`` points, polynomial
    order ``smoothing_order``, ``mode="interp"``) before anything else — a denoiser for training on noisy
    observations (models trained on noisy series learn too strong a contraction transverse to the attractor:
    ``chaosbench_py.reproduce.gtf``).
    """

    kind: str = dataclasses.field(default="gridded", metadata=_choices("gridded", "trajectories"))
    path: str = ""
    variables: list = field(default_factory=list)
    levels: list | None = None
    constants: list = field(default_factory=list)
    train: list | None = None
    valid: list | None = None
    time_step: str | None = None
    num_workers: int = 0
    in_memory: bool = False
    order: str = dataclasses.field(default="random", metadata=_choices("random", "blocks"))
    block_size: int | None = None
    buffer_blocks: int = 2
    train_fraction: float = 0.8
    standardize: bool = False
    smoothing_window: int = 0
    smoothing_order: int = 3


@dataclass
class TaskSection:
    """What is learned.

    ``kind="next_step"`` (gridded emulators): ``rollout_steps`` autoregressive steps per sample,
    loss averaged over them; ``detach_every``: the fed-back state is detached every this many steps
    (truncated back-propagation; ``None`` = through the whole rollout); ``loss``: ``mse`` or ``mae``,
    latitude-weighted when ``area_weighted``; ``variable_weights`` / ``level_weights``: per-channel
    factors (:func:`physics_metrics.weather.losses.channel_weight_vector`); ``loss_scale``: ``state``
    (errors in units of each channel's standard deviation, the default) or ``tendency`` (in units of the
    standard deviation of its one-step change, so that persistence scores 1 on every channel — the
    residual normalisation of GraphCast, Lam et al. 2023; :func:`~chaosbench_py.training.tasks.next_step.tendency_ratio`);
    ``input_noise``: standard deviation of Gaussian noise added to the dynamic input channels of each training
    sample (not to the targets, not in validation), in units of each channel's one-step change ``r_c`` — the
    model learns to pull perturbed states back, which slows the growth of its own rollout errors
    (noise injection, Sanchez-Gonzalez et al. 2020, ICML; 0 = off).
    ``kind="gtf"`` (shPLRNN, low-dimensional series): generalized teacher forcing; ``gtf`` holds
    :class:`chaosbench_py.training.GTFConfig` keys of the forcing (``sequence_length``, ``alpha``,
    ``alpha_method``, ``alpha_update_interval``, ``alpha_decay``, ``partial_forcing``, ``forcing``,
    ``stf_interval``, ``lambda_latent``, ``lambda_observation``).
    ``kind="multi_step"`` (neural ODE and any model with ``forward(x0, n_steps)``): windows of
    ``rollout_steps`` steps integrated from their first point, MSE over the window.
    ``kind="phyxmamba"``: PhyxMamba's two stages (teacher forcing with multi-token prediction, then
    autoregressive fine-tuning with MMD terms); ``phyxmamba`` holds the stage keys of
    :class:`chaosbench_py.training.PhyxMambaTrainConfig`. Further kinds can be registered
    (:func:`chaosbench_py.training.tasks.register_task`).
    """

    kind: str = "next_step"  # a registered task kind (chaosbench_py.training.tasks.list_tasks())
    rollout_steps: int = 1
    detach_every: int | None = None
    loss: str = dataclasses.field(default="mse", metadata=_choices("mse", "mae"))
    area_weighted: bool = True
    loss_scale: str = dataclasses.field(default="state", metadata=_choices("state", "tendency"))
    input_noise: float = 0.0
    variable_weights: dict | None = None
    level_weights: dict | None = None
    gtf: dict = field(default_factory=dict)
    phyxmamba: dict = field(default_factory=dict)


@dataclass
class OptimizerSection:
    """``name``: ``adam``, ``adamw``, ``radam`` or ``sgd``; ``lr``; ``weight_decay``; ``betas`` (Adam family);
    ``momentum`` (SGD)."""

    name: str = dataclasses.field(default="adamw", metadata=_choices("adam", "adamw", "radam", "sgd"))
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.9


@dataclass
class ScheduleSection:
    """Learning-rate schedule per optimiser step, after ``warmup_steps`` of linear warm-up from 0:
    ``constant``; ``cosine`` (to ``min_lr`` at the last step); ``exponential`` (from ``lr`` to ``min_lr`` at
    the last step, i.e. factor ``(min_lr/lr)^(s/S)``; with ``decay_every = E`` the factor changes only every
    E steps, ``(min_lr/lr)^(E⌊s/E⌋/S)``: the GTF paper's once-per-epoch decay); ``step`` (× ``gamma`` every
    ``step_size`` steps)."""

    name: str = dataclasses.field(
        default="constant", metadata=_choices("constant", "cosine", "exponential", "step")
    )
    warmup_steps: int = 0
    min_lr: float = 0.0
    gamma: float = 0.5
    step_size: int = 1000
    decay_every: int = 1


@dataclass
class TrainSection:
    """The loop.

    ``steps``: optimiser steps; ``batch_size``: the GLOBAL batch (split evenly over processes under DDP);
    ``grad_clip``: total 2-norm clip (0 = off); ``bf16``: autocast the forward pass to bfloat16;
    ``compile``: ``torch.compile`` the model; ``ema_decay``: keep an exponential moving average of the
    weights (``None`` = off; the EMA weights are what ``model.pt`` holds; the decay warms up as
    ``min(ema_decay, (1 + step) / (10 + step))``, :func:`~chaosbench_py.training.trainer.ema_decay_at`); ``nan_policy``: on a non-finite
    loss or gradient, ``stop`` (raise, last checkpoint kept) or ``rollback`` (restore the last checkpoint,
    multiply the learning rate by ``rollback_lr_factor``, at most ``max_rollbacks`` times);
    ``checkpoint_every`` / ``log_every`` / ``validate_every``: in steps (0 = off; a checkpoint is always
    written at the end); ``seed``; ``device``: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``…;
    ``progress``: tqdm bar; ``tensorboard``: also write TensorBoard events when ``tensorboard`` is installed;
    ``strategy``: data parallelism under ``torchrun`` — ``auto`` (``ddp`` with several processes, else
    ``none``), ``none``, ``ddp`` (DistributedDataParallel) or ``fsdp`` (FSDP2 sharding, DCP checkpoints);
    see :mod:`chaosbench_py.training.parallel`.
    """

    steps: int = 1000
    batch_size: int = 8
    grad_clip: float = 0.0
    bf16: bool = False
    compile: bool = False
    ema_decay: float | None = None
    nan_policy: str = dataclasses.field(default="stop", metadata=_choices("stop", "rollback"))
    max_rollbacks: int = 3
    rollback_lr_factor: float = 0.5
    checkpoint_every: int = 100
    log_every: int = 10
    validate_every: int = 0
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    tensorboard: bool = False
    strategy: str = dataclasses.field(default="auto", metadata=_choices("auto", "none", "ddp", "fsdp"))


@dataclass
class RunConfig:
    """A whole run: the six sections above."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    task: TaskSection = field(default_factory=TaskSection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    train: TrainSection = field(default_factory=TrainSection)

    def __post_init__(self) -> None:
        _check_ranges(self)


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against the annotation ``hint`` (int/float/bool/str/list/dict/None/dataclass)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {hint.__name__} keys, got {value!r}")
        return _from_mapping(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected int, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if hint is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [str(v) if hasattr(v, "isoformat") else v for v in value]
    if hint is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    return value  # pragma: no cover - every annotation above is handled


def _from_mapping(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{prefix}{key}: unknown key{hint}; valid keys: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        full = f"{prefix}{name}"
        coerced = _coerce(
            value, hints[name], full if not dataclasses.is_dataclass(hints[name]) else full + "."
        )
        choices = fields[name].metadata.get("choices")
        if choices and coerced not in choices:
            raise ConfigError(f"{full}: {coerced!r} is not one of {list(choices)}")
        kwargs[name] = coerced
    return cls(**kwargs)


def _check_ranges(cfg: RunConfig) -> None:
    def need(cond: bool, key: str, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{key}: {msg}")

    t, o, s, k, d = cfg.train, cfg.optimizer, cfg.schedule, cfg.task, cfg.data
    need(t.steps >= 1, "train.steps", f"must be >= 1, got {t.steps}")
    need(t.batch_size >= 1, "train.batch_size", f"must be >= 1, got {t.batch_size}")
    need(t.grad_clip >= 0, "train.grad_clip", f"must be >= 0, got {t.grad_clip}")
    need(
        t.ema_decay is None or 0.0 < t.ema_decay < 1.0,
        "train.ema_decay",
        f"must lie in (0, 1), got {t.ema_decay}",
    )
    need(0.0 < t.rollback_lr_factor <= 1.0, "train.rollback_lr_factor", "must lie in (0, 1]")
    for key in ("checkpoint_every", "log_every", "validate_every", "max_rollbacks"):
        need(getattr(t, key) >= 0, f"train.{key}", f"must be >= 0, got {getattr(t, key)}")
    need(o.lr > 0, "optimizer.lr", f"must be > 0, got {o.lr}")
    need(o.weight_decay >= 0, "optimizer.weight_decay", f"must be >= 0, got {o.weight_decay}")
    need(
        len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
        "optimizer.betas",
        f"need two values in [0, 1), got {o.betas}",
    )
    need(s.warmup_steps >= 0, "schedule.warmup_steps", f"must be >= 0, got {s.warmup_steps}")
    need(s.min_lr >= 0, "schedule.min_lr", f"must be >= 0, got {s.min_lr}")
    need(
        s.name != "exponential" or s.min_lr > 0,
        "schedule.min_lr",
        "the exponential schedule needs min_lr > 0",
    )
    need(s.step_size >= 1, "schedule.step_size", f"must be >= 1, got {s.step_size}")
    need(s.decay_every >= 1, "schedule.decay_every", f"must be >= 1, got {s.decay_every}")
    need(k.rollout_steps >= 1, "task.rollout_steps", f"must be >= 1, got {k.rollout_steps}")
    need(
        not isinstance(k.input_noise, bool) and isinstance(k.input_noise, (int, float)) and k.input_noise >= 0,
        "task.input_noise",
        f"must be a number >= 0, got {k.input_noise!r}",
    )
    need(
        k.detach_every is None or k.detach_every >= 1,
        "task.detach_every",
        f"must be >= 1, got {k.detach_every}",
    )
    need(0.0 < d.train_fraction <= 1.0, "data.train_fraction", f"must lie in (0, 1], got {d.train_fraction}")
    need(d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}")
    need(
        d.block_size is None or d.block_size >= 1,
        "data.block_size",
        f"must be a positive number of time steps, got {d.block_size}",
    )
    need(d.buffer_blocks >= 1, "data.buffer_blocks", f"must be >= 1, got {d.buffer_blocks}")
    need(
        d.order == "random" or d.kind == "gridded",
        "data.order",
        f"the block order applies to data.kind 'gridded' only, not {d.kind!r}",
    )
    need(
        d.smoothing_window == 0
        or (d.smoothing_window % 2 == 1 and d.smoothing_window > d.smoothing_order >= 0),
        "data.smoothing_window",
        f"must be 0 (off) or an odd number of points > data.smoothing_order ({d.smoothing_order}), got {d.smoothing_window}",
    )
    need(
        d.smoothing_window == 0 or d.kind == "trajectories",
        "data.smoothing_window",
        f"smoothing applies to data.kind 'trajectories' only, not {d.kind!r}",
    )
    for key in ("train", "valid"):
        rng = getattr(d, key)
        need(rng is None or len(rng) == 2, f"data.{key}", f"expected [start, end], got {rng}")


def config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    """Validate a parsed YAML mapping into a :class:`RunConfig` (raises :class:`ConfigError`)."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"<root>: expected a mapping of sections, got {type(values).__name__}")
    cfg = _from_mapping(RunConfig, values, "")
    if not cfg.model.name:
        raise ConfigError("model.name: required (one of emulators.list_models())")
    if not cfg.data.path:
        raise ConfigError("data.path: required (a gridded store or a trajectory file)")
    _check_data_keys(cfg)
    task_cls = _task_class(cfg.task.kind)
    _model_config_class(cfg.model.name)
    task_cls.check_config(cfg)
    _check_model_config(cfg, task_cls.data_fields)
    return cfg


def _task_class(kind: str) -> Any:
    from .tasks import get_task

    try:
        return get_task(kind)
    except UnknownNameError as exc:
        raise ConfigError(f"task.kind: {exc}") from exc


def _model_config_class(name: str) -> type:
    import emulators
    from emulators.errors import EmulatorKeyError

    try:
        return emulators.model_config_class(name)
    except EmulatorKeyError as exc:
        raise ConfigError(f"model.name: {exc}") from exc


def _check_data_keys(cfg: RunConfig) -> None:
    """Values that must parse: time ranges, the time step, loss weights, the device name."""
    import pandas as pd

    d, k = cfg.data, cfg.task
    for key in ("train", "valid"):
        for value in getattr(d, key) or []:
            try:
                pd.Timestamp(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"data.{key}: {value!r} is not a date/time ({exc})") from exc
    if d.time_step is not None:
        try:
            pd.Timedelta(d.time_step)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"data.time_step: {d.time_step!r} is not a time span such as '6h' ({exc})"
            ) from exc
    for key in ("variable_weights", "level_weights"):
        for name, w in (getattr(k, key) or {}).items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                raise ConfigError(f"task.{key}.{name}: expected a number >= 0, got {w!r}")
    if cfg.train.device != "auto":
        import torch

        try:
            torch.device(cfg.train.device)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"train.device: {cfg.train.device!r} is not a device (auto, cpu, cuda, cuda:1, mps …)"
            ) from exc


def _check_model_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` of ``model.config`` checked against its field annotation (YAML's ``1e-3`` strings → float)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            try:
                return _check_model_value(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if hint is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return value
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}: expected int, got {value!r}")
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if hint is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        fixed = args and Ellipsis not in typing.get_args(hint)
        if fixed and len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return [
            _check_model_value(v, args[i] if fixed else args[0], f"{key}[{i}]") if args else v
            for i, v in enumerate(value)
        ]
    return value


def _check_model_config(cfg: RunConfig, data_fields: frozenset[str]) -> None:
    """``model.config`` against model ``model.name``'s config dataclass (keys, types, required keys)."""
    name, values = cfg.model.name, cfg.model.config
    config_cls = _model_config_class(name)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"model.config.{key}: unknown key for model {name!r}{hint}; valid keys: {sorted(fields)}"
            )
    for key, value in list(values.items()):
        values[key] = _check_model_value(value, hints.get(key), f"model.config.{key}")
    for key, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and key not in values and key not in data_fields:
            raise ConfigError(f"model.config.{key}: required by model {name!r} (it has no default)")


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain nested dict (YAML/JSON/checkpoint-safe) of ``cfg``; ``config_from_dict`` inverts it."""
    return dataclasses.asdict(cfg)


def load_run_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Read a YAML run file and validate it. ``overrides``: dotted keys → values applied first
    (e.g. ``{"train.steps": 10}``; the CLI's ``--set train.steps=10``)."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"no run configuration at {path}")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a run configuration (YAML file)")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text (YAML) file: {exc.reason} at byte {exc.start}") from exc
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())  # one line
        raise ConfigError(f"{path}: not valid YAML ({reason})") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for dotted, value in (overrides or {}).items():
        apply_override(values, dotted, value)
    return config_from_dict(values)


def apply_override(values: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``values[a][b][c] = value`` for ``dotted = "a.b.c"`` (creating missing mappings)."""
    parts = dotted.split(".")
    node = values
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {p!r} is not a section")
    node[parts[-1]] = value
