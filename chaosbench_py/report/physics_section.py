"""The report's physics section: conservation, spectra after long rollouts, stability, Lyapunov spectra.

Reads what :func:`chaosbench_py.evaluation.physics.physics_of_rollout` wrote under ``EVAL/physics/`` and
adds a table of the headline figures and three figures (relative change of the invariants vs lead, the
kinetic-energy spectra at the compared leads against the truth's climatology, the leading Lyapunov
exponents of model and solver).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["add_physics_section", "physics_rows"]

_LABELS = {"mass": "mass", "total_energy": "total energy", "potential_enstrophy": "potential enstrophy"}


def _fmt(x: Any, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, spec)


def physics_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The headline figures of a physics summary as ``{"quantity", "model", "truth"}`` rows."""
    rows = []
    cons = summary["conservation"]
    for name, label in _LABELS.items():
        for key, when in (("window", f"first {cons['window_days']:g} d"), ("whole", "whole rollout")):
            model = (cons.get(f"model_{key}") or {}).get(name)
            truth = (cons.get(f"truth_{key}") or {}).get(name) if key == "window" else None
            rows.append({"quantity": f"{label} drift per day, {when}", "model": _fmt(model, ".2e"),
                         "truth": _fmt(truth, ".2e")})  # fmt: skip
    band = summary.get("spectrum_band")
    where = f"degrees {band[0]}–{band[1]}" if band else "smallest quarter of scales"
    for day, ratio in summary["spectrum_ratio_small_scales"].items():
        rows.append({"quantity": f"KE spectrum ratio model/truth, {where}, day {day}",
                     "model": _fmt(ratio), "truth": "1"})  # fmt: skip
    st = summary["stability"]
    blow = [b for b in st["blow_up_days"] if b is not None]
    rows.append({"quantity": f"bounded over {st['days']:g} days", "model": f"{st['n_bounded']} of {st['n_inits']}",
                 "truth": "yes"})  # fmt: skip
    rows.append(
        {"quantity": "blow-up day (first)", "model": _fmt(min(blow)) if blow else "never", "truth": "–"}
    )
    rows.append({"quantity": "settled z: mean ratio / variance ratio to the truth",
                 "model": f"{_fmt(st['final_mean_ratio'], '.4f')} / {_fmt(st['final_variance_ratio'])}",
                 "truth": "1 / 1"})  # fmt: skip
    ly = summary.get("lyapunov")
    if ly:
        truth = ly.get("truth", {})
        for key, label in (("lambda1_per_day", "λ1 (1/day)"), ("doubling_time_days", "error-doubling time (days)"),
                           ("ky_dimension", f"Kaplan–Yorke dimension of the leading {ly['k']}")):  # fmt: skip
            rows.append({"quantity": label, "model": _fmt(ly["model"][key]), "truth": _fmt(truth.get(key))})
    return rows


def _invariants_figure(inv: xr.Dataset) -> Figure:
    fig = Figure(figsize=(11, 3.2))
    axes = fig.subplots(1, 3)
    days = inv["lead_time"].values / np.timedelta64(1, "D")
    for ax, (name, label) in zip(axes, _LABELS.items()):
        for system, style in (("model", "-"), ("truth", "--")):
            if "system" in inv.dims and system not in inv["system"].values:
                continue
            x = inv[name].sel(system=system) if "system" in inv.dims else inv[name]
            rel = x / x.isel(lead_time=0) - 1.0
            for i in range(rel.sizes["init_time"]):
                ax.plot(days, rel.isel(init_time=i).values, style, lw=1,
                        color="C0" if system == "model" else "k", label=system if i == 0 else None)  # fmt: skip
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("lead (days)")
        ax.axhline(0, color="grey", lw=0.5)
    axes[0].set_ylabel("X(t)/X(0) − 1")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _spectra_figure(spectra: xr.Dataset) -> Figure:
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    ell = spectra["wavenumber"].values
    ok = ell > 0
    ax.loglog(ell[ok], spectra["truth"].values[ok], "k", lw=2, label="truth (climatology)")
    if "model" in spectra:
        for i, day in enumerate(spectra["lead_days"].values):
            ax.loglog(
                ell[ok],
                spectra["model"].sel(lead_days=day).values[ok],
                color=f"C{i}",
                label=f"model, day {day:g}",
            )
    ax.set_xlabel("total wavenumber l")
    ax.set_ylabel("kinetic energy E(l) (m² s⁻²)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _lyapunov_figure(lyap: xr.Dataset) -> Figure:
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    k = lyap["exponent"].values
    for system, color in (("model", "C0"), ("truth", "k")):
        if system not in lyap["system"].values:
            continue
        med = lyap["exponent_median"].sel(system=system).values
        spread = lyap["exponent_spread"].sel(system=system).values
        ax.errorbar(k, med, yerr=spread, fmt="o-", color=color, capsize=3, label=system)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("exponent index i")
    ax.set_ylabel("λ_i (1/day)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def add_physics_section(report: Any, eval_dir: str | Path, name: str) -> bool:
    """Add the physics section of ``eval_dir`` to ``report``; False (nothing added) without one."""
    phys = Path(eval_dir) / "physics"
    if not (phys / "summary.json").exists():
        return False
    summary = json.loads((phys / "summary.json").read_text())
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "model"
    st = summary["stability"]
    report.heading(f"Physics of the rollout — {name}", level=3)
    report.text(
        f"{st['n_inits']} autoregressive rollouts of {st['days']:g} simulated days ({summary['n_steps']} steps of "
        f"{summary['step']}): conservation of the shallow-water invariants (relative drift per day, median over "
        "inits, least-squares slope of X(t)/X(0) − 1), the kinetic-energy spectrum on the sphere (spherical "
        "harmonics of vorticity and divergence) against the truth's climatological spectrum, stability and the "
        "climate the model settles into, and the leading Lyapunov exponents of the model's one-step map beside "
        "the solver's over the same step (JVP + QR, median over initial states)."
    )
    report.table(physics_rows(summary), caption="Physics of the rollout: model against the truth.")
    if (phys / "invariants.nc").exists():
        with xr.open_dataset(phys / "invariants.nc") as inv:
            report.figure(_invariants_figure(inv.load()), f"physics_invariants_{slug}",
                          "Relative change of the invariants along each rollout: model (blue) and truth (dashed, "
                          "where the data hold it).")  # fmt: skip
    if (phys / "spectra.nc").exists():
        with xr.open_dataset(phys / "spectra.nc") as sp:
            report.figure(_spectra_figure(sp.load()), f"physics_spectra_{slug}",
                          "Kinetic-energy spectra of the model at the compared leads (mean over inits) and the "
                          "truth's climatological spectrum.")  # fmt: skip
    if (phys / "lyapunov.nc").exists():
        with xr.open_dataset(phys / "lyapunov.nc") as ly:
            report.figure(_lyapunov_figure(ly.load()), f"physics_lyapunov_{slug}",
                          "Leading Lyapunov exponents (median ± 1.4826·MAD over initial states) of the model's "
                          "one-step map and of the solver over the same step.")  # fmt: skip
    return True
