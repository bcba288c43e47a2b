"""A forced, dissipative, seasonal shallow-water "climate" on the rotating sphere (issue #15 item 1).

Model
-----
The spectral vorticity–divergence shallow-water model of :mod:`.shallow_water` with topography,
Newtonian relaxation of the free surface toward a seasonally varying zonal jet profile, and
Rayleigh drag. Prognostic variables ``(Φ, ζ, δ)`` where ``Φ = g (h + h_s)`` is the **free-surface**
geopotential (the dataset's ``z``), ``h`` the layer thickness and ``Φ_s = g h_s`` the surface
geopotential; ``η = ζ + f``, ``K = |V|²/2``::

    ∂ζ/∂t = −∇·(η V)                 − ζ/τ_drag
    ∂δ/∂t =  k·∇×(η V) − ∇²(Φ + K)   − δ/τ_drag
    ∂Φ/∂t = −∇·((Φ − Φ_s) V)         + (Φ_eq(φ, t) − Φ)/τ_rad

i.e. momentum feels the gradient of the free surface, mass flux uses the thickness
``h = (Φ − Φ_s)/g`` (Williamson et al. 1992, J. Comput. Phys. 102, eqs. 2–4 with topography; the
forcing terms follow the generic forced–dissipative form, e.g. Perez-Becker & Showman 2013, ApJ
776:134, without their momentum term R = −uQ/h). The mass source is ``Q = (Φ_eq − Φ)/(g τ_rad)``
(m s⁻¹), so ``dM/dt = ∫ Q dA`` and relaxation toward ``Φ_eq`` is relaxation of the thickness toward
``h_eq = Φ_eq/g − h_s`` (thinner over mountains). Hyperdiffusion ``∇⁸`` (integrating factor, as in
:class:`ShallowWaterSolver`) acts on all three fields; the ``l = 0`` mode of Φ is never diffused, so
without forcing the mass ``∫ h dA`` is conserved to round-off.

Equilibrium free surface (zonal, geostrophically balanced westerly jets, one per hemisphere)::

    Φ_eq/g = H + h̄_s + ΔN/2 (m_N − tanh((φ − φ_N)/w)) + ΔS/2 (tanh((φ + φ_S)/w) − m_S)

``m_N, m_S`` are the area means of the tanh terms (so the area mean of ``Φ_eq/g − h_s`` is ``H``).
Geostrophy ``u = −g/(f a) ∂h/∂φ`` gives a sech² jet of peak ``U = g Δ/(2 w a f(φ_jet))`` at the jet
latitude, so ``Δ_k = 2 w a f(φ_k) U_k / g``. Annual cycle (365-day year, day 0 = 1 January 00 UTC)
with ``c(t) = cos(2π (t/day − winter_peak_day)/365)``::

    U_N = U0 + ΔU c,   φ_N = φ0 − Δφ c,    U_S = U0 − ΔU c,   φ_S = φ0 + Δφ c

so the winter-hemisphere jet is stronger and equatorward, the summer jet weaker and poleward
(northern winter peaks on ``winter_peak_day`` = 15, i.e. mid-January). The relaxed jet is
barotropically unstable, which (with the mountains) produces chaotic synoptic eddies.

Topography (deterministic, smooth, documented in :data:`MOUNTAINS`): Gaussian mountains
``h_s = Σ h_k exp(−(d_k/r_k)²)`` with ``d_k`` the great-circle angle to the centre, spectrally
truncated to the model resolution.

Default parameters are in :data:`DEFAULT_PHYSICS`: Earth radius, Ω, g; mean thickness H = 3 km
(gravity-wave speed 171 m/s, deformation radius √(gH)/f ≈ 1700 km at 45°); τ_rad = 5 d,
τ_drag = 100 d; jets U0 = 80 ± 20 m/s at 45 ∓ 5°, width w = 10°; ∇⁸ hyperdiffusion with a 48 h
e-folding time at the truncation degree. They were chosen by short scans at T21 (weaker or
narrower jets, stronger drag, τ_rad of 2 d or ≥ 10 d, or 12 h hyperdiffusion gave steady or
barely chaotic flow); RK4 is stable with dt = 1800 s at T21 and 900 s at T42, where the dataset uses the
same hyperdiffusion coefficient as at T21 (``forced_shallow_water_data.RESOLUTIONS``: with a weaker one the
flow over the 2 km mountain turns supercritical and blows up). ``forcing=False``
(or ``tau_rad = tau_drag = inf``) switches off the relaxation and the drag;
``hyperdiffusion_order=0`` switches off the hyperdiffusion.

Measured climate (32 × 64, seed 0, 3 years after a 180-day spin-up, 1 thread): area-mean
``½|V|²`` per 60-day window 461–528 m² s⁻² (max/min 1.15, the same annual cycle every year, no
trend); zonal-mean jets (monthly means) January 41 m/s at 47°N and 45 m/s at 47°S, July 27 m/s
at 58°N and 77 m/s at 41.5°S; max |u| 121 m/s; rms v 11.7 m/s (synoptic eddies). Chaos: two
states differing by 1e-6 (relative, in ζ) after 200 days of spin-up grow apart ×2.6, ×8, ×47,
×206, ×1050 after 5, 15, 25, 35, 45 days; an exponential fit over growth factors 3–1e4 gives
0.146 d⁻¹, an error-doubling time of 4.7 days (slower than the atmosphere's ~2 d: one layer has
no baroclinic instability). The relaxed jet is barotropically unstable, but without topography
and seasons a T21 run (jet 60 m/s, 12 h hyperdiffusion) settled to a steady zonal jet.

The dataset generator, cache and climatology helpers are in :mod:`.forced_shallow_water_data`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .shallow_water import ShallowWaterSolver

__all__ = ["DEFAULT_PHYSICS", "DAY", "MOUNTAINS", "YEAR_DAYS", "ForcedShallowWaterSolver"]

DAY = 86400.0
YEAR_DAYS = 365.0
#: Gaussian mountains: (latitude °N, longitude °E, height m, e-folding radius °)
MOUNTAINS = ((45.0, 250.0, 1500.0, 12.0), (35.0, 90.0, 2000.0, 10.0), (-30.0, 290.0, 1000.0, 8.0))

#: Default physical parameters (SI units; times in days, angles in degrees, speeds m/s).
DEFAULT_PHYSICS: dict[str, Any] = dict(
    radius=6.37122e6,
    omega=7.292e-5,
    gravity=9.80616,
    mean_depth=3000.0,
    hyperdiffusion_order=4,
    hyperdiffusion_hours=48.0,
    tau_rad_days=5.0,
    tau_drag_days=100.0,
    jet_speed=80.0,
    jet_speed_amplitude=20.0,
    jet_latitude=45.0,
    jet_latitude_amplitude=5.0,
    jet_width=10.0,
    winter_peak_day=15.0,
    topography_scale=1.0,
)


def _nonneg_time(name: str, value: Any) -> float:
    """A relaxation time (days) that is positive or ``inf`` (no forcing)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value <= 0:
        raise InputError(f"{name}: expected a positive number of days or inf, got {value!r}")
    return float(value)


