"""Trajectory generation split over ranks or dask workers into one zarr store (generate_to_store_ranks,
generate_to_store_dask, `chaosbench generate` under torchrun or with --dask): the same floats on 1 or 2
ranks and on 2 dask workers, equal to generate_to_store when one block holds every trajectory, resumable
after a kill anywhere (also on another number of processes), refusals named."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr
from rank_helpers import torchrun

from chaosbench_py.cli import main
from chaosbench_py.errors import InputError, OutputExistsError
from chaosbench_py.simulate import generate_to_store, open_trajectories
from chaosbench_py.simulate.rank_generate import PROGRESS, generate_to_store_dask, generate_to_store_ranks
from chaosbench_py.simulate.store import partial_path

OPTS = dict(chunk=7, noise=0.05, seed=3, transient=1.0, pts_per_period=20)
CLI = ["--system", "Lorenz", "--trajectories", "5", "--length", "30", "--chunk", "7", "--noise", "0.05",
       "--seed", "3", "--transient", "1", "--pts-per-period", "20", "--quiet"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _same(a_path, b_path) -> None:
    a, b = open_trajectories(a_path).load(), open_trajectories(b_path).load()
    np.testing.assert_array_equal(a["x"].values, b["x"].values)
    np.testing.assert_array_equal(a["time"].values, b["time"].values)
    assert {k: str(v) for k, v in a.attrs.items()} == {k: str(v) for k, v in b.attrs.items()}


def test_one_block_equals_generate_to_store(tmp_path):
    generate_to_store(tmp_path / "a.zarr", "Lorenz", 5, 30, **OPTS)
    generate_to_store_ranks(tmp_path / "b.zarr", "Lorenz", 5, 30, trajectory_chunk=8, **OPTS)
    _same(tmp_path / "a.zarr", tmp_path / "b.zarr")
    assert PROGRESS not in zarr.open_group(tmp_path / "b.zarr", mode="r")
    # a map without a catalog std: the noise scale attribute is the data's, as generate_to_store's
    generate_to_store(tmp_path / "h1.zarr", "Henon", 3, 20, chunk=6)
    generate_to_store_ranks(tmp_path / "h2.zarr", "Henon", 3, 20, chunk=6, trajectory_chunk=1)
    _same(tmp_path / "h1.zarr", tmp_path / "h2.zarr")
    with pytest.raises(
        InputError, match="Henon: noise > 0 across ranks or workers needs the catalog's attractor std"
    ):
        generate_to_store_ranks(tmp_path / "h3.zarr", "Henon", 3, 20, noise=0.1)


def test_killed_anywhere_then_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    ref = tmp_path / "ref.zarr"
    generate_to_store_ranks(ref, "Lorenz", 5, 30, trajectory_chunk=2, **OPTS)
    original = xr.Dataset.to_zarr
    n_region = 3 * 6  # 3 blocks x 6 time chunks (1 + 7 + 7 + 7 + 7 + 1 samples)
    for kill_at in (1, 6, n_region):
        out = tmp_path / f"k{kill_at}.zarr"
        calls = [0]

        def killed(self, *a, calls=calls, kill_at=kill_at, **k):
            result = original(self, *a, **k)
            if k.get("region") is not None:
                calls[0] += 1
                if calls[0] == kill_at:  # after the fields, before the block's progress row
                    raise RuntimeError("killed")
            return result

        monkeypatch.setattr(xr.Dataset, "to_zarr", killed)
        with pytest.raises(RuntimeError, match="killed"):
            generate_to_store_ranks(out, "Lorenz", 5, 30, trajectory_chunk=2, **OPTS)
        monkeypatch.setattr(xr.Dataset, "to_zarr", original)
        assert not out.exists() and partial_path(out).exists()
        with pytest.raises(OutputExistsError, match="unfinished run"):
            generate_to_store_ranks(out, "Lorenz", 5, 30, trajectory_chunk=2, **OPTS)
        with pytest.raises(InputError, match="trajectory_chunk: 2 in the store, 3 now"):
            generate_to_store_ranks(out, "Lorenz", 5, 30, trajectory_chunk=3, resume=True, **OPTS)
        with pytest.raises(InputError, match="trajectory_chunk"):  # the one-batch generator refuses it too
            generate_to_store(out, "Lorenz", 5, 30, resume=True, **OPTS)
        generate_to_store_ranks(out, "Lorenz", 5, 30, trajectory_chunk=2, resume=True, **OPTS)
        _same(ref, out)
    assert generate_to_store_ranks(out, "Lorenz", 5, 30, trajectory_chunk=2, resume=True, **OPTS) == out
    with pytest.raises(OutputExistsError, match="exists"):
        generate_to_store_ranks(out, "Lorenz", 5, 30, trajectory_chunk=2, **OPTS)


def test_cli_refuses_blocks_for_netcdf(tmp_path, capsys):
    code = main(["generate", *CLI, "--out", str(tmp_path / "a.nc"), "--trajectory-chunk", "2"])
    assert code == 2 and ".zarr only" in capsys.readouterr().err


@pytest.mark.distributed
def test_two_ranks_equal_one_process_and_resume_on_another_world_size(tmp_path, monkeypatch):
    one = tmp_path / "one.zarr"
    assert main(["generate", *CLI, "--out", str(one), "--trajectory-chunk", "2"]) == 0
    two = tmp_path / "two.zarr"
    res = torchrun(["-m", "chaosbench_py", "generate", *CLI, "--out", str(two), "--trajectory-chunk", "2"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("wrote") == 1
    _same(one, two)
    # started by one process (killed after block 0's first 2 time chunks), finished by 2 ranks
    part = tmp_path / "part.zarr"
    _killed_partial(part, monkeypatch, at=3)
    res = torchrun(
        ["-m", "chaosbench_py", "generate", *CLI, "--out", str(part), "--trajectory-chunk", "2", "--resume"]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    _same(one, part)


def _killed_partial(path, monkeypatch, at: int) -> None:
    """An unfinished block-wise run of OPTS at ``path``: killed at its ``at``-th region write."""
    original, calls = xr.Dataset.to_zarr, [0]

    def killed(self, *a, **k):
        if k.get("region") is not None:
            calls[0] += 1
            if calls[0] == at:
                raise RuntimeError("killed")
        return original(self, *a, **k)

    monkeypatch.setattr(xr.Dataset, "to_zarr", killed)
    with pytest.raises(RuntimeError, match="killed"):
        generate_to_store_ranks(path, "Lorenz", 5, 30, trajectory_chunk=2, **OPTS)
    monkeypatch.setattr(xr.Dataset, "to_zarr", original)


@pytest.mark.distributed
def test_dask_workers_equal_ranks_and_resume(tmp_path, monkeypatch, capsys):
    from chaosbench_py.evaluation.dask_scoring import dask_client

    ref = tmp_path / "ref.zarr"
    generate_to_store_ranks(ref, "Lorenz", 5, 30, trajectory_chunk=2, **OPTS)
    part = tmp_path / "part.zarr"
    _killed_partial(part, monkeypatch, at=8)  # block 0 done, block 1 half-way, block 2 not started
    with dask_client("local:2") as client:
        generate_to_store_dask(
            tmp_path / "d.zarr", "Lorenz", 5, 30, client=client, trajectory_chunk=2, **OPTS
        )
        generate_to_store_dask(part, "Lorenz", 5, 30, client=client, trajectory_chunk=2, resume=True, **OPTS)
    _same(ref, tmp_path / "d.zarr")
    _same(ref, part)
    assert (
        main(
            [
                "generate",
                *CLI,
                "--out",
                str(tmp_path / "c.zarr"),
                "--trajectory-chunk",
                "2",
                "--dask",
                "local:2",
            ]
        )
        == 0
    )
    _same(ref, tmp_path / "c.zarr")
    code = main(["generate", *CLI, "--out", str(tmp_path / "x.zarr"), "--dask", "tcp://127.0.0.1:9"])
    assert code == 2 and "tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()
