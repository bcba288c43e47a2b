"""Spherical Fourier neural operator (SFNO, Bonev et al., ICML 2023, arXiv 2306.03838) for lat-lon grids.

Why our own spherical harmonic transform and not torch-harmonics
---------------------------------------------------------------
torch-harmonics 0.9.x wheels pin torch versions other than the one this package supports (0.9.3:
torch 2.14.x; 0.9.1 fails to import on torch 2.13 with an ABI error), 0.8.0 is an sdist that compiles
a C++ extension at every install, and neuraloperator's SFNO requires torch-harmonics (and breaks with
0.9.x). ``emulators`` may not import ``chaosbench_py`` (whose simulator has its own SHT), so this module
carries a compact scalar SHT in plain torch: quadrature in latitude + real FFT in longitude.

Transform (:class:`RealSHT`, :class:`InverseRealSHT`)
-----------------------------------------------------
Orthonormal spherical harmonics with the Condon–Shortley phase (as ``scipy.special.sph_harm_y``),
``Y_lm(θ, λ) = P̄_lm(cos θ) e^{imλ}``, ``∫ Y_lm Y*_l'm' dΩ = δ_ll' δ_mm'``. A real field is
``f = Σ_l [c_l0 Y_l0 + 2 Re Σ_{m≥1} c_lm Y_lm]``; coefficients are complex ``(..., lmax+1, mmax+1)``
(``lmax``, ``mmax`` the largest degree / order kept, inclusive; zero where ``m > l``).

* forward: ``c_lm = ∫ f Y*_lm dΩ ≈ 2π Σ_j w_j P̄_lm(cos θ_j) F_jm`` with ``F = rfft(f, norm="forward")``.
* inverse: ``F_jm = Σ_l c_lm P̄_lm(cos θ_j)``, ``f = irfft(F, n=nlon, norm="forward")``.

Grids (latitude north → south, longitude ``λ_k = 2πk/nlon`` from 0):

* ``"equiangular"``: ``θ_j = πj/(nlat−1)``, both poles (1.5° ERA5 121 × 240); Clenshaw–Curtis weights.
* ``"equiangular-nopole"``: ``θ_j = π(j+½)/nlat`` (cell centres, e.g. the 5.625° 32 × 64 WeatherBench
  grid); Fejér's first rule, ``w_j = (2/n)[1 − 2 Σ_{k=1}^{⌊n/2⌋} cos(2kθ_j)/(4k²−1)]`` (Waldvogel 2006).
* ``"legendre-gauss"``: Gauss–Legendre nodes and weights (Golub–Welsch eigenvalue method).

forward∘inverse is the identity on band-limited coefficients when the quadrature integrates degree
``2·lmax`` exactly: ``lmax ≤ nlat−1`` (Gauss), ``lmax ≤ (nlat−1)/2`` (Clenshaw–Curtis, Fejér), and
``mmax < nlon/2``. Those are the defaults (``mmax = min(lmax, ⌈nlon/2⌉−1)``). Legendre tables are
built in float64 by the standard three-term recurrence
``P̄_00 = 1/√(4π)``, ``P̄_mm = −√((2m+1)/(2m)) sin θ P̄_{m−1,m−1}``, ``P̄_{m+1,m} = √(2m+3) cos θ P̄_mm``,
``P̄_lm = √((4l²−1)/(l²−m²)) (cos θ P̄_{l−1,m} − √(((l−1)²−m²)/(4(l−1)²−1)) P̄_{l−2,m})``.

Model (:class:`SphericalFourierNeuralOperator`, small version of Bonev et al. / torch-harmonics'
example): encoder channel-MLP → ``n_layers`` blocks → decoder channel-MLP. Block::

    h = iSHT(W ⋆ SHT(z)) + W_in z        # spectral convolution + pointwise inner skip
    h = σ(norm(h))                        # instance norm (optional), GELU
    z = MLP(h) + W_out z                  # channel MLP, outer skip (identity or 1×1)

``W ⋆`` multiplies the coefficients by complex weights per degree ``l`` (``operator_type="degree"``:
``(in, out, lmax+1)``, shared over ``m``, the Driscoll–Healy/Funk–Hecke form that commutes with
rotations) or per ``(l, m)`` (``"degree-order"``). Both commute with longitude rotations, so the model
is equivariant to a roll by whole grid cells in longitude (to round-off). Cut relative to the
paper: no internal resampling (``scale_factor``) and no learned positional embedding; blocks run on
the input grid. The SHTs run in float32 (float64 for float64 input) under bf16 autocast.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import EmulatorInputError
from .registry import register_model
from .validation import check_bool, check_choice, check_int, check_int_tuple, check_real, check_tensor

logger = logging.getLogger(__name__)

__all__ = [
    "SHT_GRIDS",
    "InverseRealSHT",
    "RealSHT",
    "SFNOConfig",
    "SphericalFourierNeuralOperator",
    "SphericalSpectralConv",
    "colatitude_quadrature",
    "default_truncation",
    "legendre_table",
]

SHT_GRIDS = ("equiangular", "equiangular-nopole", "legendre-gauss")


def colatitude_quadrature(nlat: int, grid: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Colatitudes ``θ_j`` (radians, ascending = north → south) and weights ``w_j`` (``Σ w = 2``), float64.

    ``∫_0^π g(θ) sin θ dθ ≈ Σ_j w_j g(θ_j)``; grids and rules in the module docstring.
    """
    if not isinstance(nlat, int) or nlat < 2:
        raise EmulatorInputError(f"nlat: need an integer ≥ 2, got {nlat!r}")
    f64 = torch.float64
    if grid == "legendre-gauss":
        k = torch.arange(1, nlat, dtype=f64)
        beta = k / torch.sqrt(4 * k * k - 1)
        jacobi = torch.diag(beta, 1) + torch.diag(beta, -1)
        x, vec = torch.linalg.eigh(jacobi)
        w = 2 * vec[0] ** 2
        order = torch.argsort(x, descending=True)  # cos θ descending = θ ascending
        return torch.arccos(x[order].clamp(-1, 1)), w[order]
    if grid == "equiangular":
        big_n = nlat - 1
        theta = math.pi * torch.arange(nlat, dtype=f64) / big_n
        acc = torch.ones(nlat, dtype=f64)
        for k in range(1, big_n // 2 + 1):
            b = 1.0 if 2 * k == big_n else 2.0
            acc = acc - b * torch.cos(2 * k * theta) / (4 * k * k - 1)
        c = torch.full((nlat,), 2.0, dtype=f64)
        c[0] = c[-1] = 1.0
        return theta, c * acc / big_n
    if grid == "equiangular-nopole":
        theta = math.pi * (torch.arange(nlat, dtype=f64) + 0.5) / nlat
        acc = torch.ones(nlat, dtype=f64)
        for k in range(1, nlat // 2 + 1):
            acc = acc - 2 * torch.cos(2 * k * theta) / (4 * k * k - 1)
        return theta, 2.0 / nlat * acc
    raise EmulatorInputError(f"grid: expected one of {SHT_GRIDS}, got {grid!r}")


def legendre_table(lmax: int, mmax: int, theta: torch.Tensor) -> torch.Tensor:
    """``P̄_lm(cos θ)`` orthonormal with Condon–Shortley phase, shape ``(mmax+1, lmax+1, len(θ))``, float64.

    Indexed ``[m, l, j]``; zero where ``m > l``. Recurrence in the module docstring.
    """
    theta = theta.to(torch.float64)
    x, s = torch.cos(theta), torch.sin(theta)
    out = torch.zeros(mmax + 1, lmax + 1, theta.numel(), dtype=torch.float64)
    pmm = torch.full_like(x, 1.0 / math.sqrt(4 * math.pi))
    for m in range(mmax + 1):
        if m > 0:
            pmm = -math.sqrt((2 * m + 1) / (2 * m)) * s * pmm
        if m > lmax:
            break
        out[m, m] = pmm
        if m + 1 <= lmax:
            out[m, m + 1] = math.sqrt(2 * m + 3) * x * pmm
        for l in range(m + 2, lmax + 1):
            a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
            b = math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
            out[m, l] = a * (x * out[m, l - 1] - b * out[m, l - 2])
    return out


def default_truncation(nlat: int, nlon: int, grid: str) -> tuple[int, int]:
    """Largest ``(lmax, mmax)`` for which forward∘inverse is exact on the grid (module docstring)."""
    lmax = nlat - 1 if grid == "legendre-gauss" else (nlat - 1) // 2
    return lmax, min(lmax, (nlon + 1) // 2 - 1)


def _check_truncation(nlat: int, nlon: int, lmax: int | None, mmax: int | None, grid: str) -> tuple[int, int]:
    if grid not in SHT_GRIDS:
        raise EmulatorInputError(f"grid: expected one of {SHT_GRIDS}, got {grid!r}")
    if not isinstance(nlon, int) or nlon < 2:
        raise EmulatorInputError(f"nlon: need an integer ≥ 2, got {nlon!r}")
    d_l, d_m = default_truncation(nlat, nlon, grid)
    lmax = d_l if lmax is None else int(lmax)
    mmax = min(lmax, d_m) if mmax is None else int(mmax)
    if lmax < 0 or lmax > nlat - 1:
        raise EmulatorInputError(f"lmax: need 0 ≤ lmax ≤ nlat−1 = {nlat - 1}, got {lmax}")
    if mmax < 0 or mmax > lmax or 2 * mmax >= nlon:
        raise EmulatorInputError(
            f"mmax: need 0 ≤ mmax ≤ lmax and 2·mmax < nlon, got mmax={mmax} (lmax={lmax})"
        )
    return lmax, mmax


class RealSHT(nn.Module):
    """Forward scalar SHT: real ``(..., nlat, nlon)`` → complex ``(..., lmax+1, mmax+1)``.

    ``grid`` in :data:`SHT_GRIDS`; ``lmax``/``mmax`` default to :func:`default_truncation`; ``dtype``
    of the stored (weighted) Legendre table (float32 for models, float64 for exact checks); the
    transform computes in float64 for float64 input, else float32.
    """

    def __init__(
        self,
        nlat: int,
        nlon: int,
        lmax: int | None = None,
        mmax: int | None = None,
        grid: str = "equiangular",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.nlat, self.nlon, self.grid = nlat, nlon, grid
        self.lmax, self.mmax = _check_truncation(nlat, nlon, lmax, mmax, grid)
        theta, w = colatitude_quadrature(nlat, grid)
        table = legendre_table(self.lmax, self.mmax, theta) * (2 * math.pi * w)
        self.register_buffer("weighted_legendre", table.to(dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.nlat, self.nlon):
            raise EmulatorInputError(
                f"x: expected trailing grid ({self.nlat}, {self.nlon}), got {tuple(x.shape[-2:])}"
            )
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        table = self.weighted_legendre.to(work)
        fm = torch.fft.rfft(x.to(work), dim=-1, norm="forward")[..., : self.mmax + 1]
        # c[..., l, m] = Σ_j table[m, l, j] F[..., j, m]
        re = torch.einsum("...jm,mlj->...lm", fm.real, table)
        im = torch.einsum("...jm,mlj->...lm", fm.imag, table)
        return torch.complex(re, im)


class InverseRealSHT(nn.Module):
    """Inverse scalar SHT: complex ``(..., lmax+1, mmax+1)`` → real ``(..., nlat, nlon)``."""

    def __init__(
        self,
        nlat: int,
        nlon: int,
        lmax: int | None = None,
        mmax: int | None = None,
        grid: str = "equiangular",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.nlat, self.nlon, self.grid = nlat, nlon, grid
        self.lmax, self.mmax = _check_truncation(nlat, nlon, lmax, mmax, grid)
        theta, _ = colatitude_quadrature(nlat, grid)
        self.register_buffer(
            "legendre", legendre_table(self.lmax, self.mmax, theta).to(dtype), persistent=False
        )

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        if c.shape[-2:] != (self.lmax + 1, self.mmax + 1):
            raise EmulatorInputError(
                f"c: expected trailing (lmax+1, mmax+1) = ({self.lmax + 1}, {self.mmax + 1}), got {tuple(c.shape[-2:])}"
            )
        work = torch.float64 if c.dtype == torch.complex128 else torch.float32
        table = self.legendre.to(work)
        re = torch.einsum("...lm,mlj->...jm", c.real.to(table.dtype), table)
        im = torch.einsum("...lm,mlj->...jm", c.imag.to(table.dtype), table)
        fm = torch.complex(re, im)
        return torch.fft.irfft(fm, n=self.nlon, dim=-1, norm="forward")


class SphericalSpectralConv(nn.Module):
    """``x → iSHT(W ⋆ SHT(x))`` with complex weights ``weight_real``/``weight_imag``.

    Shapes: weights ``(in, out, lmax+1)`` (``operator_type="degree"``) or ``(in, out, lmax+1, mmax+1)``
    (``"degree-order"``), init ``N(0, 1/(in+out))`` each; input ``(B, in, nlat, nlon)`` → ``(B, out, nlat, nlon)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        nlat: int,
        nlon: int,
        lmax: int | None = None,
        mmax: int | None = None,
        grid: str = "equiangular",
        operator_type: str = "degree",
    ):
        super().__init__()
        if operator_type not in ("degree", "degree-order"):
            raise EmulatorInputError(
                f"operator_type: expected 'degree' or 'degree-order', got {operator_type!r}"
            )
        self.operator_type = operator_type
        self.sht = RealSHT(nlat, nlon, lmax, mmax, grid)
        self.isht = InverseRealSHT(nlat, nlon, self.sht.lmax, self.sht.mmax, grid)
        modes = (self.sht.lmax + 1,) if operator_type == "degree" else (self.sht.lmax + 1, self.sht.mmax + 1)
        std = (1.0 / (in_channels + out_channels)) ** 0.5
        self.weight_real = nn.Parameter(torch.randn(in_channels, out_channels, *modes) * std)
        self.weight_imag = nn.Parameter(torch.randn(in_channels, out_channels, *modes) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_dtype = x.dtype
        work = torch.float64 if in_dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            c = self.sht(x.to(work))
            w = torch.complex(self.weight_real.to(work), self.weight_imag.to(work))
            if self.operator_type == "degree":
                y = torch.einsum("bilm,iol->bolm", c, w)
            else:
                y = torch.einsum("bilm,iolm->bolm", c, w)
            out = self.isht(y)
        return out.to(in_dtype)


@dataclass
class SFNOConfig:
    """Configuration of :class:`SphericalFourierNeuralOperator` (plain values, checkpoint-safe).

    ``img_size``: ``(nlat, nlon)``; ``grid``: one of :data:`SHT_GRIDS`; ``lmax``/``mmax``: spectral
    truncation (``None`` = exact default, see module docstring); ``in_channels``/``out_channels``;
    ``embed_dim``: width of the blocks; ``n_layers``: blocks; ``encoder_hidden``/``decoder_hidden``:
    hidden width of the encoder/decoder MLPs (``None`` = ``embed_dim``); ``use_mlp``, ``mlp_ratio``:
    channel MLP inside each block; ``normalization``: ``"none"`` or ``"instance"``;
    ``operator_type``: ``"degree"`` or ``"degree-order"``; ``outer_skip``: ``"identity"``, ``"linear"``
    or ``"none"``; ``residual``: add the state (the first ``out_channels`` inputs; constant fields follow it) to the output.
    """

    img_size: tuple = (32, 64)
    grid: str = "equiangular-nopole"
    lmax: int | None = None
    mmax: int | None = None
    in_channels: int = 3
    out_channels: int = 3
    embed_dim: int = 32
    n_layers: int = 4
    encoder_hidden: int | None = None
    decoder_hidden: int | None = None
    use_mlp: bool = True
    mlp_ratio: float = 2.0
    normalization: str = "none"
    operator_type: str = "degree"
    outer_skip: str = "identity"
    residual: bool = False

    def __post_init__(self) -> None:
        own = "SFNOConfig"
        self.img_size = check_int_tuple(own, "img_size", self.img_size, length=2, minimum=2)
        check_choice(own, "grid", self.grid, SHT_GRIDS)
        for key in ("lmax", "mmax", "encoder_hidden", "decoder_hidden"):
            value = getattr(self, key)
            if value is not None:
                setattr(self, key, check_int(own, key, value, minimum=0 if key in ("lmax", "mmax") else 1))
        for key in ("in_channels", "out_channels", "embed_dim", "n_layers"):
            setattr(self, key, check_int(own, key, getattr(self, key)))
        self.mlp_ratio = check_real(own, "mlp_ratio", self.mlp_ratio, above=0)
        check_choice(own, "normalization", self.normalization, ("none", "instance"))
        check_choice(own, "operator_type", self.operator_type, ("degree", "degree-order"))
        check_choice(own, "outer_skip", self.outer_skip, ("identity", "linear", "none"))
        for key in ("use_mlp", "residual"):
            check_bool(own, key, getattr(self, key))
        if self.residual and self.out_channels > self.in_channels:
            raise EmulatorInputError(
                f"{own}.residual needs out_channels <= in_channels (the first out_channels inputs are the state), "
                f"got {self.in_channels} and {self.out_channels}"
            )
        nlat, nlon = self.img_size
        try:
            _check_truncation(nlat, nlon, self.lmax, self.mmax, self.grid)
        except EmulatorInputError as exc:
            raise EmulatorInputError(
                f"{own}: {exc} for img_size {self.img_size} on the {self.grid!r} grid"
            ) from None


class _SFNOBlock(nn.Module):
    def __init__(self, cfg: SFNOConfig, nlat: int, nlon: int):
        super().__init__()
        e = cfg.embed_dim
        self.spectral = SphericalSpectralConv(
            e, e, nlat, nlon, cfg.lmax, cfg.mmax, cfg.grid, cfg.operator_type
        )
        self.inner_skip = nn.Conv2d(e, e, 1)
        self.norm = nn.InstanceNorm2d(e, affine=True) if cfg.normalization == "instance" else nn.Identity()
        if cfg.use_mlp:
            hidden = max(1, round(cfg.mlp_ratio * e))
            self.mlp = nn.Sequential(nn.Conv2d(e, hidden, 1), nn.GELU(), nn.Conv2d(hidden, e, 1))
        else:
            self.mlp = nn.Identity()
        self.outer = cfg.outer_skip
        self.outer_skip = nn.Conv2d(e, e, 1) if cfg.outer_skip == "linear" else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.spectral(z) + self.inner_skip(z)
        h = F.gelu(self.norm(h))
        h = self.mlp(h)
        if self.outer == "identity":
            h = h + z
        elif self.outer_skip is not None:
            h = h + self.outer_skip(z)
        return h


@register_model("sfno", SFNOConfig)
class SphericalFourierNeuralOperator(nn.Module):
    """Spherical FNO on an ``(nlat, nlon)`` lat-lon grid; module docstring for the layout.

    ``forward(x)``: ``(batch, in_channels, nlat, nlon)`` → ``(batch, out_channels, nlat, nlon)``.
    """

    def __init__(self, config: SFNOConfig):
        super().__init__()
        self.config = config
        config.__post_init__()  # re-validate: the fields may have been changed after construction
        nlat, nlon = config.img_size
        self.nlat, self.nlon = nlat, nlon
        e = config.embed_dim
        enc_h = config.encoder_hidden or e
        dec_h = config.decoder_hidden or e
        self.encoder = nn.Sequential(
            nn.Conv2d(config.in_channels, enc_h, 1), nn.GELU(), nn.Conv2d(enc_h, e, 1)
        )
        self.blocks = nn.ModuleList(_SFNOBlock(config, nlat, nlon) for _ in range(config.n_layers))
        self.decoder = nn.Sequential(
            nn.Conv2d(e, dec_h, 1), nn.GELU(), nn.Conv2d(dec_h, config.out_channels, 1)
        )
        self.lmax, self.mmax = _check_truncation(nlat, nlon, config.lmax, config.mmax, config.grid)

    def fsdp_units(self) -> list[nn.Module]:
        """The spherical Fourier blocks: what FSDP shards one by one (``train.strategy: fsdp``)."""
        return list(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        check_tensor(
            "x",
            x,
            ("batch", cfg.in_channels, self.nlat, self.nlon),
            like=self.encoder[0].weight,
            axes=("batch", "channels", "latitudes", "longitudes"),
        )
        z = self.encoder(x)
        for block in self.blocks:
            z = block(z)
        out = self.decoder(z)
        return out + x[:, : out.shape[1]] if cfg.residual else out
