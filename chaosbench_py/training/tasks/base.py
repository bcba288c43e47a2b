"""The task interface of the generic trainer, and the registry of task kinds.

A *task* owns what is learned: its data, its batch order and its loss. The
:class:`~chaosbench_py.training.Trainer` owns the loop (optimizer, schedule, autocast, clipping, EMA,
NaN guard, checkpoints, data parallelism, logging) and calls every hook below on every task, once per
step in this order::

    batch   = task.batch(step, rank, world)                  # the data position is the step
    options = task.prepare_step(model, optimizer, batch, step) # stages, adaptive α, {"grad_clip": …}
    loss, metrics = task.compute_loss(model, batch, step)      # the whole per-batch loss
    (backward — DDP / FSDP average the gradients —, clipping, optimizer step; lr × task.lr_factor(step))

``compute_loss`` is the one method that differentiates through the model: everything a
distributed wrapper needs to see of a step happens inside it (the trainer calls it through
:class:`~chaosbench_py.training.parallel.TaskLoss`, the module DDP / FSDP wrap). ``prepare_step`` runs
outside the wrapper: it may read the weights (GTF's α, under ``no_grad``) and set ``requires_grad``
(PhyxMamba's linear probing; DDP is then rebuilt for the new set), but must not back-propagate. ``prepare_step`` and ``lr_factor``
must depend on ``step`` and the task state only, so that a resumed run repeats them exactly.

A task kind is a subclass registered under the name ``task.kind`` takes in a run file::

    @register_task("my_kind")
    class MyTask(Task):
        data_kinds = ("trajectories",)
        def batch(self, step, rank=0, world=1): ...
        def compute_loss(self, model, batch, step): ...

and :func:`get_task` finds it again (an unknown name is an error listing the close matches).
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn as nn

from ...errors import ConfigError, UnknownNameError

if TYPE_CHECKING:  # the config module imports this package, never the other way round at run time
    from ..config import RunConfig

__all__ = ["Task", "build_task", "get_task", "list_tasks", "model_config_fields", "register_task"]

_TASKS: dict[str, type[Task]] = {}


def register_task(kind: str):
    """Class decorator: register a :class:`Task` subclass as ``task.kind: <kind>``."""

    def deco(cls: type[Task]) -> type[Task]:
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"register_task({kind!r}): {cls!r} is not a Task subclass")
        if kind in _TASKS and _TASKS[kind] is not cls:
            raise ValueError(
                f"task kind {kind!r} is registered twice ({_TASKS[kind].__name__}, {cls.__name__})"
            )
        cls.kind = kind
        _TASKS[kind] = cls
        return cls

    return deco


def list_tasks() -> list[str]:
    """Sorted names of the registered task kinds."""
    return sorted(_TASKS)


def get_task(kind: str) -> type[Task]:
    """The task class registered as ``kind`` (:class:`UnknownNameError` listing close matches if none)."""
    if kind not in _TASKS:
        close = difflib.get_close_matches(str(kind), list(_TASKS), n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise UnknownNameError(f"unknown task kind {kind!r}{hint}; registered: {list_tasks()}")
    return _TASKS[kind]


def build_task(cfg: RunConfig, device: torch.device, **kwargs: Any) -> Task:
    """The task of ``cfg.task.kind`` built on ``cfg`` (this reads the data); ``kwargs`` go to its constructor."""
    cls = get_task(cfg.task.kind)
    cls.check_config(cfg)
    return cls(cfg, device, **kwargs)


def model_config_fields(name: str) -> set[str]:
    """The keys of model ``name``'s config dataclass (``emulators`` registry)."""
    import emulators

    return {f.name for f in dataclasses.fields(emulators.model_config_class(name))}


