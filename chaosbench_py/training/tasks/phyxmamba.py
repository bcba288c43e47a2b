"""Task ``phyxmamba``: PhyxMamba's two training stages (:mod:`chaosbench_py.training.phyxmamba`).

Selected by ``task.kind: phyxmamba``; ``task.phyxmamba`` holds the stage keys of
:class:`~chaosbench_py.training.phyxmamba.PhyxMambaTrainConfig` (``stage1_steps``, ``stage1_tokens``,
``stage1_lr``, ``lambda_mtp``, ``stage2_steps``, ``stage2_linear_steps``, ``stage2_lr``, ``horizon``,
``lambda_uncond``, ``lambda_cond``, ``grad_clip``). :func:`chaosbench_py.training.train_phyxmamba` is the
in-memory front end of this task; with the same settings and seeds both equal a hand-written two-stage
loop batch for batch and weight for weight (tested):

* **Stage 1** (global steps ``0 .. stage1_steps-1``): windows of ``stage1_tokens * token_size`` raw
  points; loss ``MSE(next patch) + lambda_mtp * mean_k MSE(MTP_k)`` on standardised states
  (:func:`phyxmamba_losses_stage1`); no gradient clipping.
* **Stage 2** (the next ``stage2_steps`` steps): windows of ``lookback + horizon`` raw points; loss
  :func:`~chaosbench_py.training.phyxmamba.phyxmamba_losses_stage2` (``MSE + lambda_uncond * MMD_uncond
  + lambda_cond * MMD_cond``); the first ``stage2_linear_steps`` steps train only ``lm_head`` ("linear
  probing"), then all parameters; gradient 2-norm clipped to ``grad_clip``. The optimizer state is
  cleared at the start of stage 2 and at the end of linear probing, as the published recipe builds a fresh
  Adam at those two points.

How the generic config maps onto the standalone settings:

* ``train.steps`` must equal ``stage1_steps + stage2_steps``; ``train.batch_size`` is the batch size,
  ``train.seed`` the seed, ``train.bf16`` autocasting.
* ``optimizer`` should be ``adam`` (the published recipe) with ``weight_decay`` (published 1e-5); the
  learning rate comes from the stage: :meth:`PhyxMambaTask.lr_factor` is ``stage1_lr / optimizer.lr``
  in stage 1 and ``stage2_lr / optimizer.lr`` in stage 2, so the effective rate is ``stage1_lr`` /
  ``stage2_lr`` whatever ``optimizer.lr`` is (set ``optimizer.lr = stage1_lr`` for a readable log).
  Keep ``schedule.name: constant``: any other schedule multiplies the stage rates.
* ``train.grad_clip`` is overridden by the stage (0 in stage 1, ``task.phyxmamba.grad_clip`` in stage 2).
* ``data.standardize`` must be ``false``: PhyxMamba standardises internally with its ``data_mean`` /
  ``data_std`` buffers, which :meth:`PhyxMambaTask.setup_model` sets from the training part of the
  data (per-variable mean and unbiased std over all training points, as the published recipe). The
  model therefore takes raw states, and the checkpoint's ``normalisation`` metadata is the identity
  (mean 0, std 1), which is what the evaluation pipeline must apply before calling the model.

Batches: the training parts of the trajectories (all of one length) are stacked into
``(N, T, V)``; each step draws a GLOBAL batch of ``train.batch_size`` windows from the task's seeded
generator, (:func:`~chaosbench_py.training.phyxmamba.draw_windows`: trajectory index, then start index, both uniform);
process ``r`` of ``W`` keeps windows ``r, r + W, …``. The generator state is the task state in the
checkpoint, so a resumed run draws the same windows. Under DDP the stage-2 MMD terms are computed
across each process's slice (MMD is a statistic of the whole batch, not a per-sample mean), so a
``W``-process stage 2 is not identical to the one-process run; stage 1 is (up to summation order).

Validation (``train.validate_every``): the current stage's loss on non-overlapping held-out windows
(at most 256), with the model in eval mode.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from ...errors import ConfigError, InputError, InputTypeError
from ..phyxmamba import PhyxMambaTrainConfig, draw_windows, phyxmamba_losses_stage1, phyxmamba_losses_stage2
from .base import register_task
from .sequence import SequenceTask

if TYPE_CHECKING:
    from ..config import RunConfig

logger = logging.getLogger(__name__)

__all__ = ["PHYXMAMBA_STAGE_KEYS", "PhyxMambaTask", "stage_options"]

#: the keys of ``task.phyxmamba`` (a subset of :class:`PhyxMambaTrainConfig`'s fields)
PHYXMAMBA_STAGE_KEYS = ("stage1_steps", "stage1_tokens", "stage1_lr", "lambda_mtp", "stage2_steps",
                        "stage2_linear_steps", "stage2_lr", "horizon", "lambda_uncond", "lambda_cond",
                        "grad_clip")  # fmt: skip


def stage_options(values: dict[str, Any]) -> PhyxMambaTrainConfig:
    """``task.phyxmamba`` → :class:`PhyxMambaTrainConfig` (keys and types checked, errors name the key)."""
    bad = sorted(set(values) - set(PHYXMAMBA_STAGE_KEYS))
    if bad:
        raise ConfigError(f"task.phyxmamba.{bad[0]}: unknown key; valid keys: {list(PHYXMAMBA_STAGE_KEYS)}")
    defaults = PhyxMambaTrainConfig()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        want = type(getattr(defaults, key))
        if want is float and isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = not isinstance(value, bool) and (
            isinstance(value, int) if want is int else isinstance(value, (int, float))
        )
        if not ok:
            kind = "int" if want is int else "a number"
            raise ConfigError(f"task.phyxmamba.{key}: expected {kind}, got {value!r}")
        kwargs[key] = want(value)
    for key in ("stage1_lr", "stage2_lr"):
        if key in kwargs and not kwargs[key] > 0:
            raise ConfigError(f"task.phyxmamba.{key}: must be > 0, got {kwargs[key]}")
    for key in ("lambda_mtp", "lambda_uncond", "lambda_cond", "grad_clip"):
        if key in kwargs and kwargs[key] < 0:
            raise ConfigError(f"task.phyxmamba.{key}: must be >= 0, got {kwargs[key]}")
    try:
        return PhyxMambaTrainConfig(**kwargs, progress=False)
    except InputError as exc:  # "PhyxMambaTrainConfig.<key>: ..." → "task.phyxmamba.<key>: ..."
        raise ConfigError(str(exc).replace("PhyxMambaTrainConfig.", "task.phyxmamba.")) from exc


@register_task("phyxmamba")
class PhyxMambaTask(SequenceTask):
    """PhyxMamba's two-stage training (module docstring) for the generic trainer.

    Args:
        cfg: the run config; ``cfg.task.phyxmamba`` holds the stage keys, ``cfg.model`` must be a
            PhyxMamba (``token_size`` and ``lookback`` fix the window lengths).
        device: where the training data lives.
        series, dtype: in-memory data instead of ``data.path``, and its dtype (:class:`SequenceTask`).
    Attributes: ``stages`` (the :class:`PhyxMambaTrainConfig`), ``stage1_length`` /
    ``stage2_length`` (window lengths in samples), ``data`` (raw training parts ``(N, T, V)``).
    """

    options_key = "phyxmamba"
    data_fields = frozenset({"n_vars"})
    #: stage 2 leaves the MTP modules without gradient (DDP then leaves their ``.grad`` None, as one process)
    ddp_find_unused_parameters = True
    log_columns = ["stage", "mse", "mtp", "mmd_uncond", "mmd_cond"]

    @classmethod
    def check_config(cls, cfg: RunConfig) -> None:
        """Stage keys, ``train.steps = stage1_steps + stage2_steps``, raw data, a PhyxMamba-shaped model."""
        import emulators

        super().check_config(cfg)
        st = stage_options(dict(cfg.task.phyxmamba))
        if cfg.train.steps != st.stage1_steps + st.stage2_steps:
            raise ConfigError(
                f"train.steps: must equal task.phyxmamba.stage1_steps + stage2_steps = "
                f"{st.stage1_steps} + {st.stage2_steps} = {st.stage1_steps + st.stage2_steps}, "
                f"got {cfg.train.steps}"
            )
        if cfg.data.standardize:
            raise ConfigError(
                "data.standardize: must be false for task.kind phyxmamba (the model standardises its "
                "inputs itself, with buffers set from the training data)"
            )
        fields = {f.name: f for f in dataclasses.fields(emulators.model_config_class(cfg.model.name))}
        if not {"token_size", "lookback", "n_vars"} <= set(fields):
            raise ConfigError(
                f"model.name: task.kind phyxmamba trains a PhyxMamba model, got {cfg.model.name!r}"
            )
        for key in ("token_size", "lookback"):
            v = cfg.model.config.get(key, fields[key].default)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"model.config.{key}: expected a positive int, got {v!r}")

    def __init__(
        self, cfg: RunConfig, device: torch.device, series: Any = None, dtype: torch.dtype = torch.float32
    ):
        import emulators

        self.stages = st = stage_options(dict(cfg.task.phyxmamba))
        fields = {f.name: f for f in dataclasses.fields(emulators.model_config_class(cfg.model.name))}
        self.token_size = int(cfg.model.config.get("token_size", fields["token_size"].default))
        self.lookback = int(cfg.model.config.get("lookback", fields["lookback"].default))
        self.stage1_length = st.stage1_tokens * self.token_size
        self.stage2_length = self.lookback + st.horizon
        lengths = ([self.stage1_length] if st.stage1_steps else []) + (
            [self.stage2_length] if st.stage2_steps else []
        )
        super().__init__(cfg, device, max(lengths or [self.stage1_length]) - 1, series, dtype)
        self.data = torch.stack(self.train)  # (N, T, V) raw training points (load_sequences: one length)
        self.optimizer_lr = cfg.optimizer.lr
        self._stage_of_last_batch = 1
        if cfg.optimizer.name != "adam":
            logger.warning("optimizer.name: %r; the PhyxMamba recipe uses adam", cfg.optimizer.name)
        if cfg.schedule.name != "constant" or cfg.schedule.warmup_steps:
            logger.warning("schedule: %r (warm-up %d) multiplies the stage learning rates",
                           cfg.schedule.name, cfg.schedule.warmup_steps)  # fmt: skip
        if cfg.train.grad_clip:
            logger.warning("train.grad_clip is replaced by task.phyxmamba.grad_clip (stage 2 only)")

    # ------------------------------------------------------------------ stages
    def stage(self, step: int) -> int:
        """1 or 2: the stage of global optimiser step ``step``."""
        return 1 if step < self.stages.stage1_steps else 2

    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        out.setdefault("n_vars", self.dim)
        return out

    def setup_model(self, model: nn.Module) -> None:
        """Set the model's normalisation buffers from the raw training points (mean, unbiased std)."""
        from emulators.phyxmamba import PhyxMamba

        if not isinstance(model, PhyxMamba):
            raise InputTypeError(f"model: task.kind phyxmamba trains a PhyxMamba, got {type(model).__name__}")
        c = model.config
        if (c.token_size, c.lookback, c.n_vars) != (self.token_size, self.lookback, self.dim):
            raise ConfigError(
                f"model.config: token_size/lookback/n_vars {c.token_size}/{c.lookback}/{c.n_vars} differ from "
                f"the task's {self.token_size}/{self.lookback}/{self.dim}"
            )
        flat = self.data.reshape(-1, self.dim)
        model.set_normalization(flat.mean(0), flat.std(0))

    def lr_factor(self, step: int) -> float:
        """``stage1_lr / optimizer.lr`` in stage 1, ``stage2_lr / optimizer.lr`` in stage 2."""
        lr = self.stages.stage1_lr if self.stage(step) == 1 else self.stages.stage2_lr
        return lr / self.optimizer_lr

    def prepare_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, batch: Any, step: int) -> dict:
        """Which parameters train at ``step`` (all; ``lm_head`` only while linear probing) and the clip.

        Sets ``requires_grad`` on every step (so a run resumed mid-probing is right), clears the
        optimizer state at the first stage-2 step and at the end of linear probing (the recipe's fresh
        Adam), and returns ``{"grad_clip": 0 | task.phyxmamba.grad_clip}``.
        """
        st = self.stages
        if self.stage(step) == 1:
            for p in model.parameters():
                p.requires_grad_(True)
            return {"grad_clip": 0.0}
        j = step - st.stage1_steps
        linear = j < st.stage2_linear_steps
        for name, p in model.named_parameters():
            p.requires_grad_(not linear or name.startswith("lm_head."))
        if j == 0 or j == st.stage2_linear_steps:
            optimizer.state.clear()
            logger.info(
                "stage 2 step %d: training %s", j, "lm_head only (linear probing)" if linear else "all"
            )
        return {"grad_clip": float(st.grad_clip)}

    # ------------------------------------------------------------------ batches and losses
    def batch(self, step: int, rank: int = 0, world: int = 1) -> dict[str, Any]:
        """The windows of step ``step`` (``(B / world, L, V)`` raw, ``L`` the stage's window length)."""
        stage = self.stage(step)
        if self._last is None or self._last[0] != step:
            length = self.stage1_length if stage == 1 else self.stage2_length
            self._last = (step, draw_windows(self.data, length, self.batch_size, self.generator))
        self._stage_of_last_batch = stage
        full = self._last[1]
        return {"x": full[rank::world], "global": full, "stage": stage}

    def compute_loss(self, model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        """Stage 1: :func:`phyxmamba_losses_stage1`; stage 2: :func:`phyxmamba_losses_stage2` (terms as metrics)."""
        stage = batch.get("stage", 1)
        if stage == 1:
            terms = phyxmamba_losses_stage1(model, batch["x"], self.stages.lambda_mtp)
        else:
            terms = phyxmamba_losses_stage2(model, batch["x"], self.stages)
        return terms["loss"], {
            "stage": stage,
            **{k: float(v.detach()) for k, v in terms.items() if k != "loss"},
        }

    @torch.no_grad()
    def validation_loss(self, model: nn.Module, step: int) -> float | None:
        """The current stage's loss on non-overlapping held-out windows (at most 256; eval mode)."""
        stage = self._stage_of_last_batch
        windows = self.validation_windows(self.stage1_length if stage == 1 else self.stage2_length)
        if not windows:
            return None
        was_training = model.training
        model.eval()
        try:
            return float(self.compute_loss(model, {"x": torch.stack(windows), "stage": stage}, step)[0])
        finally:
            model.train(was_training)
