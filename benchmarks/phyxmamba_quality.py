"""PhyxMamba on Lorenz-63: VPT / sMAPE@1 during training, for trying settings fast (benchmarks/phyxmamba_quality.md).

Run: ``OMP_NUM_THREADS=1 python benchmarks/phyxmamba_quality.py --data DIR [--s1 4000 --s2 300 --cos 0.02
--over '{"d_model": 64, "d_state": 32}']``.

A hand-written loop equal in substance to the trainer's task ``phyxmamba`` (the same window sampling
:func:`draw_windows`, losses :func:`phyxmamba_losses_stage1` / :func:`phyxmamba_losses_stage2`, Adam with
weight decay 1e-5, linear probing of ``lm_head`` for ``min(50, s2 // 3)`` stage-2 steps with a fresh Adam
at the start of stage 2 and after probing, stage-2 gradient clip 1.0), with an optional cosine decay of the
stage-1 rate to ``--cos`` times its start. Every ``--every`` stage-1 steps (``--every2`` stage-2 steps) it
prints the recipe's quick metric on the 20 held-out initial conditions of ``phyxmamba-lorenz63``
(context 30, 300-step forecast): mean VPT in Lyapunov times and mean sMAPE@1, with the CPU seconds so far.
The data are the recipe's own (written to ``--data`` on first use).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import physics_metrics as pm
from chaosbench_py.reproduce.registry import get_recipe
from chaosbench_py.training.phyxmamba import (
    PhyxMambaTrainConfig,
    draw_windows,
    phyxmamba_losses_stage1,
    phyxmamba_losses_stage2,
)
from emulators.phyxmamba import PhyxMamba, phyxmamba_preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder for the recipe's data")
    ap.add_argument("--s1", type=int, default=2000, help="stage-1 steps")
    ap.add_argument("--s2", type=int, default=300, help="stage-2 steps")
    ap.add_argument("--lr1", type=float, default=1e-3)
    ap.add_argument("--lr2", type=float, default=1e-4)
    ap.add_argument(
        "--cos", type=float, default=0.0, help="cosine decay of the stage-1 rate to this fraction"
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=12, help="stage-1 window in patches")
    ap.add_argument("--over", default="{}", help="JSON overrides of the CPU preset")
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--every2", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    recipe = get_recipe("phyxmamba-lorenz63")
    budget = recipe.budgets["default"]
    data = recipe.prepare_data(Path(a.data), None, dataclasses.replace(budget, params=dict(budget.params)))
    torch.manual_seed(a.seed)
    cfg = phyxmamba_preset("lorenz63", "cpu", **json.loads(a.over))
    model = PhyxMamba(cfg)
    train = torch.as_tensor(data["train"], dtype=torch.float32)
    flat = train.reshape(-1, train.shape[-1])
    model.set_normalization(flat.mean(0), flat.std(0))
    gen = torch.Generator().manual_seed(a.seed)
    test = data["test"]

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            pred = model.forecast(torch.as_tensor(test[:, :30], dtype=torch.float32), 300).double().numpy()
        model.train()
        pred = np.nan_to_num(pred, nan=1e6, posinf=1e6, neginf=-1e6)
        true = test[:, 30:330]
        vpt = float(np.mean(pm.valid_prediction_time(true, pred, 30.0).steps) / 30)
        return vpt, float(np.mean(pm.smape(true, pred, steps=30)))

    st = PhyxMambaTrainConfig(stage1_steps=a.s1, stage2_steps=a.s2, stage2_linear_steps=min(50, a.s2 // 3))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr1, weight_decay=1e-5)
    c0 = time.process_time()
    print(vars(a), "parameters", model.n_parameters(), flush=True)
    for step in range(a.s1):
        f = 1.0 if not a.cos else a.cos + (1 - a.cos) * 0.5 * (1 + math.cos(math.pi * step / a.s1))
        for g in opt.param_groups:
            g["lr"] = a.lr1 * f
        opt.zero_grad()
        loss = phyxmamba_losses_stage1(
            model, draw_windows(train, a.tokens * cfg.token_size, a.batch, gen), 0.1
        )
        loss["loss"].backward()
        opt.step()
        if (step + 1) % a.every == 0 or step + 1 == a.s1:
            v, s = evaluate()
            print(
                f"stage 1 step {step + 1}: VPT {v:.3f} sMAPE@1 {s:.2f} ({time.process_time() - c0:.0f} CPU s)"
            )
    for j in range(a.s2):
        linear = j < st.stage2_linear_steps
        if j in (0, st.stage2_linear_steps):
            params = [p for n, p in model.named_parameters() if not linear or n.startswith("lm_head.")]
            opt = torch.optim.Adam(params, lr=a.lr2, weight_decay=1e-5)
        for n, p in model.named_parameters():
            p.requires_grad_(not linear or n.startswith("lm_head."))
        model.zero_grad(set_to_none=True)
        phyxmamba_losses_stage2(model, draw_windows(train, cfg.lookback + 30, a.batch, gen), st)[
            "loss"
        ].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (j + 1) % a.every2 == 0 or j + 1 == a.s2:
            v, s = evaluate()
            print(f"stage 2 step {j + 1}: VPT {v:.3f} sMAPE@1 {s:.2f} ({time.process_time() - c0:.0f} CPU s)")


if __name__ == "__main__":
    main()
