"""How sure is a scorecard: per-init scores, bootstrap intervals and paired tests of an evaluation.

What :func:`chaosbench_py.evaluation.evaluate_run` adds to a gridded evaluation folder (and what
``chaosbench compare`` reads):

* ``per_init/<name>.nc`` — the per-init ``mse`` / ``acc`` of the model and of each reference forecast
  (:func:`physics_metrics.weather.per_init_scores`), the experimental units of everything below;
* ``intervals.csv`` — 95 % bootstrap intervals over inits of RMSE (``sqrt(mean mse)`` of each resample)
  and ACC, for the model and each reference (:func:`physics_metrics.weather.scorecard_intervals`);
* ``paired_tests.csv`` — the model against each reference on the same inits: sign-flip permutation
  test of the per-init MSE difference, per variable, level and lead
  (:func:`physics_metrics.weather.paired_score_test`).

:func:`compare_evaluations` runs the same paired test between the models of two evaluation folders on
their common inits — the comparison "is model A better than model B" a reviewer asks for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from physics_metrics.weather import paired_score_test, per_init_scores, scorecard_intervals
from physics_metrics.weather.references import climatology_forecast, persistence_forecast

from ..errors import MissingInputError, OutputExistsError
from ..files import atomic_output, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "add_uncertainty_table", "compare_evaluations", "paired_tests_table", "score_uncertainty", "write_score_uncertainty",
]  # fmt: skip


def _hours(leads: Any) -> np.ndarray:
    return np.asarray(leads) / np.timedelta64(1, "h")


def _levels(da: xr.DataArray) -> list[Any]:
    return list(da["level"].values) if "level" in da.dims else [None]


def _level_text(lev: Any) -> str:
    return "" if lev is None else f"{float(lev):g}"


def _intervals_rows(name: str, ci: xr.Dataset) -> list[dict[str, Any]]:
    rows = []
    for v, da in ci.data_vars.items():
        hours = _hours(da["lead_time"].values)
        for lev in _levels(da):
            sub = da if lev is None else da.sel(level=lev)
            for metric in sub["metric"].values:
                vals = sub.sel(metric=metric).transpose("bound", "lead_time").values
                for i, h in enumerate(hours):
                    rows.append({"model": name, "variable": str(v), "level": _level_text(lev), "metric": str(metric),
                                 "lead_time_hours": h, "estimate": vals[0, i], "low": vals[1, i], "high": vals[2, i],
                                 "n_inits": ci.attrs["n_inits"], "confidence": ci.attrs["confidence"]})  # fmt: skip
    return rows


def paired_tests_table(test: xr.Dataset, model: str, baseline: str) -> pd.DataFrame:
    """The Dataset of :func:`physics_metrics.weather.paired_score_test` (metric ``mse``) as tidy rows:
    ``model, baseline, variable, level, lead_time_hours, rmse_model, rmse_baseline, mean_mse_difference,
    p_value, test, n_inits``."""
    rows = []
    variables = sorted({k.rsplit("_", 2)[0] for k in test.data_vars if k.endswith("_p_value")})
    for v in variables:
        p = test[f"{v}_p_value"]
        hours = _hours(p["lead_time"].values)
        for lev in _levels(p):
            pick = (lambda da: da) if lev is None else (lambda da, lev=lev: da.sel(level=lev))
            cols = {q: pick(test[f"{v}_{q}"]).transpose("lead_time").values
                    for q in ("rmse_a", "rmse_b", "mean_difference", "p_value")}  # fmt: skip
            for i, h in enumerate(hours):
                rows.append({"model": model, "baseline": baseline, "variable": v, "level": _level_text(lev),
                             "lead_time_hours": h, "rmse_model": cols["rmse_a"][i], "rmse_baseline": cols["rmse_b"][i],
                             "mean_mse_difference": cols["mean_difference"][i], "p_value": cols["p_value"][i],
                             "test": test.attrs["test"], "n_inits": test.attrs["n_inits"]})  # fmt: skip
    return pd.DataFrame(rows)


def score_uncertainty(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    climatology: xr.Dataset | None,
    out_dir: str | os.PathLike,
    *,
    references: Sequence[str] = ("persistence", "climatology"),
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``per_init/``, ``intervals.csv`` and ``paired_tests.csv`` (module docstring) into ``out_dir``.

    ``forecast`` ``(init_time, lead_time, [member], [level], lat, lon)``; ``truth`` the gridded state on
    the forecast's variables and levels; ``climatology`` ``(dayofyear, …)`` or None (then no ACC and no
    climatology reference). Returns ``{"n_inits", "references"}``. Files are written atomically.
    """
    inits, leads = forecast["init_time"].values, forecast["lead_time"].values
    per = {"model": per_init_scores(forecast, truth, climatology)}
    for name in references:
        if name == "persistence":
            per[name] = per_init_scores(persistence_forecast(truth, inits, leads), truth, climatology)
        elif name == "climatology" and climatology is not None:
            per[name] = per_init_scores(climatology_forecast(climatology, inits, leads), truth, climatology)
    return write_score_uncertainty(per, out_dir, n_resamples=n_resamples, seed=seed)


