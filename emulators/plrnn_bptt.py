"""Forced rollout of the shPLRNN with an analytic backward pass (BPTT), for teacher-forced training.

The recurrence of generalized teacher forcing (Hess, Monfared, Brenner, Durstewitz, "Generalized
Teacher Forcing for Learning Chaotic Dynamics", ICML 2023; ``DurstewitzLab/GTF-shPLRNN``,
``src/tf_training/forcing.jl``) on a shPLRNN (:mod:`emulators.plrnn`), for ``t = 0..T-1``::

    z_{t+1} = F(z̃_t) = A ⊙ z̃_t + W1 φ(W2 z̃_t) + h1,     z̃_0 = z_0
    z̃_{t+1} = (1 - α_t) z_{t+1} + α_t ẑ_{t+1}   on the first K units (the others: z̃ = z)

with ``φ(p) = relu(p + h2)`` (shPLRNN) or ``relu(p + h2) - relu(p)`` (clipped shPLRNN). Run step by
step under autograd this costs ~15 small recorded ops per time step, and the backward pass as many
autograd nodes: at the sizes of the GTF paper (S = 16 sequences, M = 3..16, H = 100..512) that
bookkeeping, not the arithmetic, is the training time on a CPU.

:func:`forced_rollout` computes the same states without autograd inside the loop, as one
:class:`torch.autograd.Function` (shapes: ``S`` sequences, ``T`` steps, ``M`` latent, ``H`` hidden units):

* **Forward**, 3 kernels per step written with ``out=`` into preallocated time-major buffers. The step
  is two matmuls of augmented matrices: ``[p, z̃] = z̃ V`` with ``V = [W2ᵀ | I]`` (+ ``[h2, 0]``),
  ``c = clamp([p, z̃], lo, hi)``, ``z = c W + b`` with ``W = [W̃1ᵀ; diag A]``. For the clipped model
  ``relu(p + h) - relu(p) = sign(h) clamp(p, min(-h, 0), max(-h, 0)) + relu(h)``, so ``W̃1 = W1 diag(sign h2)``
  and ``b = h1 + W1 relu(h2)``; for the plain model ``c = relu(p + h2)``, ``W̃1 = W1``, ``b = h1``. The
  identity columns carry ``z̃`` through the first matmul and ``A ⊙ z̃`` through the second (bounds
  ``±inf``). The forcing is folded into the next step's first matmul:
  ``z̃_t V = α_t ẑ_t V + z_t (diag(D_t) V)``, ``D_t = 1 - α_t`` on forced units and 1 elsewhere, with
  ``α_t ẑ_t V`` for all ``t`` as one batched matmul before the loop. Saved: ``[p, z̃]`` and ``c``, ``(T, S, H+M)``.
* **Backward**, the adjoint ``λ̃_t = ∂L/∂z̃_t`` with the analytic Jacobian
  ``J(z̃)ᵀ μ = A ⊙ μ + W2ᵀ (d ⊙ W1ᵀ μ)`` (``d = 1[p + h2 > 0]``, minus ``1[p > 0]`` when clipped;
  ``|d| = 1[p > lo] xor 1[p > hi]`` from the saved ``p``, whole-buffer passes) and
  ``μ_t = ∂L/∂z_t = g_t + D_t ⊙ λ̃_{t+1}``, in one of two ways: for ``S·H·M² <=``
  :data:`JACOBIAN_BACKWARD_MAX` (the GTF paper's Lorenz-63 and ECG models) all ``J_t`` are built in one
  GEMM ``|d| K`` (``K_{h,(i,j)} = W̃1_ih W2_hj``) and the recursion ``λ̃_t = Jᵀ_t g_t + (Jᵀ_t diag D_t) λ̃_{t+1}``
  is 1 batched ``baddbmm`` per step; otherwise 3 kernels per step (``μ_t = g_t + Gm_{t+1} (Vᵀ diag D_t)``,
  ``Gm_t = μ_t Wᵀ``, ``Gm_t ⊙= [|d_t|, 1]``) and ``λ̃ = Gm Vᵀ`` at the end. Then one batched matmul or
  reduction per gradient over all ``T·S`` rows: ``∂W1 = Σ μ φᵀ``, ``∂W2 = Σ (d ⊙ W1ᵀμ) z̃ᵀ``,
  ``∂A = Σ μ ⊙ z̃``, ``∂h1 = Σ μ``, ``∂h2 = Σ 1[p + h2 > 0] ⊙ W1ᵀμ``; ``∂z_0 = λ̃_0``,
  ``∂ẑ_{t+1} = α_t λ̃_{t+1}`` (0 after the last step).

The masks follow autograd's ``relu`` (derivative 0 at 0, so e.g. a zero initial state gives the same
gradient), and the gradients equal the step-by-step (eager) ones up to floating-point rounding (tested
to 1e-6 relative in float64 against the eager path in ``tests/test_gtf_fast.py``). The buffers are
reused between calls of the same shape (see :class:`_Workspace`; :func:`clear_workspaces` frees them).
First-order gradients only (no double backward, no ``torch.func`` transforms); external inputs
``C s_t`` are not part of this recurrence. The floor of this torch version is the ~2-3 µs dispatch of
each of the 4 kernels per time step. So on a CPU, for float32/float64 and ``M <= 16``
(:data:`emulators._native_plrnn.MAX_LATENT`), :func:`forced_rollout` runs the recurrence and the adjoint
as one C loop each instead (:class:`_NativeForcedRollout`, :mod:`emulators._native_plrnn`: the same
formulas with the eager ``φ``, built once per machine with the system C compiler), keeping ``∂W1``,
``∂W2`` as two torch GEMMs; with ``CHAOSBENCH_NATIVE=0``, no C compiler, another device (CUDA) or
dtype, or a larger ``M``, the torch version above runs. Speed (``benchmarks/gtf_speed.py``, one CPU
thread): see ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch.autograd.graph import increment_version

from . import _native_plrnn as _native
from .errors import EmulatorInputError

__all__ = ["clear_workspaces", "forced_rollout"]


def _augmented(A, W1, W2, h1, h2, clipped: bool):
    """The augmented step matrices (see the module docstring), all in the parameters' dtype."""
    m, h = W1.shape
    eye = torch.eye(m, dtype=A.dtype, device=A.device)
    inf = torch.full((m,), float("inf"), dtype=A.dtype, device=A.device)
    V = torch.cat([W2.T, eye], dim=1)  # (M, H+M): z -> [W2 z, z]
    if clipped:
        sgn = torch.sign(h2)
        lo = torch.cat([torch.clamp(-h2, max=0.0), -inf])
        hi = torch.cat([torch.clamp(-h2, min=0.0), inf])
        W = torch.cat([(W1 * sgn).T, torch.diag(A)], dim=0)  # (H+M, M)
        b = h1 + W1 @ torch.relu(h2)
        pbias = None
    else:
        sgn = None
        lo = torch.cat([torch.zeros_like(h2), -inf])
        hi = torch.cat([torch.full_like(h2, float("inf")), inf])
        W = torch.cat([W1.T, torch.diag(A)], dim=0)
        b = h1
        pbias = torch.cat([h2, torch.zeros_like(h1)])
    return V, W, b, pbias, lo, hi, sgn


