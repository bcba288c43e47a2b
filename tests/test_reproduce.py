"""`chaosbench reproduce`: the recipe list, a whole tiny recipe, kill -9 at three points + resume, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chaosbench_py.cli import main
from chaosbench_py.errors import InputError, MissingInputError, OutputExistsError, UnknownNameError
from chaosbench_py.reproduce import get_recipe, list_recipes, resolve_budget, run_recipe
from chaosbench_py.reproduce.gtf import default_data_folder
from chaosbench_py.reproduce.table import summarise

RECIPE = "phyxmamba-lorenz63"
NAMES = {"gtf-lorenz63", "gtf-ecg", "phyxmamba-lorenz63", "phyxmamba-rossler", "esn-ks"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "chaosbench_py",
        "reproduce",
        RECIPE,
        "--out",
        str(out),
        "--budget",
        "tiny",
        *extra,
    ]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _comparable(table: dict) -> dict:
    """The table without what depends on timing (CPU seconds)."""
    out = {k: v for k, v in table.items() if k != "compute"}
    out["curves"] = {k: [(p["step"], p["value"]) for p in pts] for k, pts in table["curves"].items()}
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("repro") / "full"
    proc = _cli(out)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    return out


def test_list_names_every_recipe_with_goal_and_budget(capsys):
    assert set(list_recipes()) >= NAMES
    assert main(["reproduce", "--list"]) == 0
    text = capsys.readouterr().out
    for name in NAMES:
        assert name in text
    assert "goal: PhyxMamba VPT >= 4.0" in text and "default budget: 5 seeds" in text
    assert "Hess, Monfared, Brenner & Durstewitz" in text


def test_tiny_recipe_end_to_end(uninterrupted):
    table = json.loads((uninterrupted / "report" / "table.json").read_text())
    models = {r["model"] for r in table["rows"]}
    assert models == {"phyxmamba", "esn", "nvar"}
    vpt = next(r for r in table["rows"] if r["model"] == "phyxmamba" and r["metric"] == "vpt")
    assert vpt["published"] == 5.06 and vpt["seeds"] == 2 and len(vpt["values"]) == 2
    assert 0.0 <= vpt["median"] <= 10.0 and vpt["low"] <= vpt["median"] <= vpt["high"]
    assert (
        table["paired"]["unit"] == "ic" and table["paired"]["n"] == 20 and 0 < table["paired"]["p_value"] <= 1
    )
    assert [g["met"] for g in table["goals"]] == [False, False]  # 20 steps do not reach the paper
    assert {c["model"] for c in table["compute"]} == {"PhyxMamba", "RC (echo state network)", "NVAR"}
    assert set(table["curves"]) == {"seed_0", "seed_1"} and [
        p["step"] for p in table["curves"]["seed_0"]
    ] == [10, 20]
    for k in (0, 1):  # each seed is a trainer run folder with its evaluation
        assert (uninterrupted / "runs" / "phyxmamba" / f"seed_{k}" / "model.pt").is_file()
        assert (uninterrupted / "runs" / "phyxmamba" / f"seed_{k}" / "checkpoints" / "last.pt").is_file()
        assert json.loads((uninterrupted / "evals" / "esn" / f"seed_{k}.json").read_text())["seed"] == k
    md = (uninterrupted / "report" / "report.md").read_text()
    assert "| PhyxMamba | published |" in md and "Paired test" in md
    assert {p.name for p in (uninterrupted / "report" / "figures").iterdir()} == {
        "time_to_quality.png", "attractors.png", "error_vs_lead.png"}  # fmt: skip


def test_resume_of_a_finished_run_redoes_nothing(uninterrupted, capsys):
    before = (uninterrupted / "evals" / "phyxmamba" / "seed_0.json").stat().st_mtime_ns
    res = run_recipe(RECIPE, uninterrupted, budget="tiny", resume=True, log=lambda s: None)
    assert res.done == 0 and res.reused == 6
    assert (uninterrupted / "evals" / "phyxmamba" / "seed_0.json").stat().st_mtime_ns == before


def _run_until(out: Path, marker, resume: bool) -> bool:
    """Start the CLI, SIGKILL it once ``marker(out)`` holds; True if it was killed (not finished)."""
    proc = _cli(out, *(["--resume"] if resume else []))
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 120:
        if marker(out):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    proc.communicate()
    return False


def test_kill_at_three_points_then_resume_gives_the_same_table(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    points = [
        lambda o: (
            o / "runs" / "phyxmamba" / "seed_0" / "checkpoints" / "last.pt"
        ).exists(),  # seed 0 training
        lambda o: (o / "evals" / "phyxmamba" / "seed_0.json").exists(),  # after seed 0's evaluation
        lambda o: (o / "runs" / "phyxmamba" / "seed_1.progress.json").exists(),  # during seed 1
    ]
    kills = [_run_until(out, p, resume=i > 0) for i, p in enumerate(points)]
    assert kills == [True, True, True]
    assert not (out / "report" / "table.json").exists()
    proc = _cli(out, "--resume")
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    got = json.loads((out / "report" / "table.json").read_text())
    want = json.loads((uninterrupted / "report" / "table.json").read_text())
    assert _comparable(got) == _comparable(want)
    assert not list(out.rglob(".*.incomplete")) and not [p for p in out.rglob(".*") if p.is_file()]


def test_disjoint_only_seeds_in_parallel_processes_then_a_final_run_give_the_same_table(
    tmp_path, uninterrupted
):
    """Two processes write seeds 1 and 0 into one OUT at once (as array jobs would); a last run without
    --only-seeds trains nothing and builds the uninterrupted run's table."""
    out = tmp_path / "parallel"
    out.mkdir()
    procs = [_cli(out, "--resume", "--only-seeds", k) for k in ("1", "0")]
    for proc in procs:
        log, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, log
    res = run_recipe(RECIPE, out, budget="tiny", resume=True, log=lambda s: None)
    assert res.done == 0 and res.reused == 6
    got = json.loads((out / "report" / "table.json").read_text())
    want = json.loads((uninterrupted / "report" / "table.json").read_text())
    assert _comparable(got) == _comparable(want)


