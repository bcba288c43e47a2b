"""A battery of bad inputs a user would plausibly give, across every public entry point.

Each case calls one entry point (the ``chaosbench`` CLI in-process, or a Python function) with a bad
input and classifies what happens:

* ``clear``: a user error whose message names every token the case lists (the file, the argument,
  the variable …); for the CLI, exit status 2 and no traceback. Where the package has
  ``chaosbench_py.errors.is_user_error``, the exception must also be one of the user-error classes.
* ``unclear``: an exception that does not name the thing, or is not a deliberate check (a traceback
  from deep inside numpy/torch, ``ZeroDivisionError`` …);
* ``silent``: no error at all (the bad input was accepted);
* ``hang``: still running after the case's time limit;
* ``destroyed``: a file or store that existed before the call changed (the worst outcome).

A few cases are *good* inputs that used to fail (``expect="ok"``): they are ``clear`` when they pass.

Run it on any checkout (the before/after counts of the closing note)::

    PYTHONPATH=/path/to/checkout python tests/bad_input_battery.py

``tests/test_bad_input_battery.py`` runs every case as a test and requires ``clear``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import sys
import textwrap
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# exception classes a deliberate input check raises (the "before" run has no user-error hierarchy)
DELIBERATE = (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError, FloatingPointError)


class CaseTimeout(BaseException):  # BaseException: library code's `except Exception` cannot swallow it
    pass


@dataclass
class Case:
    id: str
    entry: str
    run: Callable[[Path, dict], Any]
    names: tuple[str, ...] = ()
    protect: Callable[[Path, dict], list[Path]] | None = None
    expect: str = "error"
    timeout: float = 60.0
    setup: Callable[[Path, dict], None] | None = None


@dataclass
class Outcome:
    case: Case
    status: str
    message: str = ""
    detail: str = field(default="", repr=False)


# ---------------------------------------------------------------------------------------------------
# helpers


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            h.update(str(p.relative_to(path)).encode())
            if p.is_file():
                h.update(p.read_bytes())
    elif path.exists():
        h.update(path.read_bytes())
    else:
        h.update(b"<missing>")
    return h.hexdigest()


def _cli(argv: list[str]) -> tuple[int, str]:
    """Run ``chaosbench ARGV`` in-process; returns (exit status, stderr). Exceptions propagate."""
    from chaosbench_py import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cli.main(argv)
        except SystemExit as exc:  # argparse errors, explicit SystemExit("message")
            code = exc.code
            if isinstance(code, str):
                print(code, file=err)
                rc = 2
            else:
                rc = int(code or 0)
    return rc, err.getvalue()


class CLIFailure(Exception):
    def __init__(self, rc: int, stderr: str):
        super().__init__(stderr.strip())
        self.rc, self.stderr = rc, stderr


def cli(*argv: str) -> Callable[[Path, dict], Any]:
    def run(tmp: Path, ctx: dict):
        args = [a.format(tmp=tmp, **ctx) for a in argv]
        rc, stderr = _cli(args)
        if rc != 0:
            raise CLIFailure(rc, stderr)
        return rc

    return run


def _is_user_error(exc: BaseException) -> bool:
    import chaosbench_py

    if not (Path(chaosbench_py.__file__).parent / "errors.py").exists():
        return isinstance(exc, DELIBERATE)  # a checkout from before the user-error hierarchy
    from chaosbench_py.errors import is_user_error

    return is_user_error(exc)


def classify(case: Case, tmp: Path, ctx: dict) -> Outcome:
    if case.setup is not None:
        case.setup(tmp, ctx)
    protected = case.protect(tmp, ctx) if case.protect else []
    before = {p: _digest(p) for p in protected}

    def on_alarm(signum, frame):
        raise CaseTimeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, case.timeout)
    status, message, detail = "", "", ""
    try:
        try:
            case.run(tmp, ctx)
            status = "clear" if case.expect == "ok" else "silent"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CaseTimeout:
        status, message = "hang", f"still running after {case.timeout:.0f} s"
    except CLIFailure as exc:
        message = exc.stderr.strip()
        lines = [ln for ln in message.splitlines() if ln.strip()]
        named = all(n.lower() in message.lower() for n in case.names)
        one_line = len(lines) <= 1 or lines[0].startswith("usage:")  # argparse: usage + error line
        if case.expect == "ok":
            status = "unclear"
        else:
            status = (
                "clear" if (exc.rc == 2 and named and one_line and "Traceback" not in message) else "unclear"
            )
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        message = f"{type(exc).__name__}: {exc}"
        detail = traceback.format_exc()
        named = all(n.lower() in message.lower() for n in case.names)
        if case.expect == "ok":
            status = "unclear"
        elif case.entry.startswith("cli"):
            status = "unclear"  # the CLI let an exception (a traceback) escape
        else:
            status = "clear" if (named and _is_user_error(exc)) else "unclear"
    finally:
        signal.signal(signal.SIGALRM, old)
    after = {p: _digest(p) for p in protected}
    changed = [str(p) for p in protected if before[p] != after[p]]
    if changed:
        status, message = "destroyed", f"changed: {changed}; {message}"
    return Outcome(case, status, message[:500], detail)


# ---------------------------------------------------------------------------------------------------
# shared inputs (built once per battery run)


def build_context(root: Path) -> dict:
    """Small valid inputs the cases corrupt: a trajectory store, a trained tiny run, gridded data."""
    import torch

    torch.set_num_threads(1)
    ctx: dict[str, Any] = {"root": root}
    traj = root / "lorenz.zarr"
    rc, err = _cli(["generate", "--system", "Lorenz", "--trajectories", "2", "--length", "400",
                    "--out", str(traj), "--quiet"])  # fmt: skip
    assert rc == 0, err
    ctx["traj"] = str(traj)
    traj_nc = root / "lorenz.nc"
    rc, err = _cli(["generate", "--system", "Lorenz", "--trajectories", "1", "--length", "200",
                    "--out", str(traj_nc), "--quiet"])  # fmt: skip
    assert rc == 0, err
    ctx["traj_nc"] = str(traj_nc)
    config = root / "tiny.yaml"
    config.write_text(_tiny_config(traj))
    ctx["config"] = str(config)
    run = root / "run"
    rc, err = _cli(["train", str(config), "--out", str(run)])
    assert rc == 0, err
    ctx["run"] = str(run)
    return ctx


def _tiny_config(data: Path, hidden: int = 8, extra_model: str = "") -> str:
    return textwrap.dedent(
        f"""\
        model:
          name: shplrnn
          config: {{latent_dim: 3, hidden_dim: {hidden}{extra_model}}}
        data: {{kind: trajectories, path: {data}, train_fraction: 1.0, standardize: true}}
        task:
          kind: gtf
          gtf: {{sequence_length: 20}}
        optimizer: {{name: radam, lr: 1.0e-3}}
        train: {{steps: 4, batch_size: 4, checkpoint_every: 2, log_every: 2}}
        """
    )


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def _copy_run(tmp: Path, ctx: dict, name: str = "run") -> Path:
    import shutil

    dst = tmp / name
    shutil.copytree(ctx["run"], dst)
    return dst


def _bad_checkpoint(kind: str) -> Callable[[Path, dict], None]:
    """Replace ``model.pt`` of a copy of the tiny run with a bad file."""

    def setup(tmp: Path, ctx: dict) -> None:
        run = _copy_run(tmp, ctx)
        target = run / "model.pt"
        good = target.read_bytes()
        data = {
            "yaml": b"model: {name: fno}\nstate: 1\n",
            "text": b"this is not a checkpoint\n",
            "random": np.random.default_rng(0).bytes(4096),
            "truncated": good[: len(good) // 2],
            "empty": b"",
        }[kind]
        target.write_bytes(data)

    return setup


def _bad_last(kind: str) -> Callable[[Path, dict], None]:
    def setup(tmp: Path, ctx: dict) -> None:
        run = _copy_run(tmp, ctx)
        last = run / "checkpoints" / "last.pt"
        good = last.read_bytes()
        last.write_bytes(
            good[: len(good) // 3] if kind == "truncated" else np.random.default_rng(1).bytes(999)
        )

    return setup


def _gridded_truth(n_time: int = 6, seed: int = 0):
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(seed)
    lat = np.linspace(90, -90, 7)
    lon = np.arange(12) * 30.0
    times = pd.date_range("2022-01-01", periods=n_time, freq="D")
    return xr.Dataset(
        {
            "z": (
                ("time", "latitude", "longitude"),
                rng.normal(5e4, 100, (n_time, 7, 12)),
                {"units": "m**2 s**-2"},
            )
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
    )


def _gridded_forecast(n_init: int = 3, n_lead: int = 2, seed: int = 1, inits=None):
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(seed)
    truth = _gridded_truth()
    init = pd.DatetimeIndex(inits) if inits is not None else truth.time.values[:n_init]
    lead = pd.to_timedelta(np.arange(1, n_lead + 1), "D")
    fc = xr.Dataset(
        {
            "z": (
                ("init_time", "lead_time", "latitude", "longitude"),
                rng.normal(5e4, 100, (len(init), n_lead, 7, 12)),
            )
        },  # fmt: skip
        coords={
            "init_time": init,
            "lead_time": lead,
            "latitude": truth.latitude,
            "longitude": truth.longitude,
        },
    )
    return fc.assign_coords(valid_time=fc.init_time + fc.lead_time)


def _rmse(fc, truth):
    from physics_metrics.weather import rmse_wb2
    from physics_metrics.weather.deterministic import align_truth

    return rmse_wb2(fc["z"], align_truth(fc["z"], truth["z"])).compute()


def _scorecard(fc, truth, **kw):
    from physics_metrics.weather import scorecard

    kw.setdefault("metrics", ("rmse", "bias"))
    return scorecard(fc, truth, **kw)


# ---------------------------------------------------------------------------------------------------
# the cases


def cases() -> list[Case]:
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

    # --- systems (API) ------------------------------------------------------------------------------
    def system(name, **kw):
        def run(tmp, ctx):
            from chaosbench_py.systems import get_system

            return get_system(name, **kw)

        return run

    add("system-param-nan", "api systems", system("Lorenz", sigma=float("nan")), ["sigma"])
    add("system-param-text", "api systems", system("Lorenz", sigma="ten"), ["sigma"])
    add("system-param-unknown", "api systems", system("Lorenz", nosuch=1.0), ["nosuch"])
    add("system-param-none", "api systems", system("Lorenz", rho=None), ["rho"])
    add("system-unknown", "api systems", system("Lorentz"), ["Lorentz"])
    add("system-l96-dim-1", "api systems", system("Lorenz96", dim=1), ["dim"])

    def gen(n_traj, length, **kw):
        def run(tmp, ctx):
            from chaosbench_py.simulate import generate_trajectories
            from chaosbench_py.systems import get_system

            params = kw.pop("params", {})
            return generate_trajectories(get_system("Lorenz", **params), n_traj, length, progress=False, **kw)

        return run

    add("api-gen-traj-0", "api generate", gen(0, 50), ["trajectories"])
    add("api-gen-length-0", "api generate", gen(2, 0), ["length"])
    add("api-gen-chunk-0", "api generate", gen(2, 50, chunk=0), ["chunk"])
    add("api-gen-atol-0", "api generate", gen(2, 50, atol=0.0), ["atol"])
    add("api-gen-method", "api generate", gen(2, 50, method="euler9"), ["euler9"])
    add("api-gen-diverges", "api generate", gen(2, 200, params={"beta": -20.0}), ["Lorenz"], timeout=90)

    def save_over(tmp, ctx):
        from chaosbench_py.simulate import open_trajectories, save_trajectories

        ds = open_trajectories(ctx["traj_nc"]).load()
        save_trajectories(ds, tmp / "keep.nc")

    add(
        "api-save-trajectories-exists",
        "api generate",
        save_over,
        ["keep.nc"],
        setup=lambda t, c: _write(t / "keep.nc", b"precious"),
        protect=lambda t, c: [t / "keep.nc"],
    )

    def open_traj(name):
        def run(tmp, ctx):
            from chaosbench_py.simulate import open_trajectories

            return open_trajectories(tmp / name)

        return run

    add(
        "api-open-trajectories-random",
        "api generate",
        open_traj("r.nc"),
        ["r.nc"],
        setup=lambda t, c: _write(t / "r.nc", np.random.default_rng(4).bytes(500)),
    )
    add("api-open-trajectories-missing", "api generate", open_traj("gone.zarr"), ["gone.zarr"])
    add(
        "api-open-trajectories-not-trajectories",
        "api generate",
        open_traj("g.zarr"),
        ["g.zarr"],
        setup=lambda t, c: _gridded_truth().to_zarr(t / "g.zarr"),
    )

    # --- ERA5 loaders -------------------------------------------------------------------------------
    def era5(name, **kw):
        def run(tmp, ctx):
            from chaosbench_py.data import open_era5

            return open_era5(tmp / name, **kw)

        return run

    add("era5-missing", "api loaders", era5("nothing.nc"), ["nothing.nc"])
    add(
        "era5-random-nc",
        "api loaders",
        era5("rand.nc"),
        ["rand.nc"],
        setup=lambda t, c: _write(t / "rand.nc", np.random.default_rng(5).bytes(4096)),
    )
    add("era5-truncated-nc", "api loaders", era5("trunc.nc"), ["trunc.nc"], setup=_truncated_netcdf)
    add(
        "era5-empty-zarr-folder",
        "api loaders",
        era5("e.zarr"),
        ["e.zarr"],
        setup=lambda t, c: (t / "e.zarr").mkdir(),
    )
    add(
        "era5-zarr-no-latitude",
        "api loaders",
        era5("nolat.zarr", layout="weatherbench2"),
        ["latitude"],
        setup=lambda t, c: _gridded_truth().rename(latitude="y").to_zarr(t / "nolat.zarr"),
    )
    add(
        "era5-zero-length-time",
        "api loaders",
        era5("t0.zarr", layout="weatherbench2"),
        ["time"],
        setup=lambda t, c: _gridded_truth().isel(time=slice(0, 0)).to_zarr(t / "t0.zarr"),
    )
    add(
        "era5-duplicate-times",
        "api loaders",
        era5("dup.zarr", layout="weatherbench2"),
        ["time"],
        setup=lambda t, c: _duplicate_time_store(t / "dup.zarr"),
    )
    add("era5-bad-layout", "api loaders", era5("x.zarr", layout="grib9"), ["grib9"])
    add("chaosbench-impossible-date", "api loaders", _chaosbench_impossible_date, ["20230230"])
    add("chaosbench-corrupt-day", "api loaders", _chaosbench_corrupt_day, ["20230102"])

    # --- forecast writer ----------------------------------------------------------------------------
    add(
        "writer-foreign-store",
        "api writer",
        _writer_on_foreign_store,
        ["fc.zarr"],
        setup=lambda t, c: _gridded_forecast().to_zarr(t / "fc.zarr"),
        protect=lambda t, c: [t / "fc.zarr"],
    )
    add("writer-numpy-str-leads", "api writer", _writer_numpy_str_leads, expect="ok")
    add("writer-bad-lead", "api writer", _writer_bad_lead, ["banana"])
    add(
        "writer-resume-other-grid",
        "api writer",
        _writer_resume_other_grid,
        ["w.zarr"],
        setup=_writer_make_store,
        protect=lambda t, c: [t / "w.zarr"],
    )

    # --- weather metrics ----------------------------------------------------------------------------
    def inf_forecast(tmp, ctx):
        fc = _gridded_forecast()
        fc["z"][0, 0, 0, 0] = np.inf
        return _rmse(fc, _gridded_truth())

    def nan_forecast(tmp, ctx):
        fc = _gridded_forecast()
        fc["z"][1, 0, 2, 3] = np.nan
        return _rmse(fc, _gridded_truth())

    def inf_truth(tmp, ctx):
        truth = _gridded_truth()
        truth["z"][2, 1, 1] = -np.inf
        return _rmse(_gridded_forecast(), truth)

    def zero_inits(tmp, ctx):
        return _rmse(_gridded_forecast().isel(init_time=slice(0, 0)), _gridded_truth())

    def dup_inits(tmp, ctx):
        truth = _gridded_truth()
        t = truth.time.values
        return _scorecard(_gridded_forecast(inits=[t[0], t[0], t[1]]), truth)

    def grid_mismatch(tmp, ctx):
        truth = _gridded_truth()
        truth = truth.assign_coords(latitude=truth.latitude + 0.5)
        return _scorecard(_gridded_forecast(), truth)

    def missing_var(tmp, ctx):
        truth = _gridded_truth().rename(z="geopotential_x")
        return _scorecard(_gridded_forecast(), truth)

    def unknown_metric(tmp, ctx):
        return _scorecard(_gridded_forecast(), _gridded_truth(), metrics=("rmse", "rmsee"))

    def acc_no_clim(tmp, ctx):
        return _scorecard(_gridded_forecast(), _gridded_truth(), metrics=("acc",))

    def crps_no_members(tmp, ctx):
        from physics_metrics.weather import crps_ensemble
        from physics_metrics.weather.deterministic import align_truth

        fc = _gridded_forecast()
        return crps_ensemble(fc["z"], align_truth(fc["z"], _gridded_truth()["z"]))

    def sc_inf(tmp, ctx):
        fc = _gridded_forecast()
        fc["z"][2, 1, 3, 3] = np.inf
        return _scorecard(fc, _gridded_truth())

    def truth_too_short(tmp, ctx):
        return _scorecard(_gridded_forecast(n_lead=2), _gridded_truth(n_time=2))

    add("metric-inf-forecast", "api metrics", inf_forecast, ["z"])
    add("metric-nan-forecast", "api metrics", nan_forecast, ["z"])
    add("metric-inf-truth", "api metrics", inf_truth, ["z"])
    add("metric-zero-inits", "api metrics", zero_inits, ["init_time"])
    add("scorecard-duplicate-inits", "api metrics", dup_inits, ["init_time"])
    add("scorecard-grid-mismatch", "api metrics", grid_mismatch, ["latitude"])
    add("scorecard-missing-variable", "api metrics", missing_var, ["z"])
    add("scorecard-unknown-metric", "api metrics", unknown_metric, ["rmsee"])
    add("scorecard-acc-without-climatology", "api metrics", acc_no_clim, ["climatology"])
    add("scorecard-inf", "api metrics", sc_inf, ["z"])
    add("scorecard-truth-too-short", "api metrics", truth_too_short, ["time"])
    add("crps-without-members", "api metrics", crps_no_members, ["member"])

    # --- dynamical metrics --------------------------------------------------------------------------
    def pm(fn_name, *args, **kw):
        def run(tmp, ctx):
            import physics_metrics

            return getattr(physics_metrics, fn_name)(*args, **kw)

        return run

    rng = np.random.default_rng(7)
    x3 = rng.normal(size=(500, 3))
    x2 = rng.normal(size=(500, 2))
    xnan = x3.copy()
    xnan[10, 1] = np.nan
    xinf = x3.copy()
    xinf[3, 0] = np.inf

    def lorenz_rhs(t, x):
        s, r, b = 10.0, 28.0, 8.0 / 3.0
        import torch

        return torch.stack([s * (x[..., 1] - x[..., 0]), x[..., 0] * (r - x[..., 2]) - x[..., 1],
                            x[..., 0] * x[..., 1] - b * x[..., 2]], -1)  # fmt: skip

    add("dstsp-dim-mismatch", "api dynamics", pm("state_space_divergence_binned", x3, x2), ["dim"])
    add("dstsp-nan", "api dynamics", pm("state_space_divergence_binned", x3, xnan), ["nan"])
    add("dstsp-inf", "api dynamics", pm("state_space_divergence_binned", xinf, x3), ["inf"])
    add("dstsp-gmm-nan", "api dynamics", pm("state_space_divergence_gmm", x3, xnan), ["nan"])
    add("dh-inf", "api dynamics", pm("power_spectrum_hellinger", x3, xinf), ["inf"])
    add("dh-too-short", "api dynamics", pm("power_spectrum_hellinger", x3[:1], x3[:1]), ["time"])
    add("smape-shape", "api dynamics", pm("smape", x3, x3[:400]), ["length"])
    add("vpt-shape", "api dynamics", pm("valid_prediction_time", x3, x2), ["dim"])
    add(
        "lyap-n-exponents-too-many",
        "api dynamics",
        pm("lyapunov_spectrum_flow", lorenz_rhs, np.ones(3), dt=0.01, n_steps=100, n_exponents=5),
        ["n_exponents"],
    )
    add(
        "lyap-x0-nan",
        "api dynamics",
        pm("lyapunov_spectrum_flow", lorenz_rhs, np.array([1.0, np.nan, 1.0]), dt=0.01, n_steps=100),
        ["x0"],
    )
    add(
        "lyap-dt-neg",
        "api dynamics",
        pm("lyapunov_spectrum_flow", lorenz_rhs, np.ones(3), dt=-0.01, n_steps=100),
        ["dt"],
    )
    add(
        "lyap-map-steps-0",
        "api dynamics",
        pm("lyapunov_spectrum_map", _halve, np.ones(2), n_steps=0),
        ["n_steps"],
    )
    add("ky-empty", "api dynamics", pm("kaplan_yorke_dimension", []), ["empty"])
    add("ky-nan", "api dynamics", pm("kaplan_yorke_dimension", [0.9, float("nan"), -14.0]), ["nan"])
    add("perm-entropy-order-0", "api dynamics", pm("permutation_entropy", x3[:, 0], order=0), ["order"])
    add("delay-embed-tau-0", "api dynamics", pm("delay_embed", x3[:, 0], 3, 0), ["delay"])
    add(
        "corr-dim-constant",
        "api dynamics",
        pm("correlation_dimension", np.ones((500, 3)), theiler_window=10),
        ["x", "coincide"],
    )
    add("mmd-dim-mismatch", "api dynamics", pm("maximum_mean_discrepancy", x3, x2), ["dim"])
    add("smape-empty", "api dynamics", pm("smape", np.empty((0, 3)), np.empty((0, 3))), ["y_true"])

    # --- emulators ----------------------------------------------------------------------------------
    def em(fn):
        def run(tmp, ctx):
            import emulators

            return fn(emulators, tmp)

        return run

    add("model-unknown", "api emulators", em(lambda e, t: e.build_model("fnoo", {})), ["fnoo"])
    add(
        "model-config-typo",
        "api emulators",
        em(lambda e, t: e.build_model("fno", {"hiden_channels": 3})),
        ["hiden_channels"],
    )
    add(
        "model-config-negative",
        "api emulators",
        em(lambda e, t: e.build_model("shplrnn", {"obs_dim": 3, "latent_dim": 3, "hidden_dim": -4})),
        ["hidden_dim"],
    )
    for kind in ("yaml", "text", "random", "truncated", "empty"):
        add(f"load-model-{kind}", "api emulators",
            (lambda tmp, ctx: __import__("emulators").load_model(tmp / "run" / "model.pt")), ["model.pt"],
            setup=_bad_checkpoint(kind))  # fmt: skip
    add("load-model-folder", "api emulators", em(lambda e, t: e.load_model(t)), ["folder"])
    add("load-model-format-999", "api emulators", _load_future_format, ["999"])
    add("fno-wrong-channels", "api emulators", _fno_wrong_channels, ["channel"])
    add("plrnn-wrong-dim", "api emulators", _plrnn_wrong_dim, ["3"])

    # --- training API -------------------------------------------------------------------------------
    def load_cfg(tmp, ctx):
        from chaosbench_py.training import load_run_config

        return load_run_config(tmp / "absent.yaml")

    add("api-load-config-missing", "api training", load_cfg, ["absent.yaml"])

    def trainer_existing(tmp, ctx):
        from chaosbench_py.training import Trainer, load_run_config

        _copy_run(tmp, ctx)
        Trainer(load_run_config(ctx["config"]), tmp / "run").fit()

    add(
        "api-trainer-existing-run", "api training", trainer_existing, ["run"], protect=lambda t, c: []
    )  # protection checked by the CLI case; here the error must name the folder

    def evaluate_existing(tmp, ctx):
        from chaosbench_py.evaluation import evaluate_run

        _write(tmp / "ev" / "dynamics.json", "{}")
        evaluate_run(ctx["run"], tmp / "ev")

    add("api-evaluate-existing-out", "api evaluation", evaluate_existing, ["ev"])

    return C


# --- case bodies too long for a lambda ------------------------------------------------------------------


def _truncated_netcdf(tmp: Path, ctx: dict) -> None:
    src = _gridded_truth()
    src.to_netcdf(tmp / "full.nc")
    data = (tmp / "full.nc").read_bytes()
    _write(tmp / "trunc.nc", data[: len(data) // 2])


def _duplicate_time_store(path: Path) -> None:
    import xarray as xr

    t = _gridded_truth()
    xr.concat([t.isel(time=[0, 1]), t.isel(time=[1, 2])], "time").to_zarr(path)


def _chaosbench_day(tmp: Path, name: str):
    t = _gridded_truth(n_time=1).isel(time=0, drop=True)
    t = t.expand_dims(level=[500]).transpose("level", "latitude", "longitude")
    folder = tmp / "cb" / "era5"
    folder.mkdir(parents=True, exist_ok=True)
    t.to_zarr(folder / name, zarr_format=2, consolidated=True)
    return folder


def _chaosbench_impossible_date(tmp: Path, ctx: dict):
    from chaosbench_py.data import open_era5

    _chaosbench_day(tmp, "era5_full_1.5deg_20230101.zarr")
    _chaosbench_day(tmp, "era5_full_1.5deg_20230230.zarr")
    return open_era5(tmp / "cb", layout="chaosbench", variables=["z"]).load()


def _chaosbench_corrupt_day(tmp: Path, ctx: dict):
    import shutil

    from chaosbench_py.data import open_era5

    folder = _chaosbench_day(tmp, "era5_full_1.5deg_20230101.zarr")
    _chaosbench_day(tmp, "era5_full_1.5deg_20230102.zarr")
    bad = folder / "era5_full_1.5deg_20230102.zarr"
    shutil.rmtree(bad)
    bad.mkdir()
    _write(bad / ".zmetadata", "{broken")
    return open_era5(tmp / "cb", layout="chaosbench", variables=["z"]).load()


def _writer_args(**over):
    truth = _gridded_truth()
    args = dict(variables=["z"], levels=None, latitude=truth.latitude.values, longitude=truth.longitude.values,
                lead_times=["1D", "2D"], surface_variables=["z"])  # fmt: skip
    args.update(over)
    return args


def _writer_on_foreign_store(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    w = ForecastWriter(tmp / "fc.zarr", **_writer_args())
    return w


def _writer_numpy_str_leads(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    return ForecastWriter(tmp / "ok.zarr", **_writer_args(lead_times=np.array(["1D", "2D"])))


def _writer_bad_lead(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    return ForecastWriter(tmp / "bad.zarr", **_writer_args(lead_times=["1D", "banana"]))


def _writer_make_store(tmp: Path, ctx: dict) -> None:
    from chaosbench_py.data import ForecastWriter

    fc = _gridded_forecast(n_init=1)
    w = ForecastWriter(tmp / "w.zarr", **_writer_args())
    w.write(fc.init_time.values[0], {"z": fc["z"].isel(init_time=0).values})


def _writer_resume_other_grid(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    return ForecastWriter(tmp / "w.zarr", **_writer_args(longitude=np.arange(24) * 15.0))


def _halve(x):
    return 0.5 * x


def _load_future_format(tmp: Path, ctx: dict):
    import torch

    import emulators

    payload = torch.load(Path(ctx["run"]) / "model.pt", weights_only=True)
    payload["format"] = 999
    torch.save(payload, tmp / "future.pt")
    return emulators.load_model(tmp / "future.pt")


def _fno_wrong_channels(tmp: Path, ctx: dict):
    import torch

    import emulators

    m = emulators.build_model(
        "fno", {"in_channels": 3, "out_channels": 3, "n_modes": [2, 2], "hidden_channels": 4, "n_layers": 1}
    )
    return m(torch.zeros(1, 5, 8, 16))


def _plrnn_wrong_dim(tmp: Path, ctx: dict):
    import torch

    import emulators

    m = emulators.build_model("shplrnn", {"obs_dim": 3, "latent_dim": 3, "hidden_dim": 8})
    return m(torch.zeros(2, 5), 10)  # z0 must be (batch, latent_dim=3)


# ---------------------------------------------------------------------------------------------------


def run_battery(root: Path, only: list[str] | None = None, verbose: bool = False) -> list[Outcome]:
    root.mkdir(parents=True, exist_ok=True)
    ctx = build_context(root / "context")
    outcomes = []
    for i, case in enumerate(cases()):
        if only and not any(o in case.id for o in only):
            continue
        tmp = root / f"case{i:03d}"
        tmp.mkdir()
        out = classify(case, tmp, ctx)
        outcomes.append(out)
        if verbose or out.status != "clear":
            print(f"{out.status:9s} {case.id:40s} {out.message[:200]!r}", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile
    from collections import Counter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="run the cases whose id contains one of these")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        outcomes = run_battery(Path(d), args.only, args.verbose)
    counts = Counter(o.status for o in outcomes)
    by_entry: dict[str, Counter] = {}
    for o in outcomes:
        by_entry.setdefault(o.case.entry, Counter())[o.status] += 1
    print(f"\n{len(outcomes)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for entry, c in sorted(by_entry.items()):
        print(f"  {entry:16s} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    return 0 if counts.get("clear", 0) == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
