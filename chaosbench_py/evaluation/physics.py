"""The physics of a rollout: conservation, spectra after long rollouts, stability, Lyapunov spectrum.

:func:`physics_of_rollout` judges a gridded shallow-water emulator by what its dynamics do, not by its
scores (issue #15; ChaosBench's physics-based metrics and the SFNO paper's stability claim):

* **stability** — the model rolled out autoregressively for ``days`` (default one simulated year) from
  ``n_inits`` initial states (:func:`rollout_gridded` with ``on_nonfinite="record"``): bounded or not,
  the lead of blow-up, and the climate it settles into — area mean and variance of ``z`` over the last
  quarter of the rollout against the truth's (:func:`physics_metrics.weather.rollout_stability`);
* **conservation** — global mass, total energy and potential enstrophy of every forecast state
  (:func:`physics_metrics.weather.shallow_water_invariants`) and their relative drift per simulated day
  (:func:`physics_metrics.weather.conservation_drift`), for the model and for the truth over the same
  valid times (the first ``conservation_days``, where the data hold the truth) and for the model over
  the whole rollout;
* **spectra** — the kinetic-energy spectrum on the sphere (spherical harmonics of vorticity and
  divergence, :func:`physics_metrics.weather.kinetic_energy_spectrum`) of the model at the leads
  closest to ``spectrum_days`` (1, 30, 365 d), averaged over inits, against the truth's climatological
  spectrum (the mean over the truth's times), and the ratio over the smallest resolved quarter of
  wavenumbers (:func:`physics_metrics.weather.spectrum_ratio_small_scales`: ≪ 1 blurring, ≫ 1 noise);
* **Lyapunov spectrum** — the leading ``k`` exponents of the model's one-step map and of the solver over
  the same step from the same states (:func:`compare_lyapunov_spectra`), when a solver is given.

Everything is written under ``OUT/physics/`` (``long_rollout.zarr``, ``invariants.nc``, ``spectra.nc``,
``stability.nc``, ``lyapunov.nc``) and summarised in ``OUT/physics/summary.json`` for the report
(:func:`add_physics_section`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from physics_metrics.weather import (
    conservation_drift,
    kinetic_energy_spectrum,
    rollout_stability,
    shallow_water_invariants,
    spectrum_ratio_small_scales,
)

from ..errors import InputError
from ..files import atomic_output, atomic_write_text
from .rollout import rollout_gridded

logger = logging.getLogger(__name__)

__all__ = [
    "PHYSICS_VARIABLES",
    "physics_of_rollout",
    "read_physics_summary",
    "solver_map_for",
    "store_attrs",
    "truth_state",
]

#: The variables a shallow-water physics evaluation needs in the model's channels.
PHYSICS_VARIABLES = ("z", "u", "v")
_INVARIANTS = ("mass", "total_energy", "potential_enstrophy")


def _spread(times: pd.DatetimeIndex, n: int) -> np.ndarray:
    idx = np.unique(np.linspace(0, times.size - 1, min(n, times.size)).round().astype(int))
    return times[idx].values


def _atomic_nc(ds: xr.Dataset, path: Path) -> None:
    with atomic_output(path, ".nc") as tmp:
        ds.to_netcdf(tmp)


def _days(leads: Any) -> np.ndarray:
    return np.asarray(leads) / np.timedelta64(1, "D")


def _constants(data: xr.Dataset) -> dict[str, Any]:
    return {"zs": data["zs"]} if "zs" in data.data_vars else {}


_CONSTANT_KEYS = {  # name -> (attribute names a simulator may record it under, default)
    "radius": (("radius", "radius_m"), 6.37122e6),
    "gravity": (("gravity", "gravity_m_per_s2"), 9.80616),
    "omega": (("omega", "omega_per_s"), 7.292e-5),
}


def _physics_constants(data: xr.Dataset) -> dict[str, float]:
    """Sphere radius, gravity and rotation rate from the dataset's attrs (the solver's defaults otherwise)."""
    out = {}
    for name, (keys, default) in _CONSTANT_KEYS.items():
        out[name] = float(next((data.attrs[k] for k in keys if k in data.attrs), default))
    return out


def _truncation(attrs: dict[str, Any]) -> tuple[int | None, int | None]:
    found = re.search(r"lmax=(\d+), mmax=(\d+)", str(attrs.get("truncation", "")))
    return (int(found.group(1)), int(found.group(2))) if found else (None, None)


def store_attrs(path: str | Path) -> dict[str, Any]:
    """The global attributes of a zarr / netCDF store as written (the canonical loaders replace them with
    the schema's provenance; a simulator's parameters live here). ``{}`` when they cannot be read."""
    try:
        opener = (
            xr.open_zarr
            if Path(path).suffix == ".zarr" or (Path(path) / ".zgroup").exists()
            else xr.open_dataset
        )
        with opener(path) as ds:
            return dict(ds.attrs)
    except Exception as err:  # noqa: BLE001 - a store we cannot read has no simulator to rebuild
        logger.info("store_attrs: %s: %s", path, err)
        return {}


def solver_map_for(
    data: xr.Dataset, step: np.timedelta64, attrs: dict[str, Any] | None = None
) -> Callable[[Sequence[Any]], Callable] | None:
    """The simulator that made ``data``, rebuilt from the parameters it recorded in its attributes
    (``attrs``, default ``data.attrs``; for a store opened through the canonical loaders pass
    :func:`store_attrs` of its path), as a factory: ``factory(init_times)`` is the grid map
    ``(B, 3, H, W) → (B, 3, H, W)`` on ``(z, u, v)`` over one model ``step`` (``solver_step_map``) for a
    batch whose row ``i`` starts at ``init_times[i]``. The forced (seasonal) solver holds each row's
    forcing at its init's season (an autonomous map, as the emulator has no clock either). None for
    data of another origin (ERA5, a store without those attrs): the truth's exponents are then skipped."""
    from ..simulate.shallow_water import ShallowWaterSolver
    from .emulator_lyapunov import solver_step_map

    attrs = dict(data.attrs if attrs is None else attrs)
    source = str(attrs.get("source", ""))
    step_seconds = float(step / np.timedelta64(1, "s"))
    nlat, nlon = data.sizes["latitude"], data.sizes["longitude"]
    if source.startswith("chaosbench_py.simulate.forced_shallow_water"):
        from ..simulate.forced_shallow_water import ForcedShallowWaterSolver

        params = json.loads(attrs["generation_parameters"])
        solver = ForcedShallowWaterSolver(nlat, nlon, forcing=bool(params["forcing"]), **params["physics"])
        epoch = np.datetime64("2001-01-01T00:00:00", "ns")

        def forced_factory(init_times: Sequence[Any]) -> Callable:
            maps = [
                solver_step_map(_SeasonFixed(solver, (np.datetime64(t, "ns") - epoch) / np.timedelta64(1, "s")),
                                step_seconds, float(params["dt"]))
                for t in init_times
            ]  # fmt: skip

            def step(x: torch.Tensor) -> torch.Tensor:
                # rows are init-major: a tangent run repeats each init's state k times in a row
                n = x.shape[0] // len(maps)
                if n * len(maps) != x.shape[0]:
                    raise InputError(
                        f"solver map: {x.shape[0]} rows are not a multiple of the {len(maps)} inits"
                    )
                return torch.cat([m(x[i * n : (i + 1) * n]) for i, m in enumerate(maps)], dim=0)

            return step

        return forced_factory
    if source.startswith("chaosbench_py.simulate.shallow_water"):
        lmax, mmax = _truncation(attrs)
        solver = ShallowWaterSolver(
            nlat, nlon, grid=str(attrs.get("grid_type", "legendre-gauss")),
            lmax=lmax, mmax=mmax, radius=float(attrs["radius_m"]), omega=float(attrs["omega_per_s"]),
            gravity=float(attrs["gravity_m_per_s2"]), mean_depth=float(attrs["mean_depth_m"]),
            hyperdiffusion_order=int(attrs["hyperdiffusion_order"]),
            hyperdiffusion_time=float(attrs["hyperdiffusion_efold_seconds_at_lmax"]),
        )  # fmt: skip
        step_map = solver_step_map(solver, step_seconds, float(attrs["dt_seconds"]))
        return lambda init_times: step_map
    logger.info("solver_map_for: data of source %r: no solver to compare the exponents with", source)
    return None


