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

from .errors import CheckpointError, CheckpointNotFoundError, EmulatorInputError
from .registry import build_model, model_config_dict

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with every failure turned into :class:`CheckpointError`.

    The message names the file and what is wrong with it: missing, a folder, empty, truncated or
    not a torch file at all (YAML, text, random bytes), or a pickle that holds objects other than
    tensors and plain values. The result is checked to be a ``dict``; its keys are the caller's
    business (see :func:`check_model_checkpoint` for the model format).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] == b"PK":
            what = f"a truncated or damaged torch checkpoint ({size} bytes)"
        else:
            what = f"not a torch checkpoint ({size} bytes, starts with {head!r})"
        raise CheckpointError(f"{path}: {what}: {reason}") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: holds a {type(payload).__name__}, not a checkpoint dictionary")
    return payload


def check_model_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` unless ``payload`` is a model file of a supported format version."""
    missing = [k for k in ("model", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(
            f"{path}: not a model checkpoint written by emulators.save_model (no {', '.join(missing)}; "
            f"keys: {sorted(payload)[:8]})"
        )
    version = payload.get("format")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported by this version of the "
            f"package (supported: {list(SUPPORTED_FORMAT_VERSIONS)})"
        )
    model = payload["model"]
    if not isinstance(model, dict) or "name" not in model or "config" not in model:
        raise CheckpointError(f"{path}: its 'model' entry has no name/config")


def load_state_dict_checked(module: nn.Module, state_dict: dict[str, Any], path: str | os.PathLike) -> None:
    """``module.load_state_dict(state_dict)`` with missing, unexpected and mis-shaped entries named.

    Raises :class:`CheckpointError` naming ``path``, up to five keys of each kind, and for shape
    mismatches the checkpoint's and the model's shapes (e.g. after changing a model's width and
    resuming).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mis_shaped = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if mis_shaped:
        problems.append(f"{len(mis_shaped)} weights of another shape ({'; '.join(mis_shaped[:5])})")
    if missing:
        problems.append(f"{len(missing)} weights missing ({', '.join(missing[:5])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected weights ({', '.join(unexpected[:5])})")
    if problems:
        raise CheckpointError(
            f"{path}: does not fit the {type(module).__name__} being built: {'; '.join(problems)}. "
            "Was the model's configuration changed since the checkpoint was written?"
        )
    module.load_state_dict(state_dict)


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
    payload = read_checkpoint(path, map_location=map_location)
    check_model_checkpoint(payload, path)
    try:
        model = build_model(payload["model"]["name"], payload["model"]["config"])
    except EmulatorInputError as exc:
        raise CheckpointError(f"{path}: its model cannot be built: {exc}") from exc
    load_state_dict_checked(model, payload["state_dict"], path)
    return model, payload.get("extra", {})