class Task(abc.ABC):
    """Base class of the task kinds: every hook exists here and does nothing, so the trainer calls them all;
    a kind must implement the two abstract methods :meth:`batch` and :meth:`compute_loss`.

    Class attributes a kind sets: ``kind`` (set by :func:`register_task`); ``data_kinds`` (the
    ``data.kind`` values it trains on); ``options_key`` (the ``task`` sub-section holding its own keys,
    e.g. ``"gtf"``, or ``None``); ``data_fields`` (model config keys it fills in from the data when the
    run file omits them: channel counts, grid sizes). Instance attributes: ``log_columns`` (the names of
    the metrics :meth:`compute_loss` returns: extra ``metrics.csv`` columns) and ``steps_per_epoch``
    (``0`` for tasks that draw windows at random rather than in epochs).

    Args:
        cfg: the validated run configuration.
        device: where batches are put.
    """

    kind: ClassVar[str] = ""
    data_kinds: ClassVar[tuple[str, ...]] = ()
    options_key: ClassVar[str | None] = None
    data_fields: ClassVar[frozenset[str]] = frozenset()
    log_columns: list[str] = []
    steps_per_epoch: int = 0
    #: DDP's ``find_unused_parameters`` for this kind: ``True`` only if a step may leave trainable
    #: parameters without a gradient (costs a graph traversal per step)
    ddp_find_unused_parameters: ClassVar[bool] = False

    def __init__(self, cfg: RunConfig, device: torch.device):
        self.cfg = cfg
        self.device = device

    # ------------------------------------------------------------------ before any data is read
    @classmethod
    def check_config(cls, cfg: RunConfig) -> None:
        """Validate the parts of ``cfg`` this kind reads, without touching the data (:class:`ConfigError`).

        The base checks ``data.kind`` against :attr:`data_kinds` and that no other kind's options
        section (``task.gtf``, ``task.phyxmamba`` …) is filled in. Subclasses extend it (``super()``).
        """
        if cls.data_kinds and cfg.data.kind not in cls.data_kinds:
            raise ConfigError(
                f"task.kind: {cls.kind!r} trains on data.kind {' or '.join(map(repr, cls.data_kinds))}; "
                f"data.kind is {cfg.data.kind!r}"
            )
        for other in _TASKS.values():
            key = other.options_key
            if key and other is not cls and getattr(cfg.task, key, None):
                raise ConfigError(
                    f"task.{key}: only read by task.kind {other.kind!r}; this run's task.kind is {cfg.task.kind!r}"
                )

    # ------------------------------------------------------------------ model
    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        """Model ``name``'s config keys ``values`` with the data-dependent ones (:attr:`data_fields`) filled in."""
        return dict(values)

    def setup_model(self, model: nn.Module) -> None:
        """Once, after the model is built and moved to the device (e.g. normalisation buffers from the data)."""
        return None  # a hook: no-op by default

    def metadata(self) -> dict[str, Any]:
        """What a checkpoint must carry to use the model again (channel order, normalisation, schema …)."""
        return {}

    # ------------------------------------------------------------------ one step
    @abc.abstractmethod
    def batch(self, step: int, rank: int = 0, world: int = 1) -> Any:
        """The local batch of global optimiser step ``step`` for process ``rank`` of ``world``.

        The global batch is a function of the task state and ``step`` only and is split evenly, so
        ``world`` processes together see exactly the batch one process would.
        """

    def prepare_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any, step: int) -> dict:
        """Before the forward pass of ``step``: freeze / unfreeze parameters, reset the optimizer state at a
        stage boundary, update task state from the current weights (GTF's α). Returns step options:
        ``{"grad_clip": float}`` replaces ``train.grad_clip`` for this step; ``{}`` changes nothing."""
        return {}

    @abc.abstractmethod
    def compute_loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """``(scalar loss, {metric: float})`` of ``batch``: a mean over the local batch, differentiable."""

    def lr_factor(self, step: int) -> float:
        """Multiplies the learning-rate schedule at ``step`` (stages with their own rates); 1 by default."""
        return 1.0

    def validation_loss(self, model: nn.Module, step: int) -> float | None:
        """Mean loss on the held-out part (``None`` when there is none)."""
        return None

    # ------------------------------------------------------------------ state (checkpoints)
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (sampler generator, adaptive α …): tensors and plain values."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        return None  # a hook: no-op by default
