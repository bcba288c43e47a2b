"""Bad input to the systems catalog and trajectory generation: the right exception class, a message
that names the argument / parameter / path (and the system), and nothing written or destroyed.

Covers ``get_system`` / ``with_params`` (parameter names, types, finiteness, shapes),
``generate_trajectories`` and ``generate_to_store`` (counts, tolerances, sampling, noise, seed,
initial conditions, outputs that exist), ``save_trajectories`` / ``open_trajectories``,
``integrate``, divergence (a run that blows up stops within seconds with the system, parameters,
time and trajectory named) and the ``chaosbench generate`` command line (exit status 2, one line,
no traceback).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
import xarray as xr

from chaosbench_py.cli import main
from chaosbench_py.errors import (
    CorruptFileError,
    InputError,
    InputTypeError,
    MissingInputError,
    OutputExistsError,
    SimulationDivergedError,
    UnknownNameError,
)
from chaosbench_py.simulate import (
    generate_to_store,
    generate_trajectories,
    integrate,
    open_trajectories,
    save_trajectories,
)
from chaosbench_py.systems import get_system

# ---------------------------------------------------------------- parameters (get_system, with_params)


@pytest.mark.parametrize(
    "name, params, cls, words",
    [
        ("Lorenz", {"sigma": "ten"}, InputTypeError, ["Lorenz", "'sigma'", "must be a number", "'ten'"]),
        ("Lorenz", {"sigma": float("nan")}, InputError, ["Lorenz", "'sigma'", "finite", "nan"]),
        ("Lorenz", {"rho": float("inf")}, InputError, ["Lorenz", "'rho'", "finite"]),
        ("Lorenz", {"sigma": None}, InputTypeError, ["Lorenz", "'sigma'", "None"]),
        ("Lorenz", {"sigma": True}, InputTypeError, ["Lorenz", "'sigma'", "bool"]),
        ("Lorenz", {"sigma": [1.0, 2.0]}, InputTypeError, ["Lorenz", "'sigma'", "torch tensor to sweep"]),
        ("Lorenz", {"sigmaa": 3.0}, UnknownNameError, ["Lorenz", "'sigmaa'", "['beta', 'rho', 'sigma']"]),
        ("BeerRNN", {"w": [1.0, 2.0]}, InputError, ["BeerRNN", "'w'", "shape (3, 3)", "(2,)"]),
        ("BeerRNN", {"w": "identity"}, InputTypeError, ["BeerRNN", "'w'", "array of numbers"]),
        ("BeerRNN", {"theta": [0.0, float("nan"), 1.0]}, InputError, ["BeerRNN", "'theta'", "finite"]),
        ("Lorenz96", {"f": "x"}, InputTypeError, ["Lorenz96", "'f'", "must be a number"]),
        ("Lorenz96TwoScale", {"F": float("nan")}, InputError, ["Lorenz96TwoScale", "'F'", "finite"]),
        ("Henon", {"a": float("inf")}, InputError, ["Henon", "'a'", "finite"]),
        ("Henon", {"c": 1.0}, UnknownNameError, ["Henon", "'c'", "valid parameters are ['a', 'b']"]),
        ("Lorenz", {"dim": 5}, UnknownNameError, ["Lorenz", "fixed dimension (3)", "Lorenz96"]),
        ("KuramotoSivashinsky", {"dim": 5}, UnknownNameError, ["KuramotoSivashinsky", "'dim'", "n_grid"]),
    ],
)
def test_bad_parameters_are_named(name, params, cls, words):
    with pytest.raises(cls) as exc:
        get_system(name, **params)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_with_params_validates_like_get_system():
    lorenz = get_system("Lorenz")
    with pytest.raises(InputTypeError, match="Lorenz: parameter 'beta' must be a number; got 'x'"):
        lorenz.with_params(beta="x")
    with pytest.raises(UnknownNameError, match="unknown parameter"):
        lorenz.with_params(gamma=1.0)
    # a tensor is a parameter sweep (a batch dimension), still checked for finiteness
    assert lorenz.with_params(rho=torch.tensor([20.0, 28.0])).params["rho"].shape == (2,)
    with pytest.raises(InputError, match="'rho' must be finite"):
        lorenz.with_params(rho=torch.tensor([20.0, float("inf")]))


def test_unknown_and_non_string_system_names():
    with pytest.raises(UnknownNameError, match="unknown system 'Lorenz63'.*Did you mean: Lorenz"):
        get_system("Lorenz63")
    with pytest.raises(InputTypeError, match="system name must be a string"):
        get_system(3)
    with pytest.raises(InputTypeError, match="system must be a catalog system or its name"):
        generate_trajectories(42, 1, 10)


# ---------------------------------------------------------------- generate_trajectories arguments


@pytest.mark.parametrize(
    "kwargs, cls, words",
    [
        ({"n_trajectories": 0}, InputError, ["Lorenz", "n_trajectories", ">= 1", "got 0"]),
        ({"n_trajectories": 2.5}, InputTypeError, ["n_trajectories", "integer", "2.5"]),
        ({"length": 0}, InputError, ["Lorenz", "length", ">= 1", "got 0"]),
        ({"length": -5}, InputError, ["length", "got -5"]),
        ({"length": "100"}, InputTypeError, ["length", "'100'", "str"]),
        ({"chunk": 0}, InputError, ["chunk", ">= 1"]),
        ({"rtol": 0.0}, InputError, ["rtol", "> 0"]),
        ({"atol": -1e-9}, InputError, ["atol", "> 0"]),
        ({"rtol": float("nan")}, InputError, ["rtol", "finite"]),
        ({"method": "rk4", "dt": 0.0}, InputError, ["dt", "> 0"]),
        ({"method": "euler"}, InputError, ["method", "'euler'", "dop853"]),
        ({"pts_per_period": 0}, InputError, ["Lorenz", "pts_per_period", "> 0"]),
        ({"pts_per_period": float("inf")}, InputError, ["pts_per_period", "finite"]),
        ({"sample_dt": float("nan")}, InputError, ["sample_dt", "finite"]),
        ({"pts_per_lyapunov": -3}, InputError, ["pts_per_lyapunov", "> 0"]),
        ({"pts_per_period": 10, "sample_dt": 0.1}, InputError, ["at most one"]),
        ({"noise": -0.1}, InputError, ["noise", ">= 0"]),
        ({"noise": float("nan")}, InputError, ["noise", "finite"]),
        ({"transient": -1.0}, InputError, ["transient", ">= 0"]),
        ({"ic_spread": "big"}, InputTypeError, ["ic_spread", "number"]),
        ({"seed": -1}, InputError, ["seed", ">= 0"]),
        ({"seed": 1.5}, InputTypeError, ["seed", "integer"]),
        ({"dtype": torch.int64}, InputTypeError, ["dtype", "floating"]),
        ({"initial_condition": np.zeros(4)}, InputError, ["initial_condition", "(..., 3)", "(4,)"]),
        ({"initial_condition": np.zeros((3, 3))}, InputError, ["initial_condition", "(2, 3)", "(3, 3)"]),
        ({"initial_condition": [1.0, float("nan"), 0.0]}, InputError, ["initial_condition", "NaN/inf"]),
        ({"initial_condition": "random"}, InputError, ["initial_condition", "'default'", "'random'"]),
        ({"initial_condition": ["a", "b", "c"]}, InputTypeError, ["initial_condition", "array of numbers"]),
    ],
)
def test_generate_trajectories_bad_arguments(kwargs, cls, words):
    args = {"n_trajectories": 2, "length": 10, **kwargs}
    start = time.perf_counter()
    with pytest.raises(cls) as exc:
        generate_trajectories("Lorenz", **args)
    assert time.perf_counter() - start < 1.0, "checked before any integration"
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_map_sampling_must_be_a_multiple_of_the_step():
    with pytest.raises(InputError, match="Henon: sample_dt must be a positive multiple of the step"):
        generate_trajectories("Henon", 1, 10, sample_dt=0.5)
    with pytest.raises(InputError, match="Henon is a map / PDE stepper: it has no period"):
        generate_trajectories("Henon", 1, 10, pts_per_period=10)


# ---------------------------------------------------------------- divergence


def test_unbounded_lorenz_stops_within_seconds_naming_time_and_trajectory():
    start = time.perf_counter()
    with pytest.raises(SimulationDivergedError) as exc:
        generate_trajectories(get_system("Lorenz", beta=-20.0), 2, 100)
    assert time.perf_counter() - start < 15  # was: unbounded (a 10-million-step limit)
    msg = str(exc.value)
    assert msg.startswith("Lorenz (beta=-20.0, rho=28, sigma=10): the simulation diverged at t=")
    assert "in trajectory 0 during the pilot orbit" in msg and "\n" not in msg
    assert isinstance(exc.value, FloatingPointError)  # the builtin a caller may catch
    assert 0 < exc.value.time < 5 and exc.value.trajectory == 0


def test_divergence_while_sampling_names_the_trajectory_of_a_sweep():
    # a parameter sweep as the batch: trajectory 1 (beta = -20) blows up, trajectory 0 does not
    system = get_system("Lorenz", beta=torch.tensor([8.0 / 3.0, -20.0], dtype=torch.float64))
    with pytest.raises(SimulationDivergedError, match=r"in trajectory 1 while sampling: \|x\[2\]\|"):
        generate_trajectories(system, 2, 200, initial_condition="default", transient=0)


def test_divergence_during_the_transient_is_named():
    system = get_system("Lorenz", beta=-20.0)
    with pytest.raises(SimulationDivergedError, match="trajectory 0 during the transient"):
        generate_trajectories(system, 1, 10, initial_condition="default", transient=5)


def test_diverging_map_is_named():
    with pytest.raises(SimulationDivergedError, match=r"Henon \(a=3.0, b=0.3\): .*NaN/inf|Henon \(a=3.0"):
        generate_trajectories(get_system("Henon", a=3.0), 2, 50)


@pytest.mark.parametrize("method", ["dop853", "rk4", "dopri5"])
def test_integrate_stops_at_the_bound(method):
    lorenz = get_system("Lorenz", beta=-20.0)
    x0 = lorenz.default_initial_condition()
    with pytest.raises(SimulationDivergedError, match="diverged"):
        times = torch.linspace(0, 3, 31, dtype=torch.float64)
        integrate(lorenz, x0, times, method=method, dt=1e-3, max_steps_per_output=1500)


def test_step_collapse_is_reported_not_a_hang():
    lorenz = get_system("Lorenz", beta=-20.0)
    x0 = lorenz.default_initial_condition()
    start = time.perf_counter()
    with pytest.raises(SimulationDivergedError, match="adaptive step collapsed .* more than 2000 steps"):
        integrate(lorenz, x0, torch.tensor([0.0, 100.0]), bound=math.inf, max_steps_per_output=2000)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize(
    "kwargs, x0, times, words",
    [
        ({"rtol": 0.0}, [1.0, 1.0, 1.0], [0.0, 1.0], ["rtol", "positive"]),
        ({"atol": float("nan")}, [1.0, 1.0, 1.0], [0.0, 1.0], ["atol", "finite"]),
        ({}, [1.0, float("nan"), 1.0], [0.0, 1.0], ["x0", "NaN/inf"]),
        ({}, [1.0, 1.0, 1.0], [0.0, float("nan")], ["times must be"]),
        ({"bound": -1.0}, [1.0, 1.0, 1.0], [0.0, 1.0], ["bound", "positive"]),
        ({"max_steps_per_output": 0}, [1.0, 1.0, 1.0], [0.0, 1.0], ["max_steps_per_output", ">= 1"]),
    ],
)
def test_integrate_bad_arguments(kwargs, x0, times, words):
    lorenz = get_system("Lorenz")
    with pytest.raises(InputError) as exc:
        integrate(lorenz, torch.tensor(x0, dtype=torch.float64), torch.tensor(times), **kwargs)
    for w in words:
        assert w in str(exc.value)


# ---------------------------------------------------------------- stores: never destroy, clear errors


def test_generate_to_store_bad_arguments_touch_nothing(tmp_path):
    out = tmp_path / "run.zarr"
    with pytest.raises(
        InputTypeError, match=r"unexpected argument\(s\) \['pts_per_periods'\]; valid options"
    ):
        generate_to_store(out, "Lorenz", 1, 10, pts_per_periods=10)
    with pytest.raises(InputError, match="length.*>= 1; got 0"):
        generate_to_store(out, "Lorenz", 1, 0)
    with pytest.raises(InputError, match="chunk.*>= 1; got 0"):
        generate_to_store(out, "Lorenz", 1, 10, chunk=0)
    with pytest.raises(InputError, match=r"run.nc: chunked generation writes zarr"):
        generate_to_store(tmp_path / "run.nc", "Lorenz", 1, 10)
    with pytest.raises(InputError, match="resume=True or overwrite=True, not both"):
        generate_to_store(out, "Lorenz", 1, 10, resume=True, overwrite=True)
    assert list(tmp_path.iterdir()) == []


def test_generate_to_store_refuses_what_it_did_not_write(tmp_path):
    foreign = tmp_path / "mine.zarr"
    ds = xr.Dataset({"x": (("trajectory", "time", "dim"), np.ones((1, 5, 3)))})
    save_trajectories(ds, foreign)
    before = sorted(p.relative_to(foreign) for p in foreign.rglob("*"))
    with pytest.raises(OutputExistsError, match="mine.zarr exists; pass overwrite=True"):
        generate_to_store(foreign, "Lorenz", 1, 10)
    with pytest.raises(InputError, match="not written by generate_to_store"):
        generate_to_store(foreign, "Lorenz", 1, 10, resume=True)
    assert sorted(p.relative_to(foreign) for p in foreign.rglob("*")) == before
    np.testing.assert_array_equal(open_trajectories(foreign)["x"].values, 1.0)


def test_generate_to_store_overwrite_replaces_only_when_complete(tmp_path, monkeypatch):
    out = tmp_path / "run.zarr"
    save_trajectories(xr.Dataset({"x": (("trajectory", "time", "dim"), np.ones((1, 5, 3)))}), out)
    import chaosbench_py.simulate.store as store

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_publish", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_to_store(out, "Lorenz", 1, 20, overwrite=True, transient=0)
    np.testing.assert_array_equal(open_trajectories(out)["x"].values, 1.0)  # the old one is intact
    monkeypatch.undo()
    generate_to_store(out, "Lorenz", 1, 20, resume=True, transient=0)  # finishes the replacement
    assert open_trajectories(out)["x"].shape == (1, 20, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.zarr"]


def test_save_and_open_bad_inputs(tmp_path):
    ds = xr.Dataset({"x": (("trajectory", "time", "dim"), np.zeros((1, 4, 2)))})
    path = save_trajectories(ds, tmp_path / "a.nc")
    with pytest.raises(OutputExistsError, match="a.nc exists; pass overwrite=True"):
        save_trajectories(ds, path)
    with pytest.raises(InputTypeError, match="expected an xarray.Dataset"):
        save_trajectories(ds["x"].values, tmp_path / "b.nc")
    with pytest.raises(InputError, match="not a trajectory dataset"):
        save_trajectories(xr.Dataset({"y": ("t", np.zeros(3))}), tmp_path / "c.nc")
    with pytest.raises(InputError, match=r"chunks names unknown dimension\(s\) \['times'\]"):
        save_trajectories(ds, tmp_path / "d.zarr", chunks={"times": 10})
    with pytest.raises(InputError, match="unknown format '.csv'"):
        save_trajectories(ds, tmp_path / "e.csv")
    with pytest.raises(MissingInputError, match="no trajectory store at .*missing.zarr"):
        open_trajectories(tmp_path / "missing.zarr")
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    (broken / "zarr.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="broken.zarr: cannot be read"):
        open_trajectories(broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc", "broken.zarr"]


# ---------------------------------------------------------------- the command line


def _generate(capsys, *argv):
    code = main(["generate", "--system", "Lorenz", "--quiet", *argv])
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--length", "0"], ["length", ">= 1", "got 0"]),
        (["--length", "-5"], ["length", "got -5"]),
        (["--trajectories", "0"], ["n_trajectories", "got 0"]),
        (["--chunk", "0"], ["chunk", ">= 1"]),
        (["--param", "sigma=ten"], ["--param sigma=ten", "'ten' is not a number"]),
        (["--param", "sigma"], ["--param expects NAME=VALUE", "'sigma'"]),
        (["--param", "sigma=nan"], ["Lorenz", "'sigma'", "finite"]),
        (["--param", "sigmaa=1"], ["unknown parameter", "'sigmaa'", "valid parameters"]),
        (["--rtol", "0"], ["rtol", "> 0"]),
        (["--noise", "-1"], ["noise", ">= 0"]),
        (["--pts-per-period", "0"], ["pts_per_period", "> 0"]),
        (["--device", "potato"], ["--device 'potato'", "not a torch device"]),
        (["--dim", "5"], ["fixed dimension", "Lorenz96"]),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, words):
    code, err = _generate(capsys, "--length", "20", "--out", str(tmp_path / "o.zarr"), *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("chaosbench generate: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert list(tmp_path.iterdir()) == []


def test_cli_unbounded_system_fails_fast(tmp_path, capsys):
    start = time.perf_counter()
    code, err = _generate(capsys, "--param", "beta=-20", "--out", str(tmp_path / "o.zarr"))
    assert code == 2 and time.perf_counter() - start < 15
    assert err.count("\n") == 1 and "Lorenz (beta=-20.0" in err and "diverged at t=" in err
    assert "in trajectory 0" in err
    assert list(tmp_path.iterdir()) == []


HENON = ["generate", "--system", "Henon", "--quiet", "--length", "5"]  # a map: cheap to generate


def test_cli_outputs_are_never_overwritten_without_asking(tmp_path, capsys):
    nc = tmp_path / "o.nc"
    nc.write_bytes(b"precious")
    code, err = _generate(capsys, "--length", "5", "--out", str(nc))
    assert code == 2 and "o.nc exists; pass --overwrite" in err and nc.read_bytes() == b"precious"
    code, err = _generate(capsys, "--length", "5", "--out", str(nc), "--resume")
    assert code == 2 and "--resume applies to .zarr outputs" in err and nc.read_bytes() == b"precious"
    code, err = _generate(capsys, "--length", "5", "--out", str(tmp_path / "o.csv"))
    assert code == 2 and "unknown format '.csv'" in err
    assert main([*HENON, "--out", str(nc), "--overwrite"]) == 0
    assert open_trajectories(nc)["x"].shape == (1, 5, 2)
    zarr_out = tmp_path / "o.zarr"
    (zarr_out / "sub").mkdir(parents=True)
    code, err = _generate(capsys, "--length", "5", "--out", str(zarr_out))
    assert code == 2 and "o.zarr exists; pass overwrite=True (--overwrite)" in err
    assert (zarr_out / "sub").is_dir()
    code, err = _generate(capsys, "--length", "5", "--out", str(zarr_out), "--resume", "--overwrite")
    assert code == 2 and "not both" in err
    assert main([*HENON, "--out", str(zarr_out), "--overwrite"]) == 0
    assert open_trajectories(zarr_out)["x"].shape == (1, 5, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nc", "o.zarr"]
