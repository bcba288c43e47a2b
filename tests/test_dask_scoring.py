"""Scorecards on dask.distributed equal one process bit for bit (chaosbench_py.evaluation.dask_scoring).

The in-process cluster tests (``processes=False``) are fast and unmarked; the ones that start worker
processes (``LocalCluster``, ``--dask local:2``) carry the ``distributed`` marker.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

distributed = pytest.importorskip("distributed")

from chaosbench_py.errors import InputError  # noqa: E402
from chaosbench_py.evaluation import evaluate_weather  # noqa: E402
from chaosbench_py.evaluation.dask_scoring import (  # noqa: E402
    dask_client,
    evaluate_weather_dask,
    parse_dask_spec,
    per_init_scores_dask,
    scorecard_dask,
)
from physics_metrics.weather import SCORECARD_METRICS, per_init_scores, scorecard  # noqa: E402

LAT = np.linspace(90.0, -90.0, 17)
LON = np.arange(0.0, 360.0, 15.0)
TIMES = pd.date_range("2020-01-01", periods=16, freq="D").values.astype("datetime64[ns]")
LEADS = np.array([1, 2, 3], dtype="timedelta64[D]").astype("timedelta64[ns]")
INITS = TIMES[:11]


def _truth(seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    z = 5.0e4 + 500.0 * rng.standard_normal((TIMES.size, 2, LAT.size, LON.size))
    t2m = 280.0 + 10.0 * rng.standard_normal((TIMES.size, LAT.size, LON.size))
    return xr.Dataset(
        {"z": (("time", "level", "latitude", "longitude"), z.astype(np.float32), {"units": "m**2 s**-2"}),
         "t2m": (("time", "latitude", "longitude"), t2m.astype(np.float32), {"units": "K"})},
        coords={"time": TIMES, "level": [500, 850], "latitude": LAT, "longitude": LON},
    )  # fmt: skip


def _forecast(truth: xr.Dataset, members: int, seed: int = 1) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    valid = INITS[:, None] + LEADS[None, :]
    out = {}
    for v in truth.data_vars:
        o = truth[v].sel(time=xr.DataArray(valid, dims=("init_time", "lead_time"))).values
        scale = 300.0 if v == "z" else 3.0
        noise = scale * rng.standard_normal((members,) + o.shape)
        f = (o[None] + noise).astype(np.float32)
        dims = ("member", "init_time", "lead_time") + truth[v].dims[1:]
        out[v] = xr.DataArray(f if members > 1 else f[0], dims=dims if members > 1 else dims[1:])
    ds = xr.Dataset(out, coords={"init_time": INITS, "lead_time": LEADS, "level": [500, 850],
                                 "latitude": LAT, "longitude": LON})  # fmt: skip
    return ds.transpose("init_time", "lead_time", ...)


def _climatology(truth: xr.Dataset, lazy: bool) -> xr.Dataset:
    days = xr.DataArray(np.arange(1, 367), dims="dayofyear", name="dayofyear")
    mean = truth.astype(np.float64).mean("time").expand_dims(dayofyear=days).transpose("dayofyear", ...)
    mean = mean + 0.01 * np.sin(days.astype(float))
    return mean.chunk({"dayofyear": 61}) * 1.0 if lazy else mean


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Zarr stores (forecast chunked one init per chunk, truth one day per chunk), opened lazily."""
    root = tmp_path_factory.mktemp("dask_scoring")
    truth = _truth()
    truth.chunk({"time": 1}).to_zarr(root / "truth.zarr", mode="w", zarr_format=2, consolidated=True)
    for members in (1, 3):
        fc = _forecast(truth, members)
        fc.chunk({"init_time": 1}).to_zarr(
            root / f"fc{members}.zarr", mode="w", zarr_format=2, consolidated=True
        )
    clim = _climatology(truth, lazy=False)
    std = np.abs(clim) * 0.0 + truth.astype(np.float64).std("time")
    return {"truth": xr.open_zarr(root / "truth.zarr"), "fc1": xr.open_zarr(root / "fc1.zarr"),
            "fc3": xr.open_zarr(root / "fc3.zarr"), "clim": clim, "std": std, "root": root}  # fmt: skip


