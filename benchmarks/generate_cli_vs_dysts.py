"""``chaosbench generate`` as a fresh process (start-up included) against dysts ``make_trajectory``.

The task of issue 16's first row: 200 Lorenz trajectories × 2000 samples, 100 points per dominant
period, DOP853 at rtol = atol = 1e-9. Ours is the command line as a user runs it: a new Python
process that imports the package, draws the initial conditions from a pilot orbit, integrates a
transient of 10 periods (the default; dysts integrates none) and the samples, and writes a netCDF
file. dysts integrates one initial condition per ``make_trajectory`` call (its API), from states
on the attractor, in a new process too; its time is given both with its start-up (Python, importing
dysts) and for the integration loop alone.

Ours is run three times: with an empty kernel cache (``CHAOSBENCH_CACHE_DIR`` in a fresh folder: the C
loop of ``simulate/native_dop853.py`` is compiled during the run, and the run records the system's
plan), then with the cache filled through torch (``CHAOSBENCH_FAST_START=0``: the run before the
torch-free start), then as every later run on the machine goes: from the recorded plan, without
importing torch (``simulate/fast_start.py``; the same file bit for bit). ``--torch-step`` runs the
torch step (``CHAOSBENCH_NATIVE=0``).

Run (dysts installed with ``pip install -e .[bench]``, or ``--peer-python`` naming a Python that has it)::

    python benchmarks/generate_cli_vs_dysts.py [--trajectories 200] [--length 2000] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

PEER = """
import sys, time
t0 = time.perf_counter()
import numpy as np
import dysts.flows
model = dysts.flows.Lorenz()
rng = np.random.default_rng(0)
ic = np.asarray(model.ic)
start = model.make_trajectory(2000, init_cond=ic, pts_per_period=100, method="DOP853", rtol=1e-9, atol=1e-9)
t1 = time.perf_counter()
for i in range({n}):
    x0 = start[rng.integers(len(start))]
    model.make_trajectory({length}, init_cond=x0.copy(), pts_per_period=100, method="DOP853", rtol=1e-9, atol=1e-9)
print(time.perf_counter() - t1, t1 - t0)
"""


CPU_SECONDS: dict[str, float] = {}  # CPU time (user + system) of each timed process, by its label


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], label: str = "") -> tuple[float, str]:
    """Wall seconds and stdout of one process; its CPU seconds go to ``CPU_SECONDS[label]`` (on a loaded
    machine the CPU time is the fairer figure: wall time counts the other jobs' share of the cores)."""
    c0, t0 = _children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    CPU_SECONDS[label] = _children_cpu() - c0
    return wall, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=200)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--peer-python", default=sys.executable, help="a Python with dysts installed")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--torch-step", action="store_true")
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if args.torch_step:
        env["CHAOSBENCH_NATIVE"] = "0"
    print(f"load average at the start {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "chaosbench_py", "generate", "--system", "Lorenz",
            "--trajectories", str(args.trajectories), "--length", str(args.length),
            "--out", os.path.join(tmp, "out.nc"), "--overwrite", "--quiet", "--device", args.device,
        ]  # fmt: skip
        cache = dict(env, CHAOSBENCH_CACHE_DIR=os.path.join(tmp, "cache"))
        t_fresh, _ = timed(cmd, cache, "fresh")
        t_torch, _ = timed(cmd, dict(cache, CHAOSBENCH_FAST_START="0"), "torch")
        t_ours, _ = timed(cmd, cache, "ours")
        peer_code = PEER.format(n=args.trajectories, length=args.length)
        t_peer_proc, out = timed([args.peer_python, "-c", peer_code], env, "peer")
    t_peer_loop, t_peer_start = (float(v) for v in out.split())
    print(f"{args.trajectories} x {args.length} Lorenz samples, DOP853 1e-9, 100 pts/period")
    print(f"ours, `chaosbench generate` process, from the plan (no torch): {t_ours:.2f} s")
    print(f"ours, the same through torch, kernel cache filled:          {t_torch:.2f} s")
    print(f"ours, the same with an empty kernel cache (compiles):       {t_fresh:.2f} s")
    print(f"dysts process {t_peer_proc:.2f} s (start-up {t_peer_start:.2f} s, loop {t_peer_loop:.2f} s)")
    print(
        f"ratio, process vs process: {t_peer_proc / t_ours:.1f}x (through torch {t_peer_proc / t_torch:.1f}x, "
        f"empty cache {t_peer_proc / t_fresh:.1f}x); "
        f"dysts loop alone vs our process: {t_peer_loop / t_ours:.1f}x"
    )
    cpu = CPU_SECONDS
    print(
        f"CPU seconds (user + system): ours {cpu['ours']:.2f} (through torch {cpu['torch']:.2f}, empty cache "
        f"{cpu['fresh']:.2f}), dysts {cpu['peer']:.2f}; ratio {cpu['peer'] / cpu['ours']:.1f}x (through torch "
        f"{cpu['peer'] / cpu['torch']:.1f}x, empty cache {cpu['peer'] / cpu['fresh']:.1f}x)"
    )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