class _SeasonFixed:
    """A forced solver whose seasonal forcing is held at ``t`` seconds: an autonomous map (the emulator has
    no clock either), so the truth's exponents are those of the flow at that season."""

    def __init__(self, solver: Any, t: float) -> None:
        self.solver, self.t = solver, float(t)
        self.sht = solver.sht

    def step(self, state: Any, dt: float) -> Any:
        return self.solver.step(state, dt, t=self.t)

    def to_grid(self, state: Any) -> Any:
        return self.solver.to_grid(state)

    def default_dt(self) -> float:
        return float(self.solver.default_dt())


def _truth_invariants(
    data: xr.Dataset, inits: np.ndarray, leads: np.ndarray, consts: dict
) -> xr.Dataset | None:
    """Invariants of the truth at every (init, lead) valid time the data hold, NaN elsewhere."""
    times = data.indexes["time"]
    valid = inits[:, None] + leads[None, :]
    have = np.isin(valid, times.values)
    if not have.any():
        return None
    wanted = np.unique(valid[have])
    inv = shallow_water_invariants(
        data[list(PHYSICS_VARIABLES) + (["zs"] if "zs" in data else [])].sel(time=wanted), **consts
    )
    out = {}
    for name in _INVARIANTS:
        arr = np.full(valid.shape, np.nan)
        series = inv[name].to_series()
        arr[have] = series.reindex(pd.DatetimeIndex(valid[have])).to_numpy()
        out[name] = xr.DataArray(
            arr, dims=("init_time", "lead_time"), coords={"init_time": inits, "lead_time": leads}
        )
    return xr.Dataset(out)


