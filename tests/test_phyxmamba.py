"""Tests of the PhyxMamba model (emulators.phyxmamba) and its training front end (chaosbench_py.training.train_phyxmamba)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_harness import check_bf16_autocast, check_gradients, check_save_load
from scipy.integrate import solve_ivp

from chaosbench_py.training import train_phyxmamba
from chaosbench_py.training.phyxmamba import PhyxMambaTrainConfig, phyxmamba_losses_stage2
from emulators import build_model, load_model, save_model
from emulators.phyxmamba import PhyxMamba, PhyxMambaConfig, delay_embed_causal, phyxmamba_preset


def _tiny(**kw) -> PhyxMambaConfig:
    base = dict(
        n_vars=3,
        embed_dim=3,
        tau=2,
        token_size=5,
        lookback=10,
        d_model=16,
        d_state=8,
        headdim=8,
        hier_layers=2,
        mtp_steps=2,
        dropout=0.0,
    )
    base.update(kw)
    return PhyxMambaConfig(**base)


def _lorenz(n_traj=2, length=600, dt=0.04, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)

    def f(_, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    out = []
    for _ in range(n_traj):
        s0 = rng.normal(size=3) + [0, 0, 25]
        s0 = solve_ivp(f, (0, 10), s0, rtol=1e-8, atol=1e-8).y[:, -1]
        t = np.arange(length) * dt
        out.append(solve_ivp(f, (0, t[-1]), s0, t_eval=t, rtol=1e-8, atol=1e-8).y.T)
    return np.stack(out)


def test_delay_embedding_known_values():
    x = torch.arange(1.0, 7.0).reshape(1, 6, 1).repeat(1, 1, 2)
    x[..., 1] *= 10
    e = delay_embed_causal(x, 3, 2)
    assert e.shape == (1, 6, 6)
    # variable 0 at t = 4: [x_0, x_2, x_4] = [1, 3, 5]; at t = 1: [0, 0, 2] (front zero padding)
    assert e[0, 4, :3].tolist() == [1.0, 3.0, 5.0]
    assert e[0, 1, :3].tolist() == [0.0, 0.0, 2.0]
    assert e[0, 5, 3:].tolist() == [20.0, 40.0, 60.0]


def test_paper_size_parameter_count():
    m = PhyxMamba(phyxmamba_preset("lorenz63", "paper"))
    # reference notes B.1.6: about 7.0 M in total, about 3.8 M without the MTP heads
    assert abs(m.n_parameters() - 7.0e6) < 0.1e6
    assert abs(m.n_parameters(include_mtp=False) - 3.8e6) < 0.1e6
    for name in ("rossler", "lorenz96"):
        assert phyxmamba_preset(name, "cpu").d_state == 16
    with pytest.raises(KeyError, match="system"):
        phyxmamba_preset("duffing")


def test_rollout_matches_teacher_forcing():
    """Recurrent generation == parallel teacher-forced forward fed with the generated patches."""
    torch.manual_seed(0)
    m = PhyxMamba(_tiny()).double().eval()
    m.set_normalization([1.0, -2.0, 20.0], [8.0, 9.0, 8.5])
    ctx = torch.randn(3, 10, 3, dtype=torch.float64) * 8
    roll = m.rollout(ctx, 4)
    full = torch.cat([ctx, m.destandardize(roll)], dim=1)
    pred = m(full)  # (B, 6, P, V): position t predicts patch t+1
    assert torch.allclose(pred[:, 1:5].reshape(3, -1, 3), roll, rtol=0, atol=1e-10)
    fc = m.forecast(ctx, 17)
    assert fc.shape == (3, 17, 3)
    assert torch.allclose(fc, m.destandardize(roll)[:, :17])
    assert m.forecast(ctx[0], 3).shape == (3, 3)


def test_model_gradients_save_load_and_bf16(tmp_path):
    """Harness checks of the model alone: every parameter (MTP heads included) gets a gradient from the
    next-patch + MTP losses; save/load is exact; bf16 autocast stays close to fp32."""
    torch.manual_seed(0)
    m = PhyxMamba(_tiny())
    m.set_normalization([1.0, -2.0, 20.0], [8.0, 9.0, 8.5])
    x = torch.randn(2, 30, 3) * 8

    def all_heads(model, series):
        pred, mtp = model(series, return_mtp=True)
        return (pred, *mtp)

    check_gradients(m, (x,), forward=all_heads)
    loaded, _ = check_save_load(m, (x,), tmp_path)
    assert torch.equal(loaded.data_std, m.data_std)
    check_bf16_autocast(m.eval(), (x,), rtol=0.1)


def test_bad_inputs_named():
    m = PhyxMamba(_tiny())
    with pytest.raises(ValueError, match="x:"):
        m(torch.randn(2, 12, 3))
    with pytest.raises(ValueError, match="lookback"):
        _tiny(lookback=12)
    with pytest.raises(ValueError, match="train_data"):
        train_phyxmamba(m, np.zeros((2, 100, 4)), PhyxMambaTrainConfig(stage1_steps=0, stage2_steps=0))


def test_stage2_mmd_terms_vanish_for_perfect_prediction():
    torch.manual_seed(0)
    m = PhyxMamba(_tiny()).double()
    cfg = PhyxMambaTrainConfig(horizon=10)
    win = torch.randn(8, 20, 3, dtype=torch.float64)
    terms = phyxmamba_losses_stage2(m, win, cfg)
    assert terms["loss"] > 0 and terms["mmd_cond"] >= 0 and terms["mmd_uncond"] >= 0
    expect = terms["mse"] + terms["mmd_uncond"] + 1000 * terms["mmd_cond"]
    assert torch.allclose(terms["loss"], expect)


def test_tiny_training_and_checkpoint_round_trip(tmp_path):
    data = _lorenz()
    m = PhyxMamba(_tiny(hier_layers=1, mtp_steps=1))
    cfg = PhyxMambaTrainConfig(
        stage1_steps=30,
        stage1_tokens=4,
        stage2_steps=4,
        stage2_linear_steps=2,
        horizon=10,
        batch_size=8,
        progress=False,
        stage1_lr=5e-3,
    )
    ckpt = tmp_path / "pxm.pt"
    before = {k: v.clone() for k, v in m.state_dict().items()}
    hist = train_phyxmamba(m, data, cfg, checkpoint_path=ckpt)
    s1 = hist["stage1"]
    assert np.mean(s1[-5:]) < 0.5 * np.mean(s1[:3]), "stage-1 loss did not decrease"
    assert len(hist["stage2"]) == 4 and all(np.isfinite(h["loss"]) for h in hist["stage2"])
    assert np.allclose(m.data_mean.numpy(), data.reshape(-1, 3).mean(0), atol=1e-3)
    assert not torch.equal(before["lm_head.weight"], m.state_dict()["lm_head.weight"])
    ctx = torch.as_tensor(data[:, -10:], dtype=torch.float32)
    fc = m.forecast(ctx, 40)
    assert fc.shape == (2, 40, 3) and torch.isfinite(fc).all()
    m2, extra = load_model(ckpt)
    assert isinstance(m2, PhyxMamba) and extra["stage"] == 2
    assert torch.equal(m2.forecast(ctx, 40), fc)
    save_model(m2, tmp_path / "again.pt")
    m3 = build_model("phyxmamba", {**_tiny(hier_layers=1, mtp_steps=1).__dict__})
    m3.load_state_dict(torch.load(tmp_path / "again.pt", weights_only=True)["state_dict"])
    assert torch.equal(m3.eval().forecast(ctx, 5), fc[:, :5])


def test_linear_probing_freezes_backbone():
    data = _lorenz(n_traj=1, length=200)
    m = PhyxMamba(_tiny())
    cfg = PhyxMambaTrainConfig(
        stage1_steps=0, stage2_steps=2, stage2_linear_steps=2, horizon=10, batch_size=8, progress=False
    )
    before = {k: v.clone() for k, v in m.state_dict().items()}
    train_phyxmamba(m, data, cfg)
    after = m.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k]) and not k.startswith("data_")}
    assert changed and all("head" in k for k in changed)
