"""Training on torch's engines (chaosbench_py.training.parallel): DDP for every task, FSDP2, DCP checkpoints.

One ``torchrun`` launch of 2 gloo CPU processes (module fixture ``two_process_runs``) trains every run
below in turn; each test compares one of them with the one-process run of the same global batch.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from chaosbench_py.errors import ConfigError, InputError
from chaosbench_py.training.parallel import resolve_strategy
from chaosbench_py.training.run_log import read_metrics
from chaosbench_py.training.trainer import Trainer
from emulators.errors import CheckpointError

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def free_port() -> int:
    """A TCP port nobody listens on now (for ``--master_port``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- data and configs
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from scipy.integrate import solve_ivp

    root = tmp_path_factory.mktemp("data")

    def lorenz(t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t = np.arange(0, 10, 0.02)
    runs = [solve_ivp(lorenz, (0, t[-1]), s0, t_eval=t, rtol=1e-9, atol=1e-9).y.T[200:]
            for s0 in ([1.0, 1.0, 20.0], [-3.0, 2.0, 25.0])]  # fmt: skip
    np.save(root / "lorenz.npy", np.stack(runs))
    lat, lon = np.linspace(90.0, -90.0, 8), np.arange(0.0, 360.0, 22.5)
    n = 24
    phase = 2 * np.pi * lon / 360.0
    pattern = np.cos(np.deg2rad(lat))[None, :, None] * np.sin(
        3 * (phase[None, None, :] - np.arange(n)[:, None, None] * 0.4)
    )
    ds = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), (280 + 5 * pattern).astype(np.float32)),
         "z": (("time", "latitude", "longitude"), (50000 + 500 * pattern**2).astype(np.float32))},
        coords={"time": pd.date_range("2001-01-01", periods=n, freq="6h").values, "latitude": lat, "longitude": lon},
    )  # fmt: skip
    ds.to_zarr(root / "grid.zarr", mode="w", zarr_format=2, consolidated=True)
    return {"traj": root / "lorenz.npy", "grid": root / "grid.zarr"}


def _train(**kw) -> dict:
    return {"log_every": 1, "progress": False, "device": "cpu", "checkpoint_every": 0, **kw}


def gtf_config(d: dict) -> dict:
    return {"model": {"name": "shplrnn", "config": {"latent_dim": 6, "hidden_dim": 12}},
            "data": {"kind": "trajectories", "path": str(d["traj"]), "train_fraction": 0.8, "standardize": True},
            "task": {"kind": "gtf", "gtf": {"sequence_length": 10, "alpha_update_interval": 2}},
            "optimizer": {"name": "radam", "lr": 1e-3}, "train": _train(steps=5, batch_size=4)}  # fmt: skip


def ode_config(d: dict) -> dict:
    return {"model": {"name": "neural_ode", "config": {"hidden_dim": 16, "n_layers": 1, "dt": 0.02}},
            "data": {"kind": "trajectories", "path": str(d["traj"]), "standardize": True},
            "task": {"kind": "multi_step", "rollout_steps": 3},
            "optimizer": {"name": "adam", "lr": 3e-3}, "train": _train(steps=4, batch_size=4)}  # fmt: skip


def phyx_config(d: dict, stage2: int = 0) -> dict:
    tiny = dict(embed_dim=3, tau=2, token_size=5, lookback=10, d_model=16, d_state=8, headdim=8, hier_layers=2,
                mtp_steps=2, dropout=0.0)  # fmt: skip
    stages = dict(stage1_steps=3, stage1_tokens=4, stage1_lr=5e-3, stage2_steps=stage2, stage2_linear_steps=2,
                  stage2_lr=5e-4, horizon=10, grad_clip=1.0)  # fmt: skip
    return {"model": {"name": "phyxmamba", "config": tiny},
            "data": {"kind": "trajectories", "path": str(d["traj"]), "train_fraction": 0.8},
            "task": {"kind": "phyxmamba", "phyxmamba": stages},
            "optimizer": {"name": "adam", "lr": 5e-3}, "train": _train(steps=3 + stage2, batch_size=4, seed=3)}  # fmt: skip


