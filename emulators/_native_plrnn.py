"""The forced shPLRNN recurrence and its adjoint as one C loop each (CPU, float32 and float64), via ctypes.

Used by :func:`emulators.plrnn_bptt.forced_rollout` for small models, where the torch version of the
recurrence costs 4 kernel dispatches per time step (~2.5 µs each on a CPU) for a few thousand
multiply-adds. Shapes: ``S`` sequences, ``T`` steps, ``M`` latent and ``H`` hidden units, ``K <= M``
forced units, ``ld = H + M`` the row length of the time-major work buffers ``(T, S, ld)``.

``plrnn_fwd`` (per sequence ``s``, ``t = 0..T-1``; Hess et al., ICML 2023, eq. of the shPLRNN and of
generalized teacher forcing)::

    z̃_0 = z_0,   z̃_t = z_t with units i < K replaced by (1 - α_{t-1}) z_t,i + α_{t-1} ẑ_t,i  (α_{t-1} ≠ 0)
    p_t = W2 z̃_t,   φ_t = relu(p_t + h2) [- relu(p_t) when clipped],   z_{t+1} = A ⊙ z̃_t + W1 φ_t + h1

writes ``P[t, s] = [p_t, z̃_t]``, ``Φ[t, s, :H] = φ_t`` and ``out[s, t] = z_{t+1}`` (``(S, T, M)``).

``plrnn_bwd``, the adjoint ``λ̃_t = ∂L/∂z̃_t`` from ``t = T-1`` down to 0, with ``g_t = ∂L/∂z_{t+1}``
(``gZ (S, T, M)``) and ``D_t = 1 - α_t`` on forced units (1 elsewhere)::

    μ_t = g_t + D_t ⊙ λ̃_{t+1} (λ̃_T = 0),   u_t = W1ᵀ μ_t,   Gm_t = d_t ⊙ u_t,   λ̃_t = A ⊙ μ_t + W2ᵀ Gm_t

with ``d_t = 1[p_t + h2 > 0] (- 1[p_t > 0] when clipped)`` (derivative 0 at a kink, as autograd's
``relu``); writes ``Mu[t, s] = μ_t``, ``Gm[t, s, :H]``, ``∂z_0 = λ̃_0``, ``∂ẑ_{t+1} = α_t λ̃_{t+1}`` on the
forced units, and the sums over all ``(t, s)`` ``∂A = Σ μ ⊙ z̃``, ``∂h1 = Σ μ``, ``∂h2 = Σ 1[p + h2 > 0] ⊙ u``
(accumulated in double). The two parameter-gradient GEMMs ``∂W1 = Σ μ φᵀ`` and ``∂W2 = Σ Gm z̃ᵀ`` stay in
torch (few large BLAS calls). Inner loops run over ``H`` (``#pragma omp simd``, vectorised by the
compiler); the order of additions differs from torch's BLAS, so results agree to rounding.

Built with ``cc -O3 -march=native -fopenmp-simd`` once per machine into a cache directory
(``$CHAOSBENCH_CACHE_DIR/native``, else ``$XDG_CACHE_HOME/chaosbench_py/native`` or
``~/.cache/chaosbench_py/native``; a private temporary directory where that is not writable), one shared
library named by the SHA-256 of the source, the flags and the CPU's identity. ``CHAOSBENCH_NATIVE=0``
(or no C compiler, or a failed build) leaves :func:`library` returning None: the torch path runs.
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
import threading
from typing import Any

import torch

__all__ = ["enabled", "library", "native_backward", "native_forward", "usable"]

logger = logging.getLogger("emulators.plrnn_bptt")

_TEMPLATE = r"""
int plrnn_fwd_SUF(long T, long S, long H, long M, long K, int clipped,
                  const REAL *z0, const REAL *tg, long tg_s, long tg_t, const double *alpha,
                  const REAL *A, const REAL *W1, const REAL *W2, const REAL *h1, const REAL *h2,
                  REAL *P, REAL *Phi, REAL *out)
{
    const long ld = H + M;
    REAL *W2T = (REAL *)malloc(sizeof(REAL) * (size_t)(M * H));
    if (!W2T) return 1;
    for (long h = 0; h < H; h++)
        for (long j = 0; j < M; j++) W2T[j * H + h] = W2[h * M + j];
    for (long t = 0; t < T; t++) {
        for (long s = 0; s < S; s++) {  /* independent sequences back to back: their latencies overlap */
            REAL *p = P + (t * S + s) * ld, *zt = p + H, *f = Phi + (t * S + s) * ld;
            if (t == 0) {
                for (long j = 0; j < M; j++) zt[j] = z0[s * M + j];
            } else {
                const REAL *z = out + (s * T + t - 1) * M;
                const double a = alpha[t - 1];
                for (long j = 0; j < M; j++) zt[j] = z[j];
                if (a != 0.0) {
                    const REAL *g = tg + s * tg_s + (t - 1) * tg_t;
                    for (long j = 0; j < K; j++) zt[j] = (REAL)(1.0 - a) * z[j] + (REAL)a * g[j];
                }
            }
            for (long h = 0; h < H; h++) p[h] = W2T[h] * zt[0];
            for (long j = 1; j < M; j++) {
                const REAL *w = W2T + j * H;
                const REAL zj = zt[j];
#pragma omp simd
                for (long h = 0; h < H; h++) p[h] += w[h] * zj;
            }
#pragma omp simd
            for (long h = 0; h < H; h++) {
                const REAL q = p[h] + h2[h];
                REAL v = q < 0 ? (REAL)0 : q; /* relu, NaN passed on as torch's */
                if (clipped) v -= p[h] < 0 ? (REAL)0 : p[h];
                f[h] = v;
            }
            REAL *zn = out + (s * T + t) * M;
            for (long i = 0; i < M; i++) {
                const REAL *w = W1 + i * H;
                REAL acc = 0;
#pragma omp simd reduction(+ : acc)
                for (long h = 0; h < H; h++) acc += w[h] * f[h];
                zn[i] = A[i] * zt[i] + acc + h1[i];
            }
        }
    }
    free(W2T);
    return 0;
}

