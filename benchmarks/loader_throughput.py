"""Samples/s serving ChaosBench-layout ERA5: this package vs a naive per-sample ``xr.open_dataset`` loop.

The script writes a local archive in the ChaosBench layout (``../shared/reference/chaosbench.md``
§1.2–1.3): ``<root>/era5/era5_full_1.5deg_YYYYMMDD.zarr``, one zarr store per day (zarr v2,
consolidated, as xarray wrote them), variables ``z q t u v w`` with dims ``(level, latitude,
longitude)``, levels 10 … 1000 hPa, 121 × 240 at 1.5°, latitude 90 → −90, z in gpm: 60 channels.
Field values are smooth random fields plus noise (compressible like real data, not constant).

The loaders serve the same normalised float32 samples ``x (60, 121, 240)``, ``y (n_step, 60, 121,
240)`` (checked on each case's first samples):

* **naive** -- what ChaosBench's ``S2SObsDataset.__getitem__`` does (§1.5): for every sample, open
  each needed day-store with ``xr.open_dataset(path, engine="zarr")``, ``[z q t u v w]
  .to_array().values``, z-score per channel. Written here from that description (no code copied).
  On the WeatherBench2-style store (the same data written as one zarr store, ``--wb2-chunk`` time
  steps per chunk, Blosc lz4): open once, ``isel(time=[a, a + 1]).to_array().values`` per sample.
  The naive loops always take ChaosBench's order: uniformly random for training.
* **ours** -- ``chaosbench_py.data.open_chaosbench`` / ``open_weatherbench2_zarr`` /
  ``training_copy.open_training_copy`` + ``chaosbench_py.data.windows.WindowDataset``. For
  training, ours takes the chunk-aware block order of ``chaosbench_py.data.block_sampler``
  (``--block`` days per block, ``--buffer`` blocks shuffled together; seeded), with the cache
  that order needs (``cache_states_needed``), except the "random" row.

Patterns: ``train`` (1 input day + 1 target day) on the per-day stores, on the training copies
(``write_training_copy``: one time step per chunk, ``none`` or Blosc ``lz4``; disk size and write
time are printed) and on the WeatherBench2-style store; ``rollout`` (1 input + 44 target days,
ChaosBench's evaluation window, in order). Peak RSS (``VmHWM`` of a child process serving one
epoch in block order) is measured on two store sizes, ``--days`` and ``--rss-factor`` × ``--days``.

Both sides run in the main process (``num_workers = 0``), with alternating 1-s rounds.

``--trainer``: instead, the trainer's own batch path: ``NextStepTask.batch(step)`` (1 input + 1 target,
global batch ``--batch``, ``data.num_workers`` = ``--workers``, on ``--device``) for ``--epochs`` epochs on
(a) the ChaosBench per-day stores, (b) the uncompressed training copy (named as ``data.path``), (c) the
WeatherBench2-style store, each with ``data.order: random`` and ``blocks`` (the trainer's default
``block_size`` and ``buffer_blocks``), against the naive per-sample loop above batched the same way
(random order; the copy's peer is the naive loop on the per-day stores). Each case runs in its own
process (samples/s over whole epochs and over the epochs after the first, set-up and statistics
excluded; peak RSS = ``VmHWM``, including the set-up), ``--runs`` times in turn; block order is also run on the ``--rss-factor`` × larger stores (all three).
The training copy, the per-day stores and the WB2-style store are read straight from their chunk files
(``training_copy.CopyReader``, ``day_reader.DayStoreReader``, ``zarr_chunk_reader.TimeChunkedStoreReader``;
each child prints the reader its training set uses);
first, the decode share: reading + decoding a time step's chunks (one thread) against the naive
loop's read of it.
Run::

    OMP_NUM_THREADS=1 python benchmarks/loader_throughput.py [--days 80] [--root DIR] [--keep]
    OMP_NUM_THREADS=1 python benchmarks/loader_throughput.py --trainer [--device cuda] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from chaosbench_py.data.block_sampler import BlockShuffleSampler, block_order, cache_states_needed
from chaosbench_py.data.statistics import channel_statistics
from chaosbench_py.data.training_copy import open_training_copy, write_training_copy
from chaosbench_py.data.windows import WindowDataset

PARAMS = ["z", "q", "t", "u", "v", "w"]
LEVELS = [10, 50, 100, 200, 300, 500, 700, 850, 925, 1000]
SCALE = {
    "z": (5000.0, 500.0),
    "q": (5e-3, 3e-3),
    "t": (250.0, 20.0),
    "u": (5.0, 10.0),
    "v": (0.0, 8.0),
    "w": (0.0, 0.2),
}


def write_archive(root: Path, n_days: int, seed: int = 0, reuse: Path | None = None) -> list[Path]:
    """One ChaosBench-layout day-store per day from 2016-01-01 on; returns the paths. Day-stores
    already in ``reuse`` (another archive root) are linked, not written again."""
    era5 = root / "era5"
    era5.mkdir(parents=True, exist_ok=True)
    lat = np.linspace(90, -90, 121)
    lon = np.arange(240) * 1.5
    rng = np.random.default_rng(seed)
    phi, lam = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    paths = []
    for day in pd.date_range("2016-01-01", periods=n_days, freq="D"):
        path = era5 / f"era5_full_1.5deg_{day:%Y%m%d}.zarr"
        paths.append(path)
        if path.exists():
            continue
        if reuse is not None and (reuse / "era5" / path.name).exists():
            path.symlink_to((reuse / "era5" / path.name).resolve(), target_is_directory=True)
            continue
        data = {}
        for k, v in enumerate(PARAMS):
            mean, std = SCALE[v]
            lev = np.linspace(0.5, 1.5, len(LEVELS))[:, None, None]
            wave = np.cos(phi) * np.cos((k + 1) * lam + 0.1 * day.day_of_year) + 0.3 * np.sin(2 * phi)
            field = mean + std * (lev * wave[None] + 0.05 * rng.standard_normal((len(LEVELS), 121, 240)))
            data[v] = (("level", "latitude", "longitude"), field.astype(np.float32))
        ds = xr.Dataset(data, coords={"level": LEVELS, "latitude": lat, "longitude": lon})
        ds["z"].attrs["units"] = "gpm"
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return paths


class NaiveDataset(torch.utils.data.Dataset):
    """ChaosBench-style loader (§1.5): opens every day-store a sample needs, per sample."""

    def __init__(self, files: list[Path], n_step: int, mean: np.ndarray, std: np.ndarray) -> None:
        self.files, self.n_step = files, n_step
        self.mean, self.std = mean[:, None, None], std[:, None, None]

    def __len__(self) -> int:
        return len(self.files) - self.n_step  # every complete window (ChaosBench's len drops one more)

    def _day(self, path: Path) -> np.ndarray:
        arr = xr.open_dataset(path, engine="zarr")[PARAMS].to_array().values
        arr = arr.reshape(-1, *arr.shape[-2:])
        return ((arr - self.mean) / self.std).astype(np.float32)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._day(self.files[idx])
        y = np.stack([self._day(self.files[idx + 1 + k]) for k in range(self.n_step)])
        return torch.from_numpy(x), torch.from_numpy(y)


class NaiveZarrDataset(torch.utils.data.Dataset):
    """The plain xarray loop on a WeatherBench2-style store: opened once, per sample
    ``isel(time=[a, a + 1 …]).to_array().values`` (decodes the whole time chunk of every step)."""

    def __init__(self, path: Path, n_step: int, mean: np.ndarray, std: np.ndarray) -> None:
        self.ds = xr.open_zarr(path)[PARAMS]
        self.n_step = n_step
        self.mean, self.std = mean[:, None, None], std[:, None, None]

    def __len__(self) -> int:
        return self.ds.sizes["time"] - self.n_step

    def _days(self, idx: list[int]) -> np.ndarray:
        arr = self.ds.isel(time=idx).to_array().transpose("time", ...).values
        arr = arr.reshape(len(idx), -1, *arr.shape[-2:])
        return ((arr - self.mean) / self.std).astype(np.float32)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        days = self._days(list(range(idx, idx + 1 + self.n_step)))
        return torch.from_numpy(days[0]), torch.from_numpy(days[1:])


def rates(a, order_a: np.ndarray, b, order_b: np.ndarray, budget_s: float) -> tuple[float, int, float, int]:
    """Samples/s of ``a`` (in ``order_a``) and ``b`` (in ``order_b``, each repeated as needed),
    timed in alternating rounds of 1 s so that a change of machine load affects both alike."""
    loaders = ((a, order_a), (b, order_b))
    for ds, order in loaders:  # warm-up (first open, caches)
        ds[int(order[0])]
    spent, count = [0.0, 0.0], [0, 0]
    while min(spent) < budget_s:
        for k, (ds, order) in enumerate(loaders):
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 1.0:
                ds[int(order[(count[k] + 1) % len(order)])]
                count[k] += 1
            spent[k] += time.perf_counter() - t0
    return count[0] / spent[0], count[0], count[1] / spent[1], count[1]


def max_diff(a, b, indices) -> float:
    """Largest |difference| of the samples ``indices`` served by ``a`` and ``b``."""
    out = 0.0
    for i in indices:
        (xa, ya), (xb, yb) = a[int(i)], b[int(i)]
        out = max(out, float((xa - xb).abs().max()), float((ya - yb).abs().max()))
    return out


def ours(
    ds: xr.Dataset, stats: xr.Dataset, n_step: int, block: int = 0, buffer: int = 1, chunk: int = 1
) -> WindowDataset:
    """Our loader; with ``block`` its cache holds what the block order needs (cache_states_needed)."""
    kw = {"cache_states": cache_states_needed(block, buffer, n_step, chunk)} if block else {}
    return WindowDataset(
        ds, variables=PARAMS, levels=LEVELS, lead_steps=range(1, n_step + 1), statistics=stats, **kw
    )


def peak_rss_child(kind: str, path: Path, stats_path: Path, block: int, buffer: int) -> None:
    """Serve one epoch (train pattern, block order) and print the peak RSS in MiB (a child process)."""
    from chaosbench_py.data.sources import open_chaosbench

    ds = open_chaosbench(path) if kind == "chaosbench" else open_training_copy(path)
    w = ours(ds, xr.open_dataset(stats_path).load(), 1, block, buffer)
    t0 = time.perf_counter()
    for i in BlockShuffleSampler(w, block, seed=0, buffer_blocks=buffer):
        w[i]
    rate = len(w) / (time.perf_counter() - t0)
    with open("/proc/self/status") as f:  # VmHWM: this process's peak RSS (ru_maxrss survives exec)
        hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM")), -1024)
    print(f"RSS {hwm / 1024:.0f} {len(w)} {rate:.1f}")


def peak_rss(kind: str, path: Path, stats_path: Path, block: int, buffer: int) -> tuple[float, int, float]:
    cmd = [sys.executable, __file__, "--rss-child", kind, str(path), str(stats_path), str(block), str(buffer)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    k = out.index("RSS")
    return float(out[k + 1]), int(out[k + 2]), float(out[k + 3])


def trainer_child(spec: dict) -> None:
    """Serve ``spec["epochs"]`` epochs of batches through the trainer's path (or the naive loop, batched
    alike) and print the rate, the peak RSS in MiB and the block size (a child process)."""
    device, b, epochs = torch.device(spec["device"]), int(spec["batch"]), int(spec["epochs"])
    path = Path(spec["path"])
    block = 0
    if spec["order"] == "naive":
        stats = xr.open_dataset(spec["stats"]).load()
        mean, std = stats["mean"].values.copy(), stats["std"].values.copy()
        if spec["kind"] == "wb2":
            naive = NaiveZarrDataset(path, 1, mean, std)
        else:  # the per-day stores serve z in gpm
            mean[:10] /= 9.81
            std[:10] /= 9.81
            naive = NaiveDataset(sorted((path / "era5").glob("era5_full_1.5deg_*.zarr")), 1, mean, std)
        steps = len(naive) // b
        perms: dict[int, np.ndarray] = {}

        def batch(s: int) -> tuple[torch.Tensor, torch.Tensor]:
            epoch, k = divmod(s, steps)
            perm = perms.setdefault(epoch, np.random.default_rng([0, epoch]).permutation(len(naive)))
            items = [naive[int(i)] for i in perm[k * b : (k + 1) * b]]
            x = torch.stack([a for a, _ in items]).to(device)
            return x, torch.stack([c for _, c in items]).to(device)
    else:
        from chaosbench_py.training.config import config_from_dict
        from chaosbench_py.training.tasks.next_step import NextStepTask

        cfg = config_from_dict(
            {
                "model": {"name": "fno", "config": {"n_modes": [4, 8], "hidden_channels": 8}},
                "data": {
                    "path": str(path),
                    "variables": PARAMS,
                    "levels": LEVELS,
                    "order": spec["order"],
                    "num_workers": int(spec["workers"]),
                },  # fmt: skip
                "task": {"kind": "next_step", "rollout_steps": 1},
                "train": {"batch_size": b, "progress": False},
            }
        )
        task = NextStepTask(cfg, device)
        steps, batch, block = task.steps_per_epoch, task.batch, task.block_size or 0
        ts = task.train_set
        print(
            f"cache: {ts.cache_states} of {len(ts.times)} time steps ({ts.cache_states / len(ts.times):.0%}), "
            f"reader {type(ts._copy).__name__ if ts._copy is not None else 'xarray/dask'}"
        )
    seconds = []
    for e in range(epochs):
        t0 = time.perf_counter()
        for s in range(e * steps, (e + 1) * steps):
            x, y = batch(s)
            if device.type == "cuda":
                torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    rate = steps * epochs * b / sum(seconds)
    warm = steps * (epochs - 1) * b / sum(seconds[1:]) if epochs > 1 else rate
    with open("/proc/self/status") as f:
        hwm = next((int(line.split()[1]) for line in f if line.startswith("VmHWM")), -1024)
    print(f"TRAINER {rate:.3f} {hwm / 1024:.0f} {steps * epochs * b} {block} {warm:.3f}")


def decode_share(day_files: list[Path], wb2: Path, n: int = 16) -> None:
    """What bounds the compressed stores: reading + decoding a time step's chunk files (numcodecs, the
    stores' own codec, one thread) against the naive loop's read of the same step."""
    import numcodecs

    def raw_decode(folder: Path, var: str) -> tuple[float, float, int]:
        meta = json.loads((folder / ".zmetadata").read_text())["metadata"][f"{var}/.zarray"]
        codec = numcodecs.get_codec(meta["compressor"])
        files = sorted(p for p in (folder / var).iterdir() if not p.name.startswith("."))
        t0 = time.perf_counter()
        blobs = [f.read_bytes() for f in files]
        t1 = time.perf_counter()
        for b in blobs:
            codec.decode(b)
        return t1 - t0, time.perf_counter() - t1, int(meta["chunks"][0]) if meta["shape"][0] > 10 else 1

    numcodecs.blosc.set_nthreads(1)
    io = dec = 0.0
    for f in day_files[:n]:
        for v in PARAMS:
            a, b, _ = raw_decode(f, v)
            io, dec = io + a, dec + b
    t0 = time.perf_counter()
    for f in day_files[:n]:
        _ = xr.open_dataset(f, engine="zarr")[PARAMS].to_array().values
    naive = (time.perf_counter() - t0) / n
    print(f"per-day store, per day: read {io / n * 1e3:.1f} ms + Blosc decode {dec / n * 1e3:.1f} ms; naive "
          f"open_dataset read {naive * 1e3:.1f} ms: decode share {dec / n / naive:.0%}", flush=True)  # fmt: skip
    io = dec = 0.0
    steps = 1
    for v in PARAMS:  # every chunk of every variable, per time step
        a, b, steps = raw_decode(wb2, v)
        io, dec = io + a, dec + b
    n_steps = xr.open_zarr(wb2).sizes["time"]
    ds = xr.open_zarr(wb2)[PARAMS]
    t0 = time.perf_counter()
    for a in range(0, min(n, n_steps - 1)):
        _ = ds.isel(time=[a, a + 1]).to_array().values
    naive = (time.perf_counter() - t0) / min(n, n_steps - 1) / 2
    print(f"WB2-style store ({steps}-step chunks), per time step: read {io / n_steps * 1e3:.1f} ms + decode "
          f"{dec / n_steps * 1e3:.1f} ms (a chunk: {dec / n_steps * steps * 1e3:.1f} ms); naive isel read per "
          f"step {naive * 1e3:.1f} ms", flush=True)  # fmt: skip


def trainer_rows(
    args: argparse.Namespace, stores: dict[str, Path], big: dict[str, Path], stats_path: Path
) -> None:
    """Run the ``--trainer`` cases (each in a child process) and print the table with ratios."""

    def run(kind: str, path: Path, order: str) -> tuple[float, float, int, float]:
        spec = {"kind": kind, "path": str(path), "order": order, "batch": args.batch, "epochs": args.epochs,
                "device": args.device, "workers": args.workers, "stats": str(stats_path)}  # fmt: skip
        cmd = [sys.executable, __file__, "--trainer-child", json.dumps(spec)]
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        cache = next((line for line in text.splitlines() if line.startswith("cache:")), "")
        out = text.split()
        k = out.index("TRAINER")
        rate, mib, n, block = float(out[k + 1]), float(out[k + 2]), int(out[k + 3]), int(out[k + 4])
        warm, load = float(out[k + 5]), os.getloadavg()[0]
        print(f"  {kind:10s} {order:7s} {rate:8.2f} samples/s ({n}; after the first epoch {warm:.2f}), "
              f"peak RSS {mib:5.0f} MiB, block {block}, load {load:.1f} {cache}", flush=True)  # fmt: skip
        return rate, mib, block, warm

    peer = {"chaosbench": "chaosbench", "copy": "chaosbench", "wb2": "wb2"}
    results: list[dict] = []
    for r in range(args.runs):
        print(f"trainer path, run {r + 1} (uptime load {os.getloadavg()})", flush=True)
        naive = {kind: run(kind, stores[kind], "naive") for kind in ("chaosbench", "wb2")}
        for kind in ("chaosbench", "copy", "wb2"):
            for order in ("random", "blocks"):
                rate, mib, block, warm = run(kind, stores[kind], order)
                base = naive[peer[kind]]
                results.append({"run": r + 1, "kind": kind, "order": order, "rate": rate, "rss": mib,
                                "block": block, "naive": base[0], "naive_rss": base[1], "warm": warm,
                                "naive_warm": base[3]})  # fmt: skip
    print(
        "\n| store | order | naive samples/s | trainer samples/s | ratio | vs random "
        "| after epoch 1: naive / trainer, ratio | peak RSS MiB (naive) | run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in results:
        rnd = next(
            x
            for x in results
            if x["run"] == row["run"] and x["kind"] == row["kind"] and x["order"] == "random"
        )
        order = row["order"] + (f" ({row['block']} steps)" if row["block"] else "")
        ratio, vs_random = row["rate"] / row["naive"], row["rate"] / rnd["rate"]
        warm = f"{row['naive_warm']:.2f} / {row['warm']:.2f}, {row['warm'] / row['naive_warm']:.1f}x"
        print(f"| {row['kind']} | {order} | {row['naive']:.2f} | {row['rate']:.2f} | {ratio:.1f}x | "
              f"{vs_random:.1f}x | {warm} | {row['rss']:.0f} ({row['naive_rss']:.0f}) | {row['run']} |")  # fmt: skip
    print("\n| store (block order) | days | samples/s (after epoch 1) | peak RSS MiB |\n|---|---|---|---|")
    for kind in ("chaosbench", "copy", "wb2"):
        for days, path in ((args.days, stores[kind]), (args.days * args.rss_factor, big[kind])):
            rate, mib, _, warm = run(kind, path, "blocks")
            print(f"| {kind} | {days} | {rate:.2f} ({warm:.2f}) | {mib:.0f} |")
    print(f"load average at the end: {os.getloadavg()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=80, help="days in the archive (≥ 50 for the rollout case)")
    p.add_argument(
        "--rss-factor", type=int, default=3, help="the larger store for the RSS check: factor × days"
    )
    p.add_argument("--root", type=Path, default=None, help="archive folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the archive")
    p.add_argument("--budget", type=float, default=10.0, help="seconds of timing per loader and case")
    p.add_argument(
        "--block", type=int, default=8, help="days per block of the block order (ChaosBench layout)"
    )
    p.add_argument("--buffer", type=int, default=2, help="blocks shuffled together")
    p.add_argument(
        "--wb2-chunk", type=int, default=8, help="time steps per chunk of the WeatherBench2-style store"
    )
    p.add_argument("--wb2-block-chunks", type=int, default=4, help="chunks per block on the WB2-style store")
    p.add_argument("--trainer", action="store_true", help="time the trainer's batch path instead (see above)")
    p.add_argument("--device", default="cpu", help="device the trainer's batches go to (cpu, cuda)")
    p.add_argument("--batch", type=int, default=8, help="global batch size (--trainer)")
    p.add_argument("--epochs", type=int, default=3, help="epochs timed per case (--trainer)")
    p.add_argument("--workers", type=int, default=0, help="data.num_workers (--trainer)")
    p.add_argument("--runs", type=int, default=2, help="repetitions of every case (--trainer)")
    p.add_argument("--rss-child", nargs=5, help=argparse.SUPPRESS)
    p.add_argument("--trainer-child", help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    torch.set_num_threads(1)
    if args.trainer_child:
        return trainer_child(json.loads(args.trainer_child))
    if args.rss_child:
        kind, path, stats_path, block, buffer = args.rss_child
        return peak_rss_child(kind, Path(path), Path(stats_path), int(block), int(buffer))

    from chaosbench_py.data.sources import open_chaosbench, open_weatherbench2_zarr

    root = args.root or Path(tempfile.mkdtemp(prefix="chaosbench_bench_"))
    t0 = time.perf_counter()
    files = write_archive(root / "a", args.days)
    size = sum(f.stat().st_size for f in (root / "a" / "era5").rglob("*") if f.is_file())
    print(
        f"archive: {len(files)} day-stores, {size / 2**20:.0f} MiB on disk, written in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    ds = open_chaosbench(root / "a")
    t_open = time.perf_counter() - t0
    stats = channel_statistics(ds, variables=PARAMS, levels=LEVELS, years=(2016, 2016))
    stats_path = root / "stats.nc"
    stats.to_netcdf(stats_path)
    mean, std = stats["mean"].values.copy(), stats["std"].values.copy()
    mean_gpm, std_gpm = mean.copy(), std.copy()
    mean_gpm[:10] /= 9.81  # the naive loader serves z as stored (gpm); ours converts to m² s⁻²
    std_gpm[:10] /= 9.81
    print(f"open_chaosbench: {t_open * 1e3:.0f} ms for {len(files)} stores; {ds.sizes['time']} days")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )

    # training-optimised copies and a WeatherBench2-style (time-chunked, compressed) store
    copies = {}
    for codec in ("none",) if args.trainer else ("none", "lz4"):
        cost = write_training_copy(ds, root / f"copy_{codec}.zarr", codec=codec, overwrite=True)
        copies[codec] = (open_training_copy(root / f"copy_{codec}.zarr"), cost)
        print(f"training copy ({codec}): {cost['bytes'] / 2**20:.0f} MiB, written in {cost['seconds']:.1f} s")
    wb2 = root / "wb2.zarr"
    ds.chunk({"time": args.wb2_chunk, "level": -1}).to_zarr(wb2, mode="w", zarr_format=2, consolidated=True)

    if args.trainer:
        big = root / "b"
        write_archive(big, args.days * args.rss_factor, reuse=root / "a")
        write_training_copy(open_chaosbench(big), root / "copy_big.zarr", codec="none", overwrite=True)
        wb2_big = root / "wb2_big.zarr"
        open_chaosbench(big).chunk({"time": args.wb2_chunk, "level": -1}).to_zarr(
            wb2_big, mode="w", zarr_format=2, consolidated=True
        )
        stores = {"chaosbench": root / "a", "copy": root / "copy_none.zarr", "wb2": wb2}
        decode_share(files, wb2)
        big_stores = {"chaosbench": big, "copy": root / "copy_big.zarr", "wb2": wb2_big}
        trainer_rows(args, stores, big_stores, stats_path)
        if args.root is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        return

    rng = np.random.default_rng(1)
    b, m = args.block, args.buffer
    rows = []

    def case(name: str, naive, naive_order, mine, mine_order, note: str) -> None:
        diff = max_diff(mine, naive, naive_order[:3])
        assert diff < 1e-3, f"{name}: the loaders disagree by {diff}"
        r_mine, n_mine, r_naive, n_naive = rates(mine, mine_order, naive, naive_order, args.budget)
        rows.append((name, r_naive, r_mine, note))
        print(
            f"{name:28s}: naive {r_naive:7.2f} samples/s ({n_naive}), ours {r_mine:7.2f} samples/s ({n_mine}), "
            f"ratio {r_mine / r_naive:5.1f}x  (max |diff| {diff:.1e})"
        )

    naive = NaiveDataset(files, 1, mean_gpm, std_gpm)
    rand = rng.permutation(len(naive))
    w = ours(ds, stats, 1)
    case("train, ChaosBench, random", naive, rand, w, rand, "both random order")
    w = ours(ds, stats, 1, b, m)
    order = block_order(w.anchors // b, seed=0, buffer_blocks=m)
    case("train, ChaosBench, block", naive, rand, w, order, f"ours: block order ({b} d x {m})")
    for codec, (cds, _) in copies.items():
        w = ours(cds, stats, 1, b, m)
        case(f"train, copy {codec}, block", naive, rand, w, order, f"ours: copy ({codec}), block order")
    naive_wb2 = NaiveZarrDataset(wb2, 1, mean, std)
    wb2_block = args.wb2_chunk * args.wb2_block_chunks
    w = ours(open_weatherbench2_zarr(wb2), stats, 1, wb2_block, 1, args.wb2_chunk)
    wb2_order = block_order(w.anchors // wb2_block, seed=0)
    note = f"ours: block order ({args.wb2_block_chunks} x {args.wb2_chunk}-step chunks)"
    case("train, WB2-style zarr", naive_wb2, rand, w, wb2_order, note)
    w = ours(copies["none"][0], stats, 1, b, m)
    case(
        "train, WB2 -> copy none",
        naive_wb2,
        rand,
        w,
        order,
        "ours: copy (none) of the same data, block order",
    )
    naive44 = NaiveDataset(files, 44, mean_gpm, std_gpm)
    seq = np.arange(len(naive44))
    case("rollout (44), ChaosBench", naive44, seq, ours(ds, stats, 44), seq, "both in order")

    # peak RSS: one epoch in block order on two store sizes (child processes)
    big = root / "b"
    write_archive(big, args.days * args.rss_factor, reuse=root / "a")
    write_training_copy(open_chaosbench(big), root / "copy_big.zarr", codec="none", overwrite=True)
    rss = []
    for kind, small_p, big_p in (
        ("chaosbench", root / "a", big),
        ("copy", root / "copy_none.zarr", root / "copy_big.zarr"),
    ):
        for pth, days in ((small_p, args.days), (big_p, args.days * args.rss_factor)):
            mib, n, rate = peak_rss(kind, pth, stats_path, b, m)
            rss.append((kind, days, n, mib, rate))
            print(
                f"peak RSS {kind:10s} {days:4d} days: {mib:6.0f} MiB after one epoch of {n} samples ({rate:.1f}/s)"
            )

    print("\n| pattern | naive samples/s | chaosbench_py samples/s | ratio | order |\n|---|---|---|---|---|")
    for name, a, c, note in rows:
        print(f"| {name} | {a:.2f} | {c:.2f} | {c / a:.1f}x | {note} |")
    print("\n| store | disk MiB | write s |\n|---|---|---|")
    print(f"| ChaosBench per-day (Blosc lz4, 4 chunks/var/day) | {size / 2**20:.0f} | - |")
    for codec, (_, cost) in copies.items():
        print(f"| training copy {codec} | {cost['bytes'] / 2**20:.0f} | {cost['seconds']:.1f} |")
    print("\n| layout | days | samples | peak RSS MiB | samples/s |\n|---|---|---|---|---|")
    for kind, days, n, mib, rate in rss:
        print(f"| {kind} | {days} | {n} | {mib:.0f} | {rate:.1f} |")
    if args.root is None and not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
