"""The CLI cases of the bad-input battery (tests/bad_input_battery.py): generate, systems, train,
evaluate, report (not a test file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from bad_input_battery import (
    Case,
    _bad_checkpoint,
    _bad_last,
    _copy_run,
    _gridded_truth,
    _tiny_config,
    _write,
    cli,
)


def cli_cases() -> list[Case]:
    C: list[Case] = []

    def add(id, entry, run, names=(), **kw):
        C.append(Case(id, entry, run, tuple(names), **kw))

    # --- chaosbench generate ------------------------------------------------------------------------
    g = ("generate", "--system", "Lorenz", "--trajectories", "2", "--quiet")
    add("gen-length-0", "cli generate", cli(*g, "--length", "0", "--out", "{tmp}/a.zarr"), ["length"])
    add("gen-length-neg", "cli generate", cli(*g, "--length", "-5", "--out", "{tmp}/a.zarr"), ["length"])
    add(
        "gen-chunk-0",
        "cli generate",
        cli(*g, "--length", "50", "--chunk", "0", "--out", "{tmp}/a.zarr"),
        ["chunk"],
    )
    add("gen-traj-0", "cli generate",
        cli("generate", "--system", "Lorenz", "--trajectories", "0", "--length", "50", "--out", "{tmp}/a.zarr", "--quiet"),
        ["trajectories"])  # fmt: skip
    add(
        "gen-param-nan",
        "cli generate",
        cli(*g, "--length", "50", "--param", "sigma=nan", "--out", "{tmp}/a.zarr"),
        ["sigma"],
    )
    add(
        "gen-param-inf",
        "cli generate",
        cli(*g, "--length", "50", "--param", "rho=inf", "--out", "{tmp}/a.zarr"),
        ["rho"],
    )
    add(
        "gen-param-text",
        "cli generate",
        cli(*g, "--length", "50", "--param", "sigma=ten", "--out", "{tmp}/a.zarr"),
        ["sigma"],
    )
    add(
        "gen-param-unknown",
        "cli generate",
        cli(*g, "--length", "50", "--param", "nosuch=1", "--out", "{tmp}/a.zarr"),
        ["nosuch"],
    )
    add(
        "gen-param-no-equals",
        "cli generate",
        cli(*g, "--length", "50", "--param", "sigma", "--out", "{tmp}/a.zarr"),
        ["sigma"],
    )
    add(
        "gen-unknown-system",
        "cli generate",
        cli("generate", "--system", "Lorenz63x", "--length", "50", "--out", "{tmp}/a.zarr", "--quiet"),
        ["Lorenz63x"],
    )
    add(
        "gen-diverges",
        "cli generate",
        cli(*g, "--length", "200", "--param", "beta=-20", "--out", "{tmp}/a.zarr"),
        ["Lorenz"],
        timeout=90,
    )
    add(
        "gen-rtol-neg",
        "cli generate",
        cli(*g, "--length", "50", "--rtol", "-1e-9", "--out", "{tmp}/a.zarr"),
        ["rtol"],
    )
    add(
        "gen-noise-neg",
        "cli generate",
        cli(*g, "--length", "50", "--noise", "-0.1", "--out", "{tmp}/a.zarr"),
        ["noise"],
    )
    add(
        "gen-sample-dt-0",
        "cli generate",
        cli(*g, "--length", "50", "--sample-dt", "0", "--out", "{tmp}/a.zarr"),
        ["sample"],
    )
    add(
        "gen-pts-neg",
        "cli generate",
        cli(*g, "--length", "50", "--pts-per-period", "-3", "--out", "{tmp}/a.zarr"),
        ["period"],
    )
    add(
        "gen-transient-neg",
        "cli generate",
        cli(*g, "--length", "50", "--transient", "-1", "--out", "{tmp}/a.zarr"),
        ["transient"],
    )
    add(
        "gen-dim-0",
        "cli generate",
        cli(
            "generate",
            "--system",
            "Lorenz96",
            "--dim",
            "0",
            "--length",
            "50",
            "--out",
            "{tmp}/a.zarr",
            "--quiet",
        ),
        ["dim"],
    )
    add("gen-bad-suffix", "cli generate", cli(*g, "--length", "50", "--out", "{tmp}/a.txt"), [".txt"])
    add(
        "gen-exists-nc",
        "cli generate",
        cli(*g, "--length", "50", "--out", "{tmp}/old.nc"),
        ["old.nc"],
        setup=lambda t, c: _write(t / "old.nc", b"precious"),
        protect=lambda t, c: [t / "old.nc"],
    )
    add(
        "gen-exists-zarr-no-resume",
        "cli generate",
        cli(*g, "--length", "50", "--out", "{tmp}/old.zarr"),
        ["old.zarr"],
        setup=lambda t, c: __import__("shutil").copytree(c["traj"], t / "old.zarr"),
        protect=lambda t, c: [t / "old.zarr"],
    )
    add(
        "gen-resume-foreign-zarr",
        "cli generate",
        cli(*g, "--length", "50", "--resume", "--out", "{tmp}/x.zarr"),
        ["x.zarr"],
        setup=lambda t, c: _gridded_truth().to_zarr(t / "x.zarr"),
        protect=lambda t, c: [t / "x.zarr"],
    )
    add("gen-resume-other-system", "cli generate",
        cli("generate", "--system", "Rossler", "--trajectories", "2", "--length", "400", "--resume", "--quiet",
            "--out", "{tmp}/old.zarr"), ["old.zarr"],
        setup=lambda t, c: __import__("shutil").copytree(c["traj"], t / "old.zarr"), protect=lambda t, c: [t / "old.zarr"])  # fmt: skip
    add(
        "gen-resume-other-params",
        "cli generate",
        cli(*g, "--length", "400", "--param", "rho=30", "--resume", "--out", "{tmp}/old.zarr"),
        ["old.zarr"],
        setup=lambda t, c: __import__("shutil").copytree(c["traj"], t / "old.zarr"),
        protect=lambda t, c: [t / "old.zarr"],
    )
    add(
        "gen-device-bad",
        "cli generate",
        cli(*g, "--length", "50", "--device", "tpu9", "--out", "{tmp}/a.zarr"),
        ["tpu9"],
    )

    # --- chaosbench systems -------------------------------------------------------------------------
    add("systems-info-unknown", "cli systems", cli("systems", "info", "Lorentz"), ["Lorentz"])

    # --- chaosbench train ---------------------------------------------------------------------------
    add(
        "train-config-missing",
        "cli train",
        cli("train", "{tmp}/nope.yaml", "--out", "{tmp}/r"),
        ["nope.yaml"],
    )
    add(
        "train-config-binary",
        "cli train",
        cli("train", "{tmp}/c.yaml", "--out", "{tmp}/r"),
        ["c.yaml"],
        setup=lambda t, c: _write(t / "c.yaml", np.random.default_rng(2).bytes(300)),
    )
    add(
        "train-config-not-mapping",
        "cli train",
        cli("train", "{tmp}/c.yaml", "--out", "{tmp}/r"),
        ["c.yaml"],
        setup=lambda t, c: _write(t / "c.yaml", "- just\n- a list\n"),
    )
    add(
        "train-config-unknown-section",
        "cli train",
        cli("train", "{tmp}/c.yaml", "--out", "{tmp}/r"),
        ["trian"],
        setup=lambda t, c: _write(t / "c.yaml", _tiny_config(Path(c["traj"])) + "trian: {steps: 3}\n"),
    )
    add(
        "train-config-model-typo-before-data",
        "cli train",
        cli("train", "{tmp}/c.yaml", "--out", "{tmp}/r"),
        ["hiden_dim"],
        setup=lambda t, c: _write(
            t / "c.yaml", _tiny_config(t / "no_such_data.zarr", extra_model=", hiden_dim: 3")
        ),
    )
    add(
        "train-unknown-model",
        "cli train",
        cli("train", "{tmp}/c.yaml", "--out", "{tmp}/r"),
        ["shplrn"],
        setup=lambda t, c: _write(
            t / "c.yaml", _tiny_config(Path(c["traj"])).replace("name: shplrnn", "name: shplrn")
        ),
    )
    add(
        "train-unknown-task",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "task.kind=gtff"),
        ["task.kind"],
    )
    add(
        "train-set-no-equals",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "train.steps"),
        ["train.steps"],
    )
    add(
        "train-set-negative-steps",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "train.steps=-1"),
        ["train.steps"],
    )
    add(
        "train-set-lr-text",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "optimizer.lr=fast"),
        ["optimizer.lr"],
    )
    add(
        "train-set-batch-0",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "train.batch_size=0"),
        ["batch_size"],
    )
    add(
        "train-data-missing",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "data.path={tmp}/gone.zarr"),
        ["gone.zarr"],
    )
    add(
        "train-data-corrupt",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/r", "--set", "data.path={tmp}/bad.nc"),
        ["bad.nc"],
        setup=lambda t, c: _write(t / "bad.nc", np.random.default_rng(3).bytes(2048)),
    )
    add(
        "train-out-exists",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/run"),
        ["run"],
        setup=lambda t, c: _copy_run(t, c),
        protect=lambda t, c: [t / "run"],
    )
    add(
        "train-resume-no-checkpoint",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/empty_run", "--resume"),
        ["empty_run"],
    )
    add(
        "train-resume-truncated-last",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/run", "--resume"),
        ["last.pt"],
        setup=_bad_last("truncated"),
    )
    add(
        "train-resume-random-last",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/run", "--resume"),
        ["last.pt"],
        setup=_bad_last("random"),
    )
    add(
        "train-resume-shape-changed",
        "cli train",
        cli("train", "{config}", "--out", "{tmp}/run", "--resume", "--set", "model.config.hidden_dim=16"),
        ["last.pt"],
        setup=lambda t, c: _copy_run(t, c),
        protect=lambda t, c: [t / "run" / "model.pt"],
    )

    # --- chaosbench evaluate ------------------------------------------------------------------------
    ev = ("evaluate", "{tmp}/run", "--out", "{tmp}/ev")
    add("eval-run-missing", "cli evaluate", cli("evaluate", "{tmp}/norun", "--out", "{tmp}/ev"), ["norun"])
    for kind in ("yaml", "text", "random", "truncated", "empty"):
        add(f"eval-model-{kind}", "cli evaluate", cli(*ev), ["model.pt"], setup=_bad_checkpoint(kind))
    add(
        "eval-out-exists",
        "cli evaluate",
        cli(*ev),
        ["ev"],
        setup=lambda t, c: (_copy_run(t, c), _write(t / "ev" / "dynamics.json", "{}")),
        protect=lambda t, c: [t / "ev"],
    )
    add(
        "eval-true-spectrum-text",
        "cli evaluate",
        cli(*ev, "--true-spectrum", "a,b"),
        ["spectrum"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-compose-bad",
        "cli evaluate",
        cli(*ev, "--compose", "x=y"),
        ["compose"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-n-inits-0",
        "cli evaluate",
        cli(*ev, "--n-inits", "0"),
        ["inits"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-steps-0",
        "cli evaluate",
        cli(*ev, "--steps", "0"),
        ["steps"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-members-0",
        "cli evaluate",
        cli(*ev, "--members", "0"),
        ["members"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-perturbation-neg",
        "cli evaluate",
        cli(*ev, "--perturbation", "-1"),
        ["perturbation"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-test-data-missing",
        "cli evaluate",
        cli(*ev, "--test-data", "{tmp}/gone.zarr"),
        ["gone.zarr"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-data-missing",
        "cli evaluate",
        cli(*ev, "--data", "{tmp}/gone2.zarr"),
        ["gone2.zarr"],
        setup=lambda t, c: _copy_run(t, c),
    )
    add(
        "eval-time-step-neg",
        "cli evaluate",
        cli(*ev, "--time-step", "-0.01"),
        ["time"],
        setup=lambda t, c: _copy_run(t, c),
    )

    # --- chaosbench report --------------------------------------------------------------------------
    add("report-eval-missing", "cli report", cli("report", "{tmp}/noeval", "--out", "{tmp}/rep"), ["noeval"])
    add(
        "report-not-an-eval",
        "cli report",
        cli("report", "{tmp}/empty", "--out", "{tmp}/rep"),
        ["empty"],
        setup=lambda t, c: (t / "empty").mkdir(),
    )
    add(
        "report-corrupt-json",
        "cli report",
        cli("report", "{tmp}/e", "--out", "{tmp}/rep"),
        ["dynamics.json"],
        setup=lambda t, c: _write(t / "e" / "dynamics.json", "{not json"),
    )
    add("report-out-exists", "cli report", cli("report", "{tmp}/e", "--out", "{tmp}/rep"), ["rep"],
        setup=lambda t, c: (_write(t / "e" / "dynamics.json", "{not json"), _write(t / "rep" / "report.html", "<p>mine</p>")),
        protect=lambda t, c: [t / "rep"])  # fmt: skip

    return C