# ---------------------------------------------------------------------------- workspaces
class _Workspace:
    """Preallocated time-major buffers of one shape, reused across calls.

    Fresh multi-MiB tensors on every optimiser step cost page faults (the allocator returns large
    blocks to the OS): measured ~19 000 minor faults and ~60 % of the step in system time at the ECG
    size (S = 16, T = 200, H = 250). A workspace is taken in the forward and handed back at the end of
    the backward (or of a forward that records no graph; a graph dropped without a backward takes its
    workspace with it). ``P`` and ``C`` are saved with ``save_for_backward``, so a second backward
    (``retain_graph=True``) after the workspace was reused fails with autograd's in-place-modification
    error instead of reading another call's data. Size: ``(4(H+M) + 5M) S T`` numbers.
    """

    def __init__(
        self, key: tuple, t_len: int, s: int, h: int, m: int, dtype: torch.dtype, device: torch.device
    ):
        opts = {"dtype": dtype, "device": device}
        self.key = key
        self.in_pool = False
        self.P = torch.empty(t_len, s, h + m, **opts)  # [p_t, z̃_t]: pre-activation and input state of step t
        self.C = torch.empty(t_len, s, h + m, **opts)  # clamped: [c_t, z̃_t] (C loop: [φ_t, unused])
        self.Gm = torch.empty(t_len, s, h + m, **opts)  # [d ⊙ W1ᵀμ_t, A ⊙ μ_t] (C loop: [d ⊙ W1ᵀμ_t, unused])
        self.Mu = torch.empty(t_len, s, m, **opts)  # μ_t = total ∂L/∂z_{t+1}
        if key[-1]:  # the C loop (emulators._native_plrnn) needs no more
            return
        self.Z = torch.empty(t_len, s, m, **opts)  # z_{t+1} (copied out: the result is never a workspace)
        self.mask = torch.empty(t_len, s, h + m, **opts)  # [|d_t|, 1]: derivative of the clamp
        self.tmp = torch.empty(t_len, s, h + m, **opts)
        self.G = torch.empty(t_len, s, m, **opts)  # ∂L/∂z_{t+1}, time-major
        self.Lam = torch.zeros(t_len + 1, s, m, **opts)  # λ̃_t = ∂L/∂z̃_t; row T stays 0
        self.Q = torch.empty(t_len, s, h + m, **opts)  # forcing part of the next pre-activation
        self.D = torch.empty(t_len, m, **opts)  # 1 - α_t on forced units, 1 elsewhere
        self.aT = torch.empty(t_len, s, m, **opts)  # α_t ẑ_{t+1} on forced units, 0 elsewhere
        # per-step views, made once (200 `select`s per buffer cost as much as the step's arithmetic)
        self.Pl, self.Cl, self.Zl = self.P.unbind(0), self.C.unbind(0), self.Z.unbind(0)
        self.Gml, self.maskl, self.Gl = self.Gm.unbind(0), self.mask.unbind(0), self.G.unbind(0)
        self.Ml, self.Ql = self.Mu.unbind(0), self.Q.unbind(0)
        self.R = self.c = self.Rl = self.cl = self.laml = None  # Jacobian-variant buffers, on first use


