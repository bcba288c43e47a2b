"""Selective state-space layer (Mamba-2 / SSD) in pure PyTorch, with an optional ``mamba_ssm`` fast path.

Variant: **Mamba-2 with the chunked SSD scan** (Dao & Gu 2024, "Transformers are SSMs", Listing 1 /
Sec. 6). Per head ``h`` (``P = headdim`` channels, ``N = d_state`` state size) the recurrence is

    H_t = exp(dt_t A_h) H_{t-1} + dt_t x_t B_t^T          H_t: (P, N)
    y_t = H_t C_t + D_h x_t

with ``dt_t = softplus(dt_raw_t + dt_bias_h) > 0``, ``A_h = -exp(A_log_h) < 0`` and ``B_t, C_t`` of size
``N`` shared by the heads of a group. Three evaluations of the same recurrence exist here:

* :func:`ssd_chunked_scan` — training path. The sequence is cut into chunks of ``Q`` steps; inside a
  chunk the outputs are a masked (decay-weighted) matrix product, between chunks the ``(P, N)``
  states are carried by a short sequential loop over chunks. Memory is ``O(L Q + L/Q · P N)`` per head,
  linear in the sequence length ``L``.
* :func:`ssd_step` — one recurrent step for generation with a cached state.
* :func:`reference_scan` — the plain sequential loop over ``t`` (slow; the test oracle).

:class:`Mamba2` is the full mixer block (in-projection, short causal depthwise convolution, SiLU,
selective SSM, gated RMSNorm, out-projection). Its parameter names and shapes follow
``mamba_ssm.modules.mamba2.Mamba2`` (``in_proj``, ``conv1d``, ``dt_bias``, ``A_log``, ``D``,
``norm.weight``, ``out_proj``; ``in_proj`` output ordered ``[z, x, B, C, dt]``), so a state dict
moves between the two. When ``mamba_ssm`` is importable **and** the input is on CUDA, the scan runs
through its Triton kernel ``mamba_chunk_scan_combined`` with the same weights; otherwise the pure-torch
scan runs. The choice is logged once per backend (INFO), and a CUDA tensor on the pure-torch path
logs a WARNING — never a silent slow fallback.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import EmulatorInputError
from .validation import check_real

logger = logging.getLogger(__name__)

__all__ = [
    "Mamba2",
    "MambaConfig",
    "RMSNorm",
    "announce_backend",
    "GatedRMSNorm",
    "reference_scan",
    "ssd_chunked_scan",
    "ssd_step",
    "ssm_backend",
]

_LOGGED: set[str] = set()


def _log_once(key: str, level: int, msg: str, *args) -> None:
    if key not in _LOGGED:
        _LOGGED.add(key)
        logger.log(level, msg, *args)


def _mamba_ssm_scan():
    """The ``mamba_ssm`` Triton chunk-scan function, or ``None`` when not importable."""
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined  # type: ignore
    except Exception:  # noqa: BLE001 - any import failure (missing, no triton, no CUDA) means unavailable
        return None
    return mamba_chunk_scan_combined


def ssm_backend(device: torch.device | str, prefer: str = "auto") -> str:
    """Name of the scan backend used for tensors on ``device``: ``"mamba_ssm"`` or ``"torch"``.

    ``prefer``: ``"auto"`` (mamba_ssm when importable and ``device`` is CUDA), ``"torch"`` (always the
    pure-torch scan) or ``"mamba_ssm"`` (required; raises when unavailable).
    """
    if prefer not in ("auto", "torch", "mamba_ssm"):
        raise EmulatorInputError(f"prefer: must be 'auto', 'torch' or 'mamba_ssm', got {prefer!r}")
    dev = torch.device(device)
    if prefer == "torch":
        return "torch"
    fast = dev.type == "cuda" and _mamba_ssm_scan() is not None
    if prefer == "mamba_ssm" and not fast:
        raise RuntimeError(
            f"backend 'mamba_ssm' requested but unavailable for device {dev} "
            "(needs the mamba_ssm package and CUDA tensors)"
        )
    return "mamba_ssm" if fast else "torch"


def announce_backend(backend: str, device: torch.device | str, requested: str = "auto") -> None:
    """Log the scan backend once per kind: INFO for the expected choice, WARNING for CUDA tensors on
    the pure-torch path (``mamba_ssm`` not importable or not requested)."""
    dev = torch.device(device)
    if backend == "mamba_ssm":
        _log_once("mamba_ssm", logging.INFO, "Mamba2 scan backend: mamba_ssm Triton kernel (%s)", dev)
    elif dev.type == "cuda":
        why = "not requested" if requested == "torch" else "not importable"
        _log_once(
            "torch-cuda",
            logging.WARNING,
            "Mamba2 scan backend: pure-torch SSD on CUDA tensors (mamba_ssm %s) -- slower than the Triton kernel",
            why,
        )
    else:
        _log_once("torch", logging.INFO, "Mamba2 scan backend: pure-torch chunked SSD (%s)", dev)


# --------------------------------------------------------------------------------------------------
# Scans
# --------------------------------------------------------------------------------------------------


def _check_scan_args(x, dt, A, B, C):
    if x.ndim != 4:
        raise EmulatorInputError(f"x: expected (batch, length, heads, headdim), got shape {tuple(x.shape)}")
    b, L, h, _ = x.shape
    if dt.shape != (b, L, h):
        raise EmulatorInputError(f"dt: expected shape {(b, L, h)}, got {tuple(dt.shape)}")
    if A.shape != (h,):
        raise EmulatorInputError(f"A: expected shape ({h},), got {tuple(A.shape)}")
    if B.ndim != 4 or B.shape[:2] != (b, L) or C.shape != B.shape:
        raise EmulatorInputError(
            f"B, C: expected equal shapes (batch, length, groups, d_state), got {tuple(B.shape)}, {tuple(C.shape)}"
        )
    g = B.shape[2]
    if h % g != 0:
        raise EmulatorInputError(f"B/C: number of groups {g} must divide the number of heads {h}")
    return h // g


def _expand_groups(t: torch.Tensor, rep: int) -> torch.Tensor:
    return t if rep == 1 else t.repeat_interleave(rep, dim=-2)


def reference_scan(x, dt, A, B, C, D=None, initial_state=None):
    """Plain sequential SSD recurrence (the oracle for the faster scans).

    Shapes: ``x (b, L, h, p)``, ``dt (b, L, h)`` (already positive), ``A (h,)`` (negative),
    ``B, C (b, L, g, n)`` with ``g`` dividing ``h``, ``D (h,)`` or ``None``, ``initial_state
    (b, h, p, n)`` or ``None`` (zeros). Returns ``(y (b, L, h, p), final_state (b, h, p, n))``.
    """
    rep = _check_scan_args(x, dt, A, B, C)
    Bh, Ch = _expand_groups(B, rep), _expand_groups(C, rep)
    b, L, h, p = x.shape
    state = x.new_zeros(b, h, p, B.shape[-1]) if initial_state is None else initial_state
    ys = []
    for t in range(L):
        y, state = ssd_step(x[:, t], dt[:, t], A, Bh[:, t], Ch[:, t], state, D=D)
        ys.append(y)
    return torch.stack(ys, dim=1), state


def ssd_step(x, dt, A, B, C, state, D=None):
    """One recurrent step: ``H <- exp(dt A) H + dt x B^T``, ``y = H C + D x``.

    Shapes: ``x (b, h, p)``, ``dt (b, h)``, ``A (h,)``, ``B, C (b, h, n)`` or ``(b, g, n)`` (groups are
    repeated over heads), ``state (b, h, p, n)``. Returns ``(y (b, h, p), new_state)``.
    """
    h = x.shape[1]
    if B.shape[1] != h:
        B = B.repeat_interleave(h // B.shape[1], dim=1)
        C = C.repeat_interleave(h // C.shape[1], dim=1)
    decay = torch.exp(dt * A)  # (b, h)
    state = state * decay[..., None, None] + (dt[..., None] * x)[..., None] * B[:, :, None, :]
    y = torch.einsum("bhpn,bhn->bhp", state, C)
    if D is not None:
        y = y + D[:, None] * x
    return y, state


def ssd_chunked_scan(x, dt, A, B, C, D=None, chunk_size: int = 64, initial_state=None):
    """Chunked SSD scan (Mamba-2 training path); same inputs/outputs as :func:`reference_scan`.

    With the log-decays ``a_t = dt_t A`` and their within-chunk cumulative sums ``s_i``:

    * intra-chunk: ``y_i = sum_{j<=i} (C_i . B_j) exp(s_i - s_j) dt_j x_j``;
    * chunk state: ``S_c = sum_j exp(s_last - s_j) dt_j x_j B_j^T``;
    * carried state ``H_c = exp(s_last) H_{c-1} + S_c`` (sequential over chunks);
    * inter-chunk output ``y_i += exp(s_i) H_{c-1} C_i``.

    Lengths that are not a multiple of ``chunk_size`` are padded with ``dt = 0`` steps (identity
    decay, no input), which leaves the state unchanged; the padded outputs are dropped.

    Layout: heads are grouped as ``(g, h/g)`` so ``B``/``C`` are never repeated over heads; every
    contraction is one batched matrix product (``C B^T`` once per group, then ``(Q x Q) @ (Q x p)``,
    ``(r p x Q) @ (Q x n)`` and ``(r p x n) @ (n x Q)``); the inter-chunk term is skipped when no state
    enters (one chunk, no ``initial_state``).
    """
    if chunk_size < 1:
        raise EmulatorInputError(f"chunk_size: must be >= 1, got {chunk_size}")
    rep = _check_scan_args(x, dt, A, B, C)
    b, L, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    q = min(chunk_size, L) if L > 0 else 1
    pad = (-L) % q
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    nc = (L + pad) // q
    # (b, c, g, r, q[, p]) with r = heads per group; B, C as (b, c, g, q, n)
    xc = x.reshape(b, nc, q, g, rep, p).permute(0, 1, 3, 4, 2, 5)
    dtc = dt.reshape(b, nc, q, g, rep).permute(0, 1, 3, 4, 2)
    Bc = B.reshape(b, nc, q, g, n).transpose(2, 3)
    Cc = C.reshape(b, nc, q, g, n).transpose(2, 3)
    s = torch.cumsum(dtc * A.reshape(g, rep, 1), dim=-1)  # (b, c, g, r, q) cumulative log-decay, <= 0
    xdt = xc * dtc[..., None]  # (b, c, g, r, q, p)
    # intra-chunk: (C_i . B_j) exp(s_i - s_j) for j <= i
    mask = torch.ones(q, q, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp((s[..., :, None] - s[..., None, :]).masked_fill(~mask, float("-inf")))
    cb = torch.matmul(Cc, Bc.transpose(-1, -2))  # (b, c, g, q_i, q_j)
    y = torch.matmul(cb[:, :, :, None] * decay, xdt)  # (b, c, g, r, q, p)
    # chunk end states from the chunk's own inputs: (b, c, g, r*p, n)
    to_end = torch.exp(s[..., -1:] - s)  # (b, c, g, r, q)
    xe = (xdt * to_end[..., None]).transpose(-1, -2).reshape(b, nc, g, rep * p, q)
    chunk_states = torch.matmul(xe, Bc)
    total = torch.exp(s[..., -1])  # (b, c, g, r) decay over a whole chunk
    if initial_state is None:
        state = x.new_zeros(b, g, rep * p, n)
    else:
        state = initial_state.reshape(b, g, rep * p, n)
    if nc == 1 and initial_state is None:
        state = chunk_states[:, 0]
    else:
        tot = total.repeat_interleave(p, dim=-1)[..., None]  # (b, c, g, r*p, 1)
        prev_states = []
        for c in range(nc):
            prev_states.append(state)
            state = state * tot[:, c] + chunk_states[:, c]
        prev = torch.stack(prev_states, dim=1)  # (b, c, g, r*p, n): state entering each chunk
        inter = torch.matmul(prev, Cc.transpose(-1, -2)).reshape(b, nc, g, rep, p, q)
        y = y + (inter * torch.exp(s)[..., None, :]).transpose(-1, -2)
    y = y.permute(0, 1, 4, 2, 3, 5).reshape(b, nc * q, h, p)[:, :L]
    if D is not None:
        y = y + D[:, None] * x[:, :L]
    return y, state.reshape(b, h, p, n)


# --------------------------------------------------------------------------------------------------
# Block
# --------------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """``y = x / sqrt(mean(x^2) + eps) * weight`` over the last dim (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return out.to(x.dtype) * self.weight


class GatedRMSNorm(RMSNorm):
    """Mamba-2 gated norm (``norm_before_gate=False``): ``RMSNorm(x * SiLU(z))`` per group of channels."""

    def __init__(self, dim: int, eps: float = 1e-5, group_size: int | None = None):
        super().__init__(dim, eps)
        self.group_size = group_size or dim

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = x * F.silu(z)
        shape = x.shape
        xg = x.reshape(*shape[:-1], shape[-1] // self.group_size, self.group_size)
        xf = xg.float() if x.dtype in (torch.float16, torch.bfloat16) else xg
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return out.reshape(shape).to(x.dtype) * self.weight


@dataclass
class MambaConfig:
    """Hyper-parameters of one :class:`Mamba2` mixer (names as in ``mamba_ssm.Mamba2``).

    ``d_inner = expand * d_model``, ``nheads = d_inner / headdim``. PhyxMamba uses
    ``d_model=256, d_state=1024, expand=2, headdim=64, d_conv=4``.
    ``backend``: ``"auto"``, ``"torch"`` or ``"mamba_ssm"`` (see :func:`ssm_backend`).
    """

    d_model: int = 64
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    headdim: int = 16
    ngroups: int = 1
    chunk_size: int = 64
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    A_init_range: tuple = (1.0, 16.0)
    norm_eps: float = 1e-5
    backend: str = "auto"

    def __post_init__(self):
        for name in ("d_model", "d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise EmulatorInputError(f"MambaConfig.{name}: must be a positive int, got {v!r}")
        if self.d_inner % self.headdim:
            raise EmulatorInputError(
                f"MambaConfig.headdim={self.headdim} must divide d_inner = expand*d_model = {self.d_inner}"
            )
        if self.nheads % self.ngroups:
            raise EmulatorInputError(f"MambaConfig.ngroups={self.ngroups} must divide nheads={self.nheads}")
        if self.backend not in ("auto", "torch", "mamba_ssm"):
            raise EmulatorInputError(
                f"MambaConfig.backend: must be 'auto', 'torch' or 'mamba_ssm', got {self.backend!r}"
            )
        own = "MambaConfig"
        self.dt_min = check_real(own, "dt_min", self.dt_min, above=0)
        self.dt_max = check_real(own, "dt_max", self.dt_max, above=self.dt_min)
        self.dt_init_floor = check_real(own, "dt_init_floor", self.dt_init_floor, above=0)
        self.norm_eps = check_real(own, "norm_eps", self.norm_eps, above=0)
        if not isinstance(self.A_init_range, (tuple, list)) or len(self.A_init_range) != 2:
            raise EmulatorInputError(
                f"{own}.A_init_range must be two numbers (low, high), got {self.A_init_range!r}"
            )
        lo = check_real(own, "A_init_range[0]", self.A_init_range[0], above=0)
        hi = check_real(own, "A_init_range[1]", self.A_init_range[1], at_least=lo)
        self.A_init_range = (lo, hi)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim


class Mamba2(nn.Module):
    """Mamba-2 mixer: ``(batch, length, d_model) -> (batch, length, d_model)``.

    ``[z, x, B, C, dt] = in_proj(u)``; ``xBC = SiLU(causal depthwise conv(xBC))``;
    ``y = SSD(x, softplus(dt + dt_bias), -exp(A_log), B, C, D)``; ``out = out_proj(RMSNorm(y * SiLU(z)))``.
    Parameter layout equals ``mamba_ssm.Mamba2`` (defaults ``rmsnorm=True, D_has_hdim=False,
    bias=False, conv_bias=True``). Cache for :meth:`step`: ``(conv_state (b, conv_dim, d_conv),
    ssm_state (b, nheads, headdim, d_state))`` as in ``mamba_ssm``.
    """

    def __init__(self, config: MambaConfig | None = None, **kwargs):
        super().__init__()
        config = config if config is not None else MambaConfig(**kwargs)
        self.config = config
        c = config
        self.d_inner, self.nheads = c.d_inner, c.nheads
        self.conv_dim = c.d_inner + 2 * c.ngroups * c.d_state
        d_in_proj = 2 * c.d_inner + 2 * c.ngroups * c.d_state + c.nheads
        self.in_proj = nn.Linear(c.d_model, d_in_proj, bias=False)
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, kernel_size=c.d_conv, groups=self.conv_dim, padding=c.d_conv - 1
        )
        dt = torch.exp(torch.rand(c.nheads) * (math.log(c.dt_max) - math.log(c.dt_min)) + math.log(c.dt_min))
        dt = dt.clamp(min=c.dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        lo, hi = c.A_init_range
        self.A_log = nn.Parameter(torch.log(torch.empty(c.nheads).uniform_(lo, hi)))
        self.D = nn.Parameter(torch.ones(c.nheads))
        self.norm = GatedRMSNorm(c.d_inner, eps=c.norm_eps, group_size=c.d_inner // c.ngroups)
        self.out_proj = nn.Linear(c.d_inner, c.d_model, bias=False)

    # -- helpers ---------------------------------------------------------------------------------
    def _split(self, zxbcdt: torch.Tensor):
        c = self.config
        gn = c.ngroups * c.d_state
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.d_inner + 2 * gn, self.nheads], dim=-1)
        return z, xBC, dt

    def _ssm_inputs(self, xBC: torch.Tensor):
        c = self.config
        gn = c.ngroups * c.d_state
        x, B, C = torch.split(xBC, [self.d_inner, gn, gn], dim=-1)
        return x, B, C

    def _check_input(self, u: torch.Tensor) -> None:
        if not isinstance(u, torch.Tensor):
            raise EmulatorInputError(
                f"u: expected a torch.Tensor (batch, length, {self.config.d_model}), got {type(u).__name__}"
            )
        if u.ndim != 3 or u.shape[-1] != self.config.d_model:
            raise EmulatorInputError(
                f"u: expected (batch, length, {self.config.d_model}), got shape {tuple(u.shape)}"
            )

    def _causal_conv(self, xBC: torch.Tensor) -> torch.Tensor:
        """The causal depthwise ``conv1d`` on ``(b, L, conv_dim)`` without transposes:
        ``out_t = bias + sum_j w_j x_{t-(k-1)+j}`` (zeros before the start), as ``d_conv`` shifted
        multiply-adds (the same weights and result as ``self.conv1d``, cheaper for short ``L``)."""
        k, L = self.config.d_conv, xBC.shape[1]
        w = self.conv1d.weight[:, 0, :]  # (conv_dim, d_conv)
        xp = F.pad(xBC, (0, 0, k - 1, 0))
        out = xp[:, k - 1 : k - 1 + L] * w[:, k - 1]
        for j in range(k - 1):
            out = out + xp[:, j : j + L] * w[:, j]
        return out if self.conv1d.bias is None else out + self.conv1d.bias

    def forward(self, u: torch.Tensor, return_cache: bool = False):
        """Parallel (chunked-scan) forward; ``return_cache=True`` also returns the :meth:`step` cache."""
        self._check_input(u)
        b, L, _ = u.shape
        c = self.config
        z, xBC, dt = self._split(self.in_proj(u))
        xBC_in = xBC
        xBC = F.silu(self._causal_conv(xBC))
        x, B, C = self._ssm_inputs(xBC)
        x = x.reshape(b, L, self.nheads, c.headdim)
        B = B.reshape(b, L, c.ngroups, c.d_state)
        C = C.reshape(b, L, c.ngroups, c.d_state)
        A = -torch.exp(self.A_log)
        backend = ssm_backend(u.device, c.backend)
        announce_backend(backend, u.device, c.backend)
        if backend == "mamba_ssm":
            scan = _mamba_ssm_scan()
            y, state = scan(
                x.contiguous(),
                dt.contiguous(),
                A.float(),
                B.contiguous(),
                C.contiguous(),
                chunk_size=c.chunk_size,
                D=self.D,
                dt_bias=self.dt_bias,
                dt_softplus=True,
                return_final_states=True,
            )
        else:
            dtp = F.softplus(dt + self.dt_bias)
            y, state = ssd_chunked_scan(x, dtp, A.to(x.dtype), B, C, D=self.D, chunk_size=c.chunk_size)
        y = y.reshape(b, L, self.d_inner)
        out = self.out_proj(self.norm(y, z))
        if not return_cache:
            return out
        k = c.d_conv
        conv_state = F.pad(xBC_in.transpose(1, 2), (max(k - L, 0), 0))[..., -k:]
        return out, (conv_state, state.to(u.dtype))

    def allocate_cache(self, batch_size: int, device=None, dtype=None):
        """Zero ``(conv_state, ssm_state)`` for :meth:`step` from the start of a sequence."""
        c = self.config
        device = device or self.in_proj.weight.device
        dtype = dtype or self.in_proj.weight.dtype
        return (
            torch.zeros(batch_size, self.conv_dim, c.d_conv, device=device, dtype=dtype),
            torch.zeros(batch_size, self.nheads, c.headdim, c.d_state, device=device, dtype=dtype),
        )

    def step(self, u: torch.Tensor, cache=None):
        """One recurrent step: ``u (b, 1, d_model)`` or ``(b, d_model)`` -> same shape, new cache.

        ``cache``: ``(conv_state, ssm_state)`` from :meth:`allocate_cache`, :meth:`forward` with
        ``return_cache=True`` or the previous step; ``None`` starts from zeros. Pure torch on every
        device (one step is a handful of small ops)."""
        if not isinstance(u, torch.Tensor):
            raise EmulatorInputError(
                f"u: expected a torch.Tensor (batch, [1,] {self.config.d_model}), got {type(u).__name__}"
            )
        squeeze = u.ndim == 2
        if squeeze:
            u = u[:, None]
        self._check_input(u)
        c = self.config
        if cache is None:
            cache = self.allocate_cache(u.shape[0], u.device, u.dtype)
        if not isinstance(cache, (tuple, list)) or len(cache) != 2:
            raise EmulatorInputError("cache: expected (conv_state, ssm_state) as returned by allocate_cache")
        conv_state, ssm_state = cache
        want = ((u.shape[0], self.conv_dim, c.d_conv), (u.shape[0], self.nheads, c.headdim, c.d_state))
        if (tuple(conv_state.shape), tuple(ssm_state.shape)) != want:
            raise EmulatorInputError(
                f"cache: expected shapes {want[0]} and {want[1]}, got {tuple(conv_state.shape)} and {tuple(ssm_state.shape)}"
            )
        z, xBC, dt = self._split(self.in_proj(u[:, 0]))
        conv_state = torch.cat([conv_state[..., 1:], xBC[..., None]], dim=-1)
        w = self.conv1d.weight[:, 0, :]  # (conv_dim, d_conv)
        xBC = (conv_state * w).sum(-1)
        if self.conv1d.bias is not None:
            xBC = xBC + self.conv1d.bias
        xBC = F.silu(xBC)
        x, B, C = self._ssm_inputs(xBC)
        b = u.shape[0]
        x = x.reshape(b, self.nheads, c.headdim)
        B = B.reshape(b, c.ngroups, c.d_state)
        C = C.reshape(b, c.ngroups, c.d_state)
        A = -torch.exp(self.A_log.to(x.dtype))
        dtp = F.softplus(dt + self.dt_bias)
        y, ssm_state = ssd_step(x, dtp, A, B, C, ssm_state, D=self.D)
        out = self.out_proj(self.norm(y.reshape(b, self.d_inner), z))
        return (out if squeeze else out[:, None]), (conv_state, ssm_state)
