"""Lyapunov spectrum and time-series exponent: physics_metrics vs dysts and nolds, same run, same machine.

Run in an environment with the package and the peers (``pip install .[bench]``)::

    python benchmarks/lyapunov_vs_peers.py [--dysts-length 5000 6000 15000] [--threads 1]

1. Lorenz-63 (σ=10, ρ=28, β=8/3) spectrum, for each ``--dysts-length``:
   ``dysts.analysis.find_lyapunov_exponents`` (its own trajectory from ``make_trajectory``, Radau
   rtol=atol=1e-12, backward-Euler tangent map) is timed and its error against the reference
   (0.9056, 0, −14.5723) measured; then ``lyapunov_spectrum_flow`` (default accurate integration:
   ``step_control="auto"``, the identity Σλ = ⟨∇·f⟩ checked) is run with the cheapest setting of a
   fixed ladder whose error (max |Δλ_i|) is at most dysts' for each of 3 sets of initial
   conditions (the worst is reported). Our time is given three ways: a repeat call in this process
   (median of 3), the first call in a fresh Python process with the compiled tangent kernel already
   in the on-disk cache, and the same with an empty cache (the C compiler runs: the very first use
   on a machine). The ratios are dysts' time over each.
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
import json
import os
import subprocess
import sys
import tempfile
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


LORENZ63_ICS = ([1.0, 1.0, 20.0], 5.0)
LORENZ96_CENTER = [8.01] + [8.0] * 9
LADDER = [(32, 0.02, 125, 125), (64, 0.02, 250, 250), (128, 0.02, 500, 250), (256, 0.02, 1000, 500)]


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _run(field, center, scale, b, dt, n, tr, seed):
    x0 = _ics(center, b, scale, seed)
    t0 = time.perf_counter()
    res = lyapunov_spectrum_flow(field, x0, dt=dt, n_steps=n, transient_steps=tr)
    return time.perf_counter() - t0, res


def ours_matching(field, center, scale, ref, target_err, ladder=LADDER, n_seeds=3):
    """Cheapest rung of ``ladder`` [(B, dt, n_steps, transient)] whose max|Δλ| <= target_err for
    each of ``n_seeds`` sets of initial conditions; returns (rung, repeat-call time, worst error)."""
    for b, dt, n, tr in ladder:
        errs = []
        for seed in range(n_seeds):
            _, res = _run(field, center, scale, b, dt, n, tr, seed)
            errs.append(float(np.max(np.abs(res.exponents - ref))))
            assert res.accurate, res.info["attempts"]  # the default accurate integration held
        times = [_run(field, center, scale, b, dt, n, tr, 0)[0] for _ in range(3)]
        el, err = float(np.median(times)), max(errs)
        print(
            f"  ours   B={b:4d} dt={dt} T={n * dt:5.1f} (+{tr * dt:.1f}) engine={res.info['engine']}: "
            f"{np.round(res.exponents, 4)} worst max|err| over {n_seeds} IC sets={err:.4f}  repeat call "
            f"{el * 1e3:.1f} ms  ({_load()})"
        )
        if err <= target_err:
            return (b, dt, n, tr), el, err
    return (b, dt, n, tr), el, err


def fresh_process(field_name, rung, threads, cold):
    """First call of ``lyapunov_spectrum_flow`` in a new Python process (imports not counted);
    ``cold``: with an empty kernel cache (the C compiler runs)."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if cold:
            env["PHYSICS_METRICS_CACHE_DIR"] = tmp
        cmd = [sys.executable, __file__, "--child", field_name, *map(str, rung), "--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(args) -> None:
    name, b, dt, n, tr = args.child
    field, (center, scale) = (
        (lorenz63, LORENZ63_ICS) if name == "lorenz63" else (lorenz96, (LORENZ96_CENTER, 1.0))
    )
    first, res = _run(field, center, scale, int(b), float(dt), int(n), int(tr), 0)
    print(json.dumps({"first": first, "engine": res.info["engine"]}))


def _compare(name, field_name, t_dysts, err_dysts, field, center, scale, ref, threads):
    rung, t_rep, err = ours_matching(field, center, scale, ref, err_dysts)
    warm = fresh_process(field_name, rung, threads, cold=False)
    cold = fresh_process(field_name, rung, threads, cold=True)
    ok = err <= err_dysts
    print(
        f"  -> {name}: dysts {t_dysts:.2f} s (err {err_dysts:.4f}); ours B={rung[0]} T={rung[2] * rung[1]:.1f} "
        f"err {err:.4f} (<= dysts: {ok}): repeat call {t_rep * 1e3:.1f} ms = {t_dysts / t_rep:.0f}x, "
        f"fresh process {warm['first'] * 1e3:.1f} ms = {t_dysts / warm['first']:.0f}x, fresh process + C build "
        f"{cold['first'] * 1e3:.0f} ms = {t_dysts / cold['first']:.0f}x  ({_load()})"
    )


def bench_lorenz63(args, dysts):
    print("\n== Lorenz-63 spectrum ==")
    center, scale = LORENZ63_ICS
    if dysts is None:
        print("  dysts not installed: peer skipped")
        ours_matching(lorenz63, center, scale, LORENZ_REF, 0.02)
        return
    from dysts.analysis import find_lyapunov_exponents
    from dysts.flows import Lorenz

    for length in args.dysts_length:
        t0 = time.perf_counter()
        lam = np.asarray(find_lyapunov_exponents(Lorenz(), length, pts_per_period=500))
        t_dysts = time.perf_counter() - t0
        err_dysts = float(np.max(np.abs(lam - LORENZ_REF)))
        print(
            f"  dysts  traj_length={length}, pts_per_period=500: {np.round(lam, 4)} "
            f"max|err|={err_dysts:.4f}  {t_dysts:.2f} s  ({_load()})"
        )
        _compare(
            f"Lorenz-63 at {length}",
            "lorenz63",
            t_dysts,
            err_dysts,
            lorenz63,
            center,
            scale,
            LORENZ_REF,
            args.threads,
        )


def bench_lorenz96(args, dysts):
    print("\n== Lorenz-96 N=10 F=8 spectrum ==")
    center = np.asarray(LORENZ96_CENTER)
    t0 = time.perf_counter()
    ref = lyapunov_spectrum_flow(
        lorenz96, _ics(center, 64, 1.0, 99), dt=0.02, n_steps=20000, transient_steps=1000
    )
    print(
        f"  reference (ours, B=64, T=200): {np.round(ref.exponents, 4)} +- {ref.standard_error.max():.4f} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    if dysts is None:
        print("  dysts not installed: peer skipped")
        ours_matching(lorenz96, center, 1.0, ref.exponents, 0.02)
        return
    from dysts.analysis import find_lyapunov_exponents
    from dysts.flows import Lorenz96

    for length in args.dysts_length:
        model = Lorenz96()
        model.f = 8.0
        model.ic = center.copy()  # 10-d initial condition
        if hasattr(model, "params"):
            model.params["f"] = 8.0
        # dysts 0.96: Lorenz96 has no analytic Jacobian and its jac() raises (NotImplemented) instead
        # of returning None, so find_lyapunov_exponents crashes; return None for its finite differences.
        model.jac = lambda X, t: None
        t0 = time.perf_counter()
        lam = np.asarray(find_lyapunov_exponents(model, length, pts_per_period=500))
        t_dysts = time.perf_counter() - t0
        err_dysts = float(np.max(np.abs(lam - ref.exponents)))
        print(
            f"  dysts  traj_length={length}: {np.round(lam, 4)} max|err|={err_dysts:.4f}  {t_dysts:.2f} s "
            f"({_load()})"
        )
        _compare(
            f"Lorenz-96 at {length}",
            "lorenz96",
            t_dysts,
            err_dysts,
            lorenz96,
            center,
            1.0,
            ref.exponents,
            args.threads,
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
    p.add_argument(
        "--dysts-length",
        type=int,
        nargs="+",
        default=[5000, 6000, 15000],
        help="traj_length(s) for find_lyapunov_exponents",
    )
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)  # internal: one timed call in a fresh process
    p.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (small tensors: 1 is fastest)"
    )
    p.add_argument("--skip-spectrum", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        _child(args)
        return
    try:
        import dysts  # noqa: F401
        import dysts.analysis  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        print(f"dysts unavailable ({exc}); the dysts comparisons are skipped")
        dysts = None
    nolds = _import_nolds()
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}")
    if not args.skip_spectrum:
        bench_lorenz63(args, dysts)
        bench_lorenz96(args, dysts)
    bench_series(nolds)


if __name__ == "__main__":
    main()
