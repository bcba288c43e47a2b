"""One step of a gridded emulator on a stacked channel tensor, whatever the model's own signature."""

from __future__ import annotations

import torch
import torch.nn as nn

from .errors import EmulatorInputError

__all__ = ["gridded_step"]


def gridded_step(model: nn.Module, x: torch.Tensor, n_dynamic: int | None = None) -> torch.Tensor:
    """One emulator step: ``x (B, C_in, H, W)`` → ``(B, C_out, H, W)``.

    ``C_in = n_dynamic + n_constant``: the dynamic (prognostic) channels first, then constant fields
    (masks, orography). Models with ``forward_stacked`` (Pangu, which works on split upper-air /
    surface tensors) get the dynamic channels and the constants as their ``masks``; every other model
    gets ``x`` whole. ``n_dynamic=None`` means every channel is dynamic.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise EmulatorInputError(
            f"x: expected a torch.Tensor of shape (batch, channels, lat, lon), got {shape}"
        )
    if n_dynamic is not None and (
        isinstance(n_dynamic, bool) or not isinstance(n_dynamic, int) or not 1 <= n_dynamic <= x.shape[1]
    ):
        raise EmulatorInputError(
            f"n_dynamic: must be an integer in 1 … {x.shape[1]} (the channels of x), got {n_dynamic!r}"
        )
    stacked = getattr(model, "forward_stacked", None)
    if not callable(stacked):
        return model(x)
    n = x.shape[1] if n_dynamic is None else n_dynamic
    masks = x[:, n:] if x.shape[1] > n else None
    return stacked(x[:, :n], masks)
