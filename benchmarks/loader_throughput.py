"""Samples/s serving ChaosBench-layout ERA5: this package vs a naive per-sample ``xr.open_dataset`` loop.

The script writes a local archive in the ChaosBench layout (``../shared/reference/chaosbench.md``
§1.2–1.3): ``<root>/era5/era5_full_1.5deg_YYYYMMDD.zarr``, one zarr store per day (zarr v2,
consolidated, as xarray wrote them), variables ``z q t u v w`` with dims ``(level, latitude,
longitude)``, levels 10 … 1000 hPa, 121 × 240 at 1.5°, latitude 90 → −90, z in gpm: 60 channels.
Field values are smooth random fields plus noise (compressible like real data, not constant).

Two loaders serve the same normalised float32 samples ``x (60, 121, 240)``, ``y (n_step, 60, 121, 240)``:

* **naive** -- what ChaosBench's ``S2SObsDataset.__getitem__`` does (§1.5): for every sample, open
  each needed day-store with ``xr.open_dataset(path, engine="zarr")``, ``[z q t u v w]
  .to_array().values``, z-score per channel. Written here from that description (no code copied).
* **ours** -- ``chaosbench_py.data.open_chaosbench`` (one lazy dataset with a consolidated time
  axis, opened once) + ``chaosbench_py.data.windows.WindowDataset``.

Two access patterns:

* ``train``: ``n_step = 1`` (one input day, one target day), samples in random order: every
  sample reads 2 days on both sides; the difference is the per-sample open overhead.
* ``rollout``: ``n_step = 44`` (one input day + 44 target days, ChaosBench's evaluation window),
  samples in order: the naive loader opens 45 stores per sample, ours reads one new day per
  sample and takes the other 44 from its window cache.

Both sides run in the main process (``num_workers = 0``) on the same files; the script checks
that both serve the same numbers. Run::

    python benchmarks/loader_throughput.py [--days 80] [--root /tmp/chaosbench_bench] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from chaosbench_py.data.statistics import channel_statistics
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


def write_archive(root: Path, n_days: int, seed: int = 0) -> list[Path]:
    """One ChaosBench-layout day-store per day from 2016-01-01 on; returns the paths."""
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


def rates(a: torch.utils.data.Dataset, b: torch.utils.data.Dataset, order: np.ndarray, budget_s: float):
    """Samples/s of ``a`` and ``b`` on the same samples, timed in alternating rounds so that a
    change of machine load during the run affects both alike. Returns (rate_a, n_a, rate_b, n_b)."""
    a[int(order[0])]  # warm-up (first open, caches)
    b[int(order[0])]
    spent = {id(a): 0.0, id(b): 0.0}
    count = {id(a): 0, id(b): 0}
    pos = {id(a): 1, id(b): 1}
    while min(spent.values()) < budget_s and max(pos.values()) < len(order):
        for ds in (a, b):
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 1.0 and pos[id(ds)] < len(order):
                ds[int(order[pos[id(ds)]])]
                pos[id(ds)] += 1
                count[id(ds)] += 1
            spent[id(ds)] += time.perf_counter() - t0
    return count[id(a)] / spent[id(a)], count[id(a)], count[id(b)] / spent[id(b)], count[id(b)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=80, help="days in the archive (≥ 50 for the rollout case)")
    p.add_argument("--root", type=Path, default=None, help="archive folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the archive")
    p.add_argument("--budget", type=float, default=10.0, help="seconds of timing per loader and case")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=RuntimeWarning)

    from chaosbench_py.data.sources import open_chaosbench

    root = args.root or Path(tempfile.mkdtemp(prefix="chaosbench_bench_"))
    t0 = time.perf_counter()
    files = write_archive(root, args.days)
    size = sum(f.stat().st_size for f in (root / "era5").rglob("*") if f.is_file())
    print(
        f"archive: {len(files)} day-stores, {size / 2**20:.0f} MiB on disk, written in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    ds = open_chaosbench(root)
    t_open = time.perf_counter() - t0
    stats = channel_statistics(ds, variables=PARAMS, levels=LEVELS, years=(2016, 2016))
    mean, std = stats["mean"].values.copy(), stats["std"].values.copy()
    mean[:10] /= 9.81  # the naive loader serves z as stored (gpm); ours converts to m² s⁻²
    std[:10] /= 9.81
    print(f"open_chaosbench: {t_open * 1e3:.0f} ms for {len(files)} stores; {ds.sizes['time']} days")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )
    rng = np.random.default_rng(1)
    results = []
    for case, n_step, shuffle in (("train", 1, True), ("rollout", 44, False)):
        ours = WindowDataset(
            ds, variables=PARAMS, levels=LEVELS, lead_steps=range(1, n_step + 1), statistics=stats
        )
        naive = NaiveDataset(files, n_step, mean, std)
        assert len(ours) == len(naive), (len(ours), len(naive))
        order = rng.permutation(len(ours)) if shuffle else np.arange(len(ours))
        xa, ya = ours[int(order[0])]
        xb, yb = naive[int(order[0])]
        diff = max(float((xa - xb).abs().max()), float((ya - yb).abs().max()))
        assert diff < 1e-3, f"the loaders disagree by {diff}"
        r_ours, n_ours, r_naive, n_naive = rates(ours, naive, order, args.budget)
        results.append((case, n_step, r_naive, r_ours))
        print(
            f"{case:8s} x {tuple(xa.shape)} y {tuple(ya.shape)}: naive {r_naive:7.2f} samples/s ({n_naive} samples), "
            f"ours {r_ours:7.2f} samples/s ({n_ours}), ratio {r_ours / r_naive:5.1f}x  (max |diff| {diff:.1e})"
        )
    print("\n| case | n_step | naive samples/s | chaosbench_py samples/s | ratio |\n|---|---|---|---|---|")
    for case, n_step, a, b in results:
        print(f"| {case} | {n_step} | {a:.2f} | {b:.2f} | {b / a:.1f}x |")
    if args.root is None and not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
