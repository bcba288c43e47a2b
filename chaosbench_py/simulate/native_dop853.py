"""A generated C kernel for the batched DOP853 integrator: one compiled loop per right-hand side.

The torch step of :mod:`chaosbench_py.simulate.solvers` costs ~250 tensor operations per
Dormand–Prince 8(5,3) step (12 stage combinations plus 12 right-hand-side calls), so on the CPU a
batch of 1–10⁴ small trajectories is bound by torch's per-operation overhead, not by arithmetic.
This module writes the whole adaptive loop — stages, error estimate, step-size control, output
times, divergence checks — as C for one system and compiles it once (cached on disk):

1. **Tracing** (:mod:`.native_rhs`): the right-hand side is called once on symbolic columns and
   each torch operation becomes one C statement, rounding as torch's does. Parameter sweeps as
   tensors, ``roll``, data-dependent branches, float32 or CUDA states make :func:`native_kernel`
   return ``None`` and the torch step runs.
2. **The loop** is a transcription of ``solvers._integrate_dop853``: the same tableau (scipy's
   ``dop853_coefficients``, Hairer, Nørsett & Wanner 1993, sec. II.10), the same per-trajectory
   error norm ``err_b = |h| e5 / sqrt((e5 + 0.01 e3) D)`` (scipy's DOP853 estimate), the step
   shared by the batch and accepted when ``max_b err_b < 1``, the same controller (safety 0.9,
   factors in [0.2, 10], exponent −1/8) and the same landing on output times. Trajectories are
   processed in blocks of ``W = 8`` lanes (vectorised by the compiler). The stage sums
   ``Σ_j a_sj K_j`` are fused multiply-adds in ascending j from 0 — the order and rounding of
   torch's BLAS ``gemv`` — and the error norm's square root is torch's own (MKL ``vdSqrt``), so for
   a right-hand side of arithmetic and torch's VML functions and D ≤ 4 the results are **bit for
   bit those of the torch step** (for D > 4 torch sums the error norm over D in another order, and
   ``sinh``/``cosh``/``asin``/``acos``/general powers come from the C library: agreement to
   rounding, ~1e-16 per step). ``tests/test_fused_step.py`` checks both.
3. **Build.** ``cc -O3 -march=native -ffp-contract=off`` (no fused multiply-add contraction, no
   fast-math: IEEE rounding of every operation), cached under ``$CHAOSBENCH_CACHE_DIR`` or
   ``~/.cache/chaosbench_py/native`` by a hash of the source; no compiler, or a failed build,
   means the torch step runs (logged at INFO).

Set ``CHAOSBENCH_NATIVE=0`` (or ``integrate(..., native=False)``) to run the torch step.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import pathlib
import shutil
import subprocess
import tempfile
from typing import Any

import numpy as np
import torch

from .fast_start import bind_kernel, cache_dir, cpu_identity, run_kernel, switched_on
from .native_rhs import _VML, _Unsupported, trace_rhs

logger = logging.getLogger(__name__)


def _combination(coef: Any, n_terms: int, dest: str) -> str:
    """C statements ``dest = sum_j coef[j] * K[j][d][w]``, j ascending, as fused multiply-adds from 0.

    This is the order and rounding of torch's ``coef @ K`` (BLAS gemv: ``acc = fma(a_j, K_j, acc)``,
    checked bit for bit); a zero coefficient leaves ``acc`` unchanged and is skipped.
    """
    terms = [
        f"{dest} = fma({float(coef[j])!r}, K[{j}][d][w], {dest});" for j in range(n_terms) if coef[j] != 0
    ]
    return f"{dest} = 0.0; " + " ".join(terms)


_COEFFICIENTS: list = []


def _coefficients() -> Any:
    """scipy's ``dop853_coefficients`` module, loaded from its file: importing it the usual way runs
    ``scipy.integrate/__init__`` (~0.6 s of a ``chaosbench generate`` start-up) for a table of numbers."""
    if not _COEFFICIENTS:
        import importlib.util

        spec = importlib.util.find_spec("scipy")
        path = pathlib.Path(spec.origin).parent / "integrate" / "_ivp" / "dop853_coefficients.py"
        try:
            module_spec = importlib.util.spec_from_file_location("_chaosbench_dop853_coefficients", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        except (OSError, AttributeError, ImportError):
            from scipy.integrate._ivp import dop853_coefficients as module
        _COEFFICIENTS.append(module)
    return _COEFFICIENTS[0]


def c_source(rhs_body: str, dim: int) -> str:
    """The C source of the DOP853 driver ``dop853_run`` for one right-hand side (see module docstring)."""
    c = _coefficients()
    n = c.N_STAGES  # 12
    stages = []
    for s in range(1, n):
        stages.append(
            f"for (int d = 0; d < D; d++) for (int w = 0; w < W; w++) {{ double acc; "
            f"{_combination(c.A[s], s, 'acc')} Y[d][w] = X[d][w] + h * acc; }}\n"
            f"    rhs(t + ({float(c.C[s])!r}) * h, Y, K[{s}]);"
        )
    stage_code = "\n    ".join(stages)
    return _TEMPLATE % {
        "D": dim,
        "NS": n,
        "W": 8,
        "NVF": len(_VML),
        "RHS": rhs_body,
        "STAGES": stage_code,
        "BCOMB": _combination(c.B, n, "acc"),
        "E5": _combination(c.E5, n + 1, "a5"),
        "E3": _combination(c.E3, n + 1, "a3"),
    }


_TEMPLATE = r"""
#include <math.h>
#define D %(D)d
#define NS %(NS)d
#define W %(W)d
#define TB 32

