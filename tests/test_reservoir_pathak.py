"""Echo state network options of Pathak et al. (PRL 2018; Chaos 2017): one input per unit, squared-half read-out,
sparse update, chunked normal equations. The defaults must keep the original (dense) reservoir."""

from __future__ import annotations

import pytest
import torch
from model_harness import check_save_load, single_thread  # noqa: F401  (autouse fixture)

from chaosbench_py.training.baselines import fit_reservoir
from emulators import EmulatorInputError
from emulators.reservoir import EchoStateNetwork, ESNConfig

PATHAK = {
    "input_connectivity": "one_per_node",
    "squared_half": True,
    "quadratic_readout": False,
    "bias_scaling": 0.0,
}


def _series(n_traj: int = 2, n_time: int = 300, dim: int = 4) -> torch.Tensor:
    t = torch.arange(n_time, dtype=torch.float64)[:, None] * 0.07
    phase = torch.arange(dim, dtype=torch.float64) + torch.arange(n_traj, dtype=torch.float64)[:, None, None]
    return torch.sin(t * (1 + 0.3 * torch.arange(dim)) + phase) + 0.2 * torch.cos(2.3 * t + phase)


def test_defaults_are_the_dense_reservoir():
    cfg = ESNConfig()
    assert (cfg.input_connectivity, cfg.squared_half, cfg.sparse_update) == ("dense", False, False)
    a = EchoStateNetwork(ESNConfig(input_dim=3, reservoir_dim=30, seed=4))
    b = EchoStateNetwork(ESNConfig(input_dim=3, reservoir_dim=30, seed=4, input_connectivity="dense"))
    assert torch.equal(a.w_in, b.w_in) and torch.equal(a.w_res, b.w_res)
    assert (a.w_in != 0).all()


def test_one_input_per_unit_in_contiguous_blocks():
    n, d, sigma = 200, 8, 0.7
    m = EchoStateNetwork(ESNConfig(input_dim=d, reservoir_dim=n, input_scaling=sigma, **PATHAK))
    nonzero = m.w_in != 0
    assert (nonzero.sum(1) == 1).all()  # exactly one input per unit
    assert (nonzero.sum(0) == n // d).all()  # equal blocks
    assert torch.equal(nonzero.float().argmax(1), torch.arange(n) * d // n)  # contiguous, in order
    assert m.w_in.abs().max() <= sigma


def test_adjacency_mean_degree_and_spectral_radius():
    n, kappa, rho = 600, 3.0, 0.4
    m = EchoStateNetwork(
        ESNConfig(input_dim=4, reservoir_dim=n, connectivity=kappa / n, spectral_radius=rho, seed=2)
    )
    degree = (m.w_res != 0).sum().item() / n
    assert abs(degree - kappa) < 4 * (kappa / n) ** 0.5  # binomial mean κ, std sqrt(κ/N)
    assert torch.linalg.eigvals(m.w_res).abs().max().item() == pytest.approx(rho, rel=1e-10)


def test_squared_half_features():
    m = EchoStateNetwork(ESNConfig(input_dim=2, reservoir_dim=7, connectivity=0.5, **PATHAK))
    r = torch.linspace(-0.9, 0.8, 14, dtype=torch.float64).reshape(2, 7)
    phi = m.features(r)
    assert m.n_features == 7 and phi.shape == (2, 7)
    torch.testing.assert_close(phi[:, 0::2], r[:, 0::2])
    torch.testing.assert_close(phi[:, 1::2], r[:, 1::2] ** 2)


def test_sparse_update_matches_dense_and_normal_solver_matches_svd(tmp_path):
    x = _series()
    cfg = {"input_dim": 4, "reservoir_dim": 80, "connectivity": 0.05, "seed": 3, **PATHAK}
    dense = EchoStateNetwork(ESNConfig(**cfg))
    sparse = EchoStateNetwork(ESNConfig(**cfg, sparse_update=True))
    assert torch.equal(dense.w_res, sparse.w_res)
    torch.testing.assert_close(sparse.listen(x), dense.listen(x), rtol=1e-12, atol=1e-13)
    dense.fit(x, ridge=1e-6, washout=20)
    fit_reservoir(sparse, x, ridge=1e-6, washout=20, solver="normal")
    torch.testing.assert_close(sparse.readout, dense.readout, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(
        sparse.predict(x[:, :50], 30), dense.predict(x[:, :50], 30), rtol=1e-6, atol=1e-7
    )
    chunked = EchoStateNetwork(ESNConfig(**cfg, sparse_update=True)).fit(
        x, ridge=1e-6, washout=20, solver="normal", chunk=7
    )
    torch.testing.assert_close(chunked.readout, sparse.readout, rtol=1e-6, atol=1e-7)
    check_save_load(sparse, (x[:, :50], 10), tmp_path)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ESNConfig(squared_half=True), "quadratic_readout=False"),
        (lambda: ESNConfig(input_connectivity="sparse"), "input_connectivity"),
        (
            lambda: ESNConfig(input_dim=10, reservoir_dim=5, input_connectivity="one_per_node"),
            "reservoir_dim",
        ),
        (lambda: ESNConfig(sparse_update=1), "sparse_update"),
        (lambda: EchoStateNetwork(ESNConfig(input_dim=4)).fit(_series(), ridge=0, solver="normal"), "ridge"),
        (lambda: EchoStateNetwork(ESNConfig(input_dim=4)).fit(_series(), solver="qr"), "solver"),
        (lambda: EchoStateNetwork(ESNConfig(input_dim=4)).fit(_series(), solver="normal", chunk=0), "chunk"),
    ],
)
def test_bad_options_name_the_problem(make, match):
    with pytest.raises(EmulatorInputError, match=match):
        make()