def _window(ds: xr.Dataset, days: float) -> xr.Dataset:
    keep = _days(ds["lead_time"].values) <= days + 1e-9
    return ds.isel(lead_time=np.flatnonzero(keep))


def _physical_states(
    phys: xr.Dataset, zs: xr.DataArray | None, gravity: float
) -> tuple[xr.Dataset, xr.DataArray]:
    """``phys`` with every state from the first unphysical one on (non-finite, or a fluid depth
    ``z/g − h_s ≤ 0`` somewhere) set to NaN, per init: a rollout that blew up has no invariants or spectra
    after its blow-up (its stability says when it happened). Also returns the ``(init, lead)`` mask of the
    physical states."""
    space = ("latitude", "longitude")
    depth = phys["z"] / gravity - (0.0 if zs is None else zs / gravity)
    ok = (depth > 0).all(space)
    for v in PHYSICS_VARIABLES:
        ok = ok & np.isfinite(phys[v]).all(space)
    ok = ok.astype(int).cumprod("lead_time").astype(bool)
    n_bad = int((~ok).sum())
    if n_bad:
        logger.info("physics_of_rollout: %d (init, lead) states after a blow-up are left out", n_bad)
    return phys.where(ok), ok


def resolved_band(truth_spec: xr.DataArray, fraction: float = 0.25, floor: float = 1e-8) -> tuple[int, int]:
    """The smallest resolved scales of the truth: the top ``fraction`` of the wavenumbers ``1 … L``, ``L`` the
    largest degree where the truth's spectrum is above ``floor`` × its maximum. The grid's transform may reach
    beyond the simulator's truncation (a T21 flow on a 32 × 64 Gauss grid has degrees up to 31 whose energy is
    round-off); a ratio over those would measure round-off, not blurring or noise."""
    e = np.asarray(truth_spec.values, dtype=np.float64)
    ell = np.asarray(truth_spec["wavenumber"].values)
    above = np.flatnonzero((e > floor * np.nanmax(e)) & (ell > 0))
    top = int(ell[above[-1]]) if above.size else int(ell.max())
    return top - max(1, int(np.ceil(fraction * top))) + 1, top


def spectrum_ratios(spectra: xr.Dataset) -> dict[str, float]:
    """``{lead_days: ratio}`` of a ``physics/spectra.nc`` (model spectra by ``lead_days``, the truth's) over
    :func:`resolved_band` of the truth."""
    if "model" not in spectra:
        return {}
    band = resolved_band(spectra["truth"])
    return {f"{float(d):g}": float(spectrum_ratio_small_scales(spectra["model"].sel(lead_days=d), spectra["truth"],
                                                               wavenumbers=band))
            for d in spectra["lead_days"].values}  # fmt: skip