typedef void (*vfun_t)(int, const double *, double *);
static vfun_t VF[%(NVF)d]; /* torch's VML routines (vdSqrt, vdSin ...) or NULL */

static inline void rhs(double t, double x[D][W], double dx[D][W]) {
    (void)t;
    %(RHS)s
}

/* one DOP853 step of trajectories b0 .. b0+nw-1 (nw <= W; lanes beyond nw repeat the last one):
   new states, new derivatives and each trajectory's error norm (scipy's estimate) */
static void step_block(double t, double h, const double *x, const double *fx, double *xn, double *fn,
                       double *err, long nw, double rtol, double atol) {
    double X[D][W], K[NS + 1][D][W], Y[D][W], e5[W], e3[W];
    for (int w = 0; w < W; w++) {
        long b = w < nw ? w : nw - 1;
        for (int d = 0; d < D; d++) { X[d][w] = x[b * D + d]; K[0][d][w] = fx[b * D + d]; }
    }
    %(STAGES)s
    for (int d = 0; d < D; d++) for (int w = 0; w < W; w++) { double acc; %(BCOMB)s Y[d][w] = X[d][w] + h * acc; }
    rhs(t + h, Y, K[NS]);
    for (int w = 0; w < W; w++) { e5[w] = 0.0; e3[w] = 0.0; }
    for (int d = 0; d < D; d++)
        for (int w = 0; w < W; w++) {
            double ax = fabs(X[d][w]), an = fabs(Y[d][w]);
            double m = (ax >= an || ax != ax) ? ax : an;
            if (an != an) m = an;
            double sc = atol + rtol * m;
            double a5, a3;
            %(E5)s
            %(E3)s
            double r5 = a5 / sc, r3 = a3 / sc;
            e5[w] += r5 * r5;
            e3[w] += r3 * r3;
        }
    double den[W], root[W];
    for (int w = 0; w < W; w++) {
        den[w] = e5[w] + 0.01 * e3[w];
        if (den[w] < 1e-300) den[w] = 1e-300;
        den[w] = den[w] * D;
    }
    if (VF[0]) VF[0](W, den, root); /* torch's own sqrt (MKL vdSqrt): not always correctly rounded */
    else for (int w = 0; w < W; w++) root[w] = sqrt(den[w]);
    for (long w = 0; w < nw; w++) {
        err[w] = fabs(h) * e5[w] / root[w];
        for (int d = 0; d < D; d++) { xn[w * D + d] = Y[d][w]; fn[w * D + d] = K[NS][d][w]; }
    }
}

static long bad_state(long B, const double *x, const double *bound) {
    for (long b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            double v = x[b * D + d];
            if (!isfinite(v) || fabs(v) > bound[d]) return b;
        }
    return -1;
}

