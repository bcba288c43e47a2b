"""The fused scorecard kernel (scorecard_fast) equals the general per-piece path on random data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from physics_metrics.errors import NonFiniteInputError
from physics_metrics.weather import scorecard_chunks as sc_chunks
from physics_metrics.weather import scorecard_fast as sf
from physics_metrics.weather import scorecard_native as sc_native
from physics_metrics.weather.registry import SCORES, ScoreSpec, register_score
from physics_metrics.weather.scorecard import scorecard
from physics_metrics.weather.scorecard_chunks import ChunkReader

LEVELS = (250, 500, 850)
WB2 = ("mse", "rmse", "rmse_per_sample", "bias", "mae", "acc", "acc_centred")
CB = ("rmse", "bias", "mae", "acc")


def make(n_init=6, n_lead=4, n_member=0, nlat=9, nlon=16, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    lat = np.linspace(90, -90, nlat)
    lon = np.arange(nlon) * 360.0 / nlon
    times = pd.date_range("2021-12-20", periods=n_init + n_lead + 1, freq="D")
    nl = len(LEVELS)

    def field(shape, loc, scale):
        return rng.normal(loc, scale, shape).astype(dtype)

    truth = xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), field((times.size, nl, nlat, nlon), 5000, 50)),
            "t2m": (("time", "latitude", "longitude"), field((times.size, nlat, nlon), 280, 5)),
        },
        coords={"time": times, "level": list(LEVELS), "latitude": lat, "longitude": lon},
    )
    head = (n_init, n_lead) + ((n_member,) if n_member else ())
    dims = ("init_time", "lead_time") + (("member",) if n_member else ())
    fc = xr.Dataset(
        {
            "z": (dims + ("level", "latitude", "longitude"), field(head + (nl, nlat, nlon), 5000, 50)),
            "t2m": (dims + ("latitude", "longitude"), field(head + (nlat, nlon), 280, 5)),
        },
        coords={
            "init_time": times[:n_init].values,
            "lead_time": pd.to_timedelta(np.arange(1, n_lead + 1), "D").values,
            "level": list(LEVELS),
            "latitude": lat,
            "longitude": lon,
        },
    )
    clim = xr.Dataset(
        {
            "z": (("dayofyear", "level", "latitude", "longitude"), field((366, nl, nlat, nlon), 5000, 20)),
            "t2m": (("dayofyear", "latitude", "longitude"), field((366, nlat, nlon), 280, 2)),
        },
        coords={"dayofyear": np.arange(1, 367), "level": list(LEVELS), "latitude": lat, "longitude": lon},
    )
    return fc, truth, clim


def both(monkeypatch, *args, **kw):
    """(fused kernel, general path) scorecards of the same call."""
    monkeypatch.setattr(sf, "ENABLED", True)
    fast = scorecard(*args, **kw)
    monkeypatch.setattr(sf, "ENABLED", False)
    general = scorecard(*args, **kw)
    monkeypatch.setattr(sf, "ENABLED", True)
    return fast, general


def assert_same(a: xr.Dataset, b: xr.Dataset, rtol=1e-9, atol=1e-12):
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for v in a.data_vars:
        assert a[v].dims == b[v].dims
        assert list(a["metric"].values) == list(b["metric"].values)
        for m in a["metric"].values:
            x, y = a[v].sel(metric=m).values, b[v].sel(metric=m).values
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{v} {m} NaN pattern")
            scale = np.nanmax(np.abs(y)) if np.isfinite(y).any() else 1.0
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol * scale, err_msg=f"{v} {m}")


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
@pytest.mark.parametrize("n_member", [0, 3])
def test_fast_equals_general(monkeypatch, convention, metrics, n_member):
    fc, truth, clim = make(n_member=n_member)
    fast, general = both(monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=4)
    assert_same(fast, general)


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
@pytest.mark.parametrize("n_member", [0, 3])
def test_fast_equals_general_with_nan_skipna(monkeypatch, convention, metrics, n_member):
    fc, truth, clim = make(n_member=n_member, seed=2)
    z = fc["z"].values
    z[0, 1, ..., 0, 2, 3] = np.nan  # one point (every member) of one init/lead/level
    z[2, 0, ...] = np.nan  # a whole init/lead
    if n_member:
        z[3, 2, 1, 0, 4, :] = np.nan  # one member only
    fc["t2m"].values[1, 3, ..., 5, :] = np.nan  # a latitude row
    truth["z"].values[4, 1, :2] = np.nan
    clim["t2m"].values[:, 0, :] = np.nan  # the north pole row of every day
    fast, general = both(
        monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=3, skipna=True
    )
    assert_same(fast, general)


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
def test_fast_layouts_pieces_and_blocks(monkeypatch, convention, metrics):
    """Unsorted inits, a truth with latitude ascending, tiny pieces (lead groups and init sub-blocks)."""
    fc, truth, clim = make(n_init=9, n_lead=5, dtype=np.float64)
    fc = fc.isel(init_time=[3, 0, 8, 1, 5, 2, 7, 4, 6])
    truth = truth.isel(latitude=slice(None, None, -1))
    fc = fc.transpose("lead_time", "latitude", "init_time", "longitude", "level")
    for mb in (128.0, 0.01, 0.0005):
        fast, general = both(
            monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=4, max_chunk_mb=mb
        )
        assert_same(fast, general)


@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
def test_fast_zarr_backed_and_forecast_schema_truth(monkeypatch, tmp_path, convention, metrics):
    fc, truth, clim = make(n_init=7)
    for name, ds in (("fc", fc), ("truth", truth), ("clim", clim)):
        ds.to_zarr(tmp_path / f"{name}.zarr", consolidated=False, zarr_format=3)
    fz, tz, cz = (xr.open_zarr(tmp_path / f"{n}.zarr", consolidated=False) for n in ("fc", "truth", "clim"))
    assert sf._backend(fz["z"]) is not None  # the direct backend read is taken
    fast, general = both(monkeypatch, fz, tz, cz, metrics=metrics, convention=convention, block=3)
    assert_same(fast, general)
    ref_fast, _ = both(monkeypatch, fc, truth, clim, metrics=metrics, convention=convention, block=3)
    assert_same(fast, ref_fast)
    # truth in the forecast schema (init_time, lead_time): no shared days
    vt = fc["init_time"] + fc["lead_time"]
    t_fc = truth.sel(time=vt).drop_vars("time")
    fast, general = both(monkeypatch, fc, t_fc, clim, metrics=metrics, convention=convention, block=3)
    assert_same(fast, general)


def test_fast_scattered_read_matches_isel(tmp_path):
    _, truth, _ = make(n_init=20)
    truth.to_zarr(tmp_path / "t.zarr", consolidated=False, zarr_format=3)
    tz = xr.open_zarr(tmp_path / "t.zarr", consolidated=False)
    da = tz["z"]
    obj = sf._backend(da)
    ix = {"time": np.array([15, 0, 1, 2, 20, 14]), "latitude": np.arange(9)[::-1].copy()}
    order = ["time", "level", "latitude", "longitude"]
    np.testing.assert_array_equal(sf._read(da, ix, order, obj), da.isel(ix).transpose(*order).values)
    np.testing.assert_array_equal(sf._read(da, ix, order), da.isel(ix).transpose(*order).values)


@pytest.mark.parametrize("convention", ["wb2", "chaosbench"])
def test_fast_climatology_forecast_cancellation(monkeypatch, convention):
    """forecast == climatology: a_F = 0 exactly; the expanded sums would cancel, the direct pass is used."""
    fc, truth, clim = make()
    metrics = ("acc", "rmse") + (("acc_centred",) if convention == "wb2" else ())
    fast, general = both(monkeypatch, fc, truth, clim, metrics=metrics, convention=convention,
                         reference="climatology")  # fmt: skip
    assert_same(fast, general)


@pytest.mark.parametrize("convention", ["wb2", "chaosbench"])
def test_fast_nonfinite_messages_equal_general(monkeypatch, convention):
    fc, truth, clim = make()
    cases = []
    f1 = fc.copy(deep=True)
    f1["z"].values[2, 1, 1, 3, 4] = np.nan
    cases.append((f1, truth, clim, False))
    f2 = fc.copy(deep=True)
    f2["t2m"].values[1, 2, 3, 4] = np.inf
    cases.append((f2, truth, clim, True))
    t3 = truth.copy(deep=True)
    t3["z"].values[5, 0, 2, 2] = np.nan
    cases.append((fc, t3, clim, False))
    c4 = clim.copy(deep=True)
    c4["z"].values[:, 1, 0, 0] = -np.inf
    cases.append((fc, truth, c4, True))
    for f, t, c, skipna in cases:
        msgs = []
        for enabled in (True, False):
            monkeypatch.setattr(sf, "ENABLED", enabled)
            with pytest.raises(NonFiniteInputError) as err:
                scorecard(f, t, c, metrics=("rmse", "acc"), convention=convention, skipna=skipna)
            msgs.append(str(err.value))
        monkeypatch.setattr(sf, "ENABLED", True)
        assert msgs[0] == msgs[1]


def test_fast_mixed_with_general_metrics_and_reregistered(monkeypatch):
    fc, truth, clim = make(n_member=3)
    metrics = ("crps", "rmse", "spread", "acc")
    fast, general = both(monkeypatch, fc, truth, clim, metrics=metrics)
    assert_same(fast, general)
    assert sf.split_metrics(list(metrics), "wb2") == (["rmse", "acc"], ["crps", "spread"])
    old = SCORES["bias"]
    try:
        register_score(ScoreSpec("bias", "bias", "custom", chaosbench=lambda p: old.chaosbench(p) + 1.0),
                       replace=True)  # fmt: skip
        assert sf.split_metrics(["bias", "rmse"], "chaosbench") == (["rmse"], ["bias"])
        card = scorecard(fc, truth, clim, metrics=("bias",), convention="chaosbench")
        monkeypatch.setattr(sf, "ENABLED", False)
        ref = scorecard(fc, truth, clim, metrics=("bias",), convention="chaosbench")
        np.testing.assert_allclose(card["z"].values, ref["z"].values, rtol=1e-12)
    finally:
        register_score(old, replace=True)
    monkeypatch.setattr(sf, "ENABLED", True)
    assert sf.split_metrics(["bias"], "chaosbench") == (["bias"], [])


# ------------------------------------------------------------------ chunk-file reads and the C row sums
def _zarr(tmp_path, name, ds, chunks, compressor=None, zarr_format=3):
    """``ds`` written to a zarr store with the given chunks per variable (by its dims' count) and reopened."""
    enc = {}
    for v in ds.data_vars:
        enc[v] = {"chunks": chunks[ds[v].ndim], "compressors": None if compressor is None else (compressor,)}
    path = tmp_path / f"{name}.zarr"
    ds.to_zarr(path, mode="w", encoding=enc, consolidated=False, zarr_format=zarr_format)
    return xr.open_zarr(path, consolidated=False)


_ZARR_SKIPS_EMPTY_CHUNKS = tuple(int(p) for p in zarr.__version__.split(".")[:2]) >= (3, 1)


def _codecs(fmt):
    import numcodecs
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    return (
        [None, ZstdCodec(), BloscCodec(), GzipCodec()]
        if fmt == 3
        else [None, numcodecs.Zstd(), numcodecs.Blosc()]
    )


@pytest.mark.parametrize("fmt", [3, 2])
def test_chunk_reader_equals_zarr(tmp_path, fmt):
    """Boxes across unaligned chunks, edge chunks, compressed chunks and never-written chunks."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((7, 5, 3, 9, 16)).astype(np.float32)
    a[0:2, 0:3] = np.nan  # whole chunks of fill value: not written
    ds = xr.Dataset({"x": (("a", "b", "c", "d", "e"), a)})
    keys = [(slice(1, 6), slice(0, 5), slice(1, 3), slice(2, 9), slice(3, 16)), (slice(None),) * 5,
            (slice(0, 2), slice(0, 3), slice(0, 2), slice(0, 4), slice(0, 5)),  # exactly one whole chunk
            (slice(6, 7), slice(4, 5), slice(2, 3), slice(8, 9), slice(15, 16)), (slice(3, 3),) + (slice(None),) * 4]  # fmt: skip
    for k, comp in enumerate(_codecs(fmt)):
        dz = _zarr(tmp_path, f"s{k}", ds, {5: (2, 3, 2, 4, 5)}, comp, fmt)
        reader = sf._backend(dz["x"])
        assert isinstance(reader, ChunkReader)
        n_files = sum(1 for p in (tmp_path / f"s{k}.zarr" / "x").rglob("*") if p.is_file())
        if (
            _ZARR_SKIPS_EMPTY_CHUNKS
        ):  # zarr 3.0 writes all-fill chunks too: the missing-chunk case is not reached
            assert n_files < 4 * 2 * 2 * 3 * 4
        for key in keys:
            want = np.asarray(reader.za[key])
            np.testing.assert_array_equal(reader.read(key), want)
            np.testing.assert_array_equal(reader.read(key, slot="t"), want)
        np.testing.assert_array_equal(reader.read(keys[0], slot="t"), a[keys[0]])  # reused buffer, refilled


def test_chunk_reader_declines_decoded_and_other_layouts(tmp_path):
    from zarr.codecs import ShardingCodec  # noqa: F401  (zarr 3)

    fc, _, _ = make(n_init=4)
    masked = fc.copy()
    masked["z"].encoding = {"_FillValue": -9999.0}
    masked["t2m"].encoding = {"scale_factor": 0.5, "dtype": "int16", "_FillValue": -1}
    masked.to_zarr(tmp_path / "m.zarr", consolidated=False, zarr_format=3)
    mz = xr.open_zarr(tmp_path / "m.zarr", consolidated=False)
    for v in ("z", "t2m"):
        assert not isinstance(sf._backend(mz[v]), ChunkReader)
    enc = {v: {"chunks": (1, 1) + fc[v].shape[2:], "shards": fc[v].shape} for v in fc.data_vars}
    try:
        fc.to_zarr(tmp_path / "sh.zarr", consolidated=False, zarr_format=3, encoding=enc)
    except ValueError as err:  # xarray < 2025.3 has no "shards" encoding: nothing sharded to decline
        assert "shards" in str(err)
    else:
        sz = xr.open_zarr(tmp_path / "sh.zarr", consolidated=False)
        assert not isinstance(sf._backend(sz["z"]), ChunkReader)
    assert not isinstance(sf._backend(fc["z"].chunk()), ChunkReader)


LAYOUTS = {  # name: (forecast chunks by ndim, truth/climatology chunks by ndim, compressor index)
    "per pair": ({5: (1, 1, 3, 9, 16), 4: (1, 1, 9, 16)}, {4: (1, 3, 9, 16), 3: (1, 9, 16)}, 0),
    "per pair, level chunks, zstd": (
        {5: (1, 1, 2, 9, 16), 4: (1, 1, 9, 16)},
        {4: (3, 3, 9, 16), 3: (2, 9, 16)},
        1,
    ),
    "unaligned, blosc": ({5: (2, 3, 2, 4, 5), 4: (4, 3, 5, 7)}, {4: (5, 2, 4, 7), 3: (3, 5, 6)}, 2),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("convention,metrics", [("wb2", WB2), ("chaosbench", CB)])
def test_fast_chunk_paths_equal_general_1e12(monkeypatch, tmp_path, layout, convention, metrics):
    """Every new path (chunk-file reads, per-pair reads, the C row sums) against the general path and against
    the fused kernel without them, at 1e-12 relative; with NaN points (skipna) in forecast, truth and clim."""
    fc, truth, clim = make(n_init=7, n_lead=5, seed=4)
    fc["z"].values[2, 1, 0, 3, 4] = np.nan
    fc["t2m"].values[4, 0, 5, :] = np.nan
    truth["z"].values[5, 1, :2] = np.nan
    clim["t2m"].values[:, 0, :] = np.nan
    fchunks, tchunks, comp = LAYOUTS[layout]
    comp = _codecs(3)[comp]
    fz = _zarr(tmp_path, "fc", fc, fchunks, comp)
    tz, cz = _zarr(tmp_path, "truth", truth, tchunks, comp), _zarr(tmp_path, "clim", clim, tchunks, comp)
    assert isinstance(sf._backend(fz["z"]), ChunkReader)
    kw = dict(metrics=metrics, convention=convention, block=3, skipna=True)
    for data in ((fz, tz, cz), (fc, truth, clim)):
        fast, general = both(monkeypatch, *data, **kw)
        assert_same(fast, general, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(sf, "DIRECT_CHUNKS", False)
    monkeypatch.setattr(sf, "NATIVE", False)
    before = scorecard(fz, tz, cz, **kw)
    monkeypatch.setattr(sf, "DIRECT_CHUNKS", True)
    monkeypatch.setattr(sf, "NATIVE", True)
    assert_same(scorecard(fz, tz, cz, **kw), before, rtol=1e-12, atol=1e-12)
    pool = sc_chunks._pool()  # what stays held between calls: bounded
    assert all(v.nbytes <= sf._KEEP_BYTES for v in pool.values() if isinstance(v, np.ndarray))
    assert sum(a.nbytes for v in pool.values() if isinstance(v, list) for a in v) <= sf._KEEP_BYTES


def test_fast_per_pair_nonfinite_message_equals_general(monkeypatch, tmp_path):
    fc, truth, clim = make()
    fc["z"].values[2, 1, 1, 3, 4] = np.nan
    fz = _zarr(tmp_path, "fc", fc, LAYOUTS["per pair"][0])
    msgs = []
    for enabled in (True, False):
        monkeypatch.setattr(sf, "ENABLED", enabled)
        with pytest.raises(NonFiniteInputError) as err:
            scorecard(fz, truth, clim, metrics=("rmse", "acc"), convention="chaosbench")
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1]


@pytest.mark.parametrize("nlon", [3, 8, 13, 240])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_row_sums_equal_numpy(nlon, dtype):
    if not sc_native.available():
        pytest.skip("no C compiler")
    rng = np.random.default_rng(nlon)
    f = rng.normal(5.0, 2.0, (3, 7, nlon)).astype(dtype)
    o, at = rng.normal(5.0, 2.0, f.shape), rng.normal(0.0, 1.0, f.shape)
    d = f.astype(np.float64) - o
    want = [d.sum(-1), (d * d).sum(-1), np.abs(d).sum(-1), (d * at).sum(-1)]
    got = sc_native.row_sums(f, o, at)
    scale = [np.abs(d).sum(-1), (d * d).sum(-1), np.abs(d).sum(-1), np.abs(d * at).sum(-1)]
    for g, w, s in zip(got, want, scale, strict=True):
        np.testing.assert_array_less(np.abs(g - w), 1e-14 * s + 1e-300)
    np.testing.assert_array_equal(sc_native.row_sums(f, o, None)[:3], got[:3])
    assert sc_native.row_sums(f[..., ::2], o[..., ::2], None) is None  # not C-contiguous: numpy does it
    bad = f.copy()
    bad[1, 2, 0] = np.nan
    assert np.isnan(sc_native.row_sums(bad, o, at)[0, 1, 2])


@pytest.mark.parametrize(
    "odt,cdt", [(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)]
)
def test_native_day_sums_equal_numpy(odt, cdt):
    if not sc_native.available():
        pytest.skip("no C compiler")
    rng = np.random.default_rng(7)
    o, c = rng.normal(5.0, 2.0, (2, 5, 13)).astype(odt), rng.normal(5.0, 2.0, (2, 5, 13)).astype(cdt)
    o64, at, s1, s2 = sc_native.day_sums(o, c, np.empty(o.shape), None)
    np.testing.assert_array_equal(o64, o.astype(np.float64))
    np.testing.assert_array_equal(at, o.astype(np.float64) - c.astype(np.float64))
    np.testing.assert_allclose(s1, at.sum(-1), rtol=0, atol=1e-14 * np.abs(at).sum())
    np.testing.assert_allclose(s2, (at * at).sum(-1), rtol=1e-14)
    assert sc_native.day_sums(o, c, np.empty((3, 5, 13)), None) is None  # wrong buffer: numpy does it


def test_free_lists_reuse_and_bound():
    sc_chunks.release_buffers()
    arrs = [sc_chunks.take((4, 5)) for _ in range(3)]
    sc_chunks.give(*arrs, None, arrs[0][1:])  # views are not taken back
    assert sc_chunks.take((4, 5)) is arrs[-1]
    sc_chunks.release_buffers(above_bytes=arrs[0].nbytes)
    held = [a for v in sc_chunks._pool().values() if isinstance(v, list) for a in v]
    assert len(held) == 1 and held[0] is arrs[0]
    sc_chunks.release_buffers()
    assert not [a for v in sc_chunks._pool().values() if isinstance(v, list) for a in v]


def test_read_ahead_equal_and_memory_bounded(monkeypatch, tmp_path):
    """Compressed per-pair store: the read-ahead thread gives the same card as the calling thread alone, and
    the peak of traced allocations does not grow with the number of inits (one pair read in flight)."""
    import tracemalloc

    from zarr.codecs import ZstdCodec

    peaks = []
    for n_init in (6, 18):
        fc, truth, clim = make(n_init=n_init, n_lead=4, nlat=19, nlon=36, seed=5)
        fz = _zarr(tmp_path, f"fc{n_init}", fc, LAYOUTS["per pair"][0], ZstdCodec())
        reader = sf._backend(fz["z"])
        assert isinstance(reader, ChunkReader) and reader.decoder is not None
        kw = dict(metrics=("rmse", "bias", "acc"), convention="chaosbench", block=3)
        monkeypatch.setattr(sf, "READ_AHEAD", False)
        alone = scorecard(fz, truth, clim, **kw)
        monkeypatch.setattr(sf, "READ_AHEAD", True)
        tracemalloc.start()
        ahead = scorecard(fz, truth, clim, **kw)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert_same(ahead, alone, rtol=0, atol=0)
    assert peaks[1] < 1.5 * peaks[0] + (1 << 20), peaks
