"""The main job (``chaosbench run``) end to end on its quick setting."""

import pytest

from chaosbench_py.cli import main


@pytest.mark.timeout(600)
def test_main_job_quick_writes_report(tmp_path, capsys):
    out = tmp_path / "main"
    assert main(["run", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for section in ("systems catalog", "Lyapunov spectra", "noise floor", "Kuramoto"):
        assert section in md
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"attractors.png", "lyapunov_convergence.png", "kuramoto_sivashinsky.png"} <= set(figures)
    assert html.count("data:image/png;base64") == len(figures)
    rows = (out / "invariants.csv").read_text().splitlines()
    assert rows[0].startswith("system") and any(r.startswith("Lorenz,") for r in rows[1:])
