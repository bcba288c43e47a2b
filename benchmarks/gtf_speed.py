"""GTF training speed: the step-by-step (eager) forced recurrence against the analytic-BPTT fast path.

The paths of :func:`chaosbench_py.training.gtf.gtf_forward` run in the same process, on the same
model, data and seeds: ``GTFConfig(fast_path=False)`` (the eager loop under autograd, as before),
``fast_path=True`` with ``CHAOSBENCH_NATIVE=0`` (:func:`emulators.plrnn_bptt.forced_rollout`, its torch
version: "fast, torch") and ``fast_path=True`` as shipped (the recurrence and its adjoint as C loops,
:mod:`emulators._native_plrnn`, where a C compiler is found: "fast, C"). Cases (Hess et al., ICML 2023 settings):

* **ECG**: clipped shPLRNN, M = 5, H = 250, affine read-out, constant α = 0.3, sequence length 200,
  batch 16, λ_obs = 1e-7, gradient clipping 10, gradient through the forcing signals (``forcing_gradient``)
  (as the ``gtf-ecg`` recipe, :mod:`chaosbench_py.reproduce.gtf`).
* **Lorenz-63**: clipped shPLRNN, M = 3, H = 100, identity read-out, product-bound aGTF (α estimated
  every 5 steps), sequence length 100, batch 16, λ_lat = 1e-5 (as ``configs/shplrnn_gtf_lorenz.yaml``).

Two measurements per case and path, each ``--repeats`` times with the paths interleaved (median
reported, and the median of the per-repeat ratios to eager): **loop**, optimiser steps of a bare loop (``gtf_loss`` + ``backward`` + RAdam step, α
updates for aGTF); **trainer**, ``GTFTrainer.train(n)`` (the generic trainer: batches, clipping,
schedule, logging). Figures: steps/s on wall time and on CPU time of the process (``time.process_time``;
less sensitive to other jobs on the machine), and the ratio new/old. Also (``--extras``): the fast path
in float64, at batch 64 (sequences/s), and ``torch.compile`` (inductor) of the eager step
(``--compile``: compiles on first use, ~20 s). Data: the shared GTF series if present, else synthetic.
``--scan``: one ``forced_rollout`` forward + backward (float32 and float64, constant α = 0.3) at other
sizes ``(S, H, M, T)``, torch version against the C loop, CPU ms per call (how
:data:`emulators._native_plrnn.MAX_LATENT` was chosen).

Run::

    nice -n 5 python benchmarks/gtf_speed.py [--repeats 5] [--extras] [--compile] [--scan]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from chaosbench_py.training import GTFTrainer
from chaosbench_py.training.gtf import GTFConfig, estimate_alpha, gtf_loss, update_alpha
from emulators import _native_plrnn
from emulators.plrnn import ShPLRNN, ShPLRNNConfig

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gtf"


def _series(name: str, dim: int) -> tuple[np.ndarray, str]:
    path = DATA / name
    if path.exists():
        return np.load(path)[:20000].astype(np.float32), str(path.name)
    rng = np.random.default_rng(0)
    t = np.arange(20000)[:, None] * 0.05
    return (np.sin(t * (1 + np.arange(dim))) + 0.1 * rng.normal(size=(20000, dim))).astype(
        np.float32
    ), "synthetic"


def cases() -> dict[str, dict]:
    ecg, ecg_src = _series("ECG_pecuzal_5d_train.npy", 5)
    lor, lor_src = _series("lorenz63_on0.05_train.npy", 3)
    lor = (lor - lor.mean(0)) / lor.std(0)
    return {
        "ECG": {
            "model": {"obs_dim": 5, "latent_dim": 5, "hidden_dim": 250, "clipped": True, "observation": "affine"},
            "gtf": {"sequence_length": 200, "batch_size": 16, "alpha": 0.3, "alpha_method": "constant",
                    "lambda_latent": 0.0, "lambda_observation": 1e-7, "gradient_clip_norm": 10.0,
                    "lr_start": 5e-3, "lr_end": 1e-5, "forcing_gradient": True},  # as the gtf-ecg recipe
            "data": ecg, "source": ecg_src,
        },
        "Lorenz-63": {
            "model": {"obs_dim": 3, "latent_dim": 3, "hidden_dim": 100, "clipped": True},
            "gtf": {"sequence_length": 100, "batch_size": 16, "alpha": 1.0, "alpha_method": "product_upper_bound",
                    "alpha_update_interval": 5, "alpha_decay": 0.99, "lambda_latent": 1e-5,
                    "lr_start": 5e-3, "lr_end": 1e-5},
            "data": lor, "source": lor_src,
        },
    }  # fmt: skip


def _model(case: dict, dtype: torch.dtype) -> ShPLRNN:
    torch.manual_seed(0)
    return ShPLRNN(ShPLRNNConfig(**case["model"])).to(dtype)


def _batches(case: dict, n: int, batch: int, dtype: torch.dtype) -> list[torch.Tensor]:
    data = torch.as_tensor(case["data"], dtype=dtype)
    t1 = case["gtf"]["sequence_length"] + 1
    g = torch.Generator().manual_seed(1)
    starts = torch.randint(0, data.shape[0] - t1, (n, batch), generator=g)
    return [torch.stack([data[s : s + t1] for s in row]) for row in starts]


def run_loop(case: dict, fast: bool, n_steps: int, dtype=torch.float32, batch: int | None = None,
             compile_step: bool = False) -> tuple[float, float]:  # fmt: skip
    """Bare optimiser loop: ``(steps/s wall, steps/s CPU)`` over ``n_steps`` after 3 warm-up steps."""
    cfg = GTFConfig(**case["gtf"], fast_path=fast, progress=False)
    if batch is not None:
        cfg.batch_size = batch
    model = _model(case, dtype)
    if compile_step:
        model.step = torch.compile(model.step, dynamic=False)
    opt = torch.optim.RAdam(model.parameters(), lr=cfg.lr_start)
    xs = _batches(case, n_steps + 3, cfg.batch_size, dtype)
    alpha = cfg.alpha

    def one(i: int) -> None:
        nonlocal alpha
        x = xs[i]
        if cfg.alpha_method != "constant" and i % cfg.alpha_update_interval == 0:
            alpha = update_alpha(alpha, estimate_alpha(model, x, cfg.alpha_method), cfg.alpha_decay)
        opt.zero_grad(set_to_none=True)
        loss, _ = gtf_loss(model, x, alpha, cfg)
        loss.backward()
        if cfg.gradient_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.gradient_clip_norm)
        opt.step()

    for i in range(3):
        one(i)
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(3, n_steps + 3):
        one(i)
    return n_steps / (time.perf_counter() - t0), n_steps / (time.process_time() - c0)


def run_trainer(case: dict, fast: bool, n_steps: int) -> tuple[float, float]:
    """``GTFTrainer.train``: ``(steps/s wall, steps/s CPU)`` over ``n_steps`` after 3 warm-up steps."""
    cfg = GTFConfig(**case["gtf"], epochs=100, batches_per_epoch=50, fast_path=fast, progress=False)
    tr = GTFTrainer(_model(case, torch.float32), case["data"], cfg)
    tr.train(3)
    c0, t0 = time.process_time(), time.perf_counter()
    tr.train(n_steps)
    return n_steps / (time.perf_counter() - t0), n_steps / (time.process_time() - c0)


@contextlib.contextmanager
def _native(on: bool):
    """``CHAOSBENCH_NATIVE`` unset (the C loop where available) or ``0`` (the torch version) inside."""
    old = os.environ.pop("CHAOSBENCH_NATIVE", None)
    if not on:
        os.environ["CHAOSBENCH_NATIVE"] = "0"
    try:
        yield
    finally:
        os.environ.pop("CHAOSBENCH_NATIVE", None)
        if old is not None:
            os.environ["CHAOSBENCH_NATIVE"] = old


def _timed(fn, case: dict, path: str, n: int) -> tuple[float, float]:
    """``fn`` on path ``eager``, ``torch`` (fast path, torch version) or ``C`` (fast path, C loop)."""
    with _native(path == "C"):
        return fn(case, path != "eager", n)


def _median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


SCAN_SIZES = [(16, 100, 3, 100), (16, 250, 5, 200), (256, 100, 3, 100), (64, 512, 10, 200), (16, 2048, 4, 100),
              (16, 1024, 8, 100), (16, 1024, 16, 100), (16, 512, 32, 100)]  # fmt: skip


def scan(repeats: int) -> None:
    """``forced_rollout`` forward + backward per call: torch version vs C loop, CPU ms (median of ``repeats``)."""
    from emulators.plrnn_bptt import forced_rollout

    print("\n== forced_rollout forward + backward, CPU ms per call (S, H, M, T)")
    for s, h, m, t_len in SCAN_SIZES:
        line = f"S={s:4d} H={h:5d} M={m:3d} T={t_len:4d}"
        for dtype in (torch.float32, torch.float64):
            torch.manual_seed(0)
            model = ShPLRNN(ShPLRNNConfig(obs_dim=m, latent_dim=m, hidden_dim=h, clipped=True)).to(dtype)
            z0, tg = torch.randn(s, m, dtype=dtype), torch.randn(s, t_len, m, dtype=dtype)
            n = max(2, int(2e7 / (s * h * m * t_len)))
            ms = {}
            for path in ("torch", "C"):
                with _native(path == "C"):
                    runs = []
                    for _ in range(repeats + 1):  # the first: warm-up (workspaces, kernel build)
                        c0 = time.process_time()
                        for _ in range(n):
                            forced_rollout(model, z0, tg, 0.3).sum().backward()
                        runs.append((time.process_time() - c0) / n * 1e3)
                    ms[path] = statistics.median(runs[1:])
            line += f" | {str(dtype)[6:]} torch {ms['torch']:7.2f} C {ms['C']:7.2f} ({ms['torch'] / ms['C']:.2f}x)"
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps-old", type=int, default=15, help="timed steps of the eager path per repeat")
    ap.add_argument("--steps-new", type=int, default=80, help="timed steps of the fast path per repeat")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--extras", action="store_true", help="also float64 and batch 64 on the fast path")
    ap.add_argument("--compile", action="store_true", help="also torch.compile (inductor) of the eager step")
    ap.add_argument("--scan", action="store_true", help="only forced_rollout at other sizes: torch vs C loop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.scan:
        scan(args.repeats)
        return
    kernel = _native_plrnn.library()
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average at start {os.getloadavg()}, "
          f"C loop: {'built' if kernel is not None else 'not available (fast, C = fast, torch)'}")  # fmt: skip
    for name, case in cases().items():
        n_old, n_new = args.steps_old, args.steps_new
        if name == "Lorenz-63":
            n_old, n_new = 2 * n_old, 2 * n_new
        print(f"\n== {name} (data: {case['source']})")
        for kind, fn in (("loop", run_loop), ("trainer", run_trainer)):
            res = {"eager": [], "torch": [], "C": []}
            for _ in range(args.repeats):  # the paths back to back: each repeat sees the same machine load
                for path, runs in res.items():
                    runs.append(_timed(fn, case, path, n_old if path == "eager" else n_new))
            (ow, oc) = _median(res["eager"])
            line = f"{kind:8s} eager {ow:7.1f} steps/s wall {oc:7.1f} CPU"
            for path in ("torch", "C"):
                (nw, nc) = _median(res[path])
                rw = statistics.median(n[0] / o[0] for o, n in zip(res["eager"], res[path], strict=True))
                rc = statistics.median(n[1] / o[1] for o, n in zip(res["eager"], res[path], strict=True))
                line += f" | fast, {path:5s} {nw:7.1f} wall {nc:7.1f} CPU, ratio {rw:5.2f} wall {rc:5.2f} CPU"
            print(line + f"  (ratios: median over {args.repeats} repeats)")
        if args.extras:  # the fast path as shipped (the C loop where available)
            f32 = _median([run_loop(case, True, n_new) for _ in range(args.repeats)])
            f64 = _median([run_loop(case, True, n_new, dtype=torch.float64) for _ in range(args.repeats)])
            b64 = _median([run_loop(case, True, n_new // 2, batch=64) for _ in range(args.repeats)])
            print(f"fast f32 {f32[1]:7.1f} CPU steps/s | fast f64 {f64[1]:7.1f} ({f64[1] / f32[1]:.2f}x) | "
                  f"fast batch 64 {b64[1]:7.1f} steps/s = {64 * b64[1]:.0f} seq/s "
                  f"(batch 16: {16 * f32[1]:.0f} seq/s)")  # fmt: skip
        if args.compile:
            t0 = time.perf_counter()
            run_loop(case, False, 1, compile_step=True)
            t_comp = time.perf_counter() - t0
            comp = run_loop(case, False, n_old, compile_step=True)
            eag = run_loop(case, False, n_old)
            print(
                f"torch.compile(step) eager loop: {comp[1]:.1f} CPU steps/s vs eager {eag[1]:.1f} "
                f"({comp[1] / eag[1]:.2f}x); first call incl. compilation {t_comp:.0f} s"
            )
    print(f"\nload average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
