"""Scorecard speed and memory on a synthetic ChaosBench-size evaluation (a stated fraction of a year).

Builds a local zarr forecast ``(init_time, lead_time, level, latitude, longitude)`` for 6 variables × 10
levels (60 channels) at 1.5° (121 × 240), its truth and a day-of-year climatology of the days in use, then
scores RMSE, bias and ACC, each run in its own process so peak RSS is clean:

* ``ours``: :func:`physics_metrics.weather.scorecard.scorecard` on the lazy (zarr/dask) datasets, once in
  the ChaosBench convention (32-init blocks, cos weights, pooled ACC) and once in the WB2 convention;
* ``loop``: a straightforward per-batch torch loop like ChaosBench's ``eval_iter.py``: per batch of 32
  inits and per lead step, the ``[B, C, 121, 240]`` prediction and target are read per init (one read per
  day, as ChaosBench's loader) and every channel is scored with the ChaosBench formulas in torch (float64).
  It is the baseline of both ratios (the same data pass; it has no WB2 variant).

Times are of the scoring call only (imports, opening the stores, the build and the one-time build of the C
row-sum kernel, ~0.4 s, cached per machine, excluded), wall and CPU (all threads, ``time.process_time``);
peak RSS is the process's; both use one thread unless ``--variants read-ahead``. Prints wall time, peak
RSS, the load average, the ratio loop/ours and max |ours − loop| (ChaosBench convention). Usage::

    python benchmarks/scorecard_speed.py --inits 32 --leads 44 [--workdir DIR] [--keep]
    python benchmarks/scorecard_speed.py --inits 8 --workdir DIR --reuse --repeat 4 [--variants full,no-native]
    python benchmarks/scorecard_speed.py --inits 8 --compressor zstd   # compressed stores (default none)
    python benchmarks/scorecard_speed.py --lazy --inits 320 [--conventions chaosbench]

``--repeat N`` runs ours (each convention) and the loop N times, interleaved, printing each run's ratios;
``--variants`` times ours with parts of the fast path off (see ``--help``), for the breakdown.

``--lazy``: no store; the forecast, truth and climatology are dask arrays whose chunks are computed on
demand from a seed (a bank of random fields: truth(day) = bank[day mod K] + 0.001·day, forecast = truth
of the valid day + 0.5·bank[(5i + l) mod K]), so a full ChaosBench year (``--inits 320``, 98 GB of float32
forecast) runs without disk; its time includes generating the fields and dask's per-chunk overhead (the
backend fast read does not apply), and the loop is not run (extrapolate it from the on-disk sizes).
"""

from __future__ import annotations

import argparse
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
import pandas as pd
import xarray as xr

VARS = ("z", "q", "t", "u", "v", "w")
LEVELS = (10, 50, 100, 200, 300, 500, 700, 850, 925, 1000)
METRICS = ("rmse", "bias", "acc")
CONVENTIONS = ("chaosbench", "wb2")


def _compressors(name: str):
    """The zarr v3 compressors of ``--compressor``: none, zstd (level 3) or blosc-lz4 (byte shuffle)."""
    from zarr.codecs import BloscCodec, ZstdCodec

    return {
        "none": None,
        "zstd": (ZstdCodec(level=3),),
        "lz4": (BloscCodec(cname="lz4", shuffle="shuffle"),),
    }[name]


def build(workdir: Path, n_init: int, n_lead: int, nlat: int, nlon: int, compressor: str = "none") -> None:
    comp = _compressors(compressor)
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
    enc = {v: {"chunks": (1, nl, nlat, nlon), "compressors": comp} for v in VARS}
    truth.to_zarr(workdir / "truth.zarr", mode="w", encoding=enc, consolidated=False, zarr_format=3)
    n_doy = min(366, int(times.day_of_year.max()))  # the days of year in use (the valid days start on Jan 1)
    clim = xr.Dataset(
        {
            v: (
                ("dayofyear", "level", "latitude", "longitude"),
                rng.standard_normal((n_doy, nl, nlat, nlon), dtype=np.float32) * 0.5,
            )
            for v in VARS
        },
        coords={"dayofyear": np.arange(1, n_doy + 1), **coords},
    )
    enc_c = {v: {"chunks": (1, nl, nlat, nlon), "compressors": comp} for v in VARS}
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
    enc_f = {v: {"chunks": chunks, "compressors": comp} for v in VARS}
    template.to_zarr(store, mode="w", encoding=enc_f, compute=False, consolidated=False, zarr_format=3)
    for i in range(n_init):
        piece = {}
        for v in VARS:
            tr = truth[v].values[i + 1 : i + 1 + n_lead]
            noise = rng.standard_normal(tr.shape, dtype=np.float32) * np.float32(0.5)
            piece[v] = (("init_time", "lead_time", "level", "latitude", "longitude"), (tr + noise)[None])
        ds = xr.Dataset(piece)
        ds.to_zarr(store, region={"init_time": slice(i, i + 1)}, consolidated=False)


