"""shPLRNN / clipped shPLRNN: equations, analytic Jacobian, initialisation, observation models, checkpoints."""

import math

import numpy as np
import pytest
import torch
from model_harness import check_gradients, check_overfit, check_save_load

from emulators import EmulatorInputError, build_model
from emulators.plrnn import ShPLRNN, ShPLRNNConfig, normalized_positive_definite_diagonal


def _model(**kw):
    torch.manual_seed(kw.pop("seed", 0))
    cfg = {"obs_dim": 3, "latent_dim": 5, "hidden_dim": 7}
    cfg.update(kw)
    return ShPLRNN(ShPLRNNConfig(**cfg)).double()


@pytest.mark.parametrize("clipped", [False, True])
def test_step_matches_equations_by_hand(clipped):
    m = _model(clipped=clipped)
    with torch.no_grad():
        m.h2.copy_(torch.linspace(-0.5, 0.5, 7, dtype=torch.float64))
        m.h1.copy_(torch.arange(5, dtype=torch.float64) * 0.1)
    z = torch.randn(4, 5, dtype=torch.float64)
    A, W1, W2, h1, h2 = (p.detach().numpy() for p in (m.A, m.W1, m.W2, m.h1, m.h2))
    zn = z.numpy()
    expected = []
    for row in zn:
        hidden = np.maximum(W2 @ row + h2, 0)
        if clipped:
            hidden = hidden - np.maximum(W2 @ row, 0)
        expected.append(A * row + W1 @ hidden + h1)
    np.testing.assert_allclose(m.step(z).detach().numpy(), np.array(expected), rtol=1e-12)


@pytest.mark.parametrize("clipped", [False, True])
def test_jacobian_matches_autograd(clipped):
    m = _model(clipped=clipped, seed=3)
    with torch.no_grad():
        m.h2.normal_()
    z = torch.randn(6, 5, dtype=torch.float64)
    jac = m.jacobian(z)
    assert jac.shape == (6, 5, 5)
    for i in range(6):
        ref = torch.autograd.functional.jacobian(lambda v: m.step(v), z[i])
        torch.testing.assert_close(jac[i], ref, rtol=1e-12, atol=1e-12)
    # batched leading dims
    assert m.jacobian(z.reshape(2, 3, 5)).shape == (2, 3, 5, 5)


def test_clipped_is_bounded_and_unclipped_can_diverge():
    # clipped: |W1 [relu(a+h2) - relu(a)]| <= |W1| |h2| bounded, so with max|A| < 1 orbits stay bounded
    m = _model(clipped=True, seed=1)
    with torch.no_grad():
        m.W1.mul_(20.0)
        m.W2.mul_(20.0)
    traj = m(torch.randn(8, 5, dtype=torch.float64) * 10, 2000)
    bound = (m.W1.abs() @ m.h2.abs()).max() / (1 - m.A.abs().max()) + 10 + 1
    assert torch.isfinite(traj).all() and traj.abs().max() < bound
    m2 = _model(clipped=False, seed=1)
    with torch.no_grad():
        m2.W1.copy_(torch.ones(5, 7) / 7 * 3)
        m2.W2.copy_(torch.ones(7, 5))
    traj2 = m2(torch.ones(1, 5, dtype=torch.float64), 200)
    assert traj2.abs().max() > 1e10


def test_initialisation_statistics():
    torch.manual_seed(0)
    m = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=40, hidden_dim=400))
    M, H = 40, 400
    # A: diagonal of normalised PD matrix -> entries in (0, 1]
    assert ((m.A > 0) & (m.A <= 1 + 1e-6)).all()
    # uniform(+-b): max close to b, variance b^2/3
    for w, b in ((m.W1, 1 / math.sqrt(H)), (m.W2, 1 / math.sqrt(M))):
        assert w.abs().max() <= b and w.abs().max() > 0.98 * b
        assert abs(float(w.detach().var()) - b * b / 3) < 0.05 * b * b / 3
    assert (m.h1 == 0).all() and (m.h2 == 0).all()
    mc = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=40, hidden_dim=400, clipped=True))
    assert mc.h2.abs().max() <= 1 / math.sqrt(H) and mc.h2.abs().max() > 0.9 / math.sqrt(H)
    # A: independent computation of diag(K / lambda_max(K)), K = R^T R / M + I
    g = torch.Generator().manual_seed(5)
    a = normalized_positive_definite_diagonal(6, g)
    r = torch.randn(6, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64).numpy()
    k = r.T @ r / 6 + np.eye(6)
    np.testing.assert_allclose(a.numpy(), np.diag(k) / np.linalg.eigvalsh(k).max(), rtol=1e-6)
    # affine B: Kaiming normal std sqrt(2/M)
    ma = ShPLRNN(ShPLRNNConfig(obs_dim=50, latent_dim=40, hidden_dim=10, observation="affine"))
    assert abs(float(ma.B.detach().std()) - math.sqrt(2 / 40)) < 0.1 * math.sqrt(2 / 40)


