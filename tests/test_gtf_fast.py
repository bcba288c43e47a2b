"""The analytic-BPTT fast path of GTF (emulators.plrnn_bptt, its torch version) against the step-by-step eager path."""

import itertools
from dataclasses import replace as dataclass_replace

import pytest
import torch

import emulators.plrnn_bptt as bptt
from chaosbench_py.training import GTFTrainer
from chaosbench_py.training.gtf import (
    GTFConfig,
    estimate_alpha,
    fast_path_available,
    gtf_forward,
    gtf_loss,
    update_alpha,
)
from emulators.errors import EmulatorInputError
from emulators.plrnn import ShPLRNN, ShPLRNNConfig

RTOL = 1e-6


@pytest.fixture(autouse=True)
def _torch_recurrence(monkeypatch):
    """These tests are of the torch version of the fast path; the C loop is tested in test_gtf_native.py."""
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")


# (observation, obs_dim, latent_dim, obs_bias)
OBSERVATIONS = {
    "identity-partial": ("identity", 3, 5, False),  # M > N: forcing of the first N units only
    "identity-square": ("identity", 3, 3, False),
    "affine": ("affine", 3, 4, True),
}


def _model(obs: str, clipped: bool, seed: int = 0) -> ShPLRNN:
    observation, n, m, bias = OBSERVATIONS[obs]
    torch.manual_seed(seed)
    model = ShPLRNN(ShPLRNNConfig(obs_dim=n, latent_dim=m, hidden_dim=9, clipped=clipped, observation=observation,
                                  obs_bias=bias)).double()  # fmt: skip
    with torch.no_grad():  # random biases (the plain model starts at h2 = 0): every kink region is visited
        model.h2.normal_(0.0, 0.5)
        model.h1.normal_(0.0, 0.1)
        if model.b is not None:
            model.b.normal_(0.0, 0.1)
    return model


def _loss_and_grads(model, x, alpha, cfg):
    model.zero_grad(set_to_none=True)
    loss, _ = gtf_loss(model, x, alpha, cfg)
    loss.backward()
    return loss.detach(), {
        k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None
    }


def _assert_same(fast, eager):
    (lf, gf), (le, ge) = fast, eager
    torch.testing.assert_close(lf, le, rtol=RTOL, atol=0.0)
    assert gf.keys() == ge.keys()
    for k in ge:
        scale = float(ge[k].abs().max())
        torch.testing.assert_close(gf[k], ge[k], rtol=RTOL, atol=RTOL * scale, msg=lambda s, k=k: f"{k}: {s}")


CASES = list(itertools.product((False, True), OBSERVATIONS, (0.0, 0.3, 1.0), (1, 2, 50), (1, 16)))


@pytest.mark.parametrize(("clipped", "obs", "alpha", "t_len", "batch"), CASES)
def test_fast_path_loss_and_gradients_equal_eager(clipped, obs, alpha, t_len, batch):
    _check_case(clipped, obs, alpha, t_len, batch)  # small models: the adjoint by explicit Jacobians


STEPWISE_CASES = list(itertools.product((False, True), OBSERVATIONS, (0.0, 0.3, 1.0), (1, 50)))


@pytest.mark.parametrize(("clipped", "obs", "alpha", "t_len"), STEPWISE_CASES)
def test_stepwise_adjoint_equals_eager(monkeypatch, clipped, obs, alpha, t_len):
    monkeypatch.setattr(bptt, "JACOBIAN_BACKWARD_MAX", 0)  # the variant used for large S·H·M²
    _check_case(clipped, obs, alpha, t_len, 16)


