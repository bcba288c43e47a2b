"""``chaosbench generate run.nc`` without importing torch, bit for bit the torch path's file.

Importing torch costs ≈ 1.1–1.7 CPU s, several times what integrating 200 × 2000 Lorenz samples
with the compiled DOP853 loop of :mod:`.native_dop853` costs. Once a system has been generated on
a machine (through torch), everything the torch path computes *with* torch for it is either
recorded or reproduced here without it:

* **a plan** (JSON, one per system, dimension and parameters, under the kernel cache
  ``$CHAOSBENCH_CACHE_DIR/native/plans`` or ``~/.cache/chaosbench_py/native/plans``) holds the
  system's metadata as the torch path uses it (default initial condition, ``dt``, period, attractor
  std and scale, netCDF attributes), the solver constants, the compiled kernel's path and which of
  torch's own MKL VML routines it calls (loaded from ``libtorch_cpu`` with ctypes: no Python-level
  torch import). The torch path writes it after a successful run (:func:`.native_dop853.record_plan`)
  once the kernel's right-hand side has been checked bit for bit against torch's on that run's states;
  its name digests the package version and the sources of ``systems/`` and ``simulate/``, so an
  edited catalog or solver never replays a stale plan.
* **the random initial conditions**: torch's CPU generator is MT19937 seeded like numpy's legacy
  ``RandomState`` (Knuth's ``init_genrand`` of the low 32 bits), so its raw 32-bit stream is drawn
  from numpy and turned into ``torch.randperm`` (Fisher–Yates with ``random() % (n - i)``) and
  ``torch.randn`` for float64 (53-bit uniforms from two draws; Box–Muller in blocks of 16 with the last
  block redrawn, or one pair per two values below 16 values) exactly as ATen's CPU kernels do —
  :class:`.torch_generator.TorchCPUGenerator`, tested equal to torch for many seeds and sizes.
* **the integration** is the same compiled loop, called on numpy arrays; the first derivative
  (torch's ``f(t0, x)`` in the torch path) comes from the kernel's exported ``dop853_rhs``.

Anything else — no plan, another device or method, a zarr output, a trajectory that diverges or
a step that collapses — returns ``None`` and the caller runs the torch path, which gives the same
numbers or the same error messages (``tests/test_fast_start.py`` compares whole files).
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime
import hashlib
import json
import math
import os
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .torch_generator import TorchCPUGenerator

if TYPE_CHECKING:
    import xarray as xr

PLAN_FORMAT = 1
TB = 32  # output slots of the kernel's (TB, B, D) time buffer (``TB`` in the C template)


# --------------------------------------------------------------------------- shared pieces (torch path too)


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


def flow_sampling(
    name: str,
    period: float | None,
    lyapunov_time: float | None,
    *,
    pts_per_period: float | None,
    pts_per_lyapunov: float | None,
    sample_dt: float | None,
) -> Sampling:
    """The :class:`Sampling` of a flow from at most one of the three (already checked, > 0) arguments:
    ``sample_dt`` as given, ``lyapunov_time / pts_per_lyapunov``, or ``period / pts_per_period`` (100 by
    default, dysts' convention). Raises :class:`~chaosbench_py.errors.InputError` when the time scale is
    unknown."""
    from ..errors import InputError

    if sample_dt is not None:
        if not sample_dt > 0:
            raise InputError(f"sample_dt must be positive; got {sample_dt}")
        return Sampling(float(sample_dt), "time", 1.0 / sample_dt, 1.0)
    if pts_per_lyapunov is not None:
        if lyapunov_time is None:
            raise InputError(f"{name}: no reference Lyapunov exponent; use pts_per_period or sample_dt")
        if not pts_per_lyapunov > 0:
            raise InputError("pts_per_lyapunov must be positive")
        return Sampling(lyapunov_time / pts_per_lyapunov, "lyapunov", pts_per_lyapunov, lyapunov_time)
    ppp = 100.0 if pts_per_period is None else float(pts_per_period)
    if not ppp > 0:
        raise InputError("pts_per_period must be positive")
    if period is None:
        raise InputError(f"{name}: no dominant period known; use sample_dt")
    return Sampling(period / ppp, "period", ppp, period)


def transient_samples(transient: float, sampling: Sampling) -> int:
    """Samples of the dropped transient: ``transient`` sampling units, rounded to whole samples."""
    return int(round(transient * sampling.unit_length / sampling.sample_dt))


def steps_limit(dt: float | None, interval: float, default: int) -> int:
    """Adaptive steps allowed per output interval before the step counts as collapsed: 100 × the
    steps of the system's recommended ``dt``, at least 10 000, never more than ``default``."""
    if not dt or not dt > 0:
        return default
    return int(min(default, max(10_000, 100 * math.ceil(interval / dt))))


def pilot_times(period: float, n: int) -> np.ndarray:
    """Output times of the pilot orbit for ``n`` initial conditions: 0, then every tenth of a period from
    20 periods on, for ``max(100, n // 5)`` periods (float64, as ``torch.arange`` computes them)."""
    n_periods = max(100, n // 5)
    times = period * np.arange(20 * 10, (20 + n_periods) * 10 + 1, dtype=np.float64) / 10
    return np.concatenate([np.zeros(1), times])


def bound_from_size(size: float, factor: float, unbounded: list[int], x: np.ndarray) -> np.ndarray:
    """Per-coordinate divergence bound ``factor × max(size, max |x| over bounded coordinates)`` (when
    ``x`` is finite there), ``inf`` on unbounded coordinates: ``solvers.divergence_bound`` in numpy."""
    dim = int(x.shape[-1])
    bounded = [i for i in range(dim) if i not in unbounded]
    if bounded:
        xb = np.abs(x.reshape(-1, dim)[:, bounded])
        if np.isfinite(xb).all():
            size = max(size, float(xb.max()))
    out = np.full(dim, factor * size)
    out[[i for i in unbounded if 0 <= i < dim]] = math.inf
    return out


def run_attrs(
    info_attrs: dict[str, Any],
    parameters: str,
    solver: str,
    sampling: Sampling,
    rtol: float,
    atol: float,
    dt: float | None,
    transient: float,
    noise: float,
    seed: int,
    ic_spread: float,
) -> dict[str, Any]:
    """The provenance attributes of a trajectory dataset (netCDF-safe types): the system's
    ``info.as_attrs()``, its ``parameters`` (JSON) and the run's settings."""
    attrs = dict(info_attrs)
    attrs.update(
        parameters=parameters,
        solver=solver,
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


@dataclass
class TrajectoryArrays:
    """The arrays and attributes of a trajectory dataset, before any xarray object is made.

    ``x`` (B, T, D) float, ``time`` (T,) in the system's time units (sample 0 at 0), ``attrs`` the
    dataset's provenance attributes (netCDF-safe types), ``x_attrs`` those of ``x``. What
    :func:`~chaosbench_py.simulate.generate_trajectories` returns is :meth:`to_dataset` of this;
    :func:`chaosbench_py.simulate.netcdf_writer.write_trajectories_netcdf` writes it without importing
    xarray (the ``chaosbench generate x.nc`` path, where xarray, pandas and dask cost more start-up than
    the integration).
    """

    x: np.ndarray
    time: np.ndarray
    attrs: dict[str, Any]
    x_attrs: dict[str, Any] = field(default_factory=dict)
    time_attrs: dict[str, Any] = field(default_factory=lambda: {"units": "time units of the system"})

    def to_dataset(self) -> xr.Dataset:
        import xarray as xr

        n_traj, _, dim = self.x.shape
        ds = xr.Dataset(
            {"x": (("trajectory", "time", "dim"), self.x)},
            coords={"trajectory": np.arange(n_traj), "time": self.time, "dim": np.arange(dim)},
        )
        ds["x"].attrs.update(self.x_attrs)
        ds["time"].attrs.update(self.time_attrs)
        ds.attrs.update(self.attrs)
        return ds


# --------------------------------------------------------------------------- the compiled kernel, numpy in and out


def switched_on(variable: str) -> bool:
    """False when the environment variable is ``0`` / ``false`` / ``no`` / ``off``; True otherwise or unset."""
    return os.environ.get(variable, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> pathlib.Path:
    """The native kernel cache: ``$CHAOSBENCH_CACHE_DIR/native`` or ``~/.cache/chaosbench_py/native``."""
    root = os.environ.get("CHAOSBENCH_CACHE_DIR")
    if root:
        return pathlib.Path(root) / "native"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "chaosbench_py" / "native"


def cpu_identity() -> str:
    """The machine and its instruction-set flags: a ``-march=native`` build is reused only on a CPU with the
    same flags (a cache directory shared by the nodes of a heterogeneous cluster must not hand an AVX-512
    build to a node without AVX-512)."""
    import platform

    ident = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    ident += line
                    if line.startswith(("flags", "Features")):
                        break
    except OSError:
        pass
    return ident


def bind_kernel(lib: Any) -> tuple[Any, Any]:
    """``(dop853_run, dop853_rhs)`` of a loaded kernel library, with their ctypes signatures."""
    p, lg, dbl = ctypes.c_void_p, ctypes.c_long, ctypes.c_double
    run = lib.dop853_run
    run.argtypes = [lg, lg, p, p, p, p, p, p, p, dbl, dbl, dbl, lg, lg, lg, p, p, p, p]
    run.restype = ctypes.c_int
    rhs = lib.dop853_rhs
    rhs.argtypes = [lg, dbl, p, p, p]
    rhs.restype = None
    return run, rhs


def run_kernel(
    fn: Any,
    x: np.ndarray,
    fx: np.ndarray,
    times: np.ndarray,
    rtol: float,
    atol: float,
    h: float,
    max_steps: int,
    max_per_output: int,
    check_every: int,
    bound: np.ndarray,
    vml: Any,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Run the compiled loop ``fn`` from states ``x`` (B, D) with derivatives ``fx`` to the output ``times``
    (T,): ``(status, out (B, T, D), current state (B, D), info)``.

    ``status`` 0: done; 1: a state failed the divergence check at time ``info[0]``; 2: the step
    collapsed (``info``: t, h, worst trajectory, 1 if per-output limit else total); 3: step underflow.
    """
    n_b, dim = x.shape
    n_t = int(times.size)
    xs = np.array(x, dtype=np.float64, order="C", copy=True)
    fxs = np.array(fx, dtype=np.float64, order="C", copy=True)
    tt = np.ascontiguousarray(times, dtype=np.float64)
    bd = np.ascontiguousarray(bound, dtype=np.float64)
    out = np.empty((n_b, n_t, dim), dtype=np.float64)
    xn, fn_, err = np.empty_like(xs), np.empty_like(xs), np.zeros(n_b)
    info = np.zeros(8)
    tbuf = np.empty((TB, n_b, dim))
    ptr = lambda a: a.ctypes.data  # noqa: E731
    status = fn(
        n_b, n_t, ptr(tt), ptr(xs), ptr(fxs), ptr(out), ptr(xn), ptr(fn_), ptr(err),
        float(rtol), float(atol), float(h), int(max_steps), int(max_per_output), int(check_every),
        ptr(bd), ptr(info), ptr(tbuf), vml,
    )  # fmt: skip
    return int(status), out, xs, info


def rhs_values(fn: Any, t: float, x: np.ndarray, vml: Any) -> np.ndarray:
    """The kernel's right-hand side ``f(t, x)`` for states ``x`` (B, D) (``dop853_rhs``); (B, D)."""
    xs = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(xs)
    fn(xs.shape[0], float(t), xs.ctypes.data, out.ctypes.data, vml)
    return out


def vml_table(library: str | None, names: list[str], enabled: list[str]) -> Any:
    """The kernel's ``VF`` table: for each of ``names`` (in ``VF`` order) the address of ``vd<name>`` in
    ``library`` (torch's ``libtorch_cpu``) when it is ``enabled``, else NULL; None when the library
    does not load or lacks a symbol."""
    table = (ctypes.c_void_p * len(names))()
    if not enabled:
        return table
    try:
        lib = ctypes.CDLL(library) if library else None
    except OSError:
        return None
    if lib is None:
        return None
    for i, name in enumerate(names):
        if name in enabled:
            fn = getattr(lib, f"vd{name}", None)
            if fn is None:
                return None
            table[i] = ctypes.cast(fn, ctypes.c_void_p).value
    return table


# --------------------------------------------------------------------------- plans


def source_digest() -> str:
    """SHA-256 of the package version and of every source and data file of ``systems/`` and
    ``simulate/``: a plan recorded by other sources is never replayed."""
    from .. import __version__

    root = pathlib.Path(__file__).resolve().parent.parent
    h = hashlib.sha256(__version__.encode())
    for folder in ("systems", "simulate"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".json") and path.is_file():
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def torch_library() -> str | None:
    """Path of this environment's ``libtorch_cpu`` (found without importing torch), or None without torch.

    A plan calls torch's VML routines from it, so a plan belongs to one environment: loading a second
    ``libtorch_cpu`` (another virtual environment's) into a process that imported torch aborts it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return str(pathlib.Path(spec.origin).parent / "lib" / "libtorch_cpu.so")


def plan_path(system: str, dim: int | None, params: dict[str, Any]) -> pathlib.Path:
    """Where the plan of ``system`` (catalog name, ``--dim``, ``--param`` overrides) is kept for this
    environment's torch and these sources."""
    spec = json.dumps({"system": system, "dim": dim, "params": params, "torch": torch_library()}, sort_keys=True)
    key = hashlib.sha256((spec + source_digest()).encode()).hexdigest()[:32]
    return cache_dir() / "plans" / f"{system}_{key}.json"


def write_plan(path: pathlib.Path, plan: dict[str, Any]) -> None:
    """Write ``plan`` atomically (temporary sibling, then rename); an unwritable cache is passed over."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(plan, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def load_plan(path: pathlib.Path) -> dict[str, Any] | None:
    """The plan at ``path`` if it is complete and recorded on this CPU, with its kernel still on disk."""
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        return None
    if plan.get("cpu") != hashlib.sha256(cpu_identity().encode()).hexdigest():
        return None
    if not os.path.isfile(str(plan.get("library"))):
        return None
    if plan.get("vml_library") not in (None, torch_library()):  # another environment's torch
        return None
    return plan


# --------------------------------------------------------------------------- the run


def _finite_number(value: Any, positive: bool) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )


def plain_arguments(
    *,
    n_trajectories: Any,
    length: Any,
    chunk: Any,
    transient: Any,
    noise: Any,
    seed: Any,
    rtol: Any,
    atol: Any,
    pts_per_period: Any,
    pts_per_lyapunov: Any,
    sample_dt: Any,
) -> bool:
    """True when every argument is valid (the torch path checks and names bad ones)."""
    ints = (n_trajectories, length, chunk)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in ints):
        return False
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:  # torch's seed range
        return False
    if not all(_finite_number(v, False) for v in (transient, noise)):
        return False
    if not all(_finite_number(v, True) for v in (rtol, atol)):
        return False
    given = [v for v in (pts_per_period, pts_per_lyapunov, sample_dt) if v is not None]
    return len(given) <= 1 and all(_finite_number(v, True) for v in given)


def generate_from_plan(
    plan: dict[str, Any],
    n_trajectories: int,
    length: int,
    *,
    pts_per_period: float | None = None,
    pts_per_lyapunov: float | None = None,
    sample_dt: float | None = None,
    transient: float = 10.0,
    noise: float = 0.0,
    seed: int = 0,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    chunk: int = 1000,
    ic_spread: float = 1e-6,
    progress: bool = False,
) -> TrajectoryArrays | None:
    """``generate_trajectory_arrays(system, n_trajectories, length, ...)`` for the DOP853 method on the CPU,
    initial conditions drawn from the pilot orbit, from a recorded ``plan`` without torch; the same
    arrays bit for bit (``attrs["created"]`` aside). None when the plan's kernel or torch's VML routines
    do not load, or a run does not end cleanly (divergence, step collapse): the torch path then runs and
    names the problem."""
    from .. import __version__

    try:
        run, rhs = bind_kernel(ctypes.CDLL(plan["library"]))
    except (OSError, AttributeError):
        return None
    vml = vml_table(plan.get("vml_library"), plan["vml_names"], plan["vml_enabled"])
    if vml is None:
        return None
    name, dim = plan["system"], int(plan["dim"])
    sampling = flow_sampling(
        name, plan["period"], plan["lyapunov_time"],
        pts_per_period=pts_per_period, pts_per_lyapunov=pts_per_lyapunov, sample_dt=sample_dt,
    )  # fmt: skip
    size, factor, unbounded = plan["attractor_size"], plan["divergence_factor"], plan["unbounded"]
    max_steps, default_limit, every = (
        plan["max_steps"],
        plan["max_steps_per_output"],
        plan["bound_check_every"],
    )
    info_dt = float(plan["dt"])
    std = np.asarray(plan["std"], dtype=np.float64)

    def integrate(x: np.ndarray, times: np.ndarray, tol: float, limit: int, bound: np.ndarray) -> Any:
        fx = rhs_values(rhs, times[0], x, vml)
        status, out, _, _ = run_kernel(
            run, x, fx, times, tol[0], tol[1], info_dt, max_steps, limit, every, bound, vml
        )
        return out if status == 0 else None

    # initial conditions: picked from the pilot orbit of the default initial condition, perturbed
    x_default = np.asarray(plan["default_ic"], dtype=np.float64)[None]
    period = plan["period"] or plan["dt"] or 1.0
    times = pilot_times(period, n_trajectories)
    pilot = integrate(
        x_default, times, (1e-8, 1e-8), steps_limit(info_dt, period / 10, default_limit),
        bound_from_size(size, factor, unbounded, x_default),
    )  # fmt: skip
    if pilot is None:
        return None
    orbit = pilot[0, 1:]
    generator = TorchCPUGenerator(seed)
    pick = generator.randperm(orbit.shape[0])[:n_trajectories]
    eps = generator.randn(n_trajectories * dim).reshape(n_trajectories, dim)
    x = orbit[pick] + ic_spread * std * eps

    limit = steps_limit(info_dt, sampling.sample_dt, default_limit)

    def advance(x: np.ndarray, t0: float, n: int) -> np.ndarray | None:
        times = t0 + sampling.sample_dt * np.arange(n + 1, dtype=np.float64)
        out = integrate(x, times, (rtol, atol), limit, bound_from_size(size, factor, unbounded, x))
        return None if out is None else out[:, 1:]

    n_transient = transient_samples(transient, sampling)
    if n_transient > 0:
        block = advance(x, 0.0, n_transient)
        if block is None:
            return None
        x = block[:, -1]
    t_start = n_transient * sampling.sample_dt
    data = np.empty((n_trajectories, length, dim))
    data[:, 0] = x
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=length, desc=name, unit="sample")
        bar.update(1)
    done = 1
    while done < length:
        n = min(chunk, length - done)
        block = advance(x, t_start + (done - 1) * sampling.sample_dt, n)
        if block is None:
            if bar is not None:
                bar.close()
            return None
        data[:, done : done + n] = block
        x = block[:, -1]
        done += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    data = add_observation_noise(data, noise, std, seed, start=0, chunk=chunk)
    attrs = run_attrs(
        plan["info_attrs"], plan["parameters"], "dop853", sampling, rtol, atol, None, transient, noise, seed,
        ic_spread,
    )  # fmt: skip
    attrs["noise_std"] = std.tolist()
    attrs["time_offset"] = float(t_start)
    attrs["chaosbench_py_version"] = __version__
    return TrajectoryArrays(
        x=data,
        time=np.arange(length) * sampling.sample_dt,
        attrs=attrs,
        x_attrs={"long_name": f"state of {name}"},
    )
