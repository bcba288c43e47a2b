"""The main job on the embedded default: no downloads, a few minutes on 2 CPU cores.

What it does (each step is a public function a user can call on its own):

1. Generates trajectory ensembles of catalog systems with the batched integrator and writes the
   Lorenz-63 ensemble to a zarr store (chunked, resumable), then reopens it lazily.
2. Computes Lyapunov spectra (tangent-space QR, batched over initial conditions) of a set of
   flows and of the Hénon map, and sets them beside the published reference values.
3. Computes the dimensions (Kaplan–Yorke from the spectrum, correlation dimension from data) and
   the state-space / power-spectrum divergences between independent ensembles (the noise floor
   any emulator is judged against).
4. Writes ``report.md`` + ``report.html`` with plots (attractors, Lyapunov convergence, the
   Kuramoto–Sivashinsky space-time field) and ``invariants.csv``.

Later issues extend the job with emulator training, rollout and the weather scorecard.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .report import Report, atomic_write_text
from .simulate import generate_to_store, generate_trajectories, open_trajectories
from .systems import get_system, list_systems

logger = logging.getLogger(__name__)

# Flows whose spectrum the job computes: (name, factory kwargs, RK4 step in periods).
SPECTRUM_FLOWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Lorenz", {}),
    ("Rossler", {}),
    ("Chen", {}),
    ("Halvorsen", {}),
    ("Aizawa", {}),
    ("Thomas", {}),
    ("HyperRossler", {}),
    ("Lorenz96", {"dim": 10, "f": 8.0}),
)
ATTRACTOR_GALLERY = (
    "Lorenz",
    "Rossler",
    "Aizawa",
    "Thomas",
    "Halvorsen",
    "Chen",
    "Dadras",
    "SprottB",
    "Arneodo",
)


def flow_spectrum(name: str, *, quick: bool = False, seed: int = 0, **factory_kwargs: Any):
    """Lyapunov spectrum of a catalog flow from 16 initial conditions on its attractor.

    RK4 step ``period / 100``; averaging over 100 periods (30 with ``quick``) after a transient
    of 20 periods. Returns the :class:`physics_metrics.lyapunov.LyapunovSpectrum`.
    """
    from physics_metrics import lyapunov_spectrum_flow

    system = get_system(name, **factory_kwargs)
    period = system.info.period
    dt = period / 100
    n_periods = 30 if quick else 100
    ds = generate_trajectories(system, 16, 1, transient=20, seed=seed, rtol=1e-8, atol=1e-8)
    x0 = torch.from_numpy(ds["x"].values[:, 0])
    return lyapunov_spectrum_flow(system.rhs, x0, dt=dt, n_steps=int(n_periods * 100), qr_every=5, seed=seed)


def _spectrum_rows(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows, results = [], {}
    for name, kwargs in SPECTRUM_FLOWS[:2] + SPECTRUM_FLOWS[-1:] if quick else SPECTRUM_FLOWS:
        t0 = time.perf_counter()
        res = flow_spectrum(name, quick=quick, **kwargs)
        info = get_system(name, **kwargs).info
        ref = info.invariants
        results[name] = res
        rows.append(
            {
                "system": name + (f" (N={kwargs['dim']})" if "dim" in kwargs else ""),
                "λ1 computed": float(res.exponents[0]),
                "± (spread)": float(res.spread[0]),
                "λ1 ref QR": ref.lyapunov_spectrum[0] if ref.lyapunov_spectrum else float("nan"),
                "λ1 ref naive": ref.max_lyapunov if ref.max_lyapunov is not None else float("nan"),
                "Σλ": float(res.exponents.sum()),
                "D_KY computed": float(res.kaplan_yorke_dimension),
                "D_KY ref": ref.kaplan_yorke_dimension if ref.kaplan_yorke_dimension else float("nan"),
                "seconds": time.perf_counter() - t0,
            }
        )
        logger.info("spectrum of %s: %s", name, res.exponents)
    return rows, results


def run_main_job(out_dir: Path, *, quick: bool = False) -> Path:
    """Run the main job and return the path of ``report.md``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from physics_metrics import (
        correlation_dimension,
        lyapunov_spectrum_map,
        power_spectrum_hellinger,
        state_space_divergence_binned,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report = Report("chaosbench_py — main job on the embedded default", out_dir)
    report.text(
        "Everything below was computed on this machine from the package's own systems catalog "
        "(no downloads). Reference values are the published ones stored with each system "
        "(dysts 0.96 metadata; its naive λ1 estimate and its QR spectrum are different estimates)."
    )

    # 1. the catalog and a trajectory store --------------------------------------------------
    n_flow, n_map, n_pde = (len(list_systems(k)) for k in ("flow", "map", "pde"))
    report.heading("1. The systems catalog")
    report.text(f"{n_flow} flows, {n_map} maps and {n_pde} PDE stepper(s) are registered.")
    n_traj, length = (16, 2000) if quick else (64, 10_000)
    store = out_dir / "data" / "lorenz.zarr"
    if store.exists():
        import shutil

        shutil.rmtree(store)
    t0 = time.perf_counter()
    generate_to_store(store, "Lorenz", n_traj, length, pts_per_period=100, chunk=2000, seed=0)
    t_gen = time.perf_counter() - t0
    lorenz_ds = open_trajectories(store)
    report.text(
        f"Lorenz-63: {n_traj} trajectories × {length} samples (100 per period, DOP853 rtol 1e-9) "
        f"generated as one batch in {t_gen:.1f} s and written chunk by chunk to `data/lorenz.zarr` "
        f"(reopened lazily: {lorenz_ds['x'].data.npartitions} dask chunks)."
    )

    fig = plt.figure(figsize=(12, 11))
    for i, name in enumerate(ATTRACTOR_GALLERY):
        ds = generate_trajectories(name, 1, 3000 if quick else 6000, transient=20, seed=1)
        x = ds["x"].values[0]
        ax = fig.add_subplot(3, 3, i + 1, projection="3d")
        ax.plot(x[:, 0], x[:, 1], x[:, 2], lw=0.3)
        ax.set_title(name)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    report.figure(fig, "attractors", "Attractors of nine catalog flows (60 periods, default parameters).")

    # 2. Lyapunov spectra -----------------------------------------------------------------------
    report.heading("2. Lyapunov spectra (tangent-space QR, 16 initial conditions each)")
    rows, results = _spectrum_rows(quick)
    report.table(rows, "Computed vs published (λ in 1 / time unit of each system).")
    lor = results["Lorenz"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in range(lor.running.shape[1]):
        ax.plot(lor.times, lor.running[:, k], label=f"λ{k + 1}")
    ax.set_xlabel("averaging time")
    ax.set_ylabel("running estimate")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.legend()
    ax.set_title("Lorenz-63: convergence of the spectrum")
    report.figure(fig, "lyapunov_convergence", "Running Lyapunov exponents of Lorenz-63 (mean of 16 ICs).")

    henon = get_system("Henon")
    hen_x0 = torch.from_numpy(generate_trajectories(henon, 32, 1, transient=100, seed=0)["x"].values[:, 0])
    hen = lyapunov_spectrum_map(henon.step, hen_x0, n_steps=5000 if quick else 20_000)
    report.table(
        [
            {
                "map": "Hénon (a=1.4, b=0.3)",
                "λ1": float(hen.exponents[0]),
                "λ2": float(hen.exponents[1]),
                "λ1 literature": 0.41922,
                "λ1+λ2 = ln b": float(np.log(0.3)),
                "D_KY": float(hen.kaplan_yorke_dimension),
            }
        ],
        "Discrete map: any torch one-step function works, including a trained emulator's.",
    )

    # 3. dimensions and divergences -----------------------------------------------------------------
    report.heading("3. Dimensions and the divergence noise floor")
    x_all = lorenz_ds["x"].values
    half = n_traj // 2
    a = x_all[:half].reshape(-1, 3)
    b = x_all[half:].reshape(-1, 3)
    noisy = generate_trajectories("Lorenz", half, length, noise=0.05, seed=5)["x"].values.reshape(-1, 3)
    cd = correlation_dimension(x_all[0, ::2], theiler_window=50, max_points=3000 if quick else 5000)
    div_rows = [
        {
            "pair": "two independent ensembles",
            "D_stsp (binned, 30 bins)": state_space_divergence_binned(a, b, n_bins=30),
            "D_H (σ=20)": power_spectrum_hellinger(x_all[0], x_all[half]),
        },
        {
            "pair": "clean vs 5 % observation noise",
            "D_stsp (binned, 30 bins)": state_space_divergence_binned(a, noisy, n_bins=30),
            "D_H (σ=20)": power_spectrum_hellinger(x_all[0], noisy[:length]),
        },
    ]
    report.table(div_rows, "Lorenz-63: what 'indistinguishable' looks like for the DSR scores.")
    report.table(
        [
            {
                "estimate": "correlation dimension (GP, Theiler window 50)",
                "value": float(cd.dimension),
                "reference": get_system("Lorenz").info.invariants.correlation_dimension,
            },
            {
                "estimate": "Kaplan–Yorke (computed spectrum)",
                "value": float(lor.kaplan_yorke_dimension),
                "reference": get_system("Lorenz").info.invariants.kaplan_yorke_dimension,
            },
        ],
        "Lorenz-63 dimensions.",
    )

    # 4. Kuramoto–Sivashinsky ------------------------------------------------------------------------
    report.heading("4. Kuramoto–Sivashinsky (L = 22, ETDRK4)")
    ks = get_system("KuramotoSivashinsky")
    ks_ds = generate_trajectories(ks, 1, 400, sample_dt=4 * ks.info.dt, transient=100, seed=0)
    fig, ax = plt.subplots(figsize=(9, 3))
    u = ks_ds["x"].values[0]
    ax.imshow(u.T, aspect="auto", origin="lower", cmap="RdBu_r", extent=[0, float(ks_ds.time[-1]), 0, 22])
    ax.set_xlabel("time")
    ax.set_ylabel("x")
    report.figure(fig, "kuramoto_sivashinsky", "Kuramoto–Sivashinsky u(x, t), L = 22, 64 modes.")

    elapsed = time.perf_counter() - t_start
    report.text(f"Total run time: {elapsed:.0f} s.")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "invariants.csv", buf.getvalue())
    return report.write()
