"""rollout_gridded / rollout_sequence: known-answer models on a tiny synthetic canonical dataset."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn as nn
import xarray as xr
from gridded_inputs import LAT, LEVELS, LON, TIMES, make_data

from chaosbench_py.data import WindowDataset, channel_statistics
from chaosbench_py.evaluation import rollout_gridded, rollout_sequence
from chaosbench_py.evaluation.dsr import free_run
from emulators import (
    NeuralODE,
    NeuralODEConfig,
    Persistence,
    PersistenceConfig,
    ShPLRNN,
    ShPLRNNConfig,
    gridded_step,
)

torch.set_num_threads(1)

DAY = np.timedelta64(1, "D")


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def stats(data):
    return channel_statistics(data, variables=["z", "t2m"], years=(2020, 2020))


def physical(data: xr.Dataset, t) -> np.ndarray:
    """(3, H, W) raw channels z-500, z-850, t2m at time t (float64)."""
    s = data.sel(time=t)
    return np.concatenate([s["z"].values, s["t2m"].values[None]]).astype(np.float64)


class Linear(nn.Module):
    """y_c = a·x_c + b_c for the len(b) dynamic channels (+ beta · the first constant channel)."""

    def __init__(self, a: float, b=(0.5, -0.25, 1.0), beta: float = 0.0):
        super().__init__()
        self.a, self.beta = a, beta
        self.register_buffer("b", torch.tensor(b, dtype=torch.float32))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        n = self.b.numel()
        y = self.a * x[:, :n] + self.b[None, :, None, None]
        if x.shape[1] > n:
            y = y + self.beta * x[:, n : n + 1]
        return y


def test_persistence_returns_initial_state_in_physical_units(data, stats):
    model = Persistence(PersistenceConfig(in_channels=3))
    inits = TIMES[[0, 3]]
    fc = rollout_gridded(
        model, data, variables=["z", "t2m"], statistics=stats, init_times=inits, n_steps=4, batch_size=1
    )
    assert fc["z"].dims == ("init_time", "lead_time", "level", "latitude", "longitude")
    assert fc["t2m"].dims == ("init_time", "lead_time", "latitude", "longitude")
    assert fc["z"].attrs["units"] == "m**2 s**-2" and fc["t2m"].attrs["units"] == "K"
    np.testing.assert_array_equal(fc["lead_time"].values, DAY * np.arange(1, 5))
    np.testing.assert_array_equal(fc["valid_time"].values, inits[:, None] + DAY * np.arange(1, 5)[None])
    np.testing.assert_array_equal(fc["level"].values, LEVELS)
    for i, t in enumerate(inits):
        for k in range(4):
            np.testing.assert_allclose(fc["z"].values[i, k], data["z"].sel(time=t).values, rtol=1e-6)
            np.testing.assert_allclose(fc["t2m"].values[i, k], data["t2m"].sel(time=t).values, rtol=1e-6)


def test_linear_model_with_constant_known_answer(data, stats):
    """x_k = a x_{k-1} + b + β·c in normalised units, c the normalised constant field."""
    rng = np.random.default_rng(5)
    oro = xr.DataArray(
        1000.0 * rng.random((LAT.size, LON.size)),
        dims=("latitude", "longitude"),
        coords={"latitude": LAT, "longitude": LON},
    )
    a, beta, b = 0.9, 0.3, np.array([0.5, -0.25, 1.0])
    model = Linear(a, tuple(b), beta)
    t0 = TIMES[2]
    fc = rollout_gridded(
        model,
        data,
        variables=["z", "t2m"],
        statistics=stats,
        constants={"oro": oro},
        init_times=[t0],
        n_steps=3,
    )
    mean = stats["mean"].sel(channel=["z-500", "z-850", "t2m"]).values[:, None, None]
    std = stats["std"].sel(channel=["z-500", "z-850", "t2m"]).values[:, None, None]
    c = (oro.values - oro.values.mean()) / oro.values.std()  # WindowDataset: own spatial mean/std
    x = (physical(data, t0) - mean) / std
    for k in range(3):
        x = a * x + b[:, None, None] + beta * c[None]
        want = x * std + mean
        np.testing.assert_allclose(fc["z"].values[0, k], want[:2], rtol=2e-6)
        np.testing.assert_allclose(fc["t2m"].values[0, k], want[2], rtol=2e-6)
    # the initial input equals the WindowDataset's normalised input with constants
    seen = {}

    class Spy(nn.Module):
        def forward(self, x):
            seen["x"] = x.clone()
            return x[:, :3]

    rollout_gridded(
        Spy(),
        data,
        variables=["z", "t2m"],
        statistics=stats,
        constants={"oro": oro},
        init_times=[t0],
        n_steps=1,
    )
    ref = WindowDataset(
        data,
        variables=["z", "t2m"],
        statistics=stats,
        constants={"oro": oro},
        init_times=[t0],
        lead_steps=(1,),
    )[0][0]
    torch.testing.assert_close(seen["x"][0], ref, rtol=1e-5, atol=1e-5)


def test_members_spread_grows_and_is_reproducible(data, stats):
    kw = dict(
        variables=["z", "t2m"],
        statistics=stats,
        init_times=TIMES[[1, 4, 6]],
        n_steps=4,
        members=8,
        perturbation_std=0.1,
        seed=3,
    )
    fc = rollout_gridded(Linear(1.2), data, batch_size=2, **kw)
    assert fc["z"].dims == ("init_time", "lead_time", "member", "level", "latitude", "longitude")
    np.testing.assert_array_equal(fc["member"].values, np.arange(8))
    std_t2m = float(stats["std"].sel(channel="t2m"))
    spread = fc["t2m"].std("member").mean(("init_time", "latitude", "longitude")).values / std_t2m
    # perturbation σ = 0.1 in normalised units, amplified by a = 1.2 per step
    np.testing.assert_allclose(spread, 0.1 * 1.2 ** np.arange(1, 5), rtol=0.1)
    assert np.all(np.diff(spread) > 0)
    # same seed → same members, independent of batch size; another seed → other members
    again = rollout_gridded(Linear(1.2), data, batch_size=8, **kw)
    np.testing.assert_array_equal(fc["z"].values, again["z"].values)
    other = rollout_gridded(Linear(1.2), data, batch_size=8, **(kw | {"seed": 4}))
    assert not np.allclose(fc["z"].values, other["z"].values)
    # control member: member 0 is the deterministic forecast
    ctl = rollout_gridded(Linear(1.2), data, control_member=True, **kw)
    det = rollout_gridded(Linear(1.2), data, **(kw | {"members": 1, "perturbation_std": 0.0}))
    assert "member" not in det.dims
    np.testing.assert_allclose(ctl["t2m"].isel(member=0).values, det["t2m"].values, rtol=1e-6)
    assert not np.allclose(ctl["t2m"].isel(member=1).values, det["t2m"].values)


def test_store_round_trip_and_resume(tmp_path, data, stats):
    kw = dict(variables=["z", "t2m"], statistics=stats, n_steps=3, batch_size=1)
    store = tmp_path / "fc.zarr"
    model = Linear(0.8)
    first = rollout_gridded(model, data, init_times=TIMES[[0, 2]], store=store, **kw)
    assert model.calls == 2 * 3
    assert first["z"].chunks is not None  # lazy
    memory = rollout_gridded(Linear(0.8), data, init_times=TIMES[[0, 2, 5]], **kw)
    xr.testing.assert_allclose(first["z"].load(), memory["z"].isel(init_time=[0, 1]), rtol=1e-6)
    model.calls = 0
    second = rollout_gridded(model, data, init_times=TIMES[[0, 2, 5]], store=store, **kw)
    assert model.calls == 3  # only the new init time was computed
    np.testing.assert_array_equal(second["init_time"].values, TIMES[[0, 2, 5]])
    np.testing.assert_allclose(second["t2m"].values, memory["t2m"].values, rtol=1e-6)
    np.testing.assert_array_equal(second["valid_time"].values, memory["valid_time"].values)
    assert second["t2m"].attrs["units"] == "K"


def test_interrupted_batch_is_recomputed_whole(tmp_path, data, stats, monkeypatch):
    """A rollout interrupted inside a batch resumes by recomputing that batch (the model sees the same
    batch shapes as an uninterrupted run, so the floats are identical) and writes only what is missing."""
    from chaosbench_py.data import ForecastWriter

    kw = dict(variables=["z", "t2m"], statistics=stats, n_steps=2, batch_size=3, init_times=TIMES[[0, 2, 5]])
    straight = rollout_gridded(Linear(0.8), data, store=tmp_path / "a.zarr", **kw)
    write = ForecastWriter.write
    calls = []

    def fail_on_second(self, t, fields):
        calls.append(t)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write(self, t, fields)

    with monkeypatch.context() as m:
        m.setattr(ForecastWriter, "write", fail_on_second)
        with pytest.raises(KeyboardInterrupt):
            rollout_gridded(Linear(0.8), data, store=tmp_path / "b.zarr", **kw)
    model = Linear(0.8)
    resumed = rollout_gridded(model, data, store=tmp_path / "b.zarr", **kw)
    assert model.calls == 2  # the one batch of three inits, two steps
    for v in ("z", "t2m"):
        np.testing.assert_array_equal(resumed[v].values, straight[v].values)


def test_step_and_lead_times(data, stats):
    fc = rollout_gridded(
        Linear(1.0, b=(0.0,)),
        data,
        variables=["t2m"],
        statistics=stats,
        init_times=[TIMES[0]],
        n_steps=2,
        step="6h",
    )
    np.testing.assert_array_equal(fc["lead_time"].values, np.array([6, 12], dtype="timedelta64[h]"))
    assert list(fc.data_vars) == ["t2m"] and "level" not in fc.dims


def test_errors_name_the_problem(data, stats):
    kw = dict(variables=["z", "t2m"], statistics=stats, n_steps=2)
    with pytest.raises(KeyError, match="2021-01-01"):
        rollout_gridded(Linear(1.0), data, init_times=["2021-01-01"], **kw)

    class Wrong(nn.Module):
        def forward(self, x):
            return x[:, :2]

    with pytest.raises(ValueError, match="dynamic channel"):
        rollout_gridded(Wrong(), data, init_times=[TIMES[0]], **kw)

    class Blows(nn.Module):
        def forward(self, x):
            y = x[:, :3].clone()
            y[:, 2] = float("nan")
            return y

    with pytest.raises(ValueError, match="non-finite.*'t2m'.*lead step 1"):
        rollout_gridded(Blows(), data, init_times=[TIMES[0]], **kw)
    with pytest.raises(KeyError, match="t2m"):
        rollout_gridded(
            Linear(1.0), data, init_times=[TIMES[0]], **(kw | {"statistics": stats.isel(channel=[0, 1])})
        )
    with pytest.raises(ValueError, match="perturbation_std"):
        rollout_gridded(Linear(1.0), data, init_times=[TIMES[0]], perturbation_std=0.1, **kw)
    with pytest.raises(ValueError, match="n_steps"):
        rollout_gridded(Linear(1.0), data, init_times=[TIMES[0]], **(kw | {"n_steps": 0}))


def test_gridded_step_prefers_forward_stacked():
    class Stacked(nn.Module):
        def forward(self, x):
            raise AssertionError("forward must not be called")

        def forward_stacked(self, x, masks=None):
            self.masks = masks
            return 2 * x

    x = torch.ones(2, 3, 4, 5)
    model = Stacked()
    torch.testing.assert_close(gridded_step(model, x), 2 * x)
    assert model.masks is None
    # constants after the dynamic channels become Pangu's masks
    torch.testing.assert_close(gridded_step(model, x, n_dynamic=2), 2 * x[:, :2])
    torch.testing.assert_close(model.masks, x[:, 2:])
    torch.testing.assert_close(gridded_step(Persistence(PersistenceConfig(in_channels=3)), x), x)
    with pytest.raises(ValueError, match="x: expected"):
        gridded_step(Stacked(), torch.ones(3, 4, 5))


def test_rollout_sequence_models():
    torch.manual_seed(0)
    plrnn = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=6, hidden_dim=8, clipped=True))
    x0 = torch.randn(4, 3)
    out = rollout_sequence(plrnn, x0, 5)
    assert out.shape == (4, 6, 3)
    np.testing.assert_allclose(out[:, 0], x0.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out, plrnn.generate(x0, 6).double().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[2], free_run(plrnn, x0[2].numpy(), 6), rtol=1e-12)

    node = NeuralODE(NeuralODEConfig(state_dim=3, hidden_dim=8, n_layers=1, dt=0.01))
    out = rollout_sequence(node, x0, 3)
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out[:, 0], x0.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], node.step(x0).detach().double().numpy(), rtol=1e-5, atol=1e-6)

    with pytest.raises(TypeError, match="not supported"):
        rollout_sequence(nn.Linear(3, 3), x0, 2)
    with pytest.raises(ValueError, match="n_steps"):
        rollout_sequence(plrnn, x0, 0)


def test_many_identical_members_warns(data, stats, caplog):
    with caplog.at_level(logging.WARNING, logger="chaosbench_py.evaluation.rollout"):
        rollout_gridded(
            Linear(1.0, b=(0.0,)),
            data,
            variables=["t2m"],
            statistics=stats,
            init_times=[TIMES[0]],
            n_steps=1,
            members=2,
        )
    assert "identical" in caplog.text


def test_composition_of_lead_time_models_follows_pangus_rule(data, stats):
    """{1: m1, 4: m4}: lead k uses the largest lead dividing k on the chain state of that lead;
    compared with emulators.rollout_hierarchical on the same normalised state (an independent path)."""
    from emulators import rollout_hierarchical

    m1, m4 = Linear(0.9, b=(0.1, 0.0, -0.1)), Linear(0.5, b=(0.0, 0.3, 0.0))
    kw = dict(variables=["z", "t2m"], statistics=stats, init_times=TIMES[[0]], n_steps=6)
    fc = rollout_gridded({1: m1, 4: m4}, data, **kw)
    assert m4.calls == 1 and m1.calls == 5  # k = 1, 2, 3 (m1), 4 (m4), 5, 6 (m1 from the 4-step state)
    names = [str(c) for c in stats["channel"].values]
    mean = stats["mean"].sel(channel=names).values[:, None, None]
    std = stats["std"].sel(channel=names).values[:, None, None]
    x0 = torch.as_tensor((physical(data, TIMES[0]) - mean) / std, dtype=torch.float32)[None]
    ref = rollout_hierarchical({1: m1, 4: m4}, x0, 6, return_all=True)  # leads in "hours" = steps
    got = np.concatenate([fc["z"].values[0], fc["t2m"].values[0][:, None]], axis=1)  # (lead, C, H, W)
    for k in range(1, 7):
        want = ref[k][0].double().numpy() * std + mean
        np.testing.assert_allclose(got[k - 1], want, rtol=1e-5, atol=1e-3)
    # a single model is the {1: model} case
    single = rollout_gridded(Linear(0.9, b=(0.1, 0.0, -0.1)), data, **kw)
    composite = rollout_gridded({1: Linear(0.9, b=(0.1, 0.0, -0.1))}, data, **kw)
    np.testing.assert_array_equal(single["z"].values, composite["z"].values)
    with pytest.raises(ValueError, match="1-step model"):
        rollout_gridded({4: m4}, data, **kw)
    with pytest.raises(ValueError, match="nested"):
        rollout_gridded({1: m1, 3: m4, 4: m4}, data, **kw)


def test_record_mode_keeps_going_after_one_forecast_blows_up(data, stats):
    """on_nonfinite="record": a forecast that blows up is NaN from its blow-up lead on (and only from there)."""

    class BlowsForSecondInit(nn.Module):  # grows ×10 a step, then inf once a value passes 1e5
        def forward(self, x):
            y = x[:, :3]
            hot = (y.abs().amax(dim=(1, 2, 3)) > 1e5)[:, None, None, None]
            return torch.where(hot, torch.full_like(y, float("inf")), 10.0 * y)

    kw = dict(variables=["z", "t2m"], statistics=stats, n_steps=6)
    inits = [TIMES[0], TIMES[1]]
    with pytest.raises(ValueError, match="non-finite"):
        rollout_gridded(BlowsForSecondInit(), data, init_times=inits, **kw)
    fc = rollout_gridded(BlowsForSecondInit(), data, init_times=inits, on_nonfinite="record", **kw)
    z = fc["z"].values  # (init, lead, level, lat, lon)
    finite = np.isfinite(z).all(axis=(2, 3, 4))
    assert not finite.all()
    for i in range(2):  # once NaN, NaN for every later lead
        first = np.argmin(finite[i]) if not finite[i].all() else finite.shape[1]
        assert finite[i, :first].all() and not finite[i, first:].any()
    with pytest.raises(ValueError, match="on_nonfinite"):
        rollout_gridded(Linear(1.0), data, init_times=inits, on_nonfinite="ignore", **kw)
