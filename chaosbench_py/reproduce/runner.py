"""The end-to-end driver of a reproduction: data → seeds × models → evaluation → table and plots.

Layout of ``OUT`` (``chaosbench reproduce NAME --out OUT``)::

    request.json                     recipe, budget, version (a resumed OUT must match it)
    data/                            the recipe's data (each file written atomically)
    runs/MODEL/seed_K/               a trainer run folder (config.yaml, checkpoints/last.pt, model.pt,
                                     metrics.csv) or a reservoir's model.pt
    runs/MODEL/seed_K.progress.json  CPU seconds of the training so far and the time-to-quality curve
    evals/MODEL/seed_K.json          the evaluation of that seed (written last: it marks the seed done)
    evals/MODEL/seed_0.npz           free runs / forecasts of seed 0 for the plots
    report/                          table.md, table.json, report.md, report.html, figures/

Resumable at every point: a seed whose evaluation JSON exists and carries the hash of the recipe,
budget, model and seed is never redone; an interrupted training continues from its last checkpoint
(:class:`~chaosbench_py.training.Trainer` with ``resume=True``, exact); the report is rebuilt from the
evaluations. Without ``resume`` an existing non-empty ``OUT`` is refused
(:class:`~chaosbench_py.errors.OutputExistsError`); ``overwrite`` replaces it.

Training is cut into chunks of ``budget.params["curve_every"]`` optimiser steps (checkpoints on the
chunk boundaries); after each chunk of the main model the recipe's quick metric is computed (in an
isolated random-number state, so the training is the same with or without it) and stored with the
CPU seconds spent so far: the time-to-quality curve.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, OutputExistsError, UnknownNameError
from ..files import atomic_output, atomic_write_text
from .registry import Budget, ModelSpec, Recipe, get_recipe, resolve_budget

logger = logging.getLogger(__name__)

__all__ = ["ReproductionResult", "eval_hash", "run_recipe"]


@dataclass
class ReproductionResult:
    """What :func:`run_recipe` produced: the report folder, the table (``table.json`` content) and the
    number of seed × model evaluations done now (``done``) and found finished (``reused``)."""

    out: Path
    report: Path
    table: dict
    done: int
    reused: int


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=_json_default, allow_nan=True)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def eval_hash(recipe: Recipe, budget: Budget, spec: ModelSpec, seed: int, config: dict | None) -> str:
    """sha256 of what determines one seed's evaluation: recipe name and version, budget (not its seed
    count), model, seed and the model's run config."""
    key = {"recipe": recipe.name, "version": recipe.version, "steps": dict(budget.steps),
           "params": dict(budget.params), "model": spec.name, "seed": seed, "config": config}  # fmt: skip
    return hashlib.sha256(_dumps(key).encode()).hexdigest()


@contextlib.contextmanager
def isolated_rng():
    """Run a block without changing the global torch / numpy / Python random states."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


def _prepare_out(out: Path, recipe: Recipe, budget: Budget, resume: bool, overwrite: bool) -> None:
    request = {"recipe": recipe.name, "version": recipe.version, "budget": budget.name,
               "steps": dict(budget.steps), "params": dict(budget.params)}  # fmt: skip
    req_path = out / "request.json"
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another --out")
    non_empty = out.exists() and any(out.iterdir())
    if non_empty and not (resume or overwrite):
        raise OutputExistsError(
            f"{out}: exists and is not empty; pass --resume to continue that reproduction or --overwrite to replace it"
        )
    if non_empty and overwrite:
        logger.info("removing %s (--overwrite)", out)
        shutil.rmtree(out)
    if resume and req_path.exists():
        old = _read_json(req_path) or {}
        diff = [k for k in request if _dumps(old.get(k)) != _dumps(request[k])]
        if diff:
            raise InputError(
                f"{out}: holds a reproduction with other settings ({', '.join(diff)}: "
                f"{', '.join(f'{old.get(k)!r} there vs {request[k]!r} now' for k in diff[:2])}); "
                "resume it with the same recipe and --budget, or use --overwrite / another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    if not req_path.exists():
        atomic_write_text(req_path, _dumps(request))


def _check_only_seeds(only_seeds: Sequence[int] | None, n_seeds: int) -> frozenset[int]:
    """The seeds to train now: all of ``0 … n_seeds-1``, or ``only_seeds`` after checking them."""
    if only_seeds is None:
        return frozenset(range(n_seeds))
    seeds = list(only_seeds)
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < n_seeds]
    if not seeds or bad:
        raise InputError(
            f"--only-seeds: expected seeds among 0..{n_seeds - 1} (the run's --seeds {n_seeds}), got "
            f"{', '.join(map(repr, bad or seeds)) or 'none'}"
        )
    return frozenset(seeds)


def _check_only_models(only_models: Sequence[str] | None, recipe: Recipe) -> frozenset[str]:
    """The models to train now: all of the recipe's, or ``only_models`` after checking them."""
    known = [m.name for m in recipe.models]
    if only_models is None:
        return frozenset(known)
    names = [only_models] if isinstance(only_models, str) else list(only_models)
    bad = [m for m in names if m not in known]
    if not names or bad:
        raise UnknownNameError(
            f"--only-models: {', '.join(map(repr, bad)) or 'no model given'}; recipe {recipe.name} has the models "
            f"{', '.join(known)}"
        )
    return frozenset(names)


