"""The trainer: one loop for every emulator, on a laptop CPU, a GPU, or many GPUs under ``torchrun``.

::

    cfg = load_run_config("fno.yaml")          # typed, validated (chaosbench_py.training.config)
    Trainer(cfg, "runs/fno").fit()             # or: chaosbench train fno.yaml --out runs/fno [--resume]

What a step does (global step ``s``; the task hooks are those of :class:`~chaosbench_py.training.tasks.Task`)::

    batch = task.batch(s, rank, world)                     # the data position is s (+ the task's sampler state)
    options = task.prepare_step(model, optimizer, batch, s) # stages, GTF's adaptive α, {"grad_clip": …}
    with autocast(bf16):  loss, metrics = TaskLoss(task, model)(batch, s)   # = task.compute_loss(model, batch, s)
    loss.backward()                                         # DDP / FSDP average (reduce-scatter) the gradients
    clip to train.grad_clip;  NaN/inf guard;  optimizer.step();  lr = schedule × task.lr_factor(s);  EMA update

Output folder ``out/``: ``config.yaml`` (the validated config), ``metrics.csv`` (+ ``tensorboard/``),
``checkpoints/last.pt`` (training state, every ``checkpoint_every`` steps and at the end) and
``model.pt`` (the model to use: EMA weights when ``ema_decay`` is set, with config, channel order,
normalisation, schema and package version; :func:`emulators.load_model` reads it). An existing,
non-empty ``out/`` is refused unless ``resume=True`` or ``overwrite=True``; a new run is written aside
and takes the place of ``out/`` only with its first checkpoint (:mod:`.run_dir`), every file is written
atomically, and a run killed at any point leaves no partial file in view.

Exact resume: ``checkpoints/last.pt`` holds model, optimizer, scheduler, EMA, task state (sampler
generator, α …), step, learning-rate scale, and the torch / CUDA / numpy / Python RNG states, all as
tensors and plain values (``torch.load(weights_only=True)``); ``Trainer(cfg, out, resume=True)``
continues so that a run killed at any point and resumed ends with the same weights as an
uninterrupted run (tested by killing a process with SIGKILL at several points). A ``last.pt`` that is not a
checkpoint (truncated, another file type) or does not fit the configured model (another width) is a
:class:`~emulators.errors.CheckpointError` naming the file and the mismatched weights.

Distributed (:mod:`.parallel`): under ``torchrun`` (``WORLD_SIZE > 1``) the process group is
initialised with NCCL on CUDA and gloo on CPU; ``train.batch_size`` is the global batch, split
evenly (process ``r`` takes samples ``r, r + W, …`` of the global batch — a distributed sampler; a world
size that does not divide it is refused naming both numbers), rank 0's initial weights are broadcast.
``train.strategy`` picks the engine: ``ddp`` (the default under ``torchrun``) wraps
:class:`~.parallel.TaskLoss` — a module whose ``forward`` is the task's whole ``compute_loss``, so every
model method a task calls (GTF's latent steps, PhyxMamba, a neural ODE) runs inside DDP's forward — in
``DistributedDataParallel``, which averages the gradients in buckets overlapped with the backward pass;
``fsdp`` shards the model's declared units (``fsdp_units()``: Pangu's blocks, FNO / SFNO spectral
layers) and the ``TaskLoss`` root with FSDP2 ``fully_shard`` and checkpoints through
``torch.distributed.checkpoint`` into ``checkpoints/last.dcp/`` (resumable on any number of processes,
including one); ``model.pt`` then holds the gathered full weights. Either equals the one-process run
with the same global batch up to float summation order (tested with 2 gloo processes). Only rank 0
writes files (every rank writes its shards of a DCP checkpoint). ``ddp`` / ``fsdp`` in one process run
as ``none`` with a logged note.

NaN guard: a non-finite loss or gradient norm (checked after the all-reduce, so every process
agrees) either stops the run with ``FloatingPointError`` naming the step and the quantity
(``nan_policy: stop``; the last checkpoint stays valid), or (``rollback``) restores the last
checkpoint, multiplies the learning rate by ``rollback_lr_factor`` and continues, at most
``max_rollbacks`` times.
"""

from __future__ import annotations

