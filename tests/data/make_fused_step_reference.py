"""Write ``tests/data/fused_step_reference.npz``: trajectories of the DOP853 solver as it was before
the fused step (commit 929897c), read back by ``tests/test_fused_step.py``.

Run from the repository root (only to regenerate the reference on purpose)::

    python tests/data/make_fused_step_reference.py
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from test_fused_step import CASES, run_case  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    out = {name: run_case(name) for name in CASES}
    path = pathlib.Path(__file__).with_name("fused_step_reference.npz")
    np.savez_compressed(path, **out)
    print(path, {k: v.shape for k, v in out.items()})
