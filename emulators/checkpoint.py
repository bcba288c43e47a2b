"""Save and load registry-built models: weights + model name + config, written atomically.

The file is a plain ``torch.save`` of a dict of tensors, strings and numbers, so it loads with
``torch.load(..., weights_only=True)``::

    {"format": FORMAT_VERSION, "model": {"name": ..., "config": {...}}, "state_dict": {...}, "extra": {...}}

Training checkpoints (optimizer, scheduler, RNG, data position, normalisation, channel order)
extend this dict in ``chaosbench_py``; ``extra`` carries such fields here.

Everything that can be wrong with a file given as a checkpoint becomes a :class:`CheckpointError`
naming the file and what is wrong: missing, a folder, empty, truncated, another kind of file (text /
YAML, HDF5 / netCDF, NumPy, a zip archive, random bytes), Python objects that a weights-only load
refuses, an unknown format version, no model entries, an unknown model name, a config the model
rejects, weights of another shape.

dtype and device: the weights are stored on the CPU in their own dtype. :func:`load_model` gives back
a model in the stored dtype (a model saved after ``.double()`` comes back float64, a float32 ESN
stays float32) on the ``map_location`` device.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .errors import (
    CheckpointError,
    CheckpointNotFoundError,
    EmulatorInputError,
    EmulatorOutputExistsError,
    EmulatorTypeError,
)
from .registry import build_model, model_config_dict

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_FORMAT_VERSIONS",
    "check_model_checkpoint",
    "load_model",
    "load_state_dict_checked",
    "read_checkpoint",
    "save_model",
]

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)

# leading bytes of file kinds a user may plausibly pass instead of a checkpoint
_SIGNATURES = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 / netCDF-4 file"),
    (b"CDF\x01", "a netCDF-3 file"),
    (b"CDF\x02", "a netCDF-3 (64-bit offset) file"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
)


def _as_path(path: Any, what: str = "path") -> Path:
    if isinstance(path, (str, os.PathLike)) and str(path):
        return Path(path)
    raise EmulatorTypeError(f"{what}: expected a file path (str or os.PathLike), got {path!r:.80}")


def _device_of(map_location: Any) -> torch.device | None:
    """The device ``map_location`` names (``None`` for a mapping or callable); unusable ones refused."""
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return None
    if not isinstance(map_location, (str, torch.device)):
        raise EmulatorTypeError(
            f"map_location: expected a device such as 'cpu' or 'cuda:0', got {map_location!r}"
        )
    try:
        device = torch.device(map_location)
    except (RuntimeError, ValueError) as exc:
        raise EmulatorInputError(f"map_location: {map_location!r} is not a device ({exc})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EmulatorInputError(
                f"map_location={map_location!r}: CUDA is not available here; load with map_location='cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EmulatorInputError(
                f"map_location={map_location!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return device


def _text_start(head: bytes) -> str | None:
    """The first line of ``head`` if it reads as text (UTF-8, printable), else ``None``."""
    for cut in range(4):  # a multi-byte character may be cut at the end of the sample
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    if not text.strip() or any(not (c.isprintable() or c in "\n\r\t") for c in text):
        return None
    return text.strip().splitlines()[0][:60]


def _refused_global(message: str) -> str | None:
    """The first ``GLOBAL module.name`` a weights-only load refused, from torch's message."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    return found.group(1) if found else None


