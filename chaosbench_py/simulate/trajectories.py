"""Generate trajectory datasets from catalog systems, sampled the way dysts samples them.

The output is an :class:`xarray.Dataset` with one variable ``x`` of dims
``(trajectory, time, dim)`` and attributes recording the system, parameters, solver, tolerances,
sampling, transient, noise and seed (see ``DESIGN.md``: "Trajectories").

Sampling (dysts' convention, Gilpin 2021): ``pts_per_period`` samples per dominant Fourier
period (``timescale="period"``), or ``pts_per_lyapunov`` samples per Lyapunov time
(``timescale="lyapunov"``, using the catalog's ``max_lyapunov``). Unlike dysts'
``linspace(0, tlim, n)`` the sample spacing is exactly ``period / pts_per_period``.

Initial conditions on the attractor: states picked at random times (seeded) from a pilot orbit
of the catalog's default initial condition, slightly perturbed, then integrated for
``transient`` time-scale units which are dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import InputError, InputTypeError
from ..systems.base import Flow, Map, System
from .fast_start import (
    TrajectoryArrays,
    add_observation_noise,
    run_attrs,
    steps_limit,
    transient_samples,
)
from .sampling import Sampling, _integer, _number, check_generation_args, resolve_sampling
from .solvers import (
    ADAPTIVE_METHODS,
    MAX_STEPS_PER_OUTPUT,
    _check_state,
    _Diverged,
    diverged_error,
    divergence_bound,
    integrate,
)

if (
    TYPE_CHECKING
):  # xarray (with pandas and dask) is imported on use: `chaosbench generate x.nc` needs none of it
    import xarray as xr

logger = logging.getLogger(__name__)


def initial_conditions(
    system: System,
    n: int,
    *,
    ic_spread: float = 1e-6,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` initial conditions on the attractor, shape ``(n, dim)``.

    States are picked at random times from one pilot orbit of the default initial condition
    (which lies on the attractor): for flows 20 dropped periods then ``max(100, n / 5)`` periods
    sampled 10 times per period; for maps and PDE steppers 1000 dropped steps then
    ``max(1000, 10 n)`` steps. Each picked state gets a perturbation of ``ic_spread`` times the
    per-dimension attractor scale (stored std, else the pilot orbit's std), so repeated picks
    separate. Unlike perturbing the default initial condition by a finite amount, this never
    starts a trajectory outside the basin of attraction (e.g. Hénon, HyperRossler).
    """
    n = _integer(f"{system.name}: number of trajectories", n, 1)
    ic_spread = _number(f"{system.name}: ic_spread", ic_spread)
    orbit = _pilot_orbit(system, n, dtype)
    n_pilot = orbit.shape[0]
    if n <= n_pilot:
        pick = torch.randperm(n_pilot, generator=generator)[:n]
    else:
        pick = torch.randint(n_pilot, (n,), generator=generator)
    picked = orbit[pick]
    if system.info.std is not None and len(system.info.std) == system.dim:
        scale = torch.tensor(system.info.std, dtype=dtype)
    else:
        scale = orbit.std(dim=0)
    noise = torch.randn(picked.shape, generator=generator, dtype=dtype)
    return (picked + ic_spread * scale * noise).to(device)


_PILOT = "during the pilot orbit from the default initial condition"


