"""Task ``multi_step``: multiple shooting for models with ``forward(x0, n_steps) -> (B, n_steps, N)`` (neural ODE)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from .base import model_config_fields, register_task
from .sequence import SequenceTask

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = ["MultiStepTask"]


@register_task("multi_step")
class MultiStepTask(SequenceTask):
    """Windows ``x_0 … x_R`` (``R = task.rollout_steps``) integrated from ``x_0``; loss ``mean ‖x̂_{1:R} − x_{1:R}‖²``.

    Short windows keep the gradients of a chaotic system bounded (each shorter than a Lyapunov time): the
    multiple-shooting idea of Gilpin (2023) and the ``torchdiffeq`` examples. The model's state size
    (``state_dim`` / ``obs_dim`` / ``dim``, whichever its config has) is filled in from the data.
    """

    data_fields = frozenset({"state_dim", "obs_dim", "dim"})

    def __init__(
        self, cfg: RunConfig, device: torch.device, series: Any = None, dtype: torch.dtype = torch.float32
    ):
        super().__init__(cfg, device, cfg.task.rollout_steps, series, dtype)

    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        for key in self.data_fields & model_config_fields(name):
            out.setdefault(key, self.dim)
        return out

    def compute_loss(self, model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        x = batch["x"]
        pred = model(x[:, 0], self.window)
        dtype = torch.promote_types(pred.dtype, torch.float32)  # bf16 autocast → fp32; fp64 models stay fp64
        return torch.mean((pred.to(dtype) - x[:, 1:].to(dtype)) ** 2), {}
