"""emulators: neural-network models of dynamics (torch only; no data or metric code).

Every model is an ``nn.Module`` built from a config dataclass and registered by name
(:func:`register_model`); :func:`build_model` builds any of them from ``(name, config)`` and
:func:`save_model` / :func:`load_model` round-trip them (``weights_only=True``).
"""

from .checkpoint import load_model, save_model
from .registry import build_model, list_models, make_config, model_config_dict, register_model

__all__ = [
    "build_model",
    "list_models",
    "load_model",
    "make_config",
    "model_config_dict",
    "register_model",
    "save_model",
]
