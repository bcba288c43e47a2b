"""Run small-tensor CPU loops single-threaded.

Loops over thousands of tiny tensor operations (ODE steps, tangent QR steps on a few thousand
numbers) gain nothing from intra-op threads, and when the cores are shared (other processes, a
busy CI runner) the threads' spin-waits make each small op up to 20× slower (measured: RK stepping
of 1000 Lorenz trajectories, 1.0 s with 1 thread, 18 s with 2 threads on a loaded 2-core machine).
Used internally by the package's own loops; the previous setting is restored on exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

SMALL_TENSOR_ELEMENTS = 1 << 16


@contextlib.contextmanager
def single_threaded_if_small(x: torch.Tensor, limit: int = SMALL_TENSOR_ELEMENTS) -> Iterator[None]:
    """Within the block, use one intra-op thread when ``x`` is a CPU tensor of < ``limit`` elements."""
    if x.device.type != "cpu" or x.numel() >= limit:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
