"""Base classes for the systems catalog: continuous-time flows and discrete-time maps.

A system is a right-hand side written once in torch, vectorised over any leading batch
dimensions, plus its metadata (default parameters, initial condition, time scales and the
published invariants with their provenance).

Conventions
-----------
* State tensors have shape ``(..., dim)``; every leading dimension is a batch dimension.
* Parameters are passed as a mapping ``name -> value``. A value is a Python float or a tensor
  that broadcasts against ``x[..., 0]`` (so a parameter sweep is a batch dimension too).
* Time ``t`` is a scalar tensor (or float); autonomous systems ignore it.

This module imports nothing else of :mod:`chaosbench_py.systems`; the registry
(``registry.py``) and the catalog modules import it, never the other way round.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..errors import InputError, InputTypeError, UnknownNameError

RHSFunction = Callable[[torch.Tensor | float, torch.Tensor, Mapping[str, Any]], torch.Tensor]
MapFunction = Callable[[torch.Tensor, Mapping[str, Any]], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Invariants:
    """Published reference invariants of a system and where they come from.

    Attributes
    ----------
    max_lyapunov:
        Largest Lyapunov exponent (1 / time unit of the system). For dysts systems this is the
        *naive* two-trajectory estimate (``maximum_lyapunov_estimated``), which is not the same
        estimate as ``lyapunov_spectrum[0]`` (QR method); see ``max_lyapunov_source``.
    lyapunov_spectrum:
        Full spectrum from a tangent-space QR method, descending.
    kaplan_yorke_dimension, correlation_dimension, pesin_entropy:
        As published (averages over initial conditions in dysts, so they need not equal the
        values derived from ``lyapunov_spectrum``).
    provenance:
        Human-readable description of the source.
    """

    max_lyapunov: float | None = None
    lyapunov_spectrum: tuple[float, ...] | None = None
    kaplan_yorke_dimension: float | None = None
    correlation_dimension: float | None = None
    pesin_entropy: float | None = None
    max_lyapunov_source: str = ""
    provenance: str = ""

    @property
    def lyapunov_time(self) -> float | None:
        """1 / lambda_max using ``max_lyapunov`` (None when unknown or non-positive)."""
        lam = self.max_lyapunov
        if lam is None or not lam > 0:
            return None
        return 1.0 / lam


@dataclasses.dataclass(frozen=True)
class SystemInfo:
    """Static description of a catalog system.

    ``dt`` is the integration step recommended by the source (time units of the system) and
    ``period`` the dominant period (time units); both are ``None`` for maps, where one step is
    one time unit.
    """

    name: str
    kind: str  # "flow" | "map" | "pde"
    dim: int
    parameters: Mapping[str, float]
    initial_condition: tuple[float, ...]
    dt: float | None = None
    period: float | None = None
    invariants: Invariants = dataclasses.field(default_factory=Invariants)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    nonautonomous: bool = False
    hamiltonian: bool = False
    unbounded_indices: tuple[int, ...] = ()
    citation: str = ""
    description: str = ""
    notes: str = ""

    def as_attrs(self) -> dict[str, Any]:
        """Flat dict of netCDF-safe attributes (numbers and strings only)."""
        attrs: dict[str, Any] = {
            "system": self.name,
            "system_kind": self.kind,
            "dim": self.dim,
            "citation": self.citation,
        }
        if self.period is not None:
            attrs["period"] = float(self.period)
        if self.invariants.max_lyapunov is not None:
            attrs["max_lyapunov"] = float(self.invariants.max_lyapunov)
        return attrs


def check_parameters(system: str, defaults: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    """Validate parameter overrides ``params`` of ``system`` against its ``defaults``.

    * a name not in ``defaults`` → :class:`UnknownNameError` listing the valid names;
    * a scalar parameter takes a real number (``int``/``float``/numpy scalar) or a real tensor or
      array of any shape (a parameter sweep is a batch dimension); strings, ``None``, booleans and
      lists are refused (:class:`InputTypeError`; a sweep is given as a tensor);
    * a vector/matrix parameter (a list in ``defaults``) takes a list, array or tensor whose
      trailing shape is the default's (a tensor may add leading sweep dimensions);
    * every value must be finite (:class:`InputError`).

    Each message names the system and the parameter.
    """
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise UnknownNameError(
            f"{system}: unknown parameter(s) {unknown}; valid parameters are {sorted(defaults)}"
        )
    for name, value in params.items():
        default = defaults[name]
        where = f"{system}: parameter {name!r}"
        vector = isinstance(default, (list, tuple))
        if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
            kind = "an array of numbers" if vector else "a number"
            raise InputTypeError(f"{where} must be {kind}; got {value!r} ({type(value).__name__})")
        if isinstance(value, torch.Tensor):
            if value.is_complex() or value.dtype == torch.bool:
                raise InputTypeError(f"{where} must be real; got a tensor of dtype {value.dtype}")
            arr = value.detach().to("cpu", torch.float64).numpy()
        else:
            if not vector and isinstance(value, (list, tuple)):
                raise InputTypeError(
                    f"{where} is a number; got a {type(value).__name__} (pass a torch tensor to sweep it)"
                )
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                kind = "an array of numbers" if vector else "a number"
                raise InputTypeError(f"{where} must be {kind}; got {value!r}") from None
        if vector:
            want = np.shape(default)
            ok = arr.shape == want or (isinstance(value, torch.Tensor) and arr.shape[-len(want) :] == want)
            if not ok:
                raise InputError(f"{where} must have shape {want}; got {arr.shape}")
        if not np.isfinite(arr).all():
            raise InputError(f"{where} must be finite; got {value!r}")


class System:
    """Common behaviour of flows and maps: parameters, validation, Jacobians."""

    info: SystemInfo

    def __init__(self, info: SystemInfo, params: Mapping[str, Any] | None = None):
        self.info = info
        merged = dict(info.parameters)
        if params:
            check_parameters(info.name, info.parameters, params)
            merged.update(params)
        self.params: dict[str, Any] = merged

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    def with_params(self, **params: Any) -> System:
        """A copy of this system with some parameters replaced (names are validated).

        The reference invariants are dropped when a value changes (they belong to the old
        parameters); build through ``get_system(name, **params)`` to get any invariants the
        catalog knows for the new values.
        """
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        System.__init__(new, self.info, {**self.params, **params})
        new.info = without_stale_invariants(self.info, {**dict(self.info.parameters), **new.params})
        return new

    def default_initial_condition(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> torch.Tensor:
        return torch.tensor(self.info.initial_condition, dtype=dtype, device=device)

    def check_state(self, x: torch.Tensor, what: str = "state") -> torch.Tensor:
        """Validate that ``x`` is a floating tensor of shape ``(..., dim)``."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x, dtype=torch.float64)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise InputError(f"{self.name}: {what} must have shape (..., {self.dim}); got {tuple(x.shape)}")
        if not x.is_floating_point():
            x = x.to(torch.float64)
        return x

    def _params_on(self, x: torch.Tensor) -> dict[str, Any]:
        out = {}
        for k, v in self.params.items():
            if isinstance(v, torch.Tensor):
                v = v.to(dtype=x.dtype, device=x.device)
            out[k] = v
        return out

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.__class__.__name__}({self.name!r}, dim={self.dim}, {ps})"


