"""Forward+backward throughput of the gridded emulators on CPU, and our FNO against neuraloperator's.

Grid 32 × 64 (5.625°), batch 4, C = 20 input = output channels, float32, ``--threads`` intra-op
threads (default 2). For each model: one warm-up step, then ``--steps`` steps of
``loss = mean(model(x)²); loss.backward()``; prints samples/s and parameter count.

Models (stated configurations):

* ``fno``: ``n_modes=(16, 16)``, hidden 32, 4 layers, lifting/projection ratio 2, channel-MLP 0.5,
  no positional embedding.
* ``fno[neuralop]``: ``neuralop.models.FNO`` 2.0.0 with the same arguments
  (``positional_embedding=None``; its defaults otherwise: soft-gating channel-MLP skip, linear FNO skip),
  run in a separate interpreter (``--peer-python``, default ``/tmp/no-venv/bin/python``, a scratch venv
  with torch 2.13.0 + ``neuraloperator==2.0.0 --no-deps`` + tensorly, tensorly-torch, opt-einsum, …).
  Skipped with a message when absent. The ratio printed is ours / theirs (> 1: ours faster).
* ``sfno``: embed 32, 4 layers, ``equiangular-nopole`` 32 × 64 (lmax = mmax = 15), per-degree weights.
* ``unet``: ChaosBench widths 64-128-256-512-1024; ``resnet``: ChaosBench ResNet-50 encoder + decoder.
* ``pangu``: ``pangu_preset("cpu", n_levels=3, n_surface_vars=5, n_masks=0)`` = 5·3 + 5 = 20 channels,
  if ``emulators.pangu`` exists.

Usage::

    python benchmarks/emulator_speed.py [--steps 5] [--threads 2] [--peer-python PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

GRID = (32, 64)
BATCH = 4
CHANNELS = 20
FNO_KW = dict(
    n_modes=(16, 16), hidden_channels=32, n_layers=4, lifting_channel_ratio=2, projection_channel_ratio=2
)


def _time(model, x, steps: int, fwd=None) -> tuple[float, int]:
    import torch

    fwd = fwd or model
    n_params = sum(p.numel() for p in model.parameters())
    model.train()

    def step():
        model.zero_grad(set_to_none=True)
        fwd(x).pow(2).mean().backward()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    torch.set_grad_enabled(True)
    return BATCH * steps / dt, n_params


def peer_worker(steps: int, threads: int) -> None:
    """Runs inside the peer interpreter: neuralop FNO, prints one JSON line."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from neuralop.models import FNO

    model = FNO(in_channels=CHANNELS, out_channels=CHANNELS, positional_embedding=None, **FNO_KW)
    x = torch.randn(BATCH, CHANNELS, *GRID)
    sps, n = _time(model, x, steps)
    import neuralop

    print(
        json.dumps(
            {"samples_per_s": sps, "params": n, "version": neuralop.__version__, "torch": torch.__version__}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer-python", default="/tmp/no-venv/bin/python")
    parser.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--models", default="fno,sfno,unet,resnet,pangu")
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(args.steps, args.threads)
        return

    import torch

    from emulators.baselines import ResNetCNN, ResNetConfig, UNet, UNetConfig
    from emulators.fno import FNO, FNOConfig
    from emulators.sfno import SFNOConfig, SphericalFourierNeuralOperator

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(BATCH, CHANNELS, *GRID)
    builders = {
        "fno": lambda: FNO(FNOConfig(in_channels=CHANNELS, out_channels=CHANNELS, **FNO_KW)),
        "sfno": lambda: SphericalFourierNeuralOperator(
            SFNOConfig(
                img_size=GRID,
                grid="equiangular-nopole",
                in_channels=CHANNELS,
                out_channels=CHANNELS,
                embed_dim=32,
                n_layers=4,
            )
        ),
        "unet": lambda: UNet(UNetConfig(in_channels=CHANNELS, out_channels=CHANNELS)),
        "resnet": lambda: ResNetCNN(ResNetConfig(in_channels=CHANNELS, out_channels=CHANNELS)),
    }
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, grid {GRID}, batch {BATCH}, C {CHANNELS}"
    )
    print(f"{'model':<16}{'params':>12}{'samples/s':>12}")
    results = {}
    for name in args.models.split(","):
        if name == "pangu":
            try:
                from emulators.pangu import PanguModel, pangu_preset
            except ImportError:
                print("pangu: emulators.pangu not present, skipped")
                continue
            model = PanguModel(pangu_preset("cpu", n_levels=3, n_surface_vars=5, n_masks=0))
            sps, n = _time(model, x, args.steps, fwd=model.forward_stacked)
        else:
            model = builders[name]()
            sps, n = _time(model, x, args.steps)
        results[name] = sps
        print(f"{name:<16}{n:>12,}{sps:>12.2f}")

    if "fno" in results:
        peer = Path(args.peer_python)
        if not peer.exists():
            print(f"fno[neuralop]: peer interpreter {peer} absent, skipped")
            return
        cmd = [
            str(peer),
            __file__,
            "--peer-worker",
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"fno[neuralop]: skipped, peer failed: {proc.stderr.strip().splitlines()[-1:]}")
            return
        peer_res = json.loads(proc.stdout.strip().splitlines()[-1])
        label = f"fno[neuralop {peer_res['version']}]"
        print(f"{label:<16}{peer_res['params']:>12,}{peer_res['samples_per_s']:>12.2f}")
        print(f"ratio ours/neuralop FNO (samples/s): {results['fno'] / peer_res['samples_per_s']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