def _pilot_orbit(system: System, n: int, dtype: torch.dtype) -> torch.Tensor:
    x0 = system.default_initial_condition(dtype=dtype, device="cpu")[None]
    bound = divergence_bound(system, x0)
    if isinstance(system, Map):
        n_pilot = max(1000, 10 * n)
        states = []
        x = x0
        with torch.no_grad():
            for k in range(1000 + n_pilot):
                x = system.step(x)
                if k % 100 == 99:  # an unbounded map overflows within a few dozen steps
                    _check_map(system, x, k + 1, bound, _PILOT)
                if k >= 1000:
                    states.append(x[0])
        orbit = torch.stack(states)
        _check_map(system, orbit, 1000, bound, _PILOT, batch_is_time=True)
        return orbit
    period = system.info.period or system.info.dt or 1.0
    n_periods = max(100, n // 5)  # as .fast_start.pilot_times (float64), in the run's dtype
    times = period * torch.arange(20 * 10, (20 + n_periods) * 10 + 1, dtype=dtype) / 10
    times = torch.cat([torch.zeros(1, dtype=dtype), times])
    orbit = integrate(
        system,
        x0,
        times,
        rtol=1e-8,
        atol=1e-8,
        first_step=system.info.dt,
        bound=bound,
        max_steps_per_output=_steps_limit(system, period / 10),
        label=_PILOT,
    )
    return orbit[0, 1:]


def _steps_limit(system: System, interval: float) -> int:
    """Adaptive steps allowed per output interval before the step counts as collapsed (see
    :func:`.fast_start.steps_limit`: 100 × the steps of the system's ``dt``, at least 10 000)."""
    return steps_limit(system.info.dt, interval, MAX_STEPS_PER_OUTPUT)


def _check_map(
    system: System,
    x: torch.Tensor,
    step: int,
    bound: torch.Tensor,
    label: str,
    *,
    batch_is_time: bool = False,
) -> None:
    """Diverged-map check of states ``x`` (B, D) at iteration ``step`` (or of an orbit (T, D) whose
    row k is iteration ``step + k + 1`` of trajectory 0, with ``batch_is_time``)."""
    try:
        _check_state(x, float(step), bound)
    except _Diverged as exc:
        if batch_is_time:
            exc.t, exc.trajectory = float(step + exc.trajectory + 1), 0
        raise diverged_error(
            system, exc.t, exc.trajectory, exc.reason.replace("state", "iterate"), label
        ) from None


def _advance(
    system: System,
    x: torch.Tensor,
    t0: float,
    n_samples: int,
    sampling: Sampling,
    method: str,
    rtol: float,
    atol: float,
    dt: float | None,
    *,
    label: str = "",
) -> torch.Tensor:
    """Advance states ``x`` (B, D) and return ``n_samples`` further samples, shape (B, n_samples, D).

    Raises :class:`~chaosbench_py.errors.SimulationDivergedError` (system, parameters, time,
    trajectory, ``label``) when a trajectory leaves the bound of :func:`divergence_bound`, becomes
    NaN/inf, or the adaptive step collapses.
    """
    bound = divergence_bound(system, x)
    if isinstance(system, Map):
        step_dt = system.info.dt if system.info.kind == "pde" and system.info.dt else 1.0
        every = round(sampling.sample_dt / step_dt)
        outs = []
        with torch.no_grad():
            for k in range(n_samples):
                for _ in range(every):
                    x = system.step(x)
                try:
                    _check_state(x, t0 + (k + 1) * sampling.sample_dt, bound)
                except _Diverged as exc:
                    reason = exc.reason.replace("state", "iterate")
                    raise diverged_error(system, exc.t, exc.trajectory, reason, label) from None
                outs.append(x)
        return torch.stack(outs, dim=1)
    assert isinstance(system, Flow)
    times = t0 + sampling.sample_dt * torch.arange(n_samples + 1, dtype=x.dtype, device=x.device)
    if method == "rk4" and dt is None:
        dt = system.info.dt or sampling.sample_dt / 10
    first = system.info.dt if method in ADAPTIVE_METHODS else None
    return integrate(
        system,
        x,
        times,
        method=method,
        rtol=rtol,
        atol=atol,
        dt=dt,
        first_step=first,
        bound=bound,
        max_steps_per_output=_steps_limit(system, sampling.sample_dt),
        label=label,
    )[:, 1:]


_SAMPLED = "while sampling"
_TRANSIENT = "during the transient"


def iter_trajectory_chunks(
    system: System,
    x0: torch.Tensor,
    length: int,
    sampling: Sampling,
    *,
    chunk: int = 1000,
    t0: float = 0.0,
    method: str = "dop853",
    rtol: float = 1e-9,
    atol: float = 1e-9,
    dt: float | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start_index, samples)`` chunks of the trajectories from ``x0`` (sample 0 = ``x0``).

    ``samples`` has shape ``(B, <=chunk, D)``. Used for long runs written chunk by chunk.
    """
    x = x0
    yield 0, x0[:, None]
    done = 1
    while done < length:
        n = min(chunk, length - done)
        t_block = t0 + (done - 1) * sampling.sample_dt
        block = _advance(system, x, t_block, n, sampling, method, rtol, atol, dt, label=_SAMPLED)
        yield done, block
        x = block[:, -1]
        done += n


def generate_trajectories(
    system: System | str, n_trajectories: int = 1, length: int = 1000, **options: Any
) -> xr.Dataset:
    """Integrate a batch of trajectories and return them as an xarray Dataset.

    The parameters, errors and layout are those of :func:`generate_trajectory_arrays` (same
    signature); this is its :meth:`TrajectoryArrays.to_dataset`: variable ``x`` of dims
    ``(trajectory, time, dim)`` (float64 by default), coordinate ``time`` in the system's time units
    (sample 0 at t = 0 after the transient; the absolute time of sample 0 is
    ``attrs["time_offset"]``), integer coordinates ``trajectory`` and ``dim``, and provenance
    attributes.
    """
    return generate_trajectory_arrays(system, n_trajectories, length, **options).to_dataset()


def generate_trajectory_arrays(
    system: System | str,
    n_trajectories: int = 1,
    length: int = 1000,
    *,
    pts_per_period: float | None = None,
    pts_per_lyapunov: float | None = None,
    sample_dt: float | None = None,
    transient: float = 10.0,
    initial_condition: Any = None,
    ic_spread: float = 1e-6,
    noise: float = 0.0,
    seed: int = 0,
    method: str = "dop853",
    rtol: float = 1e-9,
    atol: float = 1e-9,
    dt: float | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    progress: bool = False,
    chunk: int = 1000,
) -> TrajectoryArrays:
    """Integrate a batch of trajectories: the arrays and attributes of a trajectory dataset.

    Parameters
    ----------
    system:
        A catalog system or its name.
    n_trajectories, length:
        Batch size B >= 1 and number of samples T >= 1 per trajectory (after the transient;
        ``length=1`` gives the initial state only, so 2 is the least that shows any dynamics).
    pts_per_period, pts_per_lyapunov, sample_dt:
        Sampling (at most one; default 100 points per dominant period, see :func:`resolve_sampling`).
    transient:
        Length of the dropped transient, in units of the sampling time scale (periods, Lyapunov
        times, or steps for maps). ``0`` keeps the initial condition as sample 0.
    initial_condition:
        ``None`` (states drawn from a pilot orbit on the attractor, see
        :func:`initial_conditions`), ``"default"`` (the default IC for every trajectory), or an
        array of shape ``(dim,)`` / ``(B, dim)``.
    noise:
        Observation noise: each sample gets ``noise * std_d * N(0,1)`` added, with ``std_d`` from
        :func:`noise_scale` (the catalog's attractor std). The dynamics stay clean.
    seed:
        Seeds both the initial-condition perturbation and the observation noise (an integer >= 0).
    method, rtol, atol, dt:
        Solver (see :func:`chaosbench_py.simulate.solvers.integrate`); tolerances and ``dt`` > 0.
    chunk:
        Samples integrated per solver call (>= 1); also the unit of the noise streams.

    Raises
    ------
    InputError, InputTypeError, UnknownNameError
        A bad argument or parameter (named in the message), before any integration.
    SimulationDivergedError
        A trajectory blows up (pilot orbit, transient or sampled run): the message names the
        system, its parameters, the time reached and the trajectory.

    Returns
    -------
    :class:`TrajectoryArrays`: ``x`` of shape ``(n_trajectories, length, dim)`` (float64 by default),
    ``time`` in the system's time units (sample 0 at t = 0 after the transient; the absolute time of
    sample 0 is ``attrs["time_offset"]``), and provenance attributes.
    """
    from .. import __version__

    system = _as_system(system)
    args = check_generation_args(
        system,
        n_trajectories=n_trajectories,
        length=length,
        chunk=chunk,
        transient=transient,
        ic_spread=ic_spread,
        noise=noise,
        seed=seed,
        method=method,
        rtol=rtol,
        atol=atol,
        dt=dt,
    )
    n_trajectories, length, chunk = args["n_trajectories"], args["length"], args["chunk"]
    transient, ic_spread, noise, seed = args["transient"], args["ic_spread"], args["noise"], args["seed"]
    rtol, atol, dt = args["rtol"], args["atol"], args["dt"]
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputTypeError(f"{system.name}: dtype must be a floating torch dtype; got {dtype!r}")
    sampling = resolve_sampling(
        system, pts_per_period=pts_per_period, pts_per_lyapunov=pts_per_lyapunov, sample_dt=sample_dt
    )
    _check_noise_scale(system, noise, n_trajectories, length)
    gen = torch.Generator().manual_seed(seed)
    if initial_condition is None:
        x0 = initial_conditions(system, n_trajectories, ic_spread=ic_spread, generator=gen, dtype=dtype)
    elif isinstance(initial_condition, str):
        if initial_condition != "default":
            raise InputError(
                f"{system.name}: initial_condition must be None, 'default' or an array; got {initial_condition!r}"
            )
        x0 = system.default_initial_condition(dtype=dtype).expand(n_trajectories, -1).clone()
    else:
        try:
            x0 = torch.as_tensor(np.asarray(initial_condition, dtype=np.float64), dtype=dtype)
        except (TypeError, ValueError):
            raise InputTypeError(
                f"{system.name}: initial_condition must be an array of numbers; got {initial_condition!r}"
            ) from None
        x0 = system.check_state(x0, "initial_condition")
        x0 = x0.expand(n_trajectories, -1).clone() if x0.ndim == 1 else x0
        if x0.ndim != 2 or x0.shape[0] != n_trajectories:
            raise InputError(
                f"{system.name}: initial_condition must have shape ({system.dim},) or "
                f"({n_trajectories}, {system.dim}); got {tuple(x0.shape)}"
            )
        if not torch.isfinite(x0).all():
            bad = int((~torch.isfinite(x0)).any(-1).nonzero()[0])
            raise InputError(f"{system.name}: initial_condition contains NaN/inf (trajectory {bad})")
    x0 = x0.to(device)

    n_transient = transient_samples(transient, sampling)
    if n_transient > 0:
        x0 = _advance(system, x0, 0.0, n_transient, sampling, method, rtol, atol, dt, label=_TRANSIENT)[:, -1]

    from tqdm.auto import tqdm

    blocks = []
    bar = tqdm(total=length, desc=f"{system.name}", unit="sample", disable=not progress)
    t_start = n_transient * sampling.sample_dt  # non-autonomous systems keep their phase
    for _, block in iter_trajectory_chunks(
        system, x0, length, sampling, chunk=chunk, t0=t_start, method=method, rtol=rtol, atol=atol, dt=dt
    ):
        blocks.append(block.cpu())
        bar.update(block.shape[1])
    bar.close()
    data = torch.cat(blocks, dim=1).numpy()
    std = noise_scale(system, data[:, : min(length, chunk)])
    data = add_observation_noise(data, noise, std, seed, start=0, chunk=chunk)

    attrs = trajectory_attrs(system, sampling, method, rtol, atol, dt, transient, noise, seed, ic_spread)
    attrs["noise_std"] = std.tolist()
    attrs["time_offset"] = float(t_start)
    attrs["chaosbench_py_version"] = __version__
    return TrajectoryArrays(
        x=data,
        time=np.arange(length) * sampling.sample_dt,
        attrs=attrs,
        x_attrs={"long_name": f"state of {system.name}"},
    )


def _same_signature(public: Any, implementation: Any) -> None:
    """Show ``implementation``'s parameters on ``public`` (help(), notebooks' completion)."""
    import inspect

    sig = inspect.signature(implementation)
    public.__signature__ = sig.replace(return_annotation=inspect.signature(public).return_annotation)


_same_signature(generate_trajectories, generate_trajectory_arrays)


def _as_system(system: Any) -> System:
    """A catalog system from a name (or the system itself); a clear error for anything else."""
    from ..systems import get_system

    if isinstance(system, str):
        return get_system(system)
    if not isinstance(system, System):
        raise InputTypeError(
            f"system must be a catalog system or its name (see list_systems()); got {type(system).__name__}"
        )
    return system


def _check_noise_scale(system: System, noise: float, n_trajectories: int, length: int) -> None:
    """Observation noise needs a scale: the catalog's std, else the data's (needs >= 2 samples)."""
    has_std = system.info.std is not None and len(system.info.std) == system.dim
    if noise > 0 and not has_std and n_trajectories * length < 2:
        raise InputError(
            f"{system.name}: noise > 0 needs at least 2 samples to estimate the noise scale "
            f"(the catalog has no attractor std for it); got {n_trajectories} x {length}"
        )


def noise_scale(system: System, first_block: np.ndarray) -> np.ndarray:
    """Per-dimension scale of observation noise: the catalog's attractor std, else the data's.

    ``first_block`` (B, T, D) is used only when the catalog has no std for the system.
    """
    if system.info.std is not None and len(system.info.std) == system.dim:
        return np.asarray(system.info.std, dtype=np.float64)
    return first_block.reshape(-1, system.dim).std(axis=0)


def trajectory_attrs(
    system: System,
    sampling: Sampling,
    method: str,
    rtol: float,
    atol: float,
    dt: float | None,
    transient: float,
    noise: float,
    seed: int,
    ic_spread: float,
) -> dict[str, Any]:
    """The provenance attributes written with every trajectory dataset (netCDF-safe types)."""
    params = {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in system.params.items()}
    solver = method if isinstance(system, Flow) else ("etdrk4" if system.info.kind == "pde" else "map")
    return run_attrs(
        system.info.as_attrs(), json.dumps(params, sort_keys=True), solver, sampling, rtol, atol, dt, transient,
        noise, seed, ic_spread,
    )  # fmt: skip
