"""Training throughput of the generic ``Trainer`` against a minimal hand-written PyTorch loop (harness overhead).

For each case the same model (same config, same seed), the same optimizer (class and
hyper-parameters) and the same loss are trained by

* **plain**: a hand-written loop over data windows already stacked in memory: index a batch,
  ``zero_grad``, forward + loss (under ``torch.autocast`` when bf16), ``backward``, ``optimizer.step``.
  No checkpoints, no logging, no EMA, no clipping, no scheduler, no NaN guard;
* **trainer**: :class:`chaosbench_py.training.Trainer` (``fit``) on the same data as a store on disk,
  configured as lean as it goes: ``grad_clip 0``, no EMA, constant schedule, ``checkpoint_every 0``,
  ``log_every 10``, ``validate_every 0``, no progress bar. What remains is the harness: the task's data
  pipeline (windows read from the zarr store and normalised per step, or trajectory windows cut per
  step), the scheduler, the gradient-norm computation of the NaN guard, the loss synchronisation
  (``float(loss)``) and the metrics log.

The printed **ratio** is trainer samples/s ÷ plain samples/s (1.0 = no overhead; 0.8 = the harness
costs 20 % of the throughput). Each side runs in its own interpreter (so the peak resident memory
is its own); warm-up steps are excluded; each side is timed over ``3 × steps`` optimiser steps as three
repeats and the median is reported. The checkpoint written at the end of each timed ``fit`` call is
timed separately (``save_checkpoint``: model + optimizer + task + RNG state, atomic write) and
subtracted from the training time. ``+ms/step`` is the extra time per optimiser step of the trainer
(``B/trainer − B/plain``); ``data ms`` is the time of the trainer task's ``task.batch(step)`` alone (the
part of that extra time spent reading windows).

Cases (the loss: ``physics_metrics.weather.losses.area_weighted_mse`` for the gridded cases, the
GTF loss :func:`chaosbench_py.training.gtf.gtf_loss` with the same adaptive α updates for shPLRNN):

* ``fno``: FNO (``n_modes (8, 16)``, hidden 32, 4 layers, residual; ``configs/fno_shallow_water.yaml``),
  next-step, on a synthetic canonical store 33 × 64 (5.625° with poles), variables ``z u v``,
  160 six-hourly times; batch 8.
* ``pangu``: Pangu-lite (embed 32, depths (2, 2, 2, 2), heads (2, 4, 4, 2), window (2, 6, 12), patch
  (2, 4, 4)) on a synthetic store 32 × 64 with surface ``msl t2m``, upper-air ``z t`` × 4 levels and one
  constant field ``lsm``; ``grid``, ``n_levels``, ``n_upper_vars``, ``n_surface_vars``, ``n_masks`` are
  left to the trainer's auto-fill, and the script checks the filled values; batch 4.
* ``gtf``: clipped shPLRNN (M = 3, H = 100) with aGTF (sequence length 100, product-bound α every 5
  steps, decay 0.99, λ_lat 1e-5; ``configs/shplrnn_gtf_lorenz.yaml``), RAdam lr 5e-3, on a Lorenz-63
  series (20 000 points, Δt = 0.01, z-scored); batch 16 sequences.

Each case in float32 and with ``bf16`` autocast (the plain loop then autocasts its forward + loss too).
Peak memory: the process's peak resident set size on CPU (``ru_maxrss``), reported as the growth over
the resident size right after the imports; on CUDA the allocator peak (``max_memory_allocated``).

Usage::

    nice -n 5 python benchmarks/trainer_throughput.py [--threads 1] [--device cpu|cuda] [--compile]
        [--cases fno,pangu,gtf] [--repeats 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# per case: batch size, warm-up steps, timed steps per repeat, what a sample is
CASES = {
    "fno": {"batch": 8, "warmup": 3, "steps": 12, "unit": "samples"},
    "pangu": {"batch": 4, "warmup": 2, "steps": 5, "unit": "samples"},
    "gtf": {"batch": 16, "warmup": 20, "steps": 150, "unit": "sequences"},
}
PANGU_LEVELS = [1000, 850, 500, 250]


# ---------------------------------------------------------------------------- synthetic data
def _pattern(lat: np.ndarray, lon: np.ndarray, n_times: int, seed: int) -> np.ndarray:
    """A wave-3 pattern moving east by 1/16 of its period per step, with noisy amplitude: (time, lat, lon)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times)[:, None, None]
    amp = 1.0 + 0.1 * rng.standard_normal((n_times, 1, 1))
    phase = np.deg2rad(lon)[None, None, :]
    return amp * np.cos(np.deg2rad(lat))[None, :, None] * np.sin(3 * phase - t * 2 * np.pi / 16)


