"""Forecast rollouts split by init time over ranks into one store (rollout_gridded_ranks, `chaosbench
forecast`): the same floats as one process, resumable batch by batch, refusals named.

In-process tests run the rank code as rank 0 of 1; the ``distributed`` ones launch 2 gloo CPU processes
with torchrun."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import xarray as xr
import zarr
from gridded_inputs import TIMES, make_data
from rank_helpers import torchrun

from chaosbench_py.data import channel_statistics, open_forecast
from chaosbench_py.data.forecast_regions import DONE_ARRAY, REGIONS_ATTR, ForecastRegions
from chaosbench_py.errors import InputError, OutputExistsError
from chaosbench_py.evaluation import rollout_gridded
from chaosbench_py.evaluation.rank_rollout import forecast_run, rollout_gridded_ranks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Net(nn.Module):
    """A small convolutional step (deterministic weights), counting its calls."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 3, 3, padding=1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x + 0.1 * self.b(torch.tanh(self.a(x)))


@pytest.fixture(scope="module")
def setup():
    data = make_data()
    stats = channel_statistics(data, variables=["z", "t2m"], years=(2020, 2020))
    kw = dict(variables=["z", "t2m"], statistics=stats, init_times=TIMES[:7], n_steps=3, batch_size=2,
              members=2, perturbation_std=0.1, seed=5)  # fmt: skip
    return data, kw


def _values(ds: xr.Dataset) -> dict[str, np.ndarray]:
    return {v: ds[v].values for v in ("z", "t2m")}


def test_one_rank_store_equals_rollout_gridded(setup, tmp_path):
    data, kw = setup
    ref = rollout_gridded(Net(), data, store=tmp_path / "ref.zarr", **kw)
    net = Net()
    out = rollout_gridded_ranks(net, data, store=tmp_path / "r.zarr", **kw)
    assert net.calls == 4 * 3  # 4 batches (2, 2, 2, 1 inits) x 3 steps
    for v, a in _values(ref).items():
        np.testing.assert_array_equal(out[v].values, a)
    np.testing.assert_array_equal(out["valid_time"].values, ref["valid_time"].values)
    root = zarr.open_group(tmp_path / "r.zarr", mode="r")
    assert json.loads(root.attrs[REGIONS_ATTR])["status"] == "complete" and DONE_ARRAY not in root
    # a finished store: resumed, nothing is recomputed; ForecastWriter reads and continues it
    again = Net()
    rollout_gridded_ranks(again, data, store=tmp_path / "r.zarr", **kw)
    assert again.calls == 0
    more = rollout_gridded(Net(), data, store=tmp_path / "r.zarr", **{**kw, "init_times": TIMES[:8]})
    assert more.sizes["init_time"] == 8
    np.testing.assert_array_equal(more["z"].values[:7], ref["z"].values)


def test_interrupted_rollout_resumes_only_unfinished_batches(setup, tmp_path, monkeypatch):
    data, kw = setup
    store = tmp_path / "f.zarr"
    ref = _values(rollout_gridded(Net(), data, **kw))
    original = ForecastRegions.write_batch
    written = []

    def dies_at_third(self, b, fields):
        if len(written) == 2:
            raise RuntimeError("killed")
        written.append(b)
        original(self, b, fields)

    monkeypatch.setattr(ForecastRegions, "write_batch", dies_at_third)
    with pytest.raises(RuntimeError, match="killed"):
        rollout_gridded_ranks(Net(), data, store=store, **kw)
    monkeypatch.setattr(ForecastRegions, "write_batch", original)
    # unfinished: readers see no init, the one-init-at-a-time writer refuses it (would truncate it)
    with pytest.raises(InputError, match="length 0"):
        open_forecast(store)
    with pytest.raises(OutputExistsError, match="unfinished forecast store written by ranks"):
        rollout_gridded(Net(), data, store=store, **kw)
    with pytest.raises(OutputExistsError, match="resume"):
        rollout_gridded_ranks(Net(), data, store=store, resume=False, **kw)
    net = Net()
    out = rollout_gridded_ranks(net, data, store=store, **kw)
    assert net.calls == 2 * 3  # batches 2 and 3 only
    for v, a in ref.items():
        np.testing.assert_array_equal(out[v].values, a)
    # a batch whose marker is unset (killed between its fields and its marker) is redone, alone
    root = zarr.open_group(store, mode="r+")
    root.attrs.update({REGIONS_ATTR: json.dumps({**json.loads(root.attrs[REGIONS_ATTR]), "status": "incomplete"}),
                       "forecast_inits_committed": 0})  # fmt: skip
    done = root.create_array(DONE_ARRAY, shape=(4,), dtype=np.int8, chunks=(1,),
                             dimension_names=["forecast_batch"])  # fmt: skip  (zarr 3.0.8 has no data=)
    done[:] = np.array([1, 0, 1, 1], dtype=np.int8)
    net = Net()
    out = rollout_gridded_ranks(net, data, store=store, **kw)
    assert net.calls == 3
    for v, a in ref.items():
        np.testing.assert_array_equal(out[v].values, a)


