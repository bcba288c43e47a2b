"""Two training scales that decide whether a gridded emulator learns anything at a short budget.

* The EMA of the weights warms up (``min(decay, (1 + t) / (10 + t))``): without it a 600-step run at decay
  0.999 saves a model that is 55 % its random initial weights.
* ``task.loss_scale: tendency`` measures errors in units of each channel's one-step change, so persistence
  scores exactly 1 and a slowly changing field (geopotential) is not drowned by a fast one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from model_harness import single_thread  # noqa: F401  (autouse fixture: one torch thread)

import emulators
from chaosbench_py.data import latitude_weights
from chaosbench_py.training.config import ConfigError, config_from_dict
from chaosbench_py.training.tasks.next_step import NextStepTask, tendency_ratio
from chaosbench_py.training.trainer import Trainer, ema_decay_at


def _store(path: Path, n_times: int = 40, with_static: bool = False) -> Path:
    """z (fast: a wave moving east, amplitude noise) and slow (a large mean, a slow linear trend per cell)."""
    lat = np.linspace(80.0, -80.0, 8)
    lon = np.arange(0.0, 360.0, 30.0)
    time = pd.date_range("2001-01-01", periods=n_times, freq="12h").values
    rng = np.random.default_rng(1)
    t = np.arange(n_times)[:, None, None]
    phase = np.deg2rad(lon)[None, None, :]
    fast = (
        np.cos(np.deg2rad(lat))[None, :, None]
        * np.sin(2 * phase - 0.7 * t)
        * (1 + 0.2 * rng.random((n_times, 1, 1)))
    )
    rate = 1.0 + rng.random((1, lat.size, lon.size))
    slow = 3.0e4 + 500.0 * rng.standard_normal((1, lat.size, lon.size)) + rate * t
    dims, units = ("time", "latitude", "longitude"), {"units": "1"}
    data = {"fast": (dims, fast, units), "slow": (dims, slow, units)}
    if with_static:
        data["static"] = (dims, np.repeat(rng.random((1, lat.size, lon.size)), n_times, 0), units)
    xr.Dataset(data, coords={"time": time, "latitude": lat, "longitude": lon}).to_zarr(
        path, mode="w", zarr_format=2
    )
    return path


def _cfg(store: Path, variables=("fast", "slow"), **task) -> dict:
    return {
        "model": {"name": "fno", "config": {"n_modes": [4, 4], "hidden_channels": 8, "n_layers": 2, "residual": True}},
        "data": {"kind": "gridded", "path": str(store), "variables": list(variables), "in_memory": True,
                 "train": ["2001-01-01", "2001-01-15T12"]},
        "task": {"kind": "next_step", "rollout_steps": 1, **task},
        "optimizer": {"name": "adam", "lr": 1e-2},
        "train": {"steps": 4, "batch_size": 4, "ema_decay": 0.999, "checkpoint_every": 0, "log_every": 1,
                  "progress": False},
    }  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return _store(tmp_path_factory.mktemp("scales") / "s.zarr")


def test_ema_decay_warms_up_then_holds():
    assert ema_decay_at(0.999, 1) == pytest.approx(2 / 11)
    assert ema_decay_at(0.999, 600) == pytest.approx(601 / 610)
    assert ema_decay_at(0.999, 10**6) == 0.999
    assert ema_decay_at(0.5, 20) == 0.5  # once the warm-up curve passes the decay, the decay is used as given
    # the initial weights' share after 600 steps: 55 % without the warm-up, under 2 % with it
    share = np.prod([ema_decay_at(0.999, s) for s in range(1, 601)])
    assert 0.999**600 > 0.5 and share < 0.02


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_saved_model_is_the_warmed_up_average_of_the_iterates(tmp_path, store):
    trainer = Trainer(config_from_dict(_cfg(store)), tmp_path / "run")
    iterates = [{k: v.detach().clone() for k, v in trainer.model.state_dict().items()}]
    step = trainer.optimizer.step

    def recording_step(*a, **k):
        out = step(*a, **k)
        iterates.append({k_: v.detach().clone() for k_, v in trainer.model.state_dict().items()})
        return out

    trainer.optimizer.step = recording_step
    trainer.fit()
    assert len(iterates) == 5
    expected = {k: v.double() for k, v in iterates[0].items()}
    for s, theta in enumerate(iterates[1:], start=1):
        d = ema_decay_at(0.999, s)
        expected = {k: d * expected[k] + (1 - d) * theta[k].double() for k in expected}
    saved = emulators.load_model(tmp_path / "run" / "model.pt")[0].state_dict()
    for k, v in expected.items():
        if v.is_floating_point():
            torch.testing.assert_close(saved[k].double(), v, rtol=1e-5, atol=1e-6, msg=k)
    # and it is far from the initial weights (the un-warmed average would keep 99.6 % of them)
    w = next(k for k, v in expected.items() if v.dim() >= 2)
    moved = (saved[w].double() - iterates[0][w].double()).norm()
    assert moved > 0.5 * (iterates[-1][w].double() - iterates[0][w].double()).norm()


def test_tendency_ratio_matches_an_independent_computation(store):
    task = NextStepTask(config_from_dict(_cfg(store)), torch.device("cpu"))
    ds = xr.open_zarr(store).sel(time=slice("2001-01-01", "2001-01-15T12"))
    w = latitude_weights(ds.latitude.values)[:, None]
    for c, name in enumerate(("fast", "slow")):
        x = ds[name].values.astype(np.float64)
        d = (x[1:] - x[:-1]) / x.std()
        expected = np.sqrt((w * d**2).sum() / (w.sum() * d.shape[0] * d.shape[2]))
        got = float(tendency_ratio(task.train_set, task.lat_weights, 2, max_samples=10**6)[c])
        assert got == pytest.approx(expected, rel=1e-5), name
    ratio = tendency_ratio(task.train_set, task.lat_weights, 2)
    assert ratio[1] < 0.1 * ratio[0]  # the slow channel barely moves against its own spread


def test_persistence_scores_one_on_every_channel_in_tendency_units(store):
    task = NextStepTask(config_from_dict(_cfg(store, loss_scale="tendency")), torch.device("cpu"))
    assert task.tendency_ratio is not None and task.metadata()["loss_scale"] == "tendency"
    batch = task._stack(task.train_set, list(range(len(task.train_set))))
    persistence = emulators.Persistence(emulators.PersistenceConfig(in_channels=2))
    loss, _ = task.compute_loss(persistence, batch, 0)
    assert float(loss) == pytest.approx(1.0, rel=1e-5)
    # in state units the same forecast scores the channels' ratios²: the slow channel all but vanishes
    plain = NextStepTask(config_from_dict(_cfg(store)), torch.device("cpu"))
    loss_state, _ = plain.compute_loss(persistence, batch, 0)
    assert float(loss_state) == pytest.approx(float((task.tendency_ratio**2).mean()), rel=1e-5)
    # MAE: divided by r, so persistence scores the mean of |Δ|/r, not 1 (no square), but the same for both channels'
    mae = NextStepTask(config_from_dict(_cfg(store, loss_scale="tendency", loss="mae")), torch.device("cpu"))
    torch.testing.assert_close(mae.channel_weights, 1.0 / task.tendency_ratio)


def test_a_channel_that_never_changes_is_named(tmp_path):
    path = _store(tmp_path / "static.zarr", with_static=True)
    with pytest.raises(ConfigError, match=r"loss_scale: tendency.*\['static'\]"):
        NextStepTask(
            config_from_dict(_cfg(path, ("fast", "static"), loss_scale="tendency")), torch.device("cpu")
        )
    with pytest.raises(ConfigError, match="task.loss_scale"):
        config_from_dict(_cfg(path, loss_scale="diff"))


class _Recorder(torch.nn.Module):
    """Persistence that keeps the inputs it was given."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x[:, :2]


def test_input_noise_perturbs_training_inputs_by_the_stated_tendency_units(store):
    task = NextStepTask(config_from_dict(_cfg(store, input_noise=3.0)), torch.device("cpu"))
    batch = task._stack(task.train_set, list(range(len(task.train_set))))
    rec = _Recorder()
    torch.manual_seed(0)
    noisy, _ = task.compute_loss(rec.train(), batch, 0)
    rec.eval()
    clean, _ = task.compute_loss(rec, batch, 0)
    assert len(rec.seen) == 2
    torch.testing.assert_close(rec.seen[1], batch[0])  # eval mode (validation): no noise
    delta = (rec.seen[0] - batch[0]).double()
    measured = delta.pow(2).mean(dim=(0, 2, 3)).sqrt()
    torch.testing.assert_close(measured, 3.0 * task.tendency_ratio, rtol=0.05, atol=0.0)
    # persistence on noisy inputs: loss = state-unit error + the noise's variance per channel
    expected = float(clean) + float(((3.0 * task.tendency_ratio) ** 2).mean())
    assert float(noisy) == pytest.approx(expected, rel=0.1)
    with pytest.raises(ConfigError, match="task.input_noise"):
        config_from_dict(_cfg(store, input_noise=-1.0))