_POOL: OrderedDict[tuple, list[_Workspace]] = OrderedDict()
_POOL_LOCK = threading.Lock()
_POOL_SHAPES = 4  # distinct shapes kept
_POOL_PER_SHAPE = 2  # free workspaces kept per shape


def _acquire(
    t_len: int, s: int, h: int, m: int, dtype: torch.dtype, device: torch.device, native: bool = False
) -> _Workspace:
    key = (t_len, s, h, m, dtype, device, native)
    with _POOL_LOCK:
        free = _POOL.get(key)
        if free:
            ws = free.pop()
            ws.in_pool = False
            return ws
    return _Workspace(key, t_len, s, h, m, dtype, device)


def _release(ws: _Workspace) -> None:
    with _POOL_LOCK:
        if ws.in_pool:
            return
        free = _POOL.setdefault(ws.key, [])
        _POOL.move_to_end(ws.key)
        if len(free) < _POOL_PER_SHAPE:
            free.append(ws)
            ws.in_pool = True
        while len(_POOL) > _POOL_SHAPES:
            _POOL.popitem(last=False)


def clear_workspaces() -> None:
    """Free the cached buffers of :func:`forced_rollout` (up to 2 workspaces for each of 4 shapes)."""
    with _POOL_LOCK:
        _POOL.clear()


#: the adjoint by explicit Jacobians (1 kernel per step, plus ``T·S·H·M²`` multiply-adds up front) when
#: ``S·H·M²`` is at most this; else 3 kernels per step (measured in ``benchmarks/gtf_speed.py``)
JACOBIAN_BACKWARD_MAX = 150_000


def _use_jacobian_backward(s: int, h: int, m: int) -> bool:
    return s * h * m * m <= JACOBIAN_BACKWARD_MAX


