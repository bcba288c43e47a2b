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

import dataclasses
import datetime
import json
import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import InputError, NonFiniteError
from ..systems.base import Flow, Map, System
from .solvers import ADAPTIVE_METHODS, METHODS, integrate

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How a system is sampled in time.

    ``sample_dt`` is the spacing of output samples in the system's time units (for maps and
    PDE steppers: in steps of the map, an integer). ``unit`` names the time scale used
    ("period", "lyapunov", "dt" or "step") and ``pts_per_unit`` the samples per unit.
    """

    sample_dt: float
    unit: str
    pts_per_unit: float
    unit_length: float  # length of one unit in system time units


def resolve_sampling(
    system: System,
    *,
    pts_per_period: float | None = None,
    pts_per_lyapunov: float | None = None,
    sample_dt: float | None = None,
) -> Sampling:
    """Work out the sample spacing from at most one of the three sampling arguments.

    With none given: 100 points per period for flows (dysts' default), every step for maps.
    """
    given = [a is not None for a in (pts_per_period, pts_per_lyapunov, sample_dt)]
    if sum(given) > 1:
        raise InputError("give at most one of pts_per_period, pts_per_lyapunov, sample_dt")
    info = system.info
    if isinstance(system, Map):
        step_dt = info.dt if info.kind == "pde" and info.dt else 1.0
        if pts_per_period is not None:
            raise InputError(f"{info.name} is a map / PDE stepper: it has no period; use sample_dt")
        if pts_per_lyapunov is not None:
            lt = info.invariants.lyapunov_time
            if lt is None:
                raise InputError(f"{info.name}: no reference Lyapunov exponent to sample per Lyapunov time")
            every = max(1, round(lt / step_dt / pts_per_lyapunov))
            return Sampling(every * step_dt, "lyapunov", pts_per_lyapunov, lt)
        every = 1 if sample_dt is None else round(sample_dt / step_dt)
        if every < 1 or not math.isclose(every * step_dt, sample_dt or step_dt, rel_tol=1e-9):
            raise InputError(f"{info.name}: sample_dt must be a positive multiple of the step {step_dt}")
        return Sampling(every * step_dt, "step", 1.0 / every, step_dt)
    if sample_dt is not None:
        if not sample_dt > 0:
            raise InputError(f"sample_dt must be positive; got {sample_dt}")
        return Sampling(float(sample_dt), "time", 1.0 / sample_dt, 1.0)
    if pts_per_lyapunov is not None:
        lt = info.invariants.lyapunov_time
        if lt is None:
            raise InputError(f"{info.name}: no reference Lyapunov exponent; use pts_per_period or sample_dt")
        if not pts_per_lyapunov > 0:
            raise InputError("pts_per_lyapunov must be positive")
        return Sampling(lt / pts_per_lyapunov, "lyapunov", pts_per_lyapunov, lt)
    ppp = 100.0 if pts_per_period is None else float(pts_per_period)
    if not ppp > 0:
        raise InputError("pts_per_period must be positive")
    if info.period is None:
        raise InputError(f"{info.name}: no dominant period known; use sample_dt")
    return Sampling(info.period / ppp, "period", ppp, info.period)


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
    if n < 1:
        raise InputError(f"number of trajectories must be >= 1; got {n}")
    orbit = _pilot_orbit(system, n, dtype)
    if not torch.isfinite(orbit).all():
        raise NonFiniteError(f"{system.name}: the orbit of the default initial condition diverges")
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


def _pilot_orbit(system: System, n: int, dtype: torch.dtype) -> torch.Tensor:
    x0 = system.default_initial_condition(dtype=dtype, device="cpu")[None]
    if isinstance(system, Map):
        n_pilot = max(1000, 10 * n)
        states = []
        x = x0
        with torch.no_grad():
            for k in range(1000 + n_pilot):
                x = system.step(x)
                if k >= 1000:
                    states.append(x[0])
        return torch.stack(states)
    period = system.info.period or system.info.dt or 1.0
    n_periods = max(100, n // 5)
    times = period * torch.arange(20 * 10, (20 + n_periods) * 10 + 1, dtype=dtype) / 10
    times = torch.cat([torch.zeros(1, dtype=dtype), times])
    orbit = integrate(system, x0, times, rtol=1e-8, atol=1e-8, first_step=system.info.dt)
    return orbit[0, 1:]


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
) -> torch.Tensor:
    """Advance states ``x`` (B, D) and return ``n_samples`` further samples, shape (B, n_samples, D)."""
    if isinstance(system, Map):
        step_dt = system.info.dt if system.info.kind == "pde" and system.info.dt else 1.0
        every = round(sampling.sample_dt / step_dt)
        outs = []
        with torch.no_grad():
            for _ in range(n_samples):
                for _ in range(every):
                    x = system.step(x)
                outs.append(x)
        out = torch.stack(outs, dim=1)
        if not torch.isfinite(out).all():
            raise NonFiniteError(f"{system.name}: iteration produced NaN/inf")
        return out
    assert isinstance(system, Flow)
    times = t0 + sampling.sample_dt * torch.arange(n_samples + 1, dtype=x.dtype, device=x.device)
    if method == "rk4" and dt is None:
        dt = system.info.dt or sampling.sample_dt / 10
    first = system.info.dt if method in ADAPTIVE_METHODS else None
    return integrate(system, x, times, method=method, rtol=rtol, atol=atol, dt=dt, first_step=first)[:, 1:]


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
        block = _advance(system, x, t0 + (done - 1) * sampling.sample_dt, n, sampling, method, rtol, atol, dt)
        yield done, block
        x = block[:, -1]
        done += n


def generate_trajectories(
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
) -> xr.Dataset:
    """Integrate a batch of trajectories and return them as an xarray Dataset.

    Parameters
    ----------
    system:
        A catalog system or its name.
    n_trajectories, length:
        Batch size B and number of samples T per trajectory (after the transient).
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
        Seeds both the initial-condition perturbation and the observation noise.
    method, rtol, atol, dt:
        Solver (see :func:`chaosbench_py.simulate.solvers.integrate`).

    Returns
    -------
    ``xr.Dataset`` with variable ``x`` of dims ``(trajectory, time, dim)`` (float64 by default),
    coordinate ``time`` in the system's time units (sample 0 at t = 0 after the transient; the
    absolute time of sample 0 is ``attrs["time_offset"]``), and provenance attributes.
    """
    from .. import __version__
    from ..systems import get_system

    if isinstance(system, str):
        system = get_system(system)
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}; got {method!r}")
    if length < 1:
        raise InputError(f"length must be >= 1; got {length}")
    if noise < 0:
        raise InputError(f"noise must be >= 0; got {noise}")
    sampling = resolve_sampling(
        system, pts_per_period=pts_per_period, pts_per_lyapunov=pts_per_lyapunov, sample_dt=sample_dt
    )
    gen = torch.Generator().manual_seed(seed)
    if initial_condition is None:
        x0 = initial_conditions(system, n_trajectories, ic_spread=ic_spread, generator=gen, dtype=dtype)
    elif isinstance(initial_condition, str):
        if initial_condition != "default":
            raise InputError(
                f"initial_condition must be None, 'default' or an array; got {initial_condition!r}"
            )
        x0 = system.default_initial_condition(dtype=dtype).expand(n_trajectories, -1).clone()
    else:
        x0 = system.check_state(torch.as_tensor(initial_condition, dtype=dtype), "initial_condition")
        x0 = x0.expand(n_trajectories, -1).clone() if x0.ndim == 1 else x0
        if x0.ndim != 2 or x0.shape[0] != n_trajectories:
            raise InputError(
                f"initial_condition must have shape ({system.dim},) or ({n_trajectories}, {system.dim}); "
                f"got {tuple(x0.shape)}"
            )
    x0 = x0.to(device)

    n_transient = int(round(transient * sampling.unit_length / sampling.sample_dt))
    if n_transient > 0:
        x0 = _advance(system, x0, 0.0, n_transient, sampling, method, rtol, atol, dt)[:, -1]

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

    ds = xr.Dataset(
        {"x": (("trajectory", "time", "dim"), data)},
        coords={
            "trajectory": np.arange(n_trajectories),
            "time": np.arange(length) * sampling.sample_dt,
            "dim": np.arange(system.dim),
        },
    )
    ds["x"].attrs["long_name"] = f"state of {system.name}"
    ds["time"].attrs["units"] = "time units of the system"
    ds.attrs.update(
        trajectory_attrs(system, sampling, method, rtol, atol, dt, transient, noise, seed, ic_spread)
    )
    ds.attrs["noise_std"] = std.tolist()
    ds.attrs["time_offset"] = float(t_start)
    ds.attrs["chaosbench_py_version"] = __version__
    return ds


def noise_scale(system: System, first_block: np.ndarray) -> np.ndarray:
    """Per-dimension scale of observation noise: the catalog's attractor std, else the data's.

    ``first_block`` (B, T, D) is used only when the catalog has no std for the system.
    """
    if system.info.std is not None and len(system.info.std) == system.dim:
        return np.asarray(system.info.std, dtype=np.float64)
    return first_block.reshape(-1, system.dim).std(axis=0)


def add_observation_noise(
    data: np.ndarray, noise: float, std: np.ndarray, seed: int, *, start: int, chunk: int
) -> np.ndarray:
    """Add ``noise * std * N(0,1)`` to samples ``data`` (B, T, D) that begin at time index ``start``.

    The noise of each time chunk ``k`` (``chunk`` samples) comes from its own stream
    ``default_rng([seed, k])`` so that a run written chunk by chunk, or resumed, draws the same
    noise as a run done in one piece.
    """
    if noise == 0:
        return data
    out = np.empty_like(data)
    n_t = data.shape[1]
    pos = 0
    while pos < n_t:
        k, offset = divmod(start + pos, chunk)
        take = min(chunk - offset, n_t - pos)
        rng = np.random.default_rng([seed, k])
        eps = rng.standard_normal((data.shape[0], chunk, data.shape[2]))[:, offset : offset + take]
        out[:, pos : pos + take] = data[:, pos : pos + take] + noise * std * eps
        pos += take
    return out


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
    attrs = system.info.as_attrs()
    attrs.update(
        parameters=json.dumps(params, sort_keys=True),
        solver=method if isinstance(system, Flow) else ("etdrk4" if system.info.kind == "pde" else "map"),
        rtol=float(rtol),
        atol=float(atol),
        solver_dt=float(dt) if dt is not None else float("nan"),
        sample_dt=float(sampling.sample_dt),
        sampling_unit=sampling.unit,
        points_per_unit=float(sampling.pts_per_unit),
        transient=float(transient),
        transient_unit=sampling.unit,
        observation_noise=float(noise),
        ic_spread=float(ic_spread),
        seed=int(seed),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    return attrs
