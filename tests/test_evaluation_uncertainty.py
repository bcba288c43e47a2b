"""An evaluation folder's uncertainty files (per_init/, intervals.csv, paired_tests.csv) agree with its
scorecards, and ``chaosbench compare`` tests two evaluations on their common inits."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from test_evaluate_kill import TEST, train_tiny_run

from chaosbench_py.cli import main
from chaosbench_py.errors import MissingInputError, OutputExistsError
from chaosbench_py.evaluation import compare_evaluations, evaluate_run
from chaosbench_py.evaluation.uncertainty import _read_table


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("uncert")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = train_tiny_run(root)
        evaluate_run(run, root / "ev", n_inits=4, n_steps=2, climatology="mean", test=TEST[1:])
    finally:
        torch.set_num_threads(n)
    return root / "ev"


def test_files_agree_with_the_scorecards(evaluated):
    ev = evaluated
    assert sorted(p.name for p in (ev / "per_init").iterdir()) == [
        "climatology.nc",
        "model.nc",
        "persistence.nc",
    ]
    scores = _read_table(ev / "scores.csv")
    intervals = _read_table(ev / "intervals.csv")
    for model in ("model", "persistence", "climatology"):
        want = scores[(scores.model == model) & (scores.metric == "rmse")].sort_values(
            ["variable", "level", "lead_time_hours"]
        )
        got = intervals[(intervals.model == model) & (intervals.metric == "rmse")].sort_values(
            ["variable", "level", "lead_time_hours"]
        )
        np.testing.assert_allclose(got["estimate"].to_numpy(float), want["value"].to_numpy(float), rtol=1e-8)
        assert (got["low"].astype(float) <= got["estimate"].astype(float) + 1e-12).all()
        assert (got["high"].astype(float) >= got["estimate"].astype(float) - 1e-12).all()
    assert set(intervals["n_inits"]) == {4}
    tests = _read_table(ev / "paired_tests.csv")
    assert set(tests["baseline"]) == {"persistence", "climatology"}
    assert ((tests["p_value"] >= 0) & (tests["p_value"] <= 1)).all()
    model_rmse = scores[(scores.model == "model") & (scores.metric == "rmse")]
    merged = tests[tests.baseline == "persistence"].merge(
        model_rmse, on=["variable", "level", "lead_time_hours"], suffixes=("", "_card")
    )
    np.testing.assert_allclose(merged["rmse_model"].astype(float), merged["value"].astype(float), rtol=1e-8)
    per = xr.load_dataset(ev / "per_init" / "model.nc")
    assert per["z"].sizes["init_time"] == 4


def test_compare_two_evaluations(evaluated, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(evaluated, other)
    per = xr.load_dataset(other / "per_init" / "model.nc")
    worse = per.copy(deep=True)
    worse["z"].loc[{"metric": "mse"}] = per["z"].sel(metric="mse") * 2.0  # B's error doubled on every init
    (other / "per_init" / "model.nc").unlink()
    worse.to_netcdf(other / "per_init" / "model.nc")
    table = compare_evaluations(evaluated, other)
    z = table[table.variable == "z"]
    assert (z["rmse_model"] < z["rmse_baseline"]).all()
    np.testing.assert_allclose(z["p_value"], 2.0 / 16)  # 4 inits, every difference negative: exact 2/2^4
    same = compare_evaluations(evaluated, evaluated)
    np.testing.assert_allclose(same["p_value"], 1.0)
    out = tmp_path / "cmp.csv"
    assert main(["compare", str(evaluated), str(other), "--out", str(out)]) == 0
    assert "common inits" in capsys.readouterr().out
    np.testing.assert_allclose(pd.read_csv(out)["p_value"], table["p_value"], rtol=1e-9)
    with pytest.raises(OutputExistsError, match="cmp.csv"):
        compare_evaluations(evaluated, other, out=out)
    with pytest.raises(MissingInputError, match="per-init"):
        compare_evaluations(evaluated, tmp_path)


def test_report_shows_the_intervals(evaluated, tmp_path):
    from chaosbench_py.evaluation import build_report

    path = build_report(evaluated, tmp_path / "rep").write()
    text = (tmp_path / "rep" / "report.md").read_text() if path.suffix != ".md" else path.read_text()
    assert "95 % bootstrap interval over the 4 initialisations" in text
    assert "p vs persistence" in text
