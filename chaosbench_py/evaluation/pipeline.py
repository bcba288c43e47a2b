"""From a trained run folder to scores and a report: what ``chaosbench evaluate`` / ``report`` run.

* :func:`evaluate_run` reads ``RUN/model.pt`` (written by :class:`chaosbench_py.training.Trainer`:
  weights, run config, channel order, normalisation) and dispatches on the data kind:

  - gridded: autoregressive rollout from ``n_inits`` initial times of the test period to
    ``n_steps`` leads (:func:`rollout_gridded`, written to ``OUT/forecast.zarr``, resumable),
    scorecards of the model, persistence and climatology (:func:`evaluate_weather`) written to
    ``OUT/scorecards/<name>.nc`` and ``OUT/scores.csv``; per-init scores, bootstrap intervals over
    inits and paired tests against the references (:func:`score_uncertainty`: ``OUT/per_init/``,
    ``OUT/intervals.csv``, ``OUT/paired_tests.csv``);
  - trajectories: the GTF-protocol invariants, the model's Lyapunov spectrum against the data's,
    and the valid prediction time (:func:`evaluate_dynamics`) on the test series, written to
    ``OUT/dynamics.json``, with the series and the model's free run as ``.npy``.

  ``OUT/evaluation.json`` records what was done, for :func:`build_report`.

  Nothing partial is ever visible in ``OUT``: the evaluation is built in a hidden sibling
  ``.OUT.partial/`` (which also holds ``request.json``, the request: run, checkpoint hash, options)
  and renamed to ``OUT`` only when complete. An existing non-empty ``OUT`` is refused unless
  ``overwrite=True`` (it is replaced when the new evaluation is complete); an interrupted
  evaluation (a ``.OUT.partial/`` left by a killed process) is continued with ``resume=True`` —
  the forecast store by init (:class:`~chaosbench_py.data.ForecastWriter`), the scores from the
  whole forecast — and gives the same files as an uninterrupted run. ``resume=True`` on a complete
  ``OUT`` of the same request returns at once.
* :func:`build_report` turns an evaluation folder into ``report.md`` + ``report.html`` + PNGs.

Climatology of a gridded run (``climatology=``): ``"doy"`` — the day-of-year climatology of the
training period (:func:`chaosbench_py.data.climatology`, 61-day window), the WeatherBench2
reference; ``"mean"`` — the training-period mean for every day of the year, the right reference
for a statistically stationary simulation such as the embedded shallow-water data; ``"auto"``
picks ``"doy"`` when the training period covers a year and ``"mean"`` otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from chaosbench_py.files import atomic_output, atomic_write_text
from emulators.checkpoint import load_model
from physics_metrics.weather import SCORES

from ..errors import CorruptFileError, InputError, MissingInputError, OutputExistsError
from .evaluate import (
    evaluate_dynamics,
    evaluate_weather,
    read_dynamics_evaluation,
    scorecards_to_csv,
    write_dynamics_evaluation,
)
from .rollout import rollout_gridded, rollout_sequence
from .uncertainty import add_uncertainty_table, score_uncertainty

logger = logging.getLogger(__name__)

__all__ = ["build_report", "evaluate_run", "stationary_climatology", "statistics_from_metadata"]


def _atomic_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def _atomic_netcdf(ds: xr.Dataset, path: Path) -> None:
    with atomic_output(path, ".nc") as tmp:
        ds.to_netcdf(tmp)


def _load_run(run_dir: str | os.PathLike) -> tuple[Any, dict[str, Any], Path]:
    run_dir = Path(run_dir)
    path = run_dir / "model.pt" if run_dir.is_dir() else run_dir
    if not path.exists():
        raise MissingInputError(
            f"no trained model at {path} (train first: chaosbench train CONFIG --out RUN)"
        )
    model, extra = load_model(path)
    if "run_config" not in extra or "kind" not in extra:
        raise InputError(f"{path}: not a model written by the trainer (no run_config/kind in its metadata)")
    model.eval()
    return model, extra, path


def statistics_from_metadata(extra: dict[str, Any]) -> xr.Dataset:
    """The per-channel ``mean``/``std`` Dataset (``channel_statistics`` format) stored in a checkpoint."""
    names = list(extra["channel_names"])
    norm = extra["normalisation"]
    return xr.Dataset(
        {"mean": ("channel", np.asarray(norm["mean"], dtype=np.float64)),
         "std": ("channel", np.asarray(norm["std"], dtype=np.float64))},
        coords={"channel": names},
    )  # fmt: skip


def stationary_climatology(ds: xr.Dataset, variables: Sequence[str]) -> xr.Dataset:
    """The time mean of ``ds`` repeated for every day of the year: ``(dayofyear=1…366, [level], lat, lon)``."""
    mean = ds[list(variables)].mean("time").compute()
    days = xr.DataArray(np.arange(1, 367), dims="dayofyear", name="dayofyear")
    return mean.expand_dims(dayofyear=days).transpose("dayofyear", ...)


def _pick_inits(times: pd.DatetimeIndex, n_inits: int, n_steps: int, step: np.timedelta64) -> np.ndarray:
    last_ok = times[-1] - n_steps * pd.Timedelta(step)
    ok = times[times <= last_ok]
    if ok.size == 0:
        raise InputError(
            f"the test period {times[0]} … {times[-1]} is shorter than n_steps = {n_steps} steps of {step}"
        )
    idx = np.unique(np.linspace(0, ok.size - 1, min(n_inits, ok.size)).round().astype(int))
    return ok[idx].values


def _compose(model, extra, compose: dict[int, str] | None) -> Any:
    """``{1: model, lead: model of run}`` for ``compose = {lead_in_steps: run_dir}`` (same channels, same
    normalisation), else ``model``."""
    if not compose:
        return model
    models = {1: model}
    for lead, run in compose.items():
        other, other_extra, path = _load_run(run)
        if other_extra.get("channel_names") != extra["channel_names"]:
            raise InputError(f"compose: {path} has channels {other_extra.get('channel_names')}, the base run "
                             f"{extra['channel_names']}")  # fmt: skip
        for key in ("mean", "std"):
            a = np.asarray(other_extra["normalisation"][key])
            if not np.allclose(a, np.asarray(extra["normalisation"][key])):
                raise InputError(f"compose: {path} was trained with another normalisation ({key})")
        models[int(lead)] = other
    return models


def _evaluate_gridded(model, extra, out: Path, *, data_path, test, n_inits, n_steps, members,
                      perturbation_std, climatology, seed, compose=None, physics=None,
                      client=None) -> dict[str, Any]:  # fmt: skip
    from chaosbench_py.data import climatology as doy_climatology
    from chaosbench_py.data import open_gridded, year_range

    cfg = extra["run_config"]
    d = cfg["data"]
    data = open_gridded(data_path or extra["data_path"])
    variables, levels = list(d["variables"]), d["levels"]
    step = np.timedelta64(int(round(extra["schema"]["time_step_seconds"])), "s")
    times = pd.DatetimeIndex(data["time"].values)
    if test is None:
        after = d["valid"][1] if d.get("valid") else (d["train"][1] if d.get("train") else None)
        if after is None:
            raise InputError("no test period: pass test=[start, end] (--test START END)")
        test_times = times[times > pd.Timestamp(after) + pd.Timedelta("1D") - pd.Timedelta("1ns")]
    else:
        test_times = times[(times >= pd.Timestamp(test[0])) & (times <= pd.Timestamp(test[1]))]
    if test_times.size == 0:
        raise InputError(f"the test period holds no time of {data_path or extra['data_path']}")
    inits = _pick_inits(test_times, n_inits, n_steps, step)
    constants = {c: data[c] for c in d.get("constants") or []}
    store = out / "forecast.zarr"
    forecast = rollout_gridded(
        _compose(model, extra, compose), data, variables=variables, levels=levels, statistics=statistics_from_metadata(extra),
        constants=constants or None, init_times=inits, n_steps=n_steps, step=step, members=members,
        perturbation_std=perturbation_std, seed=seed, store=store,
    )  # fmt: skip
    train = data.sel(time=slice(*d["train"])) if d.get("train") else data
    span = pd.Timestamp(train["time"].values[-1]) - pd.Timestamp(train["time"].values[0])
    kind = climatology if climatology != "auto" else ("doy" if span >= pd.Timedelta("365D") else "mean")
    clim = None
    if kind == "doy":
        clim = doy_climatology(train, years=year_range(train), variables=variables, levels=levels)
    elif kind == "mean":
        clim = stationary_climatology(train, variables)
    truth = data[variables]
    if levels is not None and "level" in truth.dims:
        truth = truth.sel(level=levels)
    metrics = [
        name
        for name, spec in SCORES.items()
        if spec.evaluate and "wb2" in spec.conventions() and (members > 1 or not spec.needs_ensemble)
    ]
    if client is None:
        cards = evaluate_weather(forecast, truth, clim, metrics=metrics)
    else:  # the same numbers, scored on the cluster (dask_scoring)
        from .dask_scoring import evaluate_weather_dask

        cards = evaluate_weather_dask(client, forecast, truth, clim, metrics=metrics)
    for name, card in cards.items():
        _atomic_netcdf(card, out / "scorecards" / f"{name}.nc")
    scorecards_to_csv(cards, out / "scores.csv", overwrite=True)  # in the staging folder: a resume redoes it
    if client is None:  # per_init/, intervals.csv, paired_tests.csv
        score_uncertainty(forecast, truth, clim, out, seed=seed)
    else:
        from .dask_scoring import score_uncertainty_dask

        score_uncertainty_dask(client, forecast, truth, clim, out, seed=seed)
    if physics:
        from .physics import physics_of_rollout, solver_map_for, store_attrs

        long_inits = _pick_inits(test_times, physics["n_inits"], 0, step)
        physics_of_rollout(
            model, extra, data, out, init_times=long_inits, statistics=statistics_from_metadata(extra),
            days=physics["days"], lyapunov_steps=physics["lyapunov_steps"],
            solver_map=solver_map_for(data, step, store_attrs(data_path or extra["data_path"])),
            truth_times=test_times.values, seed=seed, truth_cache=out.parent / ".lyapunov_truth_cache",
        )  # fmt: skip
    return {"variables": variables, "levels": levels, "n_inits": len(inits), "n_steps": n_steps,
            "step": str(pd.Timedelta(step)), "climatology": kind, "members": members,
            "scorecards": sorted(cards), "metrics": list(metrics),
            "data_path": str(data_path or extra["data_path"])}  # fmt: skip


def _evaluate_trajectories(model, extra, out: Path, *, data_path, test_data, time_step, true_spectrum,
                           max_test_points) -> dict[str, Any]:  # fmt: skip
    from chaosbench_py.data import load_sequences
    from chaosbench_py.data import open_trajectory_source as _load_trajectory_source

    mean = np.asarray(extra["normalisation"]["mean"], dtype=np.float64)
    std = np.asarray(extra["normalisation"]["std"], dtype=np.float64)
    if test_data is not None:
        test = load_sequences(_load_trajectory_source(str(test_data)), name="test_data")[0].double().numpy()
    else:
        series = load_sequences(
            _load_trajectory_source(str(data_path or extra["data_path"])), name="data.path"
        )
        s = series[0].double().numpy()
        test = s[int(round(s.shape[0] * float(extra["train_fraction"]))) :]
        if test.shape[0] < 10:
            raise InputError("no held-out test series (train_fraction = 1); pass test_data=")
    test = ((test - mean) / std)[:max_test_points]
    if time_step is None:
        time_step = float(extra["schema"].get("time_step", math.nan))
        if not math.isfinite(time_step):
            time_step = 1.0
            logger.warning("the training data has no time axis: exponents are per step (pass time_step=)")
    ev = evaluate_dynamics(model, test, time_step=time_step, true_lyapunov_spectrum=true_spectrum)
    free = rollout_sequence(model, test[:1], test.shape[0] - 1)[0]
    write_dynamics_evaluation(ev, out / "dynamics.json", overwrite=True)  # staging folder, as above
    for name, arr in (("test_series.npy", test), ("free_run.npy", free)):
        with atomic_output(out / name, ".npy") as tmp:
            np.save(tmp, arr)
    return {"time_step": time_step, "test_points": int(test.shape[0]),
            "true_spectrum": None if true_spectrum is None else [float(v) for v in true_spectrum]}  # fmt: skip


def _check_options(
    *, n_inits, n_steps, members, perturbation_std, time_step, true_spectrum, max_test_points
) -> None:
    """The numeric options of :func:`evaluate_run`, checked before any work (each error names the option)."""
    for name, value, low in (("n_inits", n_inits, 1), ("n_steps", n_steps, 1), ("members", members, 1),
                             ("max_test_points", max_test_points, 20)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InputError(f"{name}={value!r}: must be an integer ≥ {low}")
    if not (
        isinstance(perturbation_std, int | float)
        and math.isfinite(perturbation_std)
        and perturbation_std >= 0
    ):
        raise InputError(f"perturbation_std={perturbation_std!r}: must be finite and ≥ 0")
    if perturbation_std > 0 and members == 1:
        raise InputError("perturbation_std: > 0 needs members > 1 (a single member is the deterministic run)")
    if time_step is not None and not (
        isinstance(time_step, int | float) and math.isfinite(time_step) and time_step > 0
    ):
        raise InputError(f"time_step={time_step!r}: must be positive and finite")
    if true_spectrum is not None:
        spec = np.asarray(true_spectrum, dtype=np.float64).ravel()
        if spec.size == 0 or not np.isfinite(spec).all():
            raise InputError(f"true_spectrum={list(true_spectrum)!r}: need one or more finite exponents")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _request_differences(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    keys = list(dict.fromkeys([*want, *have]))
    return [f"{k}: {have.get(k, '<missing>')!r} there, {want.get(k, '<missing>')!r} now" for k in keys
            if have.get(k, "<missing>") != want.get(k, "<missing>")]  # fmt: skip


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _remove_temporaries(staging: Path) -> None:
    """Delete the hidden temporary files/folders a killed atomic write leaves (``.<name>.<random>``);
    the forecast store is left to :class:`~chaosbench_py.data.ForecastWriter`, which repairs it."""
    for folder in (staging, staging / "scorecards", staging / "per_init", staging / "physics"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith("."):
                logger.info("evaluate_run: removing the left-over temporary %s", p)
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _publish(staging: Path, out: Path) -> None:
    """Put the complete evaluation in ``staging`` at ``out``: the old ``out`` (if any) is moved aside first
    (a directory cannot be renamed over a non-empty one), then deleted."""
    trash = out.parent / f".{out.name}.old"
    if trash.exists():
        shutil.rmtree(trash)
    if out.exists():
        os.replace(out, trash)
    os.replace(staging, out)
    shutil.rmtree(trash, ignore_errors=True)


def evaluate_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    data_path: str | None = None,
    test: Sequence[str] | None = None,
    n_inits: int = 8,
    n_steps: int = 20,
    members: int = 1,
    perturbation_std: float = 0.0,
    climatology: str = "auto",
    test_data: str | None = None,
    time_step: float | None = None,
    true_spectrum: Sequence[float] | None = None,
    max_test_points: int = 20_000,
    seed: int = 0,
    compose: dict[int, str] | None = None,
    physics: bool = False,
    physics_inits: int = 4,
    physics_days: float = 365.0,
    lyapunov_steps: int = 40,
    overwrite: bool = False,
    resume: bool = False,
    dask: Any = None,
    dask_memory_limit: str | None = None,
) -> Path:
    """Evaluate the model in ``run_dir`` (see the module docstring); returns ``out_dir/evaluation.json``.

    Gridded runs: ``test`` ``[start, end]`` (default: the times after the run's validation, else
    training, period), ``n_inits`` initial times evenly spread over it, ``n_steps`` model steps,
    ``members`` / ``perturbation_std`` for an ensemble, ``climatology`` ``auto|doy|mean|none``;
    ``compose`` ``{lead_in_steps: run_dir}`` adds longer-lead models combined by Pangu's rule (the lead
    ``k`` forecast uses the largest model lead dividing ``k``; ``rollout_gridded`` with a mapping).
    The scores are the registered ones with ``evaluate=True`` (``physics_metrics.weather.SCORES``;
    ensemble scores only with ``members > 1``).
    ``physics`` (shallow-water runs: ``z, u, v`` channels) adds the physics of the rollout
    (:func:`chaosbench_py.evaluation.physics.physics_of_rollout`, ``OUT/physics/``): ``physics_inits``
    rollouts of ``physics_days`` from initial times spread over the test period (stability, conservation,
    spectra) and the leading Lyapunov exponents of the model and of the solver from
    ``lyapunov_steps`` tangent steps (0 skips them).
    Trajectory runs: ``test_data`` (default: the held-out end of the training file), ``time_step``
    (default: the store's time axis), ``true_spectrum`` (default: estimated from the data).

    ``dask`` (gridded runs): score on a dask.distributed cluster — a ``distributed.Client`` or a spec
    ``local:N`` (N worker processes, 1 thread each, ``dask_memory_limit`` per worker, e.g. ``"4GiB"``),
    ``tcp://HOST:PORT``, ``scheduler-file:PATH``
    (:func:`chaosbench_py.evaluation.dask_scoring.dask_client`); the rollout stays in this process, the
    scorecards and per-init scores run on the workers and are identical to scoring here. It is not part
    of the request (an evaluation resumes with or without it). An unreachable scheduler is an
    :class:`~chaosbench_py.errors.InputError` naming it, within seconds, before the rollout.

    Output: ``overwrite`` replaces an existing non-empty ``out_dir`` (once the new evaluation is
    complete); ``resume`` continues an interrupted evaluation of the same request (the same run,
    checkpoint and options; anything else is refused naming what differs). Without either, an
    existing non-empty ``out_dir`` or a left-over ``.<out_dir>.partial/`` is an
    :class:`~chaosbench_py.errors.OutputExistsError` naming it.
    """
    if climatology not in ("auto", "doy", "mean", "none"):
        raise InputError(f"climatology={climatology!r}: expected auto, doy, mean or none")
    if isinstance(dask, str):
        from .dask_scoring import parse_dask_spec

        parse_dask_spec(dask)  # a malformed spec fails before any work
    elif dask is not None and not hasattr(dask, "submit"):
        raise InputError(f"dask={dask!r}: expected a spec (local:N, tcp://HOST:PORT, scheduler-file:PATH) "
                         "or a distributed.Client")  # fmt: skip
    _check_options(n_inits=n_inits, n_steps=n_steps, members=members, perturbation_std=perturbation_std,
                   time_step=time_step, true_spectrum=true_spectrum, max_test_points=max_test_points)  # fmt: skip
    if physics:
        for key, value, low in (("physics_inits", physics_inits, 1), ("lyapunov_steps", lyapunov_steps, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{key}={value!r}: expected an integer ≥ {low}")
        if (
            isinstance(physics_days, bool)
            or not isinstance(physics_days, int | float)
            or not physics_days > 0
        ):
            raise InputError(f"physics_days={physics_days!r}: expected a positive number of days")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(
            f"{out}: exists and is a file, not an evaluation folder; choose another --out"
        )
    model, extra, path = _load_run(run_dir)
    if dask is not None and extra["kind"] != "gridded":
        raise InputError(f"dask={dask!r} (--dask): only gridded runs are scored on a dask cluster, this run is "
                         f"{extra['kind']!r}")  # fmt: skip
    options = {"data_path": data_path, "test": None if test is None else [str(t) for t in test],
               "n_inits": n_inits, "n_steps": n_steps, "members": members, "perturbation_std": perturbation_std,
               "climatology": climatology, "test_data": test_data, "time_step": time_step,
               "true_spectrum": None if true_spectrum is None else [float(v) for v in true_spectrum],
               "max_test_points": max_test_points, "seed": seed,
               "compose": None if not compose else {str(k): str(Path(v).resolve()) for k, v in compose.items()},
               "physics": None if not physics else {"n_inits": int(physics_inits), "days": float(physics_days),
                                                    "lyapunov_steps": int(lyapunov_steps)}}  # fmt: skip
    request = {"model_path": str(path.resolve()), "model_sha256": _sha256(path),
               **json.loads(json.dumps(options, default=str))}  # fmt: skip
    staging = out.parent / f".{out.name}.partial"
    nonempty = out.is_dir() and any(out.iterdir())

    done = _read_json(out / "evaluation.json") if nonempty else None
    if resume and done is not None and done.get("request") == request and not staging.exists():
        logger.info("evaluate_run: %s is already complete for this request", out)
        return out / "evaluation.json"
    if nonempty and not overwrite and not (resume and staging.exists()):
        raise OutputExistsError(
            f"{out}: exists and is not empty"
            + (" (it holds an evaluation of another request)" if resume and done is not None else "")
            + "; pass overwrite=True (--overwrite) to replace it, or choose another folder"
        )
    if staging.exists():
        if resume:
            have = _read_json(staging / "request.json")
            if have is None and not (staging / "request.json").exists():
                # killed before the request was recorded (it is written first): nothing to continue
                shutil.rmtree(staging)
                have = request
            if have is None:
                raise OutputExistsError(f"{staging}: an interrupted evaluation without a readable request.json; "
                                        "pass overwrite=True (--overwrite) to start over")  # fmt: skip
            diffs = _request_differences(have, request)
            if diffs:
                raise OutputExistsError(
                    f"{staging}: the interrupted evaluation was of another request ({'; '.join(diffs)}); "
                    "pass overwrite=True (--overwrite) to start over"
                )
            logger.info("evaluate_run: resuming the interrupted evaluation in %s", staging)
            _remove_temporaries(staging)
        elif overwrite:
            shutil.rmtree(staging)
        else:
            raise OutputExistsError(
                f"{staging}: an interrupted evaluation for {out} exists; pass resume=True (--resume) to "
                "continue it or overwrite=True (--overwrite) to start over"
            )
    if not (staging / "evaluation.json").exists():
        stack = contextlib.ExitStack()
        client = dask
        if isinstance(dask, str):  # connect (or start the LocalCluster) before anything is written
            from .dask_scoring import dask_client

            client = stack.enter_context(dask_client(dask, memory_limit=dask_memory_limit or "auto"))
        with stack:
            staging.mkdir(parents=True, exist_ok=True)
            if not (staging / "request.json").exists():
                _atomic_json(staging / "request.json", request)
            if extra["kind"] == "gridded":
                info = _evaluate_gridded(model, extra, staging, data_path=data_path, test=test,
                                         n_inits=n_inits, n_steps=n_steps, members=members,
                                         perturbation_std=perturbation_std, climatology=climatology, seed=seed,
                                         compose=compose, physics=options["physics"], client=client)  # fmt: skip
            else:
                if physics:
                    raise InputError("physics=True (--physics): only for gridded shallow-water runs, this run "
                                     f"is {extra['kind']!r}")  # fmt: skip
                info = _evaluate_trajectories(model, extra, staging, data_path=data_path,
                                              test_data=test_data, time_step=time_step,
                                              true_spectrum=true_spectrum,
                                              max_test_points=max_test_points)  # fmt: skip
        meta = {
            "kind": extra["kind"],
            "model": extra["run_config"]["model"]["name"],
            "model_path": str(path),
            **info,
            "request": request,
        }
        _remove_temporaries(staging)
        _atomic_json(staging / "evaluation.json", meta)  # the evaluation is complete from here on
    _publish(staging, out)
    return out / "evaluation.json"


def build_report(
    eval_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    report: Any = None,
    heading: str | None = None,
) -> Any:
    """Add the evaluation in ``eval_dir`` to ``report`` (a :class:`chaosbench_py.report.Report`; a new one
    in ``out_dir`` — default ``eval_dir`` — when ``None``) and return it (call ``.write()`` to write)."""
    from chaosbench_py.data import open_forecast, open_gridded
    from chaosbench_py.report import Report, add_dynamics_section, add_weather_section
    from chaosbench_py.report.physics_section import add_physics_section

    eval_dir = Path(eval_dir)
    meta_path = eval_dir / "evaluation.json"
    if not meta_path.exists():
        held = sorted(p.name for p in eval_dir.iterdir())[:5] if eval_dir.is_dir() else []
        raise MissingInputError(
            f"no evaluation at {meta_path} (run: chaosbench evaluate RUN --out {eval_dir})"
            + (
                f"; the folder holds {held} — an evaluation is complete only with evaluation.json"
                if held
                else ""
            )
        )
    meta = _read_json(meta_path)
    missing = [k for k in ("kind", "model") if meta is None or k not in meta]
    if meta is None or missing:
        raise CorruptFileError(f"{meta_path}: not an evaluation record ("
                               + ("not a JSON object" if meta is None else f"no {missing}") + ")")  # fmt: skip
    if report is None:
        report = Report(title or f"chaosbench_py — {meta['model']}", Path(out_dir) if out_dir else eval_dir)
    name = heading or f"{meta['model']} ({meta['kind']})"
    if meta["kind"] == "gridded":
        forecast = open_forecast(eval_dir / "forecast.zarr")
        data = open_gridded(meta["data_path"])
        cards = {n: xr.load_dataset(eval_dir / "scorecards" / f"{n}.nc") for n in meta["scorecards"]}
        cards = {(meta["model"] if n == "model" else n): c for n, c in cards.items()}
        leads = forecast["lead_time"].values
        map_leads = [leads[0], leads[len(leads) // 2], leads[-1]] if len(leads) > 2 else list(leads)
        variables = []
        for v in meta["variables"]:
            if (
                "level" in forecast[v].dims
            ):  # one level per variable in the figures: 500 hPa when there is one
                levels = [float(x) for x in forecast["level"].values]
                variables.append((v, 500.0 if 500.0 in levels else levels[0]))
            else:
                variables.append(v)
        add_weather_section(
            report, name, forecast, data, cards, variables=variables, map_lead_times=map_leads
        )
        add_uncertainty_table(report, eval_dir)
        add_physics_section(report, eval_dir, name)
    else:
        ev = read_dynamics_evaluation(eval_dir / "dynamics.json")
        test = np.load(eval_dir / "test_series.npy")
        free = np.load(eval_dir / "free_run.npy")
        add_dynamics_section(
            report, name, {meta["model"]: ev}, test, {meta["model"]: free}, meta.get("true_spectrum")
        )
    return report