int plrnn_bwd_SUF(long T, long S, long H, long M, long K, int clipped,
                  const REAL *gZ, const double *alpha,
                  const REAL *A, const REAL *W1, const REAL *W2, const REAL *h2, const REAL *P,
                  REAL *Mu, REAL *Gm, REAL *dz0, REAL *dtg, REAL *dA, REAL *dh1, REAL *dh2)
{
    const long ld = H + M;
    REAL *W2T = (REAL *)malloc(sizeof(REAL) * (size_t)(M * H));
    REAL *u = (REAL *)malloc(sizeof(REAL) * (size_t)H);
    REAL *lam_all = (REAL *)calloc((size_t)((S + 1) * M), sizeof(REAL));
    double *acc = (double *)calloc((size_t)(H + 2 * M), sizeof(double));
    if (!W2T || !u || !lam_all || !acc) { free(W2T); free(u); free(lam_all); free(acc); return 1; }
    REAL *mu = lam_all + S * M;
    double *aA = acc, *a1 = acc + M, *a2 = acc + 2 * M;
    for (long h = 0; h < H; h++)
        for (long j = 0; j < M; j++) W2T[j * H + h] = W2[h * M + j];
    for (long t = T - 1; t >= 0; t--) {
        for (long s = 0; s < S; s++) {  /* independent sequences back to back: their latencies overlap */
            REAL *lam = lam_all + s * M;
            const REAL *p = P + (t * S + s) * ld, *zt = p + H;
            const double a = alpha[t];
            const REAL *g = gZ + (s * T + t) * M;
            for (long i = 0; i < M; i++) mu[i] = g[i] + lam[i];
            if (a != 0.0) {
                for (long i = 0; i < K; i++) mu[i] = g[i] + (REAL)(1.0 - a) * lam[i];
            }
            if (dtg) {
                REAL *dg = dtg + (s * T + t) * K;
                for (long i = 0; i < K; i++) dg[i] = (REAL)a * lam[i];
            }
            REAL *m_out = Mu + (t * S + s) * M;
            for (long i = 0; i < M; i++) {
                m_out[i] = mu[i];
                aA[i] += (double)mu[i] * (double)zt[i];
                a1[i] += (double)mu[i];
            }
            for (long h = 0; h < H; h++) u[h] = W1[h] * mu[0];
            for (long i = 1; i < M; i++) {
                const REAL *w = W1 + i * H;
                const REAL mi = mu[i];
#pragma omp simd
                for (long h = 0; h < H; h++) u[h] += w[h] * mi;
            }
            REAL *gm = Gm + (t * S + s) * ld;
#pragma omp simd
            for (long h = 0; h < H; h++) {
                const REAL on = (p[h] + h2[h]) > 0 ? (REAL)1 : (REAL)0;
                REAL d = on;
                if (clipped) d -= p[h] > 0 ? (REAL)1 : (REAL)0;
                gm[h] = d * u[h];
                a2[h] += (double)(on * u[h]);
            }
            for (long j = 0; j < M; j++) {
                const REAL *w = W2T + j * H;
                REAL r = 0;
#pragma omp simd reduction(+ : r)
                for (long h = 0; h < H; h++) r += w[h] * gm[h];
                lam[j] = A[j] * mu[j] + r;
            }
        }
    }
    for (long j = 0; j < S * M; j++) dz0[j] = lam_all[j];
    for (long i = 0; i < M; i++) { dA[i] = (REAL)aA[i]; dh1[i] = (REAL)a1[i]; }
    for (long h = 0; h < H; h++) dh2[h] = (REAL)a2[h];
    free(W2T); free(u); free(lam_all); free(acc);
    return 0;
}
"""

SOURCE = "#include <stdlib.h>\n" + "".join(
    _TEMPLATE.replace("REAL", real).replace("SUF", suf) for real, suf in (("double", "f64"), ("float", "f32"))
)
_FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-fast-math", "-std=c99", "-shared", "-fPIC")
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}  # "lib": the loaded library, or None after a failed build


def enabled() -> bool:
    """False when ``CHAOSBENCH_NATIVE`` is ``0`` / ``false`` / ``no`` / ``off`` (as for the DOP853 kernel)."""
    return os.environ.get("CHAOSBENCH_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _cache_dir() -> pathlib.Path:
    root = os.environ.get("CHAOSBENCH_CACHE_DIR")
    if root:
        return pathlib.Path(root) / "native"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache") / "chaosbench_py" / "native"


def _cpu_identity() -> str:
    """Machine and instruction-set flags: a ``-march=native`` build is reused only on a CPU like this one."""
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


def _compile(compiler: str, folder: pathlib.Path, dest: pathlib.Path) -> None:
    """Build :data:`SOURCE` into ``dest`` through per-process temporary names and an atomic rename."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / f"{dest.stem}.{os.getpid()}.c"
    tmp = folder / f"{dest.stem}.{os.getpid()}.so"
    try:
        src.write_text(SOURCE)
        subprocess.run(
            [compiler, *_FLAGS, "-o", str(tmp), str(src)], check=True, capture_output=True, timeout=120
        )
        os.replace(tmp, dest)
    finally:
        for leftover in (src, tmp):
            if leftover.exists():
                leftover.unlink()


