"""The systems catalog: one registry of names → right-hand sides, metadata from data files.

Right-hand sides are registered with :func:`register_flow` / :func:`register_map` (or
:func:`register_system` for systems built by a factory, such as Lorenz-96 of any dimension).
Metadata for the dysts systems is read from ``data/dysts_flows.json`` and
``data/dysts_maps.json`` (copied from dysts 0.96, Apache-2.0; the field subset is documented in
``data/README.md``).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from ..errors import InputError, InputTypeError, UnknownNameError
from .base import (
    Flow,
    Invariants,
    Map,
    MapFunction,
    RHSFunction,
    System,
    SystemInfo,
    check_parameters,
    finite_or_none,
    without_stale_invariants,
)

_FLOW_RHS: dict[str, RHSFunction] = {}
_MAP_FNS: dict[str, MapFunction] = {}
# name -> (factory(**kwargs) -> System, kind, one-line description)
_FACTORIES: dict[str, tuple[Callable[..., System], str, str]] = {}

# Modules whose import registers systems (kept explicit so the catalog is deterministic).
_CATALOG_MODULES = (
    "chaosbench_py.systems.flows",
    "chaosbench_py.systems.maps",
    "chaosbench_py.systems.lorenz96",
    "chaosbench_py.systems.kuramoto_sivashinsky",
)

DYSTS_PROVENANCE = (
    "dysts 0.96 metadata (Gilpin 2021, arXiv:2110.05266): spectrum by tangent-space QR over 20 "
    "initial conditions; max_lyapunov is the naive two-trajectory estimate "
    "(maximum_lyapunov_estimated), a different estimate from the spectrum's first entry"
)


def register_flow(name: str) -> Callable[[RHSFunction], RHSFunction]:
    """Decorator registering ``rhs(t, x, p)`` as the right-hand side of dysts system ``name``."""

    def deco(fn: RHSFunction) -> RHSFunction:
        if name in _FLOW_RHS or name in _FACTORIES or name in _MAP_FNS:
            raise InputError(f"flow {name!r} registered twice")
        _FLOW_RHS[name] = fn
        return fn

    return deco


def register_map(name: str) -> Callable[[MapFunction], MapFunction]:
    """Decorator registering ``step(x, p)`` as the map of dysts discrete system ``name``."""

    def deco(fn: MapFunction) -> MapFunction:
        if name in _MAP_FNS or name in _FACTORIES or name in _FLOW_RHS:
            raise InputError(f"map {name!r} registered twice")
        _MAP_FNS[name] = fn
        return fn

    return deco


def register_system(name: str, kind: str, description: str) -> Callable:
    """Decorator registering a factory ``f(**kwargs) -> System`` (systems with a size argument)."""

    def deco(factory: Callable[..., System]) -> Callable[..., System]:
        if name in _FACTORIES or name in _FLOW_RHS or name in _MAP_FNS:
            raise InputError(f"system {name!r} registered twice")
        _FACTORIES[name] = (factory, kind, description)
        return factory

    return deco


@functools.cache
def _metadata(kind: str) -> Mapping[str, Mapping[str, Any]]:
    fname = {"flow": "dysts_flows.json", "map": "dysts_maps.json"}[kind]
    text = resources.files("chaosbench_py.systems").joinpath("data", fname).read_text()
    return json.loads(text)["systems"]


@functools.cache
def _load_catalog() -> None:
    for mod in _CATALOG_MODULES:
        importlib.import_module(mod)


def _info_from_dysts(name: str, kind: str) -> SystemInfo:
    meta = _metadata(kind)[name]
    ic = tuple(float(v) for v in meta["initial_conditions"])
    spectrum = meta.get("lyapunov_spectrum_estimated")
    inv = Invariants(
        max_lyapunov=finite_or_none(meta.get("maximum_lyapunov_estimated")),
        lyapunov_spectrum=tuple(float(v) for v in spectrum) if spectrum else None,
        kaplan_yorke_dimension=finite_or_none(meta.get("kaplan_yorke_dimension")),
        correlation_dimension=finite_or_none(meta.get("correlation_dimension")),
        pesin_entropy=finite_or_none(meta.get("pesin_entropy")),
        max_lyapunov_source="naive two-trajectory divergence (dysts maximum_lyapunov_estimated)",
        provenance=DYSTS_PROVENANCE if kind == "flow" else "dysts 0.96 discrete_maps.json",
    )
    return SystemInfo(
        name=name,
        kind=kind,
        dim=len(ic),
        parameters={k: v for k, v in meta.get("parameters", {}).items()},
        initial_condition=ic,
        dt=finite_or_none(meta.get("dt")),
        period=finite_or_none(meta.get("period")),
        invariants=inv,
        mean=tuple(meta["mean"]) if meta.get("mean") else None,
        std=tuple(meta["std"]) if meta.get("std") else None,
        nonautonomous=bool(meta.get("nonautonomous", False)),
        hamiltonian=bool(meta.get("hamiltonian", False)),
        unbounded_indices=tuple(meta.get("unbounded_indices") or ()),
        citation=meta.get("citation", ""),
        description=meta.get("description", ""),
    )


def list_systems(kind: str | None = None) -> list[str]:
    """Sorted names of all catalog systems; ``kind`` in {"flow", "map", "pde"} filters."""
    _load_catalog()
    names: dict[str, str] = {n: "flow" for n in _FLOW_RHS}
    names.update({n: "map" for n in _MAP_FNS})
    names.update({n: k for n, (_, k, _) in _FACTORIES.items()})
    if kind is not None and kind not in {"flow", "map", "pde"}:
        raise InputError(f"kind must be 'flow', 'map' or 'pde'; got {kind!r}")
    return sorted(n for n, k in names.items() if kind is None or k == kind)


def get_system(name: str, **kwargs: Any) -> System:
    """Instantiate catalog system ``name``.

    Keyword arguments are parameter overrides (validated against the system's parameters) or,
    for factory systems (e.g. ``Lorenz96``), construction arguments such as ``dim``.

    Raises
    ------
    UnknownNameError
        Unknown name (the message lists close matches) or unknown parameter (the valid ones listed).
    InputTypeError, InputError
        A parameter value that is not a number, not finite or of the wrong shape (see
        :func:`~chaosbench_py.systems.base.check_parameters`).
    """
    _load_catalog()
    if not isinstance(name, str):
        raise InputTypeError(f"system name must be a string (see list_systems()); got {name!r}")
    if name in _FACTORIES:
        factory = _FACTORIES[name][0]
        accepted = inspect.signature(factory).parameters.values()
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted):
            valid = sorted(p.name for p in accepted)
            unknown = sorted(set(kwargs) - set(valid))
            if unknown:
                raise UnknownNameError(f"{name}: unknown argument(s) {unknown}; valid arguments are {valid}")
        return factory(**kwargs)
    if name in _FLOW_RHS:
        info = _info_from_dysts(name, "flow")
        if "dim" in kwargs and "dim" not in info.parameters:
            raise UnknownNameError(
                f"{name} has a fixed dimension ({info.dim}); a dim argument applies only to systems of any "
                f"size ({', '.join(n for n in sorted(_FACTORIES) if 'dim' in inspect.signature(_FACTORIES[n][0]).parameters)})"
            )
        check_parameters(name, info.parameters, kwargs)
        return Flow(without_stale_invariants(info, kwargs), _FLOW_RHS[name], kwargs or None)
    if name in _MAP_FNS:
        return Map(_info_from_dysts(name, "map"), _MAP_FNS[name], kwargs or None)
    all_names = list_systems()
    lower = {n.lower(): n for n in all_names}
    close = difflib.get_close_matches(name.lower(), list(lower), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(lower[c] for c in close)}?" if close else ""
    raise UnknownNameError(f"unknown system {name!r}.{hint} ({len(all_names)} systems: see list_systems())")


def system_info(name: str, **kwargs: Any) -> SystemInfo:
    """Metadata of catalog system ``name`` (see :class:`SystemInfo`)."""
    return get_system(name, **kwargs).info


def flow_metadata_names() -> list[str]:
    """Names of all continuous systems in the shipped dysts metadata (registered or not)."""
    return sorted(_metadata("flow"))


def map_metadata_names() -> list[str]:
    return sorted(_metadata("map"))


__all__ = [
    "Flow",
    "Map",
    "System",
    "get_system",
    "list_systems",
    "register_flow",
    "register_map",
    "register_system",
    "system_info",
]
