"""Throughput of batched trajectory generation: chaosbench_py vs dysts ``make_trajectory``.

Both sides integrate the same initial conditions with an explicit Dormand–Prince 8 method at the
same tolerance (``rtol = atol = 1e-9``) and sample the same number of points per dominant period
(100, dysts' default), without transient. chaosbench_py integrates the whole batch of B initial
conditions in one call; dysts integrates one initial condition per call (that is its API), so the
peer's time is measured on ``--peer-trajectories`` initial conditions and scaled to B.

Also printed: the peer with its *default* solver (Radau, tol 1e-12) on one trajectory, and the
largest difference between the two packages' trajectories from the same initial condition over
the first Lyapunov time (a check that both compute the same thing).

Run (peers installed with ``pip install -e .[bench]``)::

    python benchmarks/integrate_vs_dysts.py [--batch 1000] [--length 1000]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from chaosbench_py.simulate import generate_trajectories, integrate
from chaosbench_py.systems import get_system

SYSTEMS = [
    "Lorenz",
    "Rossler",
    "Aizawa",
    "Chen",
    "Halvorsen",
    "SprottB",
    "Thomas",
    "HyperRossler",
    "LorenzStenflo",
]


def ours(name: str, x0: np.ndarray, length: int, rtol: float) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    ds = generate_trajectories(
        name,
        x0.shape[0],
        length,
        pts_per_period=100,
        transient=0,
        initial_condition=x0,
        method="dopri8",
        rtol=rtol,
        atol=rtol,
    )
    return time.perf_counter() - t0, ds["x"].values


def peer(
    name: str, x0: np.ndarray, length: int, rtol: float, method: str = "DOP853"
) -> tuple[float, np.ndarray]:
    import dysts.flows

    model = getattr(dysts.flows, name)()
    outs = []
    t0 = time.perf_counter()
    for ic in x0:
        traj = model.make_trajectory(
            length, init_cond=ic.copy(), pts_per_period=100, method=method, rtol=rtol, atol=rtol
        )
        outs.append(traj)
    return time.perf_counter() - t0, np.stack(outs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--peer-trajectories", type=int, default=5)
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--systems", nargs="*", default=SYSTEMS)
    args = ap.parse_args()
    try:
        import dysts  # noqa: F401
    except ImportError:
        raise SystemExit("dysts is not installed: pip install -e .[bench]") from None

    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}"
    )
    print(
        f"batch B={args.batch}, length={args.length}, 100 pts/period, DOP853-class at rtol=atol={args.rtol}"
    )
    print(
        f"{'system':14s} {'ours [s]':>9s} {'dysts/traj [s]':>14s} {'dysts x B [s]':>13s} {'ratio':>8s} "
        f"{'max |diff|/scale':>16s}"
    )
    ratios = []
    for name in args.systems:
        system = get_system(name)
        rng = np.random.default_rng(0)
        std = np.asarray(system.info.std or np.ones(system.dim))
        x0 = np.asarray(system.info.initial_condition) + 0.1 * std * rng.standard_normal(
            (args.batch, system.dim)
        )
        peer(name, x0[:1], 50, args.rtol)  # numba warm-up
        t_ours, y_ours = ours(name, x0, args.length, args.rtol)
        k = args.peer_trajectories
        t_peer, y_peer = peer(name, x0[:k], args.length, args.rtol)
        t_peer_b = t_peer / k * args.batch
        ratio = t_peer_b / t_ours
        ratios.append(ratio)
        lam = system.info.invariants.max_lyapunov or 1.0 / system.info.period
        n_lt = max(2, min(args.length, int(round(100 / (lam * system.info.period)))))
        # dysts samples at linspace(0, tlim, n) (spacing tlim/(n-1)), so compare at its own times
        t_peer_grid = np.linspace(0, system.info.period * args.length / 100, args.length)[:n_lt]
        y_same_t = integrate(
            system, torch.as_tensor(x0[:k]), torch.as_tensor(t_peer_grid), rtol=1e-11, atol=1e-11
        )
        scale = np.abs(y_peer[:, :n_lt]).max()
        diff = np.abs(y_same_t.numpy() - y_peer[:, :n_lt]).max() / scale
        print(f"{name:14s} {t_ours:9.2f} {t_peer / k:14.3f} {t_peer_b:13.1f} {ratio:7.0f}x {diff:16.2e}")
    print(
        f"geometric-mean speed-up over dysts (DOP853, same tolerance): {np.exp(np.mean(np.log(ratios))):.0f}x"
    )
    lorenz_ic = np.asarray(get_system("Lorenz").info.initial_condition)[None]
    t_radau, _ = peer("Lorenz", lorenz_ic, args.length, 1e-12, method="Radau")
    print(
        f"dysts default solver (Radau, tol 1e-12), Lorenz, one trajectory: {t_radau:.1f} s "
        f"-> x{args.batch}: {t_radau * args.batch:.0f} s"
    )


if __name__ == "__main__":
    main()