def _library_name() -> str:
    """File name of the built library: SHA-256 of the source, the flags and the CPU."""
    return f"plrnn_{hashlib.sha256((SOURCE + repr(_FLAGS) + _cpu_identity()).encode()).hexdigest()[:24]}.so"


def _load() -> Any:
    name = _library_name()
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    private = pathlib.Path(tempfile.gettempdir()) / f"chaosbench_native_{uid}"
    for folder in (_cache_dir(), private):
        path = folder / name
        try:
            if not path.exists():
                if compiler is None:
                    continue
                _compile(compiler, folder, path)
            lib = ctypes.CDLL(str(path))
            p, lg, i = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
            for suf in ("f64", "f32"):
                fwd, bwd = getattr(lib, f"plrnn_fwd_{suf}"), getattr(lib, f"plrnn_bwd_{suf}")
                fwd.argtypes = [lg, lg, lg, lg, lg, i, p, p, lg, lg, p, p, p, p, p, p, p, p, p]
                bwd.argtypes = [lg, lg, lg, lg, lg, i, p, p, p, p, p, p, p, p, p, p, p, p, p, p]
                fwd.restype = bwd.restype = i
            return lib
        except (OSError, AttributeError, subprocess.SubprocessError) as exc:  # AttributeError: a foreign file
            err = getattr(exc, "stderr", b"") or b""
            logger.info("plrnn: native kernel in %s not usable (%s %s)", folder, exc, err[:500])
    logger.info("plrnn: no native kernel (no C compiler or no usable cache); the torch recurrence runs")
    return None


