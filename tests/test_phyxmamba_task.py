"""PhyxMamba as a task of the generic trainer (chaosbench_py.training.tasks.phyxmamba).

Checks: the harness run equals the standalone ``train_phyxmamba`` with the same seeds (losses of
every step and final weights), linear probing changes only ``lm_head``, a run stopped and resumed
(also mid linear probing) ends with the same weights, and bad config keys are named.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import emulators
from chaosbench_py.training import train_phyxmamba
from chaosbench_py.training.config import ConfigError, config_from_dict, load_run_config
from chaosbench_py.training.phyxmamba import PhyxMambaTrainConfig, phyxmamba_losses_stage1
from chaosbench_py.training.tasks import PhyxMambaTask, build_task
from chaosbench_py.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]

TINY = dict(embed_dim=3, tau=2, token_size=5, lookback=10, d_model=16, d_state=8, headdim=8,
            hier_layers=2, mtp_steps=2, dropout=0.0)  # fmt: skip
STAGES = dict(stage1_steps=4, stage1_tokens=4, stage1_lr=5e-3, lambda_mtp=0.1, stage2_steps=4,
              stage2_linear_steps=2, stage2_lr=5e-4, horizon=10, lambda_uncond=1.0, lambda_cond=1000.0,
              grad_clip=1.0)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lorenz_npy(tmp_path_factory) -> Path:
    """Two Lorenz-63 trajectories ``(2, 300, 3)``, dt = 0.02, after a transient."""
    from scipy.integrate import solve_ivp

    def f(t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t = np.arange(0, 10, 0.02)
    runs = [solve_ivp(f, (0, t[-1]), s0, t_eval=t, rtol=1e-9, atol=1e-9).y.T[200:]
            for s0 in ([1.0, 1.0, 20.0], [-3.0, 2.0, 25.0])]  # fmt: skip
    path = tmp_path_factory.mktemp("traj") / "lorenz2.npy"
    np.save(path, np.stack(runs))
    return path


def _config(path: Path, **train) -> dict:
    s = STAGES
    return {
        "model": {"name": "phyxmamba", "config": dict(TINY)},
        "data": {"kind": "trajectories", "path": str(path), "train_fraction": 0.8},
        "task": {"kind": "phyxmamba", "phyxmamba": dict(s)},
        "optimizer": {"name": "adam", "lr": s["stage1_lr"], "weight_decay": 1e-5},
        "train": {"steps": s["stage1_steps"] + s["stage2_steps"], "batch_size": 8, "seed": 3, "log_every": 1,
                  "checkpoint_every": 3, "progress": False, "device": "cpu", **train},
    }  # fmt: skip


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------- equals a hand-written loop
def _reference_two_stage_loop(model, data: np.ndarray, cfg: PhyxMambaTrainConfig) -> dict:
    """The published recipe written out as a plain loop (independent of the trainer): normalisation from
    the data, stage 1 with Adam, stage 2 with a fresh Adam on ``lm_head`` (linear probing) and then on all
    parameters, windows drawn as (trajectory, start) pairs from one generator seeded with ``cfg.seed``."""
    import torch.nn.functional as F

    from chaosbench_py.training.phyxmamba import phyxmamba_losses_stage2

    x = torch.as_tensor(data, dtype=torch.float32)
    flat = x.reshape(-1, x.shape[-1])
    model.set_normalization(flat.mean(0), flat.std(0))
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    c = model.config

    def windows(length):
        i = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=gen)
        t = torch.randint(0, x.shape[1] - length + 1, (cfg.batch_size,), generator=gen)
        return x[i[:, None], t[:, None] + torch.arange(length)[None]]

    hist: dict = {"stage1": [], "stage2": []}
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.stage1_lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.stage1_steps):
        win = windows(cfg.stage1_tokens * c.token_size)
        pred, mtp = model(win, return_mtp=True)
        z = model.standardize(win).reshape(win.shape[0], cfg.stage1_tokens, c.token_size, c.n_vars)
        loss = F.mse_loss(pred[:, :-1], z[:, 1:])
        if mtp:
            loss = (
                loss
                + cfg.lambda_mtp
                * torch.stack([F.mse_loss(p, z[:, k + 1 :]) for k, p in enumerate(mtp, 1)]).mean()
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        hist["stage1"].append(float(loss.detach()))
    for step in range(cfg.stage2_steps):
        if step in (0, cfg.stage2_linear_steps):
            linear = step < cfg.stage2_linear_steps
            for n, p in model.named_parameters():
                p.requires_grad_(not linear or n.startswith("lm_head."))
            opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.stage2_lr,
                                   weight_decay=cfg.weight_decay)  # fmt: skip
        terms = phyxmamba_losses_stage2(model, windows(c.lookback + cfg.horizon), cfg)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()
        hist["stage2"].append({k: float(v.detach()) for k, v in terms.items()})
    return hist


def test_harness_and_front_end_equal_a_hand_written_loop(tmp_path, lorenz_npy):
    trainer = Trainer(_config(lorenz_npy), tmp_path / "run").fit()
    # the hand-written loop on the same training part (first 80 % of each trajectory), same seeds
    raw = np.load(lorenz_npy)
    train_part = raw[:, : int(round(raw.shape[1] * 0.8))]
    torch.manual_seed(3)  # the Trainer seeds torch before building the model
    model = emulators.build_model("phyxmamba", {**TINY, "n_vars": 3})
    cfg = PhyxMambaTrainConfig(**STAGES, weight_decay=1e-5, batch_size=8, seed=3, progress=False)
    hist = _reference_two_stage_loop(model, train_part, cfg)
    # the notebook front end (the same trainer on in-memory data) gives the same run
    torch.manual_seed(3)
    front = emulators.build_model("phyxmamba", {**TINY, "n_vars": 3})
    front_hist = train_phyxmamba(front, train_part, cfg)
    assert front_hist == hist
    for k, v in model.state_dict().items():
        assert torch.equal(front.state_dict()[k], v), k

    rows = trainer.history
    assert [r["stage"] for r in rows] == [1] * 4 + [2] * 4
    # identical batches and identical updates: every step's loss is the same float
    assert [r["loss"] for r in rows[:4]] == hist["stage1"]
    assert [r["loss"] for r in rows[4:]] == [h["loss"] for h in hist["stage2"]]
    for r, h in zip(rows[4:], hist["stage2"]):
        assert (r["mse"], r["mmd_uncond"], r["mmd_cond"]) == (h["mse"], h["mmd_uncond"], h["mmd_cond"])
    final = _weights(tmp_path / "run" / "model.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(final[k], v), k
    torch.manual_seed(3)
    init = emulators.build_model("phyxmamba", {**TINY, "n_vars": 3}).state_dict()
    assert not torch.equal(final["lm_head.weight"], init["lm_head.weight"])  # it did train


def test_stage1_loss_independent_computation():
    """phyxmamba_losses_stage1 against a hand-written next-patch + MTP loss on one batch."""
    torch.manual_seed(0)
    model = emulators.build_model("phyxmamba", {**TINY, "n_vars": 3}).double()
    model.set_normalization([1.0, -2.0, 20.0], [8.0, 9.0, 8.5])
    x = torch.randn(4, 25, 3, dtype=torch.float64) * 8 + 20
    terms = phyxmamba_losses_stage1(model, x, 0.1)
    z = (x - torch.tensor([1.0, -2.0, 20.0], dtype=torch.float64)) / torch.tensor(
        [8.0, 9.0, 8.5], dtype=torch.float64
    )
    patches = z.reshape(4, 5, 5, 3)  # (B, n, P, V)
    pred, mtp = model(x, return_mtp=True)
    next_mse = ((pred[:, :4] - patches[:, 1:]) ** 2).mean()
    # MTP module k (k = 1, 2) at position t predicts patch t + k + 1
    mtp_mse = [((mtp[k - 1] - patches[:, k + 1 :]) ** 2).mean() for k in (1, 2)]
    assert mtp[0].shape == (4, 3, 5, 3) and mtp[1].shape == (4, 2, 5, 3)
    torch.testing.assert_close(terms["mse"], next_mse, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        terms["loss"], next_mse + 0.1 * (mtp_mse[0] + mtp_mse[1]) / 2, rtol=0, atol=1e-12
    )


# ---------------------------------------------------------------------------- stages through Trainer.fit
def test_two_stages_linear_probing_and_logged_terms(tmp_path, lorenz_npy):
    trainer = Trainer(_config(lorenz_npy), tmp_path)
    task = trainer.task
    assert isinstance(task, PhyxMambaTask) and task.stage1_length == 20 and task.stage2_length == 20
    # normalisation buffers from the raw training part; the checkpoint metadata is the identity
    raw = np.load(lorenz_npy)[:, :240].reshape(-1, 3)
    np.testing.assert_allclose(trainer.model.data_mean.numpy(), raw.mean(0), rtol=1e-5)
    np.testing.assert_allclose(trainer.model.data_std.numpy(), raw.std(0, ddof=1), rtol=1e-5)
    assert torch.equal(task.metadata()["normalisation"]["std"], torch.ones(3, dtype=torch.float64))

    w0 = _state(trainer.model)
    trainer.fit(stop_after=4)  # stage 1: every parameter moves
    w4 = _state(trainer.model)
    trainer.fit(stop_after=2)  # stage 2, linear probing
    w6 = _state(trainer.model)
    trainer.fit()  # stage 2, all parameters
    w8 = _state(trainer.model)
    params = [n for n, _ in trainer.model.named_parameters()]
    head = [n for n in params if n.startswith("lm_head.")]
    used = [n for n in params if not n.startswith("mtp.")]  # MTP modules are stage-1 only
    assert all(not torch.equal(w0[n], w4[n]) for n in params)
    assert {n for n in params if not torch.equal(w4[n], w6[n])} == set(head)
    assert sum(not torch.equal(w6[n], w8[n]) for n in used) > len(used) // 2
    assert all(torch.equal(w6[n], w8[n]) for n in params if n.startswith("mtp."))
    assert torch.equal(w0["data_mean"], w8["data_mean"])

    rows = trainer.history
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert all({"mse", "mtp"} <= set(r) and r["stage"] == 1 for r in rows[:4])
    assert all({"mse", "mmd_uncond", "mmd_cond"} <= set(r) and r["stage"] == 2 for r in rows[4:])
    assert all(np.isfinite(r["loss"]) and r["mmd_cond"] >= 0 for r in rows[4:])
    for r in rows[4:]:
        assert r["loss"] == pytest.approx(r["mse"] + r["mmd_uncond"] + 1000 * r["mmd_cond"], rel=1e-5)
    # the learning rate of each stage (row lr = the rate of the next step)
    assert rows[0]["lr"] == pytest.approx(5e-3) and rows[-1]["lr"] == pytest.approx(5e-4)
    assert all(p.requires_grad for p in trainer.model.parameters())
    model, extra = emulators.load_model(tmp_path / "model.pt")
    assert extra["kind"] == "trajectories" and torch.equal(model.data_std, trainer.model.data_std)
    ctx = torch.as_tensor(np.load(lorenz_npy)[:, -10:], dtype=torch.float32)
    assert torch.isfinite(model.forecast(ctx, 15)).all()


@pytest.mark.parametrize("stop_after", [3, 5, 6])
def test_resume_equals_uninterrupted(tmp_path, lorenz_npy, stop_after):
    """Stopped in stage 1 (3), mid linear probing (5) or at its end (6), then resumed: same weights."""
    full, part = tmp_path / "full", tmp_path / "part"
    Trainer(_config(lorenz_npy), full).fit()
    Trainer(_config(lorenz_npy), part).fit(stop_after=stop_after)
    resumed = Trainer(_config(lorenz_npy), part, resume=True)
    assert resumed.step == stop_after
    resumed.fit()
    a, b = _weights(full / "model.pt"), _weights(part / "model.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_validation_loss_of_the_current_stage(tmp_path, lorenz_npy):
    trainer = Trainer(_config(lorenz_npy, validate_every=4), tmp_path).fit()
    rows = trainer.history
    assert np.isfinite(rows[3]["val_loss"]) and np.isfinite(rows[7]["val_loss"])
    assert trainer.model.training  # the trainer's mode is restored after validating


# ---------------------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["task"]["phyxmamba"].update(stage1_step=3), "task.phyxmamba.stage1_step: unknown key"),
        (lambda c: c["train"].update(steps=7), "train.steps: must equal"),
        (lambda c: c["task"]["phyxmamba"].update(stage1_tokens=1), "task.phyxmamba.stage1_tokens"),
        (
            lambda c: c["task"]["phyxmamba"].update(stage2_lr="fast"),
            "task.phyxmamba.stage2_lr: expected a number",
        ),
        (lambda c: c["task"]["phyxmamba"].update(horizon=2.5), "task.phyxmamba.horizon: expected int"),
        (lambda c: c["task"]["phyxmamba"].update(stage2_steps=-1), "task.phyxmamba.stage2_steps"),
        (lambda c: c["data"].update(standardize=True), "data.standardize"),
        (lambda c: c["model"].update(name="shplrnn", config={}), "model.name"),
        (lambda c: c["task"]["phyxmamba"].update(stage1_tokens=100), "data: training part"),
    ],
)
def test_config_errors_name_the_key(lorenz_npy, edit, message):
    cfg = copy.deepcopy(_config(lorenz_npy))
    edit(cfg)
    with pytest.raises(ConfigError) as info:
        build_task(config_from_dict(cfg), torch.device("cpu"))
    assert message in str(info.value)


def test_yaml_string_rates_and_example_config(tmp_path, lorenz_npy):
    cfg = _config(lorenz_npy)
    cfg["task"]["phyxmamba"]["stage2_lr"] = "1e-4"  # how YAML reads 1e-4
    task = build_task(config_from_dict(cfg), torch.device("cpu"))
    assert task.stages.stage2_lr == pytest.approx(1e-4) and task.lr_factor(4) == pytest.approx(1e-4 / 5e-3)

    example = REPO / "configs" / "phyxmamba_lorenz.yaml"
    values = yaml.safe_load(example.read_text())
    assert values["data"]["path"].startswith("data/")  # relative to the repo root
    long = tmp_path / "long.npy"
    np.save(long, np.concatenate([np.load(lorenz_npy)] * 2, axis=1))  # 600 points: 480 train > 120
    run = load_run_config(example, {"data.path": str(long), "task.phyxmamba.stage1_steps": 2,
                                    "task.phyxmamba.stage2_steps": 2, "task.phyxmamba.stage2_linear_steps": 1,
                                    "train.steps": 4, "train.batch_size": 4, "train.device": "cpu",
                                    "train.progress": False, "train.checkpoint_every": 0})  # fmt: skip
    trainer = Trainer(run, tmp_path / "example").fit()
    assert trainer.step == 4 and all(np.isfinite(r["loss"]) for r in trainer.history)
    assert trainer.task.stage1_length == 120 and trainer.task.stage2_length == 60
