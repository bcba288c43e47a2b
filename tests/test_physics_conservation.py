"""Shallow-water invariants and their drift: agreement with the solver, quadrature, known drifts, bad input."""

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from chaosbench_py.simulate.shallow_water import ShallowWaterSolver, generate_shallow_water
from physics_metrics.errors import MetricInputError
from physics_metrics.weather import conservation_drift, shallow_water_invariants
from physics_metrics.weather.sphere_grid import sphere_grid, sphere_quadrature_weights

A = 6.37122e6
G = 9.80616
KEYS = {"mass": "mass", "total_energy": "energy", "potential_enstrophy": "potential_enstrophy"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _solver_run(grid, nlat, nlon, n_steps=24, every=8):
    """The generator's dataset and the solver's own invariants of the same states."""
    ds = generate_shallow_water(nlat, nlon, n_steps=n_steps, output_every=every, grid=grid, seed=1)
    solver = ShallowWaterSolver(nlat, nlon, grid=grid)
    x, dt = solver.random_state(1, seed=1), solver.default_dt()
    ref = [solver.invariants(x)]
    for k in range(1, n_steps + 1):
        x = solver.step(x, dt)
        if k % every == 0:
            ref.append(solver.invariants(x))
    return ds, {name: np.array([r[key].item() for r in ref]) for name, key in KEYS.items()}


@pytest.mark.parametrize(("grid", "nlat", "nlon"), [("legendre-gauss", 32, 64), ("equiangular", 25, 48)])
def test_invariants_match_the_solver(grid, nlat, nlon):
    ds, ref = _solver_run(grid, nlat, nlon)
    with_vo = shallow_water_invariants(ds)
    # without vo (ζ from u, v through the transform), latitudes flipped, longitudes rotated
    flipped = ds.drop_vars("vo").isel(latitude=slice(None, None, -1)).roll(longitude=7, roll_coords=True)
    from_uv = shallow_water_invariants(flipped)
    assert with_vo.attrs["latitude_layout"] == grid
    assert from_uv.attrs["vorticity_source"].startswith("vrtdiv_from_uv")
    for name, expected in ref.items():
        for out in (with_vo, from_uv):
            assert out[name].dims == ("time",)
            np.testing.assert_allclose(out[name].values, expected, rtol=1e-10, atol=0)
    assert with_vo["mass"].attrs["units"] == "m**3"


def test_quadrature_weights_sum_to_the_sphere_area():
    x = np.polynomial.legendre.leggauss(20)[0]
    cases = {
        "legendre-gauss": np.degrees(np.arcsin(x)),
        "equiangular": np.linspace(90, -90, 121),
        "regular": np.arange(-89.25, 90, 1.5),  # 1.5° without poles
        "irregular": np.array([-80.0, -30.0, 0.0, 10.0, 60.0]),
    }
    for layout, lat in cases.items():
        w, found = sphere_quadrature_weights(lat)
        assert found == layout
        ds = xr.Dataset(coords={"latitude": lat, "longitude": np.arange(36) * 10.0})
        areas = sphere_grid(ds).cell_areas()
        assert abs(float(areas.sum()) * 36 / (4 * math.pi * A**2) - 1) < 1e-13, layout
        assert abs(w.sum() - 2) < 1e-13
    # Gauss weights are exact for sin²φ (degree 2): ∫ μ² dμ = 2/3
    w, _ = sphere_quadrature_weights(cases["legendre-gauss"])
    assert abs((w * np.sin(np.radians(cases["legendre-gauss"])) ** 2).sum() - 2 / 3) < 1e-14


def test_topography_enters_energy_and_depth():
    ds, _ = _solver_run("legendre-gauss", 32, 64, n_steps=0)
    base = shallow_water_invariants(ds)
    zs = 2000.0  # a uniform 204 m plateau under a surface raised by as much: same h
    raised = ds.assign(z=ds["z"] + zs)
    for topo in (
        shallow_water_invariants(raised, zs=zs),
        shallow_water_invariants(raised.assign(zs=zs + 0 * ds.z[0])),
    ):
        np.testing.assert_allclose(topo["mass"], base["mass"], rtol=1e-14)
        np.testing.assert_allclose(topo["potential_enstrophy"], base["potential_enstrophy"], rtol=1e-13)
        # E' = E + ∫ g h h_s dA = E + zs · M
        np.testing.assert_allclose(topo["total_energy"], base["total_energy"] + zs * base["mass"], rtol=1e-13)


def _as_forecast(ds):
    """A (time, lat, lon) trajectory as one forecast (init_time=1, lead_time, lat, lon)."""
    leads = (ds.time - ds.time[0]).values
    fc = ds.rename(time="lead_time").assign_coords(lead_time=leads).expand_dims(init_time=[ds.time.values[0]])
    return fc.assign_coords(valid_time=fc.init_time + fc.lead_time)


def test_solver_output_conserves_mass_to_round_off():
    ds, _ = _solver_run("legendre-gauss", 32, 64, n_steps=96, every=12)
    drift = conservation_drift(shallow_water_invariants(_as_forecast(ds)))
    assert drift["mass_drift_per_day"].dims == ("init_time",)
    assert abs(drift["mass_drift_per_day"]).max() < 1e-13
    assert abs(drift["mass_total_change"]).max() < 1e-13
    # hyperdiffusion removes energy and enstrophy: negative drifts
    assert float(drift["total_energy_drift_per_day"][0]) < 0
    assert float(drift["potential_enstrophy_drift_per_day"][0]) < 0
    assert drift.attrs["duration_days"] == pytest.approx(1.0)


def test_damped_models_drift_by_the_amount_put_in():
    ds0, _ = _solver_run("legendre-gauss", 32, 64, n_steps=0)
    state = ds0.isel(time=0, drop=True)
    n, eps, step_h = 9, 0.01, 6
    k = xr.DataArray(np.arange(n), dims="lead_time")
    leads = pd.to_timedelta(np.arange(n) * step_h, "h")
    # model 1: depth shrinks linearly, h_k = h_0 (1 − ε k): mass ratio 1 − ε k exactly
    shrink = state.assign(z=state.z * (1 - eps * k)).assign_coords(lead_time=leads)
    d1 = conservation_drift(shallow_water_invariants(shrink))
    days_per_step = step_h / 24
    assert float(d1["mass_drift_per_day"]) == pytest.approx(-eps / days_per_step, rel=1e-12)
    assert float(d1["mass_total_change"]) == pytest.approx(-eps * (n - 1), rel=1e-12)
    # model 2: winds damped by (1 − ε) each step, depth fixed: E_k = PE + KE_0 (1 − ε)^{2k}
    damp = (1 - eps) ** k
    slow = state.assign(u=state.u * damp, v=state.v * damp, vo=state.vo * damp).assign_coords(lead_time=leads)
    inv = shallow_water_invariants(slow)
    d2 = conservation_drift(inv)
    h = state.z / G
    grid = sphere_grid(state)
    ke0 = float(grid.integrate(0.5 * h * (state.u**2 + state.v**2)))
    e0 = float(inv["total_energy"][0])
    expected = ke0 / e0 * ((1 - eps) ** (2 * k.values) - 1)
    assert float(d2["total_energy_total_change"]) == pytest.approx(expected[-1], rel=1e-10)
    t_days = np.arange(n) * days_per_step
    assert float(d2["total_energy_drift_per_day"]) == pytest.approx(
        np.polyfit(t_days, expected, 1)[0], rel=1e-9
    )
    assert abs(float(d2["mass_drift_per_day"])) < 1e-14


def test_bad_input_names_what_is_wrong():
    ds, _ = _solver_run("legendre-gauss", 32, 64, n_steps=0)
    with pytest.raises(MetricInputError, match=r"energy needs u and v; dataset has \['u', 'vo', 'z'\]"):
        shallow_water_invariants(ds.drop_vars("v"))
    with pytest.raises(MetricInputError, match="needs z"):
        shallow_water_invariants(ds.drop_vars("z"))
    with pytest.raises(MetricInputError, match="latitude"):
        shallow_water_invariants(ds.rename(latitude="y"))
    with pytest.raises(MetricInputError, match="positive"):
        shallow_water_invariants(ds.assign(z=-ds.z))
    with pytest.raises(TypeError):
        shallow_water_invariants(ds.z)
    # a regular grid without poles: fine with vo (cell-area weights), an error naming the layout without it
    lat = np.arange(-87.5, 90, 5.0)
    coarse = ds.interp(latitude=lat, kwargs={"fill_value": "extrapolate"})
    assert shallow_water_invariants(coarse).attrs["latitude_layout"] == "regular"
    with pytest.raises(MetricInputError, match=r"36 x 64 \(regular\)"):
        shallow_water_invariants(coarse.drop_vars("vo"))
    inv = shallow_water_invariants(ds)
    with pytest.raises(MetricInputError, match="lead_time"):
        conservation_drift(inv)
    with pytest.raises(MetricInputError, match="at least 2"):
        conservation_drift(inv, time_dim="time")
