"""Work split across ``torchrun`` ranks: who am I, which share is mine, one process decides for all.

Used by the rank-parallel forecast rollouts (:func:`chaosbench_py.evaluation.rollout_gridded_ranks`)
and trajectory generation (:func:`chaosbench_py.simulate.generate_to_store_ranks`). Under ``torchrun``
each process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from its environment; with
``WORLD_SIZE > 1`` a gloo process group is initialised (CPU, whatever device the work runs on: it only
carries barriers and small Python objects). Without ``torchrun`` the context is rank 0 of 1 and every
collective is a no-op, so the same code runs in one process.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from .errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["RankContext", "contiguous_share"]

T = TypeVar("T")

#: how long a rank waits for the others at a barrier (a rank whose share is slow holds the others)
BARRIER_TIMEOUT = datetime.timedelta(hours=12)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InputError(
            f"environment variable {name}={text!r} is not an integer (set by torchrun)"
        ) from None


def contiguous_share(n_units: int, world: int, rank: int) -> range:
    """The contiguous units ``[start, stop)`` of ``rank`` when ``n_units`` are split over ``world``
    ranks: the first ``n_units mod world`` ranks get one more (``numpy.array_split``'s rule)."""
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"rank {rank} of world size {world}: need 0 <= rank < world size")
    base, extra = divmod(int(n_units), world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


@dataclasses.dataclass
class RankContext:
    """This process's place among the ranks (``torchrun``'s ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @classmethod
    def from_env(cls) -> RankContext:
        """The context of this process; initialises a gloo process group when ``WORLD_SIZE > 1`` and
        none exists yet (``MASTER_ADDR``/``MASTER_PORT`` from ``torchrun``)."""
        import torch.distributed as dist

        world = _env_int("WORLD_SIZE", 1)
        rank = _env_int("RANK", 0)
        local = _env_int("LOCAL_RANK", 0)
        if world < 1 or not 0 <= rank < world:
            raise InputError(f"RANK={rank}, WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE")
        ctx = cls(rank, world, local)
        if world > 1 and dist.is_available() and not dist.is_initialized():
            dist.init_process_group(backend="gloo", timeout=BARRIER_TIMEOUT)
            ctx.owns_group = True
            logger.info("process group: gloo, rank %d of %d", rank, world)
        elif dist.is_available() and dist.is_initialized():
            ctx.rank, ctx.world = dist.get_rank(), dist.get_world_size()
        return ctx

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, name: str | torch.device | None = None) -> torch.device:
        """``None``/``"auto"``: ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; otherwise
        ``name`` (a bare ``cuda`` becomes ``cuda:LOCAL_RANK``)."""
        if name is None or name == "auto":
            return (
                torch.device(f"cuda:{self.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
            )
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device {name!r}: CUDA is not available on this machine")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device(f"cuda:{self.local_rank}")
        return dev

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def main_decides(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result to every rank; an exception raised there is
        raised on every rank (so no rank waits for a partner that has given up). A barrier too."""
        result: Any = None
        error: BaseException | None = None
        if self.is_main:
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                error = exc
        if self.enabled:
            box = [(result, error)]
            torch.distributed.broadcast_object_list(box, src=0)
            result, error = box[0]
        if error is not None:
            raise error
        return result

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self.owns_group = False
