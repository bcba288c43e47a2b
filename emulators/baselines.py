"""Gridded baselines under the common model interface: persistence, climatology, UNet, ResNet-CNN.

All map ``(batch, in_channels, lat, lon)`` → ``(batch, out_channels, lat, lon)`` one step at a time,
like the baselines of ChaosBench (Nathaniel et al. 2024, repo leap-stc/ChaosBench,
``chaosbench/models/cnn.py``; re-implemented from the description in our reference notes, not copied).

* :class:`Persistence`: ``x_{t+1} = x_t`` (optionally the first ``out_channels`` channels). No parameters.
* :class:`Climatology`: ``x_{t+1} = clim[doy]``, a buffer of shape ``(n_doy, C, H, W)`` indexed by the
  (1-based) day of year of the *target*; set it with :meth:`Climatology.set_climatology`. No
  trainable parameters; the buffer is saved in checkpoints.
* :class:`UNet`: ChaosBench's ``UNet``: ``len(widths)`` levels (default 64-128-256-512-1024), each a
  double ``Conv3×3 + BatchNorm + LeakyReLU(0.15)``; MaxPool 2 down; ``ConvTranspose 2×2 stride 2`` up,
  bilinear resize to the skip's size where odd sizes do not halve evenly (121 × 240), concatenation,
  double conv; a final 1×1 conv.
* :class:`ResNetCNN`: ChaosBench's ``ResNet``: a ResNet-50-style encoder (stem ``Conv7×7/2 + BN + ReLU +
  MaxPool3/2``, bottleneck stages ``layers = (3, 4, 6, 3)`` of widths ``64·2^i`` with expansion 4, as
  ``timm``'s resnet50 with ``features_only`` — same parameter count), the deepest feature map (stride
  32) decoded by 5 up-blocks ``ConvTranspose 2×2/2 + BN + ReLU`` (2048 → 1024 → … → 64) with no skips,
  bilinear resize to ``(H, W)``, 1×1 conv out.

``padding_mode="circular"`` pads longitude (and latitude) periodically instead of with zeros
(ChaosBench uses zeros).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import EmulatorInputError, EmulatorTypeError
from .registry import register_model
from .validation import check_choice, check_int, check_int_tuple, check_real, check_tensor

logger = logging.getLogger(__name__)

__all__ = [
    "Climatology",
    "ClimatologyConfig",
    "Persistence",
    "PersistenceConfig",
    "ResNetCNN",
    "ResNetConfig",
    "UNet",
    "UNetConfig",
]


def _check_input(x: torch.Tensor, channels: int, like: torch.Tensor | None = None) -> None:
    """``x`` must be a float tensor ``(batch, channels, lat, lon)`` with a non-empty batch and grid."""
    check_tensor(
        "x", x, ("batch", channels, "lat", "lon"), like=like, axes=("batch", "channels", "lat", "lon")
    )
    if x.shape[0] < 1 or min(x.shape[-2:]) < 1:
        raise EmulatorInputError(f"x: empty batch or grid, got shape {tuple(x.shape)}")


def _check_deepest_level(module: nn.Module, x: torch.Tensor, deepest: tuple[int, int], what: str) -> None:
    """Refuse a grid the network's down-sampling reduces to nothing, or (training-mode BatchNorm) to
    a single value per channel — torch would fail deep inside with a less telling message."""
    if min(deepest) < 1:
        raise EmulatorInputError(
            f"x: grid {tuple(x.shape[-2:])} is too small for {what} (the deepest level would be {deepest})"
        )
    if module.training and x.shape[0] * deepest[0] * deepest[1] == 1:
        raise EmulatorInputError(
            f"x: shape {tuple(x.shape)} leaves one value per channel at the deepest level of {what} "
            f"({deepest}), which BatchNorm cannot normalise in training mode; use a batch > 1, a larger grid "
            "or model.eval()"
        )


def _check_gridded_config(owner: str, config, int_keys: tuple[str, ...]) -> None:
    for key in int_keys:
        setattr(config, key, check_int(owner, key, getattr(config, key)))
    if hasattr(config, "padding_mode"):
        check_choice(owner, "padding_mode", config.padding_mode, ("zeros", "circular"))
    if getattr(config, "residual", False) and config.out_channels > config.in_channels:
        raise EmulatorInputError(
            f"{owner}.residual needs out_channels <= in_channels (the first out_channels inputs are the state), "
            f"got {config.in_channels} and {config.out_channels}"
        )


@dataclass
class PersistenceConfig:
    """``in_channels``: channels of the input; ``out_channels``: how many leading channels to return
    (``None`` = all)."""

    in_channels: int = 3
    out_channels: int | None = None

    def __post_init__(self) -> None:
        self.in_channels = check_int("PersistenceConfig", "in_channels", self.in_channels)
        if self.out_channels is not None:
            self.out_channels = check_int("PersistenceConfig", "out_channels", self.out_channels)
            if self.out_channels > self.in_channels:
                raise EmulatorInputError(
                    f"PersistenceConfig.out_channels must be <= in_channels = {self.in_channels}, "
                    f"got {self.out_channels}"
                )


@register_model("persistence", PersistenceConfig)
class Persistence(nn.Module):
    """``forward(x) = x[:, :out_channels]`` (a copy); ``(B, C, H, W)`` → ``(B, C_out, H, W)``."""

    def __init__(self, config: PersistenceConfig):
        super().__init__()
        self.config = config
        config.__post_init__()
        self.out_channels = config.out_channels if config.out_channels is not None else config.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.config.in_channels)
        return x[:, : self.out_channels].clone()


@dataclass
class ClimatologyConfig:
    """Shape of the climatology buffer ``(n_doy, channels, nlat, nlon)``; ``n_doy`` = 366 covers leap years."""

    channels: int = 3
    nlat: int = 32
    nlon: int = 64
    n_doy: int = 366

    def __post_init__(self) -> None:
        _check_gridded_config("ClimatologyConfig", self, ("channels", "nlat", "nlon", "n_doy"))


@register_model("climatology", ClimatologyConfig)
class Climatology(nn.Module):
    """Day-of-year climatology as a model.

    ``forward(x, doy)``: ``x`` ``(B, C, H, W)`` (only checked for shape; the forecast does not depend on
    it), ``doy`` int tensor ``(B,)`` or int, day of year 1 … ``n_doy`` of the valid (target) time →
    ``climatology[doy − 1]`` of shape ``(B, C, H, W)``. The buffer starts as zeros (state it with
    :meth:`set_climatology`, e.g. the mean over training years of each calendar day).
    """

    def __init__(self, config: ClimatologyConfig):
        super().__init__()
        self.config = config
        config.__post_init__()
        shape = (config.n_doy, config.channels, config.nlat, config.nlon)
        self.register_buffer("climatology", torch.zeros(shape))

    def set_climatology(self, values: torch.Tensor) -> None:
        """Copy ``values`` of shape ``(n_doy, C, H, W)`` into the buffer."""
        check_tensor("values", values, tuple(self.climatology.shape))
        if not torch.isfinite(values).all():
            raise EmulatorInputError("values: the climatology contains NaN or infinite values")
        with torch.no_grad():
            self.climatology.copy_(values)

    def forward(self, x: torch.Tensor, doy: torch.Tensor | int | None = None) -> torch.Tensor:
        cfg = self.config
        check_tensor(
            "x",
            x,
            ("batch", cfg.channels, cfg.nlat, cfg.nlon),
            axes=("batch", "channels", "latitudes", "longitudes"),
        )
        if doy is None:
            raise EmulatorInputError("doy: climatology needs the day of year (1-based) of the target time")
        if isinstance(doy, (str, bytes)) or (isinstance(doy, float) and doy != int(doy)):
            raise EmulatorTypeError(f"doy: expected integer day(s) of year 1 … {cfg.n_doy}, got {doy!r}")
        doy = torch.as_tensor(doy, device=self.climatology.device)
        if torch.is_floating_point(doy) and bool((doy != doy.round()).any()):
            raise EmulatorTypeError(
                f"doy: expected integer day(s) of year 1 … {cfg.n_doy}, got {doy.tolist()}"
            )
        doy = doy.long().reshape(-1)
        if doy.numel() == 1:
            doy = doy.expand(x.shape[0])
        if doy.numel() != x.shape[0]:
            raise EmulatorInputError(
                f"doy: expected {x.shape[0]} values (one per batch item), got {doy.numel()}"
            )
        if bool((doy < 1).any()) or bool((doy > self.config.n_doy).any()):
            raise EmulatorInputError(f"doy: values must be in 1 … {self.config.n_doy}, got {doy.tolist()}")
        return self.climatology[doy - 1].to(x.dtype)


# ----------------------------------------------------------------------------------------------- UNet


@dataclass
class UNetConfig:
    """``widths``: channels per level (ChaosBench: 64-128-256-512-1024); ``negative_slope`` of the
    LeakyReLU; ``padding_mode``: ``"zeros"`` or ``"circular"``; ``residual``: add the state (the first ``out_channels`` inputs; constant fields follow it) to the output."""

    in_channels: int = 60
    out_channels: int = 60
    widths: tuple = (64, 128, 256, 512, 1024)
    negative_slope: float = 0.15
    padding_mode: str = "zeros"
    residual: bool = False

    def __post_init__(self) -> None:
        _check_gridded_config("UNetConfig", self, ("in_channels", "out_channels"))
        self.widths = check_int_tuple("UNetConfig", "widths", self.widths)
        if len(self.widths) < 2:
            raise EmulatorInputError(f"UNetConfig.widths needs at least 2 levels, got {self.widths!r}")
        self.negative_slope = check_real("UNetConfig", "negative_slope", self.negative_slope, at_least=0)


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, slope: float, padding_mode: str):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(slope),
            nn.Conv2d(cout, cout, 3, padding=1, padding_mode=padding_mode, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(slope),
        )


@register_model("unet", UNetConfig)
class UNet(nn.Module):
    """ChaosBench-style UNet (module docstring). ``(B, in, H, W)`` → ``(B, out, H, W)`` for any ``H, W``."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        config.__post_init__()
        widths = config.widths
        s, pm = config.negative_slope, config.padding_mode
        self.down = nn.ModuleList()
        cin = config.in_channels
        for w in widths:
            self.down.append(_DoubleConv(cin, w, s, pm))
            cin = w
        self.up_transpose = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for w_skip, w_deep in zip(reversed(widths[:-1]), reversed(widths[1:])):
            self.up_transpose.append(nn.ConvTranspose2d(w_deep, w_skip, 2, stride=2))
            self.up_conv.append(_DoubleConv(2 * w_skip, w_skip, s, pm))
        self.out = nn.Conv2d(widths[0], config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.config.in_channels, like=self.out.weight)
        halvings = len(self.down) - 1  # max-pool 2 between levels (floor)
        deepest = (x.shape[-2] >> halvings, x.shape[-1] >> halvings)
        _check_deepest_level(self, x, deepest, f"a UNet of {len(self.down)} levels")
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h)
            if i < len(self.down) - 1:
                skips.append(h)
                h = F.max_pool2d(h, 2)
        for up, conv, skip in zip(self.up_transpose, self.up_conv, reversed(skips)):
            h = up(h)
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = conv(torch.cat([skip, h], dim=1))
        out = self.out(h)
        return out + x[:, : out.shape[1]] if self.config.residual else out