def pangu_config(d: dict, steps: int = 4, **train) -> dict:
    model = {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1], "window_size": [1, 2, 2],
             "patch_size": [1, 1, 2], "drop_path_rate": 0.0}  # fmt: skip
    return {"model": {"name": "pangu", "config": model},
            "data": {"kind": "gridded", "path": str(d["grid"]), "variables": ["t2m", "z"],
                     "train": ["2001-01-01", "2001-01-05"]},
            "task": {"kind": "next_step"}, "optimizer": {"name": "adamw", "lr": 3e-3},
            "schedule": {"name": "constant", "warmup_steps": 2},
            "train": _train(**{"steps": steps, "batch_size": 4, "grad_clip": 1.0, "ema_decay": 0.9, "strategy": "fsdp", **train})}  # fmt: skip


DRIVER = textwrap.dedent(
    """
    import json, sys, torch
    torch.set_num_threads(1)
    from chaosbench_py.training.trainer import Trainer
    for cfg, out, resume in json.load(open(sys.argv[1])):
        Trainer(cfg, out, resume=resume).fit()
    """
)


@pytest.fixture(scope="module")
def two_process_runs(data, tmp_path_factory) -> dict[str, Path]:
    """Every 2-process run of this module, trained in one torchrun launch (the imports cost most)."""
    root = tmp_path_factory.mktemp("ddp")
    runs = {"gtf": gtf_config(data), "ode": ode_config(data), "phyx": phyx_config(data),
            "phyx_probe": phyx_config(data, stage2=5), "fsdp": pangu_config(data, steps=3, checkpoint_every=2)}  # fmt: skip
    todo = [[cfg, str(root / name), False] for name, cfg in runs.items()]
    # an FSDP run stopped at step 3 and resumed on 2 processes to step 6 (a requeued job)
    todo += [[pangu_config(data, steps=3, checkpoint_every=2), str(root / "fsdp_2to2"), False],
             [pangu_config(data, steps=6, checkpoint_every=2), str(root / "fsdp_2to2"), True]]  # fmt: skip
    (root / "runs.json").write_text(json.dumps(todo))
    (root / "driver.py").write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         str(root / "driver.py"), str(root / "runs.json")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-10000:]
    return {name: root / name for name in [*runs, "fsdp_2to2"]}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_close_weights(a: Path, b: Path, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=rtol, atol=atol, msg=k)


def _compare(run: Path, cfg: dict, out: Path) -> None:
    single = Trainer(cfg, out).fit()
    _assert_close_weights(run / "model.pt", out / "model.pt")
    rows = read_metrics(run / "metrics.csv")
    assert [r["loss"] for r in rows] == pytest.approx([h["loss"] for h in single.history], rel=1e-5)


# ---------------------------------------------------------------------------- DDP
@pytest.mark.distributed
@pytest.mark.parametrize("name", ["gtf", "ode", "phyx"])
def test_ddp_equals_one_process(name, two_process_runs, data, tmp_path):
    cfg = {"gtf": gtf_config, "ode": ode_config, "phyx": phyx_config}[name](data)
    _compare(two_process_runs[name], cfg, tmp_path / "single")


@pytest.mark.distributed
def test_ddp_phyxmamba_linear_probing_rebuilds_the_wrapper(two_process_runs):
    """Stage 2 trains lm_head alone, then all parameters (the MTP modules get no gradient): DDP is
    rebuilt for each trainable set, and several steps after each change run (an unused trainable parameter
    would fail the step after)."""
    rows = read_metrics(two_process_runs["phyx_probe"] / "metrics.csv")
    assert [int(r["stage"]) for r in rows] == [1, 1, 1, 2, 2, 2, 2, 2]
    assert all(np.isfinite(r["loss"]) for r in rows)