def test_only_seeds_builds_a_partial_table_and_names_what_is_left_out(tmp_path):
    lines: list[str] = []
    res = run_recipe(RECIPE, tmp_path / "o", budget="tiny", only_seeds=[1], log=lines.append)
    assert res.done == 3 and res.reused == 0
    assert not (tmp_path / "o" / "runs" / "phyxmamba" / "seed_0").exists()
    assert all(r["seeds"] == 1 for r in res.table["rows"])
    assert any("left out of this table: PhyxMamba seed 0, RC (echo state network) seed 0, NVAR seed 0" in s
               for s in lines)  # fmt: skip


@pytest.mark.parametrize("only", [[2], [-1], [], [0, 1.0], [True]])
def test_bad_only_seeds(tmp_path, only):
    with pytest.raises(
        InputError, match=r"--only-seeds: expected seeds among 0\.\.1 \(the run's --seeds 2\)"
    ):
        run_recipe(RECIPE, tmp_path / "o", budget="tiny", only_seeds=only)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("text", "seeds"), [("3", [3]), ("2,4", [2, 4]), ("2-4", [2, 3, 4]), ("0,2-3", [0, 2, 3])]
)
def test_only_seeds_cli_syntax(text, seeds):
    from chaosbench_py.cli import build_parser

    args = build_parser().parse_args(["reproduce", RECIPE, "--out", "o", "--only-seeds", text])
    assert args.only_seeds == seeds