def write_fno_store(path: Path, n_times: int = 160) -> Path:
    """Canonical gridded zarr, 33 × 64 with poles, 2-D variables z, u, v, six-hourly."""
    import pandas as pd
    import xarray as xr

    lat = np.linspace(90.0, -90.0, 33)
    lon = np.arange(64) * 5.625
    p = _pattern(lat, lon, n_times, 0)
    q = _pattern(lat, lon + 30.0, n_times, 1)
    ds = xr.Dataset(
        {
            "z": (
                ("time", "latitude", "longitude"),
                (50000 + 500 * p).astype(np.float32),
                {"units": "m**2 s**-2"},
            ),
            "u": (("time", "latitude", "longitude"), (10 * q).astype(np.float32), {"units": "m s**-1"}),
            "v": (("time", "latitude", "longitude"), (5 * p * q).astype(np.float32), {"units": "m s**-1"}),
        },
        coords={
            "time": pd.date_range("2001-01-01", periods=n_times, freq="6h").values,
            "latitude": lat,
            "longitude": lon,
        },
    )
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


def write_pangu_store(path: Path, n_times: int = 48) -> Path:
    """Canonical gridded zarr, 32 × 64 without poles: surface msl, t2m; upper z, t on 4 levels; constant lsm."""
    import pandas as pd
    import xarray as xr

    lat = 90.0 - (np.arange(32) + 0.5) * 5.625
    lon = np.arange(64) * 5.625
    p = _pattern(lat, lon, n_times, 2)
    lev = np.asarray(PANGU_LEVELS, dtype=np.float64)
    scale = (lev / 1000.0)[None, :, None, None]
    z = 9.81 * (8000.0 * np.log(1000.0 / lev))[None, :, None, None] + 300 * scale * p[:, None]
    t = 288.0 * scale**0.19 + 4 * p[:, None]
    sv = ("time", "latitude", "longitude")
    uv = ("time", "level", "latitude", "longitude")
    ds = xr.Dataset(
        {
            "msl": (sv, (101325 + 800 * p).astype(np.float32), {"units": "Pa"}),
            "t2m": (sv, (285 + 6 * p).astype(np.float32), {"units": "K"}),
            "z": (uv, z.astype(np.float32), {"units": "m**2 s**-2"}),
            "t": (uv, t.astype(np.float32), {"units": "K"}),
            "lsm": (
                ("latitude", "longitude"),
                (_pattern(lat, lon, 1, 3)[0] > 0).astype(np.float32),
                {"units": "1"},
            ),
        },
        coords={
            "time": pd.date_range("2001-01-01", periods=n_times, freq="6h").values,
            "level": lev,
            "latitude": lat,
            "longitude": lon,
        },
    )
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