def test_existing_stores_refused_or_replaced_by_name(setup, tmp_path):
    data, kw = setup
    store = tmp_path / "f.zarr"
    rollout_gridded_ranks(Net(), data, store=store, **kw)
    with pytest.raises(OutputExistsError, match="seed: store has 5, this rollout 6"):
        rollout_gridded_ranks(Net(), data, store=store, **{**kw, "seed": 6})
    with pytest.raises(OutputExistsError, match="batch_size: store has 2, this rollout 3"):
        rollout_gridded_ranks(Net(), data, store=store, **{**kw, "batch_size": 3})
    with pytest.raises(OutputExistsError, match="init_times"):
        rollout_gridded_ranks(Net(), data, store=store, **{**kw, "init_times": TIMES[1:8]})
    out = rollout_gridded_ranks(Net(), data, store=store, overwrite=True, **{**kw, "seed": 6})
    assert out.attrs["seed"] == 6
    appended = tmp_path / "appended.zarr"
    rollout_gridded(Net(), data, store=appended, **kw)
    with pytest.raises(OutputExistsError, match="one init at a time"):
        rollout_gridded_ranks(Net(), data, store=appended, **kw)
    with pytest.raises(InputError, match="store"):
        rollout_gridded_ranks(Net(), data, store=None, **kw)


# ------------------------------------------------------------------------------------------ 2 processes
TEST = ["2001-01-10", "2001-01-12"]
FORECAST = ["--test", *TEST, "--n-inits", "5", "--steps", "2", "--batch-size", "2", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step FNO run folder and its forecast store made in this process (rank 0 of 1)."""
    from test_evaluate_kill import train_tiny_run

    root = tmp_path_factory.mktemp("rankfc")
    run = train_tiny_run(root)
    forecast_run(run, root / "one.zarr", test=TEST, n_inits=5, n_steps=2, batch_size=2)
    return run, open_forecast(root / "one.zarr").load()


@pytest.mark.distributed
def test_two_ranks_cli_equals_one_process(tiny_run, tmp_path):
    run, one = tiny_run
    res = torchrun(
        ["-m", "chaosbench_py", "forecast", str(run), "--out", str(tmp_path / "two.zarr"), *FORECAST]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("forecast:") == 1  # printed by rank 0 only
    two = open_forecast(tmp_path / "two.zarr").load()
    xr.testing.assert_identical(two, one)


@pytest.mark.distributed
def test_two_ranks_resume_a_store_started_by_one_process(tiny_run, tmp_path, monkeypatch):
    run, one = tiny_run
    store = tmp_path / "f.zarr"
    original = ForecastRegions.write_batch

    def dies_after_first(self, b, fields):
        if b > 0:
            raise RuntimeError("killed")
        original(self, b, fields)

    monkeypatch.setattr(ForecastRegions, "write_batch", dies_after_first)
    with pytest.raises(RuntimeError, match="killed"):
        forecast_run(run, store, test=TEST, n_inits=5, n_steps=2, batch_size=2)
    # mark batch 0's fields: a resume that skips it leaves the mark
    zarr.open_group(store, mode="r+")["t2m"][0:2] = -1.0
    res = torchrun(["-m", "chaosbench_py", "forecast", str(run), "--out", str(store), *FORECAST])
    assert res.returncode != 0 and "exists" in res.stderr  # without --resume: refused, named
    res = torchrun(["-m", "chaosbench_py", "forecast", str(run), "--out", str(store), "--resume", *FORECAST])
    assert res.returncode == 0, res.stderr[-3000:]
    two = open_forecast(store).load()
    assert (two["t2m"].values[0:2] == -1.0).all()
    xr.testing.assert_identical(two.isel(init_time=slice(2, None)), one.isel(init_time=slice(2, None)))
