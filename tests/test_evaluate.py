"""evaluate_weather / scorecards_to_csv / evaluate_dynamics and its JSON round trip."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import xarray as xr
from gridded_inputs import LAT, LEVELS, TIMES, make_data

from chaosbench_py.data import channel_statistics
from chaosbench_py.evaluation import (
    evaluate_dynamics,
    evaluate_weather,
    read_dynamics_evaluation,
    rollout_gridded,
    scorecards_to_csv,
    write_dynamics_evaluation,
)
from emulators import Persistence, PersistenceConfig, ShPLRNN, ShPLRNNConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weather():
    data = make_data(seed=1)
    stats = channel_statistics(data, variables=["z", "t2m"], years=(2020, 2020))
    fc = rollout_gridded(
        Persistence(PersistenceConfig(in_channels=3)),
        data,
        variables=["z", "t2m"],
        statistics=stats,
        init_times=TIMES[[0, 1, 2, 4]],
        n_steps=4,
    )
    mean = data.mean("time")
    clim = xr.concat([mean] * 366, dim=pd.Index(np.arange(1, 367), name="dayofyear"))
    return data, fc, clim


def test_persistence_model_scores_like_persistence_reference(weather):
    data, fc, clim = weather
    cards = evaluate_weather(fc, data, clim)
    assert set(cards) == {"model", "persistence", "climatology"}
    model, pers, cl = cards["model"], cards["persistence"], cards["climatology"]
    assert list(model["metric"].values) == ["rmse", "acc", "bias"]
    for v in ("z", "t2m"):
        np.testing.assert_allclose(model[v].values, pers[v].values, rtol=1e-5, atol=1e-6)
        # a climatology forecast has zero anomaly: its ACC is undefined (0/0)
        assert np.isfinite(cl[v].sel(metric=["rmse", "bias"]).values).all()
        assert not np.allclose(cl[v].sel(metric="rmse").values, model[v].sel(metric="rmse").values)
    assert model["z"].dims == ("metric", "level", "lead_time")
    np.testing.assert_array_equal(model["level"].values, LEVELS)
    assert (model["t2m"].sel(metric="rmse").values > 0).all()


def test_rmse_value_independent(weather):
    """WB2 RMSE of persistence at lead 1 from numpy: sqrt(mean over inits of the cell-area-weighted MSE)."""
    data, fc, _ = weather
    cards = evaluate_weather(fc, data, None, metrics=("rmse",), references=())
    assert set(cards) == {"model"}
    edges = np.clip(np.concatenate([[90.0], (LAT[1:] + LAT[:-1]) / 2, [-90.0]]), -90, 90)
    w = np.sin(np.deg2rad(edges[:-1])) - np.sin(np.deg2rad(edges[1:]))
    w = w / w.mean()
    mses = []
    for t in fc["init_time"].values:
        f = data["t2m"].sel(time=t).values.astype(np.float64)
        o = data["t2m"].sel(time=t + np.timedelta64(1, "D")).values.astype(np.float64)
        mses.append(np.mean(w[:, None] * (f - o) ** 2))
    got = float(cards["model"]["t2m"].sel(metric="rmse").isel(lead_time=0))
    assert got == pytest.approx(math.sqrt(np.mean(mses)), rel=1e-5)


def test_without_climatology_skips_with_warning(weather, caplog):
    data, fc, _ = weather
    with caplog.at_level(logging.WARNING, logger="chaosbench_py.evaluation.evaluate"):
        cards = evaluate_weather(fc, data)
    assert set(cards) == {"model", "persistence"}
    assert "climatology reference is skipped" in caplog.text and "acc" in caplog.text
    assert list(cards["model"]["metric"].values) == ["rmse", "bias"]
    with pytest.raises(ValueError, match="references"):
        evaluate_weather(fc, data, references=("analogues",))
    with pytest.raises(KeyError, match="t2m"):
        evaluate_weather(fc, data[["z"]])


def test_scorecards_csv(weather, tmp_path):
    data, fc, clim = weather
    cards = evaluate_weather(fc, data, clim, metrics=("rmse", "bias"))
    path = scorecards_to_csv(cards, tmp_path / "out" / "scores.csv")
    frame = pd.read_csv(path, keep_default_na=False)
    assert list(frame.columns) == ["model", "variable", "level", "metric", "lead_time_hours", "value"]
    # 3 cards × (2 z levels + 1 t2m) × 2 metrics × 4 leads
    assert len(frame) == 3 * 3 * 2 * 4
    assert sorted(set(frame["lead_time_hours"])) == [24.0, 48.0, 72.0, 96.0]
    row = frame[
        (frame.model == "climatology")
        & (frame.variable == "z")
        & (frame.level.astype(str) == "850")
        & (frame.metric == "rmse")
        & (frame.lead_time_hours == 48.0)
    ]
    want = float(cards["climatology"]["z"].sel(metric="rmse", level=850).isel(lead_time=1))
    assert float(row["value"].iloc[0]) == pytest.approx(want, rel=1e-12)
    assert set(frame[frame.variable == "t2m"]["level"]) == {""}
    assert not list(tmp_path.joinpath("out").glob(".*tmp"))


# ------------------------------------------------------------------------------------------ dynamics
SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
DT = 0.01
L63_SPECTRUM = (0.9056, 0.0, -14.5723)


def _l63(x):
    return np.stack(
        [
            SIGMA * (x[..., 1] - x[..., 0]),
            x[..., 0] * (RHO - x[..., 2]) - x[..., 1],
            x[..., 0] * x[..., 1] - BETA * x[..., 2],
        ],
        axis=-1,
    )


def _rk4(f, x, h):
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def lorenz_series(n: int = 1500) -> np.ndarray:
    x = np.array([1.0, 1.0, 1.0])
    for _ in range(1000):
        x = _rk4(_l63, x, DT)
    out = np.empty((n, 3))
    for i in range(n):
        out[i] = x
        x = _rk4(_l63, x, DT)
    return out


class ExactLorenz(nn.Module):
    """The data's own RK4 map as a latent model (identity read-out): a perfect emulator."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def init_state(self, x):
        return x.to(torch.float64)

    def observe(self, z):
        return z

    def step(self, z):
        def f(v):
            return torch.stack(
                [
                    SIGMA * (v[..., 1] - v[..., 0]),
                    v[..., 0] * (RHO - v[..., 2]) - v[..., 1],
                    v[..., 0] * v[..., 1] - BETA * v[..., 2],
                ],
                dim=-1,
            )

        return _rk4(f, z, DT)