# --------------------------------------------------------------------------------------------- ResNet


@dataclass
class ResNetConfig:
    """``layers``: bottleneck blocks per stage (resnet50: 3, 4, 6, 3); ``base_width``: stem / first
    stage width (64); ``expansion``: bottleneck expansion (4); ``decoder_widths``: the up-blocks'
    output channels (ChaosBench: 1024, 512, 256, 128, 64); ``residual``: add the state (the first ``out_channels`` inputs; constant fields follow it) to the output."""

    in_channels: int = 60
    out_channels: int = 60
    layers: tuple = (3, 4, 6, 3)
    base_width: int = 64
    expansion: int = 4
    decoder_widths: tuple = (1024, 512, 256, 128, 64)
    padding_mode: str = "zeros"
    residual: bool = False

    def __post_init__(self) -> None:
        _check_gridded_config(
            "ResNetConfig", self, ("in_channels", "out_channels", "base_width", "expansion")
        )
        self.layers = check_int_tuple("ResNetConfig", "layers", self.layers)
        self.decoder_widths = check_int_tuple("ResNetConfig", "decoder_widths", self.decoder_widths)


class _Bottleneck(nn.Module):
    """``1×1 → 3×3 (stride) → 1×1 (×expansion)``, BN after each, ReLU, projection shortcut when needed."""

    def __init__(self, cin: int, width: int, expansion: int, stride: int, padding_mode: str):
        super().__init__()
        cout = width * expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=stride, padding=1, padding_mode=padding_mode, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + self.shortcut(x))