def library() -> Any:
    """The loaded C library (built on first use), or None when disabled or not buildable."""
    if not enabled():
        return None
    with _LOCK:
        if "lib" not in _STATE:
            _STATE["lib"] = _load()
        return _STATE["lib"]


#: largest latent dimension ``M`` the C loop takes. Measured (``benchmarks/gtf_speed.py --scan``: one thread,
#: forward + backward of one call, float32/float64): 2.4-3.7× faster than the torch path at M = 3-5
#: (H = 100-250), 1.3-1.8× at M = 4-10 (H = 512-2048), about even (0.9-1.05×) at M = 16-32 (H = 512-1024),
#: where the torch path's BLAS calls are the better GEMVs
MAX_LATENT = 16


def usable(tensors: tuple[torch.Tensor, ...], m: int) -> bool:
    """Whether the C loop covers this call: every tensor a dense CPU float32/float64 one (all of one dtype),
    ``M <=`` :data:`MAX_LATENT`, and the kernel built."""
    if m > MAX_LATENT or {t.dtype for t in tensors} not in ({torch.float32}, {torch.float64}):
        return False
    if any(t.device.type != "cpu" or t.layout != torch.strided for t in tensors):
        return False
    return library() is not None


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def native_forward(z0, targets, alphas_c, params, clipped: bool, P, Phi, out) -> None:
    """``plrnn_fwd`` into ``P, Phi (T, S, H+M)`` and ``out (S, T, M)``; ``params = (A, W1, W2, h1, h2)`` contiguous."""
    lib = library()
    t_len, s, ld = P.shape
    m = z0.shape[1]
    h = ld - m
    fn = lib.plrnn_fwd_f64 if z0.dtype == torch.float64 else lib.plrnn_fwd_f32
    k = 0 if targets is None else targets.shape[2]
    ts, tt = (0, 0) if targets is None else (targets.stride(0), targets.stride(1))
    A, W1, W2, h1, h2 = params
    rc = fn(t_len, s, h, m, k, int(clipped), z0.data_ptr(), _ptr(targets), ts, tt, alphas_c,
            A.data_ptr(), W1.data_ptr(), W2.data_ptr(), h1.data_ptr(), h2.data_ptr(),
            P.data_ptr(), Phi.data_ptr(), out.data_ptr())  # fmt: skip
    if rc:
        raise MemoryError("plrnn_fwd: out of memory")


def native_backward(gZ, alphas_c, params, clipped: bool, k: int, P, Mu, Gm, dz0, dtg, dA, dh1, dh2) -> None:
    """``plrnn_bwd``: fills ``Mu (T, S, M)``, ``Gm (T, S, H+M)`` and the gradients (``dtg`` may be None)."""
    lib = library()
    t_len, s, ld = P.shape
    m = Mu.shape[2]
    h = ld - m
    fn = lib.plrnn_bwd_f64 if P.dtype == torch.float64 else lib.plrnn_bwd_f32
    A, W1, W2, _, h2 = params
    rc = fn(t_len, s, h, m, k, int(clipped), gZ.data_ptr(), alphas_c, A.data_ptr(), W1.data_ptr(),
            W2.data_ptr(), h2.data_ptr(), P.data_ptr(), Mu.data_ptr(), Gm.data_ptr(), dz0.data_ptr(),
            _ptr(dtg), dA.data_ptr(), dh1.data_ptr(), dh2.data_ptr())  # fmt: skip
    if rc:
        raise MemoryError("plrnn_bwd: out of memory")