def _adjoint_by_steps(ctx, ws: _Workspace, WT, VT, t_len: int) -> None:
    """``μ_t = g_t + Gm_{t+1} (Vᵀ diag D_t)``, ``Gm_t = (μ_t Wᵀ) ⊙ mask_t``: 3 kernels per step; then ``λ̃ = Gm Vᵀ``."""
    VTDl, cache = [VT] * t_len, {}
    for t, a in enumerate(ctx.alphas):
        if a != 0.0:
            if a not in cache:
                cache[a] = VT * ws.D[t]
            VTDl[t] = cache[a]
    Ml, Gml, Gl, maskl = ws.Ml, ws.Gml, ws.Gl, ws.maskl
    with torch.inference_mode():
        Ml[t_len - 1].copy_(Gl[t_len - 1])
        for t in range(t_len - 1, -1, -1):
            if t < t_len - 1:
                torch.addmm(Gl[t], Gml[t + 1], VTDl[t], out=Ml[t])
            torch.mm(Ml[t], WT, out=Gml[t])
            Gml[t].mul_(maskl[t])
    torch.matmul(ws.Gm, VT, out=ws.Lam[:t_len])  # λ̃_t = ∂L/∂z̃_t = Gm_t Vᵀ, all t (row T stays 0)


def _adjoint_by_jacobians(ctx, ws: _Workspace, W1, sgn, t_len: int, s: int, h: int, m: int) -> None:
    """``λ̃_t = Jᵀ_t g_t + (Jᵀ_t diag D_t) λ̃_{t+1}``: 1 kernel per step after all Jacobians in one GEMM.

    ``J_t = diag(A) + W1 diag(d_t) W2`` for every ``(t, s)`` as ``|d| @ K``, ``K_{h,(i,j)} = sign(h2_h) W1_ih W2_hj``
    (clipped; without the sign for the plain model); then ``μ_t = g_t + D_t ⊙ λ̃_{t+1}`` for all ``t`` at once.
    """
    P = ws.P
    absd = ws.mask[..., :h]  # |d| (T, S, H)
    A = ctx.W[h:].diagonal()
    W1s = W1 if sgn is None else W1 * sgn
    K = (W1s.T.unsqueeze(2) * ctx.V[:, :h].T.unsqueeze(1)).reshape(h, m * m)  # (H, M²), W2 = V[:, :H]ᵀ
    JT = (absd.reshape(-1, h) @ K).view(t_len, s, m, m).transpose(-1, -2)  # Jᵀ (T, S, M, M), without diag A
    JT.diagonal(dim1=-2, dim2=-1).add_(A)
    forced = any(a != 0.0 for a in ctx.alphas)
    if ws.R is None:  # buffers and per-step views of this variant, made on first use
        ws.R = torch.empty(t_len, s, m, m, dtype=P.dtype, device=P.device)
        ws.c = torch.empty(t_len, s, m, 1, dtype=P.dtype, device=P.device)
        ws.Rl, ws.cl, ws.laml = ws.R.unbind(0), ws.c.unbind(0), ws.Lam.unsqueeze(-1).unbind(0)
    torch.matmul(JT, ws.G.unsqueeze(-1), out=ws.c)  # Jᵀ_t g_t
    if forced:
        torch.mul(JT, ws.D.view(t_len, 1, 1, m), out=ws.R)  # Jᵀ_t diag(D_t)
    else:
        ws.R.copy_(JT)
    Rl, cl, laml = ws.Rl, ws.cl, ws.laml
    with torch.inference_mode():
        laml[t_len - 1].copy_(cl[t_len - 1])
        for t in range(t_len - 2, -1, -1):
            torch.baddbmm(cl[t], Rl[t], laml[t + 1], out=laml[t])
    if forced:
        torch.addcmul(ws.G, ws.D.view(t_len, 1, m), ws.Lam[1:], out=ws.Mu)
    else:
        torch.add(ws.G, ws.Lam[1:], out=ws.Mu)