def lazy_datasets(n_init: int, n_lead: int, nlat: int, nlon: int, bank_size: int = 8):
    """Forecast, truth and climatology as dask arrays generated chunk by chunk from a seed (no disk)."""
    import dask.array as da

    rng = np.random.default_rng(0)
    nl = len(LEVELS)
    bank = {v: rng.standard_normal((bank_size, nl, nlat, nlon), dtype=np.float32) for v in VARS}
    lat = np.linspace(90, -90, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    times = pd.date_range("2022-01-01", periods=n_init + n_lead + 1, freq="D")
    coords = {"level": list(LEVELS), "latitude": lat, "longitude": lon}

    def truth_day(v: str, t: int) -> np.ndarray:
        return bank[v][t % bank_size] + np.float32(0.001 * t)

    def gen_truth(block_info=None, v="z"):
        t = block_info[None]["chunk-location"][0]
        return truth_day(v, t)[None]

    def gen_clim(block_info=None, v="z"):
        t = block_info[None]["chunk-location"][0]
        return (np.float32(0.5) * bank[v][(3 * t) % bank_size])[None]

    def gen_fc(block_info=None, v="z"):
        i, lead = block_info[None]["chunk-location"][:2]
        noise = np.float32(0.5) * bank[v][(5 * i + lead) % bank_size]
        return (truth_day(v, i + lead + 1) + noise)[None, None]

    def make(fn, shape, chunks, v):
        return da.map_blocks(
            fn, v=v, chunks=chunks, dtype=np.float32, meta=np.empty((0,) * len(shape), np.float32)
        )

    sp = (nl, nlat, nlon)
    tdims = ("time", "level", "latitude", "longitude")
    truth = xr.Dataset(
        {
            v: (tdims, make(gen_truth, (times.size, *sp), ((1,) * times.size, *[(n,) for n in sp]), v))
            for v in VARS
        },
        coords={"time": times, **coords},
    )
    cdims = ("dayofyear", "level", "latitude", "longitude")
    clim = xr.Dataset(
        {v: (cdims, make(gen_clim, (366, *sp), ((1,) * 366, *[(n,) for n in sp]), v)) for v in VARS},
        coords={"dayofyear": np.arange(1, 367), **coords},
    )
    fdims = ("init_time", "lead_time", "level", "latitude", "longitude")
    fchunks = ((1,) * n_init, (1,) * n_lead, *[(n,) for n in sp])
    fc = xr.Dataset(
        {v: (fdims, make(gen_fc, (n_init, n_lead, *sp), fchunks, v)) for v in VARS},
        coords={
            "init_time": times[:n_init].values,
            "lead_time": pd.to_timedelta(np.arange(1, n_lead + 1), "D").values,
            **coords,
        },
    )
    return fc, truth, clim


def open_stores(workdir: Path):
    opened = [xr.open_zarr(workdir / f"{n}.zarr", consolidated=False) for n in ("forecast", "truth", "clim")]
    return tuple(opened)


def run_ours(workdir: Path, convention: str, data: tuple) -> None:
    from physics_metrics.weather.scorecard import scorecard

    fc, truth, clim = data
    card = scorecard(fc, truth, clim, metrics=METRICS, convention=convention)
    np.save(workdir / f"ours_{convention}.npy", np.stack([card[v].values for v in VARS]))


def run_loop(workdir: Path, data: tuple) -> None:
    import torch

    fc, truth, clim = data
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


def _child(method: str, workdir: Path, convention: str, lazy: tuple | None) -> dict:
    if method == "ours":
        import physics_metrics.weather.scorecard  # noqa: F401  (imports are not timed)
        from physics_metrics.weather import scorecard_fast, scorecard_native

        scorecard_fast.PREFETCH = bool(os.environ.get("SCORECARD_PREFETCH"))
        variant = os.environ.get("SCORECARD_VARIANT", "full")
        scorecard_fast.DIRECT_CHUNKS = variant not in ("no-direct", "general-read")
        scorecard_fast.NATIVE = variant not in ("no-native", "general-read")
        scorecard_fast.READ_AHEAD = variant == "read-ahead"
        scorecard_native.available()  # builds the C kernel once per machine (cached), like imports: not timed
    else:
        import torch

        torch.set_num_threads(1)
    data = open_stores(workdir) if lazy is None else lazy_datasets(*lazy)  # metadata only, not timed
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "ours":
        run_ours(workdir, convention, data)
    else:
        run_loop(workdir, data)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "convention": convention, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_mb,
            "load": os.getloadavg()[0]}  # fmt: skip