def test_observation_models():
    m = _model()  # identity, M=5 > N=3: z = [x, L x]
    x = torch.randn(4, 3, dtype=torch.float64)
    z = m.init_state(x)
    torch.testing.assert_close(z[:, :3], x)
    torch.testing.assert_close(z[:, 3:], x @ m.L.T)
    torch.testing.assert_close(m.observe(z), x)
    ma = _model(observation="affine", obs_bias=True)
    with torch.no_grad():
        ma.b.normal_()
    za = ma.init_state(x)
    torch.testing.assert_close(ma.observe(za), x)  # B pinv(B) = I for full row rank B (N < M)
    assert float(ma.observation_regularization().detach()) >= 0
    assert float(m.observation_regularization()) == 0
    gen = ma.generate(x[:1], 10)
    assert gen.shape == (1, 10, 3)
    torch.testing.assert_close(gen[0, 0], x[0])


def test_latent_regularization_and_norm_bound():
    m = _model()
    with torch.no_grad():
        m.A.fill_(1.0)
        for p in (m.W1, m.W2, m.h1, m.h2):
            p.zero_()
    assert float(m.latent_regularization().detach()) == 0.0
    m = _model(seed=4)
    z = torch.randn(50, 5, dtype=torch.float64)
    assert torch.linalg.matrix_norm(m.jacobian(z), 2).max() <= m.norm_upper_bound() + 1e-12


def test_external_inputs_and_forward_shapes():
    m = _model(input_dim=2)
    z0 = torch.randn(3, 5, dtype=torch.float64)
    s = torch.randn(3, 4, 2, dtype=torch.float64)
    traj = m(z0, 4, s)
    assert traj.shape == (3, 4, 5)
    torch.testing.assert_close(traj[:, 0], m.step(z0) + s[:, 0] @ m.C.T)
    with pytest.raises(ValueError, match="s"):
        _model().step(z0, s[:, 0])


def test_bad_config_and_input_errors():
    with pytest.raises(ValueError, match="latent_dim"):
        ShPLRNNConfig(obs_dim=3, latent_dim=2, hidden_dim=4)
    with pytest.raises(ValueError, match="observation"):
        ShPLRNNConfig(obs_dim=3, latent_dim=3, hidden_dim=4, observation="linear")
    with pytest.raises(KeyError, match="hiden_dim"):
        build_model("shplrnn", {"obs_dim": 3, "latent_dim": 3, "hiden_dim": 4})
    with pytest.raises(EmulatorInputError, match=r"z must be a tensor of shape \(\.\.\., 5\), got \(2, 4\)"):
        _model().step(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(EmulatorInputError, match=r"inputs must have shape \(2, 3, 2\), got \(2, 4, 2\)"):
        _model(input_dim=2)(
            torch.zeros(2, 5, dtype=torch.float64), 3, torch.zeros(2, 4, 2, dtype=torch.float64)
        )
    with pytest.raises(EmulatorInputError, match="z0 must be a floating-point tensor, got dtype torch.int64"):
        _model()(torch.zeros(2, 5, dtype=torch.long), 3)


def test_checkpoint_round_trip(tmp_path):
    m = build_model("shplrnn", {"obs_dim": 2, "latent_dim": 4, "hidden_dim": 6, "clipped": True,
                                "observation": "affine"})  # fmt: skip
    m2, _ = check_save_load(m, (torch.randn(3, 4), 5), tmp_path)
    z = torch.randn(3, 4)
    torch.testing.assert_close(m2.step(z), m.step(z), rtol=0, atol=0)
    m64, _ = check_save_load(_model(), (torch.randn(3, 5, dtype=torch.float64), 5), tmp_path, name="m64.pt")
    assert m64.W1.dtype == torch.float64


@pytest.mark.parametrize("observation", ["identity", "affine"])
def test_gradients_reach_every_parameter(observation):
    """Teacher-forced loss of the generated observations: W1, W2, A, h1, h2, L / B, b all get a gradient."""
    m = _model(observation=observation, obs_bias=True, input_dim=2, seed=2)
    with torch.no_grad():
        m.h2.normal_()  # h2 = 0 at init makes relu(W2 z + h2) half-dead; any value works for the check
    x0 = torch.randn(4, 3, dtype=torch.float64)
    s = torch.randn(4, 6, 2, dtype=torch.float64)
    check_gradients(m, (x0,), forward=lambda mod, x: mod.observe(mod(mod.init_state(x), 6, s)))


def test_tiny_overfit_one_trajectory():
    """Free-running loss on one short trajectory falls 10x (shPLRNN fit by back-propagation through time)."""
    torch.manual_seed(0)
    t = torch.arange(1, 11, dtype=torch.float64) * 0.3
    target = torch.stack([torch.sin(t), torch.cos(t), 0.5 * torch.sin(2 * t)], dim=-1)[None]  # (1, 10, 3)
    m = _model(seed=1)
    x0 = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)
    check_overfit(
        m,
        (x0,),
        target,
        max_steps=400,
        lr=2e-2,
        forward=lambda mod, x: mod.observe(mod(mod.init_state(x), 10)),
    )


@pytest.mark.parametrize("n,m", [(2, 5), (4, 4), (6, 3)])
def test_affine_inversion_is_pseudo_inverse(n, m):
    ma = ShPLRNN(ShPLRNNConfig(obs_dim=n, latent_dim=m, hidden_dim=3, observation="affine")).double()
    x = torch.randn(7, n, dtype=torch.float64)
    expected = x @ torch.linalg.pinv(ma.B).T
    torch.testing.assert_close(ma.init_state(x), expected)
