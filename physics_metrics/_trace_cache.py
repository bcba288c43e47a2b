"""Per-process cache of the traced tangent steps of :mod:`physics_metrics.lyapunov`.

Tracing the RK4 tangent step of a vector field (``make_fx`` of the forward-mode JVPs, then
TorchScript) costs 0.3–0.5 s per call on a CPU — more than the whole integration of a
5000-step Lorenz-63 spectrum. The traced graph depends only on the function traced, the
dtype, device and shapes of the example inputs and a few flags, so it is kept here and reused
by later calls with the same key.

Safety: the graph freezes Python numbers the function reads (a flow's parameters) and the
branch taken by any value-dependent control flow. A cached graph is therefore *validated* on
every reuse: one step of the cached graph and one eager step are computed on the actual
inputs of the new call and must agree to ``rtol = 1e-9`` (float64; ``1e-4`` for lower
precision), otherwise the function is traced again (a flow whose parameters were changed in
between, a different function that reuses a freed object's id). The eager step costs one
evaluation of the tangent step, a few milliseconds for small systems.

The cache holds at most :data:`MAX_ENTRIES` graphs (least recently used dropped first) and weak
references to the functions it keyed on (an entry whose function was freed never matches). A
cached graph keeps the tensors it captured (e.g. a neural vector field's weights) alive until it
is dropped; :func:`clear` drops all.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger("physics_metrics.lyapunov")

MAX_ENTRIES = 16
_CACHE: OrderedDict[tuple, tuple[Any, Callable]] = OrderedDict()
_LOCK = threading.Lock()
STATS = {"hits": 0, "misses": 0, "stale": 0}


def _ref(obj: Any) -> Callable[[], Any]:
    """A weak reference where the object allows one (the cache does not keep models alive), else a
    strong one."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def callable_key(fn: Callable) -> tuple[tuple, tuple]:
    """``(hashable key, anchor)`` for a user function: bound methods by (function, id of the
    instance) — a new bound-method object is made at every attribute access — anything else by
    its id. ``anchor`` holds (weak) references to the objects the ids stand for: an entry is used
    only while they are alive and the same objects, so a reused id never matches."""
    owner = getattr(fn, "__self__", None)
    func = getattr(fn, "__func__", None)
    if owner is not None and func is not None:
        return ("method", id(func), id(owner)), (_ref(func), _ref(owner))
    return ("object", id(fn)), (_ref(fn),)


def tensor_signature(args: tuple) -> tuple:
    """Shapes, dtypes and devices of the tensors in ``args`` (the graph is specialised to them)."""
    return tuple(
        (tuple(a.shape), str(a.dtype), str(a.device)) if isinstance(a, torch.Tensor) else repr(a)
        for a in args
    )


def _agrees(a: Any, b: Any) -> bool:
    if isinstance(a, tuple | list):
        return isinstance(b, tuple | list) and len(a) == len(b) and all(_agrees(x, y) for x, y in zip(a, b))
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return False
    rtol = 1e-9 if a.dtype == torch.float64 else 1e-4
    scale = float(b.abs().amax()) if b.numel() and bool(torch.isfinite(b).all()) else 1.0
    return bool(torch.allclose(a, b, rtol=rtol, atol=rtol * max(scale, 1e-300), equal_nan=True))


def lookup(key: tuple, anchor: Any, fn: Callable, args: tuple) -> Callable | None:
    """The cached graph for ``key`` if it exists, belongs to ``anchor`` and reproduces one eager
    step of ``fn`` on ``args``; else ``None`` (a stale entry is dropped)."""
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
    if (
        entry is None
        or len(entry[0]) != len(anchor)
        or any(x() is None or x() is not y() for x, y in zip(entry[0], anchor))
    ):
        STATS["misses"] += 1
        return None
    compiled = entry[1]
    try:
        ok = _agrees(compiled(*args), fn(*args))
    except Exception as exc:  # noqa: BLE001 - a graph that cannot run on these inputs is stale
        logger.info("cached tangent step failed on new inputs (%s); tracing again", exc)
        ok = False
    if not ok:
        STATS["stale"] += 1
        with _LOCK:
            _CACHE.pop(key, None)
        return None
    STATS["hits"] += 1
    return compiled


def store(key: tuple, anchor: Any, compiled: Callable) -> None:
    """Keep ``compiled`` under ``key`` (dropping the least recently used beyond :data:`MAX_ENTRIES`)."""
    with _LOCK:
        _CACHE[key] = (anchor, compiled)
        _CACHE.move_to_end(key)
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)


def clear() -> None:
    """Drop every cached graph (and reset :data:`STATS`)."""
    with _LOCK:
        _CACHE.clear()
    STATS.update(hits=0, misses=0, stale=0)