def write_lorenz(path: Path, n: int = 20_000, dt: float = 0.01) -> Path:
    """Lorenz-63 (σ, ρ, β = 10, 28, 8/3), ``n`` samples at ``dt`` after a 10-time-unit transient, ``(n, 3)`` .npy."""
    from scipy.integrate import solve_ivp

    def f(_t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t_eval = 10.0 + dt * np.arange(n)
    sol = solve_ivp(f, (0.0, t_eval[-1]), [1.0, 1.0, 20.0], t_eval=t_eval, rtol=1e-8, atol=1e-8)
    np.save(path, sol.y.T.astype(np.float32))
    return path


def run_config(case: str, data: Path, batch: int) -> dict:
    """The run configuration of ``case`` (the trainer side; the plain loop takes model, data and optimizer from it)."""
    lean = {"steps": 10**6, "batch_size": batch, "grad_clip": 0.0, "ema_decay": None, "checkpoint_every": 0,
            "log_every": 10, "validate_every": 0, "progress": False, "seed": 0}  # fmt: skip
    if case == "gtf":
        return {
            "model": {"name": "shplrnn", "config": {"latent_dim": 3, "hidden_dim": 100, "clipped": True}},
            "data": {"kind": "trajectories", "path": str(data), "train_fraction": 1.0, "standardize": True},
            "task": {
                "kind": "gtf",
                "gtf": {
                    "sequence_length": 100,
                    "alpha_method": "product_upper_bound",
                    "alpha_update_interval": 5,
                    "alpha_decay": 0.99,
                    "lambda_latent": 1.0e-5,
                },
            },  # fmt: skip
            "optimizer": {"name": "radam", "lr": 5.0e-3},
            "schedule": {"name": "constant"},
            "train": lean,
        }
    if case == "fno":
        model = {
            "name": "fno",
            "config": {"n_modes": [8, 16], "hidden_channels": 32, "n_layers": 4, "residual": True},
        }
        data_section = {"kind": "gridded", "path": str(data), "variables": ["z", "u", "v"]}
    else:
        model = {"name": "pangu", "config": {"embed_dim": 32, "depths": [2, 2, 2, 2], "num_heads": [2, 4, 4, 2],
                 "window_size": [2, 6, 12], "patch_size": [2, 4, 4], "drop_path_rate": 0.0}}  # fmt: skip
        data_section = {"kind": "gridded", "path": str(data), "variables": ["msl", "t2m", "z", "t"],
                        "levels": PANGU_LEVELS, "constants": ["lsm"]}  # fmt: skip
    if os.environ.get("TRAINER_BENCH_IN_MEMORY") == "1":
        data_section["in_memory"] = True  # the trainer reads a small store once (data.in_memory)
    return {
        "model": model,
        "data": data_section,
        "task": {"kind": "next_step", "rollout_steps": 1, "loss": "mse", "area_weighted": True},
        "optimizer": {"name": "adamw", "lr": 1.0e-3, "weight_decay": 0.0},
        "schedule": {"name": "constant"},
        "train": lean,
    }


def prepare(case: str, cfg: dict, out: Path) -> dict:
    """Build the task once (as the trainer would), save what the plain loop needs: filled model config,
    all training windows stacked in memory, loss weights. Returns the filled model config."""
    import torch

    from chaosbench_py.training import config_from_dict
    from chaosbench_py.training.tasks import build_task

    rc = config_from_dict(cfg)
    task = build_task(rc, torch.device("cpu"))
    model_config = task.model_config(rc.model.name, rc.model.config)
    blob: dict = {"model_config": model_config}
    if case == "gtf":
        series = task.train  # standardised, in memory
        w = task.window + 1
        blob["x"] = torch.cat([s.unfold(0, w, 1).permute(0, 2, 1).contiguous() for s in series])
    else:
        items = [task.train_set[i] for i in range(len(task.train_set))]
        blob["x"] = torch.stack([a for a, _ in items])
        blob["y"] = torch.stack([b[0] for _, b in items])
        blob["lat_weights"] = task.lat_weights.clone()
        blob["channel_weights"] = torch.as_tensor(task.channel_weights).clone()
        blob["n_dynamic"] = task.n_dynamic
        blob["channel_names"] = task.channel_names
    torch.save(blob, out)
    return model_config


# ---------------------------------------------------------------------------- workers (own interpreter)
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def _peak_mb(device, rss0: float) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - rss0


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(args: argparse.Namespace) -> None:
    """One side of one case: prints ``RESULT {json}``."""
    import torch

    import emulators  # noqa: F401 - both sides import the same modules before the baseline RSS
    from chaosbench_py.training import Trainer
    from chaosbench_py.training.gtf import GTFConfig, estimate_alpha, gtf_loss, update_alpha
    from physics_metrics.weather.losses import area_weighted_mse

    torch.set_num_threads(args.threads)
    rss0 = _rss_mb()
    spec = CASES[args.case]
    cfg = json.loads(Path(args.config).read_text())
    cfg["train"].update(device=args.device, bf16=args.bf16, compile=args.compile)
    batch = spec["batch"]
    warmup = max(1, round(spec["warmup"] * args.scale))
    steps = max(1, round(spec["steps"] * args.scale))
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result: dict = {"case": args.case, "side": args.side, "bf16": args.bf16}
    rates = []

    if args.side == "trainer":
        trainer = Trainer(cfg, args.out)
        ckpt_times: list[float] = []
        save = trainer.save_checkpoint

        def timed_save():
            _sync(device)
            t0 = time.perf_counter()
            path = save()
            ckpt_times.append(time.perf_counter() - t0)
            return path

        trainer.save_checkpoint = timed_save
        trainer.fit(stop_after=warmup)
        for _ in range(args.repeats):
            _sync(device)
            t0 = time.perf_counter()
            trainer.fit(stop_after=steps)
            _sync(device)
            dt = time.perf_counter() - t0 - ckpt_times[-1]
            rates.append(batch * steps / dt)
        data_times = []
        for s in range(trainer.step, trainer.step + steps):
            t0 = time.perf_counter()
            trainer.task.batch(s)
            _sync(device)
            data_times.append(time.perf_counter() - t0)
        result.update(
            checkpoint_ms=1e3 * statistics.median(ckpt_times[1:]),
            checkpoint_mb=trainer.ckpt_path.stat().st_size / 2**20,
            data_ms=1e3 * statistics.median(data_times),
            loss=trainer.history[-1]["loss"],
            model_config=dataclasses.asdict(trainer.model.config),
        )
    else:
        blob = torch.load(args.prep, weights_only=True)
        torch.manual_seed(cfg["train"]["seed"])
        model = emulators.build_model(cfg["model"]["name"], blob["model_config"]).to(device)
        if args.compile:
            model.compile()
        o = cfg["optimizer"]
        cls = {"adamw": torch.optim.AdamW, "radam": torch.optim.RAdam}[o["name"]]
        opt = cls(model.parameters(), lr=o["lr"], weight_decay=o.get("weight_decay", 0.0))
        x_all = blob["x"].to(device)
        n_batches = x_all.shape[0] // batch
        order = torch.randperm(x_all.shape[0], generator=torch.Generator().manual_seed(0)).to(device)
        model.train()
        if args.case == "gtf":
            gcfg = GTFConfig.from_dict(cfg["task"]["gtf"])
            alpha = gcfg.alpha

            def step(s: int) -> torch.Tensor:
                nonlocal alpha
                x = x_all[order[(s % n_batches) * batch : (s % n_batches + 1) * batch]]
                if s % gcfg.alpha_update_interval == 0:
                    alpha = update_alpha(alpha, estimate_alpha(model, x, gcfg.alpha_method), gcfg.alpha_decay)
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16):
                    loss, _ = gtf_loss(model, x, alpha, gcfg)
                loss.backward()
                opt.step()
                return loss
        else:
            y_all = blob["y"].to(device)
            lat_w = blob["lat_weights"].to(device)
            ch_w = blob["channel_weights"].to(device)
            n_dyn = int(blob["n_dynamic"])
            if cfg["model"]["name"] == "pangu":

                def forward(x):
                    return model.forward_stacked(x[:, :n_dyn], x[:, n_dyn:] if x.shape[1] > n_dyn else None)
            else:
                forward = model

            def step(s: int) -> torch.Tensor:
                idx = order[(s % n_batches) * batch : (s % n_batches + 1) * batch]
                x, y = x_all[idx], y_all[idx]
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16):
                    loss = area_weighted_mse(forward(x).float(), y.float(), lat_w, ch_w)
                loss.backward()
                opt.step()
                return loss

        s = 0
        for _ in range(warmup):
            step(s)
            s += 1
        for _ in range(args.repeats):
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = step(s)
                s += 1
            _sync(device)
            rates.append(batch * steps / (time.perf_counter() - t0))
        result["loss"] = float(loss)
    result.update(rate=statistics.median(rates), rates=rates, peak_mb=_peak_mb(device, rss0), rss0_mb=rss0)
    print("RESULT " + json.dumps(result))


