"""Scorecard speed and memory on a synthetic ChaosBench-size evaluation (a stated fraction of a year).

Builds a local zarr forecast ``(init_time, lead_time, level, latitude, longitude)`` for 6 variables × 10
levels (60 channels) at 1.5° (121 × 240) and its truth, then scores RMSE, bias and ACC (ChaosBench
convention: 32-init blocks, cos weights, pooled ACC) twice, each in its own process so peak RSS is clean:

* ``ours``: :func:`physics_metrics.weather.scorecard.scorecard` on the lazy (zarr/dask) datasets;
* ``loop``: a straightforward per-batch torch loop like ChaosBench's ``eval_iter.py``: per batch of 32
  inits and per lead step, the ``[B, C, 121, 240]`` prediction and target are read per init (one read per
  day, as ChaosBench's loader) and every channel is scored with the same formulas in torch (float64).

Prints wall time, peak RSS and the ratio. Usage::

    python benchmarks/scorecard_speed.py --inits 32 --leads 44 [--workdir DIR] [--keep]

A full ChaosBench year is ``--inits 320`` (98 GB of float32 forecast on disk).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

VARS = ("z", "q", "t", "u", "v", "w")
LEVELS = (10, 50, 100, 200, 300, 500, 700, 850, 925, 1000)
METRICS = ("rmse", "bias", "acc")


def build(workdir: Path, n_init: int, n_lead: int, nlat: int, nlon: int) -> None:
    rng = np.random.default_rng(0)
    lat = np.linspace(90, -90, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    times = pd.date_range("2022-01-01", periods=n_init + n_lead + 1, freq="D")
    nl = len(LEVELS)
    coords = {"level": list(LEVELS), "latitude": lat, "longitude": lon}
    truth = xr.Dataset(
        {
            v: (
                ("time", "level", "latitude", "longitude"),
                rng.standard_normal((times.size, nl, nlat, nlon), dtype=np.float32),
            )
            for v in VARS
        },
        coords={"time": times, **coords},
    )
    enc = {v: {"chunks": (1, nl, nlat, nlon), "compressors": None} for v in VARS}
    truth.to_zarr(workdir / "truth.zarr", mode="w", encoding=enc, consolidated=False, zarr_format=3)
    clim = xr.Dataset(
        {
            v: (
                ("dayofyear", "level", "latitude", "longitude"),
                rng.standard_normal((366, nl, nlat, nlon), dtype=np.float32) * 0.5,
            )
            for v in VARS
        },
        coords={"dayofyear": np.arange(1, 367), **coords},
    )
    enc_c = {v: {"chunks": (1, nl, nlat, nlon), "compressors": None} for v in VARS}
    clim.to_zarr(workdir / "clim.zarr", mode="w", encoding=enc_c, consolidated=False, zarr_format=3)
    inits = times[:n_init].values
    leads = pd.to_timedelta(np.arange(1, n_lead + 1), "D").values
    import dask.array as da

    shape = (n_init, n_lead, nl, nlat, nlon)
    chunks = (1, 1, nl, nlat, nlon)
    template = xr.Dataset(
        {
            v: (
                ("init_time", "lead_time", "level", "latitude", "longitude"),
                da.zeros(shape, chunks=chunks, dtype=np.float32),
            )
            for v in VARS
        },
        coords={"init_time": inits, "lead_time": leads, **coords},
    )
    store = workdir / "forecast.zarr"
    enc_f = {v: {"chunks": chunks, "compressors": None} for v in VARS}
    template.to_zarr(store, mode="w", encoding=enc_f, compute=False, consolidated=False, zarr_format=3)
    for i in range(n_init):
        piece = {}
        for v in VARS:
            tr = truth[v].values[i + 1 : i + 1 + n_lead]
            noise = rng.standard_normal(tr.shape, dtype=np.float32) * np.float32(0.5)
            piece[v] = (("init_time", "lead_time", "level", "latitude", "longitude"), (tr + noise)[None])
        ds = xr.Dataset(piece)
        ds.to_zarr(store, region={"init_time": slice(i, i + 1)}, consolidated=False)


def run_ours(workdir: Path) -> None:
    from physics_metrics.weather.scorecard import scorecard

    fc = xr.open_zarr(workdir / "forecast.zarr", consolidated=False)
    truth = xr.open_zarr(workdir / "truth.zarr", consolidated=False)
    clim = xr.open_zarr(workdir / "clim.zarr", consolidated=False)
    card = scorecard(fc, truth, clim, metrics=METRICS, convention="chaosbench")
    np.save(workdir / "ours.npy", np.stack([card[v].values for v in VARS]))


def run_loop(workdir: Path) -> None:
    import torch

    fc = xr.open_zarr(workdir / "forecast.zarr", consolidated=False)
    truth = xr.open_zarr(workdir / "truth.zarr", consolidated=False)
    clim = xr.open_zarr(workdir / "clim.zarr", consolidated=False)
    inits, leads = fc.init_time.values, fc.lead_time.values
    lat = torch.tensor(fc.latitude.values)
    w = torch.cos(torch.deg2rad(lat))
    w = (w.numel() * w / w.sum()).reshape(1, -1, 1)
    n_c = len(VARS) * len(LEVELS)
    results = {m: [] for m in METRICS}
    for b0 in range(0, inits.size, 32):
        idx = range(b0, min(b0 + 32, inits.size))
        per = {m: np.zeros((leads.size, n_c)) for m in METRICS}
        for s, lead in enumerate(leads):
            pred = torch.tensor(
                np.stack(
                    [
                        fc[list(VARS)]
                        .isel(init_time=i, lead_time=s)
                        .to_array()
                        .values.reshape(n_c, *fc.latitude.shape, *fc.longitude.shape)
                        for i in idx
                    ]
                ),
                dtype=torch.float64,
            )
            valid = [inits[i] + lead for i in idx]
            targ = torch.tensor(
                np.stack(
                    [
                        truth[list(VARS)].sel(time=t).to_array().values.reshape(n_c, *pred.shape[-2:])
                        for t in valid
                    ]
                ),
                dtype=torch.float64,
            )
            doys = [pd.Timestamp(t).day_of_year for t in valid]
            cl = torch.tensor(
                np.stack(
                    [
                        clim[list(VARS)].sel(dayofyear=d).to_array().values.reshape(n_c, *pred.shape[-2:])
                        for d in doys
                    ]
                ),
                dtype=torch.float64,
            )
            for c in range(n_c):
                p, t, k = pred[:, c], targ[:, c], cl[:, c]
                per["rmse"][s, c] = torch.sqrt(torch.nanmean(w * (p - t) ** 2)).item()
                per["bias"][s, c] = torch.nanmean(w * (p - t)).item()
                ap, at = p - k, t - k
                per["acc"][s, c] = (
                    torch.sum(ap * at)
                    / (torch.sqrt(torch.sum(at**2) * torch.sum(ap**2)) + 1e-10 / torch.sum(w**2))
                ).item()
        for m in METRICS:
            results[m].append(per[m])
    out = np.stack([np.mean(results[m], axis=0) for m in METRICS])  # (metric, lead, channel)
    out = out.reshape(len(METRICS), leads.size, len(VARS), len(LEVELS)).transpose(2, 0, 3, 1)
    np.save(workdir / "loop.npy", out)


def _child(method: str, workdir: Path) -> dict:
    t0 = time.perf_counter()
    (run_ours if method == "ours" else run_loop)(workdir)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "wall_s": wall, "peak_rss_mb": peak_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inits", type=int, default=32)
    ap.add_argument("--leads", type=int, default=44)
    ap.add_argument("--nlat", type=int, default=121)
    ap.add_argument("--nlon", type=int, default=240)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", choices=("ours", "loop", "build"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "build":
        build(args.workdir, args.inits, args.leads, args.nlat, args.nlon)
        return
    if args.child:
        print(json.dumps(_child(args.child, args.workdir)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scorecard_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        # built in its own process: Linux keeps ru_maxrss across fork+exec, so the parent must stay small
        sizes = ["--inits", str(args.inits), "--leads", str(args.leads), "--nlat", str(args.nlat)]
        sizes += ["--nlon", str(args.nlon), "--workdir", str(workdir)]
        subprocess.run([sys.executable, __file__, "--child", "build", *sizes], check=True)
        size_gb = args.inits * args.leads * len(VARS) * len(LEVELS) * args.nlat * args.nlon * 4 / 1e9
        print(
            f"built {args.inits} inits × {args.leads} leads × {len(VARS) * len(LEVELS)} channels at "
            f"{args.nlat}×{args.nlon} ({size_gb:.2f} GB float32 forecast) in {time.perf_counter() - t0:.1f} s "
            f"({args.inits / 320:.1%} of a ChaosBench year)"
        )
        res = {}
        for method in ("ours", "loop"):
            cmd = [sys.executable, __file__, "--child", method, "--workdir", str(workdir)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            res[method] = json.loads(out.strip().splitlines()[-1])
            print(
                f"{method:5s}: {res[method]['wall_s']:8.1f} s   peak RSS {res[method]['peak_rss_mb']:8.0f} MB"
            )
        ours, loop = np.load(workdir / "ours.npy"), np.load(workdir / "loop.npy")
        print(
            f"max |ours − loop| relative difference: {np.nanmax(np.abs(ours - loop) / (np.abs(loop) + 1e-12)):.2e}"
        )
        print(
            f"time ratio loop/ours: {res['loop']['wall_s'] / res['ours']['wall_s']:.2f}   "
            f"memory ratio loop/ours: {res['loop']['peak_rss_mb'] / res['ours']['peak_rss_mb']:.2f}"
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
