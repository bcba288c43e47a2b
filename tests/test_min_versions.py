"""The minimum-versions environment (.ci/min-versions.txt, `make test-min`) pins exactly the lower bounds
that pyproject.toml declares, so a green `make test-min` means the declared ranges are true."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _declared_minima() -> dict[str, str]:
    """Lower bounds of the dependencies and of the ``distributed`` extra (the dev extra installs it: the
    multi-process tests run the dask scorer, so its minimum is tested too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["distributed"]
    out = {}
    for dep in deps:
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,\s]*)", dep)
        assert m, f"pyproject dependency {dep!r} has no lower bound"
        out[m.group(1).lower()] = m.group(3)
    return out


def _pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".ci" / "min-versions.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f".ci/min-versions.txt: {line!r} is not NAME==VERSION"
            out[name.strip().lower()] = version.strip()
    return out


def test_every_declared_minimum_is_pinned_in_the_min_environment():
    declared, pins = _declared_minima(), _pins()
    torch_note = declared.pop("torch")  # only the CPU build of one version is installable without CUDA
    assert torch_note
    assert declared == pins, (
        "pyproject.toml lower bounds and .ci/min-versions.txt differ: "
        f"declared {sorted(set(declared.items()) - set(pins.items()))}, pinned {sorted(set(pins.items()) - set(declared.items()))}"
    )


def test_ci_runs_the_min_environment():
    assert "make test-min" in (ROOT / ".ci" / "run").read_text()
