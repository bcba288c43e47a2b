"""Build, cache and load physics_metrics' small generated C kernels (one helper for both of them).

The tangent step of the Lyapunov spectra (:mod:`physics_metrics._native_tangent`) and the scorecard row sums
(:mod:`physics_metrics.weather.scorecard_native`) are C sources compiled with the system's C compiler (``$CC``,
else ``cc`` or ``gcc``) into a shared library and loaded with :mod:`ctypes`. This module does that for both.
(``emulators`` may not import ``physics_metrics``, and ``chaosbench generate`` must not pay for importing
``physics_metrics`` with its scipy and xarray, so the DOP853 kernel of ``chaosbench_py.simulate.native_dop853``
and the shPLRNN kernel of ``emulators._native_plrnn`` keep their own copies of this logic.)

* the library is named ``<stem>_<digest>.so``, ``digest`` the SHA-256 of the source, the flags and — for
  ``-march=native`` builds — the CPU's identity (:func:`cpu_identity`), so a changed source is rebuilt and a
  cache folder shared by the nodes of a heterogeneous cluster never hands one CPU's build to another;
* it is looked up, or built, first in the caller's cache folder, then in a private per-user folder of the
  temporary directory (a read-only or unusable cache, or a damaged file under the cached name, is passed
  over);
* a build writes to temporary names in the target folder and renames the library into place, so
  concurrent builders of the same kernel never load half a file, and leaves no sources behind.

:func:`load_library` raises :class:`NativeBuildError` (naming why) when no folder gives a loadable library;
the callers then fall back to their torch or numpy code.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["NativeBuildError", "cache_folder", "cpu_identity", "library_name", "load_library"]


class NativeBuildError(OSError):
    """No loadable library: no C compiler, the build failed, or the library does not load."""


def cpu_identity() -> str:
    """The machine and its instruction-set flags (first ``model name`` and ``flags``/``Features`` lines of
    ``/proc/cpuinfo``): part of the name of a ``-march=native`` build."""
    ident = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    ident += line
                    if line.startswith(("flags", "Features")):
                        break
    except OSError:
        pass
    return ident


def cache_folder(env_var: str, default: str, subfolder: str = "") -> pathlib.Path:
    """``$env_var/subfolder`` when the variable is set, else ``$XDG_CACHE_HOME/default/subfolder`` (or
    ``~/.cache/default/subfolder``)."""
    root = os.environ.get(env_var)
    if root:
        return pathlib.Path(root) / subfolder if subfolder else pathlib.Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = (pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache") / default
    return base / subfolder if subfolder else base


def library_name(source: str, stem: str, flags: Sequence[str], *, cpu_specific: bool = False) -> str:
    """``<stem>_<24 hex digits>.so``: the digest of the source, the flags and (``cpu_specific``) the CPU."""
    text = source + repr(tuple(flags)) + (cpu_identity() if cpu_specific else "")
    return f"{stem}_{hashlib.sha256(text.encode()).hexdigest()[:24]}.so"


def private_folder() -> pathlib.Path:
    """The per-user fallback folder in the temporary directory."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return pathlib.Path(tempfile.gettempdir()) / f"chaosbench_native_{uid}"


def _compile(
    compiler: str, source: str, flags: Sequence[str], link: Sequence[str], dest: pathlib.Path
) -> None:
    """``compiler flags -o dest source link`` through a temporary folder beside ``dest`` and an atomic rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.stem}.", dir=dest.parent) as tmp:
        src, out = pathlib.Path(tmp) / f"{dest.stem}.c", pathlib.Path(tmp) / dest.name
        src.write_text(source)
        subprocess.run(
            [compiler, *flags, "-o", str(out), str(src), *link], check=True, capture_output=True, timeout=120
        )
        os.replace(out, dest)


def load_library(
    source: str,
    *,
    stem: str,
    flags: Sequence[str],
    cache: pathlib.Path,
    link: Sequence[str] = ("-lm",),
    cpu_specific: bool = False,
    setup: Callable[[Any], None] | None = None,
) -> Any:
    """The :class:`ctypes.CDLL` of ``source`` built with ``flags`` (``-shared -fPIC`` among them), from
    ``cache`` or the private folder, built where missing.

    ``setup(lib)`` declares the functions' argument types; an ``AttributeError`` from it (a foreign file
    under the cached name) makes the folder unusable like a failed load. Raises :class:`NativeBuildError`
    when no folder gives a library.
    """
    name = library_name(source, stem, flags, cpu_specific=cpu_specific)
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    reasons = []
    for folder in (cache, private_folder()):
        path = folder / name
        try:
            if not path.exists():
                if compiler is None:
                    reasons.append(f"{folder}: no C compiler (set CC)")
                    continue
                _compile(compiler, source, flags, link, path)
            lib = ctypes.CDLL(str(path))
            if setup is not None:
                setup(lib)
            return lib
        except (OSError, AttributeError, subprocess.SubprocessError) as exc:
            err = (getattr(exc, "stderr", b"") or b"")[:500]
            reasons.append(f"{folder}: {exc} {err.decode(errors='replace')}".strip())
            logger.info("%s: native kernel in %s not usable (%s)", stem, folder, reasons[-1])
    raise NativeBuildError(f"{stem}: no native kernel ({'; '.join(reasons)})")
