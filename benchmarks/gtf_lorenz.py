"""Lorenz-63 shPLRNN + GTF on CPU: time-to-quality, throughput and the final DSR scores.

Data: the GTF paper's Lorenz-63 set (``../shared/data/gtf``; 100 000 × 3, z-scored, sampling step
Δt = 0.01 time units; train with 5 % Gaussian observation noise, test noise-free). Model: the
clipped shPLRNN with identity read-out (Hess et al., ICML 2023; project notes ``reference/dsr.md`` A).

Every ``--eval-every`` optimiser steps the model is run freely by the GTF protocol (1.25·T steps from
the first test point, the first 0.25·T dropped) and ``D_stsp`` (30 bins per dimension) is computed
against the **whole** 100 000-point test set; the first step at which ``D_stsp < --target`` is the
time-to-quality (steps and training seconds, evaluation time excluded). At the end the full
:func:`chaosbench_py.evaluation.evaluate_dsr` runs: ``D_stsp``, ``D_H`` (σ = 20),
PE(20) and the model's Lyapunov spectrum per time unit (``time_step = 0.01``) against the Lorenz-63
value λ1 = 0.9056.

Noise floors printed first (same metric, same lengths):

* ``noisy train vs clean test`` (100 000 points each; the comparison in ``reference/dsr.md`` A.6);
* ``clean halves``: test[:50 000] vs test[50 000:];
* ``independent clean``: a fresh Lorenz-63 integration (σ, ρ, β = 10, 28, 8/3; Δt = 0.01,
  RK45 at rtol 1e-10, z-scored by its own mean / std) of 100 000 points vs the test set: the score of
  a perfect model under the protocol (only finite-sample error left).

Run::

    nice -n 5 python benchmarks/gtf_lorenz.py [--steps 3000] [--hidden 100] [--seq 100] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

import physics_metrics as pm
from chaosbench_py.evaluation.dsr import evaluate_dsr, free_run
from chaosbench_py.training import GTFTrainer
from chaosbench_py.training.gtf import GTFConfig
from emulators.plrnn import ShPLRNN, ShPLRNNConfig

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gtf"
LAMBDA1 = 0.9056  # Lorenz-63 largest Lyapunov exponent per time unit (σ, ρ, β = 10, 28, 8/3)
DT = 0.01


def lorenz_clean(n: int, seed: int = 1) -> np.ndarray:
    """Independent z-scored Lorenz-63 trajectory ``(n, 3)`` at Δt = 0.01 after a 50-time-unit transient."""

    def rhs(_t, u):
        x, y, z = u
        return [10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z]

    u0 = np.random.default_rng(seed).normal(size=3) + np.array([1.0, 1.0, 20.0])
    burn = 5000
    t_eval = np.arange(n + burn) * DT
    sol = solve_ivp(rhs, (0.0, t_eval[-1]), u0, t_eval=t_eval, rtol=1e-10, atol=1e-10)
    x = sol.y.T[burn:]
    return (x - x.mean(0)) / x.std(0)


def noise_floors(train: np.ndarray, test: np.ndarray) -> dict:
    half = test.shape[0] // 2
    clean = lorenz_clean(test.shape[0])
    return {
        "noisy_train_vs_test": (
            pm.state_space_divergence_binned(test, train, 30),
            pm.power_spectrum_hellinger(test, train, 20.0),
        ),
        "clean_halves": (
            pm.state_space_divergence_binned(test[:half], test[half:], 30),
            pm.power_spectrum_hellinger(test[:half], test[half:], 20.0),
        ),
        "independent_clean": (
            pm.state_space_divergence_binned(test, clean, 30),
            pm.power_spectrum_hellinger(test, clean, 20.0),
        ),
    }


def quick_d_stsp(model: torch.nn.Module, test: np.ndarray) -> float:
    """``D_stsp`` by the protocol (free run 1.25·T from test[0], first 0.25·T dropped), inf if diverged."""
    t_len = test.shape[0]
    gen = free_run(model, test[0], int(round(1.25 * t_len)))[-t_len:]
    if not np.isfinite(gen).all() or np.abs(gen).max() > 1e6:
        return float("inf")
    d = float(pm.state_space_divergence_binned(test, gen, 30))
    return d if np.isfinite(d) else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--latent", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--seq", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-start", type=float, default=5e-3)
    ap.add_argument("--lr-end", type=float, default=1e-5)
    ap.add_argument("--alpha-method", default="product_upper_bound")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--alpha-decay", type=float, default=0.99)
    ap.add_argument("--alpha-final", type=float, default=None, help="constant α after --switch-step")
    ap.add_argument("--switch-step", type=int, default=0)
    ap.add_argument("--lambda-latent", type=float, default=1e-5)
    ap.add_argument("--unclipped", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--target", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-floors", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    train = np.load(DATA / "lorenz63_on0.05_train.npy")
    test = np.load(DATA / "lorenz63_test.npy").astype(np.float64)
    out: dict = {"args": vars(args) | {"json": str(args.json)}}
    if not args.no_floors:
        out["floors"] = noise_floors(train.astype(np.float64), test)
        print("noise floors (D_stsp, D_H):", json.dumps(out["floors"]), flush=True)

    torch.manual_seed(args.seed)
    model = ShPLRNN(
        ShPLRNNConfig(obs_dim=3, latent_dim=args.latent, hidden_dim=args.hidden, clipped=not args.unclipped)
    )
    bpe = 50
    cfg = GTFConfig(
        sequence_length=args.seq,
        batch_size=args.batch,
        epochs=max(1, args.steps // bpe),
        batches_per_epoch=bpe,
        lr_start=args.lr_start,
        lr_end=args.lr_end,
        alpha=args.alpha,
        alpha_method=args.alpha_method,
        alpha_decay=args.alpha_decay,
        lambda_latent=args.lambda_latent,
        seed=args.seed,
        progress=False,
    )
    trainer = GTFTrainer(model, train, cfg)
    t_train, curve, hit = 0.0, [], None
    while trainer.step < cfg.total_steps:
        n = min(args.eval_every, cfg.total_steps - trainer.step)
        if args.alpha_final is not None and trainer.step < args.switch_step:
            n = min(n, args.switch_step - trainer.step)
        if args.alpha_final is not None and trainer.step == args.switch_step:
            trainer.config.alpha_method, trainer.alpha = "constant", args.alpha_final
        cpu0, t0 = time.process_time(), time.perf_counter()
        trainer.train(n)
        chunk = time.perf_counter() - t0
        t_train += chunk
        cpu = time.process_time() - cpu0
        d = quick_d_stsp(model, test)
        curve.append((trainer.step, round(t_train, 1), d, trainer.alpha))
        print(
            f"step {trainer.step:6d}  train {t_train:7.1f} s (last chunk {n / chunk:.1f}"
            f" wall-steps/s, cpu {cpu:.1f} s)  alpha {trainer.alpha:.3f}  loss {trainer.history[-1][2]:.2e}"
            f"  D_stsp {d:.3f}",
            flush=True,
        )
        if hit is None and d < args.target:
            hit = (trainer.step, t_train)
    t0 = time.perf_counter()
    res = evaluate_dsr(model, test, lyapunov_true=LAMBDA1, time_step=DT, lyapunov_steps=20000)
    out |= {
        "steps": cfg.total_steps,
        "train_s": t_train,
        "steps_per_s": cfg.total_steps / t_train,
        "sequences_per_s": cfg.total_steps * cfg.batch_size / t_train,
        "time_to_target": hit,
        "curve": curve,
        "final": res.as_dict(),
        "eval_s": time.perf_counter() - t0,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "curve"}, default=float), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(out, default=float, indent=1))


if __name__ == "__main__":
    main()
