"""Batched integration, sampling, trajectory datasets and stores."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.integrate import solve_ivp

from chaosbench_py.simulate import (
    generate_to_store,
    generate_trajectories,
    integrate,
    open_trajectories,
    resolve_sampling,
    save_trajectories,
    window,
)
from chaosbench_py.systems import get_system


def _scipy_reference(system, x0, times, rtol=1e-12):
    def f(t, x):
        return system.rhs(torch.tensor(t, dtype=torch.float64), torch.from_numpy(x)).numpy()

    sol = solve_ivp(f, (times[0], times[-1]), x0, method="DOP853", t_eval=times, rtol=rtol, atol=rtol)
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("method,kw", [("dop853", {}), ("dopri8", {}), ("dopri5", {}), ("rk4", {"dt": 1e-3})])
def test_integrators_agree_with_scipy_dop853(method, kw):
    lorenz = get_system("Lorenz")
    x0 = torch.tensor(lorenz.info.initial_condition, dtype=torch.float64)
    times = np.linspace(0.0, 1.0 / 0.9056, 40)  # one Lyapunov time
    ref = _scipy_reference(lorenz, x0.numpy(), times)
    ours = integrate(lorenz, x0, torch.from_numpy(times), method=method, rtol=1e-11, atol=1e-11, **kw)
    rel = np.abs(ours.numpy() - ref).max() / np.abs(ref).max()
    assert rel < 1e-6, (method, rel)


def test_batch_equals_single_runs():
    rossler = get_system("Rossler")
    x0 = torch.tensor(rossler.info.initial_condition) + 0.5 * torch.randn(5, 3, dtype=torch.float64)
    times = torch.linspace(0, 10, 21, dtype=torch.float64)
    batch = integrate(rossler, x0, times, rtol=1e-10, atol=1e-10)
    for i in range(5):
        single = integrate(rossler, x0[i], times, rtol=1e-10, atol=1e-10)
        # shared step sizes differ from single runs, both are within tolerance
        assert torch.allclose(batch[i], single, rtol=1e-7, atol=1e-7)


def test_bad_inputs_are_clear_errors():
    lorenz = get_system("Lorenz")
    with pytest.raises(ValueError, match="strictly increasing"):
        integrate(lorenz, torch.zeros(3, dtype=torch.float64), torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="method"):
        integrate(lorenz, torch.zeros(3), torch.tensor([0.0, 1.0]), method="euler")
    with pytest.raises(ValueError, match="rk4"):
        integrate(lorenz, torch.zeros(3), torch.tensor([0.0, 1.0]), method="rk4")
    with pytest.raises(ValueError, match=r"initial_condition must have shape \(\.\.\., 3\); got \(4,\)"):
        generate_trajectories("Lorenz", 2, 10, initial_condition=np.zeros(4))
    with pytest.raises(ValueError, match="at most one"):
        resolve_sampling(lorenz, pts_per_period=10, sample_dt=0.1)
    with pytest.raises(KeyError, match="valid parameters"):
        get_system("Lorenz", sigmaa=3.0)
    with pytest.raises(KeyError, match="Did you mean: Lorenz"):
        get_system("lorentz")


@pytest.mark.parametrize("method", ["rk4", "dop853"])
def test_finite_time_blowup_is_reported(method):
    # x' = x^2 from x(0) = 1 blows up at t = 1
    def explode(t, x):
        return x * x

    with pytest.raises(FloatingPointError, match="diverged at t=.* in trajectory 0: .*(NaN/inf|underflow)"):
        integrate(
            explode,
            torch.ones(1, 1, dtype=torch.float64),
            torch.tensor([0.0, 0.5, 2.0]),
            method=method,
            dt=0.01,
        )


def test_sampling_per_period_and_lyapunov_time():
    lorenz = get_system("Lorenz")
    s = resolve_sampling(lorenz, pts_per_period=50)
    assert s.sample_dt == pytest.approx(lorenz.info.period / 50)
    s = resolve_sampling(lorenz, pts_per_lyapunov=30)
    assert s.sample_dt == pytest.approx(1 / lorenz.info.invariants.max_lyapunov / 30)
    ds = generate_trajectories("Lorenz", 3, 40, pts_per_lyapunov=30, transient=1, seed=1)
    assert ds["x"].dims == ("trajectory", "time", "dim")
    assert ds["x"].shape == (3, 40, 3)
    np.testing.assert_allclose(np.diff(ds.time.values), s.sample_dt)
    assert ds.attrs["sampling_unit"] == "lyapunov" and ds.attrs["seed"] == 1
    assert ds.attrs["system"] == "Lorenz" and "sigma" in ds.attrs["parameters"]


def test_generated_trajectories_follow_the_flow():
    """Samples k and k+1 are one flow map apart: re-integrating sample k reproduces sample k+1."""
    lorenz = get_system("Lorenz")
    ds = generate_trajectories(lorenz, 2, 30, pts_per_period=20, transient=2, seed=4, rtol=1e-11, atol=1e-11)
    x = torch.from_numpy(ds["x"].values)
    dt = float(ds.time[1] - ds.time[0])
    nxt = integrate(lorenz, x[:, 10], torch.tensor([0.0, dt], dtype=torch.float64), rtol=1e-11, atol=1e-11)[
        :, 1
    ]
    assert torch.allclose(nxt, x[:, 11], rtol=1e-7, atol=1e-7)


def test_seed_determinism_and_noise():
    a = generate_trajectories("Rossler", 4, 50, seed=7, noise=0.1)
    b = generate_trajectories("Rossler", 4, 50, seed=7, noise=0.1)
    c = generate_trajectories("Rossler", 4, 50, seed=8, noise=0.1)
    clean = generate_trajectories("Rossler", 4, 50, seed=7, noise=0.0)
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    assert not np.allclose(a.x, c.x)
    resid = (a.x - clean.x).values
    std = np.asarray(get_system("Rossler").info.std)
    np.testing.assert_allclose(resid.reshape(-1, 3).std(axis=0) / std, 0.1, rtol=0.15)
    # the initial conditions are spread along the attractor (not all in one place)
    assert float(clean.x.isel(time=0).std("trajectory").min()) > 0.1 * std.min()


def test_save_open_roundtrip_lazy(tmp_path):
    ds = generate_trajectories("Lorenz", 5, 120, seed=2)
    for name in ("t.zarr", "t.nc"):
        path = save_trajectories(ds, tmp_path / name, chunks={"trajectory": 2, "time": 50})
        back = open_trajectories(path)
        assert back["x"].chunks is not None  # dask-backed, nothing loaded yet
        np.testing.assert_array_equal(back["x"].values, ds["x"].values)
        w = window(back, trajectory=3, start=60, length=20)
        np.testing.assert_array_equal(w.values, ds["x"].values[3, 60:80])
        assert back.attrs["system"] == "Lorenz"
    with pytest.raises(ValueError, match="unknown format"):
        save_trajectories(ds, tmp_path / "t.csv")
    with pytest.raises(IndexError):
        window(back, trajectory=0, start=110, length=20)


def test_atomic_overwrite_keeps_old_on_failure(tmp_path, monkeypatch):
    ds = generate_trajectories("Lorenz", 2, 20, seed=0)
    path = save_trajectories(ds, tmp_path / "keep.nc")
    before = open_trajectories(path)["x"].values.copy()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(FileExistsError, match="keep.nc exists; pass overwrite=True"):
        save_trajectories(ds * 2, path)
    with pytest.raises(RuntimeError, match="disk full"):
        save_trajectories(ds * 2, path, overwrite=True)
    np.testing.assert_array_equal(open_trajectories(path)["x"].values, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nc"]


def test_store_chunked_equals_in_memory_and_resumes(tmp_path, monkeypatch):
    kw = dict(seed=3, noise=0.05, transient=1.0)
    full = generate_trajectories("Lorenz", 3, 250, chunk=100, **kw)
    path = tmp_path / "run.zarr"

    # interrupt after the second block: make the third append fail
    import chaosbench_py.simulate.store as store

    real = store._append_block
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(store, "_append_block", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_to_store(path, "Lorenz", 3, 250, chunk=100, **kw)
    monkeypatch.setattr(store, "_append_block", real)
    # nothing partial at the output path: the unfinished run is hidden and marked incomplete
    assert not path.exists() and [p.name for p in tmp_path.iterdir()] == [".run.zarr.partial"]
    with pytest.raises(FileNotFoundError, match="unfinished run is at .*run.zarr.partial"):
        open_trajectories(path)
    partial = open_trajectories(path, allow_incomplete=True)
    assert partial.sizes["time"] == 101 and partial.attrs["generation_status"] == "incomplete"
    with pytest.raises(ValueError, match="unfinished run"):
        open_trajectories(tmp_path / ".run.zarr.partial")
    with pytest.raises(FileExistsError, match="resume=True"):
        generate_to_store(path, "Lorenz", 3, 250, chunk=100, **kw)
    with pytest.raises(ValueError, match="different arguments: .*seed: 3 in the store, 4 now"):
        generate_to_store(path, "Lorenz", 3, 250, chunk=100, resume=True, seed=4, noise=0.05, transient=1.0)
    generate_to_store(path, "Lorenz", 3, 250, chunk=100, resume=True, **kw)
    back = open_trajectories(path)
    np.testing.assert_array_equal(back["x"].values, full["x"].values)
    np.testing.assert_allclose(back.time.values, full.time.values)
    assert back.attrs["generation_status"] == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["run.zarr"]
    # resuming a complete store with the same arguments is a no-op; with others it is refused
    generate_to_store(path, "Lorenz", 3, 250, chunk=100, resume=True, **kw)
    with pytest.raises(ValueError, match="length: 250 in the store, 300 now"):
        generate_to_store(path, "Lorenz", 3, 300, chunk=100, resume=True, **kw)


def test_maps_and_pde_generate():
    henon = generate_trajectories("Henon", 4, 100, transient=100, seed=0)
    assert henon["x"].shape == (4, 100, 2)
    assert np.all(np.abs(henon["x"].values) < 2)
    ks = get_system("KuramotoSivashinsky")
    out = generate_trajectories(ks, 2, 20, sample_dt=4 * ks.info.dt, transient=10, seed=0)
    assert out["x"].shape == (2, 20, ks.dim)
    np.testing.assert_allclose(np.diff(out.time.values), 4 * ks.info.dt)
