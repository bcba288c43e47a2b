"""Throughput of batched trajectory generation: chaosbench_py vs dysts ``make_trajectory``.

Both sides integrate the same initial conditions with the explicit Dormand–Prince 8(5,3) method
(``dop853``: ours, the compiled C loop of ``simulate/native_dop853.py`` on CPU float64; scipy's
``DOP853`` in dysts) at the same tolerance (``rtol = atol = 1e-9``) and sample the same number of
points per dominant period (100, dysts' default), without transient. chaosbench_py integrates the
whole batch of B initial conditions in one call; dysts integrates one initial condition per call
(that is its API), so the peer's time is measured on ``--peer-trajectories`` initial conditions and
scaled to B. Ours is timed twice: the first call in the process ("cold": translating the
right-hand side, loading — or on the very first run, compiling — its kernel) and a second call.
``--torch-step`` times the torch step instead (``CHAOSBENCH_NATIVE=0``); ``--device cuda`` runs
ours on a GPU (the torch step; the C loop is CPU-only).

Also printed: the peer with its *default* solver (Radau, tol 1e-12) on one trajectory, and the
largest difference between the two packages' trajectories from the same initial condition over
the first Lyapunov time (a check that both compute the same thing).

Run (peers installed with ``pip install -e .[bench]``)::

    python benchmarks/integrate_vs_dysts.py [--batch 1000] [--length 1000] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
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


def ours(name: str, x0: np.ndarray, length: int, rtol: float, device: str) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    ds = generate_trajectories(
        name,
        x0.shape[0],
        length,
        pts_per_period=100,
        transient=0,
        initial_condition=x0,
        method="dop853",
        rtol=rtol,
        atol=rtol,
        device=device,
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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--torch-step", action="store_true", help="time the torch step (CHAOSBENCH_NATIVE=0)")
    args = ap.parse_args()
    if args.torch_step:
        os.environ["CHAOSBENCH_NATIVE"] = "0"
    torch.set_num_threads(1)
    try:
        import dysts  # noqa: F401
    except ImportError:
        raise SystemExit("dysts is not installed: pip install -e .[bench]") from None

    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}"
    )
    step = "torch step" if args.torch_step or args.device != "cpu" else "C loop"
    print(
        f"batch B={args.batch}, length={args.length}, 100 pts/period, DOP853 at rtol=atol={args.rtol}, "
        f"ours: {step} on {args.device}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'system':14s} {'ours cold [s]':>13s} {'ours [s]':>9s} {'dysts/traj [s]':>14s} {'dysts x B [s]':>13s} "
        f"{'ratio':>7s} {'cold':>6s} {'max |diff|/scale':>16s}"
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
        t_cold, _ = ours(name, x0, args.length, args.rtol, args.device)
        t_ours, y_ours = ours(name, x0, args.length, args.rtol, args.device)
        k = args.peer_trajectories
        t_peer, y_peer = peer(name, x0[:k], args.length, args.rtol)
        t_peer_b = t_peer / k * args.batch
        ratio = t_peer_b / t_ours
        ratios.append((ratio, t_peer_b / t_cold))
        lam = system.info.invariants.max_lyapunov or 1.0 / system.info.period
        n_lt = max(2, min(args.length, int(round(100 / (lam * system.info.period)))))
        # dysts samples at linspace(0, tlim, n) (spacing tlim/(n-1)), so compare at its own times
        t_peer_grid = np.linspace(0, system.info.period * args.length / 100, args.length)[:n_lt]
        y_same_t = integrate(
            system, torch.as_tensor(x0[:k]), torch.as_tensor(t_peer_grid), rtol=1e-11, atol=1e-11
        )
        scale = np.abs(y_peer[:, :n_lt]).max()
        diff = np.abs(y_same_t.numpy() - y_peer[:, :n_lt]).max() / scale
        print(
            f"{name:14s} {t_cold:13.3f} {t_ours:9.3f} {t_peer / k:14.3f} {t_peer_b:13.1f} {ratio:6.0f}x "
            f"{t_peer_b / t_cold:5.0f}x {diff:16.2e}"
        )
    gm = np.exp(np.mean(np.log(ratios), axis=0))
    print(f"geometric-mean speed-up over dysts (DOP853, same tolerance): {gm[0]:.0f}x (cold: {gm[1]:.0f}x)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    lorenz_ic = np.asarray(get_system("Lorenz").info.initial_condition)[None]
    t_radau, _ = peer("Lorenz", lorenz_ic, args.length, 1e-12, method="Radau")
    print(
        f"dysts default solver (Radau, tol 1e-12), Lorenz, one trajectory: {t_radau:.1f} s "
        f"-> x{args.batch}: {t_radau * args.batch:.0f} s"
    )


if __name__ == "__main__":
    main()
