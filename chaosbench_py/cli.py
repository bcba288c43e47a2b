"""The ``chaosbench`` command line.

Subcommands::

    chaosbench systems list [--kind flow|map|pde]
    chaosbench systems info NAME
    chaosbench generate --system NAME --trajectories B --length T --out PATH [...]
    (in blocks: torchrun --nproc_per_node N -m chaosbench_py generate ... --out PATH.zarr, or --dask local:N)
    torchrun --nproc_per_node N -m chaosbench_py forecast RUN --out STORE.zarr [--n-inits N --steps N ...]
    chaosbench run [--out DIR] [--quick] [--quiet | --progress]   # the main job on the embedded default
    chaosbench train CONFIG.yaml --out DIR [--resume | --overwrite] [--set KEY=VALUE ...]
    (multi-process: torchrun --nproc_per_node N -m chaosbench_py train CONFIG.yaml --out DIR)
    chaosbench evaluate RUN --out DIR [--n-inits N --steps N --members M ...] [--dask local:N|tcp://H:P|...]
    chaosbench report EVAL [EVAL ...] --out DIR
    chaosbench reproduce NAME --out DIR [--seeds N] [--budget tiny|default|published|STEPS] [--only-seeds L] [--only-models L] [--resume|--overwrite]
    chaosbench reproduce --list

Every subcommand has ``--help``. Errors in arguments exit with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import InputError

logger = logging.getLogger(__name__)


def _cmd_systems_list(args: argparse.Namespace) -> int:
    from .systems import get_system, list_systems

    names = list_systems(kind=args.kind)
    if args.verbose:
        for name in names:
            info = get_system(name).info
            lam = info.invariants.max_lyapunov
            lam_s = f"{lam:.4g}" if lam is not None else "-"
            print(f"{name:28s} {info.kind:5s} dim={info.dim:<4d} lambda_max={lam_s}")
    else:
        print("\n".join(names))
    print(f"# {len(names)} systems", file=sys.stderr)
    return 0


def _cmd_systems_info(args: argparse.Namespace) -> int:
    import dataclasses

    from .systems import get_system

    info = get_system(args.name).info
    out = dataclasses.asdict(info)
    out["lyapunov_time"] = info.invariants.lyapunov_time
    print(json.dumps(out, indent=2, default=str))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .simulate.generate_command import generate_command

    return generate_command(args)


def _cmd_forecast(args: argparse.Namespace) -> int:
    from .evaluation.rank_rollout import forecast_run

    out = forecast_run(
        args.run, args.out, data_path=args.data, test=args.test, init_times=args.inits, n_inits=args.n_inits,
        n_steps=args.steps, members=args.members, perturbation_std=args.perturbation, seed=args.seed,
        batch_size=args.batch_size, device=args.device, resume=args.resume, overwrite=args.overwrite,
        progress=not args.quiet,
    )  # fmt: skip
    if os.environ.get("RANK", "0") in ("", "0"):
        print(f"forecast: {out}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .main_job import run_main_job

    progress = False if args.quiet else (True if args.progress else None)  # None: when stderr is a terminal
    result = run_main_job(Path(args.out), quick=args.quick, progress=progress)
    print(result.summary())  # the headline figures, then "report: PATH" as the last line
    return 0


def _parse_overrides(items: list[str] | None) -> dict:
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. train.steps=100")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.config import load_run_config
    from .training.trainer import Trainer

    cfg = load_run_config(args.config, _parse_overrides(args.set))
    trainer = Trainer(cfg, args.out, resume=args.resume, overwrite=args.overwrite).fit()
    if trainer.is_main:
        print(f"trained {cfg.model.name} for {trainer.step} steps; model: {Path(args.out) / 'model.pt'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_run

    spectrum = None
    if args.true_spectrum is not None:
        try:
            spectrum = [float(v) for v in args.true_spectrum.split(",")]
        except ValueError:
            raise InputError(f"--true-spectrum {args.true_spectrum!r}: expected comma-separated numbers, "
                             "e.g. 0.906,0,-14.57") from None  # fmt: skip
    compose = {}
    for item in args.compose or []:
        lead, sep, run = item.partition("=")
        if not sep or not lead.strip().isdigit():
            raise InputError(f"--compose {item!r}: expected LEAD_STEPS=RUN, e.g. 4=runs/fno_24h")
        compose[int(lead)] = run
    path = evaluate_run(
        args.run, args.out, data_path=args.data, test=args.test, n_inits=args.n_inits, n_steps=args.steps,
        members=args.members, perturbation_std=args.perturbation, climatology=args.climatology,
        test_data=args.test_data, time_step=args.time_step, true_spectrum=spectrum, seed=args.seed,
        compose=compose or None, physics=args.physics, physics_inits=args.physics_inits,
        physics_days=args.physics_days, lyapunov_steps=args.lyapunov_steps, overwrite=args.overwrite, resume=args.resume,
        dask=args.dask, dask_memory_limit=args.dask_memory_limit,
    )  # fmt: skip
    print(f"evaluation: {path}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .errors import OutputExistsError
    from .evaluation import build_report
    from .report import Report

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise OutputExistsError(
            f"{out}: exists and is not empty; pass --overwrite to replace the report in it"
        )
    report = Report(args.title, out)
    for eval_dir in args.evaluations:
        build_report(eval_dir, report=report)
    print(f"report: {report.write(overwrite=args.overwrite)}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .evaluation import compare_evaluations

    table = compare_evaluations(args.eval_a, args.eval_b, test=args.test, alternative=args.alternative,
                                out=args.out, overwrite=args.overwrite)  # fmt: skip
    cols = ["variable", "level", "lead_time_hours", "rmse_model", "rmse_baseline", "p_value"]
    print(f"{args.eval_a} (model) vs {args.eval_b} (baseline), {table['n_inits'].iloc[0]} common inits, "
          f"{table['test'].iloc[0]} test of the per-init MSE difference")  # fmt: skip
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        print(f"paired tests: {args.out}")
    return 0


def _seed_list(text: str) -> list[int]:
    """``"3"``, ``"2,4"``, ``"2-4"`` or a mix → the seeds, for ``reproduce --only-seeds``."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds such as 3, 2,4 or 2-4, got {text!r}") from None
    return seeds


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import get_recipe, list_recipes, run_recipe

    if args.list:
        for name in list_recipes():
            r = get_recipe(name)
            d = r.budgets["default"]
            steps = ", ".join(f"{k} {v}" for k, v in d.steps.items())
            print(f"{name}\n    {r.title}\n    paper: {r.citation}\n    goal: {r.goal_text() or '-'}\n"
                  f"    default budget: {d.seeds} seeds, optimiser steps per seed: {steps}")  # fmt: skip
        return 0
    if args.name is None:
        raise InputError(f"reproduce: give a recipe NAME (one of {', '.join(list_recipes())}) or --list")
    if args.out is None:
        raise InputError("reproduce: --out DIR is required")
    result = run_recipe(args.name, args.out, seeds=args.seeds, budget=args.budget, data=args.data,
                        resume=args.resume, overwrite=args.overwrite, only_seeds=args.only_seeds,
                        only_models=args.only_models and args.only_models.split(","), log=print)  # fmt: skip
    print((result.out / "report" / "table.md").read_text(encoding="utf-8"))
    print(f"report: {result.report} ({result.done} seed x model runs done now, {result.reused} reused)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chaosbench",
        description="Emulate dynamics with neural networks and judge the emulators by physics.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ps = sub.add_parser("systems", help="the catalog of chaotic systems")
    ssub = ps.add_subparsers(dest="systems_command", required=True, metavar="SUBCOMMAND")
    pl = ssub.add_parser("list", help="list the systems")
    pl.add_argument("--kind", choices=["flow", "map", "pde"], help="only this kind")
    pl.add_argument("--long", dest="verbose", action="store_true", help="one line of metadata per system")
    pl.set_defaults(func=_cmd_systems_list)
    pi = ssub.add_parser("info", help="metadata of one system (JSON)")
    pi.add_argument("name", help="system name, e.g. Lorenz")
    pi.set_defaults(func=_cmd_systems_info)

    pg = sub.add_parser(
        "generate",
        help="integrate trajectories of a system and write them to zarr/netCDF",
        description="Integrate a batch of trajectories (initial conditions on the attractor) and write "
        "a (trajectory, time, dim) dataset. A .zarr output is written chunk by chunk and can be resumed. "
        "An existing output is refused unless --overwrite (or --resume); a run that blows up stops with "
        "the time and trajectory named.",
    )
    pg.add_argument("--system", required=True, help="catalog name (see `chaosbench systems list`)")
    pg.add_argument("--trajectories", type=int, default=1, help="number of initial conditions (default 1)")
    pg.add_argument("--length", type=int, default=1000, help="samples per trajectory (default 1000)")
    pg.add_argument("--out", required=True, help="output path ending in .zarr or .nc")
    g = pg.add_mutually_exclusive_group()
    g.add_argument("--pts-per-period", type=float, help="samples per dominant period (default 100)")
    g.add_argument("--pts-per-lyapunov", type=float, help="samples per Lyapunov time")
    g.add_argument("--sample-dt", type=float, help="sample spacing in the system's time units")
    pg.add_argument(
        "--transient", type=float, default=10.0, help="dropped transient, in sampling units (default 10)"
    )
    pg.add_argument(
        "--noise", type=float, default=0.0, help="observation noise, fraction of the std (default 0)"
    )
    pg.add_argument("--seed", type=int, default=0)
    pg.add_argument("--method", default="dop853", choices=["dop853", "dopri8", "dopri5", "bosh3", "rk4"])
    pg.add_argument("--rtol", type=float, default=1e-9)
    pg.add_argument("--atol", type=float, default=1e-9)
    pg.add_argument("--dt", type=float, help="step of rk4 (default: the system's dt)")
    pg.add_argument(
        "--dim", type=int, help="dimension, for systems of any size (Lorenz96, KuramotoSivashinsky)"
    )
    pg.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)"
    )
    pg.add_argument("--chunk", type=int, default=1000, help="time samples integrated and written per chunk")
    pg.add_argument(
        "--resume", action="store_true", help="continue an interrupted .zarr run (same arguments)"
    )
    pg.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output (.zarr or .nc) once the new one is complete",
    )
    pg.add_argument("--trajectory-chunk", type=int, help="trajectories per block (.zarr): blocks are integrated "
                    "as one batch each and split over torchrun ranks; same numbers on any number of ranks "
                    "(default under torchrun, any number of processes: 64)")  # fmt: skip
    pg.add_argument("--dask", metavar="SPEC", help="integrate the trajectory blocks as tasks on a dask cluster: "
                    "local:N, tcp://HOST:PORT or scheduler-file:PATH (.zarr; same numbers as on ranks)")  # fmt: skip
    pg.add_argument("--device", default="cpu",
                    help="torch device (cpu, cuda, cuda:1 ...; under torchrun cuda = cuda:LOCAL_RANK)")  # fmt: skip
    pg.add_argument("--quiet", action="store_true", help="no progress bar")
    pg.set_defaults(func=_cmd_generate)

    pf = sub.add_parser(
        "forecast",
        help="forecasts of a trained gridded emulator into one zarr store, split by init time over torchrun ranks",
        description="Roll out RUN/model.pt from --n-inits initial times of the test period (those of `chaosbench "
        "evaluate` with the same options) or from --inits, --steps model steps each, into the forecast store OUT. "
        "Under torchrun each rank rolls out a contiguous share of the init batches and writes its own region of "
        "the one store; the numbers are the same on any number of ranks. A killed job continues with --resume "
        "(finished batches are skipped).",
    )
    pf.add_argument("run", help="run folder written by `chaosbench train` (or its model.pt)")
    pf.add_argument("--out", required=True, help="forecast store (.zarr)")
    pf.add_argument("--data", help="data store (default: the one the run was trained on)")
    pf.add_argument("--test", nargs=2, metavar=("START", "END"), help="test period (inclusive) for the inits")
    pf.add_argument("--inits", nargs="+", metavar="TIME", help="initial times (instead of --n-inits)")
    pf.add_argument("--n-inits", type=int, default=8, help="inits spread over the test period (default 8)")
    pf.add_argument("--steps", type=int, default=20, help="model steps per forecast (default 20)")
    pf.add_argument("--members", type=int, default=1, help="ensemble members (default 1)")
    pf.add_argument("--perturbation", type=float, default=0.0, help="initial-state noise, in std units")
    pf.add_argument("--seed", type=int, default=0)
    pf.add_argument("--batch-size", type=int, default=8, help="inits per model call, split over ranks")
    pf.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if available, else cpu), cpu")
    pf_mode = pf.add_mutually_exclusive_group()
    pf_mode.add_argument("--resume", action="store_true", help="continue an interrupted store (same options)")
    pf_mode.add_argument("--overwrite", action="store_true", help="replace an existing store")
    pf.add_argument("--quiet", action="store_true", help="no progress bar")
    pf.set_defaults(func=_cmd_forecast)

    pr = sub.add_parser(
        "run",
        help="the main job on the embedded default (no downloads); writes a report with plots",
        description="The main job on the embedded default (no downloads, about 10 minutes on 2 quiet CPU cores): "
        "Lorenz-63 -> shPLRNN + GTF -> invariants; shallow water on the sphere -> FNO -> rollout -> scorecard "
        "against persistence and climatology; the systems catalog. Writes OUT/report.html, OUT/report.md "
        "(+ figures/), the run folders and evaluations, and prints a summary of the headline figures and "
        "where the report is (last line). On a terminal each stage is shown on stderr as it runs, with progress "
        "bars; otherwise only the summary is printed.",
    )
    pr.add_argument("--out", default="outputs/main", help="output folder (default outputs/main)")
    pr.add_argument("--quick", action="store_true", help="smaller sizes (for tests)")
    pr_show = pr.add_mutually_exclusive_group()
    pr_show.add_argument(
        "--quiet", action="store_true", help="no stage lines or progress bars, even on a terminal"
    )
    pr_show.add_argument("--progress", action="store_true",
                         help="stage lines and progress bars on stderr even when it is not a terminal")  # fmt: skip
    pr.set_defaults(func=_cmd_run)

    pt = sub.add_parser(
        "train",
        help="train an emulator from a YAML run configuration",
        description="Train any registered emulator from a YAML run file (sections model, data, task, optimizer, "
        "schedule, train; see chaosbench_py/training/config.py and configs/). Writes OUT/config.yaml, "
        "OUT/metrics.csv, OUT/checkpoints/last.pt and OUT/model.pt. An existing, non-empty OUT is refused unless "
        "--resume or --overwrite. Under torchrun it trains data-parallel.",
    )
    pt.add_argument("config", help="YAML run configuration")
    pt.add_argument("--out", required=True, help="run folder")
    pt_mode = pt.add_mutually_exclusive_group()
    pt_mode.add_argument(
        "--resume", action="store_true", help="continue the run in OUT from OUT/checkpoints/last.pt"
    )
    pt_mode.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in OUT (kept until the new run has written its first checkpoint)",
    )
    pt.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, e.g. train.steps=100 (repeatable)",
    )
    pt.set_defaults(func=_cmd_train)

    pe = sub.add_parser(
        "evaluate",
        help="roll out a trained emulator and score it (scorecard or dynamical invariants)",
        description="Evaluate RUN/model.pt. Gridded emulators: autoregressive forecasts from --n-inits initial "
        "times of the test period (default: after the run's validation period) to --steps leads, written to "
        "OUT/forecast.zarr, scored with persistence and climatology as references (OUT/scores.csv, "
        "OUT/scorecards/*.nc). Low-dimensional emulators: D_stsp, D_H, PE(20), Lyapunov spectrum vs data, "
        "valid prediction time (OUT/dynamics.json).",
    )
    pe.add_argument("run", help="run folder written by `chaosbench train` (or its model.pt)")
    pe.add_argument("--out", required=True, help="evaluation folder")
    pe.add_argument("--data", help="data store (default: the one the run was trained on)")
    pe.add_argument("--test", nargs=2, metavar=("START", "END"), help="gridded: test period (inclusive)")
    pe.add_argument("--n-inits", type=int, default=8, help="gridded: initial times (default 8)")
    pe.add_argument("--steps", type=int, default=20, help="gridded: model steps per forecast (default 20)")
    pe.add_argument("--members", type=int, default=1, help="gridded: ensemble members (default 1)")
    pe.add_argument(
        "--perturbation", type=float, default=0.0, help="gridded: initial-state noise, in std units"
    )
    pe.add_argument("--climatology", default="auto", choices=["auto", "doy", "mean", "none"],
                    help="gridded: reference climatology (default auto)")  # fmt: skip
    pe.add_argument("--test-data", help="trajectories: clean test series (default: held-out end of the data)")
    pe.add_argument("--time-step", type=float, help="trajectories: sampling interval in time units")
    pe.add_argument("--true-spectrum", help="trajectories: the data's Lyapunov spectrum, comma-separated")
    pe.add_argument("--compose", action="append", metavar="LEAD=RUN",
                    help="gridded: add a model of LEAD base steps (e.g. 4=runs/fno_24h for a 6-hourly base run); "
                    "forecasts combine the models by Pangu's rule (repeatable)")  # fmt: skip
    pe.add_argument("--physics", action="store_true",
                    help="gridded shallow-water runs: physics of the rollout (year-long stability, conservation, "
                    "spectra, Lyapunov exponents of model and solver) in OUT/physics")  # fmt: skip
    pe.add_argument("--physics-inits", type=int, default=4, help="--physics: long rollouts (default 4)")
    pe.add_argument(
        "--physics-days", type=float, default=365.0, help="--physics: rollout length in days (default 365)"
    )
    pe.add_argument("--lyapunov-steps", type=int, default=40,
                    help="--physics: tangent steps of the Lyapunov runs (default 40; 0 skips them)")  # fmt: skip
    pe.add_argument("--seed", type=int, default=0)
    pe.add_argument("--overwrite", action="store_true",
                    help="replace an existing non-empty OUT (once the new evaluation is complete)")  # fmt: skip
    pe.add_argument("--resume", action="store_true",
                    help="continue an interrupted evaluation into OUT (same run and options)")  # fmt: skip
    pe.add_argument("--dask", metavar="SPEC",
                    help="gridded: score on a dask.distributed cluster (same numbers): local:N (N worker processes), "
                    "tcp://HOST:PORT or scheduler-file:PATH (needs pip install chaosbench-py[distributed])")  # fmt: skip
    pe.add_argument("--dask-memory-limit", metavar="SIZE",
                    help="--dask local:N: memory limit per worker, e.g. 4GiB (default: the machine's share)")  # fmt: skip
    pe.set_defaults(func=_cmd_evaluate)

    pp = sub.add_parser(
        "report",
        help="write a self-contained report (HTML + Markdown with PNGs) of one or more evaluations",
        description="Write a self-contained report (report.html with embedded figures, report.md + PNGs) of "
        "evaluation folders: scores vs lead time against persistence and climatology, maps of forecast and "
        "error, zonal power spectra (gridded); invariants table, attractors and Lyapunov spectra (low-dimensional).",
    )
    pp.add_argument("evaluations", nargs="+", help="evaluation folder(s) written by `chaosbench evaluate`")
    pp.add_argument("--out", required=True, help="report folder")
    pp.add_argument("--title", default="chaosbench_py report")
    pp.add_argument("--overwrite", action="store_true", help="replace an existing report in OUT")
    pp.set_defaults(func=_cmd_report)

    pc = sub.add_parser(
        "compare",
        help="paired test of two evaluated gridded models on their common init times",
        description="Is model A better than model B? Reads the per-init scores of two evaluation folders "
        "(per_init/model.nc, written by `chaosbench evaluate`) and tests the per-init MSE differences on the "
        "inits both scored, per variable, level and lead time.",
    )
    pc.add_argument("eval_a", help="evaluation folder of model A")
    pc.add_argument("eval_b", help="evaluation folder of model B (the baseline)")
    pc.add_argument("--test", default="permutation", choices=["permutation", "wilcoxon", "t", "t_ar2"],
                    help="sign-flip permutation (default), Wilcoxon signed rank, paired t, AR(2)-corrected paired t")  # fmt: skip
    pc.add_argument("--alternative", default="two-sided", choices=["two-sided", "less", "greater"],
                    help="about A - B: 'less' = A has the lower error")  # fmt: skip
    pc.add_argument("--out", help="write the table as CSV here")
    pc.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    pc.set_defaults(func=_cmd_compare)

    pq = sub.add_parser(
        "reproduce",
        help="reproduce a paper's table end to end (data, training of every seed, evaluation, table, plots)",
        description="Run a registered paper reproduction: its data, training of every seed of the main model and "
        "the baselines (each a trainer run folder under OUT/runs), evaluation by the paper's protocol, a table of "
        "median ± MAD over seeds beside the published numbers with 95 % intervals and a paired test, and plots "
        "(OUT/report). A killed run continues with --resume (finished seeds are not redone).",
    )
    pq.add_argument("name", nargs="?", help="recipe name (see --list)")
    pq.add_argument(
        "--list", action="store_true", help="list the recipes (name, title, paper, goal, default budget)"
    )
    pq.add_argument("--out", help="reproduction folder")
    pq.add_argument("--seeds", type=int, help="training seeds 0..N-1 (default: the budget's)")
    pq.add_argument(
        "--budget",
        default="default",
        help="tiny | default | published | a number of optimiser steps per seed",
    )
    pq.add_argument("--data", help="folder of the shared data set a recipe needs (GTF recipes: the GTF sets)")
    pq.add_argument(
        "--only-seeds",
        type=_seed_list,
        metavar="LIST",
        help="train and evaluate only these seeds, e.g. 3 or 2,4 or 2-4 (other seeds' finished results are reused): "
        "run disjoint lists in parallel processes or array jobs into one OUT with --resume, then once without "
        "it to complete the table",
    )
    pq.add_argument("--only-models", metavar="LIST", help="train and evaluate only these models, e.g. shplrnn_gtf,esn "
                    "(the recipe's model names; other models are treated as with --only-seeds)")  # fmt: skip
    pq_mode = pq.add_mutually_exclusive_group()
    pq_mode.add_argument("--resume", action="store_true", help="continue the reproduction in OUT")
    pq_mode.add_argument("--overwrite", action="store_true", help="replace the reproduction in OUT")
    pq.set_defaults(func=_cmd_reproduce)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        from .errors import is_user_error

        if not is_user_error(exc):
            raise  # a bug: its traceback is what a report needs
        if args.verbose:
            logger.exception("chaosbench %s failed", args.command)
        print(f"chaosbench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
