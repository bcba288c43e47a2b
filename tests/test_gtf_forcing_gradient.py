"""Forcing signals are constants of the gradient (the GTF reference code), or differentiated on request.

The Julia code computes ``Ẑ = estimate_forcing_signals(tfrec, X̃)`` (``pinv(B) x`` for an affine read-out)
before ``Flux.gradient`` (``src/tf_training/training.jl``), so the loss reaches ``B`` through the read-out
and the initial state ``pinv(B) x_0`` only. ``forcing_gradient=True`` keeps the path through ``ẑ_t``.
"""

import pytest
import torch

from chaosbench_py.errors import ConfigError, InputTypeError
from chaosbench_py.training.gtf import GTFConfig, gtf_loss
from chaosbench_py.training.tasks.gtf import GTF_KEYS, gtf_options
from emulators.plrnn import ShPLRNN, ShPLRNNConfig


def _model(observation: str, latent: int, seed: int = 0) -> ShPLRNN:
    torch.manual_seed(seed)
    model = ShPLRNN(ShPLRNNConfig(obs_dim=3, latent_dim=latent, hidden_dim=11, clipped=True,
                                  observation=observation, obs_bias=observation == "affine")).double()  # fmt: skip
    with torch.no_grad():
        model.h1.normal_(0.0, 0.1)
        if model.b is not None:
            model.b.normal_(0.0, 0.2)
    return model


def _batch(seed: int = 1, t_len: int = 30) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(4, t_len + 1, 3, generator=g, dtype=torch.float64).cumsum(1) * 0.2).contiguous()


def _hand_loss(model: ShPLRNN, x: torch.Tensor, alpha: float, stf_interval: int | None, through_targets: bool):
    """Independent loop: ``z_0 = pinv(B)(x_0 - b)``; ``z_t = F(z̃_{t-1})``; mix with ``ẑ_t`` (B detached or not)."""
    b_mat, bias = model.B, model.b
    if not through_targets:
        b_mat, bias = b_mat.detach(), bias.detach()
    zhat = (x[:, 1:] - bias) @ torch.linalg.pinv(b_mat).T  # (S, T, M)
    z = (x[:, 0] - model.b) @ torch.linalg.pinv(model.B).T
    preds = []
    for t in range(x.shape[1] - 1):
        pre = z @ model.W2.T
        z = model.A * z + (torch.relu(pre + model.h2) - torch.relu(pre)) @ model.W1.T + model.h1
        preds.append(z @ model.B.T + model.b)
        a = alpha if stf_interval is None else (1.0 if (t + 1) % stf_interval == 0 else 0.0)
        z = (1 - a) * z + a * zhat[:, t]
    return torch.mean((torch.stack(preds, 1) - x[:, 1:]) ** 2)


def _grads(loss: torch.Tensor, model: ShPLRNN) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("native", ["0", "1"])
@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("through_targets", [False, True])
@pytest.mark.parametrize("forcing", ["gtf", "sparse"])
def test_affine_gradients_match_an_independent_loop(monkeypatch, native, fast_path, through_targets, forcing):
    monkeypatch.setenv("CHAOSBENCH_NATIVE", native)
    model, x = _model("affine", 3), _batch()
    stf = 4 if forcing == "sparse" else None
    cfg = GTFConfig(forcing=forcing, stf_interval=4, lambda_latent=0.0, fast_path=fast_path,
                    forcing_gradient=through_targets)  # fmt: skip
    ours = _grads(gtf_loss(model, x, 0.3, cfg)[0], model)
    ref = _grads(_hand_loss(model, x, 0.3, stf, through_targets), model)
    assert ours.keys() == ref.keys()
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-6, atol=1e-9 * float(ref[k].abs().max()),
                                   msg=lambda s, k=k: f"{k}: {s}")  # fmt: skip


def test_only_the_read_out_gradient_changes_and_it_changes_visibly():
    model, x = _model("affine", 3), _batch(seed=5)
    runs = {}
    for through in (False, True):
        loss, mse = gtf_loss(model, x, 0.3, GTFConfig(lambda_latent=0.0, forcing_gradient=through))
        runs[through] = (float(mse.detach()), _grads(loss, model))
    assert runs[False][0] == runs[True][0]  # the same forward pass
    g0, g1 = runs[False][1], runs[True][1]
    for k in ("A", "W1", "W2", "h1", "h2"):
        torch.testing.assert_close(g0[k], g1[k], rtol=1e-12, atol=1e-15)
    for k in ("B", "b"):
        assert float((g0[k] - g1[k]).abs().max()) > 1e-3 * float(g1[k].abs().max())
    # no forcing (α = 0): no forcing signal, nothing to differ
    same = [_grads(gtf_loss(model, x, 0.0, GTFConfig(lambda_latent=0.0, forcing_gradient=f))[0], model)
            for f in (False, True)]  # fmt: skip
    for k in same[0]:
        torch.testing.assert_close(same[0][k], same[1][k], rtol=0, atol=0)


@pytest.mark.parametrize("latent", [3, 5])
def test_identity_read_out_is_unaffected(latent):
    model, x = _model("identity", latent), _batch(seed=2)
    g = [_grads(gtf_loss(model, x, 0.4, GTFConfig(lambda_latent=1e-3, forcing_gradient=f))[0], model)
         for f in (False, True)]  # fmt: skip
    assert g[0].keys() == g[1].keys()
    for k in g[0]:
        torch.testing.assert_close(g[0][k], g[1][k], rtol=0, atol=0)


def test_config_key_and_bad_values():
    assert "forcing_gradient" in GTF_KEYS
    assert GTFConfig().forcing_gradient is False  # the reference code's behaviour is the default
    assert gtf_options({"forcing_gradient": True}).forcing_gradient is True
    with pytest.raises(InputTypeError, match="forcing_gradient"):
        GTFConfig(forcing_gradient="yes")
    with pytest.raises(ConfigError, match="task.gtf.forcing_gradient"):
        gtf_options({"forcing_gradient": 1})
