"""Speed of one PhyxMamba training step (CPU-size Lorenz-63 preset): the previous Mamba-2 code vs the current.

Run: ``OMP_NUM_THREADS=1 python benchmarks/phyxmamba_speed.py [--steps 10] [--rounds 5]``.

"Old" is the code before the speed change, kept here verbatim as :func:`legacy_ssd_chunked_scan` (heads
expanded over ``B``/``C``, three-operand ``einsum`` contractions, the inter-chunk term always computed)
and :func:`legacy_causal_conv` (``nn.Conv1d`` on the transposed input). "New" is
:func:`emulators.ssm.ssd_chunked_scan` (grouped batched matrix products, no inter-chunk term when no state
enters) and :meth:`emulators.ssm.Mamba2._causal_conv` (shifted multiply-adds). Both are timed in the same
process, interleaved over ``--rounds`` rounds (the machine is shared: the median of the rounds is
reported), on the recipe's shapes: stage 1 = batch 64 of 120-step windows (12 tokens), stage 2 = batch 64
of 30 + 30 steps (context + 3 rolled-out patches with the MMD terms). Before timing, the gradients of
both versions on one batch are compared (float64 and float32; largest relative difference printed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

import emulators.ssm as ssm
from chaosbench_py.training.phyxmamba import (
    PhyxMambaTrainConfig,
    phyxmamba_losses_stage1,
    phyxmamba_losses_stage2,
)
from emulators.phyxmamba import PhyxMamba, phyxmamba_preset


def legacy_ssd_chunked_scan(x, dt, A, B, C, D=None, chunk_size: int = 64, initial_state=None):
    """The chunked SSD scan as it was before the speed change (same maths as the current one)."""
    rep = ssm._check_scan_args(x, dt, A, B, C)
    b, L, h, p = x.shape
    n = B.shape[-1]
    Bh, Ch = ssm._expand_groups(B, rep), ssm._expand_groups(C, rep)
    q = min(chunk_size, L) if L > 0 else 1
    pad = (-L) % q
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        Bh = F.pad(Bh, (0, 0, 0, 0, 0, pad))
        Ch = F.pad(Ch, (0, 0, 0, 0, 0, pad))
    nc = (L + pad) // q
    xc = x.reshape(b, nc, q, h, p)
    dtc = dt.reshape(b, nc, q, h)
    Bc = Bh.reshape(b, nc, q, h, n)
    Cc = Ch.reshape(b, nc, q, h, n)
    s = torch.cumsum(dtc * A, dim=2)
    diff = s[:, :, :, None, :] - s[:, :, None, :, :]
    mask = torch.ones(q, q, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp(diff.masked_fill(~mask[None, None, :, :, None], float("-inf")))
    xdt = xc * dtc[..., None]
    scores = torch.einsum("bcihn,bcjhn->bcijh", Cc, Bc) * decay
    y = torch.einsum("bcijh,bcjhp->bcihp", scores, xdt)
    to_end = torch.exp(s[:, :, -1:, :] - s)
    chunk_states = torch.einsum("bcjh,bcjhp,bcjhn->bchpn", to_end, xdt, Bc)
    total = torch.exp(s[:, :, -1, :])
    state = x.new_zeros(b, h, p, n) if initial_state is None else initial_state
    prev_states = []
    for c in range(nc):
        prev_states.append(state)
        state = state * total[:, c, :, None, None] + chunk_states[:, c]
    prev = torch.stack(prev_states, dim=1)
    y = y + torch.einsum("bcih,bchpn,bcihn->bcihp", torch.exp(s), prev, Cc)
    y = y.reshape(b, nc * q, h, p)[:, :L]
    if D is not None:
        y = y + D[:, None] * x[:, :L]
    return y, state


def legacy_causal_conv(self, xBC: torch.Tensor) -> torch.Tensor:
    """The causal depthwise convolution as it was: ``nn.Conv1d`` on ``(b, conv_dim, L)``."""
    L = xBC.shape[1]
    return self.conv1d(xBC.transpose(1, 2))[..., :L].transpose(1, 2)


@contextmanager
def legacy_code():
    """Run the enclosed code with the pre-change scan and convolution."""
    scan, conv = ssm.ssd_chunked_scan, ssm.Mamba2._causal_conv
    ssm.ssd_chunked_scan, ssm.Mamba2._causal_conv = legacy_ssd_chunked_scan, legacy_causal_conv
    try:
        yield
    finally:
        ssm.ssd_chunked_scan, ssm.Mamba2._causal_conv = scan, conv


def make_case(dtype=torch.float32, batch: int = 64, seed: int = 0):
    """The CPU-size Lorenz-63 model and one stage-1 and one stage-2 batch of raw-scale windows."""
    torch.manual_seed(seed)
    model = PhyxMamba(phyxmamba_preset("lorenz63", "cpu")).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    x1 = 8 * torch.randn(batch, 120, 3, generator=gen, dtype=dtype)
    x2 = 8 * torch.randn(batch, 60, 3, generator=gen, dtype=dtype)
    return model, x1, x2


def gradients(model, x1, x2, cfg) -> list[torch.Tensor]:
    """Gradients of stage-1 loss + stage-2 loss w.r.t. every parameter (one flat list)."""
    model.zero_grad()
    loss = phyxmamba_losses_stage1(model, x1, 0.1)["loss"] + phyxmamba_losses_stage2(model, x2, cfg)["loss"]
    loss.backward()
    return [p.grad.detach().clone() for p in model.parameters()]


def max_gradient_difference(dtype=torch.float64, batch: int = 8) -> float:
    """Largest ``max|g_new - g_old| / max|g_old|`` over the parameters, old code vs new, one small case."""
    model, x1, x2 = make_case(dtype, batch)
    cfg = PhyxMambaTrainConfig()
    new = gradients(model, x1, x2, cfg)
    with legacy_code():
        old = gradients(model, x1, x2, cfg)
    return max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in zip(new, old))


def steps_per_second(model, x, loss_fn, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-6)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model, x).backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="steps per timing (default 10)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved old/new rounds (default 5)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"max |grad new - grad old| / max |grad old|: float64 {max_gradient_difference(torch.float64):.2e}, "
          f"float32 {max_gradient_difference(torch.float32):.2e}")  # fmt: skip
    cfg = PhyxMambaTrainConfig()
    model, x1, x2 = make_case()
    stages = {
        "stage 1": (x1, lambda m, x: phyxmamba_losses_stage1(m, x, 0.1)["loss"]),
        "stage 2": (x2, lambda m, x: phyxmamba_losses_stage2(m, x, cfg)["loss"]),
    }
    for name, (x, fn) in stages.items():
        old, new = [], []
        steps_per_second(model, x, fn, 2)  # warm-up
        for _ in range(args.rounds):
            with legacy_code():
                old.append(steps_per_second(model, x, fn, args.steps))
            new.append(steps_per_second(model, x, fn, args.steps))
        o, n = statistics.median(old), statistics.median(new)
        print(f"{name}: old {o:.2f} steps/s, new {n:.2f} steps/s, ratio {n / o:.2f}x "
              f"(median of {args.rounds} rounds of {args.steps} steps, batch 64, 1 thread)")  # fmt: skip


if __name__ == "__main__":
    main()
