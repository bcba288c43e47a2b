"""Whole report sections: a weather emulator against its references, a dynamical-systems reconstruction.

Each function appends a heading, tables, figures and short texts to a :class:`~chaosbench_py.report.Report`
(nothing is written until :meth:`Report.write`). Figures come from :mod:`chaosbench_py.report.plots`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError, InputTypeError
from .document import Report
from .maps import plot_forecast_maps
from .plots import (
    VariableSpec,
    _as_timedelta,
    _fmt_lead,
    _label,
    _metric_names,
    _parse_variable,
    plot_attractors,
    plot_lyapunov_spectra,
    plot_scores_vs_lead,
    plot_zonal_power_spectra,
    score_curves,
)

logger = logging.getLogger(__name__)

__all__ = ["add_dynamics_section", "add_weather_section", "report_scores"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "section"


def _with_metric(scorecards: Mapping[str, xr.Dataset], metric: str) -> dict[str, xr.Dataset]:
    return {k: v for k, v in scorecards.items() if metric in _metric_names(v)}


def report_scores(scorecards: Mapping[str, xr.Dataset]) -> list[str]:
    """The scores a report shows: every registered score with ``report=True``
    (:data:`physics_metrics.weather.SCORES`, in registry order) that at least one scorecard holds."""
    from physics_metrics.weather import SCORES

    present = {m for card in scorecards.values() for m in _metric_names(card)}
    return [name for name, spec in SCORES.items() if spec.report and name in present]


def _table_leads(scorecards: Mapping[str, xr.Dataset], n: int = 4) -> np.ndarray:
    leads = next(iter(scorecards.values()))["lead_time"].values
    idx = np.unique(np.round(np.linspace(0, leads.size - 1, min(n, leads.size))).astype(int))
    return leads[idx]


def add_weather_section(
    report: Report,
    name: str,
    forecast: xr.Dataset,
    truth: xr.Dataset,
    scorecards: Mapping[str, xr.Dataset],
    *,
    variables: Sequence[VariableSpec],
    map_lead_times: Sequence[Any],
    land_sea_mask: xr.DataArray | None = None,
    table_lead_times: Sequence[Any] | None = None,
) -> None:
    """Append a weather-emulator section: score table, scores vs lead time, maps and zonal spectra.

    ``forecast``/``truth``: the emulator's forecast ``(init_time, lead_time, [member], [level], latitude,
    longitude)`` and the truth ``(time, [level], latitude, longitude)`` (used for maps and spectra).
    ``scorecards``: ``{model: scorecard}`` as for :func:`~chaosbench_py.report.plots.plot_scores_vs_lead`
    (reference rows of scorecards made with ``reference=`` appear under the reference's name).
    ``variables``: names or ``(name, level)`` pairs. ``map_lead_times``: lead times (timedelta-like or
    days) of the maps and spectra. ``table_lead_times``: leads of the table (default: up to four spread
    over the scorecards' leads). ``land_sea_mask``: optional, for coastlines when cartopy is not usable.

    Adds: a table of the scores a report shows (:func:`report_scores`: the registered scores with
    ``report=True`` that the scorecards hold — RMSE, ACC, CRPS, SSR of the built-in ones) per variable,
    model and table lead; one figure per such score vs lead (only the scorecards that have it); per
    variable, one map figure per map lead and one zonal-spectrum figure. Raises ``ValueError`` naming a variable, level,
    lead time or metric that is missing.
    """
    if not isinstance(report, Report):
        raise InputTypeError(f"report: expected a Report, got {type(report).__name__}")
    if not scorecards:
        raise InputError("scorecards: empty mapping")
    if isinstance(variables, str):
        variables = [variables]
    specs = [_parse_variable(v, None) for v in variables]
    if not specs:
        raise InputError("variables: empty")
    if isinstance(map_lead_times, (str, int, float, np.timedelta64, pd.Timedelta)):
        map_lead_times = [map_lead_times]
    for v, _ in specs:
        if v not in forecast.data_vars:
            raise InputError(f"variables: {v!r} is not in the forecast (has {list(forecast.data_vars)})")
    slug = _slug(name)
    report.heading(name)
    n_init = forecast.sizes.get("init_time", 0)
    report.text(
        f"{n_init} initialisations, {forecast.sizes.get('lead_time', 0)} lead times"
        + (f", {forecast.sizes['member']} members" if "member" in forecast.dims else "")
        + f". Scorecards: {', '.join(scorecards)} (convention "
        f"{next(iter(scorecards.values())).attrs.get('convention', '?')})."
    )

    # table -------------------------------------------------------------------------------------
    from physics_metrics.weather import SCORES

    if table_lead_times is None:
        leads = _table_leads(scorecards)
    else:
        leads = np.array([_as_timedelta(x, "table_lead_times") for x in table_lead_times])
    shown = report_scores(scorecards)
    if not shown:
        raise InputError(
            f"scorecards: hold none of the scores a report shows ({[n for n, s in SCORES.items() if s.report]}); "
            f"they have {sorted({m for c in scorecards.values() for m in _metric_names(c)})}"
        )
    labels = {m: SCORES[m].label for m in shown}
    rows = []
    for var, lev in specs:
        curves = {m: score_curves(_with_metric(scorecards, m), m, var, lev) for m in shown}
        models = list(dict.fromkeys(k for c in curves.values() for k in c))
        for model in models:
            first = next(c[model] for c in curves.values() if model in c)
            lev_used = first["level"].item() if "level" in first.coords else lev
            row: dict[str, Any] = {"variable": _label(var, lev_used), "model": model}
            for m in shown:
                c = curves[m].get(model)
                for lt in leads:
                    val = math.nan
                    if c is not None:
                        lead_ns = c["lead_time"].values.astype("timedelta64[ns]")
                        hit = np.flatnonzero(lead_ns == np.asarray(lt).astype("timedelta64[ns]"))
                        if hit.size == 0:
                            raise InputError(
                                f"table_lead_times: {pd.Timedelta(lt)} is not in scorecard {model!r}"
                            )
                        val = float(c.values[hit[0]])
                    row[f"{labels[m]} {_fmt_lead(lt)}"] = val
            rows.append(row)
    report.table(
        rows,
        f"{name}: {', '.join(labels.values())} at selected lead times ('–': not in that scorecard, or undefined, "
        "e.g. the ACC of a climatology forecast).",
    )

    # scores vs lead ------------------------------------------------------------------------------
    for m in shown:
        fig = plot_scores_vs_lead(_with_metric(scorecards, m), m, variables=specs)
        units = "" if SCORES[m].units in ("variable", "1") else f" ({SCORES[m].units})"
        report.figure(
            fig, f"{slug}_{m}_vs_lead", f"{name}: {labels[m]}{units} vs lead time (dashed: reference rows)."
        )

    # maps and spectra ----------------------------------------------------------------------------
    for var, lev in specs:
        tag = _slug(_label(var, lev))
        for lt in map_lead_times:
            fig = plot_forecast_maps(forecast, truth, var, lt, level=lev, land_sea_mask=land_sea_mask)
            lead_tag = _slug(_fmt_lead(fig.map_info["lead_time"]))
            report.figure(fig, f"{slug}_map_{tag}_{lead_tag}", f"{name} — {fig.caption}")
        try:
            fig = plot_zonal_power_spectra(forecast, truth, var, map_lead_times, level=lev)
        except ValueError as err:
            if "longitude" not in str(err):
                raise
            logger.warning("no zonal spectrum of %s: %s", var, err)
            report.text(f"No zonal spectrum of {_label(var, lev)}: {err}")
        else:
            report.figure(
                fig,
                f"{slug}_spectrum_{tag}",
                f"{name}: zonal energy spectra of {_label(var, lev)}, truth vs forecast at the map lead times.",
            )


def _vpt_columns(ev: Any) -> dict[str, float]:
    out = {}
    for k, v in (getattr(ev, "extra", None) or {}).items():
        if "vpt" in str(k).lower() or "valid_prediction" in str(k).lower():
            try:
                out[str(k)] = float(v)
            except (TypeError, ValueError):
                logger.debug("extra[%r] is not a number (e.g. a description); left out of the table", k)
    return out


def add_dynamics_section(
    report: Report,
    name: str,
    evaluations: Mapping[str, Any],
    data_series: Any,
    model_series: Mapping[str, Any] | Any,
    data_spectrum: Sequence[float] | None = None,
    *,
    dims: Sequence[int] | None = None,
) -> None:
    """Append a dynamical-systems-reconstruction section: invariants table, attractors, Lyapunov spectra.

    ``evaluations``: ``{model: DSREvaluation}`` (:func:`chaosbench_py.evaluation.evaluate_dsr`).
    ``data_series``: the test series ``(T, N)``; ``model_series``: ``{model: free run (T', N)}`` (or one
    array, named after the only evaluation). ``data_spectrum``: the data's Lyapunov spectrum, if known;
    it is plotted and, where an evaluation has no ``lambda_max_true``, its largest exponent is used as
    λ1 true and the relative error ``|λ1_model − λ1_true| / |λ1_true|`` is computed here. ``dims``: the
    projection of the attractor plot (default ``(0, 2)`` for ``N ≥ 3``, ``(0, 1)`` for ``N = 2``).

    Table columns: model, D_stsp, D_H, PE(n), λ1 model, λ1 true, λ1 rel. error, every ``extra`` entry
    whose key contains ``vpt`` (e.g. a valid prediction time), diverged.
    """
    if not isinstance(report, Report):
        raise InputTypeError(f"report: expected a Report, got {type(report).__name__}")
    if not evaluations:
        raise InputError("evaluations: empty mapping")
    data = np.asarray(data_series, dtype=np.float64)
    if data.ndim != 2:
        raise InputError(f"data_series: expected shape (time, dim), got {data.shape}")
    if not isinstance(model_series, Mapping):
        key = next(iter(evaluations)) if len(evaluations) == 1 else "model"
        model_series = {key: model_series}
    lam_data = math.nan
    if data_spectrum is not None:
        spec = np.asarray(data_spectrum, dtype=np.float64).ravel()
        if spec.size == 0:
            raise InputError("data_spectrum: empty")
        lam_data = float(spec.max())
    slug = _slug(name)
    report.heading(name)

    vpt_keys: list[str] = []
    for ev in evaluations.values():
        vpt_keys += [k for k in _vpt_columns(ev) if k not in vpt_keys]
    rows = []
    for model, ev in evaluations.items():
        for attr in ("d_stsp", "d_h", "pe", "pe_steps", "lyapunov_spectrum"):
            if not hasattr(ev, attr):
                raise InputTypeError(f"evaluations[{model!r}]: expected a DSREvaluation, missing {attr!r}")
        lam_model = float(ev.lyapunov_spectrum[0]) if len(ev.lyapunov_spectrum) else math.nan
        lam_true = float(ev.lambda_max_true)
        rel = float(ev.lambda_max_rel_error)
        if math.isnan(lam_true) and not math.isnan(lam_data):
            lam_true = lam_data
            if lam_true != 0 and not math.isnan(lam_model):
                rel = abs(lam_model - lam_true) / abs(lam_true)
        row: dict[str, Any] = {
            "model": model,
            "D_stsp": float(ev.d_stsp),
            "D_H": float(ev.d_h),
            f"PE({ev.pe_steps})": float(ev.pe),
            "λ1 model": lam_model,
            "λ1 true": lam_true,
            "λ1 rel. error": rel,
        }
        vpt = _vpt_columns(ev)
        for k in vpt_keys:
            row[k] = vpt.get(k, math.nan)
        row["diverged"] = "yes" if ev.diverged else "no"
        rows.append(row)
    report.table(
        rows,
        f"{name}: GTF-protocol scores (D_stsp binned KL, D_H Hellinger of smoothed power spectra, "
        "PE n-step error; λ in 1 / time unit).",
    )

    n_dim = data.shape[1]
    if dims is None:
        dims = (0, 2) if n_dim >= 3 else (0, 1)
    if n_dim < 2:
        report.text("One-dimensional series: no attractor projection drawn.")
    else:
        series = {"data": data, **{str(k): v for k, v in model_series.items()}}
        fig = plot_attractors(series, dims=dims)
        report.figure(
            fig, f"{slug}_attractors", f"{name}: attractor projections on (x{dims[0] + 1}, x{dims[1] + 1})."
        )

    spectra: dict[str, Sequence[float]] = {}
    if data_spectrum is not None:
        spectra["data"] = data_spectrum
    for model, ev in evaluations.items():
        if len(ev.lyapunov_spectrum):
            spectra[str(model)] = ev.lyapunov_spectrum
    if spectra:
        fig = plot_lyapunov_spectra(spectra)
        report.figure(fig, f"{slug}_lyapunov", f"{name}: Lyapunov spectra (1 / time unit).")
    else:
        report.text("No Lyapunov spectra were computed.")
