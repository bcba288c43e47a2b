"""The main job (``chaosbench run``) end to end on its quick setting; what it shows while it runs."""

import csv
import io
import json
import re
import sys
import time

import pytest
import torch

from chaosbench_py import main_job
from chaosbench_py.cli import main
from chaosbench_py.main_job_display import JobDisplay, summary_lines

BAR = re.compile(r"\d+%\|")  # a tqdm bar: "45%|████"


@pytest.mark.timeout(900)
def test_main_job_quick_writes_report(tmp_path, capsys):
    out = tmp_path / "main"
    threads = torch.get_num_threads()
    try:
        assert main(["run", "--out", str(out), "--quick"]) == 0
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    printed, err = captured.out, captured.err
    # not a terminal (pytest captures stderr): no stage lines, no bars
    assert "[1/3]" not in err and "[2/3]" not in err and "[3/3]" not in err, err
    assert not BAR.search(err) and "\r" not in err, err
    # the summary, then the report's path as the last line
    lines = printed.strip().splitlines()
    assert lines[-1] == f"report: {out / 'report.md'}"
    summary = "\n".join(lines[:-1])
    for needle in ("Lorenz-63", "λ1", "λ3", "D_stsp", "on 3,000 test points", "floor at that length", "VPT",
                   "Shallow water FNO: z RMSE at 48 h", "persistence", "climatology", "physics: bounded over 10 days", "Catalog:", "flows that have one (3 computed)",
                   "Total time"):  # fmt: skip
        assert needle in summary, (needle, summary)
    headline = json.loads((out / "summary.json").read_text())
    assert headline["lorenz"]["test_points"] == 3000 and len(headline["lorenz"]["lyapunov_model"]) == 3
    assert f"D_stsp {headline['lorenz']['d_stsp']:.3g}" in summary
    assert set(headline["shallow_water"]["rmse"]) == {"model", "persistence", "climatology"}
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for section in ("Reconstructing Lorenz-63", "shallow water → FNO → scorecard", "Physics of the rollout — Shallow water: FNO",
                    "95 % bootstrap interval over the 4 initialisations", "The systems catalog",
                    "Lyapunov spectra", "noise floor", "Run time"):  # fmt: skip
        assert section in md, section
    # the model beside the data floor at the same length
    assert "shPLRNN free run vs clean test series (3,000 points)" in md
    assert "two independent clean series (3,000 points each)" in md
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"attractors.png"} <= set(figures)
    assert any("map_z" in f for f in figures) and any("rmse_vs_lead" in f for f in figures)
    assert any("lyapunov" in f for f in figures) and any(
        "attractors" in f and f != "attractors.png" for f in figures
    )
    assert html.count("data:image/png;base64") == len(figures)
    # both emulators were trained by the trainer and evaluated
    for run in ("lorenz_shplrnn_gtf", "shallow_water_fno"):
        assert (out / "runs" / run / "model.pt").exists() and (out / "runs" / run / "metrics.csv").exists()
        assert (out / "configs" / f"{run}.yaml").exists()
    with open(out / "eval" / "shallow_water_fno" / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"model", "persistence", "climatology"}
    assert (out / "eval" / "lorenz_shplrnn_gtf" / "dynamics.json").exists()
    evaluation = json.loads((out / "eval" / "lorenz_shplrnn_gtf" / "evaluation.json").read_text())
    assert evaluation["test_points"] == 3000
    rows = (out / "invariants.csv").read_text().splitlines()
    assert rows[0].startswith("system") and any(r.startswith("Lorenz,") for r in rows[1:])


@pytest.mark.timeout(600)
def test_stages_and_bars_shown_when_forced(tmp_path, capsys):
    """A part of the job with the display on: stage lines and the trainer's and simulator's bars."""
    from chaosbench_py.report import Report

    threads = torch.get_num_threads()
    display = JobDisplay(show=True)  # stderr is pytest's capture, not a terminal: forced on
    display.part(2, "shallow water")
    try:
        info = main_job.shallow_water_emulator(Report("t", tmp_path), tmp_path, quick=True, display=display)
    finally:
        torch.set_num_threads(threads)
    display.part_done()
    err = capsys.readouterr().err
    for stage in ("[2/3] shallow water: simulating 40 days", "[2/3] shallow water: training FNO, 30 steps",
                  "[2/3] shallow water: rolling out 4 forecasts", "[2/3] shallow water: done in"):  # fmt: skip
        assert stage in err, (stage, err[-2000:])
    assert re.search(r"train fno:\s+\d+%\|.*<", err), err[-2000:]  # the trainer's bar with its ETA
    assert re.search(r"forced SW 32x64:\s+\d+%\|", err)
    assert info["headline"]["lead_hours"] == 48.0 and info["headline"]["rmse"]["model"] > 0
    # the run file keeps the trainer's default: the bar is an override at load time, not config
    assert "progress: false" in (tmp_path / "configs" / "shallow_water_fno.yaml").read_text()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_display_follows_the_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert JobDisplay().show
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not JobDisplay().show
    quiet = io.StringIO()
    d = JobDisplay(stream=quiet)
    d.part(1, "Lorenz-63")
    d.stage("training")
    with d.estimated("evaluating", 5.0):
        pass
    assert list(d.bar([1, 2], "x")) == [1, 2]
    d.part_done()
    assert quiet.getvalue() == ""