def _train_trainer_model(
    recipe: Recipe, spec: ModelSpec, cfg_dict: dict, run_dir: Path, progress_path: Path,
    data: dict, budget: Budget, log: Callable[[str], None],
) -> tuple[Any, dict]:  # fmt: skip
    """Train (or continue) one trainer run in chunks; returns ``(model, progress)``."""
    import emulators

    from ..training import Trainer, config_from_dict

    cfg = config_from_dict(json.loads(json.dumps(cfg_dict)))
    total = cfg.train.steps
    progress = _read_json(progress_path) or {"cpu_s": 0.0, "curve": []}
    model_pt = run_dir / "model.pt"
    if model_pt.exists():
        model, extra = emulators.load_model(model_pt)
        if int(extra.get("step", -1)) == total:
            return model.eval(), progress
    resume = (run_dir / "checkpoints" / "last.pt").exists()
    trainer = Trainer(cfg, run_dir, resume=resume, overwrite=not resume)
    every = int(budget.params.get("curve_every", total)) or total
    quick = recipe.quick_metric if spec.main else None
    progress["curve"] = [p for p in progress["curve"] if p["step"] <= trainer.step]

    def record() -> None:
        if quick is None:
            return
        if progress["curve"] and progress["curve"][-1]["step"] == trainer.step:
            return
        trainer.model.eval()
        with isolated_rng(), torch.no_grad():
            value = float(quick(trainer.model, data, budget))
        progress["curve"].append({"step": trainer.step, "cpu_s": progress["cpu_s"], "value": value})
        log(f"  {spec.label} seed step {trainer.step}/{total}: {recipe.quick_metric_label} {value:.4g} "
            f"({progress['cpu_s']:.0f} CPU s)")  # fmt: skip

    if trainer.step > 0:
        record()
        atomic_write_text(progress_path, _dumps(progress))
    while trainer.step < total:
        target = min(total, (trainer.step // every + 1) * every)
        c0 = time.process_time()
        trainer.fit(stop_after=target - trainer.step)
        progress["cpu_s"] += time.process_time() - c0
        record()
        atomic_write_text(progress_path, _dumps(progress))
    if not model_pt.exists():  # resumed at the last step: fit() had nothing left to do
        trainer.fit()
    model, _ = emulators.load_model(model_pt)
    return model.eval(), progress


def _fit_reservoir_model(spec: ModelSpec, run_dir: Path, progress_path: Path, data: dict, budget: Budget,
                         seed: int) -> tuple[Any, dict]:  # fmt: skip
    import emulators

    model_pt = run_dir / "model.pt"
    progress = _read_json(progress_path) or {"cpu_s": 0.0, "curve": []}
    if model_pt.exists():
        model, _ = emulators.load_model(model_pt)
        return model.eval(), progress
    c0 = time.process_time()
    model = spec.fit(data, budget, seed)
    progress["cpu_s"] = time.process_time() - c0
    emulators.save_model(model, model_pt, extra={"recipe_model": spec.name, "seed": seed}, overwrite=True)
    atomic_write_text(progress_path, _dumps(progress))
    return model.eval(), progress


def _save_artifacts(path: Path, artifacts: dict[str, Any]) -> None:
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in artifacts.items() if v is not None}
    if not arrays:
        return
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def run_recipe(
    name: str,
    out: str | Path,
    *,
    seeds: int | None = None,
    budget: str | int = "default",
    data: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    only_seeds: Sequence[int] | None = None,
    only_models: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> ReproductionResult:
    """Run recipe ``name`` end to end into ``out`` (module docstring); returns the table.

    Args:
        name: a registered recipe (:func:`~chaosbench_py.reproduce.list_recipes`).
        out: the reproduction folder.
        seeds: training seeds ``0 … seeds-1`` (default: the budget's).
        budget: ``tiny`` / ``default`` / ``published`` or a number of optimiser steps per seed.
        data: folder of a shared data set the recipe needs (default: the recipe's own search path).
        resume: continue an existing ``out`` (finished seeds are kept).
        overwrite: replace an existing ``out``.
        only_seeds: train and evaluate only these of the seeds ``0 … seeds-1``; the other seeds'
            finished evaluations are reused and their unfinished ones skipped (logged). For several
            processes or array jobs writing disjoint seeds into one ``out`` (each with ``resume``); a last
            run without it completes the table. The table covers the seeds finished so far.
        only_models: train and evaluate only these models (recipe model names, e.g. ``shplrnn_gtf``);
            the others are handled as seeds outside ``only_seeds`` are (finished ones reused, the rest
            left out of the table and logged). For one model per process, or to leave a costly variant
            for later.
        log: called with one line per event (default: the module logger).
    Raises:
        UnknownNameError (unknown recipe, listing the known ones), InputError (budget too small, bad
        seeds, resume and overwrite together, a resumed ``out`` with other settings),
        MissingInputError (shared data not found; names the path and ``--data``), OutputExistsError,
        UnknownNameError (a model in ``only_models`` the recipe lacks, listing its models).
    """
    log = log or logger.info
    recipe = get_recipe(name)
    b = resolve_budget(recipe, budget)
    n_seeds = b.seeds if seeds is None else seeds
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise InputError(f"--seeds: expected an integer >= 1, got {n_seeds!r}")
    if resume and overwrite:
        raise InputError(
            "--resume and --overwrite exclude each other: --resume continues OUT, --overwrite replaces it"
        )
    selected = _check_only_seeds(only_seeds, n_seeds)
    models = _check_only_models(only_models, recipe)
    recipe.check_data(data)
    out = Path(out)
    _prepare_out(out, recipe, b, resume, overwrite)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), int(b.params.get("threads", 1)))))
    log(
        f"{recipe.name}: budget {b.name}, {n_seeds} seed(s), models {', '.join(m.label for m in recipe.models)}"
    )
    payload = recipe.prepare_data(out / "data", data, b)
    done = reused = 0
    skipped: list[str] = []
    evals: dict[str, list[dict]] = {m.name: [] for m in recipe.models}
    for seed in range(n_seeds):
        for spec in recipe.models:
            cfg = spec.run_config(b, out / "data", seed) if spec.kind == "trainer" else None
            h = eval_hash(recipe, b, spec, seed, cfg)
            eval_path = out / "evals" / spec.name / f"seed_{seed}.json"
            old = _read_json(eval_path) if eval_path.exists() else None
            if old is not None and old.get("hash") == h:
                evals[spec.name].append(old)
                reused += 1
                continue
            if seed not in selected or spec.name not in models:
                skipped.append(f"{spec.label} seed {seed}")
                continue
            run_dir = out / "runs" / spec.name / f"seed_{seed}"
            progress_path = out / "runs" / spec.name / f"seed_{seed}.progress.json"
            log(f"{spec.label}, seed {seed}: training")
            if spec.kind == "trainer":
                model, progress = _train_trainer_model(
                    recipe, spec, cfg, run_dir, progress_path, payload, b, log
                )
            else:
                model, progress = _fit_reservoir_model(spec, run_dir, progress_path, payload, b, seed)
            c0 = time.process_time()
            with isolated_rng(), torch.no_grad():
                result = recipe.evaluate(spec, model, payload, b, seed)
            eval_cpu = time.process_time() - c0
            if seed == 0:
                _save_artifacts(out / "evals" / spec.name / "seed_0.npz", result.get("artifacts", {}))
            record = {
                "hash": h, "recipe": recipe.name, "model": spec.name, "label": spec.label, "seed": seed,
                "budget": b.name, "metrics": result["metrics"], "units": result.get("units", {}),
                "compute": {"train_cpu_s": progress["cpu_s"], "eval_cpu_s": eval_cpu,
                            "steps": int(cfg["train"]["steps"]) if cfg else 0},
                "curve": progress.get("curve", []),
            }  # fmt: skip
            atomic_write_text(eval_path, _dumps(record))
            log(f"{spec.label}, seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in result["metrics"].items()
                                                          if isinstance(v, (int, float))))  # fmt: skip
            evals[spec.name].append(record)
            done += 1
    if skipped:
        log(f"not in --only-seeds/--only-models and unfinished, left out of this table: {', '.join(skipped)}")
    from .table import build_table, write_report

    table = build_table(recipe, b, evals, payload.get("constants", {}))
    report = write_report(recipe, b, table, evals, payload, out)
    return ReproductionResult(out=out, report=report, table=table, done=done, reused=reused)
