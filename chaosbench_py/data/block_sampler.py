"""Chunk-aware, seeded, resumable sampling order for windowed training data.

A uniformly random epoch permutation touches the time axis in random order, so every sample
decodes its own time steps (and, for a store chunked over several time steps, whole chunks for one
step each). The block order here keeps the randomness that matters for SGD while reading each
chunk once per epoch:

1. samples are grouped into **blocks** by the time chunk of their anchor (``block_of[i] =
   anchor_i // block_size``, or :func:`chunk_blocks` for the store's actual chunks: a whole number
   of time chunks, or ``k`` days for the ChaosBench per-day layout);
2. the block order is a random permutation;
3. consecutive runs of ``buffer_blocks`` blocks (in that order) form a **buffer**, and the samples
   of a buffer are shuffled among themselves.

With a least-recently-used window cache that holds the states of two buffers, each block with the
chunk its last windows reach into (``2 · cache_states_needed(…, each_block=True)``, what the trainer
keeps: a batch may straddle two buffers), every chunk is read once per epoch for its own block, plus
once more when it is the first chunk after a block and that block's last windows reach into it (the
lead steps of its last anchors): with blocks of ``k`` chunks, ``1 + 1/k`` reads per chunk and epoch
on average, 2 at most, in a single process. (One buffer, :func:`cache_states_needed`'s default, is
enough for ``buffer_blocks = 1`` and a batch within a buffer, not in general.) The order depends
only on ``(seed, epoch)``: a ``DataLoader`` serves the same samples in the same order for any
``num_workers`` (workers only split the reading; a time step used by two batches that go to
different workers is read by both). A run resumes at sample position ``start`` of an epoch by
skipping the first ``start`` entries of the same order. The trainer's ``data.order: blocks``
(:class:`chaosbench_py.training.tasks.next_step.NextStepTask`) draws its epochs from
:func:`block_order`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..errors import InputError

__all__ = ["BlockShuffleSampler", "block_order", "cache_states_needed", "chunk_blocks", "default_block_size"]


def block_order(
    block_of: Sequence[int] | np.ndarray, *, seed: int, epoch: int = 0, buffer_blocks: int = 1
) -> np.ndarray:
    """The epoch order of sample indices ``0 … N−1`` (int64 array of length ``N``).

    Args:
        block_of: the block label of each sample (``N`` integers; equal labels = one block).
        seed, epoch: the generator is ``numpy.random.default_rng([seed, epoch])``.
        buffer_blocks: blocks whose samples are shuffled together (≥ 1).
    """
    labels = np.asarray(block_of)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise InputError("block_of: need a 1-D sequence of integer block labels")
    if int(buffer_blocks) != buffer_blocks or buffer_blocks < 1:
        raise InputError(f"buffer_blocks={buffer_blocks!r}: need an integer ≥ 1")
    if int(seed) != seed or seed < 0 or int(epoch) != epoch or epoch < 0:
        raise InputError(f"seed={seed!r}, epoch={epoch!r}: need integers ≥ 0")
    rng = np.random.default_rng([int(seed), int(epoch)])
    uniq, inverse = np.unique(labels, return_inverse=True)
    members = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))
    blocks = np.split(members, bounds[:-1])
    perm = rng.permutation(len(blocks))
    out = []
    for start in range(0, len(perm), int(buffer_blocks)):
        buf = np.concatenate([blocks[b] for b in perm[start : start + int(buffer_blocks)]])
        out.append(rng.permutation(buf))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def cache_states_needed(
    block_size: int,
    buffer_blocks: int,
    window_span: int,
    chunk: int | None = None,
    *,
    each_block: bool = False,
) -> int:
    """Time steps a window cache must hold so that a buffer's chunks stay cached while it is served.

    ``buffer_blocks · block_size + ⌈window_span / chunk⌉ · chunk``: the buffer's blocks plus the
    chunk(s) its last windows reach into (enough when the buffer's blocks are neighbours in time);
    with ``each_block``, ``buffer_blocks · (block_size + ⌈window_span / chunk⌉ · chunk)``: every
    block with the chunk(s) its own last windows reach into (what :func:`block_order` needs for
    ``buffer_blocks > 1``: the blocks of a buffer are drawn at random, not neighbours). ``window_span``
    = last offset − first offset of a window (e.g. 1 for one input and one target step); ``chunk`` =
    the store's time steps per chunk (default ``block_size``; blocks should be whole chunks).
    """
    c = int(chunk) if chunk is not None else int(block_size)
    if c < 1 or int(block_size) < 1:
        raise InputError(f"block_size={block_size!r}, chunk={chunk!r}: need integers ≥ 1")
    spill = -(-int(window_span) // c) * c
    if each_block:
        return int(buffer_blocks) * (int(block_size) + spill)
    return int(buffer_blocks) * int(block_size) + spill


def chunk_blocks(
    anchors: Sequence[int] | np.ndarray, block_size: int, chunk_starts: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, int]:
    """Block labels of samples from the store's time chunks: ``(block_of, longest block in steps)``.

    The time chunks (start positions ``chunk_starts``, ascending, from 0 to the number of time steps,
    e.g. :meth:`WindowDataset._time_chunk_starts`) are grouped in order into blocks of whole chunks, a
    block closing once it holds ``≥ block_size`` steps (``⌈block_size / c⌉`` chunks for chunks of
    ``c`` steps; exactly ``block_size`` steps for one step per chunk); ``block_of[i]`` is the block of
    the chunk that holds ``anchors[i]``.
    """
    if int(block_size) != block_size or block_size < 1:
        raise InputError(f"block_size={block_size!r}: need an integer ≥ 1")
    starts = np.asarray(chunk_starts, dtype=np.int64)
    lengths = np.diff(starts)
    if starts.ndim != 1 or len(starts) < 2 or starts[0] != 0 or np.any(lengths < 1):
        raise InputError("chunk_starts: need ascending chunk start positions from 0 to the number of steps")
    block_of_chunk = np.empty(len(lengths), dtype=np.int64)
    block, filled, longest = 0, 0, 1
    for k, n in enumerate(lengths.tolist()):
        block_of_chunk[k] = block
        filled += n
        longest = max(longest, filled)
        if filled >= block_size:
            block, filled = block + 1, 0
    a = np.asarray(anchors, dtype=np.int64)
    if a.size and (a.min() < 0 or a.max() >= starts[-1]):
        raise InputError(f"anchors: outside the time axis [0, {int(starts[-1])})")
    return block_of_chunk[np.searchsorted(starts, a, side="right") - 1], int(longest)


def default_block_size(
    chunk: int, state_bytes: int, window_span: int, buffer_blocks: int = 2, target: int = 8,
    budget_bytes: int = 2**30,
) -> int:  # fmt: skip
    """Time steps per block when the run names none: the time chunk ``chunk`` rounded up to ``target``
    steps (``target`` steps for one step per chunk, e.g. 8 days of the ChaosBench per-day layout), then
    fewer whole chunks (at least one) while the cache the trainer keeps for block order, two buffers
    (``2 · cache_states_needed(block, buffer_blocks, window_span, chunk, each_block=True) ·
    state_bytes``: a batch may straddle two buffers), passes ``budget_bytes``."""
    c = max(int(chunk), 1)
    k = max(1, -(-int(target) // c))
    while (
        k > 1
        and 2 * cache_states_needed(k * c, buffer_blocks, window_span, c, each_block=True) * state_bytes
        > budget_bytes
    ):
        k -= 1
    return k * c


class BlockShuffleSampler(torch.utils.data.Sampler[int]):
    """Sample indices in :func:`block_order` for ``epoch``, from position ``start`` on.

    Args:
        dataset: a :class:`~chaosbench_py.data.windows.WindowDataset` (its ``anchors`` give the
            blocks) or the number of samples (blocks of consecutive indices).
        block_size: time steps per block (align with the store's time chunks; ≥ 1).
        seed: the run's seed; ``set_epoch`` picks the epoch.
        buffer_blocks: blocks shuffled together (≥ 1).
        start: position in the epoch order to resume at (0 ≤ start ≤ N).
    """

    def __init__(
        self,
        dataset: object | int,
        block_size: int,
        *,
        seed: int = 0,
        buffer_blocks: int = 1,
        epoch: int = 0,
        start: int = 0,
    ) -> None:
        if int(block_size) != block_size or block_size < 1:
            raise InputError(f"block_size={block_size!r}: need an integer ≥ 1")
        if isinstance(dataset, int | np.integer):
            anchors = np.arange(int(dataset))
        elif hasattr(dataset, "anchors"):
            anchors = np.asarray(dataset.anchors)
        else:
            raise InputError(
                f"dataset: need a WindowDataset (with .anchors) or a sample count, got {type(dataset).__name__}"
            )
        self.block_of = anchors // int(block_size)
        self.seed, self.buffer_blocks, self.epoch = int(seed), int(buffer_blocks), int(epoch)
        self.start = 0
        self.set_start(start)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_start(self, start: int) -> None:
        """Resume at position ``start`` of the epoch order."""
        if int(start) != start or not 0 <= start <= len(self.block_of):
            raise InputError(f"start={start!r}: need a position in [0, {len(self.block_of)}]")
        self.start = int(start)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The whole epoch order (from position 0)."""
        e = self.epoch if epoch is None else epoch
        return block_order(self.block_of, seed=self.seed, epoch=e, buffer_blocks=self.buffer_blocks)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start :].tolist())

    def __len__(self) -> int:
        return len(self.block_of) - self.start
