"""Pangu-style 3D Earth-specific transformer (importing this package registers model ``"pangu"``).

``PanguConfig(n_upper_vars=0)`` is the surface-only mode: Pangu-lite on single-layer data, the 3-D
Earth-specific transformer with one vertical level (level-less fields such as shallow-water z, u, v).
"""

from .attention import (
    MASK_VALUE,
    EarthAttention3D,
    EarthSpecificBlock,
    EarthSpecificLayer,
    earth_position_index,
    shifted_window_mask,
)
from .config import PANGU_PRESETS, PanguConfig, pangu_preset, pangu_token_grids
from .model import DownSample, PanguModel, PatchEmbedding, PatchRecovery, UpSample

__all__ = [
    "MASK_VALUE",
    "PANGU_PRESETS",
    "DownSample",
    "EarthAttention3D",
    "EarthSpecificBlock",
    "EarthSpecificLayer",
    "PanguConfig",
    "PanguModel",
    "PatchEmbedding",
    "PatchRecovery",
    "UpSample",
    "earth_position_index",
    "pangu_preset",
    "pangu_token_grids",
    "shifted_window_mask",
]
