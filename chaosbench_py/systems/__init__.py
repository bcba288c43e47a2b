"""The systems catalog: chaotic flows (dysts), Lorenz-96, Kuramoto–Sivashinsky, discrete maps."""

from .base import Flow, Invariants, Map, System, SystemInfo
from .registry import get_system, list_systems, system_info

__all__ = ["Flow", "Invariants", "Map", "System", "SystemInfo", "get_system", "list_systems", "system_info"]
