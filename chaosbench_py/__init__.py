"""chaosbench_py: data, simulators, training, rollout and evaluation for emulators of dynamics.

This package connects the two leaf packages :mod:`emulators` (models) and
:mod:`physics_metrics` (scores). Public names are listed in ``__all__``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chaosbench-py")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "get_system", "list_systems", "system_info"]


_SUBPACKAGES = ("data", "evaluation", "report", "reproduce", "simulate", "systems", "training")


def __getattr__(name: str):  # PEP 562: `chaosbench generate` from a recorded plan never imports torch
    import importlib

    if name in ("get_system", "list_systems", "system_info"):
        value = getattr(importlib.import_module(".systems", __name__), name)
    elif name in _SUBPACKAGES:  # `import chaosbench_py as cb; cb.systems...` as when systems was imported eagerly
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
