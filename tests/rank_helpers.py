"""Launching small multi-process runs from tests (not a test file): a free port, a torchrun command line,
child environments with one CPU thread and no GPU."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it), so parallel tests do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """This environment with one thread per process, no GPU, and the repository importable."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def torchrun(
    args: list[str], nproc: int = 2, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node nproc`` on a free port with ``args`` (``-m chaosbench_py ...``)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args]  # fmt: skip
    return subprocess.run(
        cmd, cwd=REPO, env=child_env(**env), capture_output=True, text=True, timeout=timeout
    )
