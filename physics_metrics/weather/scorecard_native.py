"""One-pass row sums of a forecast–truth difference in C (private helper of the fused scorecard kernel).

For a pair's forecast ``f`` (float32 or float64), its truth ``o`` and the truth anomaly ``a_T`` (float64),
all ``(rows, lon)`` C-contiguous, :func:`row_sums` writes per row, with ``d = f − o`` formed in float64:

    ``Σ d``,  ``Σ d²``,  ``Σ |d|``,  ``Σ d·a_T``   (the last only when ``a_T`` is given)

in one pass over the three inputs (numpy needs a cast copy, a subtraction and four reductions, each a pass
over memory). Sums are float64 with 8 interleaved partial sums per row (longitude ``i`` goes to partial
``i mod 8``, combined pairwise at the end), like numpy's pairwise summation of short rows; compiled with
``-O3 -ffp-contract=off`` (no fused multiply-add, no reassociation beyond the written order), so the values
equal numpy's to rounding (~1e-16 relative per row).

Built once per machine with the C compiler (``$CC``, else ``cc``/``gcc``) into the cache directory of
:mod:`physics_metrics._native_tangent` and loaded with ctypes. Without a compiler, or with
``PHYSICS_METRICS_NATIVE=0``, :func:`available` is False and the caller uses numpy.
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Any

import numpy as np

from .._native_build import NativeBuildError, cache_folder, load_library

logger = logging.getLogger(__name__)

_SOURCE = r"""
#include <math.h>
#include <string.h>
typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef long long v4l __attribute__((vector_size(32)));
static inline v4d ld8(const double *p) { v4d v; memcpy(&v, p, sizeof v); return v; }
static inline v4d ld4(const float *p) { v4f v; memcpy(&v, p, sizeof v); return __builtin_convertvector(v, v4d); }
static inline double red(v4d a, v4d b) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((b[0] + b[1]) + (b[2] + b[3])); }
/* lanes: element i + k of each block of 8 goes to partial k (vector x holds k = 0..3, y k = 4..7) */
#define KERNEL(NAME, FT, LD, WITH_AT, ATTR)                                                       \
ATTR static void NAME(long nrow, long nlon, const FT *f, const double *o, const double *at,       \
                      double *out) {                                                              \
    const v4l absmask = {~(1LL << 63), ~(1LL << 63), ~(1LL << 63), ~(1LL << 63)};                 \
    for (long r = 0; r < nrow; ++r) {                                                             \
        const FT *fr = f + r * nlon;                                                              \
        const double *orow = o + r * nlon;                                                        \
        const double *ar = WITH_AT ? at + r * nlon : 0;                                           \
        v4d s1x = {0}, s1y = {0}, s2x = {0}, s2y = {0}, s3x = {0}, s3y = {0}, s4x = {0}, s4y = {0};   \
        long i = 0;                                                                               \
        for (; i + 8 <= nlon; i += 8) {                                                           \
            v4d dx = LD(fr + i) - ld8(orow + i), dy = LD(fr + i + 4) - ld8(orow + i + 4);         \
            s1x += dx; s1y += dy;                                                                 \
            s2x += dx * dx; s2y += dy * dy;                                                       \
            s3x += (v4d)((v4l)dx & absmask); s3y += (v4d)((v4l)dy & absmask);                     \
            if (WITH_AT) { s4x += dx * ld8(ar + i); s4y += dy * ld8(ar + i + 4); }                \
        }                                                                                         \
        double t1 = 0.0, t2 = 0.0, t3 = 0.0, t4 = 0.0;                                            \
        for (; i < nlon; ++i) {                                                                   \
            double d = (double)fr[i] - orow[i];                                                   \
            t1 += d; t2 += d * d; t3 += fabs(d);                                                  \
            if (WITH_AT) t4 += d * ar[i];                                                         \
        }                                                                                         \
        out[r] = red(s1x, s1y) + t1;                                                              \
        out[nrow + r] = red(s2x, s2y) + t2;                                                       \
        out[2 * nrow + r] = red(s3x, s3y) + t3;                                                   \
        out[3 * nrow + r] = WITH_AT ? red(s4x, s4y) + t4 : 0.0;                                   \
    }                                                                                             \
}
/* a day: o64 = o, at = o - c (float64), per row sum(at), sum(at * at), same lanes as above */
#define DAY(NAME, OT, LDO, CT, LDC, ATTR)                                                         \
ATTR static void NAME(long nrow, long nlon, const OT *o, const CT *c, double *o64, double *at,     \
                      double *out) {                                                              \
    for (long r = 0; r < nrow; ++r) {                                                             \
        const OT *orow = o + r * nlon;                                                            \
        const CT *crow = c + r * nlon;                                                            \
        double *po = o64 + r * nlon, *pa = at + r * nlon;                                         \
        v4d s1x = {0}, s1y = {0}, s2x = {0}, s2y = {0};                                           \
        long i = 0;                                                                               \
        for (; i + 8 <= nlon; i += 8) {                                                           \
            v4d ox = LDO(orow + i), oy = LDO(orow + i + 4);                                       \
            v4d ax = ox - LDC(crow + i), ay = oy - LDC(crow + i + 4);                             \
            memcpy(po + i, &ox, sizeof ox); memcpy(po + i + 4, &oy, sizeof oy);                   \
            memcpy(pa + i, &ax, sizeof ax); memcpy(pa + i + 4, &ay, sizeof ay);                   \
            s1x += ax; s1y += ay; s2x += ax * ax; s2y += ay * ay;                                 \
        }                                                                                         \
        double t1 = 0.0, t2 = 0.0;                                                                \
        for (; i < nlon; ++i) {                                                                   \
            double ov = (double)orow[i], a = ov - (double)crow[i];                                \
            po[i] = ov; pa[i] = a; t1 += a; t2 += a * a;                                          \
        }                                                                                         \
        out[r] = red(s1x, s1y) + t1;                                                              \
        out[nrow + r] = red(s2x, s2y) + t2;                                                       \
    }                                                                                             \
}
#define DAYS(NAME, OT, LDO, CT, LDC)                                                              \
DAY(NAME##_base, OT, LDO, CT, LDC, )                                                              \
DAY(NAME##_avx2, OT, LDO, CT, LDC, AVX2)                                                          \
void NAME(long nrow, long nlon, const OT *o, const CT *c, double *o64, double *at, double *out) { \
    if (__builtin_cpu_supports("avx2")) NAME##_avx2(nrow, nlon, o, c, o64, at, out);              \
    else NAME##_base(nrow, nlon, o, c, o64, at, out);                                             \
}
#define AVX2 __attribute__((target("avx2")))
#define VARIANTS(NAME, FT, LD, WITH_AT)                                                           \
KERNEL(NAME##_base, FT, LD, WITH_AT, )                                                            \
KERNEL(NAME##_avx2, FT, LD, WITH_AT, AVX2)                                                        \
void NAME(long nrow, long nlon, const FT *f, const double *o, const double *at, double *out) {    \
    if (__builtin_cpu_supports("avx2")) NAME##_avx2(nrow, nlon, f, o, at, out);                   \
    else NAME##_base(nrow, nlon, f, o, at, out);                                                  \
}
VARIANTS(rows_f4, float, ld4, 0)
VARIANTS(rows_f4_at, float, ld4, 1)
VARIANTS(rows_f8, double, ld8, 0)
VARIANTS(rows_f8_at, double, ld8, 1)
DAYS(day_f4_f4, float, ld4, float, ld4)
DAYS(day_f4_f8, float, ld4, double, ld8)
DAYS(day_f8_f4, double, ld8, float, ld4)
DAYS(day_f8_f8, double, ld8, double, ld8)
"""
_FLAGS = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-Wno-psabi", "-shared", "-fPIC"]
_LIB: list[Any] = []  # [library or None] once tried


def _declare(lib: Any) -> None:
    args = [ctypes.c_long, ctypes.c_long] + [ctypes.c_void_p] * 4
    for name in ("rows_f4", "rows_f4_at", "rows_f8", "rows_f8_at"):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, None
    for a in ("f4", "f8"):
        for b in ("f4", "f8"):
            fn = getattr(lib, f"day_{a}_{b}")
            fn.argtypes, fn.restype = args + [ctypes.c_void_p], None


def _load() -> Any:
    """The compiled library (built on first use), or None where it cannot be built or loaded."""
    if os.environ.get("PHYSICS_METRICS_NATIVE", "1") == "0":
        return None
    if _LIB:
        return _LIB[0]
    cache = cache_folder("PHYSICS_METRICS_CACHE_DIR", "physics_metrics")
    try:
        lib = load_library(_SOURCE, stem="scorecard_rows", flags=_FLAGS, cache=cache, setup=_declare)
    except NativeBuildError as exc:
        logger.info("scorecard row-sum kernel not available (%s); using numpy", exc)
        lib = None
    _LIB[:] = [lib]
    return lib


def available() -> bool:
    """Whether the C kernel is built and loaded (builds it on the first call)."""
    return _load() is not None


def row_sums(f: np.ndarray, o: np.ndarray, at: np.ndarray | None) -> np.ndarray | None:
    """``(4, *f.shape[:-1])`` float64: ``Σd, Σd², Σ|d|, Σ d·a_T`` over the last axis (``d = f − o``; the last
    is 0 without ``at``), or None where the kernel is unavailable or the inputs do not qualify (dtypes,
    shapes, C order)."""
    lib = _load()
    if lib is None or f.shape != o.shape or o.dtype != np.float64 or f.dtype not in (np.float32, np.float64):
        return None
    if not (f.flags.c_contiguous and o.flags.c_contiguous):
        return None
    if at is not None and (at.shape != o.shape or at.dtype != np.float64 or not at.flags.c_contiguous):
        return None
    nlon = f.shape[-1] if f.ndim else 1
    nrow = f.size // max(nlon, 1)
    out = np.empty((4,) + f.shape[:-1])
    name = ("rows_f4" if f.dtype == np.float32 else "rows_f8") + ("_at" if at is not None else "")
    getattr(lib, name)(nrow, nlon, f.ctypes.data, o.ctypes.data, 0 if at is None else at.ctypes.data,
                       out.ctypes.data)  # fmt: skip
    return out


def day_sums(o: np.ndarray, c: np.ndarray, o64=None, at=None) -> tuple[np.ndarray, ...] | None:
    """A truth day ``o`` and its climatology ``c`` (float32/float64, same shape, C order, last axis longitude)
    → ``(o, a_T = o − c, Σ_lon a_T, Σ_lon a_T²)`` in one pass, the first two float64 arrays written into
    ``o64``, ``at`` (C-contiguous float64 of that shape) or new ones; None where the kernel is unavailable or
    the inputs do not qualify."""
    lib = _load()
    kinds = {np.dtype(np.float32): "f4", np.dtype(np.float64): "f8"}
    if lib is None or o.shape != c.shape or o.dtype not in kinds or c.dtype not in kinds or o.ndim < 1:
        return None
    if not (o.flags.c_contiguous and c.flags.c_contiguous):
        return None
    nlon = o.shape[-1]
    for buf in (o64, at):
        if buf is not None and (
            buf.shape != o.shape or buf.dtype != np.float64 or not buf.flags.c_contiguous
        ):
            return None
    o64 = np.empty(o.shape) if o64 is None else o64
    at = np.empty(o.shape) if at is None else at
    out = np.empty((2,) + o.shape[:-1])
    fn = getattr(lib, f"day_{kinds[o.dtype]}_{kinds[c.dtype]}")
    fn(
        o.size // max(nlon, 1),
        nlon,
        o.ctypes.data,
        c.ctypes.data,
        o64.ctypes.data,
        at.ctypes.data,
        out.ctypes.data,
    )
    return o64, at, out[0], out[1]
