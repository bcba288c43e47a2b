"""Fourier neural operator (FNO, Li et al., ICLR 2021, arXiv 2010.08895) for 1D, 2D and 3D grids.

Why our own spectral layers and not neuraloperator / torch-harmonics
--------------------------------------------------------------------
neuraloperator 2.0 does not declare torch, pulls wandb / tensorly / tensorly-torch / zencfg, and its
SFNO needs torch-harmonics, whose 0.9.x wheels pin other torch versions (0.9.3: torch 2.14.x) and
whose 0.8.0 sdist compiles a C++ extension at every install (~90 s). The layer itself is small, so
it is written here in plain torch (no extra dependency) and checked against a direct DFT in the tests;
``benchmarks/emulator_speed.py`` compares its speed with neuraloperator's FNO.

Layer (:class:`SpectralConv`), on a periodic grid of shape ``(N_1, …, N_d)``, ``d = len(n_modes)``::

    X = rfftn(x, norm="forward")                  # X_k = (1/N) Σ_n x_n e^{-2πi k·n/N}
    Y_{o,k} = Σ_i W_{i,o,k} X_{i,k}                # only the kept modes k, zero elsewhere
    y_n = Σ_k c_k Re(Y_k e^{+2πi k·n/N})          # irfftn(Y, norm="forward")

with ``c_k = 1`` where the last-axis frequency is 0 (or Nyquist), else 2 (the Hermitian partner of
the half spectrum). Kept modes follow neuraloperator's convention: ``n_modes[j]`` is the number of
frequencies kept along axis ``j``; for every axis but the last those are ``k_j ∈ [−(m//2), (m−1)//2]``
(stored in the weight as ``0 … (m−1)//2`` then ``−(m//2) … −1``), for the last axis ``k ∈ [0, m//2]``
(``m//2 + 1`` entries, real FFT). A grid too small for a mode count keeps what it can represent
(resolution invariance: the same weights run on a coarser grid).

Model (:class:`FNO`): optional grid coordinates appended as channels → lifting channel-MLP
(``in → lifting_channel_ratio·hidden → hidden``, GELU) → ``n_layers`` Fourier blocks
``z = σ(K z + W z)`` (spectral conv ``K`` plus a pointwise linear skip ``W``; GELU σ, not after the last
block), each optionally followed by a residual channel-MLP → projection channel-MLP
(``hidden → projection_channel_ratio·hidden → out``). Tensors: ``(batch, channel, *grid)``.

The FFTs run in float32 even under bf16 autocast (FFT of bf16 is not supported on CPU and loses
accuracy); the rest of the network follows autocast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import EmulatorInputError
from .registry import register_model
from .validation import check_bool, check_choice, check_int, check_int_tuple, check_real, check_tensor

logger = logging.getLogger(__name__)

__all__ = ["FNO", "FNOConfig", "SpectralConv", "mode_layout"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def mode_layout(n_modes: int, n: int, last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Which (r)FFT indices of an axis of length ``n`` are kept, and where they sit in the weight.

    ``last=False`` (full FFT axis, weight axis length ``n_modes``): frequencies ``0 … p−1`` at weight
    positions ``0 … p−1`` and ``−q … −1`` (FFT indices ``n−q … n−1``) at weight positions
    ``n_modes−q … n_modes−1``, with ``p = min((n_modes−1)//2, (n−1)//2) + 1`` and
    ``q = min(n_modes//2, n−p)``. ``last=True`` (real-FFT axis, weight axis length ``n_modes//2+1``):
    frequencies ``0 … min(n_modes//2, n//2)`` at the same positions. Returns ``(fft_index,
    weight_index)``, int64 tensors of equal length.
    """
    if last:
        idx = torch.arange(min(n_modes // 2, n // 2) + 1)
        return idx, idx
    p, q = _pq(n_modes, n)
    fft_idx = torch.cat([torch.arange(p), torch.arange(n - q, n)])
    w_idx = torch.cat([torch.arange(p), torch.arange(n_modes - q, n_modes)])
    return fft_idx, w_idx


def _pq(n_modes: int, n: int) -> tuple[int, int]:
    """Counts ``(p, q)`` of kept non-negative / negative frequencies on a full FFT axis (:func:`mode_layout`)."""
    p = min((n_modes - 1) // 2, (n - 1) // 2) + 1
    return p, min(n_modes // 2, n - p)


class SpectralConv(nn.Module):
    """Fourier layer: truncated (r)FFT, per-mode complex channel mixing, inverse FFT.

    Parameters: ``in_channels``, ``out_channels``; ``n_modes`` tuple of kept mode counts per grid axis
    (its length is the dimension d ∈ {1, 2, 3}). Weights ``weight_real`` / ``weight_imag`` of shape
    ``(in_channels, out_channels, n_modes[0], …, n_modes[-2], n_modes[-1]//2 + 1)``, initialised
    ``N(0, 1/(in+out))`` each (complex std ``(2/(in+out))**0.5``, as neuraloperator). Optional ``bias``
    ``(out_channels,)``. Input ``(B, in_channels, *grid)`` → output ``(B, out_channels, *grid)``.
    Formula, mode layout and references in the module docstring.
    """

    def __init__(self, in_channels: int, out_channels: int, n_modes: tuple[int, ...], bias: bool = False):
        super().__init__()
        n_modes = tuple(int(m) for m in n_modes)
        if not 1 <= len(n_modes) <= 3 or any(m < 1 for m in n_modes):
            raise EmulatorInputError(f"n_modes: need 1 to 3 positive mode counts, got {n_modes}")
        if in_channels < 1 or out_channels < 1:
            raise EmulatorInputError(
                f"in_channels/out_channels must be ≥ 1, got {in_channels}, {out_channels}"
            )
        self.in_channels, self.out_channels, self.n_modes = in_channels, out_channels, n_modes
        shape = (in_channels, out_channels, *n_modes[:-1], n_modes[-1] // 2 + 1)
        std = (1.0 / (in_channels + out_channels)) ** 0.5
        self.weight_real = nn.Parameter(torch.randn(shape) * std)
        self.weight_imag = nn.Parameter(torch.randn(shape) * std)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    @property
    def n_dim(self) -> int:
        return len(self.n_modes)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, n_modes={self.n_modes}, bias={self.bias is not None}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.n_dim
        if x.dim() != d + 2 or x.shape[1] != self.in_channels:
            raise EmulatorInputError(
                f"x: expected shape (batch, {self.in_channels}, {d} grid axes), got {tuple(x.shape)}"
            )
        grid = x.shape[2:]
        dims = tuple(range(-d, 0))
        in_dtype = x.dtype
        with torch.autocast(device_type=x.device.type, enabled=False):
            work = torch.float64 if in_dtype == torch.float64 else torch.float32
            xf = torch.fft.rfftn(x.to(work), dim=dims, norm="forward")
            # complex product as one real contraction: [xr, xi] @ [[wr, wi], [-wi, wr]] (fast real bmm)
            wr, wi = self.weight_real.to(work), self.weight_imag.to(work)
            w = torch.cat([torch.cat([wr, wi], dim=1), torch.cat([-wi, wr], dim=1)], dim=0)
            # keep the modes: contiguous blocks [0, p) and [n - q, n) per axis (gather by slicing)
            for j, (m, n) in enumerate(zip(self.n_modes, grid)):
                ax = 2 + j
                fft_idx, w_idx = mode_layout(m, n, j == d - 1)
                if j == d - 1:
                    xf = xf.narrow(ax, 0, len(fft_idx))
                    w = w.narrow(ax, 0, len(w_idx))
                    continue
                p, q = _pq(m, n)
                xf = torch.cat([xf.narrow(ax, 0, p), xf.narrow(ax, n - q, q)], dim=ax)
                if p + q < m:
                    w = torch.cat([w.narrow(ax, 0, p), w.narrow(ax, m - q, q)], dim=ax)
            letters = "xyz"[:d]
            xcat = torch.cat([xf.real, xf.imag], dim=1)
            ycat = torch.einsum(f"bi{letters},io{letters}->bo{letters}", xcat, w)
            out_ft = torch.complex(ycat[:, : self.out_channels], ycat[:, self.out_channels :])
            # scatter back by zero-padding between the positive and negative blocks
            for j, (m, n) in enumerate(zip(self.n_modes, grid)):
                ax = 2 + j
                size = list(out_ft.shape)
                if j == d - 1:
                    size[ax] = n // 2 + 1 - out_ft.shape[ax]
                    out_ft = torch.cat([out_ft, out_ft.new_zeros(size)], dim=ax)
                    continue
                p, q = _pq(m, n)
                size[ax] = n - p - q
                pieces = [out_ft.narrow(ax, 0, p), out_ft.new_zeros(size), out_ft.narrow(ax, p, q)]
                out_ft = torch.cat(pieces, dim=ax)
            y = torch.fft.irfftn(out_ft, s=grid, dim=dims, norm="forward")
            if self.bias is not None:
                y = y + self.bias.to(work).view(1, -1, *([1] * d))
        return y.to(in_dtype)


@dataclass
class FNOConfig:
    """Configuration of :class:`FNO` (all fields plain values, checkpoint-safe).

    ``n_modes``: kept modes per grid axis (length = spatial dimension, 1 to 3; convention in the
    module docstring). ``in_channels`` / ``out_channels``: physical channels. ``hidden_channels``:
    width of the Fourier blocks. ``n_layers``: number of Fourier blocks. ``lifting_channel_ratio`` /
    ``projection_channel_ratio``: hidden width of the lifting / projection MLPs relative to
    ``hidden_channels``. ``positional_embedding``: ``"none"`` or ``"grid"`` (append d coordinate
    channels in ``[0, 1)``; breaks translation equivariance). ``use_channel_mlp`` /
    ``channel_mlp_expansion``: residual channel-MLP after each block. ``residual``: add the state (the first ``out_channels`` inputs;
    constant fields follow it) to the output, i.e. predict the increment.
    """

    n_modes: tuple = (16, 16)
    in_channels: int = 3
    out_channels: int = 3
    hidden_channels: int = 32
    n_layers: int = 4
    lifting_channel_ratio: float = 2.0
    projection_channel_ratio: float = 2.0
    positional_embedding: str = "none"
    use_channel_mlp: bool = True
    channel_mlp_expansion: float = 0.5
    residual: bool = False

    def __post_init__(self) -> None:
        own = "FNOConfig"
        self.n_modes = check_int_tuple(own, "n_modes", self.n_modes, length=(1, 2, 3))
        for key in ("in_channels", "out_channels", "hidden_channels", "n_layers"):
            setattr(self, key, check_int(own, key, getattr(self, key)))
        for key in ("lifting_channel_ratio", "projection_channel_ratio", "channel_mlp_expansion"):
            setattr(self, key, check_real(own, key, getattr(self, key), above=0))
        check_choice(own, "positional_embedding", self.positional_embedding, ("none", "grid"))
        for key in ("use_channel_mlp", "residual"):
            check_bool(own, key, getattr(self, key))
        if self.residual and self.out_channels > self.in_channels:
            raise EmulatorInputError(
                f"{own}.residual needs out_channels <= in_channels (the first out_channels inputs are the state), "
                f"got {self.in_channels} and {self.out_channels}"
            )


class _ChannelMLP(nn.Module):
    """Two pointwise (1×1) layers ``in → hidden → out`` with GELU in between."""

    def __init__(self, n_dim: int, in_ch: int, hidden: int, out_ch: int):
        super().__init__()
        conv = _CONV[n_dim]
        self.fc1 = conv(in_ch, hidden, 1)
        self.fc2 = conv(hidden, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _grid_coordinates(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """``(B, d, *shape)`` coordinates ``n_j / N_j`` in ``[0, 1)`` per axis."""
    axes = [torch.arange(n, device=like.device, dtype=like.dtype) / n for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh).unsqueeze(0).expand(like.shape[0], *([-1] * (len(shape) + 1)))


@register_model("fno", FNOConfig)
class FNO(nn.Module):
    """Fourier neural operator for 1D/2D/3D periodic grids (Li et al. 2021); see module docstring.

    ``forward(x)``: ``x`` of shape ``(batch, in_channels, *grid)`` with ``len(grid) == len(n_modes)``
    → ``(batch, out_channels, *grid)``. Any grid size works (modes beyond a small grid are dropped).
    """

    def __init__(self, config: FNOConfig):
        super().__init__()
        self.config = config
        config.__post_init__()  # re-validate: the fields may have been changed after construction
        n_modes = config.n_modes
        d = len(n_modes)
        self.n_dim = d
        h = config.hidden_channels
        extra = d if config.positional_embedding == "grid" else 0
        lift_hidden = max(1, round(config.lifting_channel_ratio * h))
        proj_hidden = max(1, round(config.projection_channel_ratio * h))
        self.lifting = _ChannelMLP(d, config.in_channels + extra, lift_hidden, h)
        self.spectral = nn.ModuleList(SpectralConv(h, h, n_modes) for _ in range(config.n_layers))
        self.skips = nn.ModuleList(_CONV[d](h, h, 1, bias=False) for _ in range(config.n_layers))
        if config.use_channel_mlp:
            mlp_hidden = max(1, round(config.channel_mlp_expansion * h))
            self.channel_mlps = nn.ModuleList(
                _ChannelMLP(d, h, mlp_hidden, h) for _ in range(config.n_layers)
            )
        else:
            self.channel_mlps = None
        self.projection = _ChannelMLP(d, h, proj_hidden, config.out_channels)

    def fsdp_units(self) -> list[nn.Module]:
        """The spectral convolutions (most of the weights): what FSDP shards one by one (``train.strategy: fsdp``)."""
        return list(self.spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        grid = ("n_lat", "n_lon") if self.n_dim == 2 else tuple(f"n_{i + 1}" for i in range(self.n_dim))
        check_tensor(
            "x",
            x,
            ("batch", cfg.in_channels, *grid),
            like=self.skips[0].weight,
            axes=("batch", "channels", *grid),
        )
        if x.shape[0] == 0 or min(x.shape[2:]) < 1:
            raise EmulatorInputError(f"x: empty batch or grid, got shape {tuple(x.shape)}")
        inp = x
        if cfg.positional_embedding == "grid":
            x = torch.cat([x, _grid_coordinates(tuple(x.shape[2:]), x)], dim=1)
        z = self.lifting(x)
        n = len(self.spectral)
        for i in range(n):
            z_new = self.spectral[i](z) + self.skips[i](z)
            if i < n - 1:
                z_new = F.gelu(z_new)
            if self.channel_mlps is not None:
                z_new = z_new + self.channel_mlps[i](z_new)
            z = z_new
        out = self.projection(z)
        return out + inp[:, : out.shape[1]] if cfg.residual else out


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars (complex weights count real and imaginary parts)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