static long worst(long B, const double *err, int nonfinite_first) {
    long w = 0;
    for (long b = 0; b < B; b++) {
        if (err[b] != err[b] || (nonfinite_first && !isfinite(err[b]))) return b;
        if (err[b] > err[w]) w = b;
    }
    return w;
}

/* status: 0 done; 1 bad state at info[0] (the caller re-checks x to name it); 2 step collapse
   (info: t, h, worst, n_interval > max_per_output); 3 step underflow (info: t, h, worst) */
int dop853_run(long B, long T, const double *times, double *x, double *fx, double *out,
               double *xn, double *fn, double *err, double rtol, double atol, double h,
               long max_steps, long max_per_output, long check_every, const double *bound,
               double *info, double *tbuf, void *const *vml) {
    for (int i = 0; i < %(NVF)d; i++) VF[i] = (vfun_t)vml[i];
    const double safety = 0.9, min_factor = 0.2, max_factor = 10.0, exponent = -1.0 / 8.0;
    double *const x_caller = x, *const fx_caller = fx;
    int status = 0;
    double t = times[0];
    long n_steps = 0;
    for (long b = 0; b < B; b++) { err[b] = 0.0; for (int d = 0; d < D; d++) out[(b * T) * D + d] = x[b * D + d]; }
    for (long i = 0; i < B * D; i++) tbuf[i] = x[i]; /* slot 0: time 0, flushed with outputs 1 .. TB-1 */
    for (long k = 1; k < T; k++) {
        double t_out = times[k];
        long n_interval = 0;
        while (t < t_out) {
            double h_proposed = h, factor = 1.0;
            h = h > 0 ? (h < t_out - t ? h : t_out - t) : t_out - t;
            int last = t + h >= t_out - 1e-12 * (fabs(t_out) > 1.0 ? fabs(t_out) : 1.0);
            if (last) h = t_out - t;
            int rejected = 0;
            for (;;) {
                n_steps++;
                n_interval++;
                if (n_steps > max_steps || n_interval > max_per_output) {
                    info[0] = t; info[1] = h; info[2] = (double)worst(B, err, 0);
                    info[3] = n_interval > max_per_output;
                    info[4] = (double)k;
                    status = 2;
                    goto done;
                }
                if (n_interval %% check_every == 0 && bad_state(B, x, bound) >= 0) { info[0] = t; status = 1; goto done; }
                double e = -INFINITY;
                int nan = 0;
                for (long b0 = 0; b0 < B; b0 += W) {
                    long nw = B - b0 < W ? B - b0 : W;
                    step_block(t, h, x + b0 * D, fx + b0 * D, xn + b0 * D, fn + b0 * D, err + b0, nw, rtol, atol);
                }
                for (long b = 0; b < B; b++) {
                    if (err[b] != err[b]) nan = 1;
                    else if (err[b] > e) e = err[b];
                }
                if (nan) e = INFINITY;
                if (e < 1.0) {
                    if (e == 0) factor = max_factor;
                    else { double g = safety * pow(e, exponent); factor = g < max_factor ? g : max_factor; }
                    if (rejected && factor > 1.0) factor = 1.0;
                    break;
                }
                if (h < 1e-14 * (fabs(t) > 1.0 ? fabs(t) : 1.0)) {
                    info[0] = t; info[1] = h; info[2] = (double)worst(B, err, 1);
                    status = 3;
                    goto done;
                }
                if (e != INFINITY) { double g = safety * pow(e, exponent); h *= g > min_factor ? g : min_factor; }
                else h *= min_factor;
                last = 0;
                rejected = 1;
            }
            t = last ? t_out : t + h;
            double *tmp = x; x = xn; xn = tmp;
            tmp = fx; fx = fn; fn = tmp;
            if (last && !rejected) { double g = h * factor; h = g > h_proposed ? g : h_proposed; }
            else h = h * factor;
        }
        if (bad_state(B, x, bound) >= 0) { info[0] = t_out; status = 1; goto done; }
        /* outputs go through a (TB, B, D) buffer, written to out (B, T, D) TB times at once */
        for (long i = 0; i < B * D; i++) tbuf[(k %% TB) * B * D + i] = x[i];
        if (k %% TB == TB - 1 || k == T - 1) {
            long k0 = k - k %% TB;
            for (long b = 0; b < B; b++)
                for (long j = k0; j <= k; j++)
                    for (int d = 0; d < D; d++) out[(b * T + j) * D + d] = tbuf[((j - k0) * B + b) * D + d];
        }
    }
done: /* the caller's buffers hold the current state */
    if (x != x_caller)
        for (long i = 0; i < B * D; i++) { x_caller[i] = x[i]; fx_caller[i] = fx[i]; }
    return status;
}