def test_display_stage_lines_and_estimated_bar():
    tty = _Terminal()
    d = JobDisplay(stream=tty)
    d.part(1, "Lorenz-63")
    d.stage("training shPLRNN (GTF)")
    with d.estimated("evaluating", 1.0):
        time.sleep(0.7)
    assert list(d.bar(range(3), "spectra", unit="flow")) == [0, 1, 2]
    d.part_done()
    d.stage("writing the report")
    text = tty.getvalue()
    assert "[1/3] Lorenz-63: training shPLRNN (GTF)…\n" in text
    assert "evaluating (est. 1 s)" in text and "100%|" in text
    assert "spectra" in text and "3/3" in text
    assert re.search(r"\[1/3\] Lorenz-63: done in \d+ s\n", text)
    assert text.endswith("writing the report…\n")


def test_cli_run_flags(monkeypatch, tmp_path, capsys):
    seen = []

    def fake(out, *, quick=False, progress=None):
        seen.append(progress)
        return main_job.MainJobResult(out / "report.md", {"seconds": 1.0})

    monkeypatch.setattr(main_job, "run_main_job", fake)
    for flags, want in (([], None), (["--quiet"], False), (["--progress"], True)):
        assert main(["run", "--out", str(tmp_path), *flags]) == 0
        assert seen[-1] is want
        assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {tmp_path / 'report.md'}"
    with pytest.raises(SystemExit) as exc:
        main(["run", "--quiet", "--progress"])
    assert exc.value.code == 2


def test_summary_lines():
    headline = {
        "lorenz": {"lyapunov_model": [0.95, 0.01, -14.0], "lyapunov_true": [0.9, -0.006, -14.5], "d_stsp": 0.5,
                   "d_h": 0.1, "floor_clean": 0.2, "floor_noisy": 0.3, "test_points": 100_000, "vpt": 1.75},
        "shallow_water": {"variable": "z", "units": "m**2 s**-2", "lead_hours": 120.0,
                          "rmse": {"model": 518.0, "persistence": 2056.0, "climatology": 1188.0}},
        "catalog": {"n_flows": 8, "n_published": 7, "n_lambda_agree": 6, "lambda_tolerance": 0.1, "n_identity": 8,
                    "identity_tolerance": 0.01},
        "seconds": 190.4,
    }  # fmt: skip
    text = "\n".join(summary_lines(headline))
    assert "λ1 0.950 vs 0.900 (5.6 %)" in text and "λ2 0.010 vs -0.006 (|Δ| 0.016)" in text
    assert "λ3 -14.000 vs -14.500 (3.4 %)" in text
    assert "D_stsp 0.5 on 100,000 test points; floor at that length 0.2 (two clean series), 0.3" in text
    assert "VPT 1.8 Lyapunov times" in text
    assert "z RMSE at 120 h 518 vs persistence 2056, climatology 1188" in text
    assert "6 of the 7 flows that have one (8 computed)" in text and "for 8 of 8" in text
    assert "Total time: 190 s" in text
    assert summary_lines({})[0] == "Summary" and len(summary_lines({})) == 1


def test_catalog_headline_counts_flows_with_a_published_value():
    nan = float("nan")
    rows = [
        {"λ1 computed": 0.903, "λ1 ref QR": 1.091, "λ1 ref naive": 0.892, "identity error": 3e-5},  # naive
        {"λ1 computed": 0.0725, "λ1 ref QR": 0.0763, "λ1 ref naive": 0.15, "identity error": 2e-4},
        {"λ1 computed": 1.23, "λ1 ref QR": nan, "λ1 ref naive": nan, "identity error": 0.02},  # no reference
        {"λ1 computed": 2.0, "λ1 ref QR": 1.0, "λ1 ref naive": nan, "identity error": 1e-3},  # disagrees
    ]
    h = main_job._catalog_headline(rows)
    assert (h["n_flows"], h["n_published"], h["n_lambda_agree"], h["n_identity"]) == (4, 3, 2, 3)