# ---------------------------------------------------------------------------- the function
class _ForcedRollout(torch.autograd.Function):
    """``(z0 (S,M), targets (S,T,K) | None, A, W1, W2, h1, h2) → Z (S,T,M)``; ``alphas``, ``clipped``, ``track`` static."""

    @staticmethod
    def forward(ctx, z0, targets, A, W1, W2, h1, h2, alphas, clipped, track):  # noqa: PLR0913
        s, m = z0.shape
        h = W2.shape[0]
        t_len = len(alphas)
        opts = {"dtype": z0.dtype, "device": z0.device}
        V, W, b, pbias, lo, hi, sgn = _augmented(A, W1, W2, h1, h2, clipped)
        forced = [a != 0.0 for a in alphas]
        al = None
        k = 0 if targets is None else targets.shape[-1]
        ws = _acquire(t_len, s, h, m, z0.dtype, z0.device)
        Pl, Cl, Zl, Ql = ws.Pl, ws.Cl, ws.Zl, ws.Ql
        # z̃_t = α_t ẑ_t + D_t ⊙ z_t (D = 1 - α_t on forced units, 1 elsewhere) is folded into the next
        # step's first matmul: [p, z̃] = Q_t + z_t (diag(D_t) V), with Q_t = α_t ẑ_t V (+ [h2, 0]) for all t at once
        DVl = [None] * t_len
        if targets is not None:
            al = torch.tensor(alphas, **opts)  # (T,)
        if any(forced):
            ws.D.fill_(1.0)
            ws.D[:, :k] = (1.0 - al).unsqueeze(1)
            ws.aT.zero_()
            torch.mul(al.view(t_len, 1, 1), targets.transpose(0, 1), out=ws.aT[:, :, :k])
            torch.matmul(ws.aT, V, out=ws.Q)
            if pbias is not None:
                ws.Q.add_(pbias)
            cache = {}
            for t, a in enumerate(alphas):
                if a != 0.0 and a not in cache:
                    cache[a] = ws.D[t].unsqueeze(1) * V
                DVl[t] = cache.get(a)
        with torch.inference_mode():  # only out= writes into existing buffers: skips the autograd dispatch
            if pbias is None:
                torch.mm(z0.contiguous(), V, out=Pl[0])
            else:
                torch.addmm(pbias, z0.contiguous(), V, out=Pl[0])
            for t in range(t_len):
                if t:
                    if forced[t - 1]:
                        torch.addmm(Ql[t - 1], Zl[t - 1], DVl[t - 1], out=Pl[t])
                    elif pbias is None:
                        torch.mm(Zl[t - 1], V, out=Pl[t])
                    else:
                        torch.addmm(pbias, Zl[t - 1], V, out=Pl[t])
                torch.clamp(Pl[t], lo, hi, out=Cl[t])
                torch.addmm(b, Cl[t], W, out=Zl[t])
        out = ws.Z.transpose(0, 1).clone(memory_format=torch.contiguous_format)
        if track:
            ctx.save_for_backward(ws.P, ws.C, W1, h2)
            ctx.ws, ctx.V, ctx.W, ctx.sgn, ctx.lo, ctx.hi, ctx.al = ws, V, W, sgn, lo, hi, al
        else:
            _release(ws)
        ctx.alphas, ctx.clipped, ctx.k = alphas, clipped, k
        ctx.has_targets = targets is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gZ):
        P, C, W1, h2 = ctx.saved_tensors  # raises if P or C were overwritten since the forward
        ws, V, W, sgn = ctx.ws, ctx.V, ctx.W, ctx.sgn
        t_len, s, hm = P.shape
        m = V.shape[0]
        h = hm - m
        clipped = ctx.clipped
        WT, VT = W.T.contiguous(), V.T.contiguous()
        if gZ is None:
            ws.G.zero_()
        else:
            ws.G.copy_(gZ.transpose(0, 1))
        # mask |d| = 1[p > lo] xor 1[p > hi] (clamp bounds of the forward; identity columns: 1), i.e.
        # 1[p + h2 > 0] - 1[p > 0] up to its sign (clipped) or 1[p + h2 > 0] (plain), derivative 0 at 0 as
        # autograd's relu; tmp keeps 1[p > hi]
        mask, tmp = ws.mask, ws.tmp
        torch.gt(P, ctx.lo, out=mask)
        if clipped:  # (plain: hi = +inf)
            torch.gt(P, ctx.hi, out=tmp)
            torch.ne(mask, tmp, out=mask)
        by_jacobians = _use_jacobian_backward(s, h, m)
        if by_jacobians:
            _adjoint_by_jacobians(ctx, ws, W1, sgn, t_len, s, h, m)
        else:
            _adjoint_by_steps(ctx, ws, WT, VT, t_len)
        need = ctx.needs_input_grad
        Mf, Pf, Cf, Gmf = ws.Mu.view(-1, m), P.view(-1, hm), C.view(-1, hm), ws.Gm.view(-1, hm)
        zt, absd = Pf[:, h:], ws.mask.view(-1, hm)[:, :h]  # z̃_t, |d_t|
        W1s = W1 if sgn is None else W1 * sgn  # W̃1
        dz0 = ws.Lam[0].clone() if need[0] else None
        dtargets = None
        if ctx.has_targets and need[1]:  # α_t λ̃_{t+1} on the forced units (0 after the last step)
            dtargets = (ws.Lam[1:, :, : ctx.k] * ctx.al.view(t_len, 1, 1)).transpose(0, 1)
        dA = (Mf * zt).sum(0) if need[2] else None
        dh1 = Mf.sum(0) if need[5] or (need[3] and clipped) else None
        dW1 = None
        if need[3]:  # Σ μ φᵀ, φ = sign(h2) c + relu(h2) (clipped) or c
            dW1 = Mf.T @ Cf[:, :h]
            if clipped:
                dW1 = torch.addr(dW1 * sgn, dh1, torch.relu(h2))
        dW2 = None
        if need[4]:  # Σ (d ⊙ W1ᵀμ) z̃ᵀ = Σ_r (|d_r| ⊙ W̃1ᵀμ_r) z̃_rᵀ
            if by_jacobians:  # = Σ_i W̃1_ih Y_hij, Y = |d|ᵀ (μ ⊗ z̃): no (T, S, H) product
                Y = (absd.T @ (Mf.unsqueeze(2) * zt.unsqueeze(1)).view(-1, m * m)).view(h, m, m)
                dW2 = (W1s.T.unsqueeze(2) * Y).sum(1)
            else:
                dW2 = Gmf[:, :h].T @ zt
        dh2 = None
        if need[6]:  # Σ d ⊙ W1ᵀμ (plain: 1[p + h2 > 0] = d)
            dh2 = (W1s * (Mf.T @ absd)).sum(0) if by_jacobians else Gmf[:, :h].sum(0)
            if clipped:  # Σ 1[p + h2 > 0] ⊙ W1ᵀμ, 1[p + h2 > 0] = 1[p > hi] + 1[h2 > 0] |d|
                dh2 = (W1 * (Mf.T @ tmp.view(-1, hm)[:, :h])).sum(0) + dh2 * (h2 > 0)
        _release(ws)
        return dz0, dtargets, dA, dW1, dW2, dh1 if need[5] else None, dh2, None, None, None


