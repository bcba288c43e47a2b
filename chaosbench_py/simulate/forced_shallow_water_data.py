"""The forced shallow-water climate as a dataset: generation, zarr cache, splits and climatology.

:func:`generate_forced_shallow_water` integrates :class:`ForcedShallowWaterSolver` (physics in
:mod:`.forced_shallow_water`) from a near-rest state through a spin-up of ``spinup_days`` that ends
on 1 January 2001 00 UTC, then continuously for ``years`` 365-day years, and returns the canonical
gridded schema: dims ``(time, latitude, longitude)`` (latitude 90 → −90, longitude 0 → 360), variables
``z`` (free-surface geopotential ``g (h + h_s)``, m² s⁻²), ``u``, ``v`` (m s⁻¹), ``vo`` (s⁻¹) and the
static ``zs`` (surface geopotential ``g h_s``, m² s⁻², dims ``(latitude, longitude)``); times every
``output_every_hours`` from 2001-01-01T00 (2001–2003 are not leap years, so the model's 365-day year
is the calendar year and the day of year is the model's season). The run is one continuous
trajectory: year boundaries are ordinary consecutive states. At 64 × 128 all but the last 30
days of the spin-up run on the 32 × 64 grid (zero-padded to T42 afterwards), which is cheaper.

Splits (:func:`forced_shallow_water_splits`, recorded in the attrs): with ``years ≥ 3`` the last
year is *test*, the year before it *valid*, the rest *train* (default 3 years: train 2001, valid
2002, test 2003); with ``years = 2``: train 2001, valid 2002-01-01 … 2002-06-30, test 2002-07-01 …
2002-12-31.

Wall time (1 thread, 2-core machine shared with other jobs): 3 years at 32 × 64 with the 180-day
spin-up 327 s (455 s under heavier load); 3 years at 64 × 128 (T42, dt 900 s, the same ∇⁸ coefficient
as T21, see :data:`RESOLUTIONS`) 1155 s of CPU (2767 s of wall time at load 3–5), i.e. about 13 CPU
minutes for the minimal 2 years. Measured on that 64 × 128 run (seed 0): bounded and finite over the
3 years, area-mean ``½|V|²`` per 60-day window 458–524 m² s⁻² with the same annual cycle as 32 × 64
(461–528; every window within 2 %), rms v 11.7 m/s at both resolutions, zonal-mean jets January
44 m/s at 43°N / 48 m/s at 49°S, July 25 m/s at 63°N / 77 m/s at 40.5°S; thickness ≥ 822 m, Froude
number ≤ 1.21 (briefly supercritical over the 2 km mountain, and recovering).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time as _time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import InputError, NonFiniteError, OutputExistsError
from .forced_shallow_water import DAY, DEFAULT_PHYSICS, YEAR_DAYS, ForcedShallowWaterSolver
from .shallow_water import _VAR_ATTRS, _torch_threads

logger = logging.getLogger(__name__)

__all__ = [
    "RESOLUTIONS",
    "area_mean_kinetic_energy",
    "forced_shallow_water_climatology",
    "forced_shallow_water_splits",
    "forced_shallow_water_store",
    "generate_forced_shallow_water",
    "same_hyperdiffusion_hours",
]

EPOCH = np.datetime64("2001-01-01T00:00:00", "ns")
#: days of the spin-up run at full resolution when the rest runs at 32 × 64 (see ``_coarse_spinup``)
FINE_SPINUP_DAYS = 30
#: grid (Gaussian latitudes, triangular truncation T21 / T42), the default RK4 step (s) and physics
#: defaults that differ from :data:`DEFAULT_PHYSICS`. Both grids solve the same equations with the
#: same ∇⁸ **coefficient** (48 h e-folding at degree 21, so 0.206 h at T42's degree 42;
#: :func:`same_hyperdiffusion_hours`), and T42 adds resolved scales that the coefficient damps. With
#: a weaker T42 diffusion (48, 12 or 3 h at degree 42) the jet over the 2 km mountain at (35°N, 90°E)
#: turns supercritical (Froude number u/√(gh) 1.37 on day 36 of a run with 3 h, where T21 peaks at
#: 0.94), a hydraulic jump forms, the thickness goes negative and the run blows up after 1–6 weeks
#: (measured from a padded T21 state; with the common coefficient the Froude number stays ≤ 1.05 and
#: the run is bounded: see the module docstring).
RESOLUTIONS: dict[str, dict[str, Any]] = {
    "32x64": dict(nlat=32, nlon=64, dt=1800.0),
    "64x128": dict(nlat=64, nlon=128, dt=900.0, physics=dict(hyperdiffusion_hours=0.0)),  # set below
}


def same_hyperdiffusion_hours(hours: float, degree: int, lmax: int, order: int = 4) -> float:
    """E-folding time (h) at degree ``lmax`` of the ∇^{2·order} hyperdiffusion whose e-folding time at
    ``degree`` is ``hours``: ``hours · (degree(degree+1) / (lmax(lmax+1)))^order`` (the same coefficient
    ``ν``, damping rate ``ν (l(l+1)/a²)^order``, on any truncation)."""
    return float(hours) * (degree * (degree + 1) / (lmax * (lmax + 1))) ** order


RESOLUTIONS["64x128"]["physics"]["hyperdiffusion_hours"] = same_hyperdiffusion_hours(
    DEFAULT_PHYSICS["hyperdiffusion_hours"], 21, 42, DEFAULT_PHYSICS["hyperdiffusion_order"]
)


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return int(value)


def forced_shallow_water_splits(years: int) -> dict[str, tuple[str, str]]:
    """Train / valid / test time ranges ``(first, last)`` (ISO dates, inclusive) for ``years`` years (module docstring)."""
    years = _int("years", years, 2)
    last = 2000 + years
    if years == 2:
        return {
            "train": ("2001-01-01", "2001-12-31T23"),
            "valid": ("2002-01-01", "2002-06-30T23"),
            "test": ("2002-07-01", "2002-12-31T23"),
        }
    return {
        "train": ("2001-01-01", f"{last - 2}-12-31T23"),
        "valid": (f"{last - 1}-01-01", f"{last - 1}-12-31T23"),
        "test": (f"{last}-01-01", f"{last}-12-31T23"),
    }


def _parameters(resolution, years, output_every_hours, spinup_days, seed, dt, forcing, physics) -> dict:
    if resolution not in RESOLUTIONS:
        raise InputError(f"resolution: expected one of {sorted(RESOLUTIONS)}, got {resolution!r}")
    years = _int("years", years, 1)
    every = _int("output_every_hours", output_every_hours, 1)
    res = RESOLUTIONS[resolution]
    dt = res["dt"] if dt is None else dt
    if isinstance(dt, bool) or not isinstance(dt, int | float) or not math.isfinite(dt) or dt <= 0:
        raise InputError(f"dt: expected a positive number of seconds, got {dt!r}")
    if (every * 3600.0) % float(dt):
        raise InputError(f"dt: {dt} s must divide output_every_hours={every} h")
    physics = {**res.get("physics", {}), **dict(physics or {})}
    unknown = sorted(set(physics) - set(DEFAULT_PHYSICS))
    if unknown:
        raise InputError(f"physics: unknown parameter {unknown[0]!r}; known: {sorted(DEFAULT_PHYSICS)}")
    return dict(
        resolution=resolution,
        years=years,
        output_every_hours=every,
        spinup_days=_int("spinup_days", spinup_days, 0),
        seed=_int("seed", seed, 0),
        dt=float(dt),
        forcing=bool(forcing),
        physics={k: physics.get(k, v) for k, v in DEFAULT_PHYSICS.items()},
    )


def generate_forced_shallow_water(
    resolution: str = "32x64",
    years: int = 3,
    output_every_hours: int = 12,
    spinup_days: int = 180,
    seed: int = 0,
    *,
    dt: float | None = None,
    forcing: bool = True,
    physics: dict[str, Any] | None = None,
    progress: bool = False,
    num_threads: int | None = 1,
    days: int | None = None,
) -> xr.Dataset:
    """Generate the forced shallow-water climate (module docstring) and return it as an ``xr.Dataset``.

    ``days``: a run of that many days instead of ``years`` (for demonstrations and tests that cannot
    afford a year; no splits are recorded).

    ``resolution``: ``"32x64"`` (T21, dt 1800 s) or ``"64x128"`` (T42, dt 900 s); ``years`` ≥ 1
    simulated 365-day years after a spin-up of ``spinup_days``; ``seed`` draws the small random
    initial flow; ``physics`` overrides :data:`DEFAULT_PHYSICS`; ``num_threads`` torch threads during
    the run. Output: ``years · 24/output_every_hours · 365`` times (2001-01-01T00 … the last output
    before 1 January of year ``2001 + years``). Raises :class:`InputError` naming a bad argument,
    :class:`NonFiniteError` if the run blows up.
    """
    params = _parameters(resolution, years, output_every_hours, spinup_days, seed, dt, forcing, physics)
    if days is not None:
        params["days"] = _int("days", days, 1)
    res = RESOLUTIONS[resolution]
    solver = ForcedShallowWaterSolver(
        res["nlat"], res["nlon"], forcing=params["forcing"], **params["physics"]
    )
    dt = params["dt"]
    every = int(round(params["output_every_hours"] * 3600.0 / dt))
    n_spin = int(round(params["spinup_days"] * DAY / dt))
    n_days = params.get("days", params["years"] * YEAR_DAYS)
    n_out = int(n_days * 24 // params["output_every_hours"])
    if num_threads is not None:
        num_threads = _int("num_threads", num_threads, 1)
    from tqdm.auto import tqdm

    start = _time.perf_counter()
    with _torch_threads(num_threads):
        bar = tqdm(total=n_spin + (n_out - 1) * every, desc=f"forced SW {resolution}", disable=not progress)
        state, n_fine = _coarse_spinup(solver, params, n_spin, dt, bar)
        t = -n_fine * dt
        for _ in range(n_fine):
            state = solver.step(state, dt, t)
            t += dt
            bar.update(1)
        t = 0.0
        frames = {k: np.empty((n_out, res["nlat"], res["nlon"])) for k in ("z", "u", "v", "vo")}
        for i in range(n_out):
            if i:
                for _ in range(every):
                    state = solver.step(state, dt, t)
                    t += dt
                bar.update(every)
            grid = solver.to_grid(state)
            for k in frames:
                frames[k][i] = grid[k].cpu().numpy()
            if not np.isfinite(frames["z"][i]).all():
                bar.close()
                raise NonFiniteError(f"dt: the run became non-finite at t = {t / DAY:.2f} d; reduce dt={dt}")
        bar.close()
    wall = _time.perf_counter() - start
    logger.info("forced shallow water %s: %d years in %.1f s", resolution, params["years"], wall)
    return _dataset(solver, params, frames, wall)


def _coarse_spinup(solver: ForcedShallowWaterSolver, params: dict, n_spin: int, dt: float, bar):
    """Initial state and the number of spin-up steps left at full resolution.

    At 32 × 64 the whole spin-up runs at full resolution. At finer resolutions all but the last
    :data:`FINE_SPINUP_DAYS` days run on the 32 × 64 (T21) grid (with the default T21
    hyperdiffusion, other physics as requested), whose state is then zero-padded to
    the fine truncation (the last days regrow the small scales): 1/2.6 of the cost per day.
    """
    state = solver.initial_state(1, params["seed"])[0]
    coarse_days = params["spinup_days"] - FINE_SPINUP_DAYS
    if params["resolution"] == "32x64" or coarse_days <= 0:
        return state, n_spin
    low = RESOLUTIONS["32x64"]
    physics = {**params["physics"], "hyperdiffusion_hours": DEFAULT_PHYSICS["hyperdiffusion_hours"]}
    coarse = ForcedShallowWaterSolver(low["nlat"], low["nlon"], forcing=params["forcing"], **physics)
    small = coarse.initial_state(1, params["seed"])[0]
    steps = int(round(coarse_days * DAY / low["dt"]))
    t = -params["spinup_days"] * DAY
    for _ in range(steps):
        small = coarse.step(small, low["dt"], t)
        t += low["dt"]
    bar.update(n_spin - int(round(FINE_SPINUP_DAYS * DAY / dt)))
    state = torch.zeros_like(state)
    big_l, big_m = small.shape[-2:]
    state[..., :big_l, :big_m] = small
    return state, int(round(FINE_SPINUP_DAYS * DAY / dt))


def _dataset(solver: ForcedShallowWaterSolver, params: dict, frames: dict, wall: float) -> xr.Dataset:
    s = solver.sht
    n_out = frames["z"].shape[0]
    step = np.timedelta64(int(params["output_every_hours"]), "h").astype("timedelta64[ns]")
    times = EPOCH + np.arange(n_out) * step
    dims = ("time", "latitude", "longitude")
    data = {k: (dims, frames[k], dict(_VAR_ATTRS[k])) for k in ("z", "u", "v", "vo")}
    data["z"][2]["long_name"] = "Free-surface geopotential g (h + h_s)"
    data["zs"] = (
        ("latitude", "longitude"),
        solver.phi_s.cpu().numpy(),
        dict(
            units="m**2 s**-2", long_name="Surface geopotential g h_s", standard_name="surface_geopotential"
        ),
    )
    coords = {
        "time": ("time", times),
        "latitude": ("latitude", s.lat, dict(units="degrees_north", long_name="latitude")),
        "longitude": ("longitude", s.lon, dict(units="degrees_east", long_name="longitude")),
    }
    splits = (
        forced_shallow_water_splits(params["years"]) if params["years"] >= 2 and "days" not in params else {}
    )
    attrs: dict[str, Any] = {
        "source": "chaosbench_py.simulate.forced_shallow_water (forced-dissipative seasonal shallow water)",
        "grid_type": s.grid,
        "truncation": f"T{s.lmax}",
        "time_stepping": "RK4 + implicit hyperdiffusion (integrating factor)",
        "dt_seconds": params["dt"],
        "output_interval_seconds": params["output_every_hours"] * 3600.0,
        "year_length_days": YEAR_DAYS,
        "spinup_days": params["spinup_days"],
        "seed": params["seed"],
        "forcing": int(params["forcing"]),
        "generation_wall_seconds": round(wall, 2),
        "generation_parameters": json.dumps(params, sort_keys=True),
    }
    attrs.update({f"physics_{k}": float(v) for k, v in params["physics"].items()})
    attrs.update({f"split_{k}": f"{a}/{b}" for k, (a, b) in splits.items()})
    return xr.Dataset(data, coords=coords, attrs=attrs)


def forced_shallow_water_store(
    path: str | os.PathLike,
    resolution: str = "32x64",
    years: int = 3,
    output_every_hours: int = 12,
    spinup_days: int = 180,
    seed: int = 0,
    *,
    dt: float | None = None,
    forcing: bool = True,
    physics: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    num_threads: int | None = 1,
) -> xr.Dataset:
    """A cached zarr store of :func:`generate_forced_shallow_water` (opened lazily).

    ``path``: the store (a name ending in ``.zarr``) or a cache directory, in which the store is
    ``forced_sw_{resolution}_{years}y_seed{seed}.zarr``. An existing store whose recorded
    ``generation_parameters`` equal the requested ones is returned without recomputation; one with
    different parameters raises :class:`OutputExistsError` naming the first differing key, unless
    ``overwrite=True`` (then it is regenerated). New stores are written to a temporary directory
    beside the target and renamed into place, so the target is either absent or complete.
    """
    params = _parameters(resolution, years, output_every_hours, spinup_days, seed, dt, forcing, physics)
    path = Path(path)
    if path.suffix != ".zarr":
        path = path / f"forced_sw_{resolution}_{params['years']}y_seed{params['seed']}.zarr"
    if path.exists():
        try:
            recorded = json.loads(xr.open_zarr(path, consolidated=False).attrs["generation_parameters"])
        except Exception as exc:  # noqa: BLE001 - any unreadable store is reported the same way
            recorded = {"<store>": f"unreadable ({type(exc).__name__})"}
        diff = _first_difference(recorded, params)
        if diff is None:
            logger.info("forced shallow water: reusing %s", path)
            return xr.open_zarr(path, consolidated=False)
        if not overwrite:
            raise OutputExistsError(
                f"{diff}: the store {path} was generated with different parameters "
                f"(stored {_lookup(recorded, diff)!r}, requested {_lookup(params, diff)!r}); "
                "pass overwrite=True to regenerate it"
            )
    ds = generate_forced_shallow_water(
        resolution,
        params["years"],
        params["output_every_hours"],
        params["spinup_days"],
        params["seed"],
        dt=params["dt"],
        forcing=params["forcing"],
        physics=params["physics"],
        progress=progress,
        num_threads=num_threads,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        ds.to_zarr(tmp / "store.zarr", mode="w", consolidated=False)
        if path.exists():
            old = tmp / "old.zarr"
            os.replace(path, old)
        os.replace(tmp / "store.zarr", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return xr.open_zarr(path, consolidated=False)


def _lookup(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _first_difference(a: dict, b: dict, prefix: str = "") -> str | None:
    for key in sorted(set(a) | set(b)):
        name = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            sub = _first_difference(va, vb, name + ".")
            if sub is not None:
                return sub
        elif va != vb:
            return name
    return None


def forced_shallow_water_climatology(
    ds: xr.Dataset,
    *,
    years: tuple[int, int] | None = None,
    variables: list[str] | None = None,
    smoothing_window_days: int = 31,
) -> xr.Dataset:
    """Day-of-year climatology of the dynamic variables via :func:`chaosbench_py.data.statistics.climatology`.

    ``years``: inclusive ``(first, last)`` calendar years to average (default: the train split,
    i.e. all years before the validation year, or 2001 for runs shorter than 3 years).
    ``smoothing_window_days``: odd width of the periodic running window. Returns dims
    ``(dayofyear, latitude, longitude)`` per variable (lazy).
    """
    from ..data.statistics import climatology

    if years is None:
        first = int(ds.time.dt.year.min())
        n_years = len(np.unique(ds.time.dt.year.values))
        years = (first, first + max(n_years - 3, 0))
    variables = variables or [v for v in ("z", "u", "v", "vo") if v in ds.data_vars]
    return climatology(
        ds[variables], years=years, variables=variables, smoothing_window_days=smoothing_window_days
    )


def area_mean_kinetic_energy(ds: xr.Dataset) -> xr.DataArray:
    """Area-mean kinetic energy per unit mass ``½(u² + v²)`` (m² s⁻²) per time, cos-latitude weighted."""
    w = np.cos(np.radians(ds.latitude))
    return (0.5 * (ds.u**2 + ds.v**2)).weighted(w).mean(("latitude", "longitude"))