@register_model("resnet", ResNetConfig)
class ResNetCNN(nn.Module):
    """ChaosBench-style ResNet encoder + transpose-conv decoder (module docstring).

    ``(B, in, H, W)`` → ``(B, out, H, W)``; ``self.encoder`` alone has resnet50's feature-extractor
    parameter count (23,508,032 for 3 input channels) at the default config.
    """

    def __init__(self, config: ResNetConfig):
        super().__init__()
        self.config = config
        config.__post_init__()
        pm, b, e = config.padding_mode, config.base_width, config.expansion
        stem = [
            nn.Conv2d(config.in_channels, b, 7, stride=2, padding=3, padding_mode=pm, bias=False),
            nn.BatchNorm2d(b),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        stages = []
        cin = b
        for i, n_blocks in enumerate(config.layers):
            width = b * 2**i
            blocks = []
            for j in range(n_blocks):
                blocks.append(_Bottleneck(cin, width, e, 2 if (j == 0 and i > 0) else 1, pm))
                cin = width * e
            stages.append(nn.Sequential(*blocks))
        self.encoder = nn.Sequential(*stem, *stages)
        up = []
        for w in config.decoder_widths:
            up += [nn.ConvTranspose2d(cin, w, 2, stride=2), nn.BatchNorm2d(w), nn.ReLU()]
            cin = w
        self.decoder = nn.Sequential(*up)
        self.out = nn.Conv2d(cin, config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.config.in_channels, like=self.out.weight)
        stride = 2 ** (1 + len(self.config.layers))  # stem conv, max-pool, one stride 2 per later stage
        deepest = (-(-x.shape[-2] // stride), -(-x.shape[-1] // stride))
        _check_deepest_level(self, x, deepest, "the ResNet encoder")
        h = self.decoder(self.encoder(x))
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out = self.out(h)
        return out + x[:, : out.shape[1]] if self.config.residual else out
