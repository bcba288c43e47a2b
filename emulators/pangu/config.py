"""Configuration of the Pangu-style 3D Earth-specific transformer and its presets.

Published dimensions (Bi et al., "Accurate medium-range global weather forecasting with 3D neural
networks", Nature 619, 2023; official pseudocode ``198808xc/Pangu-Weather/pseudocode.py``): embedding C = 192, depths (2, 6, 6, 2), heads
(6, 12, 12, 6), window (2, 6, 12) in (pressure level, latitude, longitude), patch (2, 4, 4),
13 pressure levels, 5 upper-air variables (Z, Q, T, U, V), 4 surface variables (MSLP, U10, V10, T2M)
and 3 constant masks (land-sea, soil type, topography) on the 0.25° 721 × 1440 grid:
64,220,169 parameters, of which 40,379,904 are Earth-specific bias tables.

Surface-only mode (``n_upper_vars = 0``): Pangu-lite on single-layer data, the 3-D Earth-specific
transformer with one vertical level (e.g. a shallow-water model's z, u, v without a ``level`` axis).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import EmulatorInputError, EmulatorKeyError
from ..validation import check_bool, check_int, check_real

__all__ = ["PANGU_PRESETS", "PanguConfig", "pangu_preset", "pangu_token_grids"]

_NORM_PLACEMENTS = ("post", "pre")


@dataclass
class PanguConfig:
    """Configuration of :class:`emulators.pangu.PanguModel` (defaults: the published ``paper`` model).

    grid: (n_lat, n_lon) of the input fields, e.g. (721, 1440) at 0.25°, (121, 240) at 1.5°,
        (32, 64) at 5.625°. The Earth-specific bias has one set per window type, and the number of
        window types depends on the grid, so a model is built for one grid.
    n_levels: pressure levels L of the upper-air input. n_upper_vars / n_surface_vars: V_up / V_sfc.
        ``n_upper_vars = 0`` is the surface-only mode (Pangu-lite on single-layer data: the 3-D
        Earth-specific transformer with one vertical level): the token volume is the surface level alone
        (Z = 1), there is no upper-air Conv3d / ConvTranspose3d, the windows are one level deep
        (``window_size[0]`` and ``patch_size[0]`` are not used) and ``n_levels`` only sets the level
        axis of the empty upper-air tensors. ``n_surface_vars >= 1`` always.
    n_masks: constant 2D fields concatenated to the surface input (0: none).
    patch_size: (levels, lat, lon) of a patch; the surface uses (lat, lon).
    embed_dim: C of stages 1 and 4 (stages 2 and 3 use 2C).
    depths / num_heads: blocks and attention heads of the four stages (layer1 … layer4).
    window_size: (pressure, lat, lon) window in tokens, the same in every stage.
    mlp_ratio: hidden width of the block MLPs / C.
    drop_path_rate: stochastic-depth rates ``linspace(0, rate, depths[0] + depths[1])``; layer1 and
        layer4 use the first ``depths[0]``, layer2 and layer3 the rest (the pseudocode's
        ``drop_list[6:]`` is a typo for ``drop_list[2:]``).
    norm_placement: ``"post"`` as in the official pseudocode, ``x + drop(norm(attn(x)))``, or
        ``"pre"`` (Swin-V1, physicsnemo), ``x + drop(attn(norm(x)))``.
    use_checkpoint: recompute each transformer block in the backward pass (activation checkpointing).
    residual: add the input state to the output, so the network predicts the increment ``x_{t+1} − x_t``
        (off in the published model, which predicts the state; on a slowly changing field the increment is
        far easier to learn at a small budget).
    """

    grid: tuple[int, int] = (721, 1440)
    n_levels: int = 13
    n_upper_vars: int = 5
    n_surface_vars: int = 4
    n_masks: int = 3
    patch_size: tuple[int, int, int] = (2, 4, 4)
    embed_dim: int = 192
    depths: tuple[int, int, int, int] = (2, 6, 6, 2)
    num_heads: tuple[int, int, int, int] = (6, 12, 12, 6)
    window_size: tuple[int, int, int] = (2, 6, 12)
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.2
    norm_placement: str = "post"
    use_checkpoint: bool = False
    residual: bool = False

    def __post_init__(self) -> None:
        for key, length in (
            ("grid", 2),
            ("patch_size", 3),
            ("depths", 4),
            ("num_heads", 4),
            ("window_size", 3),
        ):
            value = tuple(getattr(self, key))
            if len(value) != length or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise EmulatorInputError(
                    f"PanguConfig.{key} must be {length} integers, got {getattr(self, key)!r}"
                )
            object.__setattr__(self, key, value)
        for key in ("grid", "patch_size", "num_heads", "window_size"):
            if min(getattr(self, key)) < 1:
                raise EmulatorInputError(f"PanguConfig.{key} must be positive, got {getattr(self, key)!r}")
        if min(self.depths) < 0:
            raise EmulatorInputError(f"PanguConfig.depths must be non-negative, got {self.depths!r}")
        for key in ("n_levels", "n_upper_vars", "n_surface_vars", "embed_dim"):
            minimum = 0 if key == "n_upper_vars" else 1
            if key == "n_surface_vars" and self.n_upper_vars == 0 and _is_zero(self.n_surface_vars):
                raise EmulatorInputError(
                    "PanguConfig: n_upper_vars = 0 and n_surface_vars = 0, the model has no variable to "
                    "predict; the surface-only mode needs n_surface_vars >= 1 (level-less fields are "
                    "surface variables)"
                )
            setattr(self, key, check_int("PanguConfig", key, getattr(self, key), minimum=minimum))
        self.n_masks = check_int("PanguConfig", "n_masks", self.n_masks, minimum=0)
        self.mlp_ratio = check_real("PanguConfig", "mlp_ratio", self.mlp_ratio)
        self.drop_path_rate = check_real("PanguConfig", "drop_path_rate", self.drop_path_rate)
        check_bool("PanguConfig", "use_checkpoint", self.use_checkpoint)
        check_bool("PanguConfig", "residual", self.residual)
        dims = (self.embed_dim, 2 * self.embed_dim, 2 * self.embed_dim, self.embed_dim)
        for stage, (dim, heads) in enumerate(zip(dims, self.num_heads), start=1):
            if dim % heads:
                raise EmulatorInputError(
                    f"PanguConfig.num_heads[{stage - 1}]={heads} does not divide the stage-{stage} width {dim}"
                )
        if self.mlp_ratio <= 0:
            raise EmulatorInputError(f"PanguConfig.mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise EmulatorInputError(
                f"PanguConfig.drop_path_rate must be in [0, 1), got {self.drop_path_rate!r}"
            )
        if self.norm_placement not in _NORM_PLACEMENTS:
            raise EmulatorInputError(
                f"PanguConfig.norm_placement must be one of {_NORM_PLACEMENTS}, got {self.norm_placement!r}"
            )

    @property
    def surface_only(self) -> bool:
        """Whether this is the surface-only mode (``n_upper_vars == 0``, one vertical token level)."""
        return self.n_upper_vars == 0

    @property
    def effective_window_size(self) -> tuple[int, int, int]:
        """The attention window (levels, lat, lon) in tokens: ``window_size``, or ``(1, w_h, w_w)`` in the
        surface-only mode (Z = 1, so a deeper window would only attend to zero padding)."""
        return (1, *self.window_size[1:]) if self.surface_only else self.window_size


def _is_zero(value: Any) -> bool:
    """Whether ``value`` is the integer 0 (not ``False``)."""
    return not isinstance(value, bool) and isinstance(value, int) and value == 0


PANGU_PRESETS: dict[str, dict[str, Any]] = {
    # Published model (about 64.2 M parameters at 0.25°).
    "paper": {},
    # Pangu-Weather-Lite (README): patch 2 × 8 × 8 (44.6 M parameters at 0.25°).
    "lite": {"patch_size": (2, 8, 8)},
    # Tiny model for CPU tests and examples at 5.625° (32 × 64).
    "cpu": {
        "grid": (32, 64),
        "n_levels": 5,
        "embed_dim": 24,
        "depths": (2, 2, 2, 2),
        "num_heads": (2, 4, 4, 2),
        "window_size": (2, 4, 8),
        "drop_path_rate": 0.0,
    },
}


def pangu_preset(name: str, **overrides: Any) -> PanguConfig:
    """The :class:`PanguConfig` of preset ``name`` (``paper``, ``lite``, ``cpu``) with ``overrides`` applied."""
    if name not in PANGU_PRESETS:
        raise EmulatorKeyError(f"unknown Pangu preset {name!r}; known: {sorted(PANGU_PRESETS)}")
    valid = {f.name for f in dataclasses.fields(PanguConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise EmulatorKeyError(
            f"pangu_preset({name!r}): unknown config key(s) {unknown}; valid keys: {sorted(valid)}"
        )
    values = {**PANGU_PRESETS[name], **overrides}
    return PanguConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def pangu_token_grids(config: PanguConfig) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Token grids ``((Z, H1, W1), (Z, H2, W2))`` of stages 1/4 and 2/3 (before window padding).

    ``Z = ceil(L / p_z) + 1`` (upper-air patches plus the surface level; ``Z = 1`` in the surface-only
    mode ``n_upper_vars = 0``), ``H1 = ceil(n_lat / p_lat)``,
    ``W1 = ceil(n_lon / p_lon)``, ``H2 = ceil(H1 / 2)``, ``W2 = ceil(W1 / 2)``. Paper: (8, 181, 360) and
    (8, 91, 180).
    """
    pz, ph, pw = config.patch_size
    z = 1 if config.surface_only else math.ceil(config.n_levels / pz) + 1
    h1, w1 = math.ceil(config.grid[0] / ph), math.ceil(config.grid[1] / pw)
    return (z, h1, w1), (z, math.ceil(h1 / 2), math.ceil(w1 / 2))
