"""PhyxMamba: delay embedding + patch tokens + hierarchical residual Mamba-2 + multi-token prediction.

After Liu, Zhao, Ding, Wang, Li, "Mamba Integrated with Physics Principles Masters Long-term Chaotic
System Forecasting" (arXiv 2505.23863; reference notes ``dsr.md`` section B.1). Written from the
paper's description, not from its code. Shapes:

1. **Delay embedding** per variable (:func:`delay_embed_causal`): ``(B, T, V) -> (B, T, V*m)`` with the
   delay vector ``[x_{t-(m-1)tau}, ..., x_t]`` of each variable, front-padded with zeros.
2. **Patch tokens**: non-overlapping patches of ``token_size = P`` steps, flattened
   (``V*m*P`` values) and mapped by ``Linear(V*m*P -> d_model)``; sinusoidal position + dropout.
3. **Hierarchical residual Mamba stack** (``hier_layers`` layers): ``h_l = Mamba2_l(r)``,
   ``r <- r - W_shared h_l``, ``out = sum_l h_l``.
4. **Next-patch decoder** ``lm_head: Linear(d_model -> P*V)``: token ``t`` predicts patch ``t+1``.
5. **Multi-token prediction** (MTP, training only): module ``k = 1..mtp_steps`` computes
   ``h_k = Mamba2_k(Linear_{2d->d}([RMSNorm(h_{k-1}[:, :n-1-k]); RMSNorm(emb[:, k:n-1])]))`` and
   predicts patch ``t+k+1`` at position ``t`` through the shared ``lm_head``.

The model works on standardised states internally: the buffers ``data_mean`` / ``data_std`` (set by
the trainer from training data, stored in the state dict) map raw inputs in and predictions out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import EmulatorInputError, EmulatorKeyError, EmulatorTypeError
from .registry import register_model
from .ssm import Mamba2, MambaConfig, RMSNorm
from .validation import check_int, check_real

__all__ = ["PhyxMamba", "PhyxMambaConfig", "delay_embed_causal", "phyxmamba_preset"]


def delay_embed_causal(x: torch.Tensor, embedding_dim: int, delay: int) -> torch.Tensor:
    """Causal per-variable delay embedding: ``(B, T, V) -> (B, T, V*m)``.

    Column ``v*m + j`` holds ``x_v(t - (m-1-j) tau)`` (zero before the start of the series), i.e. the
    delays of variable 0 first, oldest first, ending with ``x_v(t)`` itself.
    """
    if x.ndim != 3:
        raise EmulatorInputError(f"x: expected (batch, time, vars), got shape {tuple(x.shape)}")
    m, tau = int(embedding_dim), int(delay)
    if m < 1 or tau < 1:
        raise EmulatorInputError(f"embedding_dim and delay must be >= 1, got {embedding_dim}, {delay}")
    b, T, V = x.shape
    pad = (m - 1) * tau
    xp = torch.cat([x.new_zeros(b, pad, V), x], dim=1)
    cols = [xp[:, j * tau : j * tau + T] for j in range(m)]  # each (B, T, V), oldest first
    return torch.stack(cols, dim=-1).reshape(b, T, V * m)


@dataclass
class PhyxMambaConfig:
    """PhyxMamba hyper-parameters (see :func:`phyxmamba_preset` for the paper's systems).

    ``n_vars`` V, ``embed_dim`` m and ``tau`` of the delay embedding, ``token_size`` P (patch length
    in steps), ``lookback`` context length in steps (multiple of P), Mamba-2 sizes, ``hier_layers``,
    ``mtp_steps`` (0 disables MTP), ``dropout``.
    """

    n_vars: int = 3
    embed_dim: int = 3
    tau: int = 7
    token_size: int = 10
    lookback: int = 30
    d_model: int = 256
    d_state: int = 1024
    expand: int = 2
    headdim: int = 64
    d_conv: int = 4
    chunk_size: int = 64
    hier_layers: int = 4
    mtp_steps: int = 3
    dropout: float = 0.1
    backend: str = "auto"

    def __post_init__(self):
        for name in (
            "n_vars",
            "embed_dim",
            "tau",
            "token_size",
            "lookback",
            "d_model",
            "d_state",
            "expand",
            "headdim",
            "d_conv",
            "chunk_size",
            "hier_layers",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise EmulatorInputError(f"PhyxMambaConfig.{name}: must be a positive int, got {v!r}")
        self.mtp_steps = check_int("PhyxMambaConfig", "mtp_steps", self.mtp_steps, minimum=0)
        self.dropout = check_real("PhyxMambaConfig", "dropout", self.dropout, at_least=0, below=1)
        if self.lookback % self.token_size:
            raise EmulatorInputError(
                f"PhyxMambaConfig.lookback={self.lookback} must be a multiple of token_size={self.token_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise EmulatorInputError(f"PhyxMambaConfig.dropout: must be in [0, 1), got {self.dropout}")

    def mamba_config(self) -> MambaConfig:
        return MambaConfig(
            d_model=self.d_model,
            d_state=self.d_state,
            d_conv=self.d_conv,
            expand=self.expand,
            headdim=self.headdim,
            chunk_size=self.chunk_size,
            backend=self.backend,
        )


_PRESETS = {
    # paper settings (dsr.md B.1): m, tau, token_size, hier_layers per system; d_model 256, d_state 1024
    "lorenz63": dict(n_vars=3, embed_dim=3, tau=7, token_size=10, lookback=30, hier_layers=4),
    "rossler": dict(n_vars=3, embed_dim=3, tau=7, token_size=5, lookback=30, hier_layers=1),
    "lorenz96": dict(n_vars=5, embed_dim=4, tau=3, token_size=5, lookback=30, hier_layers=3),
}
_CPU = dict(d_model=32, d_state=16, expand=2, headdim=16, mtp_steps=2, dropout=0.0)


def phyxmamba_preset(system: str, size: str = "paper", **overrides) -> PhyxMambaConfig:
    """Config for ``system`` in {"lorenz63", "rossler", "lorenz96"} at ``size`` "paper" or "cpu".

    "paper": d_model 256, d_state 1024, expand 2, headdim 64, MTP 3 (about 7 M parameters for
    Lorenz-63). "cpu": d_model 32, d_state 16, headdim 16, MTP 2, no dropout.
    """
    key = system.lower().replace("-", "").replace("_", "")
    if key not in _PRESETS:
        raise EmulatorKeyError(f"system: no PhyxMamba preset for {system!r}; known: {sorted(_PRESETS)}")
    if size not in ("paper", "cpu"):
        raise EmulatorInputError(f"size: must be 'paper' or 'cpu', got {size!r}")
    valid = {f.name for f in dataclasses.fields(PhyxMambaConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise EmulatorKeyError(
            f"phyxmamba_preset({system!r}): unknown config key(s) {unknown}; valid keys: {sorted(valid)}"
        )
    values = dict(_PRESETS[key])
    if size == "cpu":
        values.update(_CPU)
    values.update(overrides)
    return PhyxMambaConfig(**values)


def _sinusoidal(n: int, d: int, offset: int, device, dtype) -> torch.Tensor:
    """Sinusoidal position encoding (Vaswani et al. 2017) for positions ``offset .. offset+n-1``: (n, d)."""
    pos = torch.arange(offset, offset + n, device=device, dtype=torch.float64)[:, None]
    i = torch.arange(0, d, 2, device=device, dtype=torch.float64)
    freq = torch.exp(-math.log(10000.0) * i / d)
    pe = torch.zeros(n, d, device=device, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return pe.to(dtype)


class _MTPModule(nn.Module):
    def __init__(self, c: PhyxMambaConfig):
        super().__init__()
        self.norm_h = RMSNorm(c.d_model)
        self.norm_e = RMSNorm(c.d_model)
        self.proj = nn.Linear(2 * c.d_model, c.d_model)
        self.mamba = Mamba2(c.mamba_config())

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.mamba(self.proj(torch.cat([self.norm_h(h), self.norm_e(e)], dim=-1)))


@register_model("phyxmamba", PhyxMambaConfig)
class PhyxMamba(nn.Module):
    """PhyxMamba forecaster of ``(batch, time, n_vars)`` series (module docstring for the architecture)."""

    def __init__(self, config: PhyxMambaConfig):
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("data_mean", torch.zeros(c.n_vars))
        self.register_buffer("data_std", torch.ones(c.n_vars))
        self.patch_embed = nn.Linear(c.n_vars * c.embed_dim * c.token_size, c.d_model)
        self.dropout = nn.Dropout(c.dropout)
        self.layers = nn.ModuleList([Mamba2(c.mamba_config()) for _ in range(c.hier_layers)])
        self.residual_proj = nn.Linear(c.d_model, c.d_model, bias=False)  # shared across layers
        self.lm_head = nn.Linear(c.d_model, c.token_size * c.n_vars)
        self.mtp = nn.ModuleList([_MTPModule(c) for _ in range(c.mtp_steps)])

    # -- normalisation ---------------------------------------------------------------------------
    def set_normalization(self, mean, std) -> None:
        """Set per-variable ``mean``/``std`` (shape ``(n_vars,)``) used to standardise inputs."""
        try:
            mean = torch.as_tensor(mean, dtype=self.data_mean.dtype).reshape(-1)
            std = torch.as_tensor(std, dtype=self.data_std.dtype).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise EmulatorTypeError(f"mean/std: expected {self.config.n_vars} numbers each ({exc})") from None
        if mean.numel() != self.config.n_vars or std.numel() != self.config.n_vars:
            raise EmulatorInputError(
                f"mean/std: expected {self.config.n_vars} values each, got {mean.numel()} and {std.numel()}"
            )
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise EmulatorInputError(f"mean/std: must be finite, got {mean.tolist()} and {std.tolist()}")
        if bool((std <= 0).any()):
            raise EmulatorInputError(f"std: must be > 0, got {std.tolist()}")
        self.data_mean.copy_(mean)
        self.data_std.copy_(std)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.data_mean.to(x.dtype)) / self.data_std.to(x.dtype)

    def destandardize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.data_std.to(z.dtype) + self.data_mean.to(z.dtype)

    # -- pieces ----------------------------------------------------------------------------------
    def _check(self, x: torch.Tensor, name: str) -> None:
        c = self.config
        if not isinstance(x, torch.Tensor):
            raise EmulatorTypeError(
                f"{name}: expected a torch.Tensor (batch, time, {c.n_vars}), got {type(x).__name__}"
            )
        if x.ndim != 3 or x.shape[-1] != c.n_vars:
            raise EmulatorInputError(
                f"{name}: expected (batch, time, {c.n_vars}), got shape {tuple(x.shape)}"
            )
        if not torch.is_floating_point(x):
            raise EmulatorInputError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        if x.shape[1] == 0:
            raise EmulatorInputError(
                f"{name}: needs at least one patch of {c.token_size} steps, got shape {tuple(x.shape)}"
            )
        if x.shape[1] % c.token_size:
            raise EmulatorInputError(
                f"{name}: time length {x.shape[1]} must be a multiple of token_size={c.token_size}"
            )

    def tokens(self, z: torch.Tensor, offset: int = 0, history: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings of standardised ``z (B, T, V)`` -> ``(B, T/P, d_model)``.

        ``history`` (standardised steps before ``z``) feeds the delay embedding; ``offset`` is the
        token index of the first token (for the position encoding)."""
        c = self.config
        full = z if history is None else torch.cat([history, z], dim=1)
        emb = delay_embed_causal(full, c.embed_dim, c.tau)[:, full.shape[1] - z.shape[1] :]
        b, T, _ = emb.shape
        n = T // c.token_size
        flat = emb.reshape(b, n, c.token_size, c.n_vars * c.embed_dim).transpose(2, 3).reshape(b, n, -1)
        e = self.patch_embed(flat)
        return self.dropout(e + _sinusoidal(n, c.d_model, offset, e.device, e.dtype))

    def backbone(self, e: torch.Tensor) -> torch.Tensor:
        """Hierarchical residual stack (parallel scan): ``(B, n, d) -> (B, n, d)``."""
        residual, out = e, torch.zeros_like(e)
        for layer in self.layers:
            h = layer(residual)
            residual = residual - self.residual_proj(h)
            out = out + h
        return out

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, n, d) -> (B, n, P, V)`` standardised next patches."""
        c = self.config
        return self.lm_head(h).reshape(*h.shape[:-1], c.token_size, c.n_vars)

    def forward(self, x: torch.Tensor, return_mtp: bool = False):
        """Teacher-forced next-patch prediction on raw ``x (B, n*P, V)``.

        Returns standardised predictions ``(B, n, P, V)`` of patches ``1..n`` (position ``t`` predicts
        patch ``t+1``; the last one is beyond the input). With ``return_mtp`` also a list of MTP outputs,
        entry ``k-1`` of shape ``(B, n-1-k, P, V)`` predicting patches ``k+1 .. n-1``.
        """
        self._check(x, "x")
        z = self.standardize(x)
        e = self.tokens(z)
        h = self.backbone(e)
        pred = self.decode(h)
        if not return_mtp:
            return pred
        n = e.shape[1]
        mtp_out, hk = [], h
        for k, module in enumerate(self.mtp, start=1):
            if n - 1 - k < 1:
                break
            hk = module(hk[:, : n - 1 - k], e[:, k : n - 1])
            mtp_out.append(self.decode(hk))
        return pred, mtp_out

    # -- recurrent generation --------------------------------------------------------------------
    def _step_backbone(self, e: torch.Tensor, caches: list):
        residual, out, new = e, torch.zeros_like(e), []
        for layer, cache in zip(self.layers, caches):
            h, cache = layer.step(residual, cache)
            residual = residual - self.residual_proj(h)
            out = out + h
            new.append(cache)
        return out, new

    def rollout(self, context: torch.Tensor, n_patches: int, standardized: bool = False) -> torch.Tensor:
        """Differentiable autoregressive rollout of ``n_patches`` patches with the recurrent step.

        ``context (B, T_ctx, V)`` (raw, or standardised when ``standardized``), ``T_ctx`` a multiple of
        P. The context goes through the parallel scan once (its final caches seed the recurrence); each
        generated patch is embedded (delay vectors reach back into the history) and fed through
        :meth:`Mamba2.step`. Returns standardised predictions ``(B, n_patches*P, V)``.
        """
        self._check(context, "context")
        if isinstance(n_patches, bool) or not isinstance(n_patches, int) or n_patches < 1:
            raise EmulatorInputError(f"n_patches: must be an integer >= 1, got {n_patches!r}")
        c = self.config
        z = context if standardized else self.standardize(context)
        e = self.tokens(z)
        residual, out, caches = e, torch.zeros_like(e), []
        for layer in self.layers:
            h, cache = layer(residual, return_cache=True)
            residual = residual - self.residual_proj(h)
            out = out + h
            caches.append(cache)
        nxt = self.decode(out[:, -1])  # (B, P, V)
        hist_len = (c.embed_dim - 1) * c.tau
        history, preds = z, []
        n_tok = e.shape[1]
        for i in range(n_patches):
            preds.append(nxt)
            if i == n_patches - 1:
                break
            hist = history[:, max(history.shape[1] - hist_len, 0) :] if hist_len else None
            tok = self.tokens(nxt, offset=n_tok + i, history=hist)[:, 0]
            history = torch.cat([history, nxt], dim=1)
            h, caches = self._step_backbone(tok, caches)
            nxt = self.decode(h)
        return torch.cat(preds, dim=1)

    @torch.no_grad()
    def forecast(self, context, n_steps: int) -> torch.Tensor:
        """Forecast ``n_steps`` raw states after the raw ``context (B, T_ctx, V)`` (or ``(T_ctx, V)``).

        A context whose length is not a multiple of ``token_size`` is cut at the front to the last
        multiple. Returns ``(B, n_steps, V)`` (``(n_steps, V)`` for an unbatched context) in the
        context's dtype.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise EmulatorInputError(f"n_steps: must be an integer >= 1, got {n_steps!r}")
        try:
            ctx = torch.as_tensor(context)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise EmulatorTypeError(
                f"context: expected an array or tensor (batch, time, {self.config.n_vars}), got {type(context).__name__}"
            ) from exc
        squeeze = ctx.ndim == 2
        if squeeze:
            ctx = ctx[None]
        P = self.config.token_size
        if ctx.ndim != 3 or ctx.shape[1] < P:
            raise EmulatorInputError(
                f"context: expected (batch, time >= {P}, vars), got shape {tuple(ctx.shape)}"
            )
        ctx = ctx[:, ctx.shape[1] % P :]
        p = next(self.parameters())
        was_training = self.training
        self.eval()
        try:
            z = self.rollout(ctx.to(device=p.device, dtype=p.dtype), -(-n_steps // P))
        finally:
            self.train(was_training)
        out = self.destandardize(z)[:, :n_steps].to(ctx.dtype)
        return out[0] if squeeze else out

    def n_parameters(self, include_mtp: bool = True) -> int:
        return sum(
            p.numel() for name, p in self.named_parameters() if include_mtp or not name.startswith("mtp.")
        )

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)