@pytest.fixture(scope="module")
def series():
    return lorenz_series()


def test_evaluate_dynamics_untrained_plrnn(series, tmp_path):
    torch.manual_seed(0)
    model = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=6, hidden_dim=16, clipped=True))
    standardized = (series - series.mean(0)) / series.std(0)  # keeps an untrained model's orbit in range
    ev = evaluate_dynamics(
        model,
        standardized,
        time_step=DT,
        true_lyapunov_spectrum=L63_SPECTRUM,
        lyapunov_steps=500,
        lyapunov_transient=50,
    )
    for v in (ev.d_stsp, ev.d_h, ev.pe):
        assert math.isfinite(v)
    assert len(ev.lyapunov_spectrum) == 6 and np.isfinite(ev.lyapunov_spectrum).all()
    assert ev.lambda_max_true == pytest.approx(0.9056)
    assert ev.extra["lambda_max_true_source"] == "given"
    assert ev.extra["vpt"] >= 0 and ev.extra["vpt_steps"] < series.shape[0] - 1
    assert ev.extra["vpt"] == pytest.approx(ev.extra["vpt_steps"] * DT * 0.9056)
    path = write_dynamics_evaluation(ev, tmp_path / "dyn.json")
    back = read_dynamics_evaluation(path)
    assert back.as_dict() == ev.as_dict()
    assert back.extra == ev.extra


def test_evaluate_dynamics_perfect_model(series):
    """The data's own map: valid for the whole series, λ1 of the model ≈ 0.91 and λ1 of the data
    (Rosenstein estimate) of the right size."""
    ev = evaluate_dynamics(ExactLorenz(), series, time_step=DT, lyapunov_steps=3000, lyapunov_transient=100)
    assert ev.extra["vpt_steps"] == series.shape[0] - 1
    assert ev.pe < 1e-12
    assert ev.lyapunov_spectrum[0] == pytest.approx(0.9056, rel=0.35)
    assert ev.extra["lambda_max_true_source"].startswith("rosenstein")
    assert 0.5 < ev.lambda_max_true < 1.6  # Rosenstein on 15 time units: rough
    assert ev.extra["vpt"] == pytest.approx((series.shape[0] - 1) * DT * ev.lambda_max_true)


def test_evaluate_dynamics_bad_input(series):
    model = ExactLorenz()
    with pytest.raises(ValueError, match="test_series"):
        evaluate_dynamics(model, series[:, :, None], time_step=DT)
    with pytest.raises(ValueError, match="time_step"):
        evaluate_dynamics(model, series, time_step=0.0)
    with pytest.raises(FileNotFoundError):
        read_dynamics_evaluation("no/such/file.json")
