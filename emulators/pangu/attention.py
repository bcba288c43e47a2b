"""3D window attention with the Earth-specific positional bias (Pangu-Weather).

Tokens live on a grid ``(Z, H, W)`` = (pressure level, latitude, longitude), stored as tensors
``(B, Z, H, W, C)``. A block pads the grid to multiples of the window ``(w_z, w_h, w_w)``, cuts it
into windows of ``N = w_z·w_h·w_w`` tokens and runs multi-head self-attention inside each window:

    softmax(q kᵀ / sqrt(d) + B_type + M) v

* ``B_type`` is the Earth-specific bias (Bi et al. 2023, pseudocode ``EarthAttention3D``): a table of
  ``(2w_w − 1)·w_h²·w_z²`` entries per window type and head, looked up with

      idx = (z_i + w_z·z_j)·(2w_w − 1)·w_h² + (h_i + w_h·h_j)·(2w_w − 1) + (w_i − w_j + w_w − 1)

  for query ``i`` and key ``j`` (absolute pressure and latitude pairs, relative longitude). The window
  *type* is the window's (pressure, latitude) position, ``n_types = (Z_pad/w_z)·(H_pad/w_h)``; all
  windows along longitude share one bias set.
* Every second block ("shifted") rolls the padded grid by half a window on all three axes first
  (``torch.roll`` by ``+w//2``, as the pseudocode's ``roll3D``) and rolls back afterwards. Longitude
  is periodic, so tokens brought together across the longitude seam are neighbours and stay unmasked;
  pressure and latitude are not, so ``M`` adds :data:`MASK_VALUE` between tokens that the roll put in
  one window from opposite ends of the pressure or latitude axis.

Padding tokens (zeros, added per block at both ends of an axis, split ``pad//2`` before) take part in
attention as in the pseudocode. The longitude axis is only exactly periodic when its token count is a
multiple of ``w_w`` (no longitude padding), e.g. 360 and 180 tokens at 0.25° with patch 4.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..errors import EmulatorInputError

logger = logging.getLogger(__name__)

__all__ = [
    "MASK_VALUE",
    "EarthAttention3D",
    "EarthSpecificBlock",
    "EarthSpecificLayer",
    "earth_position_index",
    "shifted_window_mask",
    "window_pad",
]

#: Logit added between tokens that must not attend to each other. The pseudocode suggests −100 or
#: −1000; −1e4 makes the masked softmax weights exactly zero in float32 and bfloat16.
MASK_VALUE = -1.0e4


def earth_position_index(window_size: tuple[int, int, int]) -> torch.Tensor:
    """Bias-table row for every (query, key) pair of a window: int64 tensor ``(N, N)``, ``N = w_z·w_h·w_w``.

    Tokens are numbered in C order over ``(z, h, w)`` inside the window. Entry ``[i, j]`` is
    ``(z_i + w_z z_j)(2w_w − 1)w_h² + (h_i + w_h h_j)(2w_w − 1) + (w_i − w_j + w_w − 1)``, in
    ``[0, (2w_w − 1) w_h² w_z²)`` (pseudocode ``EarthAttention3D._construct_index``).
    """
    wz, wh, ww = (int(v) for v in window_size)
    if min(wz, wh, ww) < 1:
        raise EmulatorInputError(f"window_size must be positive, got {window_size!r}")
    z, h, w = torch.meshgrid(torch.arange(wz), torch.arange(wh), torch.arange(ww), indexing="ij")
    z, h, w = z.reshape(-1), h.reshape(-1), w.reshape(-1)
    n_lon = 2 * ww - 1
    pressure = z[:, None] + wz * z[None, :]
    latitude = h[:, None] + wh * h[None, :]
    longitude = w[:, None] - w[None, :] + ww - 1
    return pressure * (n_lon * wh * wh) + latitude * n_lon + longitude


def window_pad(size: tuple[int, int, int], window_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """Grid ``(Z, H, W)`` padded up to multiples of the window."""
    return tuple(math.ceil(s / w) * w for s, w in zip(size, window_size))  # type: ignore[return-value]


def shifted_window_mask(padded_size: tuple[int, int, int], window_size: tuple[int, int, int]) -> torch.Tensor:
    """Additive attention mask of the shifted windows: float tensor ``(n_types, N, N)``.

    The padded grid ``(Z, H, W)`` is rolled by ``s = w // 2`` on every axis; afterwards the rolled
    positions ``r < s`` of the pressure and latitude axes hold tokens from the far end of that axis.
    Two tokens of one window attend to each other (0) iff they are on the same side of ``s`` in
    pressure and in latitude; otherwise :data:`MASK_VALUE`. Longitude is periodic (never masked), so the
    mask is the same for all longitude windows and is indexed by window type (pressure × latitude
    window position, C order).
    """
    zp, hp, _ = padded_size
    wz, wh, ww = window_size
    if zp % wz or hp % wh:
        raise EmulatorInputError(
            f"padded_size {padded_size!r} is not a multiple of window_size {window_size!r}"
        )
    z_region = (torch.arange(zp) < wz // 2).long()
    h_region = (torch.arange(hp) < wh // 2).long()
    region = 2 * z_region[:, None] + h_region[None, :]  # (Z, H)
    region = region.view(zp // wz, wz, hp // wh, wh).permute(0, 2, 1, 3).reshape(-1, wz * wh)  # (T, wz·wh)
    region = region[:, :, None].expand(-1, -1, ww).reshape(region.shape[0], -1)  # (T, N)
    different = region[:, :, None] != region[:, None, :]
    return torch.where(different, torch.tensor(MASK_VALUE), torch.tensor(0.0))


def _drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``rate`` and rescale the rest."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x * x.new_empty(shape).bernoulli_(keep) / keep


class EarthAttention3D(nn.Module):
    """Multi-head attention inside 3D windows with the Earth-specific bias.

    Input / output ``(B, T, n_lon_windows, N, C)``: windows grouped by type ``T`` (pressure × latitude
    window position) and longitude window. Parameters: ``qkv`` (Linear C → 3C), ``proj`` (Linear C → C),
    ``earth_specific_bias`` ``((2w_w − 1)w_h²w_z², T, heads)`` initialised N(0, 0.02²) truncated at ±2σ.
    """

    def __init__(self, dim: int, num_heads: int, window_size: tuple[int, int, int], n_window_types: int):
        super().__init__()
        if dim % num_heads:
            raise EmulatorInputError(f"num_heads={num_heads} does not divide dim={dim}")
        self.dim, self.num_heads, self.window_size = dim, num_heads, tuple(window_size)
        self.n_window_types = n_window_types
        wz, wh, ww = self.window_size
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.earth_specific_bias = nn.Parameter(
            torch.empty((2 * ww - 1) * wh * wh * wz * wz, n_window_types, num_heads)
        )
        nn.init.trunc_normal_(self.earth_specific_bias, std=0.02, a=-0.04, b=0.04)
        self.register_buffer("position_index", earth_position_index(self.window_size), persistent=False)

    def bias(self) -> torch.Tensor:
        """The gathered bias ``(T, heads, N, N)``: ``table[position_index[i, j], t, h]``."""
        n = self.position_index.shape[0]
        table = self.earth_specific_bias[self.position_index.reshape(-1)]  # (N·N, T, heads)
        return table.view(n, n, self.n_window_types, self.num_heads).permute(2, 3, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention of windows ``x`` ``(B, T, nW, N, C)``; ``mask`` ``(T, N, N)`` additive or None."""
        b, t, nw, n, c = x.shape
        if t != self.n_window_types:
            raise EmulatorInputError(
                f"x has {t} window types, the bias table was built for {self.n_window_types}"
            )
        heads = self.num_heads
        qkv = self.qkv(x).view(b, t, nw, n, 3, heads, c // heads).permute(4, 0, 1, 2, 5, 3, 6)
        q, k, v = qkv.unbind(0)  # (B, T, nW, heads, N, d)
        attn_bias = self.bias()[None, :, None]  # (1, T, 1, heads, N, N)
        if mask is not None:
            attn_bias = attn_bias + mask[None, :, None, None]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias.to(q.dtype))
        out = out.permute(0, 1, 2, 4, 3, 5).reshape(b, t, nw, n, c)
        return self.proj(out)


