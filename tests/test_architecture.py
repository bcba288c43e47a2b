"""The project's structural promises: one-way imports, public names, CLI help."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "physics_metrics": {"chaosbench_py", "emulators"},
    "emulators": {"chaosbench_py", "physics_metrics"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_leaf_packages_do_not_import_the_others(package):
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in FORBIDDEN[package]:
                    offenders.append(f"{path.relative_to(ROOT)}: {n}")
    assert not offenders, offenders


def test_physics_metrics_imports_alone():
    code = (
        "import sys, physics_metrics; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('chaosbench_py', 'emulators')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("package", ["chaosbench_py", "physics_metrics", "emulators"])
def test_public_names_exist(package):
    mod = __import__(package)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{package}.__all__ lists {name} but it does not exist"
