"""Every ``scripts/slurm_*.sh`` parses (``bash -n``) and runs end to end under a stub SLURM.

The dry run puts fake ``sbatch``, ``srun``, ``scontrol`` and ``nvidia-smi`` first on ``PATH``: ``sbatch``
runs the script at once with the ``SLURM_*`` variables of a one-node job with 2 GPUs and 2 CPUs
(``SLURM_GPUS_ON_NODE=2``), ``srun`` runs its command once, here, ``scontrol show hostnames`` prints
``localhost`` and ``nvidia-smi -L`` lists 2 GPUs. The real ``torchrun`` and ``chaosbench`` of the running
interpreter's environment (``VENV=sys.prefix``) then launch 2 CPU processes (no GPU is visible) on tiny
inputs; each script must exit 0 and leave its output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rank_helpers import REPO, child_env, free_port

from chaosbench_py.data import open_forecast
from chaosbench_py.simulate import open_trajectories

SCRIPTS = sorted((REPO / "scripts").glob("slurm_*.sh"))
TEST = ["--test", "2001-01-10", "2001-01-12"]

STUBS = {
    "sbatch": """#!/bin/bash
# stub sbatch: options up to the script, then run it now as job 4242 on one node with 2 GPUs
while [[ "${1:-}" == -* ]]; do shift; done
script=$1; shift
export SLURM_JOB_ID=4242 SLURM_JOB_NAME=stub SLURM_JOB_NODELIST=localhost SLURM_JOB_NUM_NODES=1 \\
  SLURM_NNODES=1 SLURM_NTASKS=2 SLURM_GPUS_ON_NODE=2 SLURM_CPUS_PER_TASK=2 SLURM_SUBMIT_DIR=$PWD
exec bash "$script" "$@"
""",
    "srun": """#!/bin/bash
# stub srun: drop the options, run the command once, here
while [[ "${1:-}" == -* ]]; do
  case "$1" in
    *=*) shift ;;
    -n|-N|-c|--ntasks|--nodes|--cpus-per-task|--ntasks-per-node|--gpus|--mem) shift 2 ;;
    *) shift ;;
  esac
done
exec "$@"
""",
    "scontrol": """#!/bin/bash
# stub scontrol: one host; requeue does nothing
if [ "${1:-}" = show ] && [ "${2:-}" = hostnames ]; then echo localhost; fi
""",
    "nvidia-smi": """#!/bin/bash
echo "GPU 0: stub"; echo "GPU 1: stub"
""",
}


def _stub_path(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in STUBS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _sbatch(tmp_path: Path, script: Path, *args: str, timeout: float = 240, **env: str):
    bin_dir = _stub_path(tmp_path)
    e = child_env(VENV=sys.prefix, MASTER_PORT=str(free_port()), **env)
    e["PATH"] = f"{bin_dir}:{e['PATH']}"
    return subprocess.run(["sbatch", "--nodes=1", str(script), *map(str, args)], cwd=tmp_path, env=e,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bash_syntax(script):
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = script.read_text()
    assert (
        text.startswith("#!/bin/bash")
        and "#SBATCH" in text
        and 'source "${VENV:-.venv}/bin/activate"' in text
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-step FNO run folder and its YAML (written by the trainer) for the training templates."""
    from test_evaluate_kill import train_tiny_run

    run = train_tiny_run(tmp_path_factory.mktemp("slurm"))
    return run, run / "config.yaml"


def _case(name: str, tiny, tmp_path: Path):
    """(arguments, extra environment, check of the output) of the dry run of scripts/NAME."""
    run, config = tiny
    if name == "slurm_generate.sh":
        out = tmp_path / "lorenz.zarr"

        def check():
            ds = open_trajectories(out)
            assert ds.sizes["trajectory"] == 5 and ds.sizes["time"] == 30

        args = ["Lorenz", 5, 30, out, "--trajectory-chunk", 2, "--chunk", 10, "--transient", 1, "--quiet"]
        return args, {"DEVICE": "cpu"}, check
    if name == "slurm_forecast.sh":
        out = tmp_path / "fc.zarr"
        return (
            [run, out, *TEST, "--n-inits", 3, "--steps", 2, "--batch-size", 1, "--quiet"],
            {},
            (lambda: open_forecast(out).sizes["init_time"] == 3 or pytest.fail("3 inits expected")),
        )
    if name == "slurm_evaluate.sh":
        out = tmp_path / "eval"
        args = [run, out, *TEST, "--n-inits", 2, "--steps", 2, "--climatology", "mean"]
        return (
            args,
            {"DASK_WORKER_MEMORY": "1GiB"},
            (lambda: (out / "scores.csv").exists() or pytest.fail(f"no {out}/scores.csv")),
        )
    if name.startswith("slurm_train_"):
        out = tmp_path / "run"
        return [config, out], {}, lambda: (out / "model.pt").exists() or pytest.fail(f"no {out}/model.pt")
    pytest.fail(f"scripts/{name}: no dry-run case in tests/test_slurm_templates.py; add one")


@pytest.mark.distributed
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_dry_run_under_stub_slurm(script, tiny, tmp_path):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args, env, check = _case(script.name, tiny, tmp_path)
        res = _sbatch(tmp_path, script, *args, **env)
        assert res.returncode == 0, (
            f"{script.name}: {res.returncode}\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
        )
        check()
        if script.name in ("slurm_generate.sh", "slurm_forecast.sh"):
            # submitted again: --resume finds the store complete, nothing to do
            res = _sbatch(tmp_path, script, *args, **env)
            assert res.returncode == 0, res.stderr[-4000:]
            check()
    finally:
        torch.set_num_threads(n)
