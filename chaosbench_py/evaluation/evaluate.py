"""Evaluation of rolled-out emulators: weather scorecards and dynamical invariants.

* :func:`evaluate_weather`: scorecards (``physics_metrics.weather.scorecard``) of a forecast in
  the forecast schema and of the reference forecasts built from the same truth (persistence,
  climatology: ``physics_metrics.weather.references``), all scored by the same function with the
  same options, so model and references are comparable lead by lead.
  :func:`scorecards_to_csv` writes them as one tidy CSV.
* :func:`evaluate_dynamics`: the GTF protocol (:func:`chaosbench_py.evaluation.evaluate_dsr`:
  ``D_stsp``, ``D_H``, ``PE(20)``, the model's Lyapunov spectrum) plus the valid prediction time
  (VPT) of the free run from the first test point, in Lyapunov times.
  :func:`write_dynamics_evaluation` / :func:`read_dynamics_evaluation` round-trip it as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch.nn as nn
import xarray as xr

import physics_metrics as pm
from chaosbench_py.evaluation.dsr import DSREvaluation, evaluate_dsr
from chaosbench_py.files import atomic_write_text
from physics_metrics.weather import SCORES, climatology_forecast, persistence_forecast, scorecard

from ..errors import (
    CorruptFileError,
    InputError,
    InputTypeError,
    MissingInputError,
    OutputExistsError,
    UnknownNameError,
)
from .rollout import rollout_sequence

logger = logging.getLogger(__name__)

__all__ = [
    "evaluate_dynamics",
    "evaluate_weather",
    "read_dynamics_evaluation",
    "scorecards_to_csv",
    "write_dynamics_evaluation",
]

_REFERENCES = ("persistence", "climatology")


# ------------------------------------------------------------------------------------------ weather
def _restrict(ds: xr.Dataset, forecast: xr.Dataset, variables: list[str]) -> xr.Dataset:
    """``ds[variables]`` on the forecast's levels (a truth or climatology may hold more)."""
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise UnknownNameError(
            f"variables {missing} of the forecast are missing from it (has {sorted(map(str, ds.data_vars))})"
        )
    out = ds[variables]
    if "level" in forecast.coords and "level" in out.dims:
        out = out.sel(level=forecast["level"].values)
    return out


def evaluate_weather(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None = None,
    *,
    metrics: Sequence[str] = ("rmse", "acc", "bias"),
    references: Sequence[str] = ("persistence", "climatology"),
    convention: str = "wb2",
) -> dict[str, xr.Dataset]:
    """Scorecards of ``forecast`` and of reference forecasts, keyed ``"model"``, ``"persistence"``,
    ``"climatology"``.

    Args:
        forecast: ``(init_time, lead_time, [member], [level], latitude, longitude)`` with
            ``valid_time`` (e.g. from :func:`~chaosbench_py.evaluation.rollout_gridded`).
        truth: gridded state ``(time, [level], latitude, longitude)`` holding every init and valid
            time (same grid by value).
        climatology: ``(dayofyear, [hour], [level], latitude, longitude)`` mean (e.g. from
            :func:`chaosbench_py.data.climatology`); needed by ``acc`` and the climatology
            reference. Without it the climatology reference and the metrics that need it are
            skipped with a logged warning.
        metrics: scorecard score names (the registry ``physics_metrics.weather.SCORES``; those that
            need a climatology are skipped without one, those that need an ensemble are not scored
            for the deterministic references).
        references: any of ``"persistence"`` (``F(t0, τ) = X(t0)``) and ``"climatology"``
            (``F(t0, τ) = C(doy(t0 + τ))``), built for the forecast's init and lead times and
            scored with the same metrics (ensemble-only metrics dropped: they are deterministic).
        convention: ``"wb2"`` or ``"chaosbench"`` (see ``physics_metrics.weather.scorecard``).

    Returns:
        ``{name: scorecard}``, each an ``xarray.Dataset`` with one variable per forecast variable,
        dims ``(metric, [level], lead_time)``.
    """
    truth_v, clim_v, jobs = weather_scoring_jobs(forecast, truth, climatology, metrics, references)
    cards = {}
    for name, (fc, names) in jobs.items():
        cards[name] = scorecard(fc, truth_v, clim_v, metrics=names, convention=convention)
        if name != "model":
            logger.info("evaluate_weather: scored the %s reference", name)
    return cards


