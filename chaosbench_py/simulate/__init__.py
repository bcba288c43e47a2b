"""Batched simulation of catalog systems: solvers, trajectory datasets, stores on disk.

Names are imported on first use (PEP 562), so that ``chaosbench generate`` does not import the
shallow-water solvers (and with them scipy.stats and physics_metrics.weather).
"""

import importlib

_WHERE = {
    "ForcedShallowWaterSolver": "forced_shallow_water",
    "forced_shallow_water_climatology": "forced_shallow_water_data",
    "forced_shallow_water_store": "forced_shallow_water_data",
    "generate_forced_shallow_water": "forced_shallow_water_data",
    "INITIAL_CONDITIONS": "shallow_water",
    "ShallowWaterSolver": "shallow_water",
    "galewsky_height_profile": "shallow_water",
    "generate_shallow_water": "shallow_water",
    "METHODS": "solvers",
    "divergence_bound": "solvers",
    "integrate": "solvers",
    "rk4_step": "solvers",
    "SphericalHarmonicTransform": "spherical_harmonics",
    "generate_to_store": "store",
    "open_trajectories": "store",
    "save_trajectories": "store",
    "window": "store",
    "Sampling": "trajectories",
    "generate_trajectories": "trajectories",
    "initial_conditions": "trajectories",
    "resolve_sampling": "trajectories",
}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