# ---------------------------------------------------------------------------- driver
def _spawn(args, case, side, bf16, cfg_path, prep, out) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--case", case, "--side", side, "--config", str(cfg_path),
           "--prep", str(prep), "--out", str(out), "--threads", str(args.threads), "--device", args.device,
           "--repeats", str(args.repeats), "--scale", str(args.scale)]  # fmt: skip
    cmd += ["--bf16"] if bf16 else []
    cmd += ["--compile"] if args.compile else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"{side} {'bf16' if bf16 else 'fp32'} failed (rc {proc.returncode}): {tail}"}
    return json.loads(lines[-1][len("RESULT ") :])


def check_pangu_autofill(filled: dict, data: Path, batch: int) -> list[str]:
    """Compare the trainer's filled Pangu config with the data's layout; probe a wrong channel order."""
    import torch

    from chaosbench_py.training import config_from_dict
    from chaosbench_py.training.tasks import build_task

    want = {"grid": [32, 64], "n_levels": 4, "n_upper_vars": 2, "n_surface_vars": 2, "n_masks": 1}
    got = {k: list(filled[k]) if isinstance(filled[k], (list, tuple)) else filled[k] for k in want}
    lines = [f"pangu auto-fill: {got} -> {'OK' if got == want else 'WRONG, expected ' + str(want)}"]
    # the same data with the upper-air variables listed first: PanguModel.split_channels takes the
    # first n_surface_vars channels as surface, so this order must be refused (or reordered)
    cfg = run_config("pangu", data, batch)
    cfg["data"]["variables"] = ["z", "t", "msl", "t2m"]
    rc = config_from_dict(cfg)
    task = build_task(rc, torch.device("cpu"))
    try:
        bad = task.model_config("pangu", rc.model.config)
        lines.append(
            f"pangu with data.variables [z, t, msl, t2m] (upper-air first): NOT detected -- filled "
            f"n_surface_vars={bad['n_surface_vars']}, so channels {task.channel_names[:2]} would be read as the "
            "surface variables (silently wrong split)"
        )
    except Exception as exc:  # noqa: BLE001 - report whatever the task raises
        lines.append(f"pangu with upper-air variables first: refused ({type(exc).__name__}: {exc})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (GPU figures on a lent GPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model on both sides")
    parser.add_argument("--cases", default="fno,pangu,gtf")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply warm-up and timed steps")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    parser.add_argument("--in-memory", action="store_true", help="trainer with data.in_memory: true (gridded)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--prep", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_memory:
        os.environ["TRAINER_BENCH_IN_MEMORY"] = "1"  # inherited by the worker processes
    if args.worker:
        worker(args)
        return

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available on this machine")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise SystemExit(f"--cases: unknown {unknown}; choose from {list(CASES)}")
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, device {args.device}, threads {args.threads}, compile {args.compile}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if not torch.cuda.is_available():
        print(
            "no GPU on this machine (none lent to this run): CUDA figures are NOT measured; use --device cuda on one"
        )
    t_start = time.perf_counter()
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="trainer_tp_") as tmp:
        tmp = Path(tmp)
        for case in cases:
            spec = CASES[case]
            data = {"fno": lambda: write_fno_store(tmp / "fno.zarr"),
                    "pangu": lambda: write_pangu_store(tmp / "pangu.zarr"),
                    "gtf": lambda: write_lorenz(tmp / "lorenz.npy")}[case]()  # fmt: skip
            cfg = run_config(case, data, spec["batch"])
            cfg_path = tmp / f"{case}.json"
            cfg_path.write_text(json.dumps(cfg))
            prep = tmp / f"{case}_prep.pt"
            filled = prepare(case, cfg, prep)
            if case == "pangu":
                notes += check_pangu_autofill(filled, data, spec["batch"])
                print(notes[-2])
                print(notes[-1])
            for bf16 in (False,) if args.no_bf16 else (False, True):
                res = {side: _spawn(args, case, side, bf16, cfg_path, prep, tmp / f"run_{case}_{side}_{bf16}")
                       for side in ("plain", "trainer")}  # fmt: skip
                row = {"case": case, "bf16": bf16, "unit": spec["unit"], "batch": spec["batch"], **res}
                rows.append(row)
                _print_row(row, header=len(rows) == 1)
            if case == "pangu":
                tr = next(r for r in rows if r["case"] == "pangu" and not r["bf16"])["trainer"]
                if "error" not in tr:
                    print(f"pangu trained through the trainer: final loss {tr['loss']:.4g} (finite), "
                          f"model config grid={tr['model_config']['grid']} n_masks={tr['model_config']['n_masks']}")  # fmt: skip
    print(f"total {time.perf_counter() - t_start:.0f} s")


