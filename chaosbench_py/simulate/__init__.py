"""Batched simulation of catalog systems: solvers, trajectory datasets, stores on disk."""

from .forced_shallow_water import ForcedShallowWaterSolver
from .forced_shallow_water_data import (
    forced_shallow_water_climatology,
    forced_shallow_water_store,
    generate_forced_shallow_water,
)
from .shallow_water import (
    INITIAL_CONDITIONS,
    ShallowWaterSolver,
    galewsky_height_profile,
    generate_shallow_water,
)
from .solvers import METHODS, divergence_bound, integrate, rk4_step
from .spherical_harmonics import SphericalHarmonicTransform
from .store import generate_to_store, open_trajectories, save_trajectories, window
from .trajectories import Sampling, generate_trajectories, initial_conditions, resolve_sampling

__all__ = [
    "INITIAL_CONDITIONS",
    "METHODS",
    "ForcedShallowWaterSolver",
    "ShallowWaterSolver",
    "SphericalHarmonicTransform",
    "divergence_bound",
    "forced_shallow_water_climatology",
    "forced_shallow_water_store",
    "generate_forced_shallow_water",
    "galewsky_height_profile",
    "generate_shallow_water",
    "Sampling",
    "generate_to_store",
    "generate_trajectories",
    "initial_conditions",
    "integrate",
    "open_trajectories",
    "resolve_sampling",
    "rk4_step",
    "save_trajectories",
    "window",
]