class EarthSpecificBlock(nn.Module):
    """One transformer block on tokens ``(B, Z, H, W, C)`` of a fixed grid (pseudocode ``EarthSpecificBlock``).

    post-norm (pseudocode): ``x = x + drop(norm1(attn(x)))``, ``x = x + drop(norm2(mlp(x)))``;
    pre-norm (Swin-V1): ``x = x + drop(attn(norm1(x)))``, ``x = x + drop(mlp(norm2(x)))``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int, int],
        window_size: tuple[int, int, int],
        shifted: bool,
        drop_path: float = 0.0,
        mlp_ratio: float = 4.0,
        norm_placement: str = "post",
    ):
        super().__init__()
        self.grid, self.window_size, self.shifted = tuple(grid), tuple(window_size), shifted
        self.padded = window_pad(self.grid, self.window_size)
        self.pads = [((p - s) // 2, p - s - (p - s) // 2) for s, p in zip(self.grid, self.padded)]
        self.shift = tuple(w // 2 for w in self.window_size) if shifted else (0, 0, 0)
        n_types = (self.padded[0] // window_size[0]) * (self.padded[1] // window_size[1])
        self.drop_path, self.norm_placement = drop_path, norm_placement
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.attn = EarthAttention3D(dim, num_heads, self.window_size, n_types)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        if shifted and any(self.shift[:2]):
            self.register_buffer(
                "attn_mask", shifted_window_mask(self.padded, self.window_size), persistent=False
            )
        else:
            self.attn_mask = None

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        b, _, _, _, c = x.shape
        (z0, z1), (h0, h1), (w0, w1) = self.pads
        x = F.pad(x, (0, 0, w0, w1, h0, h1, z0, z1))
        if self.shifted:
            x = torch.roll(x, shifts=self.shift, dims=(1, 2, 3))
        zp, hp, wp = self.padded
        wz, wh, ww = self.window_size
        nz, nh, nw = zp // wz, hp // wh, wp // ww
        windows = x.view(b, nz, wz, nh, wh, nw, ww, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
        windows = windows.reshape(b, nz * nh, nw, wz * wh * ww, c)
        windows = self.attn(windows, self.attn_mask)
        x = (
            windows.view(b, nz, nh, nw, wz, wh, ww, c)
            .permute(0, 1, 4, 2, 5, 3, 6, 7)
            .reshape(b, zp, hp, wp, c)
        )
        if self.shifted:
            x = torch.roll(x, shifts=tuple(-s for s in self.shift), dims=(1, 2, 3))
        z, h, w = self.grid
        return x[:, z0 : z0 + z, h0 : h0 + h, w0 : w0 + w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, Z, H, W, C)`` → same shape."""
        if tuple(x.shape[1:4]) != self.grid:
            raise EmulatorInputError(
                f"block expects a token grid {self.grid}, got x of shape {tuple(x.shape)}"
            )
        if self.norm_placement == "post":
            x = x + _drop_path(self.norm1(self._window_attention(x)), self.drop_path, self.training)
            return x + _drop_path(self.norm2(self.mlp(x)), self.drop_path, self.training)
        x = x + _drop_path(self._window_attention(self.norm1(x)), self.drop_path, self.training)
        return x + _drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class EarthSpecificLayer(nn.Module):
    """``depth`` blocks alternating plain and shifted windows (even index plain, odd shifted)."""

    def __init__(
        self,
        depth: int,
        dim: int,
        num_heads: int,
        grid: tuple[int, int, int],
        window_size: tuple[int, int, int],
        drop_path: tuple[float, ...] | list[float],
        mlp_ratio: float = 4.0,
        norm_placement: str = "post",
        use_checkpoint: bool = False,
    ):
        super().__init__()
        if len(drop_path) != depth:
            raise EmulatorInputError(f"drop_path has {len(drop_path)} rates for {depth} blocks")
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            EarthSpecificBlock(
                dim, num_heads, grid, window_size, i % 2 == 1, float(drop_path[i]), mlp_ratio, norm_placement
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, Z, H, W, C)`` → same shape."""
        for block in self.blocks:
            if self.use_checkpoint and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x
