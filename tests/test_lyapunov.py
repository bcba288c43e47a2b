"""Lyapunov spectra by tangent-space QR: known values of classic systems, exact linear cases.

The vector fields are written here (not imported from chaosbench_py) so these tests pin
physics_metrics alone. Reference values: Lorenz-63 (0.9056, 0, −14.5723) and Rössler λ₁ = 0.0714
(Sprott, *Chaos and Time-Series Analysis*, OUP 2003, table of exponents); Hénon λ₁ = 0.41922;
logistic r = 4: ln 2 (exact). The same-orbit identity Σλ_i = (1/T)∫∇·f dt is exact for every orbit
(Liouville), so it pins the accuracy of the tangent integration without a reference value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physics_metrics.errors import MetricInputError, MetricTypeError, NonFiniteInputError
from physics_metrics.lyapunov import (
    LyapunovAccuracyWarning,
    LyapunovSpectrum,
    lyapunov_spectrum_flow,
    lyapunov_spectrum_map,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lorenz63(t, x):
    a, b, c = x.unbind(-1)
    return torch.stack([10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c], dim=-1)


def rossler(t, x):
    a, b, c = x.unbind(-1)
    return torch.stack([-b - c, a + 0.2 * b, 0.2 + c * (a - 5.7)], dim=-1)


def henon(x):
    return torch.stack([1.0 - 1.4 * x[:, 0] ** 2 + x[:, 1], 0.3 * x[:, 0]], dim=-1)


def _ics(center, n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(center, dtype=torch.float64) + scale * torch.randn(
        n, len(center), generator=g, dtype=torch.float64
    )


def test_lorenz63_spectrum():
    x0 = _ics([1.0, 1.0, 20.0], 256, 5.0, seed=0)
    res = lyapunov_spectrum_flow(lorenz63, x0, dt=0.02, n_steps=1000, transient_steps=500)
    l1, l2, l3 = res.exponents
    assert abs(l1 - 0.9056) < 0.02 * 0.9056
    assert abs(l2) < 0.01
    assert abs(l3 + 14.5723) < 0.02 * 14.5723
    # sum of exponents = divergence = −(σ + 1 + β) exactly for Lorenz-63 (RK4 at dt = 0.02 is off by ~1e-4 rel.)
    assert abs(res.exponents.sum() + (10 + 1 + 8 / 3)) < 5e-3
    assert res.per_initial_condition.shape == (256, 3)
    assert res.running.shape[1] == 3 and res.running.shape[0] == res.times.shape[0]
    np.testing.assert_allclose(res.running[-1], res.exponents)
    assert res.times[-1] == pytest.approx(20.0)
    assert 2.0 < res.kaplan_yorke_dimension < 2.1  # 2 + 0.9056/14.5723 = 2.062


def test_rossler_leading_exponent():
    x0 = _ics([1.0, 1.0, 0.0], 256, 1.0, seed=1)
    res = lyapunov_spectrum_flow(rossler, x0, dt=0.05, n_steps=2000, transient_steps=1000)
    assert abs(res.exponents[0] - 0.0714) < 0.05 * 0.0714
    assert abs(res.exponents[1]) < 0.01
    assert abs(res.exponents.sum() - res.exponents[0] - res.exponents[1] + 5.39) < 0.1


def test_henon_map():
    x0 = _ics([0.0, 0.0], 256, 0.1, seed=2)
    res = lyapunov_spectrum_map(henon, x0, n_steps=1000, transient_steps=100)
    assert abs(res.exponents[0] - 0.4192) < 0.01 * 0.4192
    # |det J| = b everywhere: λ1 + λ2 = ln b for every orbit, up to round-off
    np.testing.assert_allclose(res.per_initial_condition.sum(axis=1), math.log(0.3), atol=1e-10)
    assert res.time_unit == "step"


def test_logistic_map_ln2():
    g = torch.Generator().manual_seed(3)
    x0 = 0.05 + 0.9 * torch.rand(256, 1, generator=g, dtype=torch.float64)
    res = lyapunov_spectrum_map(lambda x: 4.0 * x * (1.0 - x), x0, n_steps=2000, transient_steps=10)
    assert abs(res.exponents[0] - math.log(2.0)) < 0.005 * math.log(2.0)


def test_linear_flow_exact_exponents():
    # dx/dt = A x with A = P diag(λ) P⁻¹ (non-normal): exponents are exactly the eigenvalues
    lam = np.array([0.3, -0.1, -0.7])
    p = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.4], [0.3, 0.0, 1.0]])
    a = torch.tensor(p @ np.diag(lam) @ np.linalg.inv(p))
    res = lyapunov_spectrum_flow(
        lambda t, x: x @ a.T,
        torch.ones(2, 3, dtype=torch.float64),
        dt=0.01,
        n_steps=4000,
        transient_steps=1000,
    )
    # residual error ~ log(cond P)/T from the basis change; RK4 error ~ (hλ)^4 λ / 120, negligible
    np.testing.assert_allclose(res.exponents, lam, atol=2e-3)
    # a linear map x -> M x: exponents ln|eig M|, including a rotation (complex pair) block
    m = np.array(
        [[0.9 * math.cos(0.7), -0.9 * math.sin(0.7), 0.0], [0.9 * math.sin(0.7), 0.9 * math.cos(0.7), 0.0]]
    )
    m = np.vstack([m, [0.1, 0.2, 1.5]])
    mt = torch.tensor(m)
    res = lyapunov_spectrum_map(
        lambda x: x @ mt.T, torch.ones(1, 3, dtype=torch.float64), n_steps=1000, transient_steps=200
    )
    np.testing.assert_allclose(res.exponents, [math.log(1.5), math.log(0.9), math.log(0.9)], atol=2e-3)
    # with a time step the exponents are per time unit
    res2 = lyapunov_spectrum_map(
        lambda x: x @ mt.T,
        torch.ones(1, 3, dtype=torch.float64),
        n_steps=1000,
        transient_steps=200,
        time_step=0.5,
    )
    np.testing.assert_allclose(res2.exponents, res.exponents / 0.5, rtol=1e-12)
    assert res2.time_unit == "time" and res2.total_time == pytest.approx(500.0)


def test_batch_consistency_and_trace_equivalence():
    x0 = _ics([1.0, 1.0, 20.0], 4, 5.0, seed=4)
    kw = dict(dt=0.01, n_steps=300, transient_steps=50)
    batch = lyapunov_spectrum_flow(lorenz63, x0, **kw)
    for i in (0, 3):
        single = lyapunov_spectrum_flow(lorenz63, x0[i], **kw)
        np.testing.assert_allclose(
            single.per_initial_condition[0], batch.per_initial_condition[i], rtol=1e-10
        )
    eager = lyapunov_spectrum_flow(lorenz63, x0, trace=False, **kw)
    np.testing.assert_allclose(eager.per_initial_condition, batch.per_initial_condition, rtol=1e-10)
    np.testing.assert_allclose(batch.exponents, batch.per_initial_condition.mean(0))
    np.testing.assert_allclose(batch.spread, batch.per_initial_condition.std(0, ddof=1))
    # leading-k only: the first exponents do not depend on how many are computed
    two = lyapunov_spectrum_flow(lorenz63, x0, n_exponents=2, **kw)
    np.testing.assert_allclose(two.per_initial_condition, batch.per_initial_condition[:, :2], rtol=1e-8)
    # QR every few steps gives the same result (QR is only a change of basis in the span)
    qr5 = lyapunov_spectrum_flow(lorenz63, x0, qr_every=5, **kw)
    np.testing.assert_allclose(qr5.per_initial_condition, batch.per_initial_condition, rtol=1e-6, atol=1e-8)


def test_map_of_module_matches_full_jacobian_qr():
    """An emulator-like one-step map (nn.Module): compare with an independent full-Jacobian QR in numpy.

    Both start from the same explicit frame (the default random frame is drawn inside the function).
    """
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).double()

    def step(x):
        return 0.9 * x + 0.5 * net(x)

    x0 = torch.randn(3, 4, dtype=torch.float64) * 0.1
    frame, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 3)))
    n = 200
    res = lyapunov_spectrum_map(step, x0, n_steps=n, n_exponents=3, initial_frame=frame)
    for i in range(3):
        x = x0[i].clone()
        q = frame.copy()
        acc = np.zeros(3)
        for _ in range(n):
            jac = torch.autograd.functional.jacobian(step, x[None])[0, :, 0, :].detach().numpy()
            q, r = np.linalg.qr(jac @ q)
            acc += np.log(np.abs(np.diag(r)))
            with torch.no_grad():
                x = step(x[None])[0]
        np.testing.assert_allclose(
            res.per_initial_condition[i], np.sort(acc / n)[::-1], rtol=1e-9, atol=1e-12
        )
    # partial spectrum of a map: nothing to check (the frame's volume growth *is* Σ log R_ii)
    assert res.accurate is None and np.isnan(res.identity_error) and np.isnan(res.divergence_mean)


def test_converged_and_running():
    x0 = _ics([1.0, 1.0, 20.0], 64, 5.0, seed=5)
    res = lyapunov_spectrum_flow(lorenz63, x0, dt=0.02, n_steps=500, transient_steps=200, record_every=10)
    assert isinstance(res, LyapunovSpectrum)
    assert res.running.shape == (50, 3)
    np.testing.assert_allclose(res.times, 0.2 * np.arange(1, 51))
    assert res.converged(1.0)
    assert not res.converged(1e-6)
    with pytest.raises(ValueError, match="tol"):
        res.converged(0.0)


def stiff_lorenz(t, x):
    """Lorenz-63 plus a slaved coordinate contracting at rate 100: ⟨∇·f⟩ = −13.667 − 100 exactly.

    At dt = 0.02, h·100 = 2 is inside RK4's stability region (the state is fine) but far from its
    accurate region: the fixed-step tangent map contracts that direction at ~55, not 100.
    """
    head = lorenz63(t, x[:, :3])
    return torch.cat([head, (-100.0 * (x[:, 3] - 0.1 * x[:, 0]))[:, None]], dim=1)


STIFF_DIVERGENCE = -(10.0 + 1.0 + 8.0 / 3.0) - 100.0


def test_identity_and_automatic_refinement_on_a_stiff_flow():
    x0 = _ics([1.0, 1.0, 20.0, 0.1], 4, 1.0, seed=0)
    res = lyapunov_spectrum_flow(stiff_lorenz, x0, dt=0.02, n_steps=500, transient_steps=100)
    assert res.info["dt_used"] < 0.02 and res.info["refinement"] >= 4
    assert res.accurate and res.identity_error < 1e-3
    # the divergence is constant here, so the same-orbit mean is known exactly
    assert res.divergence_mean == pytest.approx(STIFF_DIVERGENCE, rel=1e-10)
    assert res.sum_exponents == pytest.approx(STIFF_DIVERGENCE, rel=1e-2)
    assert res.exponents[-1] == pytest.approx(-100.0, rel=0.01)
    assert np.all(np.diff(res.exponents) <= 0)


def test_accuracy_warning_fires_on_a_coarse_fixed_step():
    x0 = _ics([1.0, 1.0, 20.0, 0.1], 4, 1.0, seed=0)
    with pytest.warns(LyapunovAccuracyWarning, match=r"Σλ = ⟨∇·f⟩ fails.*dt = 0.02.*smaller dt"):
        res = lyapunov_spectrum_flow(stiff_lorenz, x0, dt=0.02, n_steps=300, step_control="fixed")
    assert res.accurate is False and res.identity_error > 0.1
    assert res.info["dt_used"] == 0.02
    # the wrong spectrum it would have published: the stiff exponent at about half its value
    assert res.exponents[-1] > -70.0
    assert issubclass(LyapunovAccuracyWarning, UserWarning)
    # no warning when asked not to, the flag still says so
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = lyapunov_spectrum_flow(
            stiff_lorenz, x0, dt=0.02, n_steps=50, step_control="fixed", warn=False
        )
    assert quiet.accurate is False


def test_lorenz_identity_within_one_percent_and_partial_spectrum_check():
    x0 = _ics([1.0, 1.0, 20.0], 8, 5.0, seed=6)
    res = lyapunov_spectrum_flow(lorenz63, x0, dt=0.02, n_steps=500, transient_steps=200)
    assert res.accurate and res.info["refinement"] == 1  # dt = 0.02 is accurate for Lorenz: not refined
    assert res.divergence_mean == pytest.approx(-(10 + 1 + 8 / 3), rel=1e-12)
    assert abs(res.sum_exponents - res.divergence_mean) < 0.01 * abs(res.divergence_mean)
    np.testing.assert_allclose(res.identity_residual, res.per_initial_condition.sum(1) - res.volume_rate)
    # k < D: Σ_{i≤k} λ_i against the frame's k-volume rate ⟨tr(QᵀJQ)⟩; no divergence reported
    two = lyapunov_spectrum_flow(lorenz63, x0, dt=0.02, n_steps=500, transient_steps=200, n_exponents=2)
    assert np.isnan(two.divergence_mean) and two.accurate
    np.testing.assert_allclose(two.volume_rate, two.per_initial_condition.sum(1), rtol=1e-3, atol=1e-3)


def test_partial_spectrum_with_invariant_subspace_diagonal_map():
    # diag(0.5, 0.9): the first unit vector spans an invariant subspace, so the old default frame
    # returned log 0.5 as "the largest exponent"
    m = torch.tensor([0.5, 0.9], dtype=torch.float64)
    res = lyapunov_spectrum_map(lambda x: x * m, [1.0, 1.0], n_steps=400, n_exponents=1, transient_steps=50)
    assert res.exponents[0] == pytest.approx(math.log(0.9), abs=1e-3)
    old = lyapunov_spectrum_map(
        lambda x: x * m, [1.0, 1.0], n_steps=400, n_exponents=1, initial_frame="identity"
    )
    assert old.exponents[0] == pytest.approx(math.log(0.5), abs=1e-12)
    full = lyapunov_spectrum_map(lambda x: x * m, [1.0, 1.0], n_steps=400, initial_frame="identity")
    np.testing.assert_allclose(full.exponents, [math.log(0.9), math.log(0.5)], atol=1e-12)  # sorted
    assert full.maximum == pytest.approx(math.log(0.9))
    assert full.divergence_mean == pytest.approx(math.log(0.45)) and full.accurate


def test_forced_flow_with_clock_coordinate():
    # dx/dt = −x + sin τ, dτ/dt = 1: exponents (0, −1); the x unit vector spans an invariant subspace
    def clock(t, x):
        return torch.stack([-x[:, 0] + torch.sin(x[:, 1]), torch.ones_like(x[:, 1])], dim=1)

    one = lyapunov_spectrum_flow(clock, [0.3, 0.0], dt=0.05, n_steps=2000, n_exponents=1, transient_steps=100)
    assert abs(one.exponents[0]) < 2e-3 and one.maximum == one.exponents[0]
    old = lyapunov_spectrum_flow(
        clock, [0.3, 0.0], dt=0.05, n_steps=2000, n_exponents=1, initial_frame="identity"
    )
    assert old.exponents[0] == pytest.approx(-1.0, abs=1e-3)  # the wrong answer of the unit-vector frame
    full = lyapunov_spectrum_flow(clock, [0.3, 0.0], dt=0.05, n_steps=2000, transient_steps=100)
    np.testing.assert_allclose(full.exponents, [0.0, -1.0], atol=2e-3)
    assert full.divergence_mean == pytest.approx(-1.0, rel=1e-12) and full.accurate
    assert full.zero_exponents(0.01) == 1


def test_sorted_output_and_maximum():
    # a linear flow whose unit-vector frame computes the exponents in the order (−1, 0.5, 0.2)
    a = torch.diag(torch.tensor([-1.0, 0.5, 0.2], dtype=torch.float64))
    res = lyapunov_spectrum_flow(
        lambda t, x: x @ a.T,
        torch.ones(2, 3, dtype=torch.float64),
        dt=0.01,
        n_steps=500,
        initial_frame="identity",
    )
    np.testing.assert_allclose(res.exponents, [0.5, 0.2, -1.0], atol=1e-9)
    assert np.all(np.diff(res.per_initial_condition, axis=1) <= 0)
    assert res.maximum == pytest.approx(0.5) == res.exponents.max()
    # the running history follows the sorted order of each initial condition
    np.testing.assert_allclose(res.running_per_initial_condition[-1], res.per_initial_condition)


def test_random_frame_is_seeded_and_explicit_frames_work():
    x0 = _ics([1.0, 1.0, 20.0], 2, 5.0, seed=7)
    kw = dict(dt=0.02, n_steps=100, n_exponents=2)
    a = lyapunov_spectrum_flow(lorenz63, x0, seed=3, **kw)
    b = lyapunov_spectrum_flow(lorenz63, x0, seed=3, **kw)
    c = lyapunov_spectrum_flow(lorenz63, x0, seed=4, **kw)
    np.testing.assert_array_equal(a.per_initial_condition, b.per_initial_condition)
    assert not np.allclose(a.per_initial_condition, c.per_initial_condition)
    frame = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])  # not orthonormal: orthonormalised
    d = lyapunov_spectrum_flow(lorenz63, x0, initial_frame=frame, **kw)
    e = lyapunov_spectrum_flow(lorenz63, x0, initial_frame="identity", **kw)
    np.testing.assert_allclose(d.per_initial_condition, e.per_initial_condition, rtol=1e-10)


BAD_FLOW_INPUTS = [
    (dict(n_exponents=4), MetricInputError, "n_exponents"),
    (dict(x0=torch.ones(2, 2, 3)), MetricInputError, "x0"),
    (dict(x0=[1.0, float("nan"), 1.0]), NonFiniteInputError, "x0"),
    (dict(x0="abc"), MetricTypeError, "x0"),
    (dict(dt=-0.1), MetricInputError, "dt"),
    (dict(dt=float("inf")), MetricInputError, "dt"),
    (dict(n_steps=0), MetricInputError, "n_steps"),
    (dict(n_steps=2.5), MetricInputError, "n_steps"),
    (dict(qr_every=0), MetricInputError, "qr_every"),
    (dict(transient_steps=-1), MetricInputError, "transient_steps"),
    (dict(record_every=0), MetricInputError, "record_every"),
    (dict(rtol=0.0), MetricInputError, "rtol"),
    (dict(max_refinements=-1), MetricInputError, "max_refinements"),
    (dict(step_control="adaptive"), MetricInputError, "step_control"),
    (dict(t0=float("nan")), MetricInputError, "t0"),
    (dict(initial_frame="qr"), MetricInputError, "initial_frame"),
    (dict(initial_frame=np.ones((3, 3))), MetricInputError, "initial_frame"),
    (dict(initial_frame=np.ones((3, 2))), MetricInputError, "initial_frame"),
    (dict(dtype=torch.int64), MetricTypeError, "dtype"),
]


@pytest.mark.parametrize(("kwargs", "cls", "name"), BAD_FLOW_INPUTS, ids=[b[2] for b in BAD_FLOW_INPUTS])
def test_bad_flow_inputs_name_the_argument(kwargs, cls, name):
    args = dict(x0=[1.0, 1.0, 1.0], dt=0.01, n_steps=10)
    if "initial_frame" in kwargs and not isinstance(kwargs["initial_frame"], str):
        args["n_exponents"] = 2
    args.update(kwargs)
    x0 = args.pop("x0")
    with pytest.raises(cls, match=name):
        lyapunov_spectrum_flow(lorenz63, x0, **args)


def test_bad_inputs():
    with pytest.raises(MetricInputError, match="vector_field"):
        lyapunov_spectrum_flow(lambda t, x: x[:, :2], [1.0, 1.0, 1.0], dt=0.1, n_steps=5)
    with pytest.raises(MetricInputError, match="step"):
        lyapunov_spectrum_map(lambda x: x.sum(-1), [1.0, 1.0], n_steps=5)
    with pytest.raises(MetricInputError, match="time_step"):
        lyapunov_spectrum_map(lambda x: x, [1.0, 1.0], n_steps=5, time_step=-1.0)
    with pytest.raises(MetricInputError, match="n_exponents"):
        lyapunov_spectrum_map(lambda x: x, [1.0, 1.0], n_steps=5, n_exponents=3)
    with pytest.raises(NonFiniteInputError, match="x0"):
        lyapunov_spectrum_map(lambda x: x, [1.0, float("inf")], n_steps=5)
    with pytest.raises(MetricInputError, match="tol"):
        lyapunov_spectrum_map(lambda x: 0.5 * x, [1.0, 1.0], n_steps=5).zero_exponents(0.0)
    # finite-time blow-up of dx/dt = x² from x = 1 at t = 1: refining the step does not move it, so
    # it is reported (with the step number and the time) instead of refined away
    with pytest.raises(NonFiniteInputError, match=r"step \d+ \(t = 1\.0"):
        lyapunov_spectrum_flow(lambda t, x: x**2, [1.0], dt=0.05, n_steps=40, trace=False)
    with pytest.raises(FloatingPointError, match="initial condition"):
        lyapunov_spectrum_map(lambda x: x**2, [[0.5], [3.0]], n_steps=20)
