"""One registry mapping model names to (``nn.Module`` class, config dataclass).

Every emulator is an ``nn.Module`` built from a config dataclass; the registry lets the trainer,
the rollout code and the checkpoint loader build any model from ``(name, config dict)`` alone::

    @register_model("shplrnn", ShPLRNNConfig)
    class ShPLRNN(nn.Module):
        def __init__(self, config: ShPLRNNConfig): ...

    model = build_model("shplrnn", {"latent_dim": 20, "hidden_dim": 50, "obs_dim": 3})

Unknown names and unknown / ill-typed config keys are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable, Mapping
from typing import Any

import torch.nn as nn

from .errors import EmulatorInputError, EmulatorKeyError, EmulatorTypeError

_MODELS: dict[str, tuple[type[nn.Module], type]] = {}


def register_model(name: str, config_cls: type) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator registering a model class with its config dataclass under ``name``."""
    if not dataclasses.is_dataclass(config_cls):
        raise EmulatorTypeError(
            f"register_model({name!r}): config_cls must be a dataclass, got {config_cls!r}"
        )

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS and _MODELS[name][0] is not cls:
            raise EmulatorInputError(f"model {name!r} registered twice")
        _MODELS[name] = (cls, config_cls)
        cls.model_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def list_models() -> list[str]:
    """Sorted names of the registered models."""
    return sorted(_MODELS)


def _lookup(name: str) -> tuple[type[nn.Module], type]:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise EmulatorKeyError(f"unknown model {name!r}.{hint} Registered: {', '.join(list_models())}")
    return _MODELS[name]


def model_config_class(name: str) -> type:
    """The config dataclass registered for model ``name`` (``KeyError`` with close matches if unknown)."""
    return _lookup(name)[1]


def make_config(name: str, values: Mapping[str, Any] | None = None) -> Any:
    """Validate ``values`` against the config dataclass of model ``name`` and build it.

    Raises ``KeyError`` naming unknown or missing required keys and ``TypeError`` naming a key
    whose value has the wrong type (int/float/bool/str/tuple fields are checked; ints are accepted
    for floats); the config's own ``__post_init__`` checks the values.
    """
    _, config_cls = _lookup(name)
    if values is not None and not isinstance(values, Mapping):
        raise EmulatorTypeError(
            f"model {name!r}: config must be a mapping of its fields or a {config_cls.__name__}, "
            f"got {type(values).__name__}: {values!r:.80}"
        )
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise EmulatorKeyError(
            f"model {name!r}: unknown config key(s) {unknown}; valid keys: {sorted(fields)}"
        )
    required = [
        k
        for k, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and k not in values
    ]
    if required:
        raise EmulatorKeyError(
            f"model {name!r}: config key(s) {required} are required and have no default (given: {values})"
        )
    hints = typing.get_type_hints(config_cls)
    for key, value in values.items():
        _check_type(name, key, value, hints.get(key))
        if isinstance(value, list):
            values[key] = tuple(value)
    return config_cls(**values)


def _check_type(model: str, key: str, value: Any, hint: Any) -> None:
    if hint is None or value is None:
        return
    origin = typing.get_origin(hint)
    allowed: tuple = ()
    if hint is float:
        allowed = (int, float)
    elif hint in (int, str, bool):
        allowed = (hint,)
    elif origin is tuple or hint is tuple:
        allowed = (tuple, list)
    if allowed and (not isinstance(value, allowed) or (hint in (int, float) and isinstance(value, bool))):
        raise EmulatorTypeError(
            f"model {model!r}: config key {key!r} must be {getattr(hint, '__name__', hint)}, got {value!r}"
        )


def build_model(name: str, config: Mapping[str, Any] | Any | None = None) -> nn.Module:
    """Build model ``name`` from a config dataclass instance or a mapping of its fields."""
    cls, config_cls = _lookup(name)
    if not isinstance(config, config_cls):
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            raise EmulatorTypeError(
                f"model {name!r} takes a {config_cls.__name__} (or a mapping of its fields), "
                f"got a {type(config).__name__}"
            )
        config = make_config(name, config)
    return cls(config)


def model_config_dict(model: nn.Module) -> dict[str, Any]:
    """``{"name": ..., "config": {...}}`` of a registry-built model (what checkpoints store)."""
    config = getattr(model, "config", None)
    name = getattr(model, "model_name", None)
    if name is None or config is None or not dataclasses.is_dataclass(config):
        raise EmulatorTypeError(
            "model was not built through the registry (needs .model_name and a dataclass .config)"
        )
    return {"name": name, "config": dataclasses.asdict(config)}
