"""The fast paths of lyapunov_spectrum_flow: the generated-C tangent step and the per-process trace cache.

Both must give the torch result (to rounding), fall back to torch where they do not apply, and never
reuse a stale graph.
"""

import math

import numpy as np
import pytest
import torch

from chaosbench_py.systems import get_system
from physics_metrics import _native_build, _native_tangent, _trace_cache, lyapunov_spectrum_flow


@pytest.fixture(autouse=True)
def _one_thread_and_private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSICS_METRICS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PHYSICS_METRICS_NATIVE", raising=False)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def lorenz63(t, x):
    a, b, c = x.unbind(-1)
    return torch.stack([10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c], dim=-1)


def lorenz96(t, x):
    return (torch.roll(x, -1, dims=-1) - torch.roll(x, 2, dims=-1)) * torch.roll(x, 1, dims=-1) - x + 8.0


def every_op(t, x):
    """Uses every covered operation (values kept in their domains along a short orbit)."""
    a, b, c = x[:, 0], x[..., 1], x[:, 2]
    w = x[:, 1:]
    u = torch.sin(a) * torch.cos(b) + torch.tan(0.1 * c) - torch.exp(-(a**2)) + torch.log(2.0 + b * b)
    v = torch.sqrt(1.0 + c**2) / (1.5 + torch.tanh(a)) + torch.sinh(0.1 * b) - torch.cosh(0.1 * c)
    s = (
        torch.expm1(0.1 * a)
        + torch.log1p(b * b)
        + torch.atan(a) * torch.abs(b + 0.3)
        + torch.square(c) * 0.01
        - 1.0 / (3.0 + a * a)
        + 2.0 ** (0.1 * b)
    )
    r = (
        -a
        + (1.0 + b * b) ** 1.5 * 0.01
        + torch.reciprocal(2.0 + c * c)
        - torch.sin(t) * 0.1
        + (1.0 + a * a) ** (0.1 * b)
    )
    z = torch.stack([u + v, s, r + torch.zeros_like(c)], dim=-1)
    return z - 0.5 * torch.cat([x[:, :1], w], dim=-1) + 0.1 * torch.ones_like(x)


def _ics(center, n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    c = torch.as_tensor(center, dtype=torch.float64)
    return c + scale * torch.randn(n, c.numel(), generator=g, dtype=torch.float64)


def _both(monkeypatch, field, x0, **kw):
    fast = lyapunov_spectrum_flow(field, x0, **kw)
    monkeypatch.setenv("PHYSICS_METRICS_NATIVE", "0")
    slow = lyapunov_spectrum_flow(field, x0, **kw)
    monkeypatch.delenv("PHYSICS_METRICS_NATIVE")
    return fast, slow


@pytest.mark.parametrize(
    ("field", "center", "scale"), [(lorenz63, [1.0, 1.0, 20.0], 5.0), (lorenz96, [8.0] * 10, 1.0)]
)
def test_c_step_gives_the_torch_spectrum(monkeypatch, field, center, scale):
    x0 = _ics(center, 4, scale, 0)
    fast, slow = _both(monkeypatch, field, x0, dt=0.02, n_steps=300, transient_steps=50)
    assert fast.info["engine"] == "C (generated)"
    assert slow.info["engine"] == "torch (traced)"
    np.testing.assert_allclose(fast.per_initial_condition, slow.per_initial_condition, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.volume_rate, slow.volume_rate, rtol=1e-9)
    assert fast.accurate
    assert [a[:2] for a in fast.info["attempts"]] == [a[:2] for a in slow.info["attempts"]]


@pytest.mark.parametrize("name", ["Rossler", "ForcedBrusselator", "TurchinHanski", "SprottB", "Thomas"])
def test_c_step_on_catalog_flows(monkeypatch, name):
    system = get_system(name)
    x0 = system.default_initial_condition()[None, :]
    kw = dict(dt=system.info.period / 100, n_steps=200, t0=0.3, step_control="fixed", warn=False)
    fast, slow = _both(monkeypatch, system.rhs, x0, **kw)
    assert fast.info["engine"] == "C (generated)"
    np.testing.assert_allclose(fast.per_initial_condition, slow.per_initial_condition, rtol=1e-8, atol=1e-10)


def test_translated_field_and_jvps_equal_torch():
    x = _ics([0.3, -0.2, 0.5], 5, 0.3, 1)
    q = torch.linalg.qr(torch.randn(5, 3, 2, dtype=torch.float64))[0]
    t = torch.tensor(0.7, dtype=torch.float64)
    step = _native_tangent.native_tangent_step(every_op, t, x, q)
    assert step is not None
    f_c, jq_c = step.field(t, x, q)
    for j in range(2):
        f_t, jv = torch.func.jvp(lambda z: every_op(t, z), (x,), (q[:, :, j],))
        np.testing.assert_allclose(f_c.numpy(), f_t.numpy(), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(jq_c[:, :, j].numpy(), jv.numpy(), rtol=1e-11, atol=1e-13)
    # the step itself is RK4 of (x, Q): compare with the torch step of the module
    from physics_metrics._tangent import _batched_jvp

    def rk4(xs, qs, h):
        k1 = _batched_jvp(lambda z: every_op(t, z), xs, qs)
        k2 = _batched_jvp(lambda z: every_op(t + h / 2, z), xs + h / 2 * k1[0], qs + h / 2 * k1[1])
        k3 = _batched_jvp(lambda z: every_op(t + h / 2, z), xs + h / 2 * k2[0], qs + h / 2 * k2[1])
        k4 = _batched_jvp(lambda z: every_op(t + h, z), xs + h * k3[0], qs + h * k3[1])
        return (
            xs + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            qs + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]),
            (qs * k1[1]).sum(dim=(1, 2)),
        )

    for got, want in zip(step(t, 0.05, x, q), rk4(x, q, 0.05)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-13)


