"""The generic trainer: config validation, exact resume (also after SIGKILL), 2-process DDP, NaN guard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

import emulators
from chaosbench_py.cli import main as cli_main
from chaosbench_py.training.config import ConfigError, config_from_dict, load_run_config
from chaosbench_py.training.run_log import read_metrics
from chaosbench_py.training.trainer import Trainer, build_scheduler_lambda

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _advected_store(path: Path, n_times: int = 48) -> Path:
    """Canonical gridded zarr: z at two levels and t2m, a pattern moving east one cell per 6 h step."""
    lat = np.linspace(90.0, -90.0, 9)
    lon = np.arange(0.0, 360.0, 22.5)
    time = pd.date_range("2001-01-01", periods=n_times, freq="6h").values
    rng = np.random.default_rng(0)
    phase = 2 * np.pi * lon / 360.0
    t = np.arange(n_times)[:, None, None]
    amp = 1.0 + 0.1 * rng.standard_normal((n_times, 1, 1))
    pattern = (
        amp * np.cos(np.deg2rad(lat))[None, :, None] * np.sin(3 * (phase[None, None, :] - t * 2 * np.pi / 16))
    )
    z = np.stack([50000 + 500 * pattern, 14000 + 300 * pattern], axis=1).astype(np.float32)
    t2m = (280 + 5 * pattern).astype(np.float32)
    ds = xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), z, {"units": "m**2 s**-2"}),
            "t2m": (("time", "latitude", "longitude"), t2m, {"units": "K"}),
        },
        coords={"time": time, "level": np.array([500, 850]), "latitude": lat, "longitude": lon},
    )
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return _advected_store(tmp_path_factory.mktemp("data") / "adv.zarr")


def _config(store: Path, **train) -> dict:
    return {
        "model": {
            "name": "fno",
            "config": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2, "residual": True},
        },
        "data": {
            "kind": "gridded",
            "path": str(store),
            "variables": ["z", "t2m"],
            "train": ["2001-01-01", "2001-01-09"],
            "valid": ["2001-01-10", "2001-01-12"],
        },  # fmt: skip
        "task": {"kind": "next_step", "rollout_steps": 2, "variable_weights": {"z": 1.0, "t2m": 0.5}},
        "optimizer": {"name": "adamw", "lr": 3e-3},
        "schedule": {"name": "cosine", "warmup_steps": 2},
        "train": {
            "steps": 12,
            "batch_size": 4,
            "grad_clip": 1.0,
            "ema_decay": 0.9,
            "checkpoint_every": 5,
            "log_every": 1,
            "progress": False,
            **train,
        },  # fmt: skip
    }


def _gtf_config(path: Path, **train) -> dict:
    return {
        "model": {"name": "shplrnn", "config": {"latent_dim": 6, "hidden_dim": 12}},
        "data": {"kind": "trajectories", "path": str(path), "train_fraction": 0.8, "standardize": True},
        "task": {"kind": "gtf", "gtf": {"sequence_length": 10, "alpha_update_interval": 2}},
        "optimizer": {"name": "radam", "lr": 1e-3},
        "schedule": {"name": "exponential", "min_lr": 1e-4},
        "train": {
            "steps": 10,
            "batch_size": 4,
            "checkpoint_every": 3,
            "log_every": 1,
            "progress": False,
            **train,
        },
    }


@pytest.fixture(scope="module")
def lorenz_npy(tmp_path_factory) -> Path:
    from scipy.integrate import solve_ivp

    def f(t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    sol = solve_ivp(f, (0, 20), [1.0, 1.0, 20.0], t_eval=np.arange(0, 20, 0.02), rtol=1e-9, atol=1e-9)
    path = tmp_path_factory.mktemp("traj") / "lorenz.npy"
    np.save(path, sol.y.T[200:])
    return path


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same_weights(a: Path, b: Path, exact: bool = True, rtol: float = 0.0, atol: float = 0.0) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        if exact:
            assert torch.equal(wa[k], wb[k]), k
        else:
            torch.testing.assert_close(wa[k], wb[k], rtol=rtol, atol=atol, msg=k)


# ---------------------------------------------------------------------------- config validation
@pytest.mark.parametrize(
    "patch, message",
    [
        ({"train": {"batchsize": 4}}, "train.batchsize: unknown key (did you mean 'batch_size'?)"),
        ({"train": {"batch_size": "eight"}}, "train.batch_size: expected int, got 'eight'"),
        ({"optimizer": {"name": "adamax"}}, "optimizer.name: 'adamax' is not one of"),
        ({"train": {"steps": 0}}, "train.steps: must be >= 1"),
        ({"schedule": {"name": "exponential"}}, "schedule.min_lr: the exponential schedule needs min_lr > 0"),
        ({"trian": {}}, "trian: unknown key (did you mean 'train'?)"),
        ({"train": {"ema_decay": 1.5}}, "train.ema_decay: must lie in (0, 1)"),
        ({"data": {"train": ["2001-01-01"]}}, "data.train: expected [start, end]"),
    ],
)
def test_bad_config_names_the_key(store, patch, message):
    cfg = _config(store)
    for section, values in patch.items():
        cfg.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError) as info:
        config_from_dict(cfg)
    assert message in str(info.value)


def test_yaml_numbers_and_overrides(tmp_path, store):
    text = yaml.safe_dump(_config(store)).replace("0.003", "3e-3")  # YAML reads 3e-3 as a string
    path = tmp_path / "run.yaml"
    path.write_text(text)
    cfg = load_run_config(path, {"train.steps": 3, "optimizer.lr": "1e-4"})
    assert cfg.optimizer.lr == pytest.approx(1e-4) and cfg.train.steps == 3
    assert cfg.task.variable_weights == {"z": 1.0, "t2m": 0.5}
    path.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(path)


def test_bad_model_key_and_bad_data_fail_before_training(tmp_path, store):
    cfg = _config(store)
    cfg["model"]["config"]["hiden_channels"] = 8
    with pytest.raises(
        ConfigError, match="model.config.hiden_channels: unknown key .*did you mean 'hidden_channels'"
    ):
        Trainer(cfg, tmp_path / "a")
    cfg = _config(store)
    cfg["data"]["variables"] = ["z", "q"]
    with pytest.raises(KeyError, match="'q'"):
        Trainer(cfg, tmp_path / "b")
    cfg = _config(store)
    cfg["data"]["train"] = ["1990-01-01", "1990-02-01"]
    with pytest.raises(ConfigError, match="data.train: no time of the data"):
        Trainer(cfg, tmp_path / "c")
    cfg = _config(store)
    cfg["task"]["kind"] = "gtf"
    with pytest.raises(ConfigError, match="task.kind"):
        Trainer(cfg, tmp_path / "d")


def test_cli_wrong_config_fails_fast(tmp_path, store, capsys):
    cfg = _config(store)
    cfg["train"]["lr"] = 1e-3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli_main(["train", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "train.lr: unknown key" in err and "valid keys" in err
    assert not (tmp_path / "o").exists()


def test_schedules():
    base = {"model": {"name": "fno"}, "data": {"path": "x", "variables": ["z"]}, "optimizer": {"lr": 1.0}}
    f = build_scheduler_lambda(config_from_dict({**base, "schedule": {"name": "cosine", "warmup_steps": 4,
                                                                      "min_lr": 0.1}, "train": {"steps": 14}}))  # fmt: skip
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5) and f(14) == pytest.approx(0.1)
    g = build_scheduler_lambda(config_from_dict({**base, "schedule": {"name": "exponential", "min_lr": 1e-3},
                                                 "train": {"steps": 10}}))  # fmt: skip
    assert g(5) == pytest.approx(10**-1.5) and g(10) == pytest.approx(1e-3) and g(50) == pytest.approx(1e-3)


# ---------------------------------------------------------------------------- training and checkpoints
def test_fit_writes_run_folder_and_learns(tmp_path, store):
    cfg = _config(store, steps=40, checkpoint_every=0, validate_every=20, ema_decay=None)
    cfg["optimizer"]["lr"] = 1e-2
    trainer = Trainer(cfg, tmp_path).fit()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert {"loss_step1", "loss_step2", "samples_per_s", "max_memory_mb"} <= set(rows[0])
    first, last = np.mean([r["loss"] for r in rows[:5]]), np.mean([r["loss"] for r in rows[-5:]])
    assert last < 0.5 * first  # the advection is learnable
    assert np.isfinite(rows[-1]["val_loss"]) and rows[-1]["samples_per_s"] > 0
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    extra = payload["extra"]
    assert extra["channel_names"] == ["z-500", "z-850", "t2m"]
    assert extra["normalisation"]["mean"].shape == (3,) and extra["package_version"]
    assert extra["run_config"]["train"]["steps"] == 40 and "training" not in extra
    model, _ = emulators.load_model(tmp_path / "model.pt")
    assert model.config.in_channels == 3 and model.config.out_channels == 3
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["model"]["name"] == "fno"
    assert trainer.step == 40


def test_resume_in_process_equals_uninterrupted(tmp_path, store):
    full = tmp_path / "full"
    Trainer(_config(store), full).fit()
    part = tmp_path / "part"
    Trainer(_config(store), part).fit(stop_after=7)  # interrupted after step 7 (mid-epoch: 8 steps/epoch)
    position = torch.load(part / "checkpoints" / "last.pt", weights_only=True)["extra"]["training"][
        "data_position"
    ]
    assert position == {"next_step": 7, "epoch": 0, "batch_in_epoch": 7, "batches_per_epoch": 8}
    resumed = Trainer(_config(store), part, resume=True)
    assert resumed.step == 7
    resumed.fit()
    _assert_same_weights(full / "model.pt", part / "model.pt")  # EMA weights
    _assert_same_weights(full / "checkpoints" / "last.pt", part / "checkpoints" / "last.pt")
    assert [r["step"] for r in read_metrics(part / "metrics.csv")] == list(range(1, 13))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer(_config(store), tmp_path / "nothing", resume=True)


def test_gtf_task_resume_equals_uninterrupted(tmp_path, lorenz_npy):
    full, part = tmp_path / "full", tmp_path / "part"
    a = Trainer(_gtf_config(lorenz_npy), full).fit()
    Trainer(_gtf_config(lorenz_npy), part).fit(stop_after=5)
    b = Trainer(_gtf_config(lorenz_npy), part, resume=True).fit()
    _assert_same_weights(full / "model.pt", part / "model.pt")
    assert a.task.alpha == b.task.alpha and 0.0 < a.task.alpha <= 1.0
    rows = read_metrics(full / "metrics.csv")
    assert {"alpha", "mse"} <= set(rows[0])


def test_multi_step_neural_ode(tmp_path, lorenz_npy):
    cfg = {
        "model": {"name": "neural_ode", "config": {"hidden_dim": 16, "dt": 0.02}},
        "data": {"kind": "trajectories", "path": str(lorenz_npy), "standardize": True},
        "task": {"kind": "multi_step", "rollout_steps": 5},
        "optimizer": {"name": "adam", "lr": 1e-2},
        "train": {"steps": 200, "batch_size": 16, "log_every": 1, "progress": False, "validate_every": 200},
    }
    trainer = Trainer(cfg, tmp_path).fit()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert np.mean([r["loss"] for r in rows[-10:]]) < 0.5 * np.mean([r["loss"] for r in rows[:10]])
    assert trainer.model.config.state_dim == 3 and np.isfinite(rows[-1]["val_loss"])


def test_bf16_autocast_runs_on_cpu(tmp_path, store):
    trainer = Trainer(_config(store, steps=2, bf16=True, ema_decay=None), tmp_path).fit()
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert np.isfinite(read_metrics(tmp_path / "metrics.csv")[-1]["loss"])


# ---------------------------------------------------------------------------- NaN guard
def _poison(trainer: Trainer, at_steps: set[int]) -> None:
    real = trainer.task.compute_loss
    seen: set[int] = set()

    def loss(model, batch, step):
        value, extras = real(model, batch, step)
        if trainer.step in at_steps and trainer.step not in seen:
            seen.add(trainer.step)
            value = value * float("nan")
        return value, extras

    trainer.task.compute_loss = loss


def test_nan_guard_stops_with_a_clear_message(tmp_path, store):
    trainer = Trainer(_config(store), tmp_path)
    _poison(trainer, {6})
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 6.*nan_policy: stop"):
        trainer.fit()
    # the checkpoint written at step 5 is intact and resumable
    assert Trainer(_config(store), tmp_path, resume=True).step == 5


def test_nan_guard_rolls_back_and_lowers_the_learning_rate(tmp_path, store):
    trainer = Trainer(_config(store, nan_policy="rollback", max_rollbacks=1), tmp_path)
    _poison(trainer, {7})
    trainer.fit()
    assert trainer.step == 12 and trainer.rollbacks == 1 and trainer.lr_scale == 0.5
    rows = read_metrics(tmp_path / "metrics.csv")
    assert all(np.isfinite(r["loss"]) for r in rows)
    trainer = Trainer(_config(store, nan_policy="rollback", max_rollbacks=1), tmp_path / "b")
    _poison(trainer, {3, 4})
    with pytest.raises(FloatingPointError, match="already rolled back 1 times"):
        trainer.fit()


# ---------------------------------------------------------------------------- kill -9 and resume
def _run_cli(cfg_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "chaosbench_py", "train", str(cfg_path), "--out", str(out), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _checkpoint_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["extra"]["training"]["step"])
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return -1


def _logged_step(out: Path) -> int:
    """The last step in the run's metrics.csv (the staging folder's before the first checkpoint)."""
    for folder in (out, out.parent / f".{out.name}.incomplete"):
        try:
            lines = (folder / "metrics.csv").read_text().splitlines()
        except FileNotFoundError:
            continue
        return int(lines[-1].split(",")[0]) if len(lines) > 1 else 0
    return -1


def _wait_until(proc: subprocess.Popen, condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stdout.read()}"
        assert time.time() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.01)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def _assert_nothing_partial(out: Path, cfg: dict) -> None:
    """Every file in view in a killed run is whole: the config, whole metrics rows 1..n, loadable .pt files."""
    if not out.exists():  # killed before the first checkpoint: only the hidden staging folder exists
        return
    assert (out / "checkpoints" / "last.pt").exists(), "a run folder in view without its checkpoint"
    assert config_from_dict(yaml.safe_load((out / "config.yaml").read_text())) == config_from_dict(cfg)
    lines = (out / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert all(len(line.split(",")) == len(header) for line in lines[1:]), lines[-1]
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, len(lines)))
    for pt in [out / "checkpoints" / "last.pt", out / "model.pt"]:
        if pt.exists():
            torch.load(pt, weights_only=True)  # whole: an atomic rename or nothing


def _finish_and_compare(cfg_path: Path, killed: Path, straight: subprocess.Popen, straight_out: Path) -> None:
    resumed = _run_cli(cfg_path, killed, "--resume")
    for p in (resumed, straight):
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    _assert_same_weights(killed / "model.pt", straight_out / "model.pt")
    _assert_same_weights(killed / "checkpoints" / "last.pt", straight_out / "checkpoints" / "last.pt")
    rows, ref = read_metrics(killed / "metrics.csv"), read_metrics(straight_out / "metrics.csv")
    assert [r["step"] for r in rows] == [r["step"] for r in ref]
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref]  # the same floats
    assert not [p for p in killed.rglob(".*")], "temporary files left in the run folder"
    assert not (killed.parent / f".{killed.name}.incomplete").exists()


def test_sigkill_at_three_points_then_resume_equals_uninterrupted(tmp_path, store):
    """Killed (1) before the first checkpoint, (2) just after a mid-epoch checkpoint, (3) between
    checkpoints; after each kill nothing partial is in view; the resumed run equals an uninterrupted one."""
    cfg = _config(store, steps=60, checkpoint_every=7)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    killed = tmp_path / "killed"
    straight = _run_cli(cfg_path, tmp_path / "straight")
    # (1) training, no checkpoint yet: the run folder is not in view
    proc = _run_cli(cfg_path, killed)
    _wait_until(proc, lambda: _logged_step(killed) >= 2, "two logged steps")
    _kill(proc)
    assert not killed.exists() and (tmp_path / ".killed.incomplete").exists()
    # (2) a fresh start clears the leftover; killed just after the checkpoint of step 14 (mid-epoch)
    proc = _run_cli(cfg_path, killed)
    _wait_until(
        proc, lambda: _checkpoint_step(killed / "checkpoints" / "last.pt") >= 14, "a checkpoint at 14"
    )
    _kill(proc)
    _assert_nothing_partial(killed, cfg)
    step_at_kill = _checkpoint_step(killed / "checkpoints" / "last.pt")
    assert 14 <= step_at_kill < 60 and not (killed / "model.pt").exists()
    position = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)["extra"]["training"][
        "data_position"
    ]
    assert position["batch_in_epoch"] != 0  # a checkpoint in the middle of an epoch (8 steps/epoch)
    # (3) resumed, then killed between two checkpoints
    proc = _run_cli(cfg_path, killed, "--resume")
    _wait_until(proc, lambda: _logged_step(killed) >= 31, "step 31")
    _kill(proc)
    _assert_nothing_partial(killed, cfg)
    assert _checkpoint_step(killed / "checkpoints" / "last.pt") >= 28
    _finish_and_compare(cfg_path, killed, straight, tmp_path / "straight")


@pytest.mark.slow
def test_sigkill_at_twenty_random_points_then_resume_equals_uninterrupted(tmp_path, store):
    """20 kills at random moments (start-up, mid-step, during checkpoint writes: checkpoint every 3 steps)."""
    cfg = _config(store, steps=120, checkpoint_every=3)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    killed = tmp_path / "killed"
    straight = _run_cli(cfg_path, tmp_path / "straight")
    rng = np.random.default_rng(1)
    kills = 0
    while kills < 20:
        resume = _checkpoint_step(killed / "checkpoints" / "last.pt") >= 0
        proc = _run_cli(cfg_path, killed, *(["--resume"] if resume else []))
        if rng.random() < 0.25:  # a moment of the start-up (imports, data, model, the first steps)
            time.sleep(rng.uniform(0.2, 4.0))
        else:  # a moment a few steps on
            target = max(_logged_step(killed), 0) + int(rng.integers(1, 6))
            if target >= 120:
                target = 118
            _wait_until(
                proc,
                lambda t=target, p=proc: _logged_step(killed) >= t or p.poll() is not None,
                f"step {target}",
            )
            time.sleep(rng.uniform(0.0, 0.05))
        assert proc.poll() is None, proc.stdout.read()  # finished too early: the test would not kill
        _kill(proc)
        kills += 1
        _assert_nothing_partial(killed, cfg)
    _finish_and_compare(cfg_path, killed, straight, tmp_path / "straight")


# ---------------------------------------------------------------------------- DDP
@pytest.mark.distributed
def test_two_process_ddp_equals_one_process(tmp_path, store):
    cfg = _config(store, steps=6, checkpoint_every=0, ema_decay=None)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         "-m", "chaosbench_py", "train", str(cfg_path), "--out", str(tmp_path / "ddp")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    single = Trainer(cfg, tmp_path / "single").fit()
    _assert_same_weights(tmp_path / "ddp" / "model.pt", tmp_path / "single" / "model.pt", exact=False,
                         rtol=1e-4, atol=1e-6)  # fmt: skip
    ddp_rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [r["loss"] for r in ddp_rows] == pytest.approx([h["loss"] for h in single.history], rel=1e-5)
    # the 2-process run really split the batch: a 1-process run with half the global batch differs
    half = Trainer(
        _config(store, steps=6, checkpoint_every=0, ema_decay=None, batch_size=2), tmp_path / "half"
    ).fit()
    assert not np.allclose([h["loss"] for h in half.history], [r["loss"] for r in ddp_rows])


def test_workers_and_in_memory_give_the_same_run(tmp_path, store):
    base = Trainer(_config(store, steps=9, checkpoint_every=0), tmp_path / "base").fit()
    cfg = _config(store, steps=9, checkpoint_every=0)
    cfg["data"].update(num_workers=2, in_memory=True)
    other = Trainer(cfg, tmp_path / "workers")
    other.fit(stop_after=4)
    other.fit()  # a new batch iterator from step 4 continues the same order
    _assert_same_weights(tmp_path / "base" / "model.pt", tmp_path / "workers" / "model.pt")
    assert [h["loss"] for h in base.history] == [h["loss"] for h in other.history]


def test_pangu_needs_surface_variables_first(tmp_path, store):
    cfg = _config(store)
    cfg["model"] = {"name": "pangu", "config": {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1],
                                                "window_size": [1, 2, 2], "patch_size": [1, 1, 2]}}  # fmt: skip
    with pytest.raises(ConfigError, match="list the surface variables first"):
        Trainer(cfg, tmp_path / "p")


def test_train_evaluate_report_pipeline_with_an_ensemble(tmp_path, store):
    from chaosbench_py.evaluation import build_report, evaluate_run

    Trainer(_config(store, steps=4, checkpoint_every=0, ema_decay=None), tmp_path / "run").fit()
    assert cli_main(["evaluate", str(tmp_path / "run"), "--out", str(tmp_path / "ev"), "--n-inits", "3",
                     "--steps", "2", "--members", "2", "--perturbation", "0.1", "--climatology", "mean",
                     "--test", "2001-01-10", "2001-01-12"]) == 0  # fmt: skip
    import csv

    with open(tmp_path / "ev" / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"model", "persistence", "climatology"}
    assert {"crps", "spread", "ssr"} <= {r["metric"] for r in rows if r["model"] == "model"}
    assert {r["level"] for r in rows if r["variable"] == "z"} == {"500", "850"}
    fc = xr.open_zarr(tmp_path / "ev" / "forecast.zarr")
    assert fc.sizes["member"] == 2 and fc.sizes["init_time"] == 3 and fc.sizes["lead_time"] == 2
    report = build_report(tmp_path / "ev", tmp_path / "rep").write()
    assert "RMSE" in report.read_text() and (tmp_path / "rep" / "report.html").exists()
    with pytest.raises(FileNotFoundError, match="no evaluation at"):
        build_report(tmp_path / "nothing")
    with pytest.raises(ValueError, match="climatology="):
        evaluate_run(tmp_path / "run", tmp_path / "ev2", climatology="seasonal")


def test_evaluate_composes_lead_time_models(tmp_path, store):
    Trainer(_config(store, steps=2, checkpoint_every=0, ema_decay=None), tmp_path / "run").fit()
    base = ["evaluate", str(tmp_path / "run"), "--n-inits", "2", "--steps", "4", "--climatology", "none",
            "--test", "2001-01-10", "2001-01-12"]  # fmt: skip
    assert cli_main(base + ["--out", str(tmp_path / "ev"), "--compose", f"2={tmp_path / 'run'}"]) == 0
    fc = xr.open_zarr(tmp_path / "ev" / "forecast.zarr")
    assert fc.attrs["model"] == "1: FNO, 2: FNO"
    assert cli_main(base + ["--out", str(tmp_path / "ev2"), "--compose", "two=x"]) == 2
