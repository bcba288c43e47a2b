"""Why the shPLRNN's third Lorenz-63 exponent comes out too negative, and what fixes it (``gtf-lorenz63``).

Trains the ``gtf-lorenz63`` recipe's main model (clipped shPLRNN, M = 3, H = 100, identity read-out,
product-bound aGTF; :mod:`chaosbench_py.reproduce.gtf`) on one of three training series and scores it,
at the steps given by ``--eval-at``, by the recipe's protocol on the 100 000-point clean test set: D_stsp,
D_H, PE(20) and the model's Lyapunov spectrum per time unit against (0.906, 0, −14.57):

* ``raw``: the GTF paper's series with 5 % observation noise, as published;
* ``sg21``: the same after Savitzky–Golay denoising (21 points, cubic: ``data.smoothing_window``);
* ``clean``: an independent clean Lorenz-63 run of the same length (the noise-free reference).

One training run per call, with the learning-rate schedule of the full ``--steps`` (evaluations do not
change the run: the model is scored at each ``--eval-at`` step and training continues). One JSON line per
evaluation is appended to ``OUT/results.jsonl`` (the run folder is ``OUT/runs/NAME``). The table in the
recipe's docstring came from::

    python benchmarks/gtf_lambda3_bias.py --series raw   --steps 12000 --out runs/l3
    python benchmarks/gtf_lambda3_bias.py --series sg21  --steps 12000 --out runs/l3
    python benchmarks/gtf_lambda3_bias.py --series clean --steps 48000 --out runs/l3
    python benchmarks/gtf_lambda3_bias.py --series sg21  --steps 120000 --eval-at 30000 60000 90000 120000 --out runs/l3
    python benchmarks/gtf_lambda3_bias.py --series raw --steps 250000 --published-lr --sequence-length 200 \\
        --alpha-decay 0.999 --eval-at 12500 25000 50000 100000 --out runs/l3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from chaosbench_py.evaluation.dsr import evaluate_dsr
from chaosbench_py.reproduce import get_recipe
from chaosbench_py.reproduce.gtf import FILES, default_data_folder, lorenz63_perfect_model
from chaosbench_py.training import Trainer


def _series(kind: str, folder: Path, work: Path) -> Path:
    raw = np.load(folder / FILES["lorenz63"][0]).astype(np.float64)
    path = work / f"train_{kind}.npy"
    if kind == "clean":
        np.save(path, lorenz63_perfect_model(raw.shape[0], seed=5).astype(np.float32))
    else:  # raw; sg21 is the same file smoothed by the trainer (data.smoothing_window)
        np.save(path, raw.astype(np.float32))
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", choices=["raw", "sg21", "clean"], required=True)
    ap.add_argument("--steps", type=int, default=12_000)
    ap.add_argument(
        "--eval-at", type=int, nargs="*", default=None, help="steps to score at (default: the end)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--published-lr", action="store_true", help="lr 1e-3 -> 1e-6 (default 5e-3 -> 1e-5)")
    ap.add_argument("--sequence-length", type=int, default=100)
    ap.add_argument("--alpha-decay", type=float, default=0.99)
    ap.add_argument(
        "--data", type=Path, default=None, help="the GTF data folder (default: ../shared/data/gtf)"
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    folder = args.data or default_data_folder()
    args.out.mkdir(parents=True, exist_ok=True)
    train_path = _series(args.series, folder, args.out)
    test = np.load(folder / FILES["lorenz63"][1]).astype(np.float64)
    recipe = get_recipe("gtf-lorenz63")
    cfg = recipe.models[0].run_config(recipe.budgets["default"], args.out, args.seed)
    cfg["data"]["path"] = str(train_path)
    cfg["data"]["smoothing_window"] = 21 if args.series == "sg21" else 0
    cfg["task"]["gtf"].update(sequence_length=args.sequence_length, alpha_decay=args.alpha_decay)
    if args.published_lr:
        cfg["optimizer"]["lr"], cfg["schedule"]["min_lr"] = 1e-3, 1e-6
    cfg["train"].update(steps=args.steps, checkpoint_every=min(args.eval_at or [args.steps]))
    name = f"{args.series}_{args.steps}_seed{args.seed}" + ("_published_lr" if args.published_lr else "")
    trainer = Trainer(cfg, args.out / "runs" / name, overwrite=True)
    cpu = 0.0
    for at in sorted(args.eval_at or [args.steps]):
        c0 = time.process_time()
        trainer.fit(stop_after=at - trainer.step)
        cpu += time.process_time() - c0
        trainer.model.eval()
        res = evaluate_dsr(trainer.model, test, lyapunov=True, lyapunov_true=0.906, time_step=0.01,
                           lyapunov_steps=20_000, lyapunov_transient=200)  # fmt: skip
        trainer.model.train()
        row = {"run": name, "step": trainer.step, "train_cpu_s": round(cpu, 1), "d_stsp": float(res.d_stsp),
               "d_h": float(res.d_h), "pe": float(res.pe), "lambda": [float(v) for v in res.lyapunov_spectrum],
               "alpha": float(trainer.task.alpha)}  # fmt: skip
        print(json.dumps(row), flush=True)
        with open(args.out / "results.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
