"""Pangu-style 3D Earth-specific transformer (Bi et al., Nature 619, 2023), registered as ``"pangu"``.

Architecture (pseudocode ``PanguModel`` in ``198808xc/Pangu-Weather/pseudocode.py``), paper sizes in brackets::

    upper (B, V_up, L, H, W) ──pad──Conv3d(p_z, p_h, p_w)──┐           [5, 13, 721, 1440] → C × 7 × 181 × 360
    surface ⊕ masks (B, V_sfc + M, H, W) ──pad──Conv2d─────┴─ concat on level (surface = level 0)
      → tokens (B, Z, H1, W1, C)                                                     [8 × 181 × 360 × 192]
      → layer1 (depth d1, C) ─ skip ─ DownSample (2×2 lat-lon merge, 4C → 2C) → layer2 (d2, 2C)
      → layer3 (d3, 2C) → UpSample (2C → 4C → 2×2 split, crop, norm, C → C) → layer4 (d4, C)
      → concat(skip, x) (2C) → ConvTranspose3d on levels 1… / ConvTranspose2d on level 0 → crop
    → upper (B, V_up, L, H, W), surface (B, V_sfc, H, W)

Corrections of the official pseudocode (reference A5): tensors are (pressure, latitude, longitude)
with window (2, 6, 12); layer2/layer3 take drop-path rates ``[d1:]`` (not ``[6:]``); the surface is
level 0 in both embedding and recovery.

Surface-only mode (``config.n_upper_vars = 0``): Pangu-lite on single-layer data, the 3-D
Earth-specific transformer with one vertical level. For level-less fields (a shallow-water model's
z, u, v on (time, latitude, longitude)) every variable is a surface variable; the token volume is the
surface level alone, ``(B, 1, H1, W1, C)``, the upper-air Conv3d / ConvTranspose3d are absent (no
parameters), the windows are ``(1, w_h, w_w)`` (:attr:`PanguConfig.effective_window_size`), so the
Earth-specific bias table has ``(2w_w − 1)·w_h²`` rows and one window type per latitude window, and
``upper`` is ``None`` or an empty ``(B, 0, L, H, W)`` tensor.

Constant masks: a buffer ``constant_masks`` ``(n_masks, H, W)`` (zeros until
:meth:`PanguModel.set_constant_masks` is called; saved with the weights) or a ``masks`` argument
``(n_masks, H, W)`` / ``(B, n_masks, H, W)`` to :meth:`PanguModel.forward`. They enter as given:
normalise them (e.g. to zero mean, unit variance) before passing them in.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import EmulatorInputError, EmulatorTypeError
from ..registry import register_model
from ..validation import check_tensor
from .attention import EarthSpecificLayer
from .config import PanguConfig, pangu_token_grids

logger = logging.getLogger(__name__)

__all__ = ["DownSample", "PanguModel", "PatchEmbedding", "PatchRecovery", "UpSample"]


def _split_pad(size: int, multiple: int) -> tuple[int, int]:
    """(before, after) zero padding of ``size`` up to a multiple of ``multiple``, ``before = pad // 2``."""
    pad = math.ceil(size / multiple) * multiple - size
    return pad // 2, pad - pad // 2


class PatchEmbedding(nn.Module):
    """Upper air ``(B, V_up, L, H, W)`` + surface ``(B, V_sfc + M, H, W)`` → tokens ``(B, Z, H1, W1, C)``.

    Zero-pads (split half before / half after) to multiples of the patch, applies
    ``Conv3d(V_up → C, kernel = stride = patch)`` and ``Conv2d(V_sfc + M → C, patch[1:])`` and stacks
    the surface as level 0 in front of the ``ceil(L / p_z)`` upper-air levels. Surface-only mode
    (``n_upper_vars = 0``): no Conv3d (``conv`` is None), the tokens are ``(B, 1, H1, W1, C)`` and
    ``upper`` is ignored (None or an empty tensor).
    """

    def __init__(self, config: PanguConfig):
        super().__init__()
        pz, ph, pw = config.patch_size
        self.pad_z = _split_pad(config.n_levels, pz)
        self.pad_h = _split_pad(config.grid[0], ph)
        self.pad_w = _split_pad(config.grid[1], pw)
        self.conv = (
            None
            if config.surface_only
            else nn.Conv3d(config.n_upper_vars, config.embed_dim, config.patch_size, stride=config.patch_size)
        )
        self.conv_surface = nn.Conv2d(
            config.n_surface_vars + config.n_masks, config.embed_dim, (ph, pw), stride=(ph, pw)
        )

    def forward(self, upper: torch.Tensor | None, surface: torch.Tensor) -> torch.Tensor:
        surface = F.pad(surface, (*self.pad_w, *self.pad_h))
        x = self.conv_surface(surface)[:, :, None]  # (B, C, 1, H1, W1)
        if self.conv is not None:
            upper = F.pad(upper, (*self.pad_w, *self.pad_h, *self.pad_z))
            x = torch.cat([x, self.conv(upper)], dim=2)  # (B, C, Z, H1, W1)
        return x.permute(0, 2, 3, 4, 1)