/* the right-hand side f(t, x) of B states x (B, D) into fx (B, D), by blocks of W lanes */
void dop853_rhs(long B, double t, const double *x, double *fx, void *const *vml) {
    for (int i = 0; i < %(NVF)d; i++) VF[i] = (vfun_t)vml[i];
    double X[D][W], F[D][W];
    for (long b0 = 0; b0 < B; b0 += W) {
        long nw = B - b0 < W ? B - b0 : W;
        for (int w = 0; w < W; w++) {
            long b = b0 + (w < nw ? w : nw - 1);
            for (int d = 0; d < D; d++) X[d][w] = x[b * D + d];
        }
        rhs(t, X, F);
        for (long w = 0; w < nw; w++) for (int d = 0; d < D; d++) fx[(b0 + w) * D + d] = F[d][w];
    }
}
"""


_LOADED: dict[str, Any] = {}  # source hash -> ctypes function
_FAILED: set[str] = set()
_PATHS: dict[int, str] = {}  # id of a loaded dop853_run -> its library's path


_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC")


def _build(source: str) -> Any:
    """Compile ``source`` (cached by hash of the source, the flags and the CPU) and return its ``dop853_run``
    as a ctypes function, or None."""
    key = hashlib.sha256((source + repr(_FLAGS) + cpu_identity()).encode()).hexdigest()[:24]
    if key in _LOADED:
        return _LOADED[key]
    if key in _FAILED:
        return None
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    lib_path = None
    for folder in (cache_dir(), pathlib.Path(tempfile.gettempdir()) / f"chaosbench_native_{os.getuid()}"):
        path = folder / f"dop853_{key}.so"
        if path.exists():
            lib_path = path
            break
        if compiler is None:
            continue
        src = folder / f"dop853_{key}.{os.getpid()}.c"
        tmp = folder / f"dop853_{key}.{os.getpid()}.so"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            src.write_text(source)
            cmd = [compiler, *_FLAGS, "-o", str(tmp), str(src), "-lm"]
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
            os.replace(tmp, path)  # atomic: concurrent builders of the same kernel agree
            lib_path = path
            break
        except (OSError, subprocess.SubprocessError) as exc:
            err = getattr(exc, "stderr", b"") or b""
            logger.info("dop853: building the native kernel in %s failed (%s %s)", folder, exc, err[:500])
        finally:
            for leftover in (src, tmp):
                if leftover.exists():
                    leftover.unlink()
    if lib_path is None:
        logger.info("dop853: no native kernel (no C compiler or no writable cache); using the torch step")
        _FAILED.add(key)
        return None
    try:
        fn, _ = bind_kernel(ctypes.CDLL(str(lib_path)))
    except (OSError, AttributeError) as exc:
        logger.info("dop853: loading %s failed (%s); using the torch step", lib_path, exc)
        _FAILED.add(key)
        return None
    _LOADED[key] = fn
    _PATHS[id(fn)] = str(lib_path)
    return fn


_VML_TABLE: list = []


def _vml_table() -> Any:
    """Addresses of the MKL VML routines torch uses for CPU doubles (``vdSqrt``, ``vdSin`` … in
    ``libtorch_cpu``), as a C array in the order of ``_VML``; an entry is NULL (the C library's
    function) where torch has none or it does not reproduce ``torch.<fn>`` bit for bit on a probe."""
    if not _VML_TABLE:
        table = (ctypes.c_void_p * len(_VML))()
        try:
            lib = ctypes.CDLL(str(pathlib.Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        except OSError:
            lib = None
        probe = np.linspace(-0.999, 0.999, 37) * np.array([1.0, 3.7, 0.3])[:, None]
        probe = probe.ravel()
        for i, vml in enumerate(_VML):
            fn = getattr(lib, f"vd{vml}", None) if lib is not None else None
            if fn is None:
                continue
            torch_fn = {"Ln": torch.log}.get(vml) or getattr(torch, vml.lower())
            x = np.abs(probe) + 1e-3 if vml in ("Sqrt", "Ln") else probe
            address = ctypes.cast(fn, ctypes.c_void_p).value
            call = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(address)
            ok = True
            for n in (1, 8, x.size):
                for start in range(0, x.size - n + 1, n):
                    seg = np.ascontiguousarray(x[start : start + n])
                    out = np.empty_like(seg)
                    call(n, seg.ctypes.data, out.ctypes.data)
                    ok = ok and np.array_equal(out, torch_fn(torch.from_numpy(seg)).numpy())
            if ok:
                table[i] = address
        _VML_TABLE.append(table)
    return _VML_TABLE[0]


def enabled() -> bool:
    """False when ``CHAOSBENCH_NATIVE`` is ``0`` / ``false`` / ``no`` / ``off``."""
    return switched_on("CHAOSBENCH_NATIVE")


def native_kernel(f: Any, x: torch.Tensor) -> Any:
    """The compiled DOP853 loop for vector field ``f`` and states like ``x`` (B, D), or None.

    None (and the torch step runs) for a non-CPU or non-float64 state, when ``CHAOSBENCH_NATIVE=0``,
    when ``f`` cannot be translated (see :func:`trace_rhs`), or when no kernel can be built.
    """
    if not enabled() or x.device.type != "cpu" or x.dtype != torch.float64 or x.ndim != 2:
        return None
    try:
        body = trace_rhs(f, int(x.shape[-1]))
    except _Unsupported as exc:
        logger.debug("dop853: %s is not translated to C (%s); using the torch step", f, exc)
        return None
    return _build(c_source(body, int(x.shape[-1])))


def run(
    fn: Any,
    x: torch.Tensor,
    fx: torch.Tensor,
    times: torch.Tensor,
    rtol: float,
    atol: float,
    h: float,
    max_steps: int,
    max_per_output: int,
    check_every: int,
    bound: torch.Tensor,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Run the compiled loop on torch tensors: :func:`.fast_start.run_kernel` (``status, out, state, info``)."""
    as_np = lambda a: a.detach().cpu().numpy()  # noqa: E731
    return run_kernel(
        fn, as_np(x), as_np(fx), as_np(times), rtol, atol, h, max_steps, max_per_output, check_every,
        as_np(bound), _vml_table(),
    )  # fmt: skip