def _describe_unreadable(path: Path, size: int, exc: BaseException) -> str:
    """What ``path`` is, given that ``torch.load(weights_only=True)`` failed with ``exc``."""
    message = str(exc)
    reason = message.strip().splitlines()[0][:120] if message.strip() else type(exc).__name__
    refused = _refused_global(message)
    objects = (
        f"holds Python objects that a weights-only load refuses ({refused or reason}); a checkpoint may only "
        "hold tensors and plain values (was a whole model or optimizer object torch.save'd instead of "
        "emulators.save_model?). Do not load it with weights_only=False unless you trust where it came from"
    )
    with open(path, "rb") as f:
        head = f.read(512)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if names and not any(n.endswith("data.pkl") for n in names):
            shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            return f"a zip archive holding {shown}, not a torch checkpoint (a NumPy .npz?)"
        if "weights only" in message.lower() or refused:
            return objects
        return f"a damaged torch checkpoint ({size} bytes): {reason}"
    if head.startswith(b"PK"):
        return (
            f"a truncated or damaged torch checkpoint ({size} bytes; the end of its zip archive is missing — "
            f"an interrupted write, copy or download?): {reason}"
        )
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return f"{kind}, not a torch checkpoint"
    text = _text_start(head)
    if text is not None:
        return f"a text file starting {text!r} (a YAML / JSON config?), not a torch checkpoint"
    if head[:1] == b"\x80":  # a pickle: the legacy torch format or a plain pickle
        if refused:
            return objects
        return f"a Python pickle ({size} bytes), not a torch checkpoint (torch.save writes a zip archive)"
    return f"not a torch checkpoint ({size} bytes of unrecognised data, starting {head[:8]!r})"


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with every failure turned into :class:`CheckpointError`.

    The message names the file and what is wrong with it: missing (:class:`CheckpointNotFoundError`,
    also a ``FileNotFoundError``), a folder, empty, truncated, another kind of file (text / YAML,
    HDF5, NumPy, zip, random bytes), or a pickle that holds objects other than tensors and plain
    values. An unusable ``map_location`` (no CUDA on this machine) is refused before reading. The
    result is checked to be a ``dict``; its keys are the caller's business (see
    :func:`check_model_checkpoint` for the model format).
    """
    path = _as_path(path)
    _device_of(map_location)
    if not path.exists():
        raise CheckpointNotFoundError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        raise CheckpointError(f"{path}: {_describe_unreadable(path, size, exc)}") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: holds a {type(payload).__name__}, not a checkpoint dictionary")
    return payload


def check_model_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` unless ``payload`` is a model file of a supported format version.

    Checked: the ``model`` and ``state_dict`` entries exist, ``format`` is one of
    :data:`SUPPORTED_FORMAT_VERSIONS`, ``model`` holds a string ``name`` and a ``config`` mapping,
    ``state_dict`` maps strings to tensors, ``extra`` (if any) is a dict.
    """
    missing = [k for k in ("model", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(
            f"{path}: not a model checkpoint written by emulators.save_model (no {', '.join(missing)}; "
            f"keys: {sorted(map(str, payload))[:8]})"
        )
    if "format" not in payload:
        raise CheckpointError(
            f"{path}: has no format version; it was not written by emulators.save_model "
            f"(supported versions: {list(SUPPORTED_FORMAT_VERSIONS)})"
        )
    version = payload["format"]
    if version not in SUPPORTED_FORMAT_VERSIONS:
        newer = (
            isinstance(version, int)
            and not isinstance(version, bool)
            and version > max(SUPPORTED_FORMAT_VERSIONS)
        )
        hint = " (written by a newer version of the package? upgrade it)" if newer else ""
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported by this version of the "
            f"package (supported: {list(SUPPORTED_FORMAT_VERSIONS)}){hint}"
        )
    model = payload["model"]
    if not isinstance(model, dict) or "name" not in model or "config" not in model:
        raise CheckpointError(f"{path}: its 'model' entry has no name/config (got {model!r:.80})")
    if not isinstance(model["name"], str):
        raise CheckpointError(f"{path}: its model name must be a string, got {model['name']!r:.80}")
    if not isinstance(model["config"], dict):
        raise CheckpointError(
            f"{path}: the config of its model {model['name']!r} must be a dict, got {type(model['config']).__name__}"
        )
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: its 'state_dict' must be a dict of tensors, got {type(state).__name__}"
        )
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: its 'state_dict' has entries that are not tensors: {bad[:5]}")
    if not isinstance(payload.get("extra", {}), dict):
        raise CheckpointError(
            f"{path}: its 'extra' entry must be a dict, got {type(payload['extra']).__name__}"
        )