def weather_scoring_jobs(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None,
    metrics: Sequence[str],
    references: Sequence[str],
    *,
    prepare_climatology: Any = None,
) -> tuple[xr.Dataset, xr.Dataset | None, dict[str, tuple[xr.Dataset, list[str]]]]:
    """The checked plan of :func:`evaluate_weather` (shared with its dask twin): ``(truth_v, clim_v, jobs)``
    with the truth and climatology restricted to the forecast's variables, levels and grid, and
    ``jobs = {"model": (forecast, metrics), reference: (reference forecast, metrics without the
    ensemble-only ones), …}``. Metrics needing a climatology, and the climatology reference, are skipped with
    a logged warning when ``climatology`` is None. ``prepare_climatology`` (optional) maps the restricted
    climatology before the references are built from it (the dask path loads it into memory once)."""
    if not isinstance(forecast, xr.Dataset):
        raise InputTypeError(f"forecast: expected an xarray.Dataset, got {type(forecast).__name__}")
    if not isinstance(truth, xr.Dataset):
        raise InputTypeError(f"truth: expected an xarray.Dataset, got {type(truth).__name__}")
    if isinstance(metrics, str) or isinstance(references, str):
        raise InputTypeError("metrics/references: pass lists of names, e.g. ['rmse']")
    metrics = list(metrics)
    unregistered = [m for m in metrics if m not in SCORES]
    if unregistered:
        raise UnknownNameError(
            f"metrics: {unregistered} are not registered scores (registered: {list(SCORES)})"
        )
    unknown = [r for r in references if r not in _REFERENCES]
    if unknown:
        raise InputError(f"references: unknown {unknown}; choose from {list(_REFERENCES)}")
    refs = list(dict.fromkeys(references))
    if climatology is None:
        need = [m for m in metrics if SCORES[m].needs_climatology]
        if need:
            logger.warning("evaluate_weather: no climatology given; metric(s) %s skipped", need)
            metrics = [m for m in metrics if m not in need]
        if "climatology" in refs:
            logger.warning("evaluate_weather: no climatology given; the climatology reference is skipped")
            refs.remove("climatology")
    elif "doy" in climatology.dims:
        climatology = climatology.rename(doy="dayofyear")
    if not metrics:
        raise InputError("metrics: nothing left to compute")
    variables = [str(v) for v in forecast.data_vars]
    truth_v = _restrict(truth, forecast, variables)
    clim_v = None if climatology is None else _restrict(climatology, forecast, variables)
    if clim_v is not None and prepare_climatology is not None:
        clim_v = prepare_climatology(clim_v)
    jobs = {"model": (forecast, metrics)}
    inits, leads = forecast["init_time"].values, forecast["lead_time"].values
    ref_metrics = [m for m in metrics if not SCORES[m].needs_ensemble]
    for name in refs:
        if not ref_metrics:
            logger.warning("evaluate_weather: only ensemble metrics asked; reference %r skipped", name)
            continue
        if name == "persistence":
            ref = persistence_forecast(truth_v, inits, leads)
        else:
            ref = climatology_forecast(clim_v, inits, leads)
        jobs[name] = (ref, ref_metrics)
    return truth_v, clim_v, jobs


