"""The faster Mamba-2 scan and convolution give the gradients of the code they replaced.

The previous implementations are kept in ``benchmarks/phyxmamba_speed.py`` (which also times both)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from emulators.ssm import Mamba2, MambaConfig, ssd_chunked_scan

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "phyxmamba_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("phyxmamba_speed", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("L, chunk, g, with_state", [(12, 64, 1, False), (13, 4, 2, True), (37, 8, 1, True)])
def test_scan_values_and_gradients_equal_the_old_scan(bench, L, chunk, g, with_state):
    gen = torch.Generator().manual_seed(L)
    kw = dict(dtype=torch.float64, generator=gen)
    b, h, p, n = 3, 4, 5, 6
    args = [torch.randn(b, L, h, p, **kw), torch.rand(b, L, h, **kw) * 0.5, -torch.rand(h, **kw) * 3 - 0.1,
            torch.randn(b, L, g, n, **kw), torch.randn(b, L, g, n, **kw), torch.randn(h, **kw)]  # fmt: skip
    h0 = torch.randn(b, h, p, n, **kw) if with_state else None
    outs = []
    for scan in (ssd_chunked_scan, bench.legacy_ssd_chunked_scan):
        leaves = [a.clone().requires_grad_(True) for a in args]
        y, s = scan(*leaves, chunk_size=chunk, initial_state=h0)
        ((y * torch.cos(y)).sum() + (s**2).sum()).backward()
        outs.append([y.detach(), s.detach()] + [a.grad for a in leaves])
    for new, old in zip(*outs):
        assert torch.allclose(new, old, rtol=0, atol=1e-6 * max(1.0, float(old.abs().max())))
        assert torch.allclose(new, old, rtol=1e-10, atol=1e-12)


def test_conv_equals_conv1d():
    torch.manual_seed(0)
    m = Mamba2(MambaConfig(d_model=8, d_state=6, headdim=4, ngroups=2)).double()
    x = torch.randn(2, 9, m.conv_dim, dtype=torch.float64, requires_grad=True)
    new = m._causal_conv(x)
    old = m.conv1d(x.transpose(1, 2))[..., :9].transpose(1, 2)
    assert torch.allclose(new, old, atol=1e-12)
    g_new = torch.autograd.grad(new.sin().sum(), [x, m.conv1d.weight, m.conv1d.bias])
    g_old = torch.autograd.grad(old.sin().sum(), [x, m.conv1d.weight, m.conv1d.bias])
    for a, b in zip(g_new, g_old):
        assert torch.allclose(a, b, atol=1e-12)


def test_model_gradients_equal_the_old_code(bench):
    # whole PhyxMamba (CPU preset), stage-1 + stage-2 losses, float64: relative difference <= 1e-6
    assert bench.max_gradient_difference(torch.float64, batch=4) < 1e-6
