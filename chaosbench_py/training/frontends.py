"""In-memory front ends of the one trainer, for notebooks: GTF, PhyxMamba and neural-ODE training.

Each builds a :class:`~chaosbench_py.training.config.RunConfig` for its task kind, the task on the
arrays it was given (no file), and runs :class:`~chaosbench_py.training.Trainer` — the package's one
training loop (schedules, bf16, clipping, NaN guard, exact-resume checkpoints). Nothing here trains
by itself.

* :class:`GTFTrainer`: shPLRNN with generalized teacher forcing (task ``gtf``), the published schedule in
  epochs, checkpoints and exact resume.
* :func:`train_phyxmamba`: PhyxMamba's two stages (task ``phyxmamba``).
* :func:`train_neural_ode`: multiple shooting of a neural ODE (task ``multi_step``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from emulators.checkpoint import save_model
from emulators.errors import CheckpointError

from ..errors import InputError, InputTypeError
from .baselines import as_trajectory_tensor
from .config import RunConfig, config_from_dict
from .distributed import resolve_device
from .gtf import GTFConfig
from .phyxmamba import PhyxMambaTrainConfig
from .tasks import GTF_KEYS, PHYXMAMBA_STAGE_KEYS, GTFTask, MultiStepTask, PhyxMambaTask
from .trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["GTFTrainer", "NeuralODETrainingResult", "train_neural_ode", "train_phyxmamba"]

_IN_MEMORY = "<in memory>"


def _model_dtype(model: nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return p.dtype if p is not None and p.dtype.is_floating_point else torch.float32


# ---------------------------------------------------------------------------- GTF
def _gtf_run_config(model: nn.Module, cfg: GTFConfig) -> RunConfig:
    """The generic trainer's :class:`RunConfig` equivalent to ``cfg`` (task ``gtf``)."""
    return config_from_dict({
        "model": {"name": getattr(model, "model_name", "shplrnn"),
                  "config": {k: v for k, v in dataclasses.asdict(model.config).items() if k != "obs_dim"}},
        "data": {"kind": "trajectories", "path": _IN_MEMORY, "train_fraction": 1.0},
        "task": {"kind": "gtf", "gtf": {k: getattr(cfg, k) for k in GTF_KEYS}},
        "optimizer": {"name": cfg.optimizer, "lr": cfg.lr_start, "weight_decay": 0.0},
        "schedule": {"name": "exponential", "min_lr": cfg.lr_end, "decay_every": cfg.batches_per_epoch},
        "train": {"steps": cfg.total_steps, "batch_size": cfg.batch_size, "grad_clip": cfg.gradient_clip_norm,
                  "bf16": cfg.bf16, "checkpoint_every": cfg.checkpoint_every, "log_every": 1, "seed": cfg.seed,
                  "device": cfg.device, "progress": cfg.progress},
    })  # fmt: skip


