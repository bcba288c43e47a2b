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


def __getattr__(name: str):  # PEP 562: `chaosbench generate` from a recorded plan never imports torch
    if name in ("get_system", "list_systems", "system_info"):
        from . import systems

        value = getattr(systems, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