class Flow(System):
    """A continuous-time system dx/dt = f(t, x; p).

    Parameters
    ----------
    info:
        Metadata (see :class:`SystemInfo`).
    rhs_fn:
        ``rhs_fn(t, x, p) -> dx/dt`` with ``x`` of shape ``(..., dim)`` and ``p`` a mapping of
        parameter values; returns the same shape as ``x``.
    params:
        Overrides of the default parameters.
    """

    def __init__(self, info: SystemInfo, rhs_fn: RHSFunction, params: Mapping[str, Any] | None = None):
        super().__init__(info, params)
        self._rhs_fn = rhs_fn

    def rhs(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        """dx/dt at state ``x`` (shape ``(..., dim)``) and time ``t``."""
        return self._rhs_fn(t, x, self._params_on(x))

    # torchdiffeq calls func(t, y)
    def __call__(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        return self.rhs(t, x)

    def jacobian(self, x: torch.Tensor, t: torch.Tensor | float = 0.0) -> torch.Tensor:
        """Jacobian ∂f/∂x of the vector field, shape ``(..., dim, dim)``; by autograd."""
        x = self.check_state(x)
        batch_shape = x.shape[:-1]
        flat = x.reshape(-1, self.dim)
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device)

        def single(xi: torch.Tensor) -> torch.Tensor:
            return self.rhs(tt, xi)

        jac = torch.func.vmap(torch.func.jacrev(single))(flat)
        return jac.reshape(*batch_shape, self.dim, self.dim)

    def jvp(
        self, x: torch.Tensor, v: torch.Tensor, t: torch.Tensor | float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(x), J(x) v) by forward-mode autodiff; ``v`` has shape ``(..., dim)``."""
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return torch.func.jvp(lambda y: self.rhs(tt, y), (x,), (v,))


class Map(System):
    """A discrete-time map x_{n+1} = f(x_n; p)."""

    def __init__(self, info: SystemInfo, map_fn: MapFunction, params: Mapping[str, Any] | None = None):
        super().__init__(info, params)
        self._map_fn = map_fn

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One iteration of the map; ``x`` has shape ``(..., dim)``."""
        return self._map_fn(x, self._params_on(x))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x)

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Jacobian of the map, shape ``(..., dim, dim)``; by autograd."""
        x = self.check_state(x)
        batch_shape = x.shape[:-1]
        flat = x.reshape(-1, self.dim)
        jac = torch.func.vmap(torch.func.jacrev(self.step))(flat)
        return jac.reshape(*batch_shape, self.dim, self.dim)


def without_stale_invariants(info: SystemInfo, overrides: Mapping[str, Any]) -> SystemInfo:
    """``info`` with its reference invariants dropped when ``overrides`` change a parameter.

    The published invariants belong to the default parameters; for other values none are known.
    """
    changed = [k for k, v in overrides.items() if k in info.parameters and not _same(v, info.parameters[k])]
    if not changed:
        return info
    note = f"reference invariants are for the default parameters; none known with {sorted(changed)} changed"
    return dataclasses.replace(info, invariants=Invariants(provenance=note))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(
            torch.equal(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))
        )
    except (TypeError, ValueError, RuntimeError):
        return False


def finite_or_none(value: Any) -> float | None:
    """Float value of a metadata entry, or None when missing / NaN."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