@pytest.fixture(scope="module")
def inproc():
    kw = dict(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    with distributed.LocalCluster(**kw) as cluster, distributed.Client(cluster) as client:
        yield client


def _identical(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a, b)
    for v in a.data_vars:  # bit for bit, NaN where NaN
        np.testing.assert_array_equal(a[v].values, b[v].values)


CASES = [("wb2", "fc1", [m for m in SCORECARD_METRICS["wb2"] if m not in ("crps", "spread", "ssr", "crpss")]),
         ("wb2", "fc3", list(SCORECARD_METRICS["wb2"])),
         ("chaosbench", "fc1", ["rmse", "bias", "mae", "acc", "specdiv", "specres", "ms_ssim"]),
         ("chaosbench", "fc3", list(SCORECARD_METRICS["chaosbench"]))]  # fmt: skip


@pytest.mark.parametrize(("convention", "fc", "metrics"), CASES)
def test_scorecard_identical_in_process_cluster(stores, inproc, convention, fc, metrics):
    kw = dict(
        metrics=metrics, convention=convention, climatology_std=stores["std"], block=4, max_chunk_mb=0.01
    )
    one = scorecard(stores[fc], stores["truth"], stores["clim"], **kw)
    for per_task in (1, 2) if convention == "wb2" and fc == "fc1" else (2,):
        many = scorecard_dask(
            inproc, stores[fc], stores["truth"], stores["clim"], blocks_per_task=per_task, **kw
        )
        _identical(one, many)


def _doy_climatology(truth: xr.Dataset) -> xr.Dataset:
    """The package's day-of-year climatology: a lazy dask computation over the truth store (a weighted
    sum over time chunks), as ``chaosbench evaluate --climatology doy`` builds it."""
    from chaosbench_py.data import climatology

    return climatology(truth.chunk({"time": 4}), years=(2020, 2020), variables=["z", "t2m"],
                       smoothing_window_days=365)  # fmt: skip


@pytest.mark.parametrize("kind", ["elementwise", "doy"])
def test_lazy_climatology_and_references(stores, inproc, kind):
    lazy = (
        _climatology(stores["truth"], lazy=True)
        if kind == "elementwise"
        else _doy_climatology(stores["truth"])
    )
    metrics = ["rmse", "acc", "bias", "mae", "acc_centred"]
    one = evaluate_weather(stores["fc1"], stores["truth"], lazy, metrics=metrics)
    many = evaluate_weather_dask(inproc, stores["fc1"], stores["truth"], lazy, metrics=metrics)
    assert sorted(one) == sorted(many) == ["climatology", "model", "persistence"]
    for name in one:
        _identical(one[name], many[name])
    _identical(per_init_scores(stores["fc1"], stores["truth"], lazy),
               per_init_scores_dask(inproc, stores["fc1"], stores["truth"], lazy))  # fmt: skip


def test_what_is_computed_before_scattering(stores):
    from chaosbench_py.evaluation.dask_scoring import _in_memory

    lazy = _climatology(stores["truth"], lazy=True)
    done = _in_memory(lazy)  # a dask computation: computed once, same chunks over the values
    assert done["z"].chunks == lazy["z"].chunks
    assert [str(k).split("-")[0] for k in done["z"].data.dask.layers] == ["xarray"]
    assert _in_memory(done) is done
    assert _in_memory(lazy, limit=1) is lazy  # too large: left lazy (with a warning)
    stored = stores["fc1"].sel(level=[850]).transpose("level", ...)  # read from a store: stays as it is
    assert _in_memory(stored) is stored


def test_per_init_scores_identical(stores, inproc, monkeypatch):
    from chaosbench_py.evaluation import dask_scoring

    monkeypatch.setattr(dask_scoring, "PER_INIT_BLOCK", 4)  # 3 tasks of the 11 inits
    fc = stores["fc3"]
    one = per_init_scores(fc, stores["truth"], stores["clim"], block=4)
    _identical(one, per_init_scores_dask(inproc, fc, stores["truth"], stores["clim"]))


def test_bad_specs_and_client():
    for bad in ("", "local", "local:0", "local:x", "tcp://host", "http://h:1", "scheduler-file:", "yarn"):
        with pytest.raises(InputError, match="--dask"):
            parse_dask_spec(bad)
    assert parse_dask_spec("local:3") == ("local", 3)
    assert parse_dask_spec("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    with pytest.raises(InputError, match="no scheduler file at"):
        with dask_client("scheduler-file:/nonexistent/scheduler.json"):
            pass
    with pytest.raises(TypeError, match="distributed.Client"):
        scorecard_dask(object(), xr.Dataset(), xr.Dataset())


def test_unreachable_address_fails_fast():
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(InputError, match=f"tcp://127.0.0.1:{port}"):
        with dask_client(f"tcp://127.0.0.1:{port}", timeout=3):
            pass
    assert time.monotonic() - t0 < 10


@pytest.mark.distributed
def test_local_cluster_processes_identical(stores):
    kw = dict(
        metrics=list(SCORECARD_METRICS["wb2"]), convention="wb2", climatology_std=stores["std"], block=3
    )
    one = scorecard(stores["fc3"], stores["truth"], stores["clim"], **kw)
    cb = dict(metrics=["rmse", "acc", "specdiv", "crps"], convention="chaosbench", block=4)
    one_cb = scorecard(stores["fc3"], stores["truth"], stores["clim"], **cb)
    with dask_client("local:2", memory_limit="1GiB") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        _identical(one, scorecard_dask(client, stores["fc3"], stores["truth"], stores["clim"], **kw))
        _identical(one_cb, scorecard_dask(client, stores["fc3"], stores["truth"], stores["clim"], **cb))


# ------------------------------------------------------------------------------ chaosbench evaluate --dask
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import torch
    from test_evaluate_kill import train_tiny_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_tiny_run(tmp_path_factory.mktemp("dask_eval"))
    finally:
        torch.set_num_threads(threads)


def _outputs(folder):
    names = ["scores.csv", "intervals.csv", "paired_tests.csv"]
    texts = {n: (folder / n).read_text() for n in names}
    cards = {p.name: xr.load_dataset(p) for p in sorted((folder / "scorecards").glob("*.nc"))}
    per = {p.name: xr.load_dataset(p) for p in sorted((folder / "per_init").glob("*.nc"))}
    return texts, cards, per


def _same_evaluation(a, b):
    ta, ca, pa = _outputs(a)
    tb, cb, pb = _outputs(b)
    assert ta == tb  # the CSVs byte for byte (17 significant digits in scores.csv)
    assert sorted(ca) == sorted(cb) == ["climatology.nc", "model.nc", "persistence.nc"]
    assert sorted(pa) == sorted(pb) and len(pa) == 3
    for name in ca:
        _identical(ca[name], cb[name])
    for name in pa:
        _identical(pa[name], pb[name])


@pytest.mark.distributed
def test_cli_evaluate_dask_local_same_files(tiny_run, tmp_path):
    import torch

    from chaosbench_py.cli import main

    opts = ["--n-inits", "3", "--steps", "2", "--climatology", "mean", "--test", "2001-01-10", "2001-01-12"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["evaluate", str(tiny_run), "--out", str(tmp_path / "one"), *opts]) == 0
        args = ["--dask", "local:2", "--dask-memory-limit", "1GiB"]
        assert main(["evaluate", str(tiny_run), "--out", str(tmp_path / "dask"), *opts, *args]) == 0
    finally:
        torch.set_num_threads(threads)
    _same_evaluation(tmp_path / "one", tmp_path / "dask")


def test_evaluate_in_process_client_same_files(tiny_run, inproc, tmp_path):
    """The Python API with an existing Client (here an in-process cluster)."""
    from chaosbench_py.evaluation import evaluate_run

    kw = dict(n_inits=3, n_steps=2, climatology="mean", test=["2001-01-10", "2001-01-12"])
    evaluate_run(tiny_run, tmp_path / "one", **kw)
    evaluate_run(tiny_run, tmp_path / "dask", dask=inproc, **kw)
    _same_evaluation(tmp_path / "one", tmp_path / "dask")


def test_evaluate_bad_dask_fails_fast_naming_it(tiny_run, tmp_path, capsys):
    from chaosbench_py.cli import main
    from chaosbench_py.evaluation import evaluate_run

    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(InputError, match=address):
        evaluate_run(tiny_run, tmp_path / "ev", n_inits=2, n_steps=1, dask=address)
    assert time.monotonic() - t0 < 10  # the 5 s connect timeout, not a rollout
    assert not (tmp_path / "ev").exists() and not (tmp_path / ".ev.partial").exists()
    assert main(["evaluate", str(tiny_run), "--out", str(tmp_path / "ev"), "--dask", "local:zero"]) == 2
    assert "--dask 'local:zero'" in capsys.readouterr().err
    with pytest.raises(InputError, match="dask="):
        evaluate_run(tiny_run, tmp_path / "ev", dask=42)
