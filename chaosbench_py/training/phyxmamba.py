"""Two-stage PhyxMamba training (reference notes ``dsr.md`` section B.2).

Stage 1 (teacher forcing): windows of ``stage1_tokens`` patches; loss
``MSE(next patch) + lambda_mtp * mean_k MSE(MTP_k)`` on standardised states.

Stage 2 (autoregressive fine-tuning): from a ``lookback``-step context, roll out ``horizon`` steps with
the recurrent step and minimise
``MSE + lambda_u * MMD_uncond + lambda_c * MMD_cond`` with, on standardised states,
``MMD_uncond = (1/H) sum_t MMD^2({x_ctx[:, 0]}, {yhat[:, t]})`` and
``MMD_cond = (1/H) sum_t MMD^2({y[:, t]}, {yhat[:, t]})`` (biased, clamped V-statistic across the batch,
PhyxMamba's rational-quadratic kernel sum: :func:`physics_metrics.maximum_mean_discrepancy`).
The first ``stage2_linear_steps`` steps train only the decoder ``lm_head`` ("linear probing"), then
all parameters. Published values: ``lambda_mtp = 0.1``, ``lambda_u = 1``, ``lambda_c = 1000``, Adam lr 1e-3
(stage 1) / 1e-4 (stage 2), weight decay 1e-5, gradient clip 1.0 (stage 2).

Training is counted in optimizer steps on randomly drawn windows (the paper counts epochs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emulators import save_model
from emulators.phyxmamba import PhyxMamba
from physics_metrics import maximum_mean_discrepancy

from ..errors import InputError, InputTypeError

logger = logging.getLogger(__name__)

__all__ = ["PhyxMambaTrainConfig", "phyxmamba_losses_stage2", "train_phyxmamba"]


@dataclass
class PhyxMambaTrainConfig:
    """Settings of :func:`train_phyxmamba` (defaults: published weights, CPU-size step counts)."""

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


def _windows(data: torch.Tensor, length: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Random windows ``(batch, length, V)`` from ``data (N, T, V)``."""
    n, T, _ = data.shape
    if T < length:
        raise InputError(f"data: trajectories of length {T} are shorter than a training window ({length})")
    i = torch.randint(0, n, (batch,), generator=gen)
    t = torch.randint(0, T - length + 1, (batch,), generator=gen)
    idx = t[:, None] + torch.arange(length)[None]
    return data[i[:, None], idx]


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


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


def train_phyxmamba(
    model: PhyxMamba,
    train_data: Any,
    config: PhyxMambaTrainConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    checkpoint_path: str | Path | None = None,
) -> dict:
    """Train ``model`` on ``train_data (N, T, V)`` (numpy or torch, raw states) in two stages.

    Sets the model's normalisation from the training data (per-variable mean and std), moves it to
    ``device``, runs stage 1 then stage 2, and (optionally) writes an atomic checkpoint with
    :func:`emulators.save_model` after each stage. ``bf16`` autocasts the forward passes on devices
    that support it (CUDA). Returns ``{"stage1": [losses], "stage2": [dict of terms]}``.
    """
    cfg = config or PhyxMambaTrainConfig()
    if not isinstance(model, PhyxMamba):
        raise InputTypeError(f"model: expected a PhyxMamba, got {type(model).__name__}")
    data = torch.as_tensor(np.asarray(train_data), dtype=torch.float32)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[-1] != model.config.n_vars:
        raise InputError(f"train_data: expected (N, T, {model.config.n_vars}), got shape {tuple(data.shape)}")
    if not bool(torch.isfinite(data).all()):
        raise InputError("train_data: contains NaN/inf")
    flat = data.reshape(-1, data.shape[-1])
    model.set_normalization(flat.mean(0), flat.std(0))
    device = torch.device(device)
    model.to(device)
    data = data.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    use_bf16 = cfg.bf16 and device.type == "cuda"
    c = model.config
    history: dict = {"stage1": [], "stage2": []}

    from tqdm.auto import tqdm

    # ---- stage 1 ----
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.stage1_lr, weight_decay=cfg.weight_decay)
    length = cfg.stage1_tokens * c.token_size
    for step in tqdm(range(cfg.stage1_steps), desc="PhyxMamba stage 1", disable=not cfg.progress):
        win = _windows(data, length, cfg.batch_size, gen)
        with _autocast(device, use_bf16):
            pred, mtp = model(win, return_mtp=True)
        target = model.standardize(win).reshape(win.shape[0], cfg.stage1_tokens, c.token_size, c.n_vars)
        loss = F.mse_loss(pred[:, :-1].float(), target[:, 1:])
        if mtp:
            extra = torch.stack([F.mse_loss(p.float(), target[:, k + 1 :]) for k, p in enumerate(mtp, 1)])
            loss = loss + cfg.lambda_mtp * extra.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["stage1"].append(float(loss.detach()))
        if cfg.log_every and step % cfg.log_every == 0:
            logger.info("stage 1 step %d loss %.5f", step, history["stage1"][-1])
    if checkpoint_path is not None:
        save_model(model, checkpoint_path, extra={"stage": 1, "steps": cfg.stage1_steps})

    # ---- stage 2 ----
    length = c.lookback + cfg.horizon
    head = [p for n, p in model.named_parameters() if "head" in n]
    for step in tqdm(range(cfg.stage2_steps), desc="PhyxMamba stage 2", disable=not cfg.progress):
        if step == 0 or step == cfg.stage2_linear_steps:
            linear = step < cfg.stage2_linear_steps
            for n, p in model.named_parameters():
                p.requires_grad_(not linear or "head" in n)
            params = head if linear else list(model.parameters())
            opt = torch.optim.Adam(params, lr=cfg.stage2_lr, weight_decay=cfg.weight_decay)
            logger.info(
                "stage 2 step %d: training %s", step, "lm_head only (linear probing)" if linear else "all"
            )
        win = _windows(data, length, cfg.batch_size, gen)
        with _autocast(device, use_bf16):
            terms = phyxmamba_losses_stage2(model, win, cfg)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()
        history["stage2"].append({k: float(v.detach()) for k, v in terms.items()})
        if cfg.log_every and step % cfg.log_every == 0:
            logger.info("stage 2 step %d %s", step, history["stage2"][-1])
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    if checkpoint_path is not None:
        save_model(model, checkpoint_path, extra={"stage": 2, "steps": cfg.stage1_steps + cfg.stage2_steps})
    return history
