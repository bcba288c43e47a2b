"""Tests of the forced, dissipative, seasonal shallow-water climate (chaosbench_py.simulate.forced_shallow_water)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chaosbench_py.errors import InputError, OutputExistsError
from chaosbench_py.simulate import forced_shallow_water_data as fsd
from chaosbench_py.simulate.forced_shallow_water import DAY, ForcedShallowWaterSolver
from chaosbench_py.simulate.shallow_water import ShallowWaterSolver

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def tiny(monkeypatch):
    """A T5 8 × 16 resolution with a 2-hour step, so a simulated year costs ~15 s."""
    monkeypatch.setitem(fsd.RESOLUTIONS, "8x16", dict(nlat=8, nlon=16, dt=7200.0))
    return "8x16"


def _moving_state(solver: ForcedShallowWaterSolver) -> torch.Tensor:
    return solver.random_state(1, 3, rms_wind=20.0, peak_wavenumber=5)[0]


def test_reduces_to_the_unforced_flat_model():
    forced = ForcedShallowWaterSolver(16, 32, forcing=False, topography_scale=0.0, mean_depth=4000.0)
    plain = ShallowWaterSolver(16, 32, mean_depth=4000.0)
    state = plain.random_state(2, 0)
    torch.testing.assert_close(forced.tendency(state, 1e5), plain.tendency(state), rtol=1e-12, atol=0)


def test_topography_gradient_sign_rest_state_is_steady():
    """A flat free surface over mountains at rest is a steady state (momentum sees ∇Φ of the free surface)."""
    solver = ForcedShallowWaterSolver(24, 48, forcing=False)
    zero = torch.zeros(24, 48, dtype=torch.float64)
    state = solver.balanced_state(zero, zero)
    assert float(solver.phi_s.max()) > 1000 * solver.gravity  # mountains of ~1-2 km
    h = solver.to_grid(state)["z"] / solver.gravity - solver.phi_s / solver.gravity
    area = 4 * math.pi * solver.radius**2
    assert float(solver.sht.integrate(h)) / area == pytest.approx(solver.mean_depth, rel=1e-12)
    assert float(torch.view_as_real(solver.tendency(state)).abs().max()) < 1e-12


def _unforced_drift(nlat: int) -> dict[str, float]:
    solver = ForcedShallowWaterSolver(nlat, 2 * nlat, forcing=False, hyperdiffusion_order=0)
    state = _moving_state(solver)
    first = solver.invariants(state)
    for k in range(48):  # 12 h of 900 s steps
        state = solver.step(state, 900.0, k * 900.0)
    last = solver.invariants(state)
    return {k: abs(float(last[k] / first[k]) - 1) for k in first}


def test_unforced_undiffused_conservation():
    """Mass to round-off; energy and potential enstrophy up to a truncation error that falls with resolution
    (measured: T15 7e-7 and 4e-4, T31 1e-7 and 2e-6 over 12 h; the same at half the step)."""
    coarse, fine = _unforced_drift(24), _unforced_drift(48)
    assert coarse["mass"] < 1e-13 and fine["mass"] < 1e-13
    assert coarse["energy"] < 2e-6 and fine["energy"] < 5e-7
    assert coarse["potential_enstrophy"] < 1e-3 and fine["potential_enstrophy"] < 1e-5


def test_forcing_is_the_only_source_of_drift():
    """Identical runs with and without forcing: only the forced one changes mass; drag removes energy."""
    kw = dict(hyperdiffusion_order=0, tau_rad_days=1.0, tau_drag_days=2.0)
    free = ForcedShallowWaterSolver(24, 48, forcing=False, **kw)
    forced = ForcedShallowWaterSolver(24, 48, forcing=True, **kw)
    s0 = _moving_state(free)
    s0[0, 0, 0] += 50.0 * free.gravity * math.sqrt(4 * math.pi)  # 50 m more than the equilibrium mass
    a, b = s0.clone(), s0.clone()
    for k in range(24):
        a, b = free.step(a, 900.0, k * 900.0), forced.step(b, 900.0, k * 900.0)
    i0, ia, ib = free.invariants(s0), free.invariants(a), forced.invariants(b)
    assert abs(float(ia["mass"] / i0["mass"]) - 1) < 1e-13
    assert abs(float(ib["mass"] / i0["mass"]) - 1) > 1e-6
    assert float(ib["kinetic_energy"]) < 0.9 * float(ia["kinetic_energy"])


def test_mass_budget_matches_relaxation_source():
    solver = ForcedShallowWaterSolver(24, 48, tau_rad_days=2.0)
    state = _moving_state(solver)
    state[0, 0, 0] += 50.0 * solver.gravity * math.sqrt(4 * math.pi)  # 50 m too much mass
    dt, t = 300.0, 40 * DAY
    before = solver.step(state, -dt, t)
    after = solver.step(state, dt, t)
    dm_dt = float(solver.invariants(after)["mass"] - solver.invariants(before)["mass"]) / (2 * dt)
    source = float(solver.mass_source(state, t))
    assert source < 0
    assert dm_dt == pytest.approx(source, rel=1e-5)


def test_seasonal_forcing_day0_vs_day182():
    solver = ForcedShallowWaterSolver(32, 64)
    jan, jul = solver.jet_parameters(0.0), solver.jet_parameters(182 * DAY)
    assert jan["U_N"] > jan["U_S"] and jul["U_N"] < jul["U_S"]  # stronger winter jet
    assert jul["lat_N"] > jan["lat_N"] and jan["lat_S"] > jul["lat_S"]  # poleward in summer
    lat = np.array([80.0, 45.0, 10.0, -10.0, -45.0, -80.0])
    hj, hl = solver.equilibrium_height(0.0, lat), solver.equilibrium_height(182 * DAY, lat)
    assert (hj[2] - hj[0]) > (hl[2] - hl[0]) + 100  # larger NH equator-to-pole drop in January
    assert (hl[3] - hl[5]) > (hj[3] - hj[5]) + 100
    # area mean of the equilibrium thickness is the mean depth at every season
    for t in (0.0, 100 * DAY, 182 * DAY):
        grid = solver.sht.inverse(solver.equilibrium_coefficients(t)) - solver.phi_s
        mean = float(solver.sht.integrate(grid)) / (4 * math.pi * solver.radius**2) / solver.gravity
        assert mean == pytest.approx(solver.mean_depth, rel=1e-10)


def test_generate_schema_and_climatology(tiny):
    ds = fsd.generate_forced_shallow_water(tiny, years=1, spinup_days=30)
    assert ds.z.dims == ("time", "latitude", "longitude") and ds.zs.dims == ("latitude", "longitude")
    assert ds.sizes["time"] == 730
    assert str(ds.time.values[0])[:19] == "2001-01-01T00:00:00"
    assert str(ds.time.values[-1])[:19] == "2001-12-31T12:00:00"
    assert ds.latitude.values[0] > 0 > ds.latitude.values[-1]
    assert ds.attrs["physics_tau_rad_days"] == 5.0 and "generation_parameters" in ds.attrs
    assert np.isfinite(ds.z.values).all()
    clim = fsd.forced_shallow_water_climatology(ds, years=(2001, 2001), variables=["z"]).compute()
    zm = clim.z.mean("longitude") / 9.80616
    north = int(np.argmin(abs(ds.latitude.values - 45)))
    south = int(np.argmin(abs(ds.latitude.values + 45)))
    jan, jul = zm.sel(dayofyear=15), zm.sel(dayofyear=196)
    # measured (T5): 52.8°N 2226 m in January vs 2826 m in July; 52.8°S 2832 m vs 2119 m
    assert float(jul[north] - jan[north]) > 200
    assert float(jan[south] - jul[south]) > 200


def test_store_cache_and_parameters(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(fsd, "YEAR_DAYS", 10.0)  # a 10-day "year": the cache logic does not need seasons
    calls = []
    real = fsd.generate_forced_shallow_water

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(fsd, "generate_forced_shallow_water", counting)
    ds = fsd.forced_shallow_water_store(tmp_path, tiny, years=1, spinup_days=0)
    again = fsd.forced_shallow_water_store(tmp_path, tiny, years=1, spinup_days=0)
    assert len(calls) == 1
    assert ds.sizes["time"] == 20
    np.testing.assert_array_equal(ds.z.values, again.z.values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forced_sw_8x16_1y_seed0.zarr"]
    store = tmp_path / "forced_sw_8x16_1y_seed0.zarr"
    with pytest.raises(OutputExistsError, match="physics.tau_rad_days"):
        fsd.forced_shallow_water_store(store, tiny, years=1, spinup_days=0, physics={"tau_rad_days": 7.0})
    with pytest.raises(OutputExistsError, match="spinup_days"):
        fsd.forced_shallow_water_store(store, tiny, years=1, spinup_days=1)
    new = fsd.forced_shallow_water_store(store, tiny, years=1, spinup_days=1, overwrite=True)
    assert len(calls) == 2 and '"spinup_days": 1' in new.attrs["generation_parameters"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forced_sw_8x16_1y_seed0.zarr"]


def test_fine_resolution_spins_up_on_the_coarse_grid(monkeypatch):
    monkeypatch.setitem(fsd.RESOLUTIONS, "32x64", dict(nlat=8, nlon=16, dt=7200.0))
    monkeypatch.setitem(fsd.RESOLUTIONS, "16x32", dict(nlat=16, nlon=32, dt=3600.0))
    monkeypatch.setattr(fsd, "FINE_SPINUP_DAYS", 1)
    monkeypatch.setattr(fsd, "YEAR_DAYS", 2.0)
    ds = fsd.generate_forced_shallow_water("16x32", years=1, spinup_days=20)
    assert ds.sizes["time"] == 4 and np.isfinite(ds.z.values).all()
    zonal = ds.u.mean("longitude").isel(time=0)
    assert float(zonal.max()) > 10  # the jets built on the coarse grid carry over


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(resolution="33x64"), "resolution"),
        (dict(years=0), "years"),
        (dict(spinup_days=-1), "spinup_days"),
        (dict(output_every_hours=0), "output_every_hours"),
        (dict(dt=1000.0), "dt"),
        (dict(physics={"tau_rad_days": -1.0}), "tau_rad_days"),
        (dict(physics={"tau_drag": 1.0}), "tau_drag"),
    ],
)
def test_bad_input(kwargs, name):
    with pytest.raises(InputError, match=name):
        fsd.generate_forced_shallow_water(**kwargs)


def test_bad_solver_input():
    with pytest.raises(InputError, match="tau_drag_days"):
        ForcedShallowWaterSolver(16, 32, tau_drag_days=-2.0)
    with pytest.raises(InputError, match="jet_width"):
        ForcedShallowWaterSolver(16, 32, jet_width=float("nan"))
    ForcedShallowWaterSolver(16, 32, tau_rad_days=math.inf, tau_drag_days=math.inf)  # inf = off


@pytest.mark.slow
def test_chaos_and_stationarity():
    """After a spin-up the flow is statistically steady and two states 1e-6 apart diverge > 100x in 40 days."""
    solver = ForcedShallowWaterSolver(32, 64)
    dt, spd = 1800.0, 48
    state = solver.initial_state(1, 0)[0]
    t = -300 * DAY
    ke = []
    for day in range(300):
        for _ in range(spd):
            state = solver.step(state, dt, t)
            t += dt
        if day >= 180:
            ke.append(float(solver.invariants(state)["kinetic_energy"]))
    w1, w2 = np.mean(ke[:60]), np.mean(ke[60:])
    assert abs(w2 / w1 - 1) < 0.3
    pair = torch.stack([state, state.clone()])
    pair[1, 1] *= 1 + 1e-6
    e0 = float((solver.to_grid(pair)["vo"][1] - solver.to_grid(pair)["vo"][0]).pow(2).mean().sqrt())
    for _ in range(40 * spd):
        pair = solver.step(pair, dt, t)
        t += dt
    grid = solver.to_grid(pair)
    growth = float((grid["vo"][1] - grid["vo"][0]).pow(2).mean().sqrt()) / e0
    assert growth > 100


def test_a_run_of_days_instead_of_years():
    from chaosbench_py.simulate.forced_shallow_water_data import generate_forced_shallow_water

    ds = generate_forced_shallow_water("32x64", days=2, spinup_days=0)
    assert ds.sizes["time"] == 4 and str(ds["time"].values[-1])[:13] == "2001-01-02T12"
    assert not any(k.startswith("split_") for k in ds.attrs)
    with pytest.raises(InputError, match="days"):
        generate_forced_shallow_water("32x64", days=0)


def test_both_resolutions_damp_every_degree_alike():
    """64 × 128 uses the same ∇⁸ coefficient as 32 × 64: equal damping rates at every degree both resolve."""
    coarse = ForcedShallowWaterSolver(32, 64)
    params = fsd.RESOLUTIONS["64x128"]
    fine = ForcedShallowWaterSolver(params["nlat"], params["nlon"], **params["physics"])
    assert (coarse.sht.lmax, fine.sht.lmax) == (21, 42)
    rate_coarse = coarse._diff_shape / coarse.hyperdiffusion_time  # (L,) per second
    rate_fine = fine._diff_shape / fine.hyperdiffusion_time
    torch.testing.assert_close(rate_fine[:22], rate_coarse, rtol=1e-12, atol=0.0)
    assert float(rate_coarse[21]) == pytest.approx(1 / (48 * 3600.0))
    assert fsd.same_hyperdiffusion_hours(48.0, 21, 42) == pytest.approx(48.0 * (462 / 1806) ** 4)


@pytest.mark.slow
def test_fine_resolution_stays_subcritical_and_bounded():
    """T42 from a spun-up T21 state for 60 days (a weaker T42 diffusion went supercritical over the 2 km
    mountain and blew up between days 8 and 41)."""
    coarse = ForcedShallowWaterSolver(32, 64)
    state, t = coarse.initial_state(1, 0)[0], -120 * DAY
    for _ in range(int(100 * DAY / 1800)):
        state = coarse.step(state, 1800.0, t)
        t += 1800.0
    params = fsd.RESOLUTIONS["64x128"]
    fine = ForcedShallowWaterSolver(params["nlat"], params["nlon"], **params["physics"])
    big = torch.zeros((3,) + fine.phi_s_c.shape, dtype=state.dtype)
    big[..., : state.shape[-2], : state.shape[-1]] = state
    froude = []
    for _ in range(60):
        for _ in range(int(DAY / params["dt"])):
            big = fine.step(big, params["dt"], t)
            t += params["dt"]
        s = fine.sht
        u, v = s.uv_from_vrtdiv(big[1], big[2])
        h = (s.inverse(big[0]) - fine.phi_s) / fine.gravity
        assert float(h.min()) > 300.0, "the layer thinned to a hydraulic jump"
        froude.append(float((torch.sqrt(u * u + v * v) / torch.sqrt(fine.gravity * h)).max()))
    assert max(froude) < 1.5 and np.median(froude) < 1.0