# ---------------------------------------------------------------------------- FSDP and DCP
@pytest.mark.distributed
def test_fsdp_equals_one_process_and_its_dcp_checkpoint_resumes_on_one_process(
    two_process_runs, data, tmp_path
):
    run = two_process_runs["fsdp"]
    assert (run / "checkpoints" / "last.dcp" / ".metadata").exists()
    assert not (run / "checkpoints" / "last.pt").exists()
    # FSDP (2 processes, 3 steps) = one process with the same global batch; model.pt holds full weights (EMA)
    _compare(run, pangu_config(data, steps=3, strategy="none"), tmp_path / "single3")
    # the 2-process DCP checkpoint (step 3) resumes in one process (strategy none) and continues to step 6
    # exactly as an uninterrupted one-process run
    straight = Trainer(pangu_config(data, steps=6, strategy="none"), tmp_path / "straight").fit()
    resumed = Trainer(pangu_config(data, steps=6, strategy="none"), run, resume=True)
    assert resumed.step == 3
    resumed.fit()
    _assert_close_weights(run / "model.pt", tmp_path / "straight" / "model.pt")
    _assert_close_weights(two_process_runs["fsdp_2to2"] / "model.pt", tmp_path / "straight" / "model.pt")
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], rel=1e-5
    )
    # the one-process run wrote last.pt and removed the older last.dcp; fsdp cannot resume a full last.pt
    assert (run / "checkpoints" / "last.pt").exists() and not (run / "checkpoints" / "last.dcp").exists()
    resumed.strategy = "fsdp"  # as under torchrun with 2 processes
    with pytest.raises(CheckpointError, match="last.pt: a full checkpoint .*resume this run with ddp"):
        resumed._checkpoint_source()


def test_fsdp_in_one_process_runs_unsharded(data, tmp_path):
    """strategy fsdp in one process runs unsharded (a logged note); DCP is used by a sharded run only."""
    cfg = pangu_config(data, steps=4, checkpoint_every=2)
    straight = Trainer(cfg, tmp_path / "a").fit()
    assert straight.strategy == "none" and (tmp_path / "a" / "checkpoints" / "last.pt").exists()


# ---------------------------------------------------------------------------- bad input
def test_fsdp_on_a_model_without_shard_units_is_refused(data, tmp_path):
    cfg = gtf_config(data)
    cfg["train"]["strategy"] = "fsdp"
    with pytest.raises(ConfigError, match=r"fsdp: model 'shplrnn' .*no shard units.*use ddp"):
        Trainer(cfg, tmp_path / "x")


def test_strategy_values():
    assert resolve_strategy("auto", 1) == "none" and resolve_strategy("auto", 4) == "ddp"
    assert resolve_strategy("ddp", 1) == "none" and resolve_strategy("fsdp", 2) == "fsdp"
    with pytest.raises(ConfigError, match="'none' under torchrun with 2 processes"):
        resolve_strategy("none", 2)
    with pytest.raises(ConfigError, match="train.strategy: unknown value 'zero3'"):
        resolve_strategy("zero3", 2)
    from chaosbench_py.training.config import config_from_dict

    with pytest.raises(ConfigError, match="train.strategy: 'zero3' is not one of"):
        config_from_dict({"model": {"name": "fno"}, "data": {"path": "x", "variables": ["z"]},
                          "train": {"strategy": "zero3"}})  # fmt: skip


def test_world_size_not_dividing_the_batch_is_refused(data, tmp_path, monkeypatch):
    """The check runs before the process group starts: WORLD_SIZE 3 with batch 4 is refused naming both."""
    import torch.distributed as dist

    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(dist, "init_process_group", lambda *a, **k: None)
    with pytest.raises(InputError, match=r"train.batch_size: 4 is not divisible by the 3 processes"):
        Trainer(gtf_config(data), tmp_path / "x")


def test_dcp_checkpoint_killed_between_its_renames_is_still_found(tmp_path):
    """A save killed after moving the old folder aside and before renaming the new one: the old one is used."""
    from chaosbench_py.training import parallel

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    path = tmp_path / "checkpoints" / "last.dcp"
    parallel.save_dcp(path, model, opt, None, {"step": 0}, True, lambda: None)  # no optimizer state yet
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    parallel.save_dcp(path, model, opt, None, {"step": 1}, True, lambda: None)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    path.rename(path.parent / ".last.dcp.old")
    found = parallel.dcp_checkpoint_dir(path)
    assert found == path.parent / ".last.dcp.old"
    other = torch.nn.Linear(3, 2)
    other_opt = torch.optim.Adam(other.parameters(), lr=1e-2)
    training = parallel.read_dcp_training(found)
    assert training["step"] == 1 and training["has_optimizer"]
    parallel.load_dcp(found, training, other, other_opt, None)
    for k, v in other.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    assert other_opt.state_dict()["state"][0]["step"] == 1
    assert parallel.dcp_checkpoint_dir(tmp_path / "nothing" / "last.dcp") is None