def test_only_seeds_cli_rejects_text(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", RECIPE, "--out", "o", "--only-seeds", "two"])
    assert exc.value.code == 2
    assert "expected seeds such as 3, 2,4 or 2-4, got 'two'" in capsys.readouterr().err


def test_only_models_then_the_rest_give_the_uninterrupted_table(tmp_path, uninterrupted):
    """--only-models trains only the named models (others left out of the table and named); a later run
    with the other models, then one without the option, completes the uninterrupted run's table."""
    out, lines = tmp_path / "o", []
    res = run_recipe(RECIPE, out, budget="tiny", only_models=["nvar", "esn"], log=lines.append)
    assert res.done == 4 and not (out / "runs" / "phyxmamba").exists()
    assert any("left out of this table: PhyxMamba seed 0, PhyxMamba seed 1" in s for s in lines)
    assert main(["reproduce", RECIPE, "--out", str(out), "--budget", "tiny", "--resume",
                 "--only-models", "phyxmamba"]) == 0  # fmt: skip
    res = run_recipe(RECIPE, out, budget="tiny", resume=True, log=lambda s: None)
    assert res.done == 0 and res.reused == 6
    got = json.loads((out / "report" / "table.json").read_text())
    want = json.loads((uninterrupted / "report" / "table.json").read_text())
    assert _comparable(got) == _comparable(want)


@pytest.mark.parametrize("only", [["PhyxMamba"], [], ["esn", "rc"]])
def test_bad_only_models_list_the_recipes_models(tmp_path, only):
    with pytest.raises(UnknownNameError, match=r"--only-models: .*recipe phyxmamba-lorenz63 has the models "
                                               r"phyxmamba, esn, nvar"):  # fmt: skip
        run_recipe(RECIPE, tmp_path / "o", budget="tiny", only_models=only)
    assert not (tmp_path / "o").exists()


def test_paired_test_pairs_by_seed_number_not_position():
    from chaosbench_py.reproduce.table import _paired

    recipe = get_recipe("gtf-ecg")
    assert recipe.paired_unit == "seed"
    key = recipe.paired_metric
    base = next(m for m in recipe.models if not (m.main or m.variant))

    def run(seed, value):
        return {"seed": seed, "metrics": {key: value}, "units": {}}

    # the main model finished seeds 0-3, the baseline only 2 and 3 (e.g. a run with --only-seeds): pairs (2, 3)
    evals = {recipe.main.name: [run(0, 100.0), run(1, 100.0), run(2, 1.0), run(3, 2.0)],
             base.name: [run(3, 12.0), run(2, 11.0)]}  # fmt: skip
    summaries = {base.name: {key: {"median": 11.5}}}
    out = _paired(recipe, evals, summaries)
    assert out["n"] == 2 and out["mean_difference"] == pytest.approx(-10.0)


def test_a_variant_of_the_main_model_is_not_its_baseline():
    """gtf-ecg: aGTF is the paper's other training method for the same model; the paired test takes the
    strongest of RC and the neural ODE, even where aGTF scores better."""
    from chaosbench_py.reproduce.table import _paired

    recipe = get_recipe("gtf-ecg")
    assert [m.name for m in recipe.models if m.variant] == ["shplrnn_agtf"]
    key = recipe.paired_metric

    def runs(values):
        return [{"seed": k, "metrics": {key: v}, "units": {}} for k, v in enumerate(values)]

    evals = {"shplrnn_gtf": runs([4.0, 4.5, 5.0]), "shplrnn_agtf": runs([3.0, 3.5, 4.0]),
             "esn": runs([15.0, 16.0, float("inf")]), "neural_ode": runs([12.0, 13.0, 14.0])}  # fmt: skip
    summaries = {name: {key: {"median": float(np.median(v))}} for name, v in
                 {"shplrnn_agtf": [3.5], "esn": [16.0], "neural_ode": [13.0]}.items()}  # fmt: skip
    out = _paired(recipe, evals, summaries)
    assert out["baseline"] == "neural ODE" and out["n"] == 3


# ------------------------------------------------------------------ bad inputs
def test_unknown_recipe_lists_the_known_ones(tmp_path, capsys):
    with pytest.raises(UnknownNameError) as exc:
        run_recipe("phyxmamba-lorenz", tmp_path / "o")
    for name in NAMES:
        assert name in str(exc.value)
    assert "did you mean 'phyxmamba-lorenz63'" in str(exc.value)
    assert main(["reproduce", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "known recipes: esn-ks, gtf-ecg" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("budget", ["1", "19", 5])
def test_budget_too_small_names_the_minimum(tmp_path, budget):
    with pytest.raises(
        InputError, match=r"too small to evaluate recipe phyxmamba-lorenz63; the minimum is 20"
    ):
        run_recipe(RECIPE, tmp_path / "o", budget=budget)
    assert not (tmp_path / "o").exists()


def test_gtf_budget_minimum_is_one_epoch():
    with pytest.raises(InputError, match="the minimum is 50 optimiser steps.*one 50-batch epoch"):
        resolve_budget(get_recipe("gtf-ecg"), "49")
    assert dict(resolve_budget(get_recipe("gtf-ecg"), "50").steps) == {"shplrnn_gtf": 50, "shplrnn_agtf": 50,
                                                                        "neural_ode": 50}  # fmt: skip


@pytest.mark.parametrize("budget", ["huge", "1.5e3", ""])
def test_budget_not_a_name_or_number(tmp_path, budget):
    with pytest.raises(InputError, match="expected one of tiny, default, published or a number"):
        run_recipe(RECIPE, tmp_path / "o", budget=budget)


@pytest.mark.parametrize("recipe", ["gtf-lorenz63", "gtf-ecg"])
def test_missing_shared_data_names_path_and_data_option(tmp_path, recipe, capsys):
    with pytest.raises(MissingInputError) as exc:
        run_recipe(recipe, tmp_path / "o", budget="tiny", data=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(exc.value) and "--data" in str(exc.value)
    assert ".npy" in str(exc.value)
    assert main(["reproduce", recipe, "--out", str(tmp_path / "o"), "--data", str(tmp_path)]) == 2
    assert "--data PATH" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_existing_dir_without_resume_is_refused_and_unchanged(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=f"{out}: exists and is not empty; pass --resume"):
        run_recipe(RECIPE, out, budget="tiny")
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"


def test_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputExistsError, match="is not a folder"):
        run_recipe(RECIPE, f, budget="tiny")


def test_resume_with_other_budget_is_refused(uninterrupted):
    with pytest.raises(InputError, match="other settings.*budget"):
        run_recipe(RECIPE, uninterrupted, budget="30", resume=True)


@pytest.mark.parametrize("seeds", [0, -1, True, 1.5])
def test_bad_seeds(tmp_path, seeds):
    with pytest.raises(InputError, match="--seeds: expected an integer >= 1"):
        run_recipe(RECIPE, tmp_path / "o", budget="tiny", seeds=seeds)


def test_resume_and_overwrite_together(tmp_path):
    with pytest.raises(InputError, match="exclude each other"):
        run_recipe(RECIPE, tmp_path / "o", budget="tiny", resume=True, overwrite=True)


def test_cli_needs_name_and_out(capsys):
    assert main(["reproduce"]) == 2
    assert "give a recipe NAME" in capsys.readouterr().err
    assert main(["reproduce", RECIPE]) == 2
    assert "--out DIR is required" in capsys.readouterr().err


def test_summary_median_mad_interval_and_divergence():
    s = summarise([1.0, 2.0, 4.0, 10.0])
    assert s["median"] == 3.0 and s["mad"] == 1.5 and s["low"] <= 3.0 <= s["high"]
    d = summarise([1.0, 2.0, float("inf")])  # one diverged run of three: median finite, no interval
    assert d["median"] == 2.0 and d["n_finite"] == 2 and d["low"] is None


# ------------------------------------------------------------------ other recipes, tiny (slow)
@pytest.mark.slow
@pytest.mark.skipif(not default_data_folder().is_dir(), reason="the shared GTF data sets are absent")
@pytest.mark.parametrize("recipe", ["gtf-lorenz63", "gtf-ecg"])
def test_gtf_recipes_tiny(tmp_path, recipe):
    res = run_recipe(recipe, tmp_path / "o", budget="tiny", log=lambda s: None)
    assert res.done == 2 * len(get_recipe(recipe).models)
    assert {r["metric"] for r in res.table["rows"]} >= {"d_stsp", "d_h", "pe"}
    assert (res.out / "report" / "figures" / "spectra.png").is_file()


@pytest.mark.slow
def test_esn_ks_tiny(tmp_path):
    res = run_recipe("esn-ks", tmp_path / "o", budget="tiny", log=lambda s: None)
    assert res.table["constants"]["lambda1"] == 0.0485
    assert res.table["paired"]["baseline"] == "PhyxMamba"
