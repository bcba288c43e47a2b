"""PhyxMamba's two training stages: settings, window sampling and the loss of each stage.

PhyxMamba (Liu, Zhao, Ding, Wang, Li, "Mamba Integrated with Physics Principles Masters Long-term
Chaotic System Forecasting", arXiv 2505.23863) is trained in two stages:

Stage 1 (teacher forcing): windows of ``stage1_tokens`` patches; loss
``MSE(next patch) + lambda_mtp * mean_k MSE(MTP_k)`` on standardised states
(:func:`phyxmamba_losses_stage1`).

Stage 2 (autoregressive fine-tuning): from a ``lookback``-step context, roll out ``horizon`` steps with
the recurrent step and minimise
``MSE + lambda_u * MMD_uncond + lambda_c * MMD_cond`` with, on standardised states,
``MMD_uncond = (1/H) sum_t MMD^2({x_ctx[:, 0]}, {yhat[:, t]})`` and
``MMD_cond = (1/H) sum_t MMD^2({y[:, t]}, {yhat[:, t]})`` (biased, clamped V-statistic across the batch,
PhyxMamba's rational-quadratic kernel sum: :func:`physics_metrics.maximum_mean_discrepancy`)
(:func:`phyxmamba_losses_stage2`). The first ``stage2_linear_steps`` steps train only the decoder
``lm_head`` ("linear probing"), then all parameters. Published values: ``lambda_mtp = 0.1``,
``lambda_u = 1``, ``lambda_c = 1000``, Adam lr 1e-3 (stage 1) / 1e-4 (stage 2), weight decay 1e-5,
gradient clip 1.0 (stage 2).

Training is counted in optimizer steps on randomly drawn windows (the paper counts epochs). The loop is
the generic trainer's (task ``phyxmamba``, :class:`chaosbench_py.training.tasks.PhyxMambaTask`);
:func:`chaosbench_py.training.train_phyxmamba` is its in-memory front end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from emulators.phyxmamba import PhyxMamba
from physics_metrics import maximum_mean_discrepancy

from ..errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["PhyxMambaTrainConfig", "draw_windows", "phyxmamba_losses_stage1", "phyxmamba_losses_stage2"]


@dataclass
class PhyxMambaTrainConfig:
    """Settings of the two stages (defaults: published weights, CPU-size step counts); the task
    ``phyxmamba`` reads the stage keys from ``task.phyxmamba``, :func:`~chaosbench_py.training.train_phyxmamba`
    all of them."""

    stage1_steps: int = 2000
    stage1_tokens: int = 12
    stage1_lr: float = 1e-3
    lambda_mtp: float = 0.1
    stage2_steps: int = 300
    stage2_linear_steps: int = 50
    stage2_lr: float = 1e-4
    horizon: int = 30
    lambda_uncond: float = 1.0
    lambda_cond: float = 1000.0
    weight_decay: float = 1e-5
    grad_clip: float = 1.0
    batch_size: int = 64
    seed: int = 0
    bf16: bool = False
    progress: bool = True
    log_every: int = 100

    def __post_init__(self):
        for name in ("stage1_steps", "stage2_steps", "stage2_linear_steps"):
            if getattr(self, name) < 0:
                raise InputError(f"PhyxMambaTrainConfig.{name}: must be >= 0")
        for name in ("stage1_tokens", "horizon", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"PhyxMambaTrainConfig.{name}: must be >= 1")
        if self.stage1_tokens < 2:
            raise InputError("PhyxMambaTrainConfig.stage1_tokens: must be >= 2 (input and target patch)")


def draw_windows(data: torch.Tensor, length: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Random windows ``(batch, length, V)`` of ``data (N, T, V)``: trajectory index, then start index,
    both uniform, drawn from ``gen``."""
    n, T, _ = data.shape
    if T < length:
        raise InputError(f"data: trajectories of length {T} are shorter than a training window ({length})")
    i = torch.randint(0, n, (batch,), generator=gen)
    t = torch.randint(0, T - length + 1, (batch,), generator=gen)
    idx = t[:, None] + torch.arange(length)[None]
    return data[i[:, None], idx]


def phyxmamba_losses_stage1(model: nn.Module, window: torch.Tensor, lambda_mtp: float) -> dict:
    """Stage-1 (teacher-forcing) loss terms on a raw batch ``window (B, n * P, V)``, ``n >= 2`` patches.

    With ``z`` the standardised window cut into patches ``(B, n, P, V)``, ``ẑ = model(window)`` (position
    ``t`` predicts patch ``t + 1``) and ``ẑ_k`` the MTP outputs (position ``t`` predicts patch
    ``t + k + 1``)::

        mse = MSE(ẑ[:, :-1], z[:, 1:]),   mtp = (1/K) Σ_k MSE(ẑ_k, z[:, k+1:]),   loss = mse + λ_mtp · mtp

    (``mtp = 0`` when the model has no MTP modules or the window is too short for them).
    Returns ``{"loss", "mse", "mtp"}`` (tensors; ``loss`` differentiable).
    """
    c = model.config
    pred, mtp = model(window, return_mtp=True)
    n = window.shape[1] // c.token_size
    target = model.standardize(window).reshape(window.shape[0], n, c.token_size, c.n_vars)
    mse = F.mse_loss(pred[:, :-1].to(target.dtype), target[:, 1:])  # bf16 autocast → fp32
    loss = mse
    if mtp:
        extra = torch.stack(
            [F.mse_loss(p.to(target.dtype), target[:, k + 1 :]) for k, p in enumerate(mtp, 1)]
        ).mean()
        loss = loss + lambda_mtp * extra
    else:
        extra = mse.new_zeros(())
    return {"loss": loss, "mse": mse, "mtp": extra}


def phyxmamba_losses_stage2(model: PhyxMamba, window: torch.Tensor, cfg: PhyxMambaTrainConfig) -> dict:
    """Stage-2 loss terms on one raw batch ``window (B, lookback + horizon, V)``.

    Returns ``{"loss", "mse", "mmd_uncond", "mmd_cond"}`` (tensors; ``loss`` differentiable).
    """
    c = model.config
    z = model.standardize(window)
    ctx, target = z[:, : c.lookback], z[:, c.lookback : c.lookback + cfg.horizon]
    pred = model.rollout(ctx, -(-cfg.horizon // c.token_size), standardized=True)[:, : cfg.horizon]
    pred = pred.float()
    target = target.to(pred.dtype)
    mse = F.mse_loss(pred, target)
    # (H, B, V) point clouds across the batch at each lead time; already standardised
    p_t, y_t = pred.transpose(0, 1), target.transpose(0, 1)
    x0 = ctx[:, 0].to(pred.dtype).expand(p_t.shape[0], -1, -1)
    mmd_u = maximum_mean_discrepancy(x0, p_t).mean()
    mmd_c = maximum_mean_discrepancy(y_t, p_t).mean()
    loss = mse + cfg.lambda_uncond * mmd_u + cfg.lambda_cond * mmd_c
    return {"loss": loss, "mse": mse, "mmd_uncond": mmd_u, "mmd_cond": mmd_c}