def integrate_native(
    f: Any,
    x: torch.Tensor,
    fx: torch.Tensor,
    times: torch.Tensor,
    rtol: float,
    atol: float,
    h: float,
    max_steps: int,
    bound: torch.Tensor,
    max_per_output: int,
) -> torch.Tensor | None:
    """``solvers._integrate_dop853`` by the compiled loop: ``(B, T, D)``, or None when ``f`` has no kernel.

    Raises ``solvers._Diverged`` with the torch step's messages (NaN/inf or a state beyond
    ``bound``, step collapse, step underflow).
    """
    from .solvers import _BOUND_CHECK_EVERY, _check_state, _collapsed, _Diverged, _underflow

    kernel = native_kernel(f, x)
    if kernel is None:
        return None
    status, out, state, info = run(
        kernel, x, fx, times, rtol, atol, h, max_steps, max_per_output, _BOUND_CHECK_EVERY, bound
    )
    t = float(info[0])
    if status == 1:
        _check_state(torch.from_numpy(state).to(x.dtype), t, bound.cpu())
        raise _Diverged(t, -1, "the state left the divergence bound")  # not reached: the check raises
    if status == 2:
        k = int(info[4])
        t_prev, t_out = float(times[k - 1]), float(times[k])
        raise _collapsed(
            t, int(info[2]), float(info[1]), bool(info[3]), max_steps, max_per_output, t_prev, t_out
        )
    if status == 3:
        raise _underflow(t, int(info[2]), float(info[1]))
    return torch.from_numpy(out).to(device=x.device)


