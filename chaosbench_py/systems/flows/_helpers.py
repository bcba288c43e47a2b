"""Helpers shared by several flow families (array-valued parameters as tensors)."""

from __future__ import annotations

from typing import Any

import torch


def _param_tensor(value: Any, x: torch.Tensor) -> torch.Tensor:
    """An array-valued parameter (list or tensor) as a tensor with the dtype/device of ``x``."""
    return torch.as_tensor(value, dtype=x.dtype, device=x.device)
