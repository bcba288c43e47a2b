"""``chaosbench generate`` killed with SIGKILL, then ``--resume``: the same store, bit for bit, as an
uninterrupted run, and never a partial output visible at ``--out``.

The kill points are the writes of a chunked generation: ``Dataset.to_zarr`` (a block's arrays),
zarr attribute updates (a block's commit: ``samples_written`` and the state to resume from; the
final ``generation_status``), ``os.replace`` (every file zarr writes, the first block's store moved
into place, the publication of the finished store), ``shutil.rmtree`` and the publication itself. A small wrapper counts those calls while
``generate_to_store`` runs and sends itself SIGKILL *before* the chosen one, then runs
``python -m chaosbench_py generate`` as usual. The default test kills at three such points in turn;
the ``slow`` test at 24 random points (Lorenz), half of them at a random wall-clock time instead.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kill_points import kill_hook

from chaosbench_py.simulate import generate_to_store, open_trajectories

REPO = Path(__file__).resolve().parents[1]
# 3 trajectories, 1 + 5 blocks of 40 samples (a store of 201 samples); noise makes the noise streams part
# of what must match. The default test uses the Hénon map (cheap, so the four launches stay near 20 s on
# two busy cores); the slow one the Lorenz flow (the adaptive solver resumed mid-run).
COMMON = dict(n_trajectories=3, length=201, chunk=40, transient=1.0, noise=0.05, seed=3)
SYSTEMS = {"Henon": {}, "Lorenz": {"pts_per_period": 20}}


def _cli_args(system: str) -> list[str]:
    args = ["generate", "--system", system, "--quiet"]
    for key, value in {**COMMON, **SYSTEMS[system]}.items():
        flag = "--trajectories" if key == "n_trajectories" else "--" + key.replace("_", "-")
        args += [flag, str(value)]
    return args


# Counts write events while generate_to_store runs (tests/kill_points.py).
HOOK = kill_hook(
    "chaosbench_py.simulate.store",
    "generate_to_store",
    ["chaosbench_py.simulate"],
    '(entry, "_publish", "publish"),',
)


def _generate(
    system: str, out: Path, *extra: str, kill_at: str = "", kill_after_s: float | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "KILL_AT": kill_at}
    cmd = [sys.executable, "-c", HOOK, *_cli_args(system), "--out", str(out), *extra]
    if kill_after_s is None:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=kill_after_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err)


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _reference(system: str, folder: Path):
    """The uninterrupted run, in this process."""
    path = folder / f"ref_{system}.zarr"
    generate_to_store(path, system, **COMMON, **SYSTEMS[system])
    return open_trajectories(path).load()


def _assert_identical(out: Path, reference) -> None:
    back = open_trajectories(out)
    np.testing.assert_array_equal(back["x"].values, reference["x"].values)
    np.testing.assert_array_equal(back["time"].values, reference["time"].values)
    drop = {"created"}
    assert {k: v for k, v in back.attrs.items() if k not in drop} == {
        k: v for k, v in reference.attrs.items() if k not in drop
    }


def _kill_then_resume(system: str, out: Path, kill_points: list[str]) -> list[int]:
    codes = []
    for i, point in enumerate(kill_points):
        r = _generate(system, out, *(["--resume"] if i else []), kill_at=point)
        codes.append(r.returncode)
        # killed: nothing at --out (the run is hidden until published), or already the finished store
        assert _visible(out.parent) in ([], [out.name]), (point, _visible(out.parent))
        if _visible(out.parent) == [] and i < len(kill_points) - 1:
            assert r.returncode == -signal.SIGKILL, (point, r.stderr[-2000:])
    r = _generate(system, out, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _visible(out.parent) == [out.name]
    return codes


def test_kill_at_three_points_then_resume_is_bit_identical(tmp_path):
    reference = _reference("Henon", tmp_path)
    out = tmp_path / "run" / "run.zarr"
    out.parent.mkdir()
    # 1) the 2nd block is appended but not committed; 2) the resumed run is killed before its 2nd append;
    # 3) the last resumed run is killed before publishing the finished store
    codes = _kill_then_resume("Henon", out, ["update:2", "to_zarr:2", "publish:1"])
    assert codes == [-signal.SIGKILL] * 3
    _assert_identical(out, reference)


@pytest.mark.slow
def test_kill_at_many_random_points_then_resume_is_bit_identical(tmp_path):
    reference = _reference("Lorenz", tmp_path)
    rng = random.Random(20261123)
    count = _generate("Lorenz", tmp_path / "count.zarr")
    n_events = int(count.stderr.split("EVENTS")[-1].split()[0])
    out = tmp_path / "run" / "run.zarr"
    out.parent.mkdir()
    kills, launches = 0, 0
    while kills < 24:
        resume = ["--resume"] if launches else []
        if launches % 2:
            r = _generate("Lorenz", out, *resume, kill_after_s=rng.uniform(1.0, 8.0))
        else:
            r = _generate("Lorenz", out, *resume, kill_at=str(rng.randint(1, n_events)))
        launches += 1
        assert _visible(out.parent) in ([], [out.name])
        if r.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert r.returncode == 0, r.stderr[-2000:]
            _assert_identical(out, reference)
            shutil.rmtree(out)  # start again: more kill points
            launches = 0
    r = _generate("Lorenz", out, *(["--resume"] if launches else []))
    assert r.returncode == 0, r.stderr[-2000:]
    _assert_identical(out, reference)
