"""The tutorial notebooks: stored without outputs, and each one executes without error.

Execution uses ``nbclient`` with the ``python3`` kernel (``ipykernel``), working directory
``notebooks/``. jupyter_client starts a kernelspec whose command is ``python`` with this test's own
interpreter (``sys.executable``), so the kernel sees the same environment as pytest; the first test
checks that explicitly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _execution_modules():
    """(nbformat, NotebookClient) or a skip naming what is missing."""
    missing = []
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as exc:  # pragma: no cover - depends on the environment
        missing.append(f"nbclient/nbformat ({exc})")
    try:
        import ipykernel  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        missing.append(f"ipykernel ({exc})")
    if missing:
        pytest.skip("notebook execution needs " + " and ".join(missing) + ": pip install -e .[dev]")
    return nbformat, NotebookClient


def _execute(nb, env: dict[str, str] | None = None):
    """Run ``nb`` in place in a ``python3`` kernel with cwd = notebooks/; optional extra env vars."""
    _, client_cls = _execution_modules()
    client = client_cls(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _stream_text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


# ------------------------------------------------------------------------------------------ stripped
def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, f"expected at least three notebooks in {NOTEBOOK_DIR}, found {NOTEBOOKS}"


def _unstripped(path: Path) -> list[str]:
    """Cells of the .ipynb at ``path`` that carry outputs or an execution count (raw JSON, no nbformat)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    bad = []
    for i, cell in enumerate(data.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            bad.append(f"cell {i}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            bad.append(f"cell {i}: execution_count={cell['execution_count']}")
    return bad


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    bad = _unstripped(path)
    assert not bad, f"{path.name} has outputs in git; clear them (Jupyter: Edit > Clear All Outputs): {bad}"


def test_stripped_check_detects_outputs(tmp_path):
    """The check above must fail on a notebook with outputs or execution counts."""
    cell = {"cell_type": "code", "metadata": {}, "source": "1", "execution_count": None, "outputs": []}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps(nb))
    assert _unstripped(p) == []
    cell["execution_count"] = 1
    p.write_text(json.dumps(nb))
    assert _unstripped(p) == ["cell 0: execution_count=1"]
    cell["execution_count"] = None
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    p.write_text(json.dumps(nb))
    assert _unstripped(p) == ["cell 0: 1 output(s)"]


# ------------------------------------------------------------------------------------------ execution
def test_kernel_is_this_interpreter():
    """The ``python3`` kernel runs this interpreter and imports the package from this checkout."""
    nbformat, _ = _execution_modules()
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import sys, chaosbench_py, emulators, physics_metrics\n"
            "print(sys.executable)\nprint(chaosbench_py.__file__)"
        )
    )
    out = _stream_text(_execute(nb)).split()
    assert Path(out[0]).resolve() == Path(sys.executable).resolve(), out
    assert Path(out[1]).resolve().is_relative_to(ROOT), f"chaosbench_py imported from {out[1]}, not {ROOT}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path):
    nbformat, _ = _execution_modules()
    nb = nbformat.read(path, as_version=4)
    _execute(nb)  # raises nbclient.exceptions.CellExecutionError naming the cell on any error


def test_weather_notebook_runs_on_synthetic_fallback():
    """Notebook 02 falls back to a synthetic dataset of the same schema when the ERA5 sample is absent."""
    nbformat, _ = _execution_modules()
    path = NOTEBOOK_DIR / "02_score_weather_emulators.ipynb"
    nb = _execute(nbformat.read(path, as_version=4), env={"CHAOSBENCH_NOTEBOOK_SYNTHETIC": "1"})
    assert "using the SYNTHETIC stand-in" in _stream_text(nb)