import logging
import math
import os
import random
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import emulators
from emulators.checkpoint import check_model_checkpoint, load_state_dict_checked, read_checkpoint, save_model
from emulators.errors import CheckpointError

from ..errors import InputError, MissingInputError, NonFiniteError
from ..files import atomic_write_text
from . import parallel
from .config import RunConfig, config_from_dict, config_to_dict
from .distributed import DistributedContext, resolve_device
from .parallel import ParallelModel, StateView, resolve_strategy, shard_units
from .run_dir import RunFolder
from .run_log import MetricsLog
from .tasks import Task, build_task

logger = logging.getLogger(__name__)

__all__ = ["DistributedContext", "Trainer", "build_scheduler_lambda", "ema_decay_at", "resolve_device"]

# keys that may differ between a checkpoint and the config that resumes it
_RESUME_SAFE = {"train.steps", "train.progress", "train.device", "train.checkpoint_every", "train.log_every",
                "train.validate_every", "train.tensorboard", "data.num_workers", "train.compile",
                "train.strategy"}  # fmt: skip


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("chaosbench-py")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "unknown"


def build_scheduler_lambda(cfg: RunConfig):
    """Learning-rate factor ``f(step)`` of ``cfg.schedule`` (multiplies ``optimizer.lr``)."""
    s, total, lr = cfg.schedule, cfg.train.steps, cfg.optimizer.lr
    floor = s.min_lr / lr
    warm = s.warmup_steps
    span = max(total - warm, 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        k = min(step - warm, span)
        if s.name == "constant":
            return 1.0
        if s.name == "cosine":
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * k / span))
        if s.name == "exponential":
            return max(floor ** ((k // s.decay_every) * s.decay_every / span), floor)
        return s.gamma ** (k // s.step_size)

    return factor


def ema_decay_at(decay: float, step: int) -> float:
    """Decay of the weight average after optimiser step ``step`` (1, 2, …): ``min(decay, (1 + step) / (10 + step))``.

    The warm-up of TensorFlow's ``ExponentialMovingAverage(num_updates=…)`` (and timm's ``ModelEmaV3``):
    without it the average keeps ``decay**steps`` of the random initial weights (55 % after 600 steps
    at 0.999), so a short run would save a model that is half untrained.
    """
    return min(float(decay), (1.0 + step) / (10.0 + step))


def _build_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    o = cfg.optimizer
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "radam": torch.optim.RAdam}[o.name]
    return cls(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)


def _flat_config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict) and key != "config":
            out += _flat_config_diff(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()  # noqa: NPY002 - the global RNG user code may draw from
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },  # fmt: skip
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    mt = ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    np.random.set_state(mt)  # noqa: NPY002
    py = state["python"]
    random.setstate((py[-1], tuple(py[:-1]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Train the model of ``cfg`` on its task, writing to ``out_dir`` (see the module docstring).

    Args:
        cfg: a validated :class:`RunConfig` (or a mapping, validated here).
        out_dir: run folder (``None``: write nothing but ``checkpoint_path``). An existing folder that
            is not empty is refused unless ``resume`` or ``overwrite``.
        resume: continue from ``out_dir/checkpoints/last.pt`` (or ``checkpoint_path``).
        overwrite: replace the run in ``out_dir``; the old one stays until the new one has a checkpoint.
        task: a ready :class:`~chaosbench_py.training.tasks.Task` (default: built from ``cfg``).
        model: a ready model (default: built from ``cfg.model`` with the task's data-dependent keys).
        checkpoint_path: where the training checkpoint goes (default ``out_dir/checkpoints/last.pt``).
        extra_metadata: more entries for the checkpoints' metadata.
    Attributes: ``model`` (the raw module), ``task``, ``optimizer``, ``step``, ``history`` (logged rows).
    """

    def __init__(
        self,
        cfg: RunConfig | dict,
        out_dir: str | os.PathLike | None,
        *,
        resume: bool = False,
        overwrite: bool = False,
        task: Task | None = None,
        model: Any = None,
        checkpoint_path: str | os.PathLike | None = None,
        extra_metadata: dict[str, Any] | None = None,
    ):
        self.cfg = cfg if isinstance(cfg, RunConfig) else config_from_dict(cfg)
        self.dist = DistributedContext.from_env()
        # the run folder is checked before any data is read: a refused --out fails at once
        self.run = None if out_dir is None else RunFolder(out_dir, resume=resume, overwrite=overwrite,
                                                         is_main=self.dist.rank == 0)  # fmt: skip
        self.out_dir = None if out_dir is None else Path(out_dir)
        self._checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self._log: MetricsLog | None = None
        self.extra_metadata = dict(extra_metadata or {})
        t = self.cfg.train
        self.strategy = resolve_strategy(t.strategy, self.dist.world)
        if resume and not self._checkpoint_exists():
            raise MissingInputError(f"--resume: no checkpoint at {self.ckpt_path}")
        self.device = resolve_device(t.device, self.dist.local_rank)
        self.dist.init(self.device)
        if t.batch_size % self.dist.world:
            raise InputError(
                f"train.batch_size: {t.batch_size} is not divisible by the {self.dist.world} processes"
            )
        torch.manual_seed(t.seed)
        np.random.seed(t.seed % 2**32)  # noqa: NPY002 - seed the global RNG for user code
        random.seed(t.seed)
        self.task = task if task is not None else build_task(self.cfg, self.device)
        if model is None:
            model_config = self.task.model_config(self.cfg.model.name, self.cfg.model.config)
            model = emulators.build_model(self.cfg.model.name, model_config)
        self.model = model.to(self.device)
        self.task.setup_model(self.model)
        if self.dist.enabled:
            for p in self.model.state_dict().values():
                torch.distributed.broadcast(p, src=0)
        if t.strategy == "fsdp":
            shard_units(self.model, self.cfg.model.name)  # refused even in one process
        self.engine = ParallelModel(self.task, self.model, self.strategy, self.device, self.dist.world, t.bf16,
                                      find_unused=self.task.ddp_find_unused_parameters)  # fmt: skip
        self.optimizer = _build_optimizer(self.cfg, self.model.parameters())
        self._lr_factor = build_scheduler_lambda(self.cfg)
        self.lr_scale = 1.0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: self._lr_multiplier(s))
        self.ema = (
            {k: v.detach().clone().float() for k, v in self.model.state_dict().items()}
            if t.ema_decay
            else None
        )
        self.step = 0
        self.rollbacks = 0
        self.history: list[dict[str, Any]] = []
        if t.compile:
            self.model.compile()  # in place: state_dict keys and model methods stay as they are
        if resume:
            self._load_training_state(self._checkpoint_source(), check_config=True)
        if self.run is not None:
            self.run.prepare()
            if self.is_main:
                text = yaml.safe_dump(config_to_dict(self.cfg), sort_keys=False)
                atomic_write_text(self.run.path / "config.yaml", text)
        logger.info(
            "trainer: model %s (%d parameters), task %s, device %s, %d process(es), strategy %s, step %d of %d",
            self.cfg.model.name, sum(p.numel() for p in self.model.parameters()), self.task.kind,
            self.device, self.dist.world, self.strategy, self.step, t.steps,
        )  # fmt: skip

    @property
    def ckpt_path(self) -> Path | None:
        """The training checkpoint: ``checkpoint_path`` if given, else ``checkpoints/last.pt`` of the run folder."""
        if self._checkpoint_path is not None:
            return self._checkpoint_path
        return None if self.run is None else self.run.path / "checkpoints" / "last.pt"

    @ckpt_path.setter
    def ckpt_path(self, value: str | os.PathLike | None) -> None:
        self._checkpoint_path = None if value is None else Path(value)

    @property
    def dcp_path(self) -> Path | None:
        """The sharded (``fsdp``) checkpoint folder beside :attr:`ckpt_path`: ``checkpoints/last.dcp``."""
        return None if self.ckpt_path is None else self.ckpt_path.with_suffix(".dcp")

    def _checkpoint_source(self) -> Path | None:
        """The checkpoint to resume / roll back from: ``last.dcp`` under fsdp, else ``last.pt`` (or ``last.dcp``)."""
        if self.ckpt_path is None:
            return None
        dcp_dir = parallel.dcp_checkpoint_dir(self.dcp_path)
        if self.strategy == "fsdp":
            if dcp_dir is None and self.ckpt_path.exists():
                raise CheckpointError(f"{self.ckpt_path}: a full checkpoint (ddp / one process); train.strategy "
                                      "fsdp resumes from a sharded last.dcp: resume this run with ddp")  # fmt: skip
            return dcp_dir
        return self.ckpt_path if self.ckpt_path.exists() else dcp_dir

    def _checkpoint_exists(self) -> bool:
        return self._checkpoint_source() is not None

    def _lr_multiplier(self, step: int) -> float:
        """Learning rate / ``optimizer.lr`` at ``step``: schedule × rollback scale × the task's stage factor."""
        return self.lr_scale * self._lr_factor(step) * self.task.lr_factor(step)

    @property
    def is_main(self) -> bool:
        return self.dist.rank == 0

    # ------------------------------------------------------------------ checkpoints
    def _metadata(self) -> dict[str, Any]:
        return {
            **self.task.metadata(),
            "run_config": config_to_dict(self.cfg),
            **self.extra_metadata,
            "package_version": _package_version(),
            "torch_version": str(torch.__version__),
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/last.pt`` atomically (rank 0); every process waits for it."""
        if self.ckpt_path is None:
            return None
        if self.engine.is_sharded:
            training = {**self._metadata(), **self._training_state(), "model_name": self.cfg.model.name}
            parallel.save_dcp(
                self.dcp_path, self.model, self.optimizer, self.ema, training, self.is_main, self.dist.barrier
            )
        elif self.is_main:
            training = {"optimizer": self.optimizer.state_dict(), "ema": self.ema, **self._training_state()}
            save_model(
                self.model, self.ckpt_path, extra={**self._metadata(), "training": training}, overwrite=True
            )
        if self.is_main:  # the other kind of checkpoint is older: resume must not pick it
            parallel.remove_other_checkpoint(self.ckpt_path, self.engine.is_sharded)
        if self.is_main and self.run is not None:
            self.run.publish()  # the first checkpoint of a new run: it takes the place of out_dir
        self.dist.barrier()
        if self.run is not None:
            self.run.publish()  # the other processes follow the path
            if self._log is not None:
                self._log.path = self.run.path / "metrics.csv"
        return (self.dcp_path if self.engine.is_sharded else self.ckpt_path) if self.is_main else None

    def _training_state(self) -> dict[str, Any]:
        """Step, scheduler, task, data position, RNG and history: the checkpoint's plain part."""
        return {
                "step": self.step,
                "scheduler": self.scheduler.state_dict(),
                "lr_scale": self.lr_scale,
                "rollbacks": self.rollbacks,
                "task": self.task.state_dict(),
                "data_position": self._data_position(),
                "rng": _rng_state(),
                "history": [
                    {k: v for k, v in row.items() if isinstance(v, (int, float))} for row in self.history
                ],
        }  # fmt: skip

    def _data_position(self) -> dict[str, int]:
        """Where the next batch comes from: global step, and for epoch-ordered tasks the epoch and the
        batch within it (sequence tasks draw from their sampler generator, saved in the task state)."""
        pos = {"next_step": self.step}
        per_epoch = self.task.steps_per_epoch
        if per_epoch:
            pos.update(
                epoch=self.step // per_epoch,
                batch_in_epoch=self.step % per_epoch,
                batches_per_epoch=per_epoch,
            )
        return pos

    def _load_training_state(self, path: Path, check_config: bool) -> None:
        """Model, optimizer, scheduler, EMA, task and RNG state from the training checkpoint ``path``
        (``last.pt``, or a sharded ``last.dcp`` folder, resharded to this run's processes).

        Raises :class:`~emulators.errors.CheckpointError` naming ``path`` when it is not a checkpoint
        (another file type, truncated), holds no training state, holds another model, or does not fit the
        configured model (the mismatched weights named, e.g. after changing a width).
        """
        if path.is_dir():
            extra = state = parallel.read_dcp_training(path)
            saved = state.get("model_name")
        else:
            payload = read_checkpoint(path, map_location="cpu")  # RNG states must stay CPU tensors
            check_model_checkpoint(payload, path)
            extra = payload.get("extra")
            state = extra.get("training") if isinstance(extra, dict) else None
            if not isinstance(state, dict):
                raise CheckpointError(
                    f"{path}: a model file without training state; cannot resume from it "
                    "(training checkpoints are RUN/checkpoints/last.pt)"
                )
            saved = payload["model"]["name"]
        keys = ("step", "scheduler", "lr_scale", "rollbacks", "task", "rng") + (
            () if path.is_dir() else ("optimizer", "ema")
        )
        missing = [k for k in keys if k not in state]
        if missing:
            raise CheckpointError(
                f"{path}: incomplete training state (no {', '.join(missing)}); cannot resume"
            )
        if saved != self.cfg.model.name:
            raise CheckpointError(
                f"{path}: holds a {saved!r} model; the configuration trains {self.cfg.model.name!r}"
            )
        if check_config and isinstance(extra.get("run_config"), dict):
            changed = [
                k
                for k in _flat_config_diff(extra["run_config"], config_to_dict(self.cfg))
                if k not in _RESUME_SAFE
            ]
            if changed:
                logger.warning("resuming with a config that differs from the checkpoint's in %s", changed)
        if path.is_dir():
            parallel.load_dcp(path, state, self.model, self.optimizer, self.ema)
        else:
            load_state_dict_checked(self.model, payload["state_dict"], path)
        try:
            if not path.is_dir():
                self.optimizer.load_state_dict(state["optimizer"])
            self.lr_scale = float(state["lr_scale"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.task.load_state_dict(state["task"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path}: its optimizer / scheduler / task state does not fit this run ({exc}); "
                "was the configuration changed since it was written?"
            ) from exc
        self.rollbacks = int(state["rollbacks"])
        if state.get("ema") is not None and self.ema is not None:
            self.ema = {k: v.to(self.device) for k, v in state["ema"].items()}
        self.step = int(state["step"])
        self.history = [dict(row) for row in state.get("history", [])]
        _set_rng_state(state["rng"])
        logger.info("resumed from %s at step %d", path, self.step)

    def export_model(self, path: str | os.PathLike | None = None) -> Path:
        """Write the model to use (EMA weights if kept) with its metadata: ``out/model.pt`` by default."""
        if path is None and self.run is None:
            raise InputError("export_model: no out_dir; pass a path")
        path = Path(path) if path is not None else self.run.path / "model.pt"
        weights = self.model.state_dict()
        if self.ema is not None:
            weights = {k: e.to(v.dtype) for (k, e), v in zip(self.ema.items(), weights.values())}
        if self.engine.is_sharded:
            weights = parallel.full_state_dict(weights)  # a collective: every process gathers, rank 0 writes
        if self.is_main:
            save_model(StateView(self.model, weights), path, extra={**self._metadata(), "step": self.step},
                       overwrite=True)  # fmt: skip
        return path

    # ------------------------------------------------------------------ one step
    def _reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.dist.enabled:
            value = value.detach().clone()
            torch.distributed.all_reduce(value)
            value /= self.dist.world
        return value

    def train_step(self) -> dict[str, Any]:
        """One optimiser step. Returns the logged values; raises / rolls back on non-finite values."""
        t = self.cfg.train
        batch = self.task.batch(self.step, self.dist.rank, self.dist.world)
        overrides = self.task.prepare_step(self.model, self.optimizer, batch, self.step) or {}
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=t.bf16):
            loss, extras = self.engine.loss(batch, self.step)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = float(overrides.get("grad_clip", t.grad_clip))
        max_norm = clip if clip > 0 else float("inf")
        grad_norm = (
            parallel.grad_norm_value(torch.nn.utils.clip_grad_norm_(params, max_norm))
            if params
            else torch.zeros(())
        )
        loss_mean = self._reduce_mean(loss.detach().float())
        if not (torch.isfinite(loss_mean) and torch.isfinite(grad_norm)):
            what = "loss" if not torch.isfinite(loss_mean) else "gradient norm"
            value = float(loss_mean) if what == "loss" else float(grad_norm)
            return {"nonfinite": f"{what} became {value} at step {self.step}"}
        self.optimizer.step()
        self.step += 1
        self.scheduler.step()
        if self.ema is not None:
            d = ema_decay_at(t.ema_decay, self.step)
            with torch.no_grad():
                for k, v in self.model.state_dict().items():
                    if v.dtype.is_floating_point:
                        self.ema[k].mul_(d).add_(v.float(), alpha=1.0 - d)
                    else:
                        self.ema[k].copy_(v)
        return {"loss": float(loss_mean), "grad_norm": float(grad_norm), **extras}

    def _handle_nonfinite(self, message: str) -> None:
        t = self.cfg.train
        if t.nan_policy == "stop":
            raise NonFiniteError(
                f"{message}; training stopped (train.nan_policy: stop). The last checkpoint "
                f"({self._checkpoint_source() or 'none written yet'}) is intact; "
                "lower optimizer.lr, set train.grad_clip, or use train.nan_policy: rollback"
            )
        if self.rollbacks >= t.max_rollbacks:
            raise NonFiniteError(
                f"{message}; already rolled back {self.rollbacks} times (train.max_rollbacks)"
            )
        if not self._checkpoint_exists():
            raise NonFiniteError(f"{message}; no checkpoint to roll back to")
        rollbacks, scale = self.rollbacks + 1, self.lr_scale * t.rollback_lr_factor
        self._load_training_state(self._checkpoint_source(), check_config=False)
        self.rollbacks, self.lr_scale = rollbacks, scale
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * self._lr_multiplier(self.step)
        logger.warning("%s; rolled back to step %d, learning rate × %g (rollback %d of %d)",
                       message, self.step, self.lr_scale, self.rollbacks, t.max_rollbacks)  # fmt: skip

    # ------------------------------------------------------------------ the loop
    def fit(self, stop_after: int | None = None) -> Trainer:
        """Train until ``train.steps`` (or for ``stop_after`` more steps), checkpoint, export ``model.pt``."""
        from tqdm.auto import tqdm

        t = self.cfg.train
        target = t.steps if stop_after is None else min(t.steps, self.step + stop_after)
        if self.cfg.train.nan_policy == "rollback" and self.ckpt_path and not self._checkpoint_exists():
            self.save_checkpoint()
        log = None
        if self.is_main and self.run is not None:
            log = MetricsLog(
                self.run.path,
                list(self.task.log_columns),
                t.tensorboard,
                resume_step=self.step if self.step else None,
            )
        self._log = log
        bar = tqdm(total=target, initial=self.step, desc=f"train {self.cfg.model.name}", unit="step",
                   disable=not (t.progress and self.is_main))  # fmt: skip
        t0 = time.perf_counter()
        tick, tick_step = t0, self.step
        per_step_samples = t.batch_size
        while self.step < target:
            out = self.train_step()
            if "nonfinite" in out:
                self._handle_nonfinite(out["nonfinite"])
                bar.n = self.step
                continue
            bar.update(1)
            last = self.step >= target
            if t.log_every and (self.step % t.log_every == 0 or last):
                now = time.perf_counter()
                row = {
                    "step": self.step,
                    "epoch": self.step // max(self.task.steps_per_epoch, 1),
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "samples_per_s": per_step_samples * (self.step - tick_step) / max(now - tick, 1e-9),
                    "max_memory_mb": _max_memory_mb(self.device),
                    "elapsed_s": now - t0,
                    **out,
                }
                if t.validate_every and (self.step % t.validate_every == 0 or last):
                    if self.engine.is_sharded:  # a collective under fsdp
                        row["val_loss"] = self.engine.validation(self.step)
                    elif self.is_main:
                        row["val_loss"] = self.task.validation_loss(self.model, self.step)
                tick, tick_step = now, self.step
                self.history.append(row)
                if log is not None:
                    log.write(row)
                bar.set_postfix(loss=f"{out['loss']:.4g}", samples_s=f"{row['samples_per_s']:.0f}",
                                mem_mb=f"{row['max_memory_mb']:.0f}")  # fmt: skip
                if not t.progress and self.is_main:
                    logger.info("step %d loss %.4g lr %.3g %.0f samples/s", self.step, out["loss"], row["lr"],
                                row["samples_per_s"])  # fmt: skip
            if t.checkpoint_every and self.step % t.checkpoint_every == 0 and not last:
                self.save_checkpoint()
        bar.close()
        self.save_checkpoint()
        if self.step >= t.steps and self.run is not None:
            self.export_model()
        if log is not None:
            log.close()
        self._log = None
        self.dist.barrier()
        return self


def _max_memory_mb(device: torch.device) -> float:
    """Peak memory: CUDA allocator peak on GPU, the process's peak resident set size on CPU (MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
