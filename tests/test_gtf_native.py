"""The C loop of the GTF fast path (emulators._native_plrnn) against the eager loop and the torch fast path."""

import itertools
from dataclasses import replace as dataclass_replace

import pytest
import torch

import emulators._native_plrnn as native
import emulators.plrnn_bptt as bptt
from chaosbench_py.training.gtf import GTFConfig, estimate_alpha, gtf_loss, update_alpha
from emulators.plrnn import ShPLRNN, ShPLRNNConfig

RTOL = 1e-6

needs_kernel = pytest.mark.skipif(
    native.library() is None, reason="no C compiler: the torch fast path runs (tested below)"
)


@pytest.fixture
def count_paths(monkeypatch):
    """Count the calls of the C and of the torch version of the rollout."""
    calls = {"native": 0, "torch": 0}
    for key, cls in (("native", bptt._NativeForcedRollout), ("torch", bptt._ForcedRollout)):
        real = cls.apply

        def apply(*a, _real=real, _key=key):
            calls[_key] += 1
            return _real(*a)

        monkeypatch.setattr(cls, "apply", apply)
    return calls


def _model(n, m, h, clipped, observation="identity", seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = ShPLRNN(ShPLRNNConfig(obs_dim=n, latent_dim=m, hidden_dim=h, clipped=clipped, observation=observation,
                                  obs_bias=observation == "affine")).to(dtype)  # fmt: skip
    with torch.no_grad():  # random biases: every kink region is visited
        model.h2.normal_(0.0, 0.5)
        model.h1.normal_(0.0, 0.1)
    return model


def _loss_and_grads(model, x, alpha, cfg):
    model.zero_grad(set_to_none=True)
    loss, _ = gtf_loss(model, x, alpha, cfg)
    loss.backward()
    return loss.detach(), {
        k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None
    }


def _assert_same(a, b, rtol=RTOL):
    (la, ga), (lb, gb) = a, b
    torch.testing.assert_close(la, lb, rtol=rtol, atol=0.0)
    assert ga.keys() == gb.keys()
    for k in gb:
        scale = float(gb[k].abs().max())
        torch.testing.assert_close(ga[k], gb[k], rtol=rtol, atol=rtol * scale, msg=lambda s, k=k: f"{k}: {s}")


# (observation, N, M): partial forcing of the first N < M units, square identity, affine read-out
SHAPES = [("identity", 3, 5), ("identity", 3, 3), ("affine", 3, 4)]
CASES = list(itertools.product((False, True), SHAPES, (0.0, 0.3, 1.0), (1, 2, 50), (1, 16)))


@needs_kernel
@pytest.mark.parametrize(("clipped", "shape", "alpha", "t_len", "batch"), CASES)
def test_native_loss_and_gradients_equal_eager(count_paths, clipped, shape, alpha, t_len, batch):
    obs, n, m = shape
    model = _model(n, m, 9, clipped, obs)
    g = torch.Generator().manual_seed(t_len * 100 + batch)
    x = torch.randn(batch, t_len + 1, n, generator=g, dtype=torch.float64)
    cfg = GTFConfig(lambda_latent=1e-3, lambda_observation=1e-3 if obs == "affine" else 0.0)
    fast = _loss_and_grads(model, x, alpha, dataclass_replace(cfg, fast_path=True))
    assert count_paths == {"native": 1, "torch": 0}
    _assert_same(fast, _loss_and_grads(model, x, alpha, dataclass_replace(cfg, fast_path=False)))


@needs_kernel
@pytest.mark.parametrize(
    ("name", "n", "m", "h", "t_len", "alpha"),
    [
        ("Lorenz-63, aGTF", 3, 3, 100, 100, 0.37),
        ("ECG", 5, 5, 250, 200, 0.3),
        ("free run", 3, 3, 100, 100, 0.0),
    ],
)
def test_benchmark_sizes_equal_eager_and_torch_path(monkeypatch, count_paths, name, n, m, h, t_len, alpha):
    """The benchmark's models (float64, batch 16): C loop, torch fast path and eager agree to 1e-6."""
    model = _model(n, m, h, True, "affine" if name == "ECG" else "identity")
    x = (
        torch.randn(16, t_len + 1, n, generator=torch.Generator().manual_seed(5), dtype=torch.float64).cumsum(
            1
        )
        * 0.1
    )
    cfg = GTFConfig(lambda_latent=1e-5, lambda_observation=1e-7 if name == "ECG" else 0.0)
    c_loop = _loss_and_grads(model, x, alpha, cfg)
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")
    torch_path = _loss_and_grads(model, x, alpha, cfg)
    assert count_paths == {"native": 1, "torch": 1}
    eager = _loss_and_grads(model, x, alpha, dataclass_replace(cfg, fast_path=False))
    _assert_same(c_loop, eager)
    _assert_same(torch_path, eager)


@needs_kernel
def test_per_step_alphas_input_gradients_and_kinks(count_paths):
    model = _model(3, 5, 7, True)
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
    with torch.no_grad():  # no graph: the same states
        torch.testing.assert_close(bptt.forced_rollout(model, z0, tg, alphas), res[0][0])
    # every pre-activation exactly at a kink (zero state, h2 = 0): relu' = 0 there, as autograd
    with torch.no_grad():
        model.h2.zero_()
    x0 = torch.zeros(2, 6, 3, dtype=torch.float64)
    for alpha in (0.0, 0.5):
        _assert_same(
            _loss_and_grads(model, x0, alpha, GTFConfig(lambda_latent=1e-3)),
            _loss_and_grads(model, x0, alpha, GTFConfig(fast_path=False, lambda_latent=1e-3)),
        )
    assert count_paths == {"native": 4, "torch": 0}


@needs_kernel
def test_float32_and_sparse_forcing(count_paths):
    model = _model(3, 4, 30, True, dtype=torch.float32)
    x = torch.randn(8, 41, 3, generator=torch.Generator().manual_seed(2)).cumsum(1) * 0.1
    for cfg in (GTFConfig(), GTFConfig(forcing="sparse", stf_interval=7), GTFConfig(partial_forcing=False)):
        fast = _loss_and_grads(model, x, 0.3, cfg)
        _assert_same(fast, _loss_and_grads(model, x, 0.3, dataclass_replace(cfg, fast_path=False)), rtol=2e-4)
    assert count_paths == {"native": 3, "torch": 0}


@needs_kernel
def test_short_training_gives_the_same_weights():
    """Five RAdam steps with adaptive α (float64): C loop and eager weights agree to 1e-6."""
    weights = []
    for fast in (True, False):
        model = _model(3, 3, 20, True, seed=1)
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


@needs_kernel
def test_stale_retained_graph_refuses_a_second_backward():
    """The C loop writes the reused workspace through pointers; the version bump still guards old graphs."""
    model = _model(3, 3, 9, True)
    x = torch.randn(2, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    bptt.clear_workspaces()
    loss = gtf_loss(model, x, 0.3, GTFConfig(lambda_latent=0.0))[0]
    loss.backward(retain_graph=True)
    gtf_loss(model, x, 0.3, GTFConfig(lambda_latent=0.0))[0].backward()  # takes the same workspace back
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_fallbacks_to_the_torch_path(monkeypatch, tmp_path, count_paths):
    """CHAOSBENCH_NATIVE=0, M above the limit, an uncovered dtype, or no C compiler: the torch version runs."""
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    cfg = GTFConfig(lambda_latent=0.0)
    monkeypatch.setenv("CHAOSBENCH_NATIVE", "0")
    assert native.library() is None
    gtf_loss(_model(3, 3, 9, True), x, 0.3, cfg)[0].backward()
    monkeypatch.delenv("CHAOSBENCH_NATIVE")
    gtf_loss(_model(3, native.MAX_LATENT + 1, 9, True), x, 0.3, cfg)[0].backward()
    assert count_paths["torch"] == 2
    assert not native.usable((torch.zeros(2, 3, dtype=torch.bfloat16),), 3)
    assert not native.usable((torch.zeros(2, 3), torch.zeros(3, device="meta")), 3)  # any non-CPU tensor
    assert not native.usable((torch.zeros(2, 3), torch.zeros(3, dtype=torch.float64)), 3)
    # no compiler and an empty cache: no kernel, the torch path (state reset, so the build is retried)
    monkeypatch.setattr(native, "_STATE", {})
    monkeypatch.setenv("CHAOSBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(tmp_path / "private"))
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    assert native.library() is None
    model = _model(3, 3, 9, True)
    _assert_same(
        _loss_and_grads(model, x, 0.3, cfg),
        _loss_and_grads(model, x, 0.3, dataclass_replace(cfg, fast_path=False)),
    )
    assert count_paths["torch"] == 3


@needs_kernel
def test_build_is_cached_by_source(monkeypatch, tmp_path):
    """Built once into CHAOSBENCH_CACHE_DIR/native; a new process (state reset) loads it without a compiler."""
    monkeypatch.setenv("CHAOSBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(tmp_path / "private"))
    monkeypatch.setattr(native, "_STATE", {})
    assert native.library() is not None
    built = list((tmp_path / "native").glob("plrnn_*.so"))
    assert len(built) == 1 and not list((tmp_path / "native").glob("*.c"))
    monkeypatch.setattr(native, "_STATE", {})
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    assert native.library() is not None


@needs_kernel
def test_damaged_cache_file_is_bypassed(monkeypatch, tmp_path):
    """A damaged library under the cached name: built again in the private directory, not loaded."""
    monkeypatch.setenv("CHAOSBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(tmp_path / "private"))
    monkeypatch.setattr(native, "_STATE", {})
    (tmp_path / "native").mkdir()
    (tmp_path / "native" / native._library_name()).write_bytes(b"not a shared library")
    assert native.library() is not None
    assert list((tmp_path / "private").rglob(native._library_name()))


@needs_kernel
def test_nan_propagates_as_in_eager():
    model = _model(3, 3, 9, True)
    z0 = torch.tensor([[float("nan"), 0.0, 0.0], [0.1, 0.2, 0.3]], dtype=torch.float64)
    fast = bptt.forced_rollout(model, z0, None, [0.0] * 4)
    z, eager = z0, []
    for _ in range(4):
        z = model.step(z)
        eager.append(z)
    torch.testing.assert_close(fast, torch.stack(eager, 1).detach(), equal_nan=True)
    assert fast[0].isnan().all() and not fast[1].isnan().any()
