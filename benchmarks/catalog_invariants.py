"""Recompute the Lyapunov spectrum of every catalog flow with the accurate defaults and check it.

For each flow (Lorenz-96 excluded: it is N-dimensional and has its own benchmark),
:func:`chaosbench_py.systems.invariants.check_system` computes the full spectrum with the step refined
automatically until the same-orbit identity ``Σλ_i = (1/T)∫∇·f dt`` holds, counts the zero exponents
and compares λ1 and the Kaplan–Yorke dimension with the published values (dysts 0.96: QR spectrum,
naive λ1, IC-averaged Kaplan–Yorke dimension). Writes ``benchmarks/catalog_invariants.md`` with

* how many flows satisfy the identity within 1 % and have the expected number of zero exponents
  (one; two for autonomous Hamiltonian flows), with the identity table (Σλ vs ⟨∇·f⟩ per flow);
* the fraction whose λ1 agrees with a published estimate and the table of the others, with reasons.

Each system's result is appended to a JSON-lines file as soon as it is done, and a rerun skips the
systems already there (``--resume``), so the run can be interrupted::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/catalog_invariants.py [--periods 30] [--ics 4] [--resume]
    python benchmarks/catalog_invariants.py --resume --report-only --overwrite   # the report from the file
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from chaosbench_py.files import atomic_write_text
from chaosbench_py.systems import list_systems
from chaosbench_py.systems.invariants import (
    ABS_TOL_PER_PERIOD,
    IDENTITY_REPORT_TOL,
    REL_TOL,
    InvariantCheck,
    check_system,
    expected_zero_exponents,
    identity_table,
    naive_vs_qr_differ,
    summary_table,
)

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> dict[str, InvariantCheck]:
    done: dict[str, InvariantCheck] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                row["exponents"] = tuple(row["exponents"])
                row["expected_zero"] = expected_zero_exponents(
                    row["name"]
                )  # the rule may be newer than the file
                done[row["name"]] = InvariantCheck(**row)
    return done


def report(checks: list[InvariantCheck], args, seconds: float) -> str:
    n = len(checks)
    n_ok = sum(c.agrees for c in checks)
    n_qr = sum(c.agrees_qr for c in checks)
    n_naive = sum(c.agrees_naive for c in checks)
    ky_ok = sum(
        abs(c.ky_dimension - c.ky_dimension_ref) <= 0.1 for c in checks if c.ky_dimension == c.ky_dimension
    )
    n_identity = sum(c.identity_ok for c in checks)
    n_zero_ok = sum(c.zeros_ok for c in checks)
    ham = [c for c in checks if c.expected_zero == 2]
    refined = sorted((c for c in checks if c.refinement > 1), key=lambda c: -c.refinement)
    bad_identity = [c.name for c in checks if not c.identity_ok]
    bad_zero = [f"{c.name} ({c.n_zero}, expected {c.expected_zero})" for c in checks if not c.zeros_ok]
    names = [c.name for c in checks]
    return (
        f"# Catalog invariants recomputed ({n} flows, {args.ics} ICs × {args.periods:g} periods after "
        f"{args.transient:g} periods of transient, RK4 tangent QR with the accurate defaults; {seconds:.0f} s)\n\n"
        "## The same-orbit identity Σλ = ⟨∇·f⟩ and the zero exponents\n\n"
        f"- identity within {IDENTITY_REPORT_TOL:.0%} (relative error as in `LyapunovSpectrum.identity_error`): "
        f"**{n_identity}/{n}**" + (f" (fails: {', '.join(bad_identity)})" if bad_identity else "") + "\n"
        f"- expected number of zero exponents (1; 2 for the {len(ham)} autonomous Hamiltonian flows), "
        f"`|λ| ≤ max(0.02/period, 3 standard errors)`: **{n_zero_ok}/{n}**"
        + (f"; not: {', '.join(bad_zero)}" if bad_zero else "")
        + "\n"
        f"- the step was refined below period/100 for {len(refined)} flows: "
        + ", ".join(f"{c.name} ×{c.refinement}" for c in refined)
        + "\n\n"
        + identity_table(checks)
        + "\n\n## λ1 against the published values\n\n"
        f"- λ1 agrees (|Δ| ≤ {REL_TOL:.0%} or ≤ {ABS_TOL_PER_PERIOD}/period) with at least one published "
        f"estimate: **{n_ok}/{n} = {n_ok / max(n, 1):.0%}**; with the QR spectrum's λ1: {n_qr}; with the "
        f"naive estimate: {n_naive}\n"
        f"- Kaplan–Yorke dimension within 0.1 of the published one: {ky_ok}/{n}\n"
        f"- the two published λ1 fields (naive vs QR) differ by more than 5 % for {naive_vs_qr_differ(names):.0%} "
        "of the systems (they are different estimates; ours is compared with both)\n\n"
        "### Systems that agree with neither published value\n\n" + summary_table(checks) + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=float, default=30.0)
    ap.add_argument("--transient", type=float, default=5.0)
    ap.add_argument("--ics", type=int, default=4)
    ap.add_argument("--systems", nargs="*", help="only these flows (default: all but Lorenz-96)")
    ap.add_argument("--results", default=str(HERE / "catalog_invariants.jsonl"), help="JSON-lines results")
    ap.add_argument("--resume", action="store_true", help="keep the results already in --results")
    ap.add_argument("--out", default=str(HERE / "catalog_invariants.md"))
    ap.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    ap.add_argument(
        "--report-only", action="store_true", help="write the report from --results without computing more"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    results = Path(args.results)
    if out.exists() and not args.overwrite:
        raise SystemExit(f"{out} exists: pass --overwrite to replace it")
    if results.exists() and not args.resume:
        raise SystemExit(f"{results} exists: pass --resume to continue it (or remove it)")
    names = args.systems or [n for n in list_systems("flow") if n not in ("Lorenz96", "Lorenz96TwoScale")]
    done = _load(results) if args.resume else {}
    t0 = time.perf_counter()
    todo = [] if args.report_only else [n for n in names if n not in done]
    for name in tqdm(todo):
        c = check_system(
            name, n_periods=args.periods, transient_periods=args.transient, n_initial_conditions=args.ics
        )
        done[name] = c
        with results.open("a") as fh:
            fh.write(json.dumps(dataclasses.asdict(c)) + "\n")
        tqdm.write(
            f"{name}: Σλ={c.sum_exponents:.4g} ⟨∇·f⟩={c.divergence_mean:.4g} err={c.identity_error:.1e} "
            f"×{c.refinement} zeros={c.n_zero}/{c.expected_zero} {c.seconds:.0f}s"
        )
    checks = [done[n] for n in names if n in done]
    seconds = sum(c.seconds for c in checks if c.seconds == c.seconds) or (time.perf_counter() - t0)
    text = report(checks, args, seconds)
    if len(checks) < len(names):
        missing = [n for n in names if n not in done]
        text = text.replace(
            "\n\n",
            f"\n\n**Partial: {len(checks)} of {len(names)} flows computed so far** (not yet: {', '.join(missing)}); "
            "complete with `--resume --overwrite`.\n\n",
            1,
        )
    atomic_write_text(out, text)
    print(text)


if __name__ == "__main__":
    main()