def _check_case(clipped, obs, alpha, t_len, batch):
    model = _model(obs, clipped)
    g = torch.Generator().manual_seed(t_len * 100 + batch)
    x = torch.randn(batch, t_len + 1, model.config.obs_dim, generator=g, dtype=torch.float64)
    cfg = GTFConfig(lambda_latent=1e-3, lambda_observation=1e-3 if obs == "affine" else 0.0)
    assert fast_path_available(model, x)
    fast = _loss_and_grads(model, x, alpha, dataclass_replace(cfg, fast_path=True))
    eager = _loss_and_grads(model, x, alpha, dataclass_replace(cfg, fast_path=False))
    _assert_same(fast, eager)


@pytest.mark.parametrize("clipped", [False, True])
@pytest.mark.parametrize("jacobian_max", [0, 10**9])
def test_full_forcing_sparse_forcing_and_zero_state(monkeypatch, clipped, jacobian_max):
    monkeypatch.setattr(bptt, "JACOBIAN_BACKWARD_MAX", jacobian_max)
    model = _model("identity-partial", clipped)
    x = torch.randn(4, 31, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for cfg in (GTFConfig(partial_forcing=False), GTFConfig(forcing="sparse", stf_interval=7)):
        fast = _loss_and_grads(model, x, 0.3, dataclass_replace(cfg, fast_path=True))
        eager = _loss_and_grads(model, x, 0.3, dataclass_replace(cfg, fast_path=False))
        _assert_same(fast, eager)
    # kinks: zero data with h2 = 0 puts every pre-activation exactly at 0, where relu' = 0 (autograd's convention)
    with torch.no_grad():
        model.h2.zero_()
    x0 = torch.zeros(2, 6, 3, dtype=torch.float64)
    for alpha in (0.0, 0.5):
        _assert_same(
            _loss_and_grads(model, x0, alpha, GTFConfig(fast_path=True, lambda_latent=1e-3)),
            _loss_and_grads(model, x0, alpha, GTFConfig(fast_path=False, lambda_latent=1e-3)),
        )


@pytest.mark.parametrize("jacobian_max", [0, 10**9])
def test_forced_rollout_per_step_alphas_and_input_gradients(monkeypatch, jacobian_max):
    monkeypatch.setattr(bptt, "JACOBIAN_BACKWARD_MAX", jacobian_max)
    model = _model("identity-partial", True)
    z0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    tg = torch.randn(3, 8, 3, dtype=torch.float64, requires_grad=True)
    alphas = [0.0, 0.2, 1.0, 0.0, 0.7, 0.2, 0.0, 0.9]
    w = torch.randn(3, 8, 5, dtype=torch.float64)

    def eager():
        z, out = z0, []
        for t, a in enumerate(alphas):
            z = model.step(z)
            out.append(z)
            z = torch.cat([(1 - a) * z[:, :3] + a * tg[:, t], z[:, 3:]], dim=1)
        return torch.stack(out, 1)

    res = []
    for f in (eager, lambda: bptt.forced_rollout(model, z0, tg, alphas)):
        z0.grad = tg.grad = None
        model.zero_grad(set_to_none=True)
        out = f()
        (out * w).sum().backward()
        res.append([out.detach(), z0.grad.clone(), tg.grad.clone()] + [p.grad.clone() for p in model.parameters()
                                                                        if p.grad is not None])  # fmt: skip
    for a, b in zip(*res, strict=True):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=RTOL * float(b.abs().max()))
    with torch.no_grad():  # no graph: same states, the workspace goes straight back to the pool
        torch.testing.assert_close(bptt.forced_rollout(model, z0, tg, alphas), res[0][0])


def test_short_training_gives_the_same_weights():
    """Five RAdam steps with adaptive α (float64): fast and eager weights agree to 1e-6."""
    weights = []
    for fast in (True, False):
        model = _model("identity-square", True, seed=1)
        opt = torch.optim.RAdam(model.parameters(), lr=1e-2)
        cfg = GTFConfig(sequence_length=20, lambda_latent=1e-4, alpha_decay=0.9, fast_path=fast)
        g = torch.Generator().manual_seed(0)
        alpha = cfg.alpha
        for _ in range(5):
            x = torch.randn(8, 21, 3, dtype=torch.float64, generator=g).cumsum(1) * 0.1
            alpha = update_alpha(alpha, estimate_alpha(model, x), cfg.alpha_decay)
            opt.zero_grad()
            gtf_loss(model, x, alpha, cfg)[0].backward()
            opt.step()
        weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    for k in weights[1]:
        torch.testing.assert_close(weights[0][k], weights[1][k], rtol=RTOL, atol=RTOL)


