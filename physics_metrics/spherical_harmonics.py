"""Spherical harmonic transform (scalar and vector) in torch, float64-exact on its grid.

Lives in :mod:`physics_metrics` (which imports only numpy/scipy/xarray/torch) so that physics
diagnostics (kinetic-energy spectra, vorticity for potential enstrophy) can use it; the simulator
re-exports it from ``chaosbench_py.simulate.spherical_harmonics``. Bad arguments raise
:class:`physics_metrics.errors.MetricInputError` (a ``ValueError``).

Why our own transform and not torch-harmonics
---------------------------------------------
torch-harmonics 0.9.x wheels pin torch versions other than the one this package supports, and
0.8.0 compiles a C++ extension at install time (~90 s) in every fresh environment. What the
shallow-water generator needs is small: Gauss–Legendre (or Clenshaw–Curtis) quadrature in
latitude, associated Legendre functions by a stable three-term recurrence computed once in
float64 with numpy/scipy, and an FFT in longitude. Written here it is exact to round-off on its
grid and testable against ``scipy.special.sph_harm_y``.

Conventions
-----------
* Grid: ``nlat`` latitudes ordered **north to south** (90 → −90, as in the canonical schema),
  ``nlon`` longitudes ``360·k/nlon`` degrees (0 → 360). ``grid="legendre-gauss"``: Gaussian
  latitudes (roots of P_nlat), no poles; ``grid="equiangular"``: ``θ_j = π j/(nlat−1)``, both
  poles included (the 1.5° 121 × 240 ERA5/ChaosBench grid), Clenshaw–Curtis weights.
* Spherical harmonics are orthonormal on the unit sphere with the Condon–Shortley phase, the
  same functions as ``scipy.special.sph_harm_y``::

      Y_lm(θ, λ) = P̄_lm(cos θ) e^{i m λ},   ∫ Y_lm Y*_l'm' dΩ = δ_ll' δ_mm'.

* A real field is ``f = Σ_l [c_l0 Y_l0 + 2 Re Σ_{m=1}^{min(l, mmax)} c_lm Y_lm]``; coefficients
  are complex tensors of shape ``(..., lmax + 1, mmax + 1)`` (degree ``l`` by order ``m ≥ 0``;
  entries with ``m > l`` are zero). ``lmax`` and ``mmax`` are the **largest** degree and order kept
  (inclusive; torch-harmonics' ``lmax`` counts modes instead).
* ``forward`` computes ``c_lm = ∫ f Y*_lm dΩ`` by quadrature: ``c_lm = (2π/nlon) Σ_j w_j P̄_lm(x_j)
  F_jm`` with ``F = rfft(f)``. It inverts ``inverse`` exactly when the quadrature integrates
  products of degree ``2·lmax``: ``lmax ≤ nlat − 1`` (Gauss) or ``lmax ≤ (nlat − 1)/2``
  (Clenshaw–Curtis), and ``mmax < nlon/2``. The defaults (``lmax = mmax ≈ (2 nlat − 1)/3`` on the
  Gaussian grid, ``(nlat − 1)/3`` equiangular, and ``≤ (nlon − 1)/3``) also make quadratic
  products alias-free, which the shallow-water model needs (T21 on 32 × 64, T40 on 121 × 240).
* Vector fields ``(u, v)`` (eastward, northward; on a sphere of radius ``radius``) relate to
  streamfunction ψ and velocity potential χ by ``u = −(1/a) ∂ψ/∂φ + (1/(a cos φ)) ∂χ/∂λ`` and
  ``v = (1/(a cos φ)) ∂ψ/∂λ + (1/a) ∂χ/∂φ``; vorticity ``ζ = ∇²ψ`` and divergence ``δ = ∇²χ``.
  The synthesis uses tables of ``dP̄_lm/dθ`` and ``m P̄_lm / sin θ`` (both regular at the poles);
  the analysis integrates by parts, ``ζ_lm = (1/a) ∫ (i m P̄_lm/sin θ · v − dP̄_lm/dθ · u) e^{−imλ} dΩ``
  and ``δ_lm = (1/a) ∫ (i m P̄_lm/sin θ · u + dP̄_lm/dθ · v) e^{−imλ} dΩ`` (standard spectral
  transform method, e.g. Durran, *Numerical Methods for Fluid Dynamics*, 2nd ed., §6.4).

Recurrences (Condon–Shortley phase, ``x = cos θ``, ``s = sin θ``)::

    P̄_00 = 1/√(4π),  P̄_mm = −√((2m+1)/(2m)) s P̄_{m−1,m−1},  P̄_{m+1,m} = √(2m+3) x P̄_mm,
    P̄_lm = √((4l²−1)/(l²−m²)) (x P̄_{l−1,m} − √(((l−1)²−m²)/(4(l−1)²−1)) P̄_{l−2,m}),
    dP̄_lm/dθ = l ε_{l+1,m} P̄_{l+1,m}/s − (l+1) ε_lm P̄_{l−1,m}/s  (m ≥ 1),   ε_lm = √((l²−m²)/(4l²−1)),
    dP̄_l0/dθ = √(l(l+1)) P̄_l1.

``P̄_lm / s`` for ``m ≥ 1`` obeys the same recurrence in ``l`` with the seed ``P̄_mm / s``, so it is
computed without dividing by ``s`` (finite at the poles).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from scipy.special import roots_legendre

from .errors import MetricInputError

logger = logging.getLogger(__name__)

__all__ = ["GRIDS", "SphericalHarmonicTransform", "clenshaw_curtis_weights", "legendre_tables"]

GRIDS = ("legendre-gauss", "equiangular")


def clenshaw_curtis_weights(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clenshaw–Curtis nodes and weights on ``[-1, 1]`` for ``n ≥ 2`` points including both ends.

    Nodes ``x_j = cos(π j/(n−1))`` (descending, ``j = 0 … n−1``); weights
    ``w_j = (c_j/N) [1 − Σ_{k=1}^{⌊N/2⌋} b_k cos(2kθ_j)/(4k²−1)]`` with ``N = n − 1``, ``c_0 = c_N = 1``,
    otherwise 2, ``b_k = 1`` for ``k = N/2`` else 2 (Trefethen, *Spectral Methods in MATLAB*, ``clencurt``).
    Exact for polynomials of degree ``≤ n − 1``. Returns ``(x, w)``, each of shape ``(n,)``.
    """
    if n < 2:
        raise MetricInputError(f"n: Clenshaw–Curtis needs at least 2 points, got {n}")
    big_n = n - 1
    theta = np.pi * np.arange(n) / big_n
    w = np.zeros(n)
    for j in range(n):
        acc = 1.0
        for k in range(1, big_n // 2 + 1):
            b = 1.0 if 2 * k == big_n else 2.0
            acc -= b * np.cos(2 * k * theta[j]) / (4 * k * k - 1)
        w[j] = (1.0 if j in (0, big_n) else 2.0) * acc / big_n
    return np.cos(theta), w


def legendre_tables(lmax: int, mmax: int, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal associated Legendre tables at colatitudes ``theta`` (radians), float64.

    Returns ``(p, dp, mps)``, each of shape ``(lmax + 1, mmax + 1, len(theta))``:
    ``p = P̄_lm(cos θ)``, ``dp = dP̄_lm/dθ``, ``mps = m P̄_lm(cos θ)/sin θ``; zero where ``m > l``.
    ``P̄_lm(cos θ) e^{imλ}`` equals ``scipy.special.sph_harm_y(l, m, θ, λ)``. Recurrences in the
    module docstring.
    """
    if lmax < 0 or mmax < 0 or mmax > lmax:
        raise MetricInputError(f"lmax, mmax: need 0 ≤ mmax ≤ lmax, got lmax={lmax}, mmax={mmax}")
    theta = np.asarray(theta, dtype=np.float64)
    x, s = np.cos(theta), np.sin(theta)
    big_l, big_m = lmax + 2, max(mmax, 1) + 1  # one extra degree for dP/dθ, order 1 for m = 0
    p = np.zeros((big_l, big_m, theta.size))
    p_over_s = np.zeros_like(p)  # P̄_lm / sin θ, for m ≥ 1
    c = 1.0 / math.sqrt(4.0 * math.pi)  # |P̄_mm| / s^m
    for m in range(big_m):
        if m > 0:
            c *= math.sqrt((2 * m + 1) / (2 * m))
        sign = -1.0 if m % 2 else 1.0
        for table, power in ((p, m), (p_over_s, m - 1)):
            if power < 0:
                continue
            table[m, m] = sign * c * s**power
            if m + 1 < big_l:
                table[m + 1, m] = math.sqrt(2 * m + 3) * x * table[m, m]
            for l in range(m + 2, big_l):
                a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
                b = math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
                table[l, m] = a * (x * table[l - 1, m] - b * table[l - 2, m])
    dp = np.zeros((lmax + 1, mmax + 1, theta.size))
    for l in range(lmax + 1):
        dp[l, 0] = math.sqrt(l * (l + 1)) * p[l, 1]
    for m in range(1, mmax + 1):
        for l in range(m, lmax + 1):
            eps_up = math.sqrt(((l + 1) ** 2 - m * m) / (4 * (l + 1) ** 2 - 1))
            eps = math.sqrt((l * l - m * m) / (4 * l * l - 1))
            dp[l, m] = l * eps_up * p_over_s[l + 1, m] - (l + 1) * eps * p_over_s[l - 1, m]
    mps = np.arange(mmax + 1)[None, :, None] * p_over_s[: lmax + 1, : mmax + 1]
    return p[: lmax + 1, : mmax + 1].copy(), dp, mps


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise MetricInputError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return int(value)


class SphericalHarmonicTransform:
    """Scalar and vector spherical harmonic transforms on a latitude–longitude grid (torch).

    Parameters: ``nlat``, ``nlon`` grid size; ``lmax``, ``mmax`` largest degree / order kept
    (inclusive; defaults alias-free for quadratic products, see module docstring); ``grid``
    ``"legendre-gauss"`` or ``"equiangular"`` (poles included); ``radius`` of the sphere (m, used by
    the Laplacian and the vector operators); ``dtype`` real dtype of grids (float64 default;
    coefficients use the matching complex dtype); ``device``.

    Attributes: ``lat`` (degrees, ``(nlat,)``, descending), ``lon`` (degrees, ``(nlon,)``),
    ``colatitude`` (radians), ``quad_weights`` (``(nlat,)``, ``Σ = 2``), ``area_weights``
    (``(nlat, nlon)``, ``Σ = 4π radius²``).
    Grids are ``(..., nlat, nlon)`` real tensors; coefficients ``(..., lmax+1, mmax+1)`` complex.
    """

    def __init__(
        self,
        nlat: int,
        nlon: int,
        lmax: int | None = None,
        mmax: int | None = None,
        grid: str = "legendre-gauss",
        *,
        radius: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device | None = None,
    ) -> None:
        nlat = _check_int("nlat", nlat, 2)
        nlon = _check_int("nlon", nlon, 2)
        if grid not in GRIDS:
            raise MetricInputError(f"grid: expected one of {GRIDS}, got {grid!r}")
        if grid == "equiangular" and nlat < 3:
            raise MetricInputError(f"nlat: the equiangular grid needs at least 3 latitudes, got {nlat}")
        if not (isinstance(radius, int | float) and math.isfinite(radius) and radius > 0):
            raise MetricInputError(f"radius: expected a positive finite number, got {radius!r}")
        if dtype not in (torch.float32, torch.float64):
            raise MetricInputError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
        if grid == "legendre-gauss":
            lmax_default = (2 * nlat - 1) // 3
        else:
            lmax_default = (nlat - 1) // 3
        mmax_default = (nlon - 1) // 3
        lmax = min(lmax_default, mmax_default) if lmax is None else _check_int("lmax", lmax, 0)
        mmax = min(lmax, mmax_default) if mmax is None else _check_int("mmax", mmax, 0)
        if mmax > lmax:
            raise MetricInputError(f"mmax: must not exceed lmax={lmax}, got {mmax}")
        if 2 * mmax >= nlon:
            raise MetricInputError(
                f"mmax: must be < nlon/2 = {nlon / 2} to be resolved in longitude, got {mmax}"
            )
        exact = nlat - 1 if grid == "legendre-gauss" else (nlat - 1) // 2
        if lmax > exact:
            raise MetricInputError(
                f"lmax: {lmax} exceeds {exact}, the largest degree the {grid} quadrature with nlat={nlat} "
                "transforms exactly"
            )
        self.nlat, self.nlon, self.lmax, self.mmax, self.grid = nlat, nlon, lmax, mmax, grid
        self.radius = float(radius)
        self.dtype = dtype
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.device = torch.device(device) if device is not None else torch.device("cpu")

        if grid == "legendre-gauss":
            x, w = roots_legendre(nlat)
            x, w = x[::-1].copy(), w[::-1].copy()  # north to south
            colat = np.arccos(x)
        else:
            x, w = clenshaw_curtis_weights(nlat)
            colat = np.pi * np.arange(nlat) / (nlat - 1)
        self.colatitude = colat
        self.lat = 90.0 - np.degrees(colat)
        if grid == "equiangular":
            self.lat = 90.0 - 180.0 * np.arange(nlat) / (nlat - 1)
        self.lon = 360.0 * np.arange(nlon) / nlon
        self.quad_weights = w
        self.area_weights = np.repeat((w * 2 * np.pi / nlon * self.radius**2)[:, None], nlon, axis=1)

        p, dp, mps = legendre_tables(lmax, mmax, colat)
        scale = w * 2 * np.pi / nlon
        t = dict(dtype=dtype, device=self.device)
        self._p = torch.as_tensor(p, **t)  # (L, M, J) synthesis
        self._dp = torch.as_tensor(dp, **t)
        self._mps = torch.as_tensor(mps, **t)
        self._pw = torch.as_tensor(p * scale, **t)  # analysis (quadrature folded in)
        self._dpw = torch.as_tensor(dp * scale, **t)
        self._mpsw = torch.as_tensor(mps * scale, **t)
        ell = np.arange(lmax + 1, dtype=np.float64)
        eig = -ell * (ell + 1) / self.radius**2
        inv = np.zeros_like(eig)
        inv[1:] = 1.0 / eig[1:]
        self.laplacian_eigenvalues = torch.as_tensor(eig, **t)  # (L,)
        self._inv_eig = torch.as_tensor(inv, **t)
        self._sinlat = torch.as_tensor(np.cos(colat), **t)
        logger.debug("SHT %s %dx%d lmax=%d mmax=%d", grid, nlat, nlon, lmax, mmax)

    # ------------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        return (
            f"SphericalHarmonicTransform(nlat={self.nlat}, nlon={self.nlon}, lmax={self.lmax}, "
            f"mmax={self.mmax}, grid={self.grid!r}, radius={self.radius})"
        )

    @property
    def coeff_shape(self) -> tuple[int, int]:
        """``(lmax + 1, mmax + 1)``, the trailing shape of coefficient tensors."""
        return (self.lmax + 1, self.mmax + 1)

    def sin_latitude(self) -> torch.Tensor:
        """``sin φ`` at the grid latitudes, shape ``(nlat, 1)`` (broadcasts over longitude)."""
        return self._sinlat[:, None]

    def _grid_in(self, f, name: str) -> torch.Tensor:
        f = torch.as_tensor(f)
        if f.ndim < 2 or tuple(f.shape[-2:]) != (self.nlat, self.nlon):
            raise MetricInputError(
                f"{name}: expected shape (..., {self.nlat}, {self.nlon}), got {tuple(f.shape)}"
            )
        if f.is_complex():
            raise MetricInputError(f"{name}: expected a real grid, got dtype {f.dtype}")
        return f.to(dtype=self.dtype, device=self.device)

    def _coeff_in(self, c, name: str) -> torch.Tensor:
        c = torch.as_tensor(c)
        if c.ndim < 2 or tuple(c.shape[-2:]) != self.coeff_shape:
            raise MetricInputError(
                f"{name}: expected shape (..., {self.lmax + 1}, {self.mmax + 1}), got {tuple(c.shape)}"
            )
        return c.to(dtype=self.cdtype, device=self.device)

    def _fft(self, f: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(f, dim=-1)[..., : self.mmax + 1]  # (..., J, M)

    def _ifft(self, g: torch.Tensor) -> torch.Tensor:
        pad = self.nlon // 2 + 1 - g.shape[-1]
        g = torch.nn.functional.pad(g, (0, pad))
        return torch.fft.irfft(g, n=self.nlon, dim=-1) * self.nlon

    @staticmethod
    def _analysis(fm: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``Σ_j table[l, m, j] fm[..., j, m]`` for complex ``fm`` and a real table → ``(..., L, M)``."""
        out = torch.einsum("...jmc,lmj->...lmc", torch.view_as_real(fm), table)
        return torch.view_as_complex(out.contiguous())

    @staticmethod
    def _synthesis(c: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """``Σ_l table[l, m, j] c[..., l, m]`` → ``(..., J, M)`` complex."""
        out = torch.einsum("...lmc,lmj->...jmc", torch.view_as_real(c.resolve_conj()), table)
        return torch.view_as_complex(out.contiguous())

    # ------------------------------------------------------------------ scalar transforms
    def forward(self, f) -> torch.Tensor:
        """Grid ``(..., nlat, nlon)`` → coefficients ``(..., lmax+1, mmax+1)``, ``c_lm = ∫ f Y*_lm dΩ``."""
        return self._analysis(self._fft(self._grid_in(f, "grid")), self._pw)

    def inverse(self, c) -> torch.Tensor:
        """Coefficients ``(..., lmax+1, mmax+1)`` → real grid ``(..., nlat, nlon)``.

        ``f = Σ_l [c_l0 Y_l0 + 2 Re Σ_{m≥1} c_lm Y_lm]``; the imaginary part of ``c_l0`` is ignored.
        """
        return self._ifft(self._synthesis(self._coeff_in(c, "coeffs"), self._p))

    def integrate(self, f) -> torch.Tensor:
        """Area integral ``∫ f dA`` (units of ``f`` × m² for ``radius`` in m) over the last two dims."""
        f = self._grid_in(f, "grid")
        w = torch.as_tensor(self.area_weights, dtype=self.dtype, device=self.device)
        return (f * w).sum(dim=(-2, -1))

    # ------------------------------------------------------------------ spectral operators
    def laplacian(self, c) -> torch.Tensor:
        """``∇²`` in spectral space: ``c_lm · (−l(l+1)/radius²)``."""
        c = self._coeff_in(c, "coeffs")
        return c * self.laplacian_eigenvalues[:, None]

    def inverse_laplacian(self, c) -> torch.Tensor:
        """``∇⁻²`` in spectral space: ``c_lm · (−radius²/(l(l+1)))``, the ``l = 0`` mode set to 0."""
        c = self._coeff_in(c, "coeffs")
        return c * self._inv_eig[:, None]

    def uv_from_streamfunction(self, psi, chi=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, v)`` grids ``(..., nlat, nlon)`` from streamfunction ψ and velocity potential χ coefficients.

        ``u = −(1/a) ∂ψ/∂φ + (1/(a cos φ)) ∂χ/∂λ``, ``v = (1/(a cos φ)) ∂ψ/∂λ + (1/a) ∂χ/∂φ``
        (``a = radius``; ``u`` eastward, ``v`` northward; with ``ψ = 0`` this is ``∇χ``).
        """
        psi = self._coeff_in(psi, "psi")
        chi = torch.zeros_like(psi) if chi is None else self._coeff_in(chi, "chi")
        # in colatitude θ: u = (1/a)[∂ψ/∂θ + (1/sinθ)∂χ/∂λ], v = (1/a)[(1/sinθ)∂ψ/∂λ − ∂χ/∂θ]
        um = self._synthesis(psi, self._dp) + 1j * self._synthesis(chi, self._mps)
        vm = 1j * self._synthesis(psi, self._mps) - self._synthesis(chi, self._dp)
        return self._ifft(um) / self.radius, self._ifft(vm) / self.radius

    def uv_from_vrtdiv(self, vrt, div) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, v)`` grids from vorticity and divergence coefficients (``ψ = ∇⁻²ζ``, ``χ = ∇⁻²δ``)."""
        return self.uv_from_streamfunction(self.inverse_laplacian(vrt), self.inverse_laplacian(div))

    def gradient(self, c) -> tuple[torch.Tensor, torch.Tensor]:
        """Eastward and northward components of ``∇f`` on the grid: ``((1/(a cos φ)) ∂f/∂λ, (1/a) ∂f/∂φ)``."""
        c = self._coeff_in(c, "coeffs")
        return self.uv_from_streamfunction(torch.zeros_like(c), c)

    def vrtdiv_from_uv(self, u, v) -> tuple[torch.Tensor, torch.Tensor]:
        """Vorticity and divergence coefficients ``(ζ_lm, δ_lm)`` of the vector field ``(u, v)`` (grids).

        ``ζ = (1/(a cos φ)) [∂v/∂λ − ∂(u cos φ)/∂φ]``, ``δ = (1/(a cos φ)) [∂u/∂λ + ∂(v cos φ)/∂φ]``,
        projected on ``Y_lm`` by integration by parts (module docstring).
        """
        um = self._fft(self._grid_in(u, "u"))
        vm = self._fft(self._grid_in(v, "v"))
        vrt = 1j * self._analysis(vm, self._mpsw) - self._analysis(um, self._dpw)
        div = 1j * self._analysis(um, self._mpsw) + self._analysis(vm, self._dpw)
        return vrt / self.radius, div / self.radius

    def truncate(self, f) -> torch.Tensor:
        """Project a grid on the resolved harmonics: ``inverse(forward(f))``."""
        return self.inverse(self.forward(f))
