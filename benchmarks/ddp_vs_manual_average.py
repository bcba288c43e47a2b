"""DDP (what the trainer uses now) against the hand-written gradient average it replaced: samples/s.

Two processes (gloo on CPU, NCCL with ``--device cuda``) train the same model on the same random
batches, in turns of ``--steps`` optimiser steps after ``--warmup`` steps:

* ``ddp``: :class:`torch.nn.parallel.DistributedDataParallel` around the model (gradient buckets,
  all-reduce overlapped with the backward pass), as :class:`chaosbench_py.training.parallel.TaskLoss`
  is wrapped by the trainer;
* ``manual``: the trainer's former averaging, kept here as the peer: after the whole backward pass,
  the gradients are flattened into one tensor, all-reduced once, divided by the world size and copied
  back (:func:`manual_average`).

The model is an FNO like the trainer's default ``next_step`` model (``--hidden``, ``--layers``, grid
``--grid``); the global batch is ``--batch`` samples. Prints samples/s of each (global samples per
second of wall time, rank 0's clock between barriers, best of ``--repeats`` turns) and their ratio::

    OMP_NUM_THREADS=1 python benchmarks/ddp_vs_manual_average.py [--nproc 2] [--steps 20] [--device cpu|cuda]

Both variants also end with the same weights (checked, to float summation order), so the speed is
compared on equal work.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def manual_average(model: torch.nn.Module, world: int) -> None:
    """The trainer's former gradient averaging: one all-reduce of the flattened gradients after backward."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def _model(args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    import emulators

    torch.manual_seed(0)
    cfg = {"in_channels": 3, "out_channels": 3, "hidden_channels": args.hidden, "n_layers": args.layers,
           "n_modes": [args.grid[0] // 4, args.grid[1] // 4]}  # fmt: skip
    return emulators.build_model("fno", cfg).to(device)


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    device = torch.device(f"cuda:{rank}") if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    local = args.batch // world
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(args.batch, 3, *args.grid, generator=g), torch.randn(args.batch, 3, *args.grid, generator=g))
               for _ in range(4)]  # fmt: skip
    batches = [(x[rank * local : (rank + 1) * local].to(device), y[rank * local : (rank + 1) * local].to(device))
               for x, y in batches]  # fmt: skip
    results = {}
    for variant in ("manual", "ddp") * args.repeats:
        model = _model(args, device)
        net = torch.nn.parallel.DistributedDataParallel(model) if variant == "ddp" else model
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step(i: int, net=net, model=model, opt=opt, variant=variant) -> None:
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(x) - y) ** 2)
            loss.backward()
            if variant == "manual":
                manual_average(model, world)
            opt.step()

        for i in range(args.warmup):
            step(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dist.barrier()
        t0 = time.perf_counter()
        for i in range(args.steps):
            step(args.warmup + i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dist.barrier()
        rate = args.steps * args.batch / (time.perf_counter() - t0)
        results[variant] = max(results.get(variant, 0.0), rate)
        results[f"{variant}_weights"] = [p.detach().cpu().clone() for p in model.parameters()]
    if rank == 0:
        out.update(results)
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8, help="global batch")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--grid", type=int, nargs=2, default=[32, 64])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = ap.parse_args()
    if args.batch % args.nproc:
        raise SystemExit(f"--batch {args.batch} is not divisible by --nproc {args.nproc}")
    if args.device == "cuda" and torch.cuda.device_count() < args.nproc:
        raise SystemExit(
            f"--device cuda: {args.nproc} processes need {args.nproc} GPUs, found {torch.cuda.device_count()}"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(args.nproc, port, args, out), nprocs=args.nproc, join=True)
    n_params = sum(p.numel() for p in _model(args, torch.device("cpu")).parameters())
    diff = max(float((a - b).abs().max()) for a, b in zip(out["manual_weights"], out["ddp_weights"]))
    print(f"FNO {n_params} parameters, grid {args.grid[0]}x{args.grid[1]}, global batch {args.batch}, "
          f"{args.nproc} processes on {args.device}, {args.steps} steps (best of {args.repeats})")  # fmt: skip
    print(f"  manual flattened all-reduce: {out['manual']:8.1f} samples/s")
    print(f"  DDP:                         {out['ddp']:8.1f} samples/s")
    print(
        f"  DDP / manual: {out['ddp'] / out['manual']:.3f}   (max weight difference after training: {diff:.2e})"
    )


if __name__ == "__main__":
    main()
