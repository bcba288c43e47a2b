"""PhyxMamba protocol on catalog Lorenz-63 data, beside the published numbers and a persistence baseline.

Protocol (reference notes ``dsr.md`` B.3-B.5): 30 samples per Lyapunov time; 30-step context,
300-step (10 Lyapunov times) forecast from >= 20 held-out initial conditions; VPT = first step where
the cumulative sMAPE (0-200) exceeds 30, divided by 30 (Lyapunov times); sMAPE@k over the first
``30 k`` steps; D_frac = RMS difference of a dysts-``gp_dim``-style dimension estimate of true and
predicted 300-step windows; D_stsp = dysts-style GMM KL (``physics_metrics.state_space_divergence_dysts``).

Run: ``python benchmarks/phyxmamba_reproduction.py [--size cpu|paper] [--stage1-steps N] ...``.
Prints a table and the compute used. CPU scale (defaults) takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch
from scipy.spatial.distance import pdist

from chaosbench_py.simulate import generate_trajectories
from chaosbench_py.training import train_phyxmamba
from chaosbench_py.training.phyxmamba import PhyxMambaTrainConfig
from emulators.phyxmamba import PhyxMamba, phyxmamba_preset
from physics_metrics import (
    fractal_dimension_error,
    smape,
    state_space_divergence_dysts,
    valid_prediction_time,
)

PUBLISHED = {
    "VPT": 5.06,
    "sMAPE@1": 3.26,
    "sMAPE@4": 22.05,
    "sMAPE@10": 67.29,
    "D_frac": 0.060,
    "D_stsp": 1.133,
}
PTS = 30  # samples per Lyapunov time


def gp_dim_dysts_style(x: np.ndarray) -> float:
    """Power-law MLE dimension of pairwise distances between their 5th and 50th percentiles.

    ``d = 1 + n / sum log(r / r_min)`` (Clauset et al. 2009 MLE) over the kept distances, as the
    reference notes describe dysts' ``gp_dim`` (biased; used by PhyxMamba's D_frac).
    """
    r = pdist(x)
    r = r[r > 0]
    if r.size < 10:
        return float("nan")
    lo, hi = np.percentile(r, [5, 50])
    r = r[(r >= lo) & (r <= hi)]
    return float(1.0 + r.size / np.sum(np.log(r / lo)))


def scores(true: np.ndarray, pred: np.ndarray, seed: int = 0) -> dict:
    """Protocol scores for ``true, pred (N, 300, V)``."""
    vpt = valid_prediction_time(true, pred, 30.0).steps / PTS
    out = {"VPT": float(np.mean(vpt))}
    for k in (1, 4, 10):
        out[f"sMAPE@{k}"] = float(np.mean(smape(true, pred, steps=int(true.shape[1] * k / 10))))
    try:
        out["D_frac"] = fractal_dimension_error(
            [gp_dim_dysts_style(t) for t in true], [gp_dim_dysts_style(p) for p in pred]
        )
    except ValueError:  # e.g. a constant forecast has no dimension estimate
        out["D_frac"] = float("nan")
    kl = np.asarray(state_space_divergence_dysts(true, pred, seed=seed), dtype=float)
    out["D_stsp"] = float(np.mean(kl[np.isfinite(kl)]))
    return out


def shplrnn_forecast(xtr: np.ndarray, ctx: np.ndarray, steps: int, seed: int = 0) -> np.ndarray | None:
    """shPLRNN (GTF-trained, emulators.plrnn) on standardised data; ``None`` when the module is absent."""
    try:
        from chaosbench_py.training import GTFTrainer
        from chaosbench_py.training.gtf import GTFConfig
        from emulators.plrnn import ShPLRNN, ShPLRNNConfig
    except ImportError:
        logging.getLogger(__name__).warning(
            "shPLRNN baseline skipped: emulators.plrnn / GTF trainer not found"
        )
        return None
    mu, sd = xtr.reshape(-1, 3).mean(0), xtr.reshape(-1, 3).std(0)
    torch.manual_seed(seed)
    model = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=3, hidden_dim=50))
    cfg = GTFConfig(sequence_length=30, batch_size=16, epochs=max(steps // 50, 1), batches_per_epoch=50,
                    progress=False, seed=seed)  # fmt: skip
    GTFTrainer(model, (xtr - mu) / sd, cfg).train()
    x0 = torch.as_tensor((ctx[:, -1] - mu) / sd, dtype=torch.float32)
    gen = model.generate(x0, 301)[:, 1:].double().numpy()
    return gen * sd + mu


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="cpu", choices=["cpu", "paper"])
    ap.add_argument("--n-train", type=int, default=8, help="training trajectories")
    ap.add_argument("--train-length", type=int, default=3000)
    ap.add_argument("--n-test", type=int, default=20)
    ap.add_argument("--stage1-steps", type=int, default=200)
    ap.add_argument("--stage2-steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--stage1-tokens", type=int, default=12, help="patches per stage-1 window")
    ap.add_argument("--plrnn-steps", type=int, default=1000, help="shPLRNN GTF optimiser steps (0: skip)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train = generate_trajectories("Lorenz", args.n_train, args.train_length, pts_per_lyapunov=PTS, seed=1)
    test = generate_trajectories("Lorenz", args.n_test, 330, pts_per_lyapunov=PTS, seed=12345)
    t_data = time.perf_counter() - t0
    xtr = train.x.values.astype(np.float32)
    xte = test.x.values
    ctx, true = xte[:, :30], xte[:, 30:330]

    cfg = phyxmamba_preset("lorenz63", args.size)
    model = PhyxMamba(cfg)
    tcfg = PhyxMambaTrainConfig(
        stage1_steps=args.stage1_steps,
        stage2_steps=args.stage2_steps,
        stage2_linear_steps=min(50, args.stage2_steps // 3),
        batch_size=args.batch_size,
        stage1_tokens=args.stage1_tokens,
        progress=False,
        log_every=50,
    )
    t1 = time.perf_counter()
    train_phyxmamba(model, xtr, tcfg, device=args.device)
    t_train = time.perf_counter() - t1
    t2 = time.perf_counter()
    pred = model.forecast(torch.as_tensor(ctx, dtype=torch.float32), 300).double().cpu().numpy()
    t_fc = time.perf_counter() - t2

    rows = {
        "PhyxMamba (published, paper size)": PUBLISHED,
        f"PhyxMamba (ours, {args.size} size)": scores(true, pred),
        "persistence (last context state)": scores(true, np.repeat(ctx[:, -1:], 300, axis=1)),
    }
    if args.plrnn_steps > 0:
        t3 = time.perf_counter()
        plr = shplrnn_forecast(xtr, ctx, args.plrnn_steps)
        if plr is not None:
            rows[f"shPLRNN (GTF, M=3, H=50, {args.plrnn_steps} steps)"] = scores(true, plr)
            print(f"shPLRNN training + forecast: {time.perf_counter() - t3:.0f} s")
    keys = list(PUBLISHED)
    print(f"\nLorenz-63, {PTS} pts/Lyapunov time, context 30, horizon 300, {args.n_test} test ICs")
    print(f"{'model':40s}" + "".join(f"{k:>10s}" for k in keys))
    for name, r in rows.items():
        print(f"{name:40s}" + "".join(f"{r[k]:10.3f}" for k in keys))
    print(
        f"\ncompute: device={args.device}, torch threads={args.threads}, model params={model.n_parameters()} "
        f"({model.n_parameters(False)} without MTP); data {t_data:.0f} s, training {t_train:.0f} s "
        f"(stage 1 {args.stage1_steps} steps + stage 2 {args.stage2_steps} steps, batch {args.batch_size}, "
        f"{args.stage1_tokens} tokens/window, {args.n_train}x{args.train_length} training samples), forecast {t_fc:.1f} s"
    )


if __name__ == "__main__":
    main()