def scorecards_to_csv(
    scorecards: Mapping[str, xr.Dataset], path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write scorecards as one tidy CSV, atomically (temporary sibling, then rename); an existing
    ``path`` is refused (:class:`~chaosbench_py.errors.OutputExistsError`) unless ``overwrite=True``.

    Columns ``model, variable, level, metric, lead_time_hours, value``: one row per scorecard ×
    variable × level × metric × lead time; ``level`` is empty for surface variables; values with
    17 significant digits. Returns the path.
    """
    if not isinstance(scorecards, Mapping) or not scorecards:
        raise InputError("scorecards: expected a non-empty mapping of name → scorecard Dataset")
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists; pass overwrite=True to replace it")
    rows = []
    for name, card in scorecards.items():
        if not isinstance(card, xr.Dataset) or "metric" not in card.dims or "lead_time" not in card.dims:
            raise InputError(f"scorecards[{name!r}]: not a scorecard (needs 'metric' and 'lead_time' dims)")
        hours = card["lead_time"].values / np.timedelta64(1, "h")
        for v in card.data_vars:
            da = card[v]
            levels = list(da["level"].values) if "level" in da.dims else [None]
            for lev in levels:
                sub = da if lev is None else da.sel(level=lev)
                for metric in sub["metric"].values:
                    vals = np.asarray(sub.sel(metric=metric).transpose("lead_time").values, dtype=np.float64)
                    for h, val in zip(hours, vals):
                        rows.append(
                            (str(name), str(v), "" if lev is None else f"{float(lev):g}", str(metric), h, val)
                        )
    frame = pd.DataFrame(rows, columns=["model", "variable", "level", "metric", "lead_time_hours", "value"])
    out = Path(path)
    atomic_write_text(out, frame.to_csv(index=False, float_format="%.17g"))
    logger.info("scorecards written to %s (%d rows)", out, len(frame))
    return out


# ------------------------------------------------------------------------------------------ dynamics
def _theiler_window(x: np.ndarray) -> int:
    """First lag at which the mean (over dims) autocorrelation drops below 1/e (≥ 1)."""
    z = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    n = z.shape[0]
    spec = np.fft.rfft(z, n=2 * n, axis=0)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=0)[:n].mean(axis=1)
    acf = acf / acf[0]
    below = np.flatnonzero(acf < 1.0 / math.e)
    return int(below[0]) if below.size else max(1, n // 10)


def _data_lambda_max(x: np.ndarray, time_step: float) -> tuple[float, dict[str, Any]]:
    """Largest exponent of the data by Rosenstein's method (full state, no delay embedding).

    Theiler window ``w`` = first 1/e crossing of the mean autocorrelation; pairs followed for
    ``6w`` steps and the slope fitted over ``[3w, 6w]`` (past the initial alignment transient of
    the nearest-neighbour pairs, before saturation; on Lorenz-63 sampled at 0.01 this gives
    0.8-1.3 for 1 200-8 000 points, true 0.906). Falls back to the automatic fit region of
    :func:`physics_metrics.rosenstein` when the series is too short for it.
    """
    w = _theiler_window(x)
    horizon, fit = 6 * w, (3 * w, 6 * w)
    if x.shape[0] - horizon < 2 * w + 10:
        horizon, fit = int(max(5, (x.shape[0] - 2 * w - 10) // 2)), None
    est = pm.rosenstein(
        x, dt=time_step, embedding_dim=1, delay=1, theiler_window=w, max_horizon=horizon, fit_range=fit
    )
    info = {
        "method": "rosenstein",
        "theiler_window": w,
        "max_horizon": horizon,
        "fit_range": [int(k) for k in est.fit_range],
    }
    return float(est.exponent), info


def evaluate_dynamics(
    model: nn.Module,
    test_series: Any,
    *,
    time_step: float,
    true_lyapunov_spectrum: Sequence[float] | None = None,
    n_lyapunov: int | None = None,
    vpt_threshold: float = 0.4,
    vpt_error: str = "nrmse",
    vpt_mode: str = "per_step",
    **dsr_options: Any,
) -> DSREvaluation:
    """GTF-protocol scores and the valid prediction time of ``model`` on ``test_series (T, N)``.

    Args:
        model: a latent model with ``init_state``/``step``/``observe`` (:class:`emulators.ShPLRNN`:
            all scores incl. its Lyapunov spectrum), or any model :func:`rollout_sequence` runs
            from a single point (:class:`emulators.NeuralODE`): then the free run and the
            ``PE`` predictions come from :func:`rollout_sequence` and no model spectrum is computed.
        test_series: ``(T, N)`` observations sampled every ``time_step`` time units.
        time_step: sampling interval in the system's time units; exponents are per time unit.
        true_lyapunov_spectrum: the data's spectrum per time unit (e.g. from the catalog);
            ``lambda_max_true`` is its largest value. If ``None`` the data's largest exponent is
            estimated with :func:`physics_metrics.rosenstein` (full state, no delay embedding,
            Theiler window ``w`` = first 1/e crossing of the mean autocorrelation, slope fitted
            over steps ``[3w, 6w]``; a rough estimate, ±40 % on short series);
            ``extra["lambda_max_true_source"]`` says which.
        n_lyapunov: number of model exponents (default: all latent ones).
        vpt_threshold, vpt_error, vpt_mode: the VPT criterion of
            :func:`physics_metrics.valid_prediction_time`. Default: first step at which the
            per-step normalised RMSE ``sqrt(mean_d ((ŷ_t − y_t)/σ_d)²)`` (``σ_d`` the std of the
            test series) exceeds 0.4 (Pathak et al. 2018's valid time criterion).
        **dsr_options: passed to :func:`chaosbench_py.evaluation.evaluate_dsr` (``lyapunov_steps``,
            ``pe_steps``, …).

    Returns:
        :class:`chaosbench_py.evaluation.DSREvaluation` with ``extra`` holding ``vpt`` (Lyapunov
        times, ``vpt_steps · time_step · λ1_true``; NaN when ``λ1_true`` is not positive),
        ``vpt_steps``, ``vpt_time``, the VPT criterion, ``lambda_max_true_source`` and, when
        estimated, ``lambda_max_true_estimate`` settings.

    The free run for VPT starts at ``test_series[0]``; its steps ``1 … T−1`` are compared with
    ``test_series[1:]``.
    """
    x = np.asarray(test_series, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 20:
        raise InputError(f"test_series: expected shape (time ≥ 20, dim), got {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("test_series: contains NaN or inf")
    if not (np.isfinite(time_step) and time_step > 0):
        raise InputError(f"time_step={time_step!r}: must be positive and finite")
    extra: dict[str, Any] = {}
    if true_lyapunov_spectrum is not None:
        spec = np.asarray(true_lyapunov_spectrum, dtype=np.float64).ravel()
        if spec.size == 0 or not np.isfinite(spec).all():
            raise InputError("true_lyapunov_spectrum: need finite exponents")
        lam_true = float(spec.max())
        extra["lambda_max_true_source"] = "given"
        extra["lyapunov_spectrum_true"] = [float(v) for v in np.sort(spec)[::-1]]
    else:
        lam_true, info = _data_lambda_max(x, float(time_step))
        extra["lambda_max_true_source"] = "rosenstein estimate from test_series"
        extra["lambda_max_true_estimate"] = info

    latent = all(callable(getattr(model, a, None)) for a in ("init_state", "step", "observe"))
    length_factor = float(dsr_options.get("length_factor", 1.25))
    pe_steps = int(dsr_options.get("pe_steps", 20))
    n_total = int(round(length_factor * x.shape[0]))
    run = rollout_sequence(model, x[:1], max(n_total, x.shape[0]) - 1)[0]
    if latent:
        result = evaluate_dsr(
            model,
            x,
            lyapunov_true=lam_true,
            time_step=float(time_step),
            n_exponents=n_lyapunov,
            **dsr_options,
        )
    else:
        preds = rollout_sequence(model, x[:-pe_steps], pe_steps)[:, -1]
        result = evaluate_dsr(
            None,
            x,
            trajectory=run,
            predictions=preds,
            lyapunov_true=lam_true,
            time_step=float(time_step),
            **dsr_options,
        )
        result.lambda_max_true = lam_true
    y_true, y_pred = x[1:], run[1 : x.shape[0]]
    if np.isfinite(y_pred).all():
        vpt = pm.valid_prediction_time(
            y_true, y_pred, vpt_threshold, error=vpt_error, mode=vpt_mode, dt=float(time_step)
        )
        steps = int(vpt.steps)
    else:  # a diverged free run: count the valid steps before the first non-finite one
        finite = int(np.argmin(np.isfinite(y_pred).all(axis=1)))
        steps = 0
        if finite > 1:
            steps = int(
                pm.valid_prediction_time(
                    y_true[:finite], y_pred[:finite], vpt_threshold, error=vpt_error, mode=vpt_mode
                ).steps
            )
    extra.update(
        vpt_steps=steps,
        vpt_time=steps * float(time_step),
        vpt=steps * float(time_step) * lam_true if lam_true > 0 else math.nan,
        vpt_criterion={"error": vpt_error, "mode": vpt_mode, "threshold": float(vpt_threshold)},
        time_step=float(time_step),
    )
    result.extra.update(extra)
    logger.info(
        "evaluate_dynamics: D_stsp %.4g, D_H %.4g, PE %.4g, VPT %d steps (%.3g Lyapunov times)",
        result.d_stsp,
        result.d_h,
        result.pe,
        steps,
        extra["vpt"],
    )
    return result


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def write_dynamics_evaluation(
    evaluation: DSREvaluation, path: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Write a :class:`DSREvaluation` (all fields, ``extra`` included) as JSON, atomically; an existing
    ``path`` is refused (:class:`~chaosbench_py.errors.OutputExistsError`) unless ``overwrite=True``.

    Non-finite numbers are written as the JavaScript literals ``NaN`` / ``Infinity`` (Python's
    ``json`` default), which :func:`read_dynamics_evaluation` reads back. Returns the path.
    """
    if not isinstance(evaluation, DSREvaluation):
        raise InputTypeError(f"evaluation: expected a DSREvaluation, got {type(evaluation).__name__}")
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists; pass overwrite=True to replace it")
    payload = {"schema": "chaosbench_py.dynamics_evaluation", "version": 1}
    payload.update(_jsonable(dataclasses.asdict(evaluation)))
    out = Path(path)
    atomic_write_text(out, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    logger.info("dynamics evaluation written to %s", out)
    return out


def read_dynamics_evaluation(path: str | os.PathLike) -> DSREvaluation:
    """Read a file written by :func:`write_dynamics_evaluation` back into a :class:`DSREvaluation`."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"no dynamics evaluation at {p}")
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CorruptFileError(f"{p}: not a dynamics evaluation file ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict):
        raise CorruptFileError(f"{p}: not a dynamics evaluation file (a JSON {type(payload).__name__})")
    if payload.get("schema") != "chaosbench_py.dynamics_evaluation":
        raise InputError(f"{p}: not a dynamics evaluation file (schema {payload.get('schema')!r})")
    names = {f.name for f in dataclasses.fields(DSREvaluation)}
    missing = [n for n in ("d_stsp", "d_h", "pe", "pe_steps") if n not in payload]
    if missing:
        raise InputError(f"{p}: missing field(s) {missing}")
    kwargs = {k: v for k, v in payload.items() if k in names}
    kwargs["lyapunov_spectrum"] = tuple(kwargs.get("lyapunov_spectrum", ()))
    return DSREvaluation(**kwargs)
