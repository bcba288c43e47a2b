"""Processes and devices of a training run: ``train.device`` → a torch device, ``torchrun``'s rank and world.

Under ``torchrun`` (``WORLD_SIZE > 1``) the process group is initialised with NCCL on CUDA and gloo on
CPU (:meth:`DistributedContext.init`); each process learns its rank, the world size and its local rank
(its GPU on the node) from the environment ``torchrun`` sets.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import torch

from ..errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["DistributedContext", "resolve_device"]


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → ``cuda:<local_rank>`` when CUDA is available, else ``cpu``; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} requested but CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


@dataclasses.dataclass
class DistributedContext:
    """Rank / world size from ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> DistributedContext:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))  # fmt: skip

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def init(self, device: torch.device) -> None:
        import torch.distributed as dist

        if self.enabled and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group(backend=backend)
            logger.info("process group: %s, rank %d of %d", backend, self.rank, self.world)

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()