def record_plan(
    system: Any, dim_arg: int | None, params: dict[str, Any], states: np.ndarray, times: tuple[float, ...] = (0.0,)
) -> pathlib.Path | None:
    """Record the plan :func:`.fast_start.generate_from_plan` replays for ``system`` without torch, after a
    successful run; return its path, or None when the system does not qualify.

    ``dim_arg`` and ``params`` are the command line's ``--dim`` and ``--param`` values (part of the plan's
    name). The system qualifies when it is a flow with a recommended ``dt`` (the first step) and a catalog
    std (the initial-condition spread), its right-hand side translates to C with no function of the C
    library whose rounding may differ from torch's (``pow``, or a VML routine that failed its probe), and
    the kernel's ``dop853_rhs`` equals the torch right-hand side bit for bit on ``states`` (any shape
    ``(..., D)``: the run's samples, at most 4096 of them) at each of ``times``.
    """
    import inspect

    from ..systems.base import Flow
    from .fast_start import load_plan, plan_path, rhs_values, torch_library, write_plan
    from .solvers import (
        _BOUND_CHECK_EVERY,
        DIVERGENCE_FACTOR,
        MAX_STEPS_PER_OUTPUT,
        catalog_attractor_size,
        integrate,
    )

    info, dim = system.info, int(system.dim)
    if not isinstance(system, Flow) or not enabled() or not info.dt or not info.dt > 0:
        return None
    if info.std is None or len(info.std) != dim:
        return None
    path = plan_path(system.name, dim_arg, params)
    if load_plan(path) is not None:
        return path
    try:
        body = trace_rhs(system, dim)
    except _Unsupported:
        return None
    table = _vml_table()
    used = [k for k in range(len(_VML)) if f"VF[{k}](W" in body]
    if "pow(" in body or any(not table[k] for k in used):
        return None
    x = np.ascontiguousarray(np.asarray(states, dtype=np.float64).reshape(-1, dim)[:4096])
    fn = native_kernel(system, torch.from_numpy(x))
    if fn is None or id(fn) not in _PATHS:
        return None
    library = _PATHS[id(fn)]
    _, rhs = bind_kernel(ctypes.CDLL(library))
    with torch.no_grad():
        for t in times:
            expected = system(torch.tensor(t, dtype=torch.float64), torch.from_numpy(x)).numpy()
            if not np.array_equal(rhs_values(rhs, t, x, table), expected):
                logger.info("dop853: %s: the C right-hand side differs from torch's; no fast-start plan", system.name)
                return None
    plan = {
        "format": 1,
        "system": system.name,
        "dim": dim,
        "default_ic": system.default_initial_condition(dtype=torch.float64, device="cpu").tolist(),
        "dt": float(info.dt),
        "period": info.period,
        "lyapunov_time": info.invariants.lyapunov_time,
        "std": [float(v) for v in info.std],
        "attractor_size": catalog_attractor_size(info, dim),
        "unbounded": [int(i) for i in getattr(info, "unbounded_indices", ()) if 0 <= i < dim],
        "divergence_factor": DIVERGENCE_FACTOR,
        "max_steps": inspect.signature(integrate).parameters["max_steps"].default,
        "max_steps_per_output": MAX_STEPS_PER_OUTPUT,
        "bound_check_every": _BOUND_CHECK_EVERY,
        "info_attrs": system.info.as_attrs(),
        "parameters": json.dumps(
            {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in system.params.items()}, sort_keys=True
        ),
        "library": library,
        "cpu": hashlib.sha256(cpu_identity().encode()).hexdigest(),
        "vml_library": torch_library() if any(table) else None,
        "vml_names": list(_VML),
        "vml_enabled": [name for k, name in enumerate(_VML) if table[k]],
    }
    try:
        json.dumps(plan)
    except (TypeError, ValueError):
        return None
    write_plan(path, plan)
    return path


def record_plan_after_run(system: Any, dim_arg: int | None, params: dict[str, Any], arrays: Any) -> None:
    """:func:`record_plan` from a finished run's :class:`~.fast_start.TrajectoryArrays`, checked at t = 0 and at its
    first sample's time. The plan only speeds up later runs: a failure to record it is logged, never raised."""
    try:
        record_plan(system, dim_arg, params, arrays.x, (0.0, float(arrays.attrs["time_offset"])))
    except Exception as exc:  # noqa: BLE001
        logger.info("generate: no fast-start plan recorded for %s (%s)", getattr(system, "name", system), exc)