def test_trainer_uses_the_fast_path_and_the_config_switch(monkeypatch):
    calls = []
    real = bptt.forced_rollout
    monkeypatch.setattr(
        "chaosbench_py.training.gtf.forced_rollout", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0)).cumsum(0).numpy() * 0.05
    states = []
    for fast in (True, False):
        torch.manual_seed(0)
        model = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=3, hidden_dim=16, clipped=True))
        cfg = GTFConfig(sequence_length=10, batch_size=4, epochs=1, batches_per_epoch=4, fast_path=fast,
                        progress=False)  # fmt: skip
        GTFTrainer(model, x, cfg).train()
        states.append(model.state_dict())
        assert len(calls) == 4  # 4 steps on the fast path; the eager run adds none
    for k in states[1]:  # float32: the paths differ by rounding only
        torch.testing.assert_close(states[0][k], states[1][k], rtol=1e-4, atol=1e-5)


def test_fallbacks_and_bad_input():
    model = _model("identity-square", False)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert fast_path_available(model, x)
    assert not fast_path_available(model, x.float())  # dtype mismatch: eager path (and its error)

    class Custom(ShPLRNN):
        def step(self, z, s=None):
            return super().step(z, s) * 0.5

    custom = Custom(model.config).double()
    custom.load_state_dict(model.state_dict())
    assert not fast_path_available(custom, x)  # overridden step: eager, using the override
    torch.testing.assert_close(gtf_forward(custom, x, 0.3), gtf_forward(custom, x, 0.3, fast_path=False))
    z0 = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(EmulatorInputError, match="alphas"):
        bptt.forced_rollout(model, z0, torch.zeros(2, 4, 3, dtype=torch.float64), [0.5, 1.5, 0.0, 0.0])
    with pytest.raises(EmulatorInputError, match="targets"):
        bptt.forced_rollout(model, z0, None, [0.5])
    with pytest.raises(EmulatorInputError, match="targets"):
        bptt.forced_rollout(model, z0, torch.zeros(2, 3, 3, dtype=torch.float64), [0.5] * 4)
    with pytest.raises(EmulatorInputError, match="dtype"):
        bptt.forced_rollout(model, z0.float(), None, [0.0])


def test_workspace_reuse_is_safe():
    model = _model("identity-square", True)
    x1, x2 = (
        torch.randn(2, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(s)) for s in (1, 2)
    )
    cfg_f, cfg_e = GTFConfig(fast_path=True, lambda_latent=0.0), GTFConfig(fast_path=False, lambda_latent=0.0)
    # two graphs alive at once (two workspaces), one backward
    model.zero_grad()
    (gtf_loss(model, x1, 0.3, cfg_f)[0] + gtf_loss(model, x2, 0.3, cfg_f)[0]).backward()
    fast = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    (gtf_loss(model, x1, 0.3, cfg_e)[0] + gtf_loss(model, x2, 0.3, cfg_e)[0]).backward()
    for k, p in model.named_parameters():
        torch.testing.assert_close(fast[k], p.grad, rtol=RTOL, atol=1e-12)
    # a retained graph whose workspace was reused by another call refuses a second backward
    bptt.clear_workspaces()
    loss = gtf_loss(model, x1, 0.3, cfg_f)[0]
    loss.backward(retain_graph=True)
    gtf_loss(model, x1, 0.3, cfg_f)[0].backward()  # takes the same workspace back from the pool
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
