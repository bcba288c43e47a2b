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
# the cases (two modules beside this one: the CLI's and the Python API's)


def cases() -> list[Case]:
    """Every case: the CLI's (tests/bad_input_cases_cli.py), then the Python API's (bad_input_cases_api.py)."""
    from bad_input_cases_api import api_cases
    from bad_input_cases_cli import cli_cases

    return cli_cases() + api_cases()


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
    # the case modules import this file as ``bad_input_battery``: let them see this very module (one CLIFailure)
    sys.modules.setdefault("bad_input_battery", sys.modules[__name__])
    sys.exit(main())