def conservation_summary(invariants: xr.Dataset, window_days: float) -> dict[str, Any]:
    """Median drift per day of each invariant (``physics/invariants.nc``: ``system`` model/truth): over the
    first ``window_days`` for the model (inits still physical over that window) and the truth, and over the
    whole rollout for the model (inits that never blew up; None when every one did)."""

    def part(ds: xr.Dataset | None, days: float | None) -> dict[str, float] | None:
        if ds is None:
            return None
        ds = ds if days is None else _window(ds, days)
        keep = np.isfinite(ds["mass"]).all("lead_time")
        if not bool(keep.any()) or ds.sizes["lead_time"] < 2:
            return None
        return _drift_summary(ds.sel(init_time=keep))

    systems = list(invariants["system"].values) if "system" in invariants.dims else ["model"]
    pick = {sys_: (invariants.sel(system=sys_, drop=True) if "system" in invariants.dims else invariants)
            for sys_ in systems}  # fmt: skip
    return {"window_days": float(window_days), "model_window": part(pick.get("model"), window_days),
            "truth_window": part(pick.get("truth"), window_days), "model_whole": part(pick.get("model"), None)}  # fmt: skip


def _nanmedian(values: Any) -> float:
    """Median over the finite values (NaN when every rollout blew up)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan


def _drift_summary(inv: xr.Dataset) -> dict[str, float]:
    drift = conservation_drift(inv).compute()
    return {name: _nanmedian(drift[f"{name}_drift_per_day"].values) for name in _INVARIANTS}


def physics_of_rollout(
    model: Any,
    extra: dict[str, Any],
    data: xr.Dataset,
    out_dir: str | Path,
    *,
    init_times: Sequence[Any],
    statistics: xr.Dataset,
    days: float = 365.0,
    conservation_days: float = 30.0,
    spectrum_days: Sequence[float] = (1.0, 30.0, 365.0),
    truth_times: Sequence[Any] | None = None,
    solver_map: Callable | None = None,
    lyapunov_inits: int = 4,
    lyapunov_steps: int = 40,
    lyapunov_transient: int = 4,
    k: int = 8,
    seed: int = 0,
    progress: bool = False,
    truth_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Run the physics evaluation (module docstring) of a gridded emulator; returns the summary dict.

    Args:
        model, extra: the emulator and its checkpoint metadata (``_load_run``); its channels must include
            ``z``, ``u``, ``v`` (m² s⁻², m s⁻¹) on one level-less grid.
        data: the canonical dataset (``time, latitude, longitude``) the inits are read from (with a static
            ``zs`` if the flow has topography; physical constants from its attrs when present).
        out_dir: the evaluation folder (``physics/`` is created in it).
        init_times: ≥ 1 initial times of ``data`` for the long rollouts (the first ``lyapunov_inits`` also
            start the Lyapunov runs).
        statistics: the model's normalisation (``statistics_from_metadata``).
        days: length of the long rollouts (simulated days; ``ceil(days / step)`` model steps).
        conservation_days: window of the model-vs-truth drift comparison.
        spectrum_days: leads (days) at which spectra are compared (the nearest lead ≤ ``days``).
        truth_times: the truth's times for its climatology (default: every time after the first init).
        solver_map: the factory of :func:`solver_map_for` (``init_times → grid map on (z, u, v)`` over
            one model step); None skips the truth's exponents (the model's are still computed).
        lyapunov_inits, lyapunov_steps, lyapunov_transient, k: the Lyapunov runs (``k`` leading exponents;
            ``lyapunov_steps = 0`` skips them).
        truth_cache: a folder for the solver's exponents, keyed by the initial states and the settings
            (the solver's tangent runs cost ~8 s a step at 32 × 64, the same for every model evaluated
            on one dataset); None computes them every time.
    """
    from .emulator_lyapunov import compare_lyapunov_spectra, emulator_step_map

    out = Path(out_dir) / "physics"
    out.mkdir(parents=True, exist_ok=True)
    variables = list(extra["run_config"]["data"]["variables"])
    missing = [v for v in PHYSICS_VARIABLES if v not in variables]
    if missing:
        raise InputError(
            f"physics evaluation: the model's variables {variables} lack {missing}; the conservation laws "
            "and kinetic-energy spectra of shallow water need z, u and v"
        )
    if extra["run_config"]["data"].get("levels"):
        raise InputError(
            "physics evaluation: needs single-level (shallow-water) data; the model was trained on levels"
        )
    for v in PHYSICS_VARIABLES:
        if v not in data.data_vars:
            raise InputError(
                f"physics evaluation: the dataset has no {v!r} (has {sorted(map(str, data.data_vars))})"
            )
    step = np.timedelta64(int(round(extra["schema"]["time_step_seconds"])), "s")
    n_steps = max(1, int(math.ceil(days * 86400.0 / (step / np.timedelta64(1, "s")) - 1e-9)))
    inits = np.asarray(pd.DatetimeIndex(init_times).values)
    consts = _physics_constants(data)
    d = extra["run_config"]["data"]
    constants = {c: data[c] for c in d.get("constants") or []}
    forecast = rollout_gridded(
        model, data, variables=variables, statistics=statistics, constants=constants or None,
        init_times=inits, n_steps=n_steps, step=step, store=out / "long_rollout.zarr",
        on_nonfinite="record", progress=progress,
    )  # fmt: skip
    phys = forecast[list(PHYSICS_VARIABLES)]
    leads = forecast["lead_time"].values
    zs = data["zs"] if "zs" in data.data_vars else None
    if truth_times is None:
        times = data.indexes["time"]
        truth_times = times[times >= pd.Timestamp(inits.min())].values
    truth = data[list(PHYSICS_VARIABLES)].sel(time=np.asarray(truth_times))

    # conservation
    physical, ok = _physical_states(phys.load(), zs, consts["gravity"])
    inv_model = shallow_water_invariants(physical, zs=zs, **consts).load().where(ok)
    inv_truth = _truth_invariants(data, inits, leads, consts)
    inv = xr.concat(
        [inv_model] + ([inv_truth] if inv_truth is not None else []),
        dim=xr.DataArray(["model", "truth"][: 1 + (inv_truth is not None)], dims="system", name="system"),
    )
    _atomic_nc(inv, out / "invariants.nc")
    conservation = conservation_summary(inv, conservation_days)

    # spectra
    truth_spec = kinetic_energy_spectrum(truth, radius=consts["radius"]).mean("time").compute()
    band = resolved_band(truth_spec)
    picks = sorted(
        {int(np.argmin(np.abs(_days(leads) - dd))) for dd in spectrum_days if dd <= _days(leads)[-1] + 1e-9}
    )
    model_specs, ratios = [], {}
    for i in picks:
        sub = physical.isel(lead_time=i)
        ok = np.isfinite(sub["u"]).all(("latitude", "longitude")) & np.isfinite(sub["v"]).all(
            ("latitude", "longitude")
        )
        if not bool(ok.any()):
            ratios[f"{_days(leads)[i]:g}"] = math.nan
            continue
        spec = kinetic_energy_spectrum(sub.sel(init_time=ok), radius=consts["radius"]).mean("init_time")
        model_specs.append(spec.expand_dims(lead_days=[float(_days(leads)[i])]))
        ratios[f"{_days(leads)[i]:g}"] = float(
            spectrum_ratio_small_scales(spec, truth_spec, wavenumbers=band)
        )
    spectra = xr.Dataset({"truth": truth_spec})
    if model_specs:
        spectra["model"] = xr.concat(model_specs, dim="lead_days", coords="minimal", compat="override")
    _atomic_nc(spectra, out / "spectra.nc")

    # stability
    stab = rollout_stability(phys, truth, variable="z")
    _atomic_nc(stab.drop_vars([v for v in stab.data_vars if stab[v].dtype.kind == "m"]), out / "stability.nc")
    blow = stab["blow_up_lead"].values
    stability = {
        "n_inits": int(inits.size),
        "days": float(_days(leads)[-1]),
        "n_bounded": int(np.asarray(stab["bounded"].values).sum()),
        "blow_up_days": [
            None if pd.isna(b) else float(_days(np.asarray([b]))[0]) for b in np.atleast_1d(blow)
        ],
        "final_mean_ratio": _nanmedian(stab["mean_ratio"].values),
        "final_variance_ratio": _nanmedian(stab["variance_ratio"].values),
    }

    # Lyapunov spectra
    lyap = None
    if lyapunov_steps > 0 and lyapunov_inits > 0:
        x0 = np.stack([truth_state(data, t, variables) for t in inits[:lyapunov_inits]])
        model_map = emulator_step_map(model, statistics=statistics, channels=variables,
                                      constants=constants or None, data=data, variables=variables)  # fmt: skip
        if solver_map is not None and variables != list(PHYSICS_VARIABLES):
            logger.warning(
                "physics_of_rollout: channels %s are not (z, u, v): the solver's exponents are skipped",
                variables,
            )
            solver_map = None
        truth_map = solver_map(inits[:lyapunov_inits]) if solver_map is not None else model_map
        settings = dict(k=k, n_steps=lyapunov_steps, transient_steps=lyapunov_transient,
                        time_step_days=float(step / np.timedelta64(1, "D")), seed=seed)  # fmt: skip
        cached = _cached_truth(truth_cache, x0, settings) if solver_map is not None else None
        res = compare_lyapunov_spectra(model_map, truth_map, x0, **settings, **(cached or {}))
        if solver_map is not None and cached is None:
            _store_truth(truth_cache, x0, settings, res)
        if solver_map is None:
            res = res.sel(system=["model"])
        _atomic_nc(res, out / "lyapunov.nc")
        lyap = {
            sys_: {"lambda1_per_day": float(res["lambda1"].sel(system=sys_)),
                   "doubling_time_days": float(res["doubling_time_days"].sel(system=sys_)),
                   "ky_dimension": float(res["ky_dimension"].sel(system=sys_)),
                   "exponents_per_day": [float(x) for x in res["exponent_median"].sel(system=sys_).values]}
            for sys_ in res["system"].values
        }  # fmt: skip
        lyap["k"] = int(k)
        lyap["n_inits"] = int(x0.shape[0])
        lyap["n_steps"] = int(lyapunov_steps)
    summary = {"conservation": conservation, "spectrum_ratio_small_scales": ratios, "spectrum_band": list(band),
               "stability": stability,
               "lyapunov": lyap, "step": str(pd.Timedelta(step)), "n_steps": n_steps}  # fmt: skip
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float))
    logger.info("physics_of_rollout: %s", summary)
    return summary