def _warm(workdir: Path) -> None:
    """Read every store file once so that the first method timed does not pay the disk reads alone."""
    for path in sorted(workdir.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                while fh.read(1 << 23):
                    pass


def _run_child(method: str, workdir: Path, convention: str, sizes: list[str], lazy: bool) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        method,
        "--workdir",
        str(workdir),
        "--conventions",
        convention,
    ]
    cmd += sizes + (["--lazy"] if lazy else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inits", type=int, default=32)
    ap.add_argument("--leads", type=int, default=44)
    ap.add_argument("--nlat", type=int, default=121)
    ap.add_argument("--nlon", type=int, default=240)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--lazy", action="store_true", help="generated forecast/truth/climatology, no store")
    ap.add_argument("--no-loop", action="store_true", help="skip the per-batch loop")
    ap.add_argument("--conventions", default=",".join(CONVENTIONS))
    ap.add_argument("--prefetch", action="store_true", help="also time ours with the read-ahead thread")
    ap.add_argument("--reuse", action="store_true", help="score the stores already in --workdir")
    ap.add_argument("--compressor", choices=("none", "zstd", "lz4"), default="none", help="store compression")
    ap.add_argument("--repeat", type=int, default=1, help="repeat ours and the loop, interleaved")
    ap.add_argument("--variants", default="full", help="ours with: full, no-native (numpy row sums), "
                    "no-direct (reads through zarr), general-read (both off), read-ahead (a second thread decodes "
                    "the next pair of a compressed store); comma-separated")  # fmt: skip
    ap.add_argument("--child", choices=("ours", "loop", "build"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    lazy = (args.inits, args.leads, args.nlat, args.nlon) if args.lazy else None
    if args.child == "build":
        build(args.workdir, args.inits, args.leads, args.nlat, args.nlon, args.compressor)
        return
    if args.child:
        print(json.dumps(_child(args.child, args.workdir, args.conventions, lazy)))
        return
    conventions = [c for c in args.conventions.split(",") if c]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scorecard_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = ["--inits", str(args.inits), "--leads", str(args.leads), "--nlat", str(args.nlat)]
    sizes += ["--nlon", str(args.nlon)]
    n_c = len(VARS) * len(LEVELS)
    size_gb = args.inits * args.leads * n_c * args.nlat * args.nlon * 4 / 1e9
    try:
        t0 = time.perf_counter()
        if not (args.lazy or args.reuse):
            # built in its own process: Linux keeps ru_maxrss across fork+exec, so the parent must stay small
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "build",
                    *sizes,
                    "--workdir",
                    str(workdir),
                    "--compressor",
                    args.compressor,
                ],
                check=True,  # fmt: skip
            )
        print(
            f"{'generated lazily' if args.lazy else 'built'}: {args.inits} inits × {args.leads} leads × {n_c} "
            f"channels at {args.nlat}×{args.nlon} ({size_gb:.2f} GB float32 forecast"
            f"{'' if args.lazy else f', built in {time.perf_counter() - t0:.1f} s'}) = "
            f"{args.inits / 320:.1%} of a ChaosBench year"
        )
        if not args.lazy:
            _warm(workdir)
        variants = [v for v in args.variants.split(",") if v]
        for rep in range(args.repeat):
            res = {}
            print(f"run {rep + 1}/{args.repeat}, load average {os.getloadavg()[0]:.2f}", flush=True)
            for conv in conventions:
                for variant in variants:
                    key = conv if variant == "full" else f"{conv}, {variant}"
                    os.environ["SCORECARD_VARIANT"] = variant
                    res[key] = _run_child("ours", workdir, conv, sizes, args.lazy)
                os.environ["SCORECARD_VARIANT"] = "full"
                if args.prefetch:
                    os.environ["SCORECARD_PREFETCH"] = "1"
                    res[f"{conv}, prefetch"] = _run_child("ours", workdir, conv, sizes, args.lazy)
                    del os.environ["SCORECARD_PREFETCH"]
            if not (args.lazy or args.no_loop):
                res["loop"] = _run_child("loop", workdir, "chaosbench", sizes, False)
            for key, r in res.items():
                name = "loop (chaosbench)" if key == "loop" else f"ours ({key})"
                line = f"{name:18s}: {r['wall_s']:8.2f} s  ({r['wall_s'] / args.inits:6.3f} s/init, CPU {r['cpu_s']:7.2f} s)  "
                line += f"peak RSS {r['peak_rss_mb']:7.0f} MB  load {r['load']:.2f}"
                if "loop" in res and key != "loop":
                    line += f"  loop/ours {res['loop']['wall_s'] / r['wall_s']:6.2f}× (CPU {res['loop']['cpu_s'] / r['cpu_s']:.2f}×)"
                print(line, flush=True)
            if "loop" in res and "chaosbench" in res:
                ours, loop = np.load(workdir / "ours_chaosbench.npy"), np.load(workdir / "loop.npy")
                rel = np.nanmax(np.abs(ours - loop) / (np.abs(loop) + 1e-12))
                print(f"max |ours − loop| relative difference (chaosbench): {rel:.2e}", flush=True)
        if args.lazy:
            for key, r in res.items():
                print(
                    f"ours ({key}) per 320-init year: {r['wall_s'] / args.inits * 320:.0f} s (scaled linearly)"
                )
    finally:
        if not (args.keep or args.reuse):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
