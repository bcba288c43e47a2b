"""Atomic file output: write to a temporary sibling, rename over the target only when complete.

A reader (or a resumed job) sees either the old file or the whole new one, never a torn one; a
failure leaves the target as it was and removes the temporary file. New files get the ordinary mode
(``0o666`` minus the umask), not ``mkstemp``'s ``0o600``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output", "atomic_store", "atomic_write_text"]


def _umask_mode() -> int:
    """The mode a newly created file would get (0o666 minus the process umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (ending in ``suffix``, for writers that look at the
    extension); on a normal exit it replaces ``path`` atomically, on an exception it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _umask_mode())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


@contextlib.contextmanager
def atomic_store(path: str | os.PathLike) -> Iterator[Path]:
    """Yield ``<hidden folder beside path>/<path's name>`` for writers that create a directory (zarr)
    or insist on their own file name/extension (netCDF). On a normal exit it takes the place of
    ``path``: a file by one atomic rename; a directory by moving the old one into the hidden folder
    first (a directory cannot be renamed over a non-empty one), which is then deleted with it. On an
    exception ``path`` is untouched and the partial output is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        yield tmp
        if path.exists() and (tmp.is_dir() or path.is_dir()):
            os.replace(path, tmp_dir / (path.name + ".old"))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