class PatchRecovery(nn.Module):
    """Tokens ``(B, Z, H1, W1, 2C)`` → upper ``(B, V_up, L, H, W)``, surface ``(B, V_sfc, H, W)``.

    ``ConvTranspose3d(2C → V_up, patch)`` on levels 1…Z−1, ``ConvTranspose2d(2C → V_sfc, patch[1:])`` on
    level 0, then the embedding's padding is cropped. Surface-only mode: no ConvTranspose3d (``conv`` is
    None); the upper output is an empty ``(B, 0, L, H, W)`` tensor.
    """

    def __init__(self, config: PanguConfig, embedding: PatchEmbedding):
        super().__init__()
        dim = 2 * config.embed_dim
        self.conv = (
            None
            if config.surface_only
            else nn.ConvTranspose3d(dim, config.n_upper_vars, config.patch_size, stride=config.patch_size)
        )
        self.conv_surface = nn.ConvTranspose2d(
            dim, config.n_surface_vars, config.patch_size[1:], stride=config.patch_size[1:]
        )
        self.size = (config.n_levels, *config.grid)
        self.start = (embedding.pad_z[0], embedding.pad_h[0], embedding.pad_w[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.permute(0, 4, 1, 2, 3)  # (B, 2C, Z, H1, W1)
        surface = self.conv_surface(x[:, :, 0])
        (z0, h0, w0), (nz, nh, nw) = self.start, self.size
        if self.conv is None:
            upper = surface.new_zeros(surface.shape[0], 0, nz, nh, nw)
        else:
            upper = self.conv(x[:, :, 1:])[:, :, z0 : z0 + nz, h0 : h0 + nh, w0 : w0 + nw]
        return upper, surface[:, :, h0 : h0 + nh, w0 : w0 + nw]


class DownSample(nn.Module):
    """``(B, Z, H, W, C)`` → ``(B, Z, ceil(H/2), ceil(W/2), 2C)``: zero-pad H, W at the end to even,
    merge 2 × 2 (lat × lon) groups → 4C, ``LayerNorm(4C)``, ``Linear(4C → 2C, bias=False)``."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.linear = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, z, h, w, c = x.shape
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        x = x.view(b, z, h2, 2, w2, 2, c).permute(0, 1, 2, 4, 3, 5, 6).reshape(b, z, h2, w2, 4 * c)
        return self.linear(self.norm(x))


class UpSample(nn.Module):
    """``(B, Z, H2, W2, 2C)`` → ``(B, Z, H, W, C)``: ``Linear(2C → 4C, bias=False)``, split each token into
    2 × 2 (the inverse order of :class:`DownSample`), crop to (H, W), ``LayerNorm(C)``, ``Linear(C → C, bias=False)``."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear1 = nn.Linear(in_dim, 4 * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)
        self.linear2 = nn.Linear(out_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, z, h2, w2, _ = x.shape
        x = self.linear1(x)
        c = x.shape[-1] // 4
        x = x.view(b, z, h2, w2, 2, 2, c).permute(0, 1, 2, 4, 3, 5, 6).reshape(b, z, 2 * h2, 2 * w2, c)
        x = x[:, :, : size[0], : size[1]]
        return self.linear2(self.norm(x))


@register_model("pangu", PanguConfig)
class PanguModel(nn.Module):
    """Pangu-style 3D Earth-specific transformer: the next state from the current one.

    ``forward(upper, surface, masks=None)``: upper ``(B, V_up, L, H, W)``, surface ``(B, V_sfc, H, W)``
    (normalised fields; the grid must be ``config.grid``) → ``(upper, surface)`` of the same shapes.
    :meth:`forward_stacked` takes and returns one tensor ``(B, V_sfc + V_up·L, H, W)`` (surface channels
    first, then upper air variable-major: ``v0 l0, v0 l1, …``).

    Surface-only mode (``config.n_upper_vars = 0``, Pangu-lite on single-layer data: the 3-D
    Earth-specific transformer with one vertical level): ``upper`` is ``None`` or ``(B, 0, L, H, W)``,
    the returned upper is ``(B, 0, L, H, W)``, and :meth:`forward_stacked` takes ``(B, V_sfc, H, W)``.
    """

    def __init__(self, config: PanguConfig):
        super().__init__()
        self.config = config
        c = config.embed_dim
        grid1, grid2 = pangu_token_grids(config)
        self.token_grids = (grid1, grid2)
        d1, d2, d3, d4 = config.depths
        rates1, rates2 = _drop_path_rates(config)
        common = {
            "window_size": config.effective_window_size,
            "mlp_ratio": config.mlp_ratio,
            "norm_placement": config.norm_placement,
            "use_checkpoint": config.use_checkpoint,
        }
        h, w = config.grid
        self.register_buffer("constant_masks", torch.zeros(config.n_masks, h, w))
        self.embedding = PatchEmbedding(config)
        self.layer1 = EarthSpecificLayer(d1, c, config.num_heads[0], grid1, drop_path=rates1[:d1], **common)
        self.downsample = DownSample(c)
        self.layer2 = EarthSpecificLayer(
            d2, 2 * c, config.num_heads[1], grid2, drop_path=rates2[:d2], **common
        )
        self.layer3 = EarthSpecificLayer(
            d3, 2 * c, config.num_heads[2], grid2, drop_path=rates2[:d3], **common
        )
        self.upsample = UpSample(2 * c, c)
        self.layer4 = EarthSpecificLayer(d4, c, config.num_heads[3], grid1, drop_path=rates1[:d4], **common)
        self.recovery = PatchRecovery(config, self.embedding)
        self.apply(_init_weights)
        logger.debug("PanguModel token grids %s, %s", grid1, grid2)

    @torch.no_grad()
    def set_constant_masks(self, masks: torch.Tensor) -> None:
        """Store the constant masks ``(n_masks, H, W)`` (already normalised) used when ``forward`` gets none."""
        masks = torch.as_tensor(masks)
        if tuple(masks.shape) != tuple(self.constant_masks.shape):
            raise EmulatorInputError(
                f"masks must have shape {tuple(self.constant_masks.shape)}, got {tuple(masks.shape)}"
            )
        if not torch.isfinite(masks).all():
            raise EmulatorInputError("masks: contain NaN or infinite values (fill land/sea gaps first)")
        self.constant_masks.copy_(masks)

    def _check_inputs(self, upper: torch.Tensor | None, surface: torch.Tensor) -> None:
        cfg = self.config
        like = self.embedding.conv_surface.weight
        axes = ("batch", "variables", "levels", "latitudes", "longitudes")
        if upper is None:
            if not cfg.surface_only:
                raise EmulatorInputError(
                    f"upper: None, but the model takes {cfg.n_upper_vars} upper-air variables on "
                    f"{cfg.n_levels} levels (only the surface-only mode n_upper_vars = 0 allows None)"
                )
        else:
            check_tensor(
                "upper", upper, ("B", cfg.n_upper_vars, cfg.n_levels, *cfg.grid), like=like, axes=axes
            )
        check_tensor(
            "surface", surface, ("B", cfg.n_surface_vars, *cfg.grid), like=like, axes=axes[:2] + axes[3:]
        )
        if upper is None:
            if surface.shape[0] < 1:
                raise EmulatorInputError(f"surface: empty batch, got shape {tuple(surface.shape)}")
            return
        if upper.shape[0] < 1:
            raise EmulatorInputError(f"upper: empty batch, got shape {tuple(upper.shape)}")
        if surface.shape[0] != upper.shape[0]:
            raise EmulatorInputError(
                f"surface batch {surface.shape[0]} differs from upper batch {upper.shape[0]}"
            )

    def forward(
        self, upper: torch.Tensor | None, surface: torch.Tensor, masks: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next ``(upper, surface)``; ``masks`` ``(n_masks, H, W)`` or ``(B, n_masks, H, W)`` overrides the buffer.

        ``upper`` may be None in the surface-only mode; the returned upper is then ``(B, 0, L, H, W)``.
        """
        self._check_inputs(upper, surface)
        b = surface.shape[0]
        if self.config.n_masks:
            masks = self.constant_masks if masks is None else masks
            if not isinstance(masks, torch.Tensor) or not torch.is_floating_point(masks):
                raise EmulatorTypeError(
                    f"masks: expected a floating-point torch.Tensor of shape ({self.config.n_masks}, "
                    f"{self.config.grid[0]}, {self.config.grid[1]}), got {type(masks).__name__} "
                    f"{getattr(masks, 'dtype', '')}"
                )
            given = tuple(masks.shape)
            if masks.ndim == 3:
                masks = masks.expand(b, -1, -1, -1)
            if tuple(masks.shape) != (b, self.config.n_masks, *self.config.grid):
                raise EmulatorInputError(
                    f"masks must have shape ({self.config.n_masks}, {self.config.grid[0]}, {self.config.grid[1]}) "
                    f"or with a leading batch {b}, got {given}"
                )
            surface_in = torch.cat([surface, masks.to(surface.dtype)], dim=1)
        elif masks is not None:
            raise EmulatorInputError("masks given but config.n_masks is 0")
        else:
            surface_in = surface
        x = self.embedding(upper, surface_in)
        x = self.layer1(x)
        skip = x
        x = self.layer3(self.layer2(self.downsample(x)))
        x = self.layer4(self.upsample(x, skip.shape[2:4]))
        upper_out, surface_out = self.recovery(torch.cat([skip, x], dim=-1))
        if self.config.residual:
            surface_out = surface_out + surface
            if upper is not None and upper.numel():
                upper_out = upper_out + upper
        return upper_out, surface_out

    def fsdp_units(self) -> list[nn.Module]:
        """The Earth-specific transformer blocks of the four stages: what FSDP shards one by one
        (``train.strategy: fsdp``; embedding, down/up-sampling and recovery stay in the root unit)."""
        return [
            block for layer in (self.layer1, self.layer2, self.layer3, self.layer4) for block in layer.blocks
        ]

    def split_channels(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, V_sfc + V_up·L, H, W)`` → ``upper (B, V_up, L, H, W)``, ``surface (B, V_sfc, H, W)``
        (``upper`` is ``(B, 0, L, H, W)`` in the surface-only mode)."""
        cfg = self.config
        want = cfg.n_surface_vars + cfg.n_upper_vars * cfg.n_levels
        check_tensor(
            "x (surface + upper-air channels)",
            x,
            ("B", want, *cfg.grid),
            axes=("batch", "channels", "latitudes", "longitudes"),
        )
        surface = x[:, : cfg.n_surface_vars]
        upper = x[:, cfg.n_surface_vars :].reshape(x.shape[0], cfg.n_upper_vars, cfg.n_levels, *x.shape[2:])
        return upper, surface

    @staticmethod
    def merge_channels(upper: torch.Tensor, surface: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split_channels`."""
        return torch.cat([surface, upper.flatten(1, 2)], dim=1)

    def forward_stacked(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` on one stacked tensor ``(B, V_sfc + V_up·L, H, W)`` → same shape."""
        upper, surface = self.split_channels(x)
        return self.merge_channels(*self(upper, surface, masks))


def _drop_path_rates(config: PanguConfig) -> tuple[list[float], list[float]]:
    """Drop-path rates of stages 1/4 and 2/3: ``r = linspace(0, rate, d1 + d2)`` split into ``r[:d1]`` and
    ``r[d1:]`` (pseudocode ``LinearSpace(0, 0.2, 8)``), each padded with its last value when layer4 / layer3
    is deeper than layer1 / layer2."""
    d1, d2, d3, d4 = config.depths
    n = d1 + d2
    r = [config.drop_path_rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]
    first, second = r[:d1] or [0.0], r[d1:] or [r[-1] if r else 0.0]
    return first + first[-1:] * max(d4 - d1, 0), second + second[-1:] * max(d3 - d2, 0)


def _init_weights(module: nn.Module) -> None:
    """Linear layers N(0, 0.02²) truncated at ±2σ with zero bias (Swin / timm convention)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02, a=-0.04, b=0.04)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
