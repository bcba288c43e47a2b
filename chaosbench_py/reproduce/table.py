"""The reproduction table: ours (median ± MAD over seeds, 95 % interval) beside the published numbers.

For every model and metric of a recipe:

* **median ± MAD** over training seeds, MAD unscaled (``med |x_i − med x|``), the convention of the
  GTF paper's "median ± median absolute deviation over 20 runs" (Hess et al., ICML 2023), computed by
  :func:`physics_metrics.median_mad`;
* a **95 % percentile-bootstrap interval of the median** over seeds
  (:func:`physics_metrics.bootstrap_interval`, 10 000 resamples, seed 0; needs ≥ 2 finite seeds);
* the **published** value and spread, with the paper named in the recipe's citation.

A diverged run counts as ``inf`` (lower-is-better metrics): the median then stays finite as long as
fewer than half of the seeds diverged, and the interval is left out.

The **paired test** of the main model against its strongest baseline (the baseline with the best
median of the recipe's ``paired_metric``; variants of the main model, such as aGTF beside GTF, are not
baselines): a two-sided sign-flip permutation test of the mean
difference (:func:`physics_metrics.paired_permutation_test`; exact for ≤ 13 units) on per-seed
values (``paired_unit="seed"``) or on per-initial-condition values averaged over seeds
(``paired_unit="ic"``: every seed forecasts from the same held-out initial conditions).

**Goals** are checked on the median over seeds. **Compute**: CPU seconds per seed (training,
evaluation), optimiser steps per seed, and — for the main model, where the published budget is
larger — the CPU time the published training length would take at the measured rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import physics_metrics as pm

from ..files import atomic_write_text
from .registry import Budget, Recipe

__all__ = ["build_table", "format_value", "render_markdown", "summarise", "write_report"]


def format_value(v: Any) -> str:
    """Three significant digits; ``inf`` / ``nan`` / ``–`` for missing."""
    if v is None:
        return "–"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
        return f"{v:.2e}"
    return f"{v:.3g}"


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """``{"median", "mad", "low", "high", "n", "n_finite", "values"}`` of per-seed values."""
    x = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    finite = x[np.isfinite(x)]
    out: dict[str, Any] = {"n": int(x.size), "n_finite": int(finite.size), "values": x.tolist()}
    if x.size == 0 or np.isnan(x).all():
        return out | {"median": math.nan, "mad": math.nan, "low": None, "high": None}
    if finite.size == x.size and x.size >= 2:
        mm = pm.median_mad(x)
        ci = pm.bootstrap_interval(x, "median", confidence=0.95, n_resamples=10_000, seed=0)
        return out | {
            "median": float(mm.median),
            "mad": float(mm.mad),
            "low": float(ci.low),
            "high": float(ci.high),
        }
    xs = x[~np.isnan(x)]
    med = float(np.median(xs))
    with np.errstate(invalid="ignore"):
        dev = np.abs(xs - med)
    dev = dev[~np.isnan(dev)]
    mad = float(np.median(dev)) if dev.size else math.nan
    return out | {"median": med, "mad": mad, "low": None, "high": None}


def _paired(recipe: Recipe, evals: Mapping[str, list[dict]], summaries: dict) -> dict[str, Any] | None:
    key = recipe.paired_metric
    metric = next((m for m in recipe.metrics if m.key == key), None)
    baselines = [m for m in recipe.models if not (m.main or m.variant) and evals.get(m.name)]
    if metric is None or not baselines:
        return None
    sign = 1.0 if metric.lower_is_better else -1.0

    def score(name: str) -> float:
        med = summaries[name][key]["median"]
        return sign * med if np.isfinite(med) else math.inf

    best = min(baselines, key=lambda m: score(m.name))
    main = recipe.main

    # only seeds both models finished are paired (with --only-seeds a table can be partial)
    common = {r["seed"] for r in evals.get(main.name, [])} & {r["seed"] for r in evals[best.name]}

    def units(name: str) -> np.ndarray:
        runs = sorted((r for r in evals.get(name, []) if r["seed"] in common), key=lambda r: r["seed"])
        if recipe.paired_unit == "ic":
            per = [r["units"].get(key) for r in runs if r["units"].get(key) is not None]
            return np.mean(np.asarray(per, dtype=np.float64), axis=0) if per else np.empty(0)
        return np.asarray([r["metrics"].get(key, np.nan) for r in runs], dtype=np.float64)

    a, b = units(main.name), units(best.name)
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    out = {"metric": key, "main": main.label, "baseline": best.label, "unit": recipe.paired_unit,
           "n": int(ok.sum()), "dropped_non_finite": int(n - ok.sum())}  # fmt: skip
    if ok.sum() < 2:
        return out | {"p_value": None, "mean_difference": None, "method": "fewer than 2 finite paired units"}
    t = pm.paired_permutation_test(
        a[ok], b[ok], statistic="mean", alternative="two-sided", n_resamples=10_000, seed=0
    )
    return out | {"p_value": float(t.p_value), "mean_difference": float(t.mean_difference),
                  "median_difference": float(t.median_difference), "method": t.method}  # fmt: skip


def build_table(
    recipe: Recipe, budget: Budget, evals: Mapping[str, list[dict]], constants: Mapping[str, Any]
) -> dict[str, Any]:
    """The table of a finished run as plain data (``table.json``): ``rows`` (per model, per metric:
    summary and published), ``goals``, ``paired``, ``compute`` (timing; differs between runs) and
    ``curves`` (time-to-quality points of the main model; their CPU seconds differ between runs too)."""
    summaries: dict[str, dict[str, dict]] = {}
    rows = []
    for spec in recipe.models:
        runs = sorted(evals.get(spec.name, []), key=lambda r: r["seed"])
        if not runs:
            continue
        summaries[spec.name] = {}
        for metric in recipe.metrics:
            if not any(metric.key in r["metrics"] for r in runs):
                continue
            s = summarise([r["metrics"].get(metric.key, math.nan) for r in runs])
            summaries[spec.name][metric.key] = s
            pub = metric.published.get(spec.name)
            rows.append({"model": spec.name, "label": spec.label, "metric": metric.key, "metric_label": metric.label,
                         "seeds": len(runs), **{k: s[k] for k in ("median", "mad", "low", "high", "n_finite")},
                         "values": s["values"], "published": None if pub is None else pub[0],
                         "published_spread": None if pub is None else pub[1]})  # fmt: skip
    goals = []
    for g in recipe.goals:
        s = summaries.get(g.model, {}).get(g.metric)
        value = None if s is None else s["median"]
        bound = g.bound(constants) if (not isinstance(g.threshold, str) or g.threshold in constants) else None
        met = None if value is None or bound is None or not np.isfinite(value) else g.met(value, constants)
        if value is not None and not np.isfinite(value):
            met = False
        goals.append({"goal": g.text, "model": g.model, "metric": g.metric, "median": value, "bound": bound,
                      "met": met})  # fmt: skip
    compute = []
    for spec in recipe.models:
        runs = evals.get(spec.name, [])
        if not runs:
            continue
        train = [r["compute"]["train_cpu_s"] for r in runs]
        steps = int(np.median([r["compute"]["steps"] for r in runs]))
        row = {"model": spec.label, "seeds": len(runs), "steps_per_seed": steps,
               "train_cpu_s_per_seed": float(np.median(train)), "train_cpu_s_total": float(np.sum(train)),
               "eval_cpu_s_per_seed": float(np.median([r["compute"]["eval_cpu_s"] for r in runs]))}  # fmt: skip
        pub_steps = recipe.budgets["published"].steps.get(spec.name)
        if steps and pub_steps and pub_steps > steps:
            rate = row["train_cpu_s_per_seed"] / steps
            row["published_steps"] = pub_steps
            row["cpu_s_per_seed_at_published"] = rate * pub_steps
        compute.append(row)
    curves = {
        f"seed_{r['seed']}": r.get("curve", []) for r in evals.get(recipe.main.name, []) if r.get("curve")
    }
    return {"recipe": recipe.name, "title": recipe.title, "citation": recipe.citation, "source": recipe.source,
            "budget": budget.name, "rows": rows, "goals": goals, "paired": _paired(recipe, evals, summaries),
            "constants": {k: v for k, v in constants.items() if isinstance(v, (int, float, str))},
            "compute": compute, "curves": curves, "curve_metric": recipe.quick_metric_label}  # fmt: skip


def render_markdown(table: dict[str, Any]) -> str:
    """The table as Markdown: ours vs published per model, the 95 % intervals, goals, paired test, compute."""
    lines = [
        f"## {table['title']} — budget `{table['budget']}`",
        "",
        f"Published: {table['citation']} ({table['source']}).",
        "",
    ]
    metrics = list(dict.fromkeys((r["metric"], r["metric_label"]) for r in table["rows"]))
    models = list(dict.fromkeys((r["model"], r["label"]) for r in table["rows"]))
    cell = {(r["model"], r["metric"]): r for r in table["rows"]}
    head = "| model | | seeds | " + " | ".join(lab for _, lab in metrics) + " |"
    lines += [head, "|" + "---|" * (3 + len(metrics))]
    for key, label in models:
        first = next(r for r in table["rows"] if r["model"] == key)
        ours = [cell.get((key, m)) for m, _ in metrics]
        lines.append(
            f"| {label} | ours | {first['seeds']} | "
            + " | ".join(
                "–" if c is None else f"{format_value(c['median'])} ± {format_value(c['mad'])}" for c in ours
            )
            + " |"
        )
        if any(c is not None and c["published"] is not None for c in ours):
            lines.append(f"| {label} | published | | " + " | ".join(
                "–" if c is None or c["published"] is None else
                format_value(c["published"]) + ("" if c["published_spread"] is None else f" ± {format_value(c['published_spread'])}")
                for c in ours) + " |")  # fmt: skip
    lines += ["", "95 % bootstrap interval of the median over seeds:", "",
              "| model | " + " | ".join(lab for _, lab in metrics) + " |", "|" + "---|" * (1 + len(metrics))]  # fmt: skip
    for key, label in models:
        cells = [cell.get((key, m)) for m, _ in metrics]
        lines.append(f"| {label} | " + " | ".join(
            "–" if c is None or c["low"] is None else f"[{format_value(c['low'])}, {format_value(c['high'])}]"
            for c in cells) + " |")  # fmt: skip
    if table["goals"]:
        lines += ["", "| goal | median | bound | met |", "|---|---|---|---|"]
        for g in table["goals"]:
            met = "–" if g["met"] is None else ("yes" if g["met"] else "no")
            lines.append(
                f"| {g['goal']} | {format_value(g['median'])} | {format_value(g['bound'])} | {met} |"
            )
    p = table.get("paired")
    if p:
        pv = "–" if p.get("p_value") is None else format_value(p["p_value"])
        md = "–" if p.get("mean_difference") is None else format_value(p["mean_difference"])
        lines += ["", f"Paired test, {p['main']} vs the strongest baseline {p['baseline']} on {p['metric']} "
                  f"(units: {p['unit']}, n = {p['n']}): mean difference {md}, p = {pv} ({p['method']})."]  # fmt: skip
    if table["compute"]:
        lines += ["", "| compute | seeds | steps/seed | train CPU s/seed | total train CPU s | eval CPU s/seed | "
                  "CPU s/seed at the published length |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for c in table["compute"]:
            pub = c.get("cpu_s_per_seed_at_published")
            lines.append(f"| {c['model']} | {c['seeds']} | {c['steps_per_seed']} | {format_value(c['train_cpu_s_per_seed'])} | "
                         f"{format_value(c['train_cpu_s_total'])} | {format_value(c['eval_cpu_s_per_seed'])} | "
                         + ("–" if pub is None else f"{format_value(pub)} ({c['published_steps']} steps)") + " |")  # fmt: skip
    if table.get("constants"):
        lines += ["", "Constants: " + ", ".join(f"{k} = {format_value(v) if not isinstance(v, str) else v}"
                                                for k, v in sorted(table["constants"].items()))]  # fmt: skip
    return "\n".join(lines) + "\n"


def _curve_figure(table: dict[str, Any]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for name, pts in sorted(table["curves"].items()):
        ax.plot([p["cpu_s"] for p in pts], [p["value"] for p in pts], "o-", ms=3, label=name)
    ax.set_xlabel("training CPU seconds")
    ax.set_ylabel(table["curve_metric"])
    ax.set_title(f"{table['recipe']}: time to quality")
    ax.legend(fontsize=7)
    return fig


def write_report(
    recipe: Recipe,
    budget: Budget,
    table: dict[str, Any],
    evals: Mapping[str, list[dict]],
    payload: dict,
    out: Path,
) -> Path:
    """Write ``OUT/report/``: ``table.md``, ``table.json``, and ``report.md`` / ``report.html`` with the
    recipe's figures and the time-to-quality curve. Rebuilt from the evaluations on every run."""
    from ..report import Report

    rep_dir = out / "report"
    md = render_markdown(table)
    report = Report(f"Reproduction: {recipe.title}", rep_dir)
    report.text(md)  # the Markdown table goes in verbatim (report.md); the HTML shows it as text
    if recipe.notes:
        report.text(recipe.notes)
    if table["curves"]:
        report.figure(
            _curve_figure(table),
            "time_to_quality",
            f"{table['curve_metric']} vs training CPU seconds (main model)",
        )
    artifacts = {}
    for spec in recipe.models:
        path = out / "evals" / spec.name / "seed_0.npz"
        if path.exists():
            with np.load(path) as z:
                artifacts[spec.label] = {k: z[k] for k in z.files}
    if recipe.plots is not None and artifacts:
        recipe.plots(report, payload, artifacts)
    atomic_write_text(rep_dir / "table.md", md)
    import json

    atomic_write_text(rep_dir / "table.json", json.dumps(table, indent=1, default=float))
    return report.write(overwrite=True)