class _NativeForcedRollout(torch.autograd.Function):
    """As :class:`_ForcedRollout`, with the recurrence and the adjoint as C loops (:mod:`emulators._native_plrnn`)."""

    @staticmethod
    def forward(ctx, z0, targets, A, W1, W2, h1, h2, alphas, clipped, track):  # noqa: PLR0913
        s, m = z0.shape
        h, t_len = W2.shape[0], len(alphas)
        params = tuple(p.contiguous() for p in (A, W1, W2, h1, h2))
        if targets is not None and targets.stride(2) != 1:
            targets = targets.contiguous()
        alphas_c = (ctypes.c_double * t_len)(*alphas)
        ws = _acquire(t_len, s, h, m, z0.dtype, z0.device, native=True)
        out = torch.empty(s, t_len, m, dtype=z0.dtype, device=z0.device)
        _native.native_forward(z0.contiguous(), targets, alphas_c, params, clipped, ws.P, ws.C, out)
        increment_version((ws.P, ws.C))  # written through pointers: a stale retained graph must notice
        if track:
            ctx.save_for_backward(ws.P, ws.C, *params)
            ctx.ws, ctx.alphas_c = ws, alphas_c
        else:
            _release(ws)
        ctx.clipped, ctx.k = clipped, 0 if targets is None else targets.shape[2]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gZ):
        P, Phi, *params = ctx.saved_tensors  # raises if P or Phi were overwritten since the forward
        ws = ctx.ws
        t_len, s, hm = P.shape
        m = params[0].shape[0]
        h = hm - m
        opts = {"dtype": P.dtype, "device": P.device}
        gZ = torch.zeros(s, t_len, m, **opts) if gZ is None else gZ.contiguous()
        need = ctx.needs_input_grad
        dz0, dA, dh1, dh2 = (torch.empty(n, **opts) for n in ((s, m), m, m, h))
        dtg = torch.empty(s, t_len, ctx.k, **opts) if ctx.k and need[1] else None
        _native.native_backward(
            gZ, ctx.alphas_c, params, ctx.clipped, ctx.k, P, ws.Mu, ws.Gm, dz0, dtg, dA, dh1, dh2
        )
        Mf = ws.Mu.view(-1, m)
        dW1 = Mf.T @ Phi.view(-1, hm)[:, :h] if need[3] else None  # Σ μ φᵀ
        dW2 = ws.Gm.view(-1, hm)[:, :h].T @ P.view(-1, hm)[:, h:] if need[4] else None  # Σ (d ⊙ W1ᵀμ) z̃ᵀ
        _release(ws)
        grads = (dz0, dtg, dA, dW1, dW2, dh1, dh2)
        return (*(g if n else None for g, n in zip(grads, need[:7], strict=True)), None, None, None)


