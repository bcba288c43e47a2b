"""Data parallelism of the trainer on torch's own engines: DDP, FSDP2 and sharded DCP checkpoints.

``train.strategy`` (:class:`~chaosbench_py.training.config.TrainSection`) picks the engine:

* ``auto``: ``ddp`` under ``torchrun`` with ``WORLD_SIZE > 1``, ``none`` otherwise.
* ``none``: one process, no wrapper. Refused under ``torchrun`` with several processes (each would
  train its own copy).
* ``ddp``: :class:`torch.nn.parallel.DistributedDataParallel` around :class:`TaskLoss`, a thin module
  whose ``forward(batch, step)`` is the task's whole ``compute_loss``: every model method a task calls
  (GTF's latent steps, PhyxMamba's heads, a neural ODE's solver, Pangu's ``forward_stacked``) runs inside
  DDP's forward, so DDP's reducer sees the whole graph and averages the gradients in buckets, overlapped
  with the backward pass (Li et al. 2020, "PyTorch Distributed", VLDB; torch's DDP notes). When a task
  changes which parameters train (PhyxMamba's linear probing), the wrapper is rebuilt for the new set:
  DDP must not see parameters change after wrapping.
* ``fsdp``: FSDP2 (``torch.distributed.fsdp.fully_shard``, Zhao et al. 2023, "PyTorch FSDP", VLDB) on
  an explicit 1-D mesh ``init_device_mesh(device.type, (world,))``: each shard unit the model declares
  (its ``fsdp_units()`` method: Pangu's transformer blocks, FNO's spectral convolutions, SFNO's blocks)
  is sharded, then the :class:`TaskLoss` root holding the rest. Parameters are dim-0 sharded DTensors
  (all-gathered before a unit's forward, gradients reduce-scattered), so parameters, gradients and
  optimizer state each take ``1 / world`` of the memory. ``train.bf16`` adds a
  ``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)``. A model with no
  ``fsdp_units`` is a :class:`ConfigError` naming it.

``ddp`` or ``fsdp`` asked for in a single process (no ``torchrun``, or ``--nproc_per_node 1``) runs as
``none`` with a logged note (an ``fsdp`` request still checks that the model can shard).

Checkpoints under ``fsdp`` (:func:`save_dcp` / :func:`load_dcp`) are sharded with
``torch.distributed.checkpoint`` (DCP) in ``checkpoints/last.dcp/``: the model, optimizer and EMA state
through ``get_state_dict`` (keys as in the plain model), every process writing its shards, plus
``training.pt`` (step, scheduler, task state, RNG, history: as in ``last.pt``). All processes write into
``.last.dcp.incomplete/``; after a barrier rank 0 moves the old checkpoint aside, renames the new one into
place and deletes the old one (a process killed between the two renames leaves ``.last.dcp.old``, which
:func:`dcp_checkpoint_dir` falls back to). DCP reshards on load, so a checkpoint written by ``W``
processes resumes on any number of processes, including one process with ``strategy: none``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "STRATEGIES",
    "ParallelModel",
    "TaskLoss",
    "dcp_checkpoint_dir",
    "full_state_dict",
    "load_dcp",
    "read_dcp_training",
    "remove_other_checkpoint",
    "resolve_strategy",
    "save_dcp",
    "shard_units",
]

STRATEGIES = ("auto", "none", "ddp", "fsdp")


def resolve_strategy(name: str, world: int) -> str:
    """The engine ``none | ddp | fsdp`` that ``train.strategy: name`` means with ``world`` processes."""
    if name not in STRATEGIES:
        raise ConfigError(f"train.strategy: unknown value {name!r}; choose one of {list(STRATEGIES)}")
    if name == "auto":
        return "ddp" if world > 1 else "none"
    if world == 1 and name != "none":
        logger.warning(
            "train.strategy: %s requested in a single process (no torchrun): training unwrapped", name
        )
        return "none"
    if name == "none" and world > 1:
        raise ConfigError(
            f"train.strategy: 'none' under torchrun with {world} processes would train {world} unsynchronised "
            "copies; use ddp or fsdp (or auto)"
        )
    return name


def shard_units(model: nn.Module, name: str) -> list[nn.Module]:
    """The submodules FSDP shards one by one: ``model.fsdp_units()`` (:class:`ConfigError` when there are none)."""
    get = getattr(model, "fsdp_units", None)
    units = list(get()) if callable(get) else []
    if not units:
        raise ConfigError(
            f"train.strategy: fsdp: model {name!r} ({type(model).__name__}) has no shard units "
            "(no fsdp_units() listing its blocks); use ddp"
        )
    return units


class TaskLoss(nn.Module):
    """``forward(batch, step)`` = ``task.compute_loss(model, batch, step)``: what DDP / FSDP wrap.

    ``validation(step)`` = ``task.validation_loss(model, step)`` (registered as an FSDP forward method so
    the root's parameters are gathered around it). The model is the submodule ``model``.
    """

    def __init__(self, task: Any, model: nn.Module):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.task.compute_loss(self.model, batch, step)

    def validation(self, step: int) -> float | None:
        return self.task.validation_loss(self.model, step)


class ParallelModel:
    """The loss module of a run: ``TaskLoss`` plain, under DDP, or sharded with FSDP2.

    Args:
        task, model: the run's task and (plain) model, on ``device``; under ``fsdp`` the model's
            parameters become DTensors in place (``model`` stays the object the trainer holds).
        strategy: the resolved engine (:func:`resolve_strategy`).
        device: the process's device; ``world``: the number of processes; ``bf16``: train.bf16;
        find_unused: DDP's ``find_unused_parameters`` (a task that leaves parameters without gradient).
    Call ``loss(batch, step)`` for the step's ``(loss, metrics)``; ``validation(step)`` on every process
    (under ``fsdp`` it is a collective); ``is_sharded`` tells whether checkpoints go through DCP.
    """

    def __init__(self, task: Any, model: nn.Module, strategy: str, device: torch.device, world: int,
                 bf16: bool = False, find_unused: bool = False):  # fmt: skip
        self.task, self.model, self.strategy, self.device = task, model, strategy, device
        self.find_unused = find_unused
        self.module = TaskLoss(task, model)
        self._ddp: nn.Module | None = None
        self._ddp_key: tuple[bool, ...] | None = None
        if strategy == "fsdp":
            from torch.distributed.device_mesh import init_device_mesh

            MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method = _fsdp_api()
            units = shard_units(model, getattr(model, "model_name", type(model).__name__))
            mesh = init_device_mesh(device.type, (world,))
            mp = (
                MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
            )
            kwargs = {"mesh": mesh, **({"mp_policy": mp} if mp is not None else {})}
            for unit in units:
                fully_shard(unit, **kwargs)
            fully_shard(self.module, **kwargs)
            register_fsdp_forward_method(self.module, "validation")

    @property
    def is_sharded(self) -> bool:
        return self.strategy == "fsdp"

    def _wrapped(self) -> nn.Module:
        if self.strategy != "ddp":
            return self.module
        key = tuple(p.requires_grad for p in self.model.parameters())
        if self._ddp is None or key != self._ddp_key:
            if self._ddp is not None:
                logger.info("the trainable parameters changed: rebuilding the DDP wrapper")
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = nn.parallel.DistributedDataParallel(
                self.module, device_ids=ids, find_unused_parameters=self.find_unused
            )
            self._ddp_key = key
        return self._ddp

    def loss(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        return self._wrapped()(batch, step)

    def validation(self, step: int) -> float | None:
        return self.module.validation(step)


def _fsdp_api() -> tuple[Any, Any, Any]:
    """``MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method`` (public since torch 2.6; before,
    ``torch.distributed._composable.fsdp``); :class:`ConfigError` on a torch without them."""
    try:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method
    except ImportError:
        try:
            from torch.distributed._composable.fsdp import (  # torch 2.4 / 2.5
                MixedPrecisionPolicy,
                fully_shard,
                register_fsdp_forward_method,
            )
        except ImportError as exc:
            raise ConfigError(
                f"train.strategy: fsdp needs FSDP2 (torch >= 2.5); this torch is {torch.__version__} ({exc})"
            ) from exc
    return MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method


def _dtensor_class() -> type:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch < 2.5
        from torch.distributed._tensor import DTensor
    return DTensor


def grad_norm_value(norm: torch.Tensor) -> torch.Tensor:
    """A gradient norm as a plain tensor (``clip_grad_norm_`` returns a DTensor for sharded gradients)."""
    return norm.full_tensor() if isinstance(norm, _dtensor_class()) else norm


def full_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every DTensor gathered to a full CPU tensor (a collective under FSDP: call on every rank)."""
    dtensor = _dtensor_class()
    return {k: (v.full_tensor() if isinstance(v, dtensor) else v).detach().cpu() for k, v in state.items()}


class StateView(nn.Module):
    """What :func:`emulators.checkpoint.save_model` reads of a model (name, config, state dict), for a given state."""

    def __init__(self, model: nn.Module, state: dict[str, torch.Tensor]):
        super().__init__()
        self.model_name, self.config, self._state = model.model_name, model.config, state

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return self._state


def dcp_checkpoint_dir(path: Path) -> Path | None:
    """The DCP checkpoint folder ``path`` if complete, else ``.<name>.old`` left by a kill mid-rename, else None."""
    old = path.parent / f".{path.name}.old"
    for p in (path, old):
        if (p / "training.pt").exists():
            return p
    return None


def remove_other_checkpoint(pt_path: Path, sharded: bool) -> None:
    """After a checkpoint is written, remove the older one of the other kind (``last.dcp/`` beside a new
    ``last.pt`` or the reverse), so that a resume finds only the newest."""
    if sharded:
        pt_path.unlink(missing_ok=True)
    else:
        shutil.rmtree(pt_path.with_suffix(".dcp"), ignore_errors=True)


def _dcp_state(model: nn.Module, optimizer: torch.optim.Optimizer | None, ema: dict | None) -> dict[str, Any]:
    """Model (and optimizer, EMA) state with the plain model's keys; the optimizer's only when it has state
    (``get_optimizer_state_dict`` would otherwise initialise it with a zero-gradient step)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state: dict[str, Any] = {"model": get_model_state_dict(model)}
    if optimizer is not None:
        state["optimizer"] = get_optimizer_state_dict(model, optimizer)
    if ema is not None:
        state["ema"] = ema
    return state


@contextlib.contextmanager
def _single_process_quiet():
    """DCP in one process (no process group) is intended here: drop DCP's warning that it assumes so."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def save_dcp(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, ema: dict | None,
             training: dict[str, Any], is_main: bool, barrier: Any) -> None:  # fmt: skip
    """Write the sharded checkpoint folder ``path`` (every process; see the module docstring).

    ``training`` (plain values and tensors: step, scheduler, task, RNG …) goes to ``training.pt``
    (rank 0) with the learning rates of the parameter groups; model / optimizer / EMA shards through
    ``torch.distributed.checkpoint.save``. An optimizer without state yet (before its first step) is
    recorded as such rather than initialised.
    """
    import torch.distributed.checkpoint as dcp

    tmp, old = path.parent / f".{path.name}.incomplete", path.parent / f".{path.name}.old"
    has_opt = bool(optimizer.state)
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    with _single_process_quiet():
        dcp.save(_dcp_state(model, optimizer if has_opt else None, ema), checkpoint_id=str(tmp))
    barrier()
    if is_main:
        lrs = [float(g["lr"]) for g in optimizer.param_groups]
        torch.save({**training, "has_ema": ema is not None, "has_optimizer": has_opt, "lrs": lrs},
                   tmp / "training.pt")  # fmt: skip
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    barrier()