def _finite(name: str, value: Any, lo: float = -math.inf, hi: float = math.inf) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise InputError(f"{name}: expected a finite number in [{lo}, {hi}], got {value!r}")
    return float(value)


def topography(lat_deg: np.ndarray, lon_deg: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Surface height ``h_s`` (m), shape ``(nlat, nlon)``: ``scale · Σ_k h_k exp(−(d_k/r_k)²)`` (:data:`MOUNTAINS`)."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))[:, None]
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))[None, :]
    out = np.zeros((lat.shape[0], lon.shape[1]))
    for lat0, lon0, height, rad in MOUNTAINS:
        p0, l0 = math.radians(lat0), math.radians(lon0)
        cosd = np.sin(lat) * math.sin(p0) + np.cos(lat) * math.cos(p0) * np.cos(lon - l0)
        d = np.arccos(np.clip(cosd, -1.0, 1.0))
        out += height * np.exp(-((d / math.radians(rad)) ** 2))
    return scale * out


class ForcedShallowWaterSolver(ShallowWaterSolver):
    """Forced–dissipative seasonal shallow water with topography (module docstring).

    Same interface as :class:`ShallowWaterSolver` (state ``(..., 3, L, M)`` complex spectral
    ``(Φ [m² s⁻²], ζ [s⁻¹], δ [s⁻¹])``, ``Φ`` the free-surface geopotential), plus a time argument
    ``t`` (s since 1 January 00 UTC of a 365-day year) to :meth:`tendency` and :meth:`step`.
    ``physics``: overrides of :data:`DEFAULT_PHYSICS`. ``forcing=False`` removes relaxation and
    drag. Raises :class:`InputError` naming a bad parameter (unknown key, negative time, ...).
    """

    def __init__(
        self,
        nlat: int,
        nlon: int,
        *,
        grid: str = "legendre-gauss",
        lmax: int | None = None,
        mmax: int | None = None,
        forcing: bool = True,
        device: str | torch.device | None = None,
        **physics: Any,
    ) -> None:
        unknown = sorted(set(physics) - set(DEFAULT_PHYSICS))
        if unknown:
            raise InputError(f"{unknown[0]}: unknown physics parameter; known: {sorted(DEFAULT_PHYSICS)}")
        p = {**DEFAULT_PHYSICS, **physics}
        super().__init__(
            nlat,
            nlon,
            grid=grid,
            lmax=lmax,
            mmax=mmax,
            radius=p["radius"],
            omega=p["omega"],
            gravity=p["gravity"],
            mean_depth=p["mean_depth"],
            hyperdiffusion_order=p["hyperdiffusion_order"],
            hyperdiffusion_time=_finite("hyperdiffusion_hours", p["hyperdiffusion_hours"], 1e-6) * 3600.0,
            device=device,
        )
        p["tau_rad_days"] = _nonneg_time("tau_rad_days", p["tau_rad_days"])
        p["tau_drag_days"] = _nonneg_time("tau_drag_days", p["tau_drag_days"])
        for key, lo, hi in (
            ("jet_speed", 0.0, 200.0),
            ("jet_speed_amplitude", 0.0, 200.0),
            ("jet_latitude", 10.0, 80.0),
            ("jet_latitude_amplitude", 0.0, 30.0),
            ("jet_width", 1.0, 40.0),
            ("winter_peak_day", -366.0, 366.0),
            ("topography_scale", 0.0, 10.0),
        ):
            p[key] = _finite(key, p[key], lo, hi)
        if p["jet_speed_amplitude"] > p["jet_speed"]:
            raise InputError("jet_speed_amplitude: must not exceed jet_speed (the summer jet would reverse)")
        if not isinstance(forcing, bool):
            raise InputError(f"forcing: expected True or False, got {forcing!r}")
        self.physics = p
        self.forcing = forcing
        self._rate_rad = 0.0 if not forcing else 1.0 / (p["tau_rad_days"] * DAY)
        self._rate_drag = 0.0 if not forcing else 1.0 / (p["tau_drag_days"] * DAY)
        s = self.sht
        hs = topography(s.lat, s.lon, p["topography_scale"])
        self.phi_s_c = s.forward(torch.as_tensor(self.gravity * hs, dtype=s.dtype, device=s.device))
        self.phi_s = s.inverse(self.phi_s_c)  # (nlat, nlon), truncated to the model resolution
        self._area = 4.0 * math.pi * self.radius**2
        self._phis_mean = float(s.integrate(self.phi_s)) / self._area
        self._w = np.asarray(s.quad_weights, dtype=np.float64) / np.sum(s.quad_weights)
        self._phi_lat = np.radians(np.asarray(s.lat, dtype=np.float64))
        self._cache: dict[float, torch.Tensor] = {}

    # ------------------------------------------------------------------ forcing
    def jet_parameters(self, t: float) -> dict[str, float]:
        """Seasonal jet parameters at time ``t`` (s): ``U_N, U_S`` (m/s), ``lat_N, lat_S`` (° from the equator)."""
        p = self.physics
        c = math.cos(2 * math.pi * (t / DAY - p["winter_peak_day"]) / YEAR_DAYS)
        return dict(
            U_N=p["jet_speed"] + p["jet_speed_amplitude"] * c,
            U_S=p["jet_speed"] - p["jet_speed_amplitude"] * c,
            lat_N=p["jet_latitude"] - p["jet_latitude_amplitude"] * c,
            lat_S=p["jet_latitude"] + p["jet_latitude_amplitude"] * c,
        )

    def equilibrium_height(self, t: float, lat_deg: np.ndarray | None = None) -> np.ndarray:
        """Equilibrium free-surface height ``Φ_eq/g`` (m) at latitudes ``lat_deg`` (default: the grid's)."""
        j = self.jet_parameters(t)
        w = math.radians(self.physics["jet_width"])
        phi = self._phi_lat if lat_deg is None else np.radians(np.asarray(lat_deg, dtype=np.float64))
        out = np.full(phi.shape, self.mean_depth + self._phis_mean / self.gravity)
        for u, lat, sign in ((j["U_N"], j["lat_N"], 1.0), (j["U_S"], j["lat_S"], -1.0)):
            p0 = math.radians(lat)
            delta = 2 * w * self.radius * 2 * self.omega * math.sin(p0) * u / self.gravity
            shape = -sign * np.tanh((phi - sign * p0) / w)
            mean = float(np.sum(self._w * (-sign * np.tanh((self._phi_lat - sign * p0) / w))))
            out = out + 0.5 * delta * (shape - mean)
        return out

    def equilibrium_coefficients(self, t: float) -> torch.Tensor:
        """Spectral coefficients of ``Φ_eq(φ, t)`` (m² s⁻²), shape ``(L, M)`` (cached for the last few ``t``)."""
        key = float(t)
        if key not in self._cache:
            s = self.sht
            h = self.gravity * self.equilibrium_height(key)
            grid = torch.as_tensor(np.repeat(h[:, None], s.nlon, axis=1), dtype=s.dtype, device=s.device)
            if len(self._cache) > 4:
                self._cache.clear()
            self._cache[key] = s.forward(grid)
        return self._cache[key]

    # ------------------------------------------------------------------ dynamics
    def tendency(self, state: torch.Tensor, t: float = 0.0) -> torch.Tensor:  # type: ignore[override]
        """Time derivative of ``(..., 3, L, M)`` at time ``t`` (s) (equations in the module docstring)."""
        s = self.sht
        phi_c, vrt_c, div_c = state.unbind(-3)
        u, v = s.uv_from_vrtdiv(vrt_c, div_c)
        eta = s.inverse(vrt_c) + self.coriolis
        phi = s.inverse(phi_c)
        thick = phi - self.phi_s
        curl_eta, div_eta = s.vrtdiv_from_uv(eta * u, eta * v)
        _, div_flux = s.vrtdiv_from_uv(thick * u, thick * v)
        energy = s.forward(phi + 0.5 * (u * u + v * v))
        d_phi, d_vrt, d_div = -div_flux, -div_eta, curl_eta - s.laplacian(energy)
        if self._rate_rad:
            d_phi = d_phi + self._rate_rad * (self.equilibrium_coefficients(t) - phi_c)
        if self._rate_drag:
            d_vrt = d_vrt - self._rate_drag * vrt_c
            d_div = d_div - self._rate_drag * div_c
        return torch.stack([d_phi, d_vrt, d_div], dim=-3)

    def mass_source(self, state: torch.Tensor, t: float = 0.0) -> torch.Tensor:
        """Integrated mass source ``∫ Q dA`` (m³ s⁻¹), ``Q = (Φ_eq − Φ)/(g τ_rad)``, batched."""
        if not self._rate_rad:
            return torch.zeros(state.shape[:-3], dtype=self.sht.dtype)
        s = self.sht
        q = self._rate_rad * (s.inverse(self.equilibrium_coefficients(t)) - s.inverse(state[..., 0, :, :]))
        return s.integrate(q) / self.gravity

    def step(self, state: torch.Tensor, dt: float, t: float = 0.0) -> torch.Tensor:  # type: ignore[override]
        """One RK4 step of length ``dt`` (s) from time ``t`` (s), followed by the hyperdiffusion factor."""
        k1 = self.tendency(state, t)
        k2 = self.tendency(state + 0.5 * dt * k1, t + 0.5 * dt)
        k3 = self.tendency(state + 0.5 * dt * k2, t + 0.5 * dt)
        k4 = self.tendency(state + dt * k3, t + dt)
        new = state + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        factor = self.diffusion_factor(dt)
        return new if factor is None else new * factor.to(new.dtype)

    def balanced_state(self, u, v, phi_anomaly=None) -> torch.Tensor:
        """As :meth:`ShallowWaterSolver.balanced_state`, with mean **thickness** ``mean_depth`` over the topography."""
        state = super().balanced_state(u, v, phi_anomaly)
        state[..., 0, 0, 0] += self._phis_mean * math.sqrt(4 * math.pi)
        return state

    def invariants(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        """Integral invariants (per unit density), ``h = (Φ − Φ_s)/g``, ``h_s = Φ_s/g``.

        ``mass = ∫ h dA`` (m³); ``energy = ∫ [½ h |V|² + g h (½ h + h_s)] dA`` (m⁵ s⁻²);
        ``potential_enstrophy = ∫ (ζ + f)²/(2h) dA`` (m s⁻²) (wave2.md §D.1); ``kinetic_energy``
        ``= ∫ ½ h |V|² dA``. Exactly conserved by the unforced, undiffused continuous equations.
        """
        g = self.to_grid(state)
        s = self.sht
        hs = self.phi_s / self.gravity
        h = g["z"] / self.gravity - hs
        ke = 0.5 * h * (g["u"] ** 2 + g["v"] ** 2)
        return {
            "mass": s.integrate(h),
            "energy": s.integrate(ke + self.gravity * h * (0.5 * h + hs)),
            "kinetic_energy": s.integrate(ke),
            "potential_enstrophy": s.integrate((g["vo"] + self.coriolis) ** 2 / (2 * h)),
        }

    def initial_state(self, n_members: int, seed: int, *, rms_wind: float = 2.0) -> torch.Tensor:
        """Near-rest balanced states ``(n_members, 3, L, M)``: small random flow (``rms_wind`` m/s) over a flat
        free surface (mean thickness ``mean_depth``); the forcing builds the jets during the spin-up."""
        return self.random_state(n_members, seed, rms_wind=rms_wind, peak_wavenumber=6)