def branchy(t, x):
    a, b = x.unbind(-1)
    return torch.stack([torch.where(a > 0, -a, -2.0 * a) + b, -b - a], dim=-1)


def test_untranslatable_fields_run_the_torch_step():
    x0 = _ics([0.5, 0.1], 2, 0.1, 2)
    res = lyapunov_spectrum_flow(branchy, x0, dt=0.05, n_steps=100, warn=False)
    assert res.info["engine"] == "torch (traced)"
    eager = lyapunov_spectrum_flow(branchy, x0, dt=0.05, n_steps=100, warn=False, trace=False)
    assert eager.info["engine"] == "torch (eager)"
    np.testing.assert_allclose(res.per_initial_condition, eager.per_initial_condition, rtol=1e-10)
    f32 = lyapunov_spectrum_flow(
        lorenz63, _ics([1.0, 1.0, 20.0], 2, 1.0, 0), dt=0.01, n_steps=50, dtype=torch.float32
    )
    assert f32.info["engine"] == "torch (traced)"


def test_without_a_compiler_the_torch_step_runs(monkeypatch):
    monkeypatch.setattr(_native_build.shutil, "which", lambda name: None)
    monkeypatch.setattr(_native_tangent, "_LIBS", {})

    def shifted(t, x):  # a source not built in this process
        return lorenz63(t, x) + 0.0 * x

    res = lyapunov_spectrum_flow(shifted, _ics([1.0, 1.0, 20.0], 2, 1.0, 0), dt=0.01, n_steps=50)
    assert res.info["engine"] == "torch (traced)"


def test_unwritable_cache_builds_in_a_private_directory(monkeypatch, tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    monkeypatch.setenv("PHYSICS_METRICS_CACHE_DIR", str(blocker))
    monkeypatch.setattr(_native_tangent, "_LIBS", {})

    def scaled(t, x):  # a source not built in this process
        return 1.0 * lorenz63(t, x)

    res = lyapunov_spectrum_flow(scaled, _ics([1.0, 1.0, 20.0], 2, 1.0, 0), dt=0.01, n_steps=50)
    assert res.info["engine"] == "C (generated)"
    assert blocker.is_file()


def test_trace_cache_reused_and_never_stale(monkeypatch):
    monkeypatch.setenv("PHYSICS_METRICS_NATIVE", "0")
    _trace_cache.clear()
    params = {"rho": 28.0}

    def field(t, x):
        a, b, c = x.unbind(-1)
        return torch.stack([10.0 * (b - a), a * (params["rho"] - c) - b, a * b - (8.0 / 3.0) * c], dim=-1)

    x0 = _ics([1.0, 1.0, 20.0], 3, 2.0, 5)
    kw = dict(dt=0.01, n_steps=200, step_control="fixed")
    first = lyapunov_spectrum_flow(field, x0, **kw)
    again = lyapunov_spectrum_flow(field, x0, **kw)
    assert _trace_cache.STATS["hits"] == 1
    np.testing.assert_array_equal(first.per_initial_condition, again.per_initial_condition)
    params["rho"] = 35.0  # a constant frozen into the graph: the cached graph must not be used
    changed = lyapunov_spectrum_flow(field, x0, **kw)
    assert _trace_cache.STATS["stale"] == 1
    eager = lyapunov_spectrum_flow(field, x0, trace=False, **kw)
    np.testing.assert_allclose(changed.per_initial_condition, eager.per_initial_condition, rtol=1e-10)
    assert not np.allclose(changed.per_initial_condition, first.per_initial_condition)
    # other shapes are another entry; a freed function's entry never matches a new one
    lyapunov_spectrum_flow(field, x0[:2], **kw)
    assert _trace_cache.STATS["misses"] >= 2
    _trace_cache.clear()
    assert _trace_cache.STATS == {"hits": 0, "misses": 0, "stale": 0}


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("PHYSICS_METRICS_NATIVE", "0")
    res = lyapunov_spectrum_flow(lorenz63, _ics([1.0, 1.0, 20.0], 2, 1.0, 0), dt=0.01, n_steps=50)
    assert res.info["engine"] == "torch (traced)"
    assert math.isfinite(res.identity_error)


@pytest.mark.parametrize(
    "rule", [("sin({a})", "sin({a})"), ("cos({a})", "cos({a})")], ids=["wrong-derivative", "wrong-value"]
)
def test_a_wrong_translation_is_rejected_before_use(monkeypatch, rule):
    monkeypatch.setitem(_native_tangent._UNARY, "sin", rule)

    def field(t, x):
        return torch.stack([torch.sin(x[:, 1]), -x[:, 0]], dim=-1)

    x = _ics([0.3, 0.2], 3, 0.1, 0)
    q = torch.eye(2, dtype=torch.float64).expand(3, 2, 2).clone()
    t = torch.tensor(0.0, dtype=torch.float64)
    assert _native_tangent.native_tangent_step(field, t, x, q) is None
    res = lyapunov_spectrum_flow(field, x, dt=0.05, n_steps=50, warn=False)
    assert res.info["engine"] == "torch (traced)"
