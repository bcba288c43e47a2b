"""The main job (``chaosbench run``) end to end on its quick setting."""

import csv

import pytest
import torch

from chaosbench_py.cli import main


@pytest.mark.timeout(900)
def test_main_job_quick_writes_report(tmp_path, capsys):
    out = tmp_path / "main"
    threads = torch.get_num_threads()
    try:
        assert main(["run", "--out", str(out), "--quick"]) == 0
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.md'}" in printed
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for section in ("Reconstructing Lorenz-63", "shallow water → FNO → scorecard", "The systems catalog",
                    "Lyapunov spectra", "noise floor", "Run time"):  # fmt: skip
        assert section in md, section
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
    rows = (out / "invariants.csv").read_text().splitlines()
    assert rows[0].startswith("system") and any(r.startswith("Lorenz,") for r in rows[1:])
