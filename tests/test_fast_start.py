"""``chaosbench generate run.nc`` from a recorded plan, without torch: the torch path's numbers bit for bit.

The pieces are checked against the torch code they stand in for (torch's CPU generator, the sampling,
the divergence bound, the pilot times), then whole runs: the plan's arrays against
``generate_trajectory_arrays`` for several systems and options, and the command line's two runs (the
first through torch, recording the plan; the second from the plan, in a process that never imports
torch) against each other, file for file.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import torch

from chaosbench_py import cli
from chaosbench_py.simulate import fast_start, native_dop853
from chaosbench_py.simulate.fast_start import (
    TorchCPUGenerator,
    bound_from_size,
    generate_from_plan,
    load_plan,
    pilot_times,
)
from chaosbench_py.simulate.sampling import resolve_sampling
from chaosbench_py.simulate.solvers import catalog_attractor_size, divergence_bound
from chaosbench_py.simulate.trajectories import generate_trajectory_arrays
from chaosbench_py.systems import get_system

needs_kernel = pytest.mark.skipif(
    native_dop853.native_kernel(get_system("Lorenz"), torch.zeros(1, 3, dtype=torch.float64)) is None,
    reason="no C compiler: no native kernel, no plan",
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAOSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CHAOSBENCH_NATIVE", raising=False)
    return tmp_path / "cache"


# --------------------------------------------------------------------------- torch's generator


@pytest.mark.parametrize("seed", [0, 1, 17, 2**31 + 3, 2**32 - 1, 2**32 + 5, 2**40 + 123])
def test_randperm_then_randn_are_torchs(seed):
    """One generator through a mixed sequence of calls: the stream and the cached normal carry over."""
    g = torch.Generator().manual_seed(seed)
    ours = TorchCPUGenerator(seed)
    for n in (1, 2, 3, 10, 1001, 4097):
        assert np.array_equal(ours.randperm(n), torch.randperm(n, generator=g).numpy()), n
        for size in (1, 2, 3, 5, 15, 16, 17, 31, 32, 48, 600, 6001):
            expected = torch.randn(size, generator=g, dtype=torch.float64).numpy()
            assert np.array_equal(ours.randn(size), expected), (n, size)


def test_randn_shape_of_initial_conditions():
    """The (n, D) draw of ``initial_conditions`` is the flat draw reshaped (contiguous)."""
    for n, dim in ((1, 3), (5, 3), (6, 3), (200, 3), (7, 4), (33, 6)):
        g = torch.Generator().manual_seed(9)
        torch.randperm(50, generator=g)
        expected = torch.randn((n, dim), generator=g, dtype=torch.float64).numpy()
        ours = TorchCPUGenerator(9)
        ours.randperm(50)
        assert np.array_equal(ours.randn(n * dim).reshape(n, dim), expected)


# --------------------------------------------------------------------------- the torch path's small pieces


@pytest.mark.parametrize("name", ["Lorenz", "Rossler", "ForcedVanDerPol", "Duffing", "Halvorsen"])
def test_sampling_bound_and_pilot_times_match_the_torch_path(name):
    system = get_system(name)
    info = system.info
    for kwargs in ({}, {"pts_per_period": 37.0}, {"pts_per_lyapunov": 25.0}, {"sample_dt": 0.013}):
        ours = fast_start.flow_sampling(
            name, info.period, info.invariants.lyapunov_time,
            **{"pts_per_period": None, "pts_per_lyapunov": None, "sample_dt": None, **kwargs},
        )  # fmt: skip
        assert ours == resolve_sampling(system, **kwargs)
    x = system.default_initial_condition(dtype=torch.float64)[None] * torch.tensor([[1.0], [3.0], [-50.0]])
    unbounded = [i for i in info.unbounded_indices if 0 <= i < system.dim]
    for rows in (x[:1], x, x * np.nan):
        ours = bound_from_size(catalog_attractor_size(info, system.dim), 1e6, unbounded, rows.numpy())
        assert np.array_equal(ours, divergence_bound(system, rows).numpy())
    for n in (1, 200, 1000, 5003):
        period = info.period or info.dt or 1.0
        n_periods = max(100, n // 5)
        expected = period * torch.arange(200, (20 + n_periods) * 10 + 1, dtype=torch.float64) / 10
        assert np.array_equal(pilot_times(period, n)[1:], expected.numpy()) and pilot_times(period, n)[0] == 0


# --------------------------------------------------------------------------- whole runs from a plan


def _plan_for(name, **params):
    system = get_system(name, **params)
    first = generate_trajectory_arrays(system, 3, 50, seed=0)
    path = native_dop853.record_plan(system, None, params, first.x, (0.0, first.attrs["time_offset"]))
    assert path is not None, f"{name} should qualify for a plan"
    plan = load_plan(path)
    assert plan is not None
    return system, plan


def _same_arrays(a, b):
    assert b is not None
    assert np.array_equal(a.x, b.x) and a.x.dtype == b.x.dtype
    assert np.array_equal(a.time, b.time)
    strip = lambda attrs: json.dumps({k: v for k, v in attrs.items() if k != "created"}, sort_keys=True)  # noqa: E731
    assert strip(a.attrs) == strip(b.attrs)
    assert a.x_attrs == b.x_attrs and a.time_attrs == b.time_attrs


@needs_kernel
@pytest.mark.parametrize(
    "options",
    [
        dict(n_trajectories=5, length=300),  # 15 normal values: torch's scalar Box-Muller
        dict(n_trajectories=6, length=301, chunk=64, seed=11),  # 18 values: the redrawn last block
        dict(n_trajectories=40, length=120, noise=0.05, seed=2, pts_per_lyapunov=20.0),
        dict(n_trajectories=9, length=1, transient=0.0),
        dict(n_trajectories=4, length=80, sample_dt=0.05, transient=2.5, rtol=1e-7, atol=1e-10),
    ],
)
def test_plan_run_equals_the_torch_path(cache, options):
    system, plan = _plan_for("Lorenz")
    n, length = options.pop("n_trajectories"), options.pop("length")
    _same_arrays(generate_trajectory_arrays(system, n, length, **options), generate_from_plan(plan, n, length, **options))


@needs_kernel
@pytest.mark.parametrize("name", ["Rossler", "ForcedVanDerPol", "Chua", "Halvorsen"])
def test_plan_run_equals_the_torch_path_across_systems(cache, name):
    """Other right-hand sides: forced (time-dependent, sin/cos through torch's VML), piecewise, quadratic."""
    system, plan = _plan_for(name)
    _same_arrays(
        generate_trajectory_arrays(system, 11, 150, seed=5, chunk=70),
        generate_from_plan(plan, 11, 150, seed=5, chunk=70),
    )


@needs_kernel
def test_plan_with_parameters_is_its_own(cache):
    _, plan = _plan_for("Lorenz", rho=30.0)
    system = get_system("Lorenz", rho=30.0)
    assert json.loads(plan["parameters"])["rho"] == 30.0
    _same_arrays(generate_trajectory_arrays(system, 4, 60), generate_from_plan(plan, 4, 60))
    assert fast_start.plan_path("Lorenz", None, {"rho": 30.0}) != fast_start.plan_path("Lorenz", None, {})


def test_plans_belong_to_one_environment(cache, monkeypatch):
    """Two virtual environments sharing a cache folder keep separate plans (each calls its own torch)."""
    here = fast_start.plan_path("Lorenz", None, {})
    assert fast_start.torch_library() == str(pathlib.Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")
    monkeypatch.setattr(fast_start, "torch_library", lambda: "/elsewhere/torch/lib/libtorch_cpu.so")
    assert fast_start.plan_path("Lorenz", None, {}) != here


@needs_kernel
def test_a_run_that_leaves_the_bound_gives_none(cache):
    """Divergence (here: a bound far inside the attractor) is left to the torch path, which names it."""
    _, plan = _plan_for("Lorenz")
    plan = dict(plan, attractor_size=1e-9, divergence_factor=1.0)
    assert generate_from_plan(plan, 3, 50) is None


@needs_kernel
def test_stale_or_damaged_plans_are_not_used(cache):
    _, plan = _plan_for("Lorenz")
    path = fast_start.plan_path("Lorenz", None, {})
    assert load_plan(path) is not None
    path.write_text(json.dumps(dict(plan, cpu="another machine")))
    assert load_plan(path) is None
    path.write_text(json.dumps(dict(plan, library=str(cache / "gone.so"))))
    assert load_plan(path) is None
    path.write_text(json.dumps(dict(plan, format=0)))
    assert load_plan(path) is None
    # another virtual environment's torch: loading its libtorch_cpu beside this one aborts the process
    path.write_text(json.dumps(dict(plan, vml_library="/elsewhere/.venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so")))
    assert load_plan(path) is None
    path.write_text("{not json")
    assert load_plan(path) is None


@pytest.mark.parametrize(
    "name",
    [
        "Lorenz96TwoScale",  # no catalog std: torch draws the spread from the pilot orbit's std
        "CaTwoPlus",  # a general power: the C library's pow may round otherwise than torch's
        "Colpitts",  # relu: no C translation, the torch step
    ],
)
def test_systems_that_do_not_qualify_get_no_plan(cache, name):
    system = get_system(name)
    x = np.asarray(system.default_initial_condition(dtype=torch.float64))[None].repeat(4, 0)
    assert native_dop853.record_plan(system, None, {}, x) is None


# --------------------------------------------------------------------------- the command line


def _attrs(path):
    with netCDF4.Dataset(path) as ds:
        x = np.asarray(ds["x"][:])
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs() if k != "created"}
    return x, json.dumps(attrs, sort_keys=True, default=repr)


@needs_kernel
def test_command_line_second_run_skips_torch_and_writes_the_same_file(cache, tmp_path):
    args = ["generate", "--system", "Lorenz", "--trajectories", "13", "--length", "220", "--quiet",
            "--seed", "4", "--chunk", "100", "--noise", "0.01"]  # fmt: skip
    first = tmp_path / "first.nc"
    assert cli.main([*args, "--out", str(first)]) == 0  # through torch; records the plan
    assert list((cache / "native" / "plans").glob("Lorenz_*.json"))
    second = tmp_path / "second.nc"
    code = (
        "import sys; from chaosbench_py.cli import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    env = dict(os.environ, CHAOSBENCH_CACHE_DIR=str(cache))
    subprocess.run([sys.executable, "-c", code, *args, "--out", str(second)], check=True, env=env)
    x1, a1 = _attrs(first)
    x2, a2 = _attrs(second)
    assert np.array_equal(x1, x2) and a1 == a2
    before = second.read_bytes()  # an existing file is refused (exit 2) before any integration
    assert cli.main([*args, "--out", str(second)]) == 2
    assert second.read_bytes() == before


@needs_kernel
def test_command_line_falls_back_to_torch_without_a_plan_or_for_other_options(cache, tmp_path, monkeypatch):
    calls = []
    real = fast_start.generate_from_plan
    monkeypatch.setattr(fast_start, "generate_from_plan", lambda *a, **k: calls.append(1) or real(*a, **k))
    base = ["generate", "--system", "Lorenz", "--trajectories", "3", "--length", "40", "--quiet"]
    assert cli.main([*base, "--out", str(tmp_path / "a.nc")]) == 0
    assert calls == []  # no plan yet: torch
    assert cli.main([*base, "--out", str(tmp_path / "b.nc")]) == 0
    assert calls == [1]  # the plan
    assert cli.main([*base, "--method", "rk4", "--out", str(tmp_path / "c.nc")]) == 0
    assert cli.main([*base, "--param", "rho=29", "--out", str(tmp_path / "d.nc")]) == 0
    monkeypatch.setenv("CHAOSBENCH_FAST_START", "0")
    assert cli.main([*base, "--out", str(tmp_path / "e.nc")]) == 0
    monkeypatch.setenv("CHAOSBENCH_FAST_START", "1")
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")
    assert cli.main([*base, "--out", str(tmp_path / "f.nc")]) == 0
    assert calls == [1]


def test_only_valid_arguments_take_the_plan():
    """Anything the torch path would reject (and name) goes to the torch path."""
    good = dict(n_trajectories=2, length=10, chunk=5, transient=1.0, noise=0.0, seed=0, rtol=1e-9, atol=1e-9,
                pts_per_period=None, pts_per_lyapunov=None, sample_dt=None)  # fmt: skip
    assert fast_start.plain_arguments(**good)
    for key, value in [("n_trajectories", 0), ("length", True), ("chunk", 2.5), ("transient", -1.0),
                       ("noise", float("nan")), ("seed", -1), ("seed", 2**64), ("rtol", 0.0),
                       ("atol", float("inf")), ("sample_dt", -0.1), ("pts_per_period", 0.0)]:  # fmt: skip
        assert not fast_start.plain_arguments(**dict(good, **{key: value})), (key, value)
    assert not fast_start.plain_arguments(**dict(good, pts_per_period=10.0, sample_dt=0.1))


@needs_kernel
@pytest.mark.parametrize("name", ["CellCycle", "Lorenz", "ForcedVanDerPol", "Arneodo", "SprottA"])
def test_kernel_right_hand_side_is_torchs_bit_for_bit(cache, name):
    """``dop853_rhs`` (the first derivative of every plan run) against torch's ``f(t, x)``. CellCycle has
    ``number / x``, which torch computes as ``x.reciprocal() * number``: translated as ``a / x`` it differed
    in 83 of 900 values."""
    import ctypes

    system = get_system(name)
    rng = np.random.default_rng(0)
    std = np.asarray(system.info.std or np.ones(system.dim))
    x = np.ascontiguousarray(np.asarray(system.info.initial_condition) + 0.1 * std * rng.standard_normal((300, system.dim)))
    fn = native_dop853.native_kernel(system, torch.from_numpy(x))
    _, rhs = fast_start.bind_kernel(ctypes.CDLL(native_dop853._PATHS[id(fn)]))
    for t in (0.0, 1.37, 250.5):
        want = system(torch.tensor(t, dtype=torch.float64), torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(fast_start.rhs_values(rhs, t, x, native_dop853._vml_table()), want)


def test_importing_the_package_does_not_import_torch():
    """``import chaosbench_py`` is light (the fast start needs it); its names and subpackages still resolve."""
    code = (
        "import sys, chaosbench_py as cb; assert 'torch' not in sys.modules, 'imported torch'; "
        "assert cb.get_system('Lorenz').dim == 3 and 'Lorenz' in cb.systems.list_systems(); "
        "assert callable(cb.simulate.generate_trajectories); assert 'get_system' in dir(cb)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        import chaosbench_py

        chaosbench_py.nonexistent  # noqa: B018