def write_score_uncertainty(
    per: dict[str, xr.Dataset], out_dir: str | os.PathLike, *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Write the per-init scores ``per`` (``{"model": ds, reference: ds, …}``, each from
    :func:`~physics_metrics.weather.per_init_scores`) as ``per_init/NAME.nc``, their bootstrap intervals
    (``intervals.csv``) and the paired tests of the model against each reference (``paired_tests.csv``),
    atomically. Returns ``{"n_inits", "references"}``."""
    out = Path(out_dir)
    (out / "per_init").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    tests = []
    for name, ds in per.items():
        with atomic_output(out / "per_init" / f"{name}.nc", ".nc") as tmp:
            ds.to_netcdf(tmp)
        if ds.sizes["init_time"] >= 2:
            rows += _intervals_rows(name, scorecard_intervals(ds, n_resamples=n_resamples, seed=seed))
            if name != "model":
                tests.append(
                    paired_tests_table(paired_score_test(per["model"], ds, seed=seed), "model", name)
                )
    if rows:
        atomic_write_text(out / "intervals.csv", pd.DataFrame(rows).to_csv(index=False, float_format="%.10g"))
    if tests:
        table = pd.concat(tests, ignore_index=True)
        atomic_write_text(out / "paired_tests.csv", table.to_csv(index=False, float_format="%.10g"))
    n_inits = int(per["model"].sizes["init_time"])
    logger.info("score_uncertainty: %d inits, references %s", n_inits, [n for n in per if n != "model"])
    return {"n_inits": n_inits, "references": [n for n in per if n != "model"]}


def _per_init_of(eval_dir: str | os.PathLike) -> xr.Dataset:
    path = Path(eval_dir) / "per_init" / "model.nc"
    if not path.exists():
        raise MissingInputError(
            f"{path}: no per-init scores (an evaluation folder of `chaosbench evaluate` on a gridded run holds "
            "them; re-run the evaluation with this version to add them)"
        )
    return xr.load_dataset(path)


def compare_evaluations(
    eval_a: str | os.PathLike,
    eval_b: str | os.PathLike,
    *,
    test: str = "permutation",
    alternative: str = "two-sided",
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired test of the model of evaluation folder ``eval_a`` against that of ``eval_b`` on their common
    inits (per-init MSE differences; ``test`` as :func:`physics_metrics.weather.paired_score_test`).

    Returns the tidy table of :func:`paired_tests_table` (model = A's folder name, baseline = B's); with
    ``out`` also writes it as CSV (atomically; an existing file is refused unless ``overwrite``).
    """
    a_dir, b_dir = Path(eval_a), Path(eval_b)
    if out is not None and Path(out).exists() and not overwrite:
        raise OutputExistsError(f"{out}: exists; pass overwrite=True (--overwrite) to replace it")
    result = paired_score_test(
        _per_init_of(a_dir), _per_init_of(b_dir), test=test, alternative=alternative, seed=seed
    )
    table = paired_tests_table(result, a_dir.name, b_dir.name)
    if out is not None:
        atomic_write_text(Path(out), table.to_csv(index=False, float_format="%.10g"))
    return table


def _read_table(path: Path) -> pd.DataFrame:
    """A CSV of this module: ``level`` as text ("" for surface variables), numbers as floats (NaN kept)."""
    table = pd.read_csv(path, dtype={"level": str})
    table["level"] = table["level"].fillna("")
    return table


def add_uncertainty_table(report: Any, eval_dir: str | os.PathLike, *, max_leads: int = 4) -> bool:
    """Add to ``report`` a table of RMSE with its 95 % interval over inits for the model and the references,
    and the p-value of the model against each reference, at up to ``max_leads`` lead times spread over the
    evaluation (first variable/level of each). Returns False (nothing added) for an evaluation without
    ``intervals.csv`` (older evaluations, trajectory runs)."""
    ev = Path(eval_dir)
    if not (ev / "intervals.csv").exists():
        return False
    ci = _read_table(ev / "intervals.csv")
    ci = ci[ci.metric == "rmse"]
    tests = (
        _read_table(ev / "paired_tests.csv")
        if (ev / "paired_tests.csv").exists()
        else pd.DataFrame(columns=["variable", "level", "lead_time_hours", "baseline", "p_value"])
    )
    leads = np.sort(ci["lead_time_hours"].unique())
    pick = leads[np.unique(np.linspace(0, leads.size - 1, min(max_leads, leads.size)).round().astype(int))]
    rows = []
    for (var, lev), sub in ci.groupby(["variable", "level"], sort=False):
        for h in pick:
            row: dict[str, Any] = {"variable": var + (f" {lev}" if lev else ""), "lead (h)": f"{h:g}"}
            for model, r in sub[sub.lead_time_hours == h].set_index("model").iterrows():
                row[f"RMSE {model}"] = f"{r['estimate']:.4g} [{r['low']:.4g}, {r['high']:.4g}]"
            t = tests[(tests.variable == var) & (tests.level == lev) & (tests.lead_time_hours == h)]
            for _, r in t.iterrows():
                row[f"p vs {r['baseline']}"] = f"{float(r['p_value']):.3g}"
            rows.append(row)
    n = int(ci["n_inits"].iloc[0]) if len(ci) else 0
    report.table(
        rows,
        caption=f"RMSE with its 95 % bootstrap interval over the {n} initialisations (RMSE = sqrt of the mean "
        "MSE of each resample) and the p-value of a paired sign-flip permutation test of the per-init MSE "
        "difference between the model and each reference on the same inits (two-sided).",
    )
    return True