def _print_row(row: dict, header: bool) -> None:
    if header:
        print(
            f"{'case':<7}{'prec':<6}{'plain/s':>10}{'trainer/s':>11}{'ratio':>7}{'+ms/step':>9}{'data ms':>9}"
            f"{'peak Δ MiB p/t':>16}{'ckpt ms':>9}{'ckpt MiB':>9}  unit"
        )
    p, t = row["plain"], row["trainer"]
    prec = "bf16" if row["bf16"] else "fp32"
    for side in (p, t):
        if "error" in side:
            print(f"{row['case']:<7}{prec:<6}{side['error']}")
    if "error" in p or "error" in t:
        return
    print(
        f"{row['case']:<7}{prec:<6}{p['rate']:>10.1f}{t['rate']:>11.1f}{t['rate'] / p['rate']:>7.2f}"
        f"{1e3 * row['batch'] * (1 / t['rate'] - 1 / p['rate']):>9.1f}{t['data_ms']:>9.1f}{p['peak_mb']:>8.0f}/{t['peak_mb']:<7.0f}{t['checkpoint_ms']:>9.1f}"
        f"{t['checkpoint_mb']:>9.2f}  {row['unit']}/s; repeats p {[round(r, 1) for r in p['rates']]}, "
        f"t {[round(r, 1) for r in t['rates']]}; loss p {p['loss']:.3g} t {t['loss']:.3g}"
    )


if __name__ == "__main__":
    sys.exit(main())
