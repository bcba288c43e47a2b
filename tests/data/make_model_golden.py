"""Regenerate ``tests/data/model_golden.npz``: float64 outputs of a few small models at a fixed seed.

The models, configs, seed and inputs are those of ``tests/test_models_registry.py`` (``GOLDEN_MODELS``,
``SMALL``, ``golden_case``); the file stores, per model, its tensor inputs (``<name>/input<i>``) and
outputs (``<name>/output<i>``). Run it only when a model's numbers change on purpose, and say why in
the commit::

    python tests/data/make_model_golden.py --overwrite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from test_models_registry import GOLDEN_MODELS, GOLDEN_PATH, golden_case  # noqa: E402

from chaosbench_py.files import atomic_output  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_PATH, help=f"output file (default {GOLDEN_PATH})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"{args.out}: exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    arrays: dict[str, np.ndarray] = {}
    for name in GOLDEN_MODELS:
        inputs, outputs = golden_case(name)
        for i, a in enumerate(x for x in inputs if isinstance(x, torch.Tensor)):
            arrays[f"{name}/input{i}"] = a.numpy()
        for i, out in enumerate(outputs):
            arrays[f"{name}/output{i}"] = out
        print(f"{name}: {len(outputs)} output(s), shapes {[o.shape for o in outputs]}")
    with atomic_output(args.out, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
