"""The physics of a rollout (chaosbench_py.evaluation.physics) on known answers: persistence conserves
every invariant exactly, never blows up and has zero Lyapunov exponents; the simulator's own step has the
truth's exponents; the report shows the section; bad input is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from chaosbench_py.data import channel_statistics
from chaosbench_py.errors import InputError
from chaosbench_py.evaluation.physics import physics_of_rollout, read_physics_summary, solver_map_for
from chaosbench_py.report import Report
from chaosbench_py.report.physics_section import add_physics_section
from chaosbench_py.simulate.shallow_water import generate_shallow_water
from emulators import Persistence, PersistenceConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def swe():
    # 16 x 32 Gauss grid, 12-hourly for 6 days: a small random balanced flow
    return generate_shallow_water(16, 32, n_steps=12 * 24 * 2, output_every=24 * 2, dt=900.0, seed=1)


def _extra(variables=("z", "u", "v")) -> dict:
    return {"run_config": {"data": {"variables": list(variables), "levels": None}},
            "schema": {"time_step_seconds": 43200.0}}  # fmt: skip


def test_persistence_known_answers(swe, tmp_path):
    stats = channel_statistics(swe, variables=["z", "u", "v"], years=(2000, 2000))
    model = Persistence(PersistenceConfig(in_channels=3))
    times = swe.indexes["time"]
    step = np.timedelta64(12, "h")
    summary = physics_of_rollout(
        model, _extra(), swe, tmp_path, init_times=times[[2, 6]], statistics=stats, days=4.0,
        conservation_days=2.0, spectrum_days=(1.0, 4.0), solver_map=solver_map_for(swe, step),
        lyapunov_inits=2, lyapunov_steps=3, lyapunov_transient=0, k=3,
    )  # fmt: skip
    cons = summary["conservation"]
    for name in ("mass", "total_energy", "potential_enstrophy"):
        assert (
            abs(cons["model_whole"][name]) < 1e-6
        )  # persistence: the invariants never change (float32 store)
    assert abs(cons["truth_window"]["mass"]) < 1e-12  # the unforced solver conserves mass to round-off
    assert abs(cons["model_window"]["total_energy"]) < 1e-6
    st = summary["stability"]
    assert st["n_bounded"] == 2 and st["blow_up_days"] == [None, None] and st["days"] == 4.0
    ly = summary["lyapunov"]
    np.testing.assert_allclose(ly["model"]["exponents_per_day"], 0.0, atol=1e-9)  # identity map
    assert ly["truth"]["lambda1_per_day"] > ly["truth"]["exponents_per_day"][-1]
    assert summary["n_steps"] == 8
    assert read_physics_summary(tmp_path) == json.loads((tmp_path / "physics" / "summary.json").read_text())
    spectra = xr.load_dataset(tmp_path / "physics" / "spectra.nc")
    assert list(spectra["lead_days"].values) == [1.0, 4.0]
    report = Report("t", tmp_path / "rep")
    assert add_physics_section(report, tmp_path, "persistence")
    report.write()
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Physics of the rollout — persistence" in text and "bounded over 4 days" in text
    assert "physics_lyapunov_persistence.png" in text


def test_solver_as_model_has_the_truths_exponents(swe, tmp_path):
    """The simulator's own step map, passed as the model's step via the same route, gives the same exponents."""
    step = np.timedelta64(12, "h")
    truth_map = solver_map_for(swe, step)(swe["time"].values[[3]])
    from chaosbench_py.evaluation.emulator_lyapunov import compare_lyapunov_spectra
    from chaosbench_py.evaluation.physics import truth_state

    x0 = truth_state(swe, swe["time"].values[3])[None]
    res = compare_lyapunov_spectra(truth_map, truth_map, x0, k=2, n_steps=2, time_step_days=0.5)
    np.testing.assert_allclose(
        res["exponents"].sel(system="model"), res["exponents"].sel(system="truth"), rtol=1e-10
    )


def test_bad_input(swe, tmp_path):
    stats = channel_statistics(swe, variables=["z", "u"], years=(2000, 2000))
    model = Persistence(PersistenceConfig(in_channels=2))
    with pytest.raises(InputError, match="lack \\['v'\\]"):
        physics_of_rollout(
            model, _extra(("z", "u")), swe, tmp_path, init_times=swe["time"].values[:1], statistics=stats
        )
    assert solver_map_for(swe.assign_attrs(source="ERA5"), np.timedelta64(6, "h")) is None
    assert not add_physics_section(Report("t", tmp_path / "r"), tmp_path, "none")


def test_evaluate_run_with_physics_and_the_report(swe, tmp_path):
    """`chaosbench evaluate --physics` end to end on a trainer run: OUT/physics and the report section."""
    from chaosbench_py.cli import main
    from chaosbench_py.training.trainer import Trainer

    store = tmp_path / "swe.zarr"
    swe.to_zarr(store, zarr_format=2, consolidated=True)
    cfg = {
        "model": {"name": "fno", "config": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2, "residual": True}},
        "data": {"kind": "gridded", "path": str(store), "variables": ["z", "u", "v"],
                 "train": ["2000-01-01", "2000-01-04"], "valid": ["2000-01-05", "2000-01-05"]},
        "task": {"kind": "next_step", "rollout_steps": 1},
        "optimizer": {"name": "adamw", "lr": 1e-3},
        "train": {"steps": 2, "batch_size": 4, "checkpoint_every": 0, "log_every": 1, "progress": False},
    }  # fmt: skip
    Trainer(cfg, tmp_path / "run").fit()
    args = ["evaluate", str(tmp_path / "run"), "--out", str(tmp_path / "ev"), "--n-inits", "2", "--steps", "2",
            "--climatology", "mean", "--physics", "--physics-inits", "1", "--physics-days", "1", "--lyapunov-steps", "1"]  # fmt: skip
    assert main(args) == 0
    summary = read_physics_summary(tmp_path / "ev")
    assert summary["stability"]["n_inits"] == 1 and set(summary["lyapunov"]) >= {"model", "truth"}
    assert main(["report", str(tmp_path / "ev"), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Physics of the rollout — fno" in text
    from chaosbench_py.evaluation import evaluate_run

    with pytest.raises(InputError, match="physics_inits=0"):
        evaluate_run(tmp_path / "run", tmp_path / "ev2", physics=True, physics_inits=0)
    with pytest.raises(InputError, match="physics_days"):
        evaluate_run(tmp_path / "run", tmp_path / "ev2", physics=True, physics_days=-1.0)


def test_truth_exponents_are_cached_across_models(swe, tmp_path):
    stats = channel_statistics(swe, variables=["z", "u", "v"], years=(2000, 2000))
    step = np.timedelta64(12, "h")
    kw = dict(init_times=swe.indexes["time"][[2]], statistics=stats, days=1.0, spectrum_days=(1.0,),
              solver_map=solver_map_for(swe, step), lyapunov_inits=1, lyapunov_steps=2, lyapunov_transient=0, k=2,
              truth_cache=tmp_path / "cache")  # fmt: skip
    a = physics_of_rollout(Persistence(PersistenceConfig(in_channels=3)), _extra(), swe, tmp_path / "a", **kw)
    assert len(list((tmp_path / "cache").glob("truth_*.nc"))) == 1
    b = physics_of_rollout(Persistence(PersistenceConfig(in_channels=3)), _extra(), swe, tmp_path / "b", **kw)
    assert a["lyapunov"]["truth"]["exponents_per_day"] == b["lyapunov"]["truth"]["exponents_per_day"]
    other = {**kw, "lyapunov_steps": 1}  # other settings: another cache entry
    physics_of_rollout(Persistence(PersistenceConfig(in_channels=3)), _extra(), swe, tmp_path / "c", **other)
    assert len(list((tmp_path / "cache").glob("truth_*.nc"))) == 2


def test_forced_solver_map_holds_each_inits_season(tmp_path):
    """The forced climate's solver map: row blocks follow their own init's season (tangent runs repeat each
    init's state k times in a row), equal to the map built for that init alone."""
    from chaosbench_py.evaluation.emulator_lyapunov import compare_lyapunov_spectra
    from chaosbench_py.evaluation.physics import truth_state
    from chaosbench_py.simulate.forced_shallow_water_data import generate_forced_shallow_water

    ds = generate_forced_shallow_water("32x64", days=1, spinup_days=0, output_every_hours=6)
    step = np.timedelta64(6, "h")
    factory = solver_map_for(ds, step)
    times = np.array(["2001-01-15", "2001-07-15"], dtype="datetime64[ns]")  # winter and summer forcing
    x = torch.as_tensor(np.stack([truth_state(ds, ds["time"].values[0])] * 2))
    both = factory(times)(x)
    for i in range(2):
        torch.testing.assert_close(
            both[i : i + 1], factory(times[i : i + 1])(x[i : i + 1]), rtol=1e-12, atol=0
        )
    assert not torch.allclose(both[0], both[1])  # the same state steps differently in January and July
    res = compare_lyapunov_spectra(
        factory(times), factory(times), x.numpy(), k=2, n_steps=1, time_step_days=0.25
    )
    assert res["exponents"].shape == (2, 2, 2)


def test_a_rollout_that_blows_up_is_reported_not_fatal(swe, tmp_path):
    """A model whose states turn unphysical (negative depth, then overflow) gets a blow-up day and NaN
    invariants after it; the evaluation completes."""

    class Explodes(torch.nn.Module):
        def forward(self, x):
            return -3.0 * x[:, :3]  # normalised state ×(−3) each step: depth < 0 within a few steps

    stats = channel_statistics(swe, variables=["z", "u", "v"], years=(2000, 2000))
    summary = physics_of_rollout(
        Explodes(), _extra(), swe, tmp_path, init_times=swe.indexes["time"][[2, 4]], statistics=stats, days=4.0,
        spectrum_days=(1.0, 4.0), lyapunov_steps=0,
    )  # fmt: skip
    st = summary["stability"]
    assert st["n_bounded"] == 0 and all(b is not None and b <= 4.0 for b in st["blow_up_days"])
    inv = xr.load_dataset(tmp_path / "physics" / "invariants.nc")
    assert np.isnan(inv["mass"].sel(system="model").isel(lead_time=-1)).all()
    assert summary["lyapunov"] is None
    assert summary["conservation"]["model_whole"] is None  # every rollout blew up


def test_spectrum_band_stops_at_the_truths_resolved_degrees():
    """A T21 flow on a grid whose transform reaches degree 31: the small-scale ratio uses degrees 16–21,
    not the round-off above 21."""
    from chaosbench_py.evaluation.physics import resolved_band, spectrum_ratios

    ell = np.arange(32)
    truth = xr.DataArray(np.where(ell <= 21, 1.0 / (1.0 + ell) ** 3, 1e-32), dims="wavenumber",
                         coords={"wavenumber": ell})  # fmt: skip
    assert resolved_band(truth) == (16, 21)
    model = (truth * np.where(ell >= 16, 0.5, 1.0)).expand_dims(lead_days=[1.0, 30.0])  # blurred small scales
    ratios = spectrum_ratios(xr.Dataset({"truth": truth, "model": model}))
    assert ratios == {"1": 0.5, "30": 0.5}
