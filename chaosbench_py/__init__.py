"""chaosbench_py: data, simulators, training, rollout and evaluation for emulators of dynamics.

This package connects the two leaf packages :mod:`emulators` (models) and
:mod:`physics_metrics` (scores). Public names are listed in ``__all__``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chaosbench-py")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from .systems import get_system, list_systems, system_info  # noqa: E402

__all__ = ["__version__", "get_system", "list_systems", "system_info"]
