"""Batched simulation of catalog systems: solvers, trajectory datasets, stores on disk."""

from .solvers import METHODS, integrate, rk4_step
from .store import generate_to_store, open_trajectories, save_trajectories, window
from .trajectories import Sampling, generate_trajectories, initial_conditions, resolve_sampling

__all__ = [
    "METHODS",
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
