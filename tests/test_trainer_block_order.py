"""``data.order: blocks``: the trainer reads its training windows in chunk-aware block order.

Seeded, resumable mid-epoch (exactly), identical for 0 and 2 ``DataLoader`` workers and across ranks,
each time chunk read about once per epoch, the window cache bounded by one buffer; ``random`` (the
default) keeps the old order; a training copy named as ``data.path`` is read from its chunk files.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from chaosbench_py.data.block_sampler import (
    block_order,
    cache_states_needed,
    chunk_blocks,
    default_block_size,
)
from chaosbench_py.data.training_copy import is_training_copy, write_training_copy
from chaosbench_py.data.windows import WindowDataset
from chaosbench_py.data.zarr_chunk_reader import TimeChunkedStoreReader
from chaosbench_py.errors import ConfigError, InputError
from chaosbench_py.training.config import config_from_dict
from chaosbench_py.training.tasks.next_step import NextStepTask
from chaosbench_py.training.trainer import Trainer

CHUNK = 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dataset(n_times: int = 48) -> xr.Dataset:
    """Canonical gridded data: z at two levels and t2m, a pattern moving east, 6-hourly."""
    lat = np.linspace(90.0, -90.0, 9)
    lon = np.arange(0.0, 360.0, 22.5)
    rng = np.random.default_rng(0)
    phase = 2 * np.pi * lon / 360.0
    t = np.arange(n_times)[:, None, None]
    amp = 1.0 + 0.1 * rng.standard_normal((n_times, 1, 1))
    pattern = amp * np.cos(np.deg2rad(lat))[None, :, None] * np.sin(3 * (phase - t * 2 * np.pi / 16))
    z = np.stack([50000 + 500 * pattern, 14000 + 300 * pattern], axis=1).astype(np.float32)
    return xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), z, {"units": "m**2 s**-2"}),
            "t2m": (
                ("time", "latitude", "longitude"),
                (280 + 5 * pattern).astype(np.float32),
                {"units": "K"},
            ),
        },
        coords={
            "time": pd.date_range("2001-01-01", periods=n_times, freq="6h").values,
            "level": np.array([500, 850]),
            "latitude": lat,
            "longitude": lon,
        },
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """A WeatherBench2-style store (4 time steps per chunk) and a training copy of it."""
    root = tmp_path_factory.mktemp("blocks")
    chunked = root / "chunked.zarr"
    _dataset().chunk({"time": CHUNK}).to_zarr(chunked, mode="w", zarr_format=2, consolidated=True)
    write_training_copy(_dataset(), root / "copy.zarr")
    return {"chunked": chunked, "copy": root / "copy.zarr"}


def _config(store: Path, order: str = "blocks", **data) -> dict:
    return {
        "model": {"name": "fno", "config": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2}},
        "data": {
            "path": str(store),
            "variables": ["z", "t2m"],
            "train": ["2001-01-01", "2001-01-09"],
            "order": order,
            **data,
        },  # fmt: skip
        "task": {"kind": "next_step", "rollout_steps": 2},
        "optimizer": {"name": "adamw", "lr": 3e-3},
        "train": {"steps": 12, "batch_size": 4, "checkpoint_every": 5, "log_every": 1, "progress": False},
    }


def _task(cfg: dict) -> NextStepTask:
    return NextStepTask(config_from_dict(cfg), torch.device("cpu"))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


# ---------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "patch, message",
    [
        ({"order": "chunks"}, "data.order: 'chunks' is not one of ['random', 'blocks']"),
        ({"block_size": 0}, "data.block_size: must be a positive number of time steps, got 0"),
        ({"block_size": 2.5}, "data.block_size: expected int"),
        ({"buffer_blocks": 0}, "data.buffer_blocks: must be >= 1, got 0"),
    ],
)
def test_bad_block_settings_name_the_key(stores, patch, message):
    cfg = _config(stores["chunked"])
    cfg["data"].update(patch)
    with pytest.raises(ConfigError) as err:
        config_from_dict(cfg)
    assert message in str(err.value)


def test_block_order_is_for_gridded_data_only(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((100, 3)))
    cfg = {"model": {"name": "shplrnn", "config": {"latent_dim": 3, "hidden_dim": 6}},
           "data": {"kind": "trajectories", "path": str(tmp_path / "x.npy"), "order": "blocks"},
           "task": {"kind": "gtf"}}  # fmt: skip
    with pytest.raises(ConfigError, match="data.order: the block order applies to data.kind 'gridded' only"):
        config_from_dict(cfg)


def test_chunk_blocks_and_default_block_size():
    starts = [0, 4, 8, 12, 14]  # chunks of 4 steps, the last one of 2
    labels, longest = chunk_blocks(np.arange(14), 6, starts)  # 6 steps → whole chunks: 2 per block
    assert labels.tolist() == [0] * 8 + [1] * 6 and longest == 8
    labels, longest = chunk_blocks([0, 3, 4, 13], 4, starts)
    assert labels.tolist() == [0, 0, 1, 3] and longest == 4
    with pytest.raises(InputError, match="block_size"):
        chunk_blocks([0], 0, starts)
    with pytest.raises(InputError, match="chunk_starts"):
        chunk_blocks([0], 2, [1, 4])
    with pytest.raises(InputError, match="anchors"):
        chunk_blocks([14], 2, starts)
    assert default_block_size(1, 100, 1) == 8  # e.g. 8 days of the ChaosBench per-day layout
    assert default_block_size(3, 100, 1) == 9 and default_block_size(24, 100, 1) == 24
    # a 286 MiB state (69 channels at 0.25°): the buffer is kept under 1 GiB
    assert default_block_size(1, 286 * 2**20, 1) == 1


# ---------------------------------------------------------------------------- the order
def test_random_order_is_unchanged_by_default(stores):
    cfg = _config(stores["chunked"])
    del cfg["data"]["order"]
    task = _task(cfg)
    assert task.order == "random" and task._block_of is None
    g = torch.Generator().manual_seed(0 * 1_000_003 + 1)
    want = torch.randperm(len(task.train_set), generator=g)[4:8].tolist()
    assert task.global_indices(task.steps_per_epoch + 1) == want


def test_block_order_of_the_task(stores):
    task = _task(_config(stores["chunked"], block_size=8, buffer_blocks=1))
    ts = task.train_set
    assert task.block_size == 8
    # two buffers of one block of 8 steps (2 chunks) + the chunk its last windows reach into (R = 2)
    assert ts.cache_states == 2 * cache_states_needed(8, 1, 2, CHUNK, each_block=True) == 24
    n, b = len(ts), task.batch_size
    epoch1 = [i for s in range(task.steps_per_epoch) for i in task.global_indices(task.steps_per_epoch + s)]
    order = block_order(ts.anchors // 8, seed=0, epoch=1)
    assert epoch1 == order[: task.steps_per_epoch * b].tolist()
    blocks = ts.anchors[order] // 8
    assert np.count_nonzero(np.diff(blocks)) == len(np.unique(blocks)) - 1  # each block served in one run
    assert sorted(order.tolist()) == list(range(n))
    assert epoch1 != [i for s in range(task.steps_per_epoch) for i in task.global_indices(s)]  # epoch 0
    assert task.global_indices(3) == _task(
        _config(stores["chunked"], block_size=8, buffer_blocks=1)
    ).global_indices(3)


def _count_decoded_z_steps(monkeypatch) -> list[int]:
    """Time steps of ``z`` decoded by the direct reader: a whole time chunk counts its length, a step
    decoded alone (its chunk not cached: only the Blosc blocks holding it) counts 1."""
    steps = [0]
    whole, alone = TimeChunkedStoreReader._decode, TimeChunkedStoreReader._decode_step

    def count_whole(self, a, tc):
        out = whole(self, a, tc)
        steps[0] += len(out) if a.name == "z" else 0
        return out

    def count_alone(self, a, i):
        steps[0] += a.name == "z"
        return alone(self, a, i)

    monkeypatch.setattr(TimeChunkedStoreReader, "_decode", count_whole)
    monkeypatch.setattr(TimeChunkedStoreReader, "_decode_step", count_alone)
    return steps


def test_each_chunk_is_read_about_once_per_epoch(stores, monkeypatch):
    steps = _count_decoded_z_steps(monkeypatch)
    task = _task(_config(stores["chunked"], block_size=8, buffer_blocks=2))
    assert isinstance(task.train_set._copy, TimeChunkedStoreReader)
    n_times = len(task.train_set.times)
    steps[0] = 0  # (statistics and setup)
    for s in range(task.steps_per_epoch):
        task.batch(s)
        assert len(task.train_set._cache) <= task.train_set.cache_states
    assert n_times - 2 <= steps[0] <= 1.25 * n_times  # every step about once (block boundaries: a step more)
    n_block = steps[0]
    # random order, a store much larger than the caches: each state is decoded alone, not its whole chunk
    random = _task(_config(stores["chunked"], order="random"))
    random.train_set._copy.cache_bytes = 0
    steps[0] = 0
    for s in range(random.steps_per_epoch):
        random.batch(s)
    n_alone = steps[0]
    n_states = sum(len(p) for p in random.train_set._positions)  # every window's input and target states
    assert n_block <= n_alone <= n_states
    random = _task(_config(stores["chunked"], order="random"))
    random.train_set._copy.cache_bytes = 0
    monkeypatch.setattr(TimeChunkedStoreReader, "_partial", lambda self, a: False)  # whole chunks only
    steps[0] = 0
    for s in range(random.steps_per_epoch):
        random.batch(s)
    assert steps[0] > 1.5 * n_alone  # 4-step chunks: a whole chunk per miss


def test_ranks_split_the_global_batch(stores):
    task = _task(_config(stores["chunked"], block_size=4))
    for step in (0, 5, 9):
        x, y = task.batch(step)
        parts = [task.batch(step, rank, 2) for rank in range(2)]
        torch.testing.assert_close(x[0::2], parts[0][0], rtol=0, atol=0)
        torch.testing.assert_close(y[1::2], parts[1][1], rtol=0, atol=0)


# ---------------------------------------------------------------------------- the trainer
def test_resume_mid_epoch_equals_uninterrupted(tmp_path, stores):
    cfg = _config(stores["chunked"])
    Trainer(copy.deepcopy(cfg), tmp_path / "full").fit()
    Trainer(copy.deepcopy(cfg), tmp_path / "part").fit(stop_after=7)  # mid-epoch: 8 steps per epoch
    resumed = Trainer(copy.deepcopy(cfg), tmp_path / "part", resume=True)
    assert resumed.step == 7 and resumed.task.order == "blocks"
    resumed.fit()
    _assert_same_weights(tmp_path / "full" / "model.pt", tmp_path / "part" / "model.pt")
    _assert_same_weights(
        tmp_path / "full" / "checkpoints" / "last.pt", tmp_path / "part" / "checkpoints" / "last.pt"
    )


def test_two_workers_give_the_same_run(tmp_path, stores):
    cfg = _config(stores["chunked"], block_size=4, buffer_blocks=1)
    cfg["train"].update(steps=9, checkpoint_every=0)
    base = Trainer(copy.deepcopy(cfg), tmp_path / "base").fit()
    cfg["data"]["num_workers"] = 2
    other = Trainer(copy.deepcopy(cfg), tmp_path / "workers")
    other.fit(stop_after=4)
    other.fit()  # a new batch iterator from step 4 continues the same order
    _assert_same_weights(tmp_path / "base" / "model.pt", tmp_path / "workers" / "model.pt")
    assert [h["loss"] for h in base.history] == [h["loss"] for h in other.history]


def test_training_copy_as_data_path_is_read_directly(stores):
    assert is_training_copy(stores["copy"]) and not is_training_copy(stores["chunked"])
    fast = _task(_config(stores["copy"]))
    slow = _task(_config(stores["chunked"], block_size=1))
    assert fast.train_set._copy is not None and isinstance(slow.train_set._copy, TimeChunkedStoreReader)
    # default: blocks of 8 steps (one step per chunk), 2 per buffer, each with its 2 lead steps; 2 buffers
    assert fast.block_size == 8 and fast.train_set.cache_states == 2 * 2 * (8 + 2)
    for i in (0, 7, len(fast.train_set) - 1):
        for a, b in zip(fast.train_set[i], slow.train_set[i], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("n_input_steps", [1, 2])
def test_window_batch_equals_stacked_samples(n_input_steps):
    ds = _dataset(12)
    w = WindowDataset(ds, variables=["z", "t2m"], n_input_steps=n_input_steps, lead_steps=[1, 3],
                      constants={"mask": ds["t2m"].isel(time=0) > 280})  # fmt: skip
    idx = [4, 0, 7, 4]
    x, y = w.batch(idx)
    items = [w[i] for i in idx]
    assert x.shape == (4,) + ((n_input_steps,) if n_input_steps > 1 else ()) + (4, 9, 16)
    assert torch.equal(x, torch.stack([a for a, _ in items])) and torch.equal(
        y, torch.stack([b for _, b in items])
    )
    with pytest.raises(IndexError):
        w.batch([len(w)])


@pytest.mark.distributed
def test_two_process_ddp_equals_one_process(tmp_path, stores):
    import os
    import subprocess
    import sys

    import yaml

    from chaosbench_py.training.run_log import read_metrics

    cfg = _config(stores["chunked"], block_size=4)
    cfg["train"].update(steps=6, checkpoint_every=0)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547",
         "-m", "chaosbench_py", "train", str(cfg_path), "--out", str(tmp_path / "ddp")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    single = Trainer(copy.deepcopy(cfg), tmp_path / "single").fit()
    ddp_rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [r["loss"] for r in ddp_rows] == pytest.approx([h["loss"] for h in single.history], rel=1e-5)