def forced_rollout(
    model: torch.nn.Module,
    z0: torch.Tensor,
    targets: torch.Tensor | None,
    alphas: float | Sequence[float],
    n_steps: int | None = None,
) -> torch.Tensor:
    """Teacher-forced shPLRNN states ``z_1..z_T`` (before forcing), ``(S, T, M)``, with the analytic BPTT.

    ``model``: a :class:`emulators.plrnn.ShPLRNN` (its ``A, W1, W2, h1, h2`` and ``config.clipped``;
    the input matrix ``C`` is not used). ``z0 (S, M)``: the initial latent state. ``targets (S, T, K)``,
    ``K <= M``: the forcing signals ``ẑ_1..ẑ_T`` of the first ``K`` latent units (``K = N`` for partial
    forcing, ``M`` for full forcing); ``None`` when every ``α_t`` is 0. ``alphas``: ``α_0..α_{T-1}``
    in ``[0, 1]``, one per step, or one float for all (then ``n_steps`` or ``targets`` gives T).
    Gradients flow to ``z0``, ``targets`` and the five parameters (see the module docstring for the
    formulas); the result equals the step-by-step recurrence run under autograd.
    """
    for name in ("A", "W1", "W2", "h1", "h2"):
        if not isinstance(getattr(model, name, None), torch.Tensor):
            raise EmulatorInputError(f"model: forced_rollout needs a shPLRNN with parameter {name}")
    m = model.A.shape[0]
    if not isinstance(z0, torch.Tensor) or z0.ndim != 2 or z0.shape[1] != m:
        raise EmulatorInputError(f"z0 must be a tensor of shape (S, {m}), got {getattr(z0, 'shape', z0)!r}")
    if isinstance(alphas, (int, float)):
        if n_steps is None:
            if targets is None:
                raise EmulatorInputError("n_steps: needed when alphas is one number and targets is None")
            n_steps = targets.shape[1]
        alphas = [float(alphas)] * n_steps
    alphas = tuple(float(a) for a in alphas)
    if not alphas:
        raise EmulatorInputError("alphas: at least one step is needed")
    if any(not 0.0 <= a <= 1.0 for a in alphas):
        raise EmulatorInputError(f"alphas must lie in [0, 1], got {min(alphas)!r}..{max(alphas)!r}")
    if targets is None:
        if any(a != 0.0 for a in alphas):
            raise EmulatorInputError("targets: forcing signals are needed when some alpha is not 0")
    elif (
        targets.ndim != 3 or targets.shape[:2] != (z0.shape[0], len(alphas)) or not 1 <= targets.shape[2] <= m
    ):
        raise EmulatorInputError(
            f"targets must have shape ({z0.shape[0]}, {len(alphas)}, K <= {m}), got {tuple(targets.shape)}"
        )
    dtypes = {p.dtype for p in (z0, model.A, model.W1, model.W2, model.h1, model.h2)}
    if targets is not None:
        dtypes.add(targets.dtype)
    if len(dtypes) != 1:
        raise EmulatorInputError(
            f"z0, targets and the parameters must share one dtype, got {sorted(map(str, dtypes))}"
        )
    params = (model.A, model.W1, model.W2, model.h1, model.h2)
    track = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (z0, targets, *params))
    tensors = (z0, *params) if targets is None else (z0, targets, *params)
    fn = _NativeForcedRollout if _native.usable(tensors, m) else _ForcedRollout
    return fn.apply(z0, targets, *params, alphas, bool(model.config.clipped), track)
