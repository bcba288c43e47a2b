"""Shallow-water equations on the rotating sphere: an embedded, download-free weather-like dataset.

Model
-----
Vorticity–divergence form (e.g. Williamson et al. 1992, J. Comput. Phys. 102, eqs. 2–4), with
absolute vorticity ``η = ζ + f``, ``f = 2Ω sin φ``, geopotential ``Φ = g h`` and kinetic energy
``K = (u² + v²)/2``::

    ∂ζ/∂t = −∇·(η V)
    ∂δ/∂t =  k·∇×(η V) − ∇²(Φ + K)
    ∂Φ/∂t = −∇·(Φ V)

solved by the spectral transform method on :class:`SphericalHarmonicTransform` (products on the
grid, derivatives in spectral space, triangular truncation at ``lmax``; alias-free defaults).
Time stepping: classical RK4 on ``(Φ, ζ, δ)`` coefficients, followed each step by implicit
hyperdiffusion applied as an exact integrating factor
``exp(−dt/τ · (l(l+1)/(lmax(lmax+1)))^p)`` to all three fields (``p = hyperdiffusion_order``,
default 4 i.e. ∇⁸; ``τ`` = e-folding time at the truncation degree, default 3 h). The ``l = 0``
mode of Φ has no tendency and no damping, so total mass ``∫ h dA`` is conserved to round-off.

Initial conditions
------------------
* ``"random"``: random non-divergent flow (seeded numpy ``default_rng``) whose vorticity has a
  Gaussian spectral envelope around degree ``peak_wavenumber``, scaled to an area-rms wind of
  ``rms_wind`` m/s; the height is in **nonlinear balance**: ``∇²(Φ + K) = k·∇×(η V)`` (so δ = 0 and
  ∂δ/∂t = 0 at t = 0), with mean depth ``mean_depth``.
* ``"galewsky"`` / ``"galewsky_unperturbed"``: the barotropically unstable mid-latitude jet of
  Galewsky, Scott & Polvani (2004, Tellus A 56, 429–440): ``u = u_max/e_n · exp(1/((φ−φ0)(φ−φ1)))``
  for ``φ0 < φ < φ1`` (``u_max = 80`` m/s, ``φ0 = π/7``, ``φ1 = π/2 − φ0``,
  ``e_n = exp(−4/(φ1−φ0)²)``), height in gradient balance — here the same nonlinear balance, solved
  spectrally for the truncated jet so that the unperturbed jet is a discrete steady state — with
  global-mean depth ``mean_depth``; ``"galewsky"`` adds their bump
  ``ĥ cos φ exp(−(λ/α)²) exp(−((φ2−φ)/β)²)``, ``ĥ = 120`` m, ``φ2 = π/4``, ``α = 1/3``, ``β = 1/15``,
  ``λ ∈ (−π, π]``.

Grids: ``"legendre-gauss"`` (default) or ``"equiangular"`` with poles; the 1.5° 121 × 240 grid of
ERA5/ChaosBench is computed **directly on the equiangular grid** (Clenshaw–Curtis quadrature,
default truncation T40), no interpolation.

Output (canonical gridded-state schema): ``xr.Dataset`` with dims ``([member,] time, latitude,
longitude)``, latitude 90 → −90, longitude 0 → 360, variables ``z`` (geopotential ``g h``,
m² s⁻²), ``u``, ``v`` (m s⁻¹), ``vo`` (relative vorticity, s⁻¹), time as datetime64 from
``2000-01-01T00:00`` every ``output_every · dt`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import InputError, NonFiniteError
from .spherical_harmonics import GRIDS, SphericalHarmonicTransform

logger = logging.getLogger(__name__)

__all__ = [
    "INITIAL_CONDITIONS",
    "ShallowWaterSolver",
    "galewsky_height_profile",
    "generate_shallow_water",
]

INITIAL_CONDITIONS = ("random", "galewsky", "galewsky_unperturbed")
EPOCH = np.datetime64("2000-01-01T00:00:00", "ns")
# Galewsky et al. (2004) constants
_GALEWSKY = dict(u_max=80.0, phi0=math.pi / 7, phi1=math.pi / 2 - math.pi / 7, h_hat=120.0)
_GALEWSKY.update(phi2=math.pi / 4, alpha=1.0 / 3.0, beta=1.0 / 15.0)


def _positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InputError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _galewsky_u(phi: np.ndarray) -> np.ndarray:
    """Galewsky jet zonal wind (m/s) at latitudes ``phi`` (radians)."""
    p0, p1, umax = _GALEWSKY["phi0"], _GALEWSKY["phi1"], _GALEWSKY["u_max"]
    e_n = math.exp(-4.0 / (p1 - p0) ** 2)
    phi = np.asarray(phi, dtype=np.float64)
    inside = (phi > p0) & (phi < p1)
    out = np.zeros_like(phi)
    d = (phi[inside] - p0) * (phi[inside] - p1)
    out[inside] = umax / e_n * np.exp(1.0 / d)
    return out


def galewsky_height_profile(
    lat_deg,
    *,
    radius: float = 6.37122e6,
    omega: float = 7.292e-5,
    gravity: float = 9.80616,
    mean_depth: float = 1.0e4,
    n_quad: int = 20001,
) -> np.ndarray:
    """Balanced height ``h(φ)`` (m) of the unperturbed Galewsky jet at latitudes ``lat_deg`` (degrees).

    ``g h(φ) = g h0 − ∫_{−π/2}^{φ} a u(φ') [f(φ') + tan(φ') u(φ')/a] dφ'`` (Galewsky et al. 2004,
    eq. 3) by the trapezoidal rule on ``n_quad`` points, ``h0`` chosen so the area mean of ``h``
    equals ``mean_depth``. A reference independent of the spectral balance used by the model.
    """
    phi = np.linspace(-np.pi / 2, np.pi / 2, n_quad)
    u = _galewsky_u(phi)
    integrand = radius * u * (2 * omega * np.sin(phi) + np.tan(np.clip(phi, -1.5, 1.5)) * u / radius)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(phi))])
    h = -cum / gravity
    w = np.cos(phi)
    mean = np.sum(0.5 * (h[1:] * w[1:] + h[:-1] * w[:-1]) * np.diff(phi)) / 2.0
    return np.interp(np.radians(np.asarray(lat_deg, dtype=np.float64)), phi, h - mean + mean_depth)


class ShallowWaterSolver:
    """Spectral shallow-water model on the rotating sphere (state in spectral space, batched).

    State: complex tensor ``(..., 3, lmax+1, mmax+1)`` holding the coefficients of
    ``(Φ [m² s⁻²], ζ [s⁻¹], δ [s⁻¹])``. Parameters: grid as in :class:`SphericalHarmonicTransform`;
    ``radius`` (m, default 6.37122e6), ``omega`` (s⁻¹, 7.292e-5), ``gravity`` (m s⁻², 9.80616),
    ``mean_depth`` (m, 1e4), ``hyperdiffusion_order`` ``p`` (∇^{2p}; 0 disables),
    ``hyperdiffusion_time`` ``τ`` (s, e-folding time at degree lmax).
    """

    def __init__(
        self,
        nlat: int,
        nlon: int,
        *,
        grid: str = "legendre-gauss",
        lmax: int | None = None,
        mmax: int | None = None,
        radius: float = 6.37122e6,
        omega: float = 7.292e-5,
        gravity: float = 9.80616,
        mean_depth: float = 1.0e4,
        hyperdiffusion_order: int = 4,
        hyperdiffusion_time: float = 3 * 3600.0,
        device: str | torch.device | None = None,
    ) -> None:
        self.radius = _positive("radius", radius)
        if isinstance(omega, bool) or not isinstance(omega, int | float) or not math.isfinite(omega):
            raise InputError(f"omega: expected a finite number, got {omega!r}")
        self.omega = float(omega)
        self.gravity = _positive("gravity", gravity)
        self.mean_depth = _positive("mean_depth", mean_depth)
        if (
            isinstance(hyperdiffusion_order, bool)
            or not isinstance(hyperdiffusion_order, int)
            or hyperdiffusion_order < 0
        ):
            raise InputError(f"hyperdiffusion_order: expected an integer ≥ 0, got {hyperdiffusion_order!r}")
        self.hyperdiffusion_order = hyperdiffusion_order
        self.hyperdiffusion_time = _positive("hyperdiffusion_time", hyperdiffusion_time)
        self.sht = SphericalHarmonicTransform(nlat, nlon, lmax, mmax, grid, radius=self.radius, device=device)
        s = self.sht
        self.coriolis = 2.0 * self.omega * s.sin_latitude()  # (nlat, 1)
        ell = torch.arange(s.lmax + 1, dtype=torch.float64, device=s.device)
        norm = max(s.lmax * (s.lmax + 1), 1)
        self._diff_shape = (
            (ell * (ell + 1) / norm) ** self.hyperdiffusion_order if self.hyperdiffusion_order else None
        )

    # ------------------------------------------------------------------ dynamics
    def tendency(self, state: torch.Tensor) -> torch.Tensor:
        """Time derivative of the spectral state ``(..., 3, L, M)`` (equations in the module docstring)."""
        s = self.sht
        phi_c, vrt_c, div_c = state.unbind(-3)
        u, v = s.uv_from_vrtdiv(vrt_c, div_c)
        eta = s.inverse(vrt_c) + self.coriolis
        phi = s.inverse(phi_c)
        curl_eta, div_eta = s.vrtdiv_from_uv(eta * u, eta * v)
        _, div_phi = s.vrtdiv_from_uv(phi * u, phi * v)
        energy = s.forward(phi + 0.5 * (u * u + v * v))
        return torch.stack([-div_phi, -div_eta, curl_eta - s.laplacian(energy)], dim=-3)

    def diffusion_factor(self, dt: float) -> torch.Tensor | None:
        """Hyperdiffusion integrating factor ``exp(−dt/τ (l(l+1)/(lmax(lmax+1)))^p)``, shape ``(L, 1)``."""
        if self._diff_shape is None:
            return None
        return torch.exp(-dt / self.hyperdiffusion_time * self._diff_shape)[:, None]

    def step(self, state: torch.Tensor, dt: float) -> torch.Tensor:
        """One RK4 step of length ``dt`` (s) followed by the hyperdiffusion factor."""
        k1 = self.tendency(state)
        k2 = self.tendency(state + 0.5 * dt * k1)
        k3 = self.tendency(state + 0.5 * dt * k2)
        k4 = self.tendency(state + dt * k3)
        new = state + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        factor = self.diffusion_factor(dt)
        return new if factor is None else new * factor.to(new.dtype)

    # ------------------------------------------------------------------ grid <-> spectral
    def to_grid(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        """Grids ``z`` (Φ), ``u``, ``v``, ``vo`` (ζ), ``div`` (δ), each ``(..., nlat, nlon)``."""
        s = self.sht
        phi_c, vrt_c, div_c = state.unbind(-3)
        u, v = s.uv_from_vrtdiv(vrt_c, div_c)
        return {"z": s.inverse(phi_c), "u": u, "v": v, "vo": s.inverse(vrt_c), "div": s.inverse(div_c)}

    def balanced_state(
        self, u: torch.Tensor, v: torch.Tensor, phi_anomaly: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Spectral state for winds ``(u, v)`` (grids) with Φ in nonlinear balance and mean depth ``mean_depth``.

        ``Φ = g H + ∇⁻²[k·∇×(η V)] − K`` (its ``l = 0`` mode replaced by ``g H √(4π)``), so that
        ``∂δ/∂t = 0`` when ``δ = 0``; ``phi_anomaly`` (grid, m² s⁻², mean removed) is added afterwards.
        """
        s = self.sht
        vrt_c, div_c = s.vrtdiv_from_uv(u, v)
        u_r, v_r = s.uv_from_vrtdiv(vrt_c, div_c)  # the resolved wind
        eta = s.inverse(vrt_c) + self.coriolis
        curl_eta, _ = s.vrtdiv_from_uv(eta * u_r, eta * v_r)
        phi_c = s.inverse_laplacian(curl_eta) - s.forward(0.5 * (u_r * u_r + v_r * v_r))
        if phi_anomaly is not None:
            pa = s.forward(phi_anomaly)
            pa[..., 0, 0] = 0
            phi_c = phi_c + pa
        phi_c[..., 0, 0] = self.gravity * self.mean_depth * math.sqrt(4 * math.pi)
        return torch.stack([phi_c, vrt_c, div_c], dim=-3)

    def invariants(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        """Integral invariants of the state (batched over leading dims), per unit density.

        ``mass = ∫ h dA`` (m³); ``energy = ∫ (½ h |V|² + ½ g h²) dA`` (m⁵ s⁻²);
        ``potential_enstrophy = ∫ (ζ + f)² / (2h) dA`` (m s⁻²), with ``h = Φ/g``.
        """
        g = self.to_grid(state)
        h = g["z"] / self.gravity
        s = self.sht
        ke = 0.5 * (g["u"] ** 2 + g["v"] ** 2)
        return {
            "mass": s.integrate(h),
            "energy": s.integrate(h * ke + 0.5 * self.gravity * h * h),
            "potential_enstrophy": s.integrate((g["vo"] + self.coriolis) ** 2 / (2 * h)),
        }

    # ------------------------------------------------------------------ initial conditions
    def random_state(
        self, n_members: int, seed: int, *, rms_wind: float = 20.0, peak_wavenumber: int = 8
    ) -> torch.Tensor:
        """Random balanced states ``(n_members, 3, L, M)`` (module docstring), from ``numpy.random.default_rng(seed)``."""
        s = self.sht
        rng = np.random.default_rng(seed)
        big_l, big_m = s.coeff_shape
        ell = np.arange(big_l)[:, None]
        em = np.arange(big_m)[None, :]
        width = max(peak_wavenumber / 2.0, 1.0)
        envelope = np.exp(-0.5 * ((ell - peak_wavenumber) / width) ** 2) * (em <= ell) * (ell > 0)
        z = rng.standard_normal((n_members, big_l, big_m)) + 1j * rng.standard_normal(
            (n_members, big_l, big_m)
        )
        z[..., 0] = z[..., 0].real * math.sqrt(2.0)
        vrt_c = torch.as_tensor(z * envelope, dtype=s.cdtype, device=s.device)
        u, v = s.uv_from_vrtdiv(vrt_c, torch.zeros_like(vrt_c))
        area = 4 * math.pi * s.radius**2
        rms = torch.sqrt(s.integrate(u * u + v * v) / area)[:, None, None]
        return self.balanced_state(u * rms_wind / rms, v * rms_wind / rms)

    def galewsky_state(self, perturbed: bool = True, n_members: int = 1) -> torch.Tensor:
        """Galewsky et al. (2004) jet ``(n_members, 3, L, M)``, with or without the height bump."""
        s = self.sht
        lat = np.radians(s.lat)[:, None]
        u = np.repeat(_galewsky_u(lat), s.nlon, axis=1)
        ut = torch.as_tensor(u, dtype=s.dtype, device=s.device)
        bump = None
        if perturbed:
            lam = np.radians(s.lon)[None, :]
            lam = np.where(lam > np.pi, lam - 2 * np.pi, lam)
            p = _GALEWSKY
            h = (
                p["h_hat"]
                * np.cos(lat)
                * np.exp(-((lam / p["alpha"]) ** 2))
                * np.exp(-(((p["phi2"] - lat) / p["beta"]) ** 2))
            )
            bump = torch.as_tensor(self.gravity * h, dtype=s.dtype, device=s.device)
        state = self.balanced_state(ut, torch.zeros_like(ut), bump)
        return state.expand(n_members, *state.shape).clone()

    def default_dt(self, max_wind: float = 100.0) -> float:
        """A stable RK4 step (s): a divisor of one hour below ``1.4/ω_max`` with
        ``ω_max = (√(g H) + max_wind) √(lmax(lmax+1)) / a`` (fastest gravity wave plus advection)."""
        s = self.sht
        omega_max = (math.sqrt(self.gravity * self.mean_depth) + max_wind) * math.sqrt(
            s.lmax * (s.lmax + 1) or 2
        )
        limit = 1.4 * self.radius / omega_max
        for dt in (
            3600,
            1800,
            1200,
            900,
            720,
            600,
            450,
            400,
            360,
            300,
            240,
            200,
            180,
            150,
            120,
            100,
            90,
            75,
            60,
        ):
            if dt <= limit:
                return float(dt)
        return float(max(1, int(limit)))


def _as_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return int(value)


def generate_shallow_water(
    nlat: int = 32,
    nlon: int = 64,
    n_steps: int = 384,
    output_every: int = 24,
    dt: float | None = None,
    initial_condition: str = "random",
    seed: int = 0,
    *,
    grid: str = "legendre-gauss",
    n_members: int | None = None,
    lmax: int | None = None,
    mmax: int | None = None,
    radius: float = 6.37122e6,
    omega: float = 7.292e-5,
    gravity: float = 9.80616,
    mean_depth: float = 1.0e4,
    hyperdiffusion_order: int = 4,
    hyperdiffusion_time: float = 3 * 3600.0,
    rms_wind: float = 20.0,
    peak_wavenumber: int = 8,
    progress: bool = False,
    num_threads: int | None = 1,
    device: str | torch.device | None = None,
) -> xr.Dataset:
    """Integrate the shallow-water equations and return the trajectory in the canonical schema.

    Runs ``n_steps`` RK4 steps of ``dt`` seconds (default: :meth:`ShallowWaterSolver.default_dt`,
    900 s at 32 × 64) and stores the initial state and every ``output_every``-th state:
    ``n_steps // output_every + 1`` times. With the defaults at 32 × 64: 4 days, 6-hourly.
    ``initial_condition`` is one of :data:`INITIAL_CONDITIONS` (module docstring); ``seed`` seeds
    the random initial condition (the Galewsky states are deterministic). ``n_members=None`` gives
    dims ``(time, latitude, longitude)``; an integer adds a leading ``member`` dim (members are
    integrated together as one batch; member ``k`` of a random run is independent of the others).
    The 121 × 240 ERA5 grid: pass ``grid="equiangular"``. Raises ``ValueError`` naming the bad
    argument, ``FloatingPointError`` if the run blows up (reduce ``dt``).

    ``num_threads``: torch intra-op threads during the run (restored afterwards; ``None`` leaves
    torch's setting). The transforms are small, so one thread is the default: 96 steps at 32 × 64
    took 0.29 s with 1 thread and 11–16 s with 2 threads on a 2-core machine busy with other work.
    """
    n_steps = _as_int("n_steps", n_steps, 0)
    output_every = _as_int("output_every", output_every, 1)
    seed = _as_int("seed", seed, 0)
    if initial_condition not in INITIAL_CONDITIONS:
        raise InputError(
            f"initial_condition: expected one of {INITIAL_CONDITIONS}, got {initial_condition!r}"
        )
    if grid not in GRIDS:
        raise InputError(f"grid: expected one of {GRIDS}, got {grid!r}")
    members = 1 if n_members is None else _as_int("n_members", n_members, 1)
    rms_wind = _positive("rms_wind", rms_wind)
    peak_wavenumber = _as_int("peak_wavenumber", peak_wavenumber, 1)
    solver = ShallowWaterSolver(
        nlat,
        nlon,
        grid=grid,
        lmax=lmax,
        mmax=mmax,
        radius=radius,
        omega=omega,
        gravity=gravity,
        mean_depth=mean_depth,
        hyperdiffusion_order=hyperdiffusion_order,
        hyperdiffusion_time=hyperdiffusion_time,
        device=device,
    )
    dt = solver.default_dt() if dt is None else _positive("dt", dt)
    if initial_condition == "random":
        state = solver.random_state(members, seed, rms_wind=rms_wind, peak_wavenumber=peak_wavenumber)
    else:
        state = solver.galewsky_state(perturbed=initial_condition == "galewsky", n_members=members)

    if num_threads is not None:
        num_threads = _as_int("num_threads", num_threads, 1)
    with _torch_threads(num_threads):
        frames = _integrate(
            solver, state, dt, n_steps, output_every, progress, f"shallow water {nlat}x{nlon}"
        )
    logger.info("shallow water %dx%d: %d steps of %g s, %d outputs", nlat, nlon, n_steps, dt, len(frames))
    return _to_dataset(
        solver, frames, dt, output_every, initial_condition, seed, n_members, rms_wind, peak_wavenumber
    )


@contextlib.contextmanager
def _torch_threads(n: int | None):
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _integrate(solver, state, dt, n_steps, output_every, progress, desc) -> list[dict[str, torch.Tensor]]:
    from tqdm.auto import tqdm

    frames = [solver.to_grid(state)]
    bar = tqdm(total=n_steps, desc=desc, unit="step", disable=not progress)
    for k in range(1, n_steps + 1):
        state = solver.step(state, dt)
        if k % output_every == 0:
            if not bool(torch.isfinite(torch.view_as_real(state)).all()):
                bar.close()
                raise NonFiniteError(
                    f"dt: the integration became non-finite at step {k} (t = {k * dt:.0f} s); reduce dt={dt}"
                )
            frames.append(solver.to_grid(state))
        bar.update(1)
    bar.close()
    return frames


_VAR_ATTRS = {
    "z": dict(
        units="m**2 s**-2", long_name="Geopotential (g times fluid depth)", standard_name="geopotential"
    ),
    "u": dict(units="m s**-1", long_name="U component of wind", standard_name="eastward_wind"),
    "v": dict(units="m s**-1", long_name="V component of wind", standard_name="northward_wind"),
    "vo": dict(units="s**-1", long_name="Relative vorticity", standard_name="atmosphere_relative_vorticity"),
}


def _to_dataset(
    solver, frames, dt, output_every, initial_condition, seed, n_members, rms_wind, peak
) -> xr.Dataset:
    s = solver.sht
    step_ns = int(round(dt * output_every * 1e9))
    times = EPOCH + np.arange(len(frames)) * np.timedelta64(step_ns, "ns")
    dims = ("time", "latitude", "longitude")
    data = {}
    for name in ("z", "u", "v", "vo"):
        arr = torch.stack([f[name] for f in frames], dim=1).cpu().numpy()  # (member, time, lat, lon)
        if n_members is None:
            data[name] = (dims, arr[0], _VAR_ATTRS[name])
        else:
            data[name] = (("member", *dims), arr, _VAR_ATTRS[name])
    coords = {
        "time": ("time", times),
        "latitude": ("latitude", s.lat, dict(units="degrees_north", long_name="latitude")),
        "longitude": ("longitude", s.lon, dict(units="degrees_east", long_name="longitude")),
    }
    if n_members is not None:
        coords["member"] = ("member", np.arange(n_members))
    attrs = {
        "source": "chaosbench_py.simulate.shallow_water (spectral transform shallow-water model)",
        "grid_type": s.grid,
        "truncation": f"T{s.lmax} (lmax={s.lmax}, mmax={s.mmax})",
        "time_stepping": "RK4 + implicit hyperdiffusion (integrating factor)",
        "dt_seconds": float(dt),
        "output_every_steps": int(output_every),
        "output_interval_seconds": float(dt * output_every),
        "epoch": str(EPOCH.astype("datetime64[s]")),
        "initial_condition": initial_condition,
        "seed": int(seed),
        "radius_m": solver.radius,
        "omega_per_s": solver.omega,
        "gravity_m_per_s2": solver.gravity,
        "mean_depth_m": solver.mean_depth,
        "hyperdiffusion_order": solver.hyperdiffusion_order,
        "hyperdiffusion_efold_seconds_at_lmax": solver.hyperdiffusion_time,
    }
    if initial_condition == "random":
        attrs.update(rms_wind_m_per_s=float(rms_wind), peak_wavenumber=int(peak))
    return xr.Dataset(data, coords=coords, attrs=attrs)