def _truth_key(x0: np.ndarray, settings: dict[str, Any]) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x0, dtype=np.float64).tobytes())
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()[:20]


def _cached_truth(
    cache: str | Path | None, x0: np.ndarray, settings: dict[str, Any]
) -> dict[str, Any] | None:
    if cache is None:
        return None
    path = Path(cache) / f"truth_{_truth_key(x0, settings)}.nc"
    if not path.exists():
        return None
    with xr.open_dataset(path) as ds:
        logger.info("physics_of_rollout: the solver's exponents from the cache %s", path)
        return {
            "truth_exponents": ds["exponents"].values,
            "truth_seconds_per_step": float(ds.attrs["seconds_per_step"]),
        }


def _store_truth(cache: str | Path | None, x0: np.ndarray, settings: dict[str, Any], res: xr.Dataset) -> None:
    if cache is None:
        return
    path = Path(cache) / f"truth_{_truth_key(x0, settings)}.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = xr.Dataset({"exponents": res["exponents"].sel(system="truth", drop=True)})
    truth.attrs.update(
        seconds_per_step=float(res["seconds_per_step"].sel(system="truth")),
        **{k: str(v) for k, v in settings.items()},
    )
    _atomic_nc(truth, path)


def truth_state(data: xr.Dataset, time: Any, variables: Sequence[str] = PHYSICS_VARIABLES) -> np.ndarray:
    """``(C, H, W)`` float64 state of ``variables`` (default ``z, u, v``) of ``data`` at ``time``."""
    s = data[list(variables)].sel(time=time)
    return np.stack(
        [np.asarray(s[v].transpose("latitude", "longitude").values, dtype=np.float64) for v in variables]
    )


def read_physics_summary(eval_dir: str | Path) -> dict[str, Any] | None:
    """The ``physics/summary.json`` of an evaluation folder, or None when it has no physics evaluation."""
    path = Path(eval_dir) / "physics" / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None