def read_dcp_training(path: Path) -> dict[str, Any]:
    """The ``training.pt`` mapping of the checkpoint folder ``path`` (:class:`CheckpointError` if unreadable)."""
    from emulators.errors import CheckpointError

    try:
        return torch.load(path / "training.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # a missing, truncated or foreign file
        raise CheckpointError(f"{path}: not a training checkpoint folder ({exc})") from exc


def load_dcp(path: Path, training: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
             ema: dict | None) -> None:  # fmt: skip
    """Load the checkpoint folder ``path`` (``training``: its :func:`read_dcp_training`) into ``model``,
    ``optimizer`` and ``ema`` in place, resharding as needed (every process)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    from emulators.errors import CheckpointError

    has_opt = bool(training.get("has_optimizer"))
    state = _dcp_state(model, optimizer if has_opt else None, ema if training.get("has_ema") else None)
    try:
        with _single_process_quiet():
            dcp.load(state, checkpoint_id=str(path))
    except Exception as exc:  # DCP wraps the per-rank failures (missing keys, other shapes)
        raise CheckpointError(f"{path}: does not fit this run's model / optimizer ({exc})") from exc
    set_model_state_dict(model, state["model"])
    optimizer.state.clear()
    if has_opt:
        set_optimizer_state_dict(model, optimizer, state["optimizer"])
    for group, lr in zip(optimizer.param_groups, training["lrs"]):
        group["lr"] = lr
