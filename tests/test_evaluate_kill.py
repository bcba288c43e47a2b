"""``chaosbench evaluate`` killed with SIGKILL at write points, then ``--resume``: the same files as an
uninterrupted run, and never a partial evaluation visible at ``--out``.

The kill points are the writes of an evaluation: every ``os.replace`` (atomic files, the final
publish), ``shutil.rmtree``, ``Dataset.to_zarr`` (a forecast init's arrays), ``Dataset.to_netcdf`` (a
scorecard) and zarr attribute updates (a forecast init's commit). A small wrapper installs counters on
those functions while ``evaluate_run`` runs and sends itself SIGKILL at the N-th one, then runs
``python -m chaosbench_py evaluate`` as usual.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from kill_points import kill_hook

from chaosbench_py.data import open_forecast

REPO = Path(__file__).resolve().parents[1]
TEST = ["--test", "2001-01-10", "2001-01-12"]
OPTIONS = ["--n-inits", "3", "--steps", "2", "--climatology", "mean", *TEST]

# Counts write events while evaluate_run runs (tests/kill_points.py).
HOOK = kill_hook("chaosbench_py.evaluation.pipeline", "evaluate_run", ["chaosbench_py.evaluation"])


def _store(path: Path, n_times: int = 48) -> Path:
    """Canonical gridded zarr: z at two levels and t2m, a pattern moving east one cell per 6 h step."""
    lat = np.linspace(90.0, -90.0, 9)
    lon = np.arange(0.0, 360.0, 22.5)
    time = pd.date_range("2001-01-01", periods=n_times, freq="6h").values
    t = np.arange(n_times)[:, None, None]
    pattern = np.cos(np.deg2rad(lat))[None, :, None] * np.sin(
        3 * (2 * np.pi * lon / 360.0 - t * 2 * np.pi / 16)
    )
    z = np.stack([50000 + 500 * pattern, 14000 + 300 * pattern], axis=1).astype(np.float32)
    ds = xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), z, {"units": "m**2 s**-2"}),
            "t2m": (
                ("time", "latitude", "longitude"),
                (280 + 5 * pattern).astype(np.float32),
                {"units": "K"},
            ),
        },
        coords={"time": time, "level": np.array([500, 850]), "latitude": lat, "longitude": lon},
    )
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


def train_tiny_run(root: Path) -> Path:
    """A 2-step FNO run on a small advected pattern (about a second on one core)."""
    from chaosbench_py.training.trainer import Trainer

    store = _store(root / "adv.zarr")
    cfg = {
        "model": {"name": "fno", "config": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2, "residual": True}},
        "data": {"kind": "gridded", "path": str(store), "variables": ["z", "t2m"],
                 "train": ["2001-01-01", "2001-01-09"], "valid": ["2001-01-10", "2001-01-12"]},
        "task": {"kind": "next_step", "rollout_steps": 1},
        "optimizer": {"name": "adamw", "lr": 3e-3},
        "schedule": {"name": "cosine", "warmup_steps": 1},
        "train": {"steps": 2, "batch_size": 4, "checkpoint_every": 0, "log_every": 1, "progress": False},
    }  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(cfg, root / "run").fit()
    finally:
        torch.set_num_threads(threads)
    return root / "run"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(run folder, baseline evaluation folder) — the baseline evaluated in this process, uninterrupted."""
    from chaosbench_py.evaluation import evaluate_run

    root = tmp_path_factory.mktemp("evalkill")
    run = train_tiny_run(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        evaluate_run(run, root / "baseline", n_inits=3, n_steps=2, climatology="mean", test=TEST[1:])
    finally:
        torch.set_num_threads(threads)
    return run, root / "baseline"


def _evaluate(run: Path, out: Path, *extra: str, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "KILL_AT": kill_at}
    cmd = [sys.executable, "-c", HOOK, "evaluate", str(run), "--out", str(out), *OPTIONS, *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _assert_nothing_partial_visible(out: Path, baseline: Path) -> None:
    """``out`` is absent, or it is a complete evaluation (every file of the baseline is there)."""
    if out.exists():
        assert (out / "evaluation.json").exists(), f"partial evaluation visible: {_files(out)}"
        assert set(_files(baseline)) <= set(_files(out))


def _assert_same_evaluation(out: Path, baseline: Path) -> None:
    assert _files(out) == _files(baseline)
    assert (out / "scores.csv").read_bytes() == (baseline / "scores.csv").read_bytes()
    assert json.loads((out / "evaluation.json").read_text()) == json.loads(
        (baseline / "evaluation.json").read_text()
    )
    for name in ("model", "persistence", "climatology"):
        xr.testing.assert_identical(
            xr.load_dataset(out / "scorecards" / f"{name}.nc"),
            xr.load_dataset(baseline / "scorecards" / f"{name}.nc"),
        )
    a, b = open_forecast(out / "forecast.zarr"), open_forecast(baseline / "forecast.zarr")
    xr.testing.assert_identical(a.load(), b.load())
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not leftovers, f"hidden left-overs beside {out}: {leftovers}"


def _kill_then_resume(run: Path, out: Path, baseline: Path, kill_points: list[str]) -> list[int]:
    """One launch killed at each point in turn (each resuming the last), then a resume to the end."""
    codes = []
    for i, point in enumerate(kill_points):
        proc = _evaluate(run, out, *(["--resume"] if i else []), kill_at=point)
        codes.append(proc.returncode)
        assert proc.returncode in (-signal.SIGKILL, 0), proc.stderr[-3000:]
        _assert_nothing_partial_visible(out, baseline)
    proc = _evaluate(run, out, "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same_evaluation(out, baseline)
    return codes


def test_killed_three_times_then_resumed_equals_uninterrupted(tmp_path, tiny):
    run, baseline = tiny
    # 1: the 2nd forecast init's arrays are written but not committed; 2: the model's scorecard is written,
    # the references' are not; 3: the evaluation was published, the old-folder clean-up not yet run
    codes = _kill_then_resume(run, tmp_path / "ev", baseline, ["update:2", "to_netcdf:2", "rmtree:1"])
    assert codes == [-signal.SIGKILL] * 3


def test_resume_refuses_another_request_and_overwrite_replaces(tmp_path, tiny, monkeypatch):
    """In-process: an evaluation interrupted by an exception after its forecast was written."""
    import chaosbench_py.evaluation.pipeline as pipeline
    from chaosbench_py.errors import OutputExistsError
    from chaosbench_py.evaluation import evaluate_run

    run, baseline = tiny
    out = tmp_path / "ev"
    kw = dict(n_inits=3, n_steps=2, climatology="mean", test=TEST[1:])

    def interrupted(*a, **k):
        raise RuntimeError("interrupted")

    with monkeypatch.context() as m:
        m.setattr(pipeline, "scorecards_to_csv", interrupted)
        with pytest.raises(RuntimeError, match="interrupted"):
            evaluate_run(run, out, **kw)
    assert not out.exists() and (tmp_path / ".ev.partial" / "forecast.zarr").exists()
    with pytest.raises(
        OutputExistsError,
        match=r"\.ev\.partial: the interrupted evaluation was of another request \(seed: 0 there, 3 now",
    ):
        evaluate_run(run, out, resume=True, **kw, seed=3)
    with pytest.raises(
        OutputExistsError, match=r"\.ev\.partial: an interrupted evaluation for .*ev exists; pass resume=True"
    ):
        evaluate_run(run, out, **kw)
    evaluate_run(run, out, overwrite=True, **kw)
    _assert_same_evaluation(out, baseline)
    with pytest.raises(OutputExistsError, match=rf"{out}: exists and is not empty"):
        evaluate_run(run, out, **kw)
    with pytest.raises(OutputExistsError, match=r"holds an evaluation of another request"):
        evaluate_run(run, out, resume=True, **{**kw, "n_steps": 1})
    assert evaluate_run(run, out, resume=True, **kw) == out / "evaluation.json"  # complete: nothing to do
    _assert_same_evaluation(out, baseline)


@pytest.mark.slow
def test_killed_at_every_write_point_then_resumed_equals_uninterrupted(tmp_path, tiny):
    run, baseline = tiny
    full = _evaluate(run, tmp_path / "count")
    assert full.returncode == 0, full.stderr[-3000:]
    n_events = int(full.stderr.split("EVENTS ")[-1].split()[0])
    assert n_events >= 20, n_events
    for k in range(1, n_events + 1):
        out = tmp_path / f"ev{k}"
        codes = _kill_then_resume(run, out, baseline, [str(k)])
        assert codes == [-signal.SIGKILL], k
        shutil.rmtree(out)


# ------------------------------------------------------------------------------------ bad inputs, in-process
def test_evaluate_options_checked_before_any_work(tmp_path):
    from chaosbench_py.errors import InputError
    from chaosbench_py.evaluation import evaluate_run

    for kwargs, named in (({"n_inits": 0}, "n_inits=0"), ({"n_steps": -2}, "n_steps=-2"), ({"members": 0}, "members=0"),
                          ({"perturbation_std": 0.1}, "perturbation_std: > 0 needs members > 1"),
                          ({"time_step": float("nan")}, "time_step=nan"),
                          ({"true_spectrum": [0.9, float("inf")]}, "true_spectrum=")):  # fmt: skip
        with pytest.raises(InputError, match=named):
            evaluate_run(tmp_path / "no_run", tmp_path / "ev", **kwargs)
    assert not (tmp_path / "ev").exists()


def test_evaluate_output_is_a_file(tmp_path, tiny):
    from chaosbench_py.errors import OutputExistsError
    from chaosbench_py.evaluation import evaluate_run

    run, _ = tiny
    (tmp_path / "ev").write_text("notes")
    with pytest.raises(OutputExistsError, match=r"ev: exists and is a file"):
        evaluate_run(run, tmp_path / "ev", n_inits=3, n_steps=2, test=TEST[1:])
    assert (tmp_path / "ev").read_text() == "notes"


def test_cli_evaluate_true_spectrum_text(tmp_path, tiny, capsys):
    from chaosbench_py.cli import main

    run, _ = tiny
    assert main(["evaluate", str(run), "--out", str(tmp_path / "ev"), "--true-spectrum", "a,b"]) == 2
    assert "--true-spectrum 'a,b': expected comma-separated numbers" in capsys.readouterr().err


def test_report_refuses_existing_output_and_reads_bad_records_clearly(tmp_path, tiny, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from chaosbench_py.cli import main
    from chaosbench_py.errors import CorruptFileError, MissingInputError, OutputExistsError
    from chaosbench_py.evaluation import build_report, read_dynamics_evaluation
    from chaosbench_py.report import Report

    _, baseline = tiny
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "notes.txt").write_text("mine")
    assert main(["report", str(baseline), "--out", str(rep)]) == 2
    assert f"{rep}: exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert main(["report", str(baseline), "--out", str(rep), "--overwrite"]) == 0
    assert (rep / "report.md").exists() and (rep / "notes.txt").read_text() == "mine"
    figures = sorted(p.name for p in (rep / "figures").iterdir())
    assert figures and all(not n.startswith(".") for n in figures)
    report = Report("again", rep)  # a small report into the same folder: refused, then replaces it whole
    report.text("nothing else")
    with pytest.raises(OutputExistsError, match=r"report.md: exists"):
        report.write()
    assert report.write(overwrite=True) == rep / "report.md"
    assert not (rep / "figures").exists() and "nothing else" in (rep / "report.md").read_text()

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dynamics.json").write_text("{not json")
    with pytest.raises(
        MissingInputError, match=r"no evaluation at .*evaluation.json.*holds \['dynamics.json'\]"
    ):
        build_report(bad)
    with pytest.raises(CorruptFileError, match=r"dynamics.json: not a dynamics evaluation file"):
        read_dynamics_evaluation(bad / "dynamics.json")
    (bad / "evaluation.json").write_text("[1, 2]")
    with pytest.raises(CorruptFileError, match=r"evaluation.json: not an evaluation record"):
        build_report(bad)
