"""Lyapunov spectrum and time-series exponent: physics_metrics vs dysts and nolds, same run, same machine.

Run in an environment with the package and the peers (``pip install .[bench]``)::

    python benchmarks/lyapunov_vs_peers.py [--dysts-length 3000] [--threads 1]

1. Lorenz-63 (σ=10, ρ=28, β=8/3) spectrum: ``dysts.analysis.find_lyapunov_exponents`` (its own
   trajectory from ``make_trajectory``, Radau rtol=atol=1e-12, backward-Euler tangent map) is
   timed and its error against the reference (0.9056, 0, −14.5723) measured; then
   ``lyapunov_spectrum_flow`` is run with the cheapest setting of a fixed ladder that reaches at
   least the same accuracy (max |Δλ_i|), and the times are compared.
2. Lorenz-96, N = 10, F = 8 (written inline; dysts' class with ``f = 8`` and a 10-d IC): same, with a
   reference spectrum from a long run of this package (B=64, T=200).
3. Largest exponent of a Lorenz x-series (5000 samples, dt=0.02): ``nolds.lyap_r`` vs ``rosenstein``
   with the same embedding, Theiler window, horizon and fit range (identical numbers), and the
   automatically fitted region.

Peers that are not installed are skipped with a message.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types

import numpy as np
import torch
from scipy.integrate import solve_ivp

from physics_metrics.lyapunov import lyapunov_spectrum_flow
from physics_metrics.lyapunov_series import rosenstein

LORENZ_REF = np.array([0.9056, 0.0, -14.5723])


def lorenz63(t, x):
    a, b, c = x.unbind(-1)
    return torch.stack([10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c], dim=-1)


def lorenz96(t, x, forcing=8.0):
    return (torch.roll(x, -1, dims=-1) - torch.roll(x, 2, dims=-1)) * torch.roll(x, 1, dims=-1) - x + forcing


def _import_nolds():
    """nolds 0.6.3 fails to import its example datasets on some Pythons; load only nolds.measures then."""
    try:
        import nolds

        return nolds
    except Exception:  # noqa: BLE001
        spec = importlib.util.find_spec("nolds")
        if spec is None:
            return None
        pkg = types.ModuleType("nolds")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["nolds"] = pkg
        import nolds.measures as measures

        return measures


def _ics(center, n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    c = torch.as_tensor(center, dtype=torch.float64)
    return c + scale * torch.randn(n, c.numel(), generator=g, dtype=torch.float64)


def ours_matching(field, x0_center, scale, ref, target_err, ladder, seed=0):
    """Cheapest setting from ``ladder`` [(B, dt, n_steps, transient)] reaching max|Δλ| <= target_err."""
    for b, dt, n, tr in ladder:
        x0 = _ics(x0_center, b, scale, seed)
        t0 = time.perf_counter()
        res = lyapunov_spectrum_flow(field, x0, dt=dt, n_steps=n, transient_steps=tr)
        el = time.perf_counter() - t0
        err = float(np.max(np.abs(res.exponents - ref)))
        print(
            f"  ours   B={b:4d} dt={dt} T={n * dt:6.1f} (+{tr * dt:.0f}): {np.round(res.exponents, 4)} "
            f"max|err|={err:.4f}  {el:.2f} s"
        )
        if err <= target_err:
            return el, err, res
    return el, err, res


def bench_lorenz63(args, dysts):
    print("\n== Lorenz-63 spectrum ==")
    ladder = [(64, 0.02, 250, 250), (128, 0.02, 500, 250), (256, 0.02, 1000, 500), (256, 0.01, 4000, 1000)]
    if dysts is None:
        print("  dysts not installed: peer skipped")
        ours_matching(lorenz63, [1.0, 1.0, 20.0], 5.0, LORENZ_REF, 0.02, ladder)
        return
    from dysts.analysis import find_lyapunov_exponents
    from dysts.flows import Lorenz

    model = Lorenz()
    t0 = time.perf_counter()
    lam = np.asarray(find_lyapunov_exponents(model, args.dysts_length, pts_per_period=500))
    t_dysts = time.perf_counter() - t0
    err_dysts = float(np.max(np.abs(lam - LORENZ_REF)))
    print(
        f"  dysts  traj_length={args.dysts_length}, pts_per_period=500: {np.round(lam, 4)} "
        f"max|err|={err_dysts:.4f}  {t_dysts:.2f} s"
    )
    t_ours, err_ours, _ = ours_matching(lorenz63, [1.0, 1.0, 20.0], 5.0, LORENZ_REF, err_dysts, ladder)
    print(
        f"  -> speed-up at matched accuracy: {t_dysts / t_ours:.0f}x (ours err {err_ours:.4f} <= dysts err "
        f"{err_dysts:.4f}: {err_ours <= err_dysts})"
    )


def bench_lorenz96(args, dysts):
    print("\n== Lorenz-96 N=10 F=8 spectrum ==")
    center = 8.0 * np.ones(10)
    center[0] += 0.01
    t0 = time.perf_counter()
    ref = lyapunov_spectrum_flow(
        lorenz96, _ics(center, 64, 1.0, 99), dt=0.02, n_steps=20000, transient_steps=1000
    )
    print(
        f"  reference (ours, B=64, T=200): {np.round(ref.exponents, 4)} +- {ref.standard_error.max():.4f} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    ladder = [(64, 0.02, 250, 250), (128, 0.02, 500, 250), (256, 0.02, 1000, 500), (256, 0.02, 4000, 500)]
    if dysts is None:
        print("  dysts not installed: peer skipped")
        ours_matching(lorenz96, center, 1.0, ref.exponents, 0.02, ladder)
        return
    from dysts.analysis import find_lyapunov_exponents
    from dysts.flows import Lorenz96

    model = Lorenz96()
    model.f = 8.0
    model.ic = np.asarray(ref.per_initial_condition[0] * 0 + center)  # 10-d initial condition
    if hasattr(model, "params"):
        model.params["f"] = 8.0
    # dysts 0.96: Lorenz96 has no analytic Jacobian and its jac() raises (NotImplemented) instead of
    # returning None, so find_lyapunov_exponents crashes; return None to get its finite-difference path.
    model.jac = lambda X, t: None
    t0 = time.perf_counter()
    lam = np.asarray(find_lyapunov_exponents(model, args.dysts_length, pts_per_period=500))
    t_dysts = time.perf_counter() - t0
    err_dysts = float(np.max(np.abs(lam - ref.exponents)))
    print(
        f"  dysts  traj_length={args.dysts_length}: {np.round(lam, 4)} max|err|={err_dysts:.4f}  {t_dysts:.2f} s"
    )
    t_ours, err_ours, _ = ours_matching(lorenz96, center, 1.0, ref.exponents, err_dysts, ladder)
    print(
        f"  -> speed-up at matched accuracy: {t_dysts / t_ours:.0f}x (ours err {err_ours:.4f}, dysts {err_dysts:.4f})"
    )


def bench_series(nolds):
    print("\n== largest exponent from a Lorenz x-series (N=5000, dt=0.02) ==")

    def f(t, u):
        return [10 * (u[1] - u[0]), u[0] * (28 - u[2]) - u[1], u[0] * u[1] - 8 / 3 * u[2]]

    sol = solve_ivp(
        f, (0, 220), [1, 1, 20], t_eval=np.arange(20, 220, 0.01), rtol=1e-10, atol=1e-10, method="DOP853"
    )
    x = sol.y[0][::2][:5000]
    kw = dict(dt=0.02, embedding_dim=5, delay=5, theiler_window=50)
    t0 = time.perf_counter()
    ours = rosenstein(x, max_horizon=49, fit_range=(0, 49), **kw)
    t_ours = time.perf_counter() - t0
    auto = rosenstein(x, max_horizon=150, **kw)
    print(
        f"  ours rosenstein (fit 0..49): {ours.exponent:.4f}  {t_ours:.3f} s; auto region {auto.fit_times}: "
        f"{auto.exponent:.4f}"
    )
    if nolds is None:
        print("  nolds not installed: peer skipped")
        return
    t0 = time.perf_counter()
    lam = nolds.lyap_r(x, emb_dim=5, lag=5, min_tsep=50, trajectory_len=50, fit="poly") / 0.02
    t_nolds = time.perf_counter() - t0
    print(f"  nolds.lyap_r (same setting):  {lam:.4f}  {t_nolds:.3f} s  -> speed-up {t_nolds / t_ours:.0f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dysts-length", type=int, default=3000, help="traj_length for find_lyapunov_exponents")
    p.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (small tensors: 1 is fastest)"
    )
    p.add_argument("--skip-spectrum", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import dysts  # noqa: F401
        import dysts.analysis  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        print(f"dysts unavailable ({exc}); the dysts comparisons are skipped")
        dysts = None
    nolds = _import_nolds()
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}")
    # warm-up: first use imports the tracer (several seconds, once per process; not counted)
    lyapunov_spectrum_flow(lorenz63, _ics([1.0, 1.0, 20.0], 2, 1.0, 0), dt=0.01, n_steps=5)
    if not args.skip_spectrum:
        bench_lorenz63(args, dysts)
        bench_lorenz96(args, dysts)
    bench_series(nolds)


if __name__ == "__main__":
    main()
