"""Save and load registry-built models: weights + model name + config, written atomically.

The file is a plain ``torch.save`` of a dict of tensors, strings and numbers, so it loads with
``torch.load(..., weights_only=True)``. Training checkpoints (optimizer, scheduler, RNG, data
position, normalisation, channel order) extend this dict in ``chaosbench_py``; ``extra`` carries
such fields here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .registry import build_model, model_config_dict

FORMAT_VERSION = 1


def save_model(model: nn.Module, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``{"format", "model": {name, config}, "state_dict", "extra"}`` atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT_VERSION,
        "model": model_config_dict(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_model`; returns ``(model, extra)``. Uses ``weights_only=True``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload or "state_dict" not in payload:
        raise ValueError(f"{path}: not a model checkpoint written by emulators.save_model")
    model = build_model(payload["model"]["name"], payload["model"]["config"])
    model.load_state_dict(payload["state_dict"])
    return model, payload.get("extra", {})
