"""The ``chaosbench`` command line, called in-process and as a subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest

from chaosbench_py.cli import main
from chaosbench_py.simulate import open_trajectories


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for sub in ("systems", "generate", "run", "train", "evaluate", "report"):
        assert sub in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["systems", "--help"], ["list", "info"]),
        (["generate", "--help"], ["--resume", "--trajectories"]),
        (["systems", "list", "--help"], ["--kind"]),
        (["run", "--help"], ["embedded default", "--out"]),
        (["train", "--help"], ["YAML", "--resume", "--set", "torchrun"]),
        (["evaluate", "--help"], ["persistence and climatology", "--n-inits", "--members", "--test-data"]),
        (["report", "--help"], ["report.html", "maps", "--out"]),
    ],
)
def test_subcommand_help(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: chaosbench" in out
    for word in words:
        assert word in out, word


def test_evaluate_and_report_name_what_is_missing(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "no_run"), "--out", str(tmp_path / "e")]) == 2
    assert "no trained model at" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "no_eval"), "--out", str(tmp_path / "r")]) == 2
    assert "no evaluation at" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "t")]) == 2
    assert "no run configuration at" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "t"), "--set", "oops"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_systems_list_and_info(capsys):
    assert main(["systems", "list"]) == 0
    names = capsys.readouterr().out.split()
    assert "Lorenz" in names and "Henon" in names and len(names) >= 100
    assert main(["systems", "info", "Lorenz"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"]["sigma"] == 10 and info["dim"] == 3
    assert info["invariants"]["lyapunov_spectrum"][0] > 0


def test_unknown_system_suggests_close_matches(capsys):
    assert main(["systems", "info", "Lorenz63"]) == 2
    err = capsys.readouterr().err
    assert "unknown system 'Lorenz63'" in err and "Lorenz" in err


def test_generate_zarr_and_nc(tmp_path, capsys):
    out = tmp_path / "l.zarr"
    argv = [
        "generate",
        "--system",
        "Lorenz",
        "--trajectories",
        "3",
        "--length",
        "50",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    ds = open_trajectories(out)
    assert ds["x"].shape == (3, 50, 3)
    # rerunning without --resume refuses to touch the existing store
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0
    nc = tmp_path / "r.nc"
    assert (
        main(
            [
                "generate",
                "--system",
                "Rossler",
                "--param",
                "c=6.0",
                "--length",
                "20",
                "--out",
                str(nc),
                "--quiet",
            ]
        )
        == 0
    )
    ds = open_trajectories(nc)
    assert json.loads(ds.attrs["parameters"])["c"] == 6.0
    assert np.isfinite(ds["x"].values).all()
    assert main(["generate", "--system", "Rossler", "--param", "q=1", "--out", str(tmp_path / "x.nc")]) == 2
    assert "valid parameters" in capsys.readouterr().err


def test_console_script_entry_point():
    r = subprocess.run(
        [sys.executable, "-m", "chaosbench_py", "systems", "list", "--kind", "map"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Henon" in r.stdout.split()