def load_state_dict_checked(
    module: nn.Module, state_dict: dict[str, Any], path: str | os.PathLike, assign: bool = False
) -> None:
    """``module.load_state_dict(state_dict)`` with missing, unexpected and mis-shaped entries named.

    Raises :class:`CheckpointError` naming ``path``, up to five keys of each kind, and for shape
    mismatches the checkpoint's and the model's shapes (e.g. after changing a model's width and
    resuming). ``assign=True`` keeps the checkpoint's tensors (their dtype and device) instead of
    copying into the module's.
    """
    if not isinstance(state_dict, dict):
        raise CheckpointError(
            f"{path}: the weights must be a dict of tensors, got {type(state_dict).__name__}"
        )
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mis_shaped = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict
        and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    not_tensors = [k for k in own if k in state_dict and not isinstance(state_dict[k], torch.Tensor)]
    problems = []
    if mis_shaped:
        problems.append(f"{len(mis_shaped)} weights of another shape ({'; '.join(mis_shaped[:5])})")
    if missing:
        problems.append(f"{len(missing)} weights missing ({', '.join(missing[:5])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected weights ({', '.join(map(str, unexpected[:5]))})")
    if not_tensors:
        problems.append(f"{len(not_tensors)} entries that are not tensors ({', '.join(not_tensors[:5])})")
    if problems:
        raise CheckpointError(
            f"{path}: does not fit the {type(module).__name__} being built: {'; '.join(problems)}. "
            "Was the model's configuration changed since the checkpoint was written?"
        )
    module.load_state_dict(state_dict, assign=assign)


_PLAIN = (
    str,
    bytes,
    int,
    float,
    bool,
    complex,
    type(None),
    torch.Tensor,
    torch.dtype,
    torch.device,
    torch.Size,
)


def _check_plain(value: Any, where: str) -> None:
    """Refuse values that ``torch.load(weights_only=True)`` would not read back, naming where they are."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise EmulatorTypeError(f"{where}: key {k!r} is a {type(k).__name__}; use str or int keys")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    hint = (
        " (convert it with torch.from_numpy or .item())" if type(value).__module__.startswith("numpy") else ""
    )
    raise EmulatorTypeError(
        f"{where}: a {type(value).__module__}.{type(value).__name__} cannot be stored in a checkpoint that "
        f"loads with weights_only=True; use tensors, numbers, strings, lists and dicts{hint}"
    )


def _umask_mode() -> int:
    """The mode a newly created file would get (0o666 minus the process umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_model(
    model: nn.Module, path: str | os.PathLike, extra: dict[str, Any] | None = None, *, overwrite: bool = False
) -> Path:
    """Write ``{"format", "model": {name, config}, "state_dict", "extra"}`` atomically to ``path``.

    ``model``: built through the registry (:func:`emulators.build_model` or a registered class).
    ``extra``: a dict of tensors and plain values (numbers, strings, lists, dicts); anything a
    weights-only load could not read back is refused, naming its key. An existing ``path`` is
    refused (:class:`EmulatorOutputExistsError`) unless ``overwrite=True``; the file appears whole or
    not at all (temporary sibling, then ``os.replace``), with the ordinary file mode.
    Returns ``path``.
    """
    path = _as_path(path)
    if path.is_dir():
        raise EmulatorInputError(f"{path}: is a folder; give a file path such as {path / 'model.pt'}")
    if path.exists() and not overwrite:
        raise EmulatorOutputExistsError(f"{path}: exists; pass overwrite=True to replace it")
    if extra is not None and not isinstance(extra, dict):
        raise EmulatorTypeError(f"extra: expected a dict, got {type(extra).__name__}")
    _check_plain(extra or {}, "extra")
    payload = {
        "format": FORMAT_VERSION,
        "model": model_config_dict(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, _umask_mode())
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _floating_dtypes(tensors: Any) -> set[torch.dtype]:
    return {t.dtype for t in tensors if isinstance(t, torch.Tensor) and torch.is_floating_point(t)}


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved by :func:`save_model`; returns ``(model, extra)``. Uses ``weights_only=True``.

    The model comes back in the stored dtype(s) and on the ``map_location`` device (default CPU),
    in training mode as any freshly built module (call ``.eval()`` for inference). Every problem
    with the file is a :class:`CheckpointError` naming it (see the module docstring).
    """
    path = _as_path(path)
    device = _device_of(map_location)
    payload = read_checkpoint(path, map_location=map_location)
    check_model_checkpoint(payload, path)
    name, config = payload["model"]["name"], payload["model"]["config"]
    try:
        model = build_model(name, config)
    except (EmulatorInputError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its model {name!r} cannot be built: {exc}") from exc
    state = payload["state_dict"]
    stored = _floating_dtypes(state.values())
    if len(stored) == 1 and _floating_dtypes(model.state_dict().values()) != stored:
        model.to(next(iter(stored)))  # the whole model was saved in one dtype: rebuild it in that dtype
    if device is not None:
        model.to(device)  # the weights were read onto this device: copy them there, not across devices
    load_state_dict_checked(model, state, path, assign=len(stored) > 1)
    return model, payload.get("extra", {})