class GTFTrainer:
    """Train a latent RNN emulator with GTF (or STF) on in-memory ``data`` (see :func:`chaosbench_py.data.load_sequences`).

    A thin front end of the generic :class:`chaosbench_py.training.Trainer` (task ``gtf``) for notebooks:
    the same loop, checkpoints and exact resume, with the published schedule expressed in epochs
    (RAdam, learning rate decayed once per epoch of ``batches_per_epoch`` steps from ``lr_start`` to
    ``lr_end``). ``trainer.train(n_steps)`` runs ``n_steps`` optimiser steps (default: up to
    ``config.total_steps``), writing ``checkpoint_path`` (atomically) every ``config.checkpoint_every``
    steps and at the end; :meth:`GTFTrainer.resume` continues exactly (``N`` + resume + ``N`` steps
    gives the weights of ``2N`` steps). Attributes: ``model``, ``config``, ``step``, ``alpha``,
    ``optimizer``, ``history`` (list of ``(step, loss, mse, alpha)``) and ``trainer`` (the generic one).
    """

    def __init__(
        self,
        model: nn.Module,
        data: Any,
        config: GTFConfig | Mapping[str, Any] | None = None,
        checkpoint_path: str | os.PathLike | None = None,
    ):
        self.config = config if isinstance(config, GTFConfig) else GTFConfig.from_dict(config)
        run = _gtf_run_config(model, self.config)
        task = GTFTask(run, resolve_device(self.config.device), series=data)
        n = getattr(getattr(model, "config", None), "obs_dim", None)
        if n is not None and task.dim != n:
            raise InputError(f"data: the series have {task.dim} dims, model obs_dim is {n}")
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.trainer = Trainer(run, None, task=task, model=model, checkpoint_path=self.checkpoint_path,
                               extra_metadata={"gtf_config": dataclasses.asdict(self.config)})  # fmt: skip

    model = property(lambda self: self.trainer.model)
    optimizer = property(lambda self: self.trainer.optimizer)
    scheduler = property(lambda self: self.trainer.scheduler)
    step = property(lambda self: self.trainer.step)
    alpha = property(lambda self: self.trainer.task.alpha)

    @property
    def history(self) -> list[tuple[int, float, float, float]]:
        return [
            (int(h["step"]), float(h["loss"]), float(h["mse"]), float(h["alpha"]))
            for h in self.trainer.history
        ]

    def train(self, n_steps: int | None = None) -> GTFTrainer:
        """Run ``n_steps`` more optimiser steps (default: until ``config.total_steps``)."""
        self.trainer.fit(stop_after=None if n_steps is None else int(n_steps))
        logger.info("GTF: %d steps done, alpha=%.4f", self.step, self.alpha)
        return self

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write model + training state atomically (loadable with ``weights_only=True``)."""
        if path is not None:
            self.trainer.ckpt_path = Path(path)
        if self.trainer.ckpt_path is None:
            raise InputError("save_checkpoint: no path (pass one, or checkpoint_path= to the constructor)")
        return self.trainer.save_checkpoint()

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        data: Any,
        overrides: Mapping[str, Any] | None = None,
        checkpoint_path: str | os.PathLike | None = None,
    ) -> GTFTrainer:
        """Rebuild a trainer from a checkpoint written by :meth:`save_checkpoint` and continue exactly.

        ``overrides``: config keys to change (e.g. ``device``, ``progress``); ``checkpoint_path``
        defaults to ``path``. A file that is not such a checkpoint is a :class:`CheckpointError` naming it.
        """
        from emulators.checkpoint import load_model

        model, extra = load_model(path)
        if "training" not in extra or "gtf_config" not in extra:
            raise CheckpointError(
                f"{path}: not a GTF training checkpoint (no gtf_config / training state); cannot resume"
            )
        values = dict(extra["gtf_config"])
        values.update(overrides or {})
        trainer = cls(model, data, GTFConfig.from_dict(values), checkpoint_path or path)
        trainer.trainer._load_training_state(Path(path), check_config=False)
        return trainer


# ---------------------------------------------------------------------------- PhyxMamba
def train_phyxmamba(
    model: nn.Module,
    train_data: Any,
    config: PhyxMambaTrainConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    checkpoint_path: str | Path | None = None,
) -> dict:
    """Train ``model`` (a PhyxMamba) on ``train_data (N, T, V)`` (numpy or torch, raw states) in two stages.

    The trainer's task ``phyxmamba`` on all of ``train_data`` (no held-out part): it sets the model's
    normalisation from the data (per-variable mean and unbiased std), runs stage 1 then stage 2 with
    ``config``'s step counts, rates, weights, batch size and seed (``bf16`` autocasts on CUDA only), and
    optionally writes the model atomically to ``checkpoint_path`` after each stage
    (:func:`emulators.save_model`, ``extra={"stage": 1 | 2, "steps": …}``). The model ends in eval mode,
    every parameter trainable. Returns ``{"stage1": [loss per step], "stage2": [{loss, mse, mmd_uncond,
    mmd_cond} per step]}``.
    """
    from emulators.phyxmamba import PhyxMamba

    cfg = config or PhyxMambaTrainConfig()
    if not isinstance(model, PhyxMamba):
        raise InputTypeError(f"model: expected a PhyxMamba, got {type(model).__name__}")
    data = np.asarray(train_data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[-1] != model.config.n_vars:
        raise InputError(f"train_data: expected (N, T, {model.config.n_vars}), got shape {tuple(data.shape)}")
    if not np.isfinite(data).all():
        raise InputError("train_data: contains NaN/inf")
    device = torch.device(device)
    total = cfg.stage1_steps + cfg.stage2_steps
    history: dict = {"stage1": [], "stage2": []}
    if total == 0:
        flat = torch.as_tensor(data, dtype=torch.float32).reshape(-1, data.shape[-1])
        model.set_normalization(flat.mean(0), flat.std(0))
        model.to(device).eval()
        return history
    run = config_from_dict({
        "model": {"name": getattr(model, "model_name", "phyxmamba"),
                  "config": {k: v for k, v in dataclasses.asdict(model.config).items() if k != "n_vars"}},
        "data": {"kind": "trajectories", "path": _IN_MEMORY, "train_fraction": 1.0},
        "task": {"kind": "phyxmamba", "phyxmamba": {k: getattr(cfg, k) for k in PHYXMAMBA_STAGE_KEYS}},
        "optimizer": {"name": "adam", "lr": cfg.stage1_lr, "weight_decay": cfg.weight_decay},
        "train": {"steps": total, "batch_size": cfg.batch_size, "seed": cfg.seed, "bf16": cfg.bf16 and device.type == "cuda",
                  "checkpoint_every": 0, "log_every": 1, "progress": cfg.progress, "device": str(device)},
    })  # fmt: skip
    task = PhyxMambaTask(run, device, series=data)
    trainer = Trainer(run, None, task=task, model=model)
    for stage, steps in ((1, cfg.stage1_steps), (2, cfg.stage2_steps)):
        if steps:
            trainer.fit(stop_after=steps)
        if checkpoint_path is not None:
            save_model(model, checkpoint_path, extra={"stage": stage, "steps": trainer.step}, overwrite=True)
    for row in trainer.history:
        if row["stage"] == 1:
            history["stage1"].append(row["loss"])
        else:
            history["stage2"].append({k: row[k] for k in ("loss", "mse", "mmd_uncond", "mmd_cond")})
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return history


# ---------------------------------------------------------------------------- neural ODE
@dataclasses.dataclass
class NeuralODETrainingResult:
    """What :func:`train_neural_ode` returns: per-iteration losses and the final model (trained in place)."""

    losses: list[float]
    model: nn.Module


def train_neural_ode(
    model: nn.Module,
    x_train: Any,
    *,
    window: int = 10,
    batch_size: int = 64,
    n_iters: int = 500,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    grad_clip: float | None = 10.0,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> NeuralODETrainingResult:
    """Train a :class:`emulators.neural_ode.NeuralODE` by fixed-length-window multiple shooting (in place).

    The trainer's task ``multi_step`` on all of ``x_train`` with Adam: random windows ``x_i … x_{i+L}``
    (``L = window``), each integrated from its own first point, loss ``mean ‖x̂_{i+j} − x_{i+j}‖²`` over
    ``j = 1…L``. Short windows keep the gradients of a chaotic system bounded (each window shorter than
    a Lyapunov time): the multiple-shooting idea of Gilpin (2023) and the ``torchdiffeq`` examples.

    Parameters
    ----------
    model:
        A :class:`emulators.neural_ode.NeuralODE`; its ``config.dt`` must be the sample spacing of ``x_train``.
    x_train:
        ``(T, D)`` / ``(B, T, D)`` series (see :func:`chaosbench_py.training.as_trajectory_tensor`), T > ``window``;
        used in the model's dtype.
    window, batch_size, n_iters, lr, weight_decay:
        Steps per window, windows per iteration (drawn from a generator seeded with ``seed``),
        iterations (optimiser steps), Adam settings.
    grad_clip:
        Max global gradient norm (``None``: no clipping).
    device, seed, progress:
        Where to train; seeds the window sampling; show a tqdm bar.

    Returns
    -------
    :class:`NeuralODETrainingResult` with the loss (mean squared error) of every iteration. A non-finite
    loss stops training with :class:`~chaosbench_py.errors.NonFiniteError` naming the step.
    """
    from emulators.neural_ode import NeuralODE

    if not isinstance(model, NeuralODE):
        raise InputTypeError(f"model: expected a NeuralODE, got {type(model).__name__}")
    for key, val in (("window", window), ("batch_size", batch_size), ("n_iters", n_iters)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise InputError(f"{key} must be a positive int, got {val!r}")
    if not lr > 0:
        raise InputError(f"lr must be > 0, got {lr!r}")
    dtype = _model_dtype(model)
    x = as_trajectory_tensor(x_train, dtype=dtype)
    _, t_len, d = x.shape
    if d != model.config.state_dim:
        raise InputError(
            f"x_train: last dimension {d} does not match the model's state_dim {model.config.state_dim}"
        )
    if t_len <= window:
        raise InputError(f"x_train: needs more than window={window} time steps, got {t_len}")
    device = torch.device(device)
    run = config_from_dict({
        "model": {"name": getattr(model, "model_name", "neural_ode"),
                  "config": {k: v for k, v in dataclasses.asdict(model.config).items() if k != "state_dim"}},
        "data": {"kind": "trajectories", "path": _IN_MEMORY, "train_fraction": 1.0},
        "task": {"kind": "multi_step", "rollout_steps": window},
        "optimizer": {"name": "adam", "lr": lr, "weight_decay": weight_decay},
        "train": {"steps": n_iters, "batch_size": batch_size, "grad_clip": float(grad_clip or 0.0), "seed": seed,
                  "checkpoint_every": 0, "log_every": 1, "progress": progress, "device": str(device)},
    })  # fmt: skip
    task = MultiStepTask(run, device, series=x, dtype=dtype)
    trainer = Trainer(run, None, task=task, model=model).fit()
    losses = [float(row["loss"]) for row in trainer.history]
    model.eval()
    logger.info("neural ODE trained for %d iterations: loss %.3g -> %.3g", n_iters, losses[0], losses[-1])
    return NeuralODETrainingResult(losses=losses, model=model)
