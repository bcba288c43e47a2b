"""The scorecard on a 2-worker dask LocalCluster against one process, on the same zarr stores.

Builds the synthetic stores of ``benchmarks/scorecard_speed.py`` (forecast ``(init_time, lead_time, level,
latitude, longitude)`` for 6 variables × 10 levels, its truth and a day-of-year climatology, zarr, one
chunk per init and lead), then scores RMSE, bias and ACC in each convention:

* ``one``: :func:`physics_metrics.weather.scorecard` in a fresh process (1 thread);
* ``dask``: :func:`chaosbench_py.evaluation.dask_scoring.scorecard_dask` on a ``LocalCluster`` of
  ``--workers`` processes with 1 thread each, in a fresh driver process; the cluster is started and the
  package imported on the workers before the clock (as on a user's running cluster; the import time of a
  fresh cluster is printed apart).

Prints the wall time of the scoring call, the ratio one/dask, the peak RSS of the one process, of the
driver and of each worker (``VmHWM`` of the process, so including imports), the tasks, and whether the
two scorecards are identical bit for bit (they must be). Usage::

    python benchmarks/scorecard_dask.py [--inits 32 --leads 10 --nlat 121 --nlon 240 --workers 2]
        [--block 8] [--repeats 3] [--workdir DIR] [--keep]

``--block`` inits per block (tasks = variables × blocks; default 8 so that 32 inits give 24 tasks for the
workers to share; the numbers do not depend on it in the WB2 convention; ChaosBench's convention defines
its blocks as 32, so the ChaosBench run keeps 32).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
METRICS = ["rmse", "bias", "acc"]


def _open(workdir: Path):
    sys.path.insert(0, str(HERE))
    from scorecard_speed import open_stores

    return open_stores(workdir)


def _peak_mb() -> float:
    """Peak RSS of this process in MB: ``VmHWM`` (Linux; ``ru_maxrss`` would carry over the parent's peak
    across ``exec``, e.g. the store build's), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(workdir: Path, convention: str, block: int) -> dict:
    from physics_metrics.weather import scorecard

    fc, truth, clim = _open(workdir)
    t0 = time.perf_counter()
    card = scorecard(fc, truth, clim, metrics=METRICS, convention=convention, block=block)
    wall = time.perf_counter() - t0
    card.to_netcdf(workdir / f"one_{convention}.nc")
    return {"wall_s": wall, "peak_rss_mb": _peak_mb()}


def run_dask(workdir: Path, convention: str, block: int, workers: int) -> dict:
    import distributed

    from chaosbench_py.evaluation.dask_scoring import scorecard_dask

    fc, truth, clim = _open(workdir)
    kw = dict(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    with distributed.LocalCluster(**kw) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(workers)
        t0 = (
            time.perf_counter()
        )  # what a fresh cluster pays once: importing the package (and torch) on workers
        client.run(importlib.import_module, "chaosbench_py.evaluation.dask_scoring")
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        card = scorecard_dask(client, fc, truth, clim, metrics=METRICS, convention=convention, block=block)
        wall = time.perf_counter() - t0
        peaks = client.run(_peak_mb)
    card.to_netcdf(workdir / f"dask_{convention}.nc")
    tasks = len(card.data_vars) * -(-fc.sizes["init_time"] // block)
    return {"wall_s": wall, "driver_peak_rss_mb": _peak_mb(), "worker_peak_rss_mb": sorted(peaks.values()),
            "tasks": tasks, "worker_import_s": warm}  # fmt: skip


def _child(args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inits", type=int, default=32)
    ap.add_argument("--leads", type=int, default=10)
    ap.add_argument("--nlat", type=int, default=121)
    ap.add_argument("--nlon", type=int, default=240)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--conventions", nargs="+", default=["wb2", "chaosbench"])
    ap.add_argument("--repeats", type=int, default=1, help="alternated runs of each; the best is reported")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        what, convention, workdir = a.child
        block = a.block if convention == "wb2" else 32
        res = run_one(Path(workdir), convention, block) if what == "one" else \
            run_dask(Path(workdir), convention, block, a.workers)  # fmt: skip
        print(json.dumps(res))
        return
    import xarray as xr

    sys.path.insert(0, str(HERE))
    from scorecard_speed import build

    workdir = Path(a.workdir or tempfile.mkdtemp(prefix="scorecard_dask_"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not (workdir / "forecast.zarr").exists():
        build(workdir, a.inits, a.leads, a.nlat, a.nlon)
    size = sum(p.stat().st_size for p in (workdir / "forecast.zarr").rglob("*") if p.is_file()) / 1e9
    print(f"stores: {a.inits} inits × {a.leads} leads × 60 channels on {a.nlat}×{a.nlon} "
          f"(forecast {size:.2f} GB, built in {time.perf_counter() - t0:.0f} s) in {workdir}")  # fmt: skip
    print(f"load: {os.getloadavg()}  cpus: {os.cpu_count()}")
    for convention in a.conventions:
        common = ["--workers", str(a.workers), "--block", str(a.block)]
        ones, manys = [], []
        for _ in range(a.repeats):  # alternated, so that a change of the machine's load hits both
            ones.append(_child([*common, "--child", "one", convention, str(workdir)]))
            manys.append(_child([*common, "--child", "dask", convention, str(workdir)]))
        one = min(ones, key=lambda r: r["wall_s"])
        many = min(manys, key=lambda r: r["wall_s"])
        if a.repeats > 1:
            print(f"{convention:10s} walls (s): one {[round(r['wall_s'], 2) for r in ones]}, "
                  f"dask {[round(r['wall_s'], 2) for r in manys]}; the best of each below")  # fmt: skip
        c1 = xr.load_dataset(workdir / f"one_{convention}.nc")
        c2 = xr.load_dataset(workdir / f"dask_{convention}.nc")
        same = all(np.array_equal(c1[v].values, c2[v].values, equal_nan=True) for v in c1.data_vars)
        print(f"{convention:10s} one process {one['wall_s']:7.2f} s (peak RSS {one['peak_rss_mb']:.0f} MB) | "
              f"dask {a.workers} workers {many['wall_s']:7.2f} s, {many['tasks']} tasks (+{many['worker_import_s']:.1f} s "
              f"importing on fresh workers; driver peak RSS "
              f"{many['driver_peak_rss_mb']:.0f} MB, workers {[round(x) for x in many['worker_peak_rss_mb']]} MB)"
              f" | one/dask {one['wall_s'] / many['wall_s']:.2f}× | identical: {same}")  # fmt: skip
    print(f"load after: {os.getloadavg()}")
    if not a.keep and not a.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
