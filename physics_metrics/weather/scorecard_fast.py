"""Fused scorecard kernel: the deterministic scores of a piece from row sums on plain numpy arrays.

Private helper of :func:`physics_metrics.weather.scorecard.scorecard` for the scores it can compute from
a handful of running sums — WB2 ``mse``, ``rmse``, ``rmse_per_sample``, ``bias``, ``mae``, ``acc``,
``acc_centred`` and ChaosBench ``rmse``, ``bias``, ``mae``, ``acc`` (the built-in :data:`SCORES` entries;
a score re-registered under one of these names goes through the general path). Values equal the general
path (the xarray / ChaosBench functions on each piece) to rounding (~1e-12 relative; the tests pin 1e-9).

Per variable, block of inits and group of lead times the forecast piece is read once in its stored
dtype (a zarr-backed dask array is read straight from its backend array, several chunks per call, which
avoids dask's per-chunk task overhead; a plain local zarr store straight from its chunk files into reused
buffers, :mod:`.scorecard_chunks`, and one (init, lead) pair at a time where it is chunked per pair, so the
pair is still in cache when scored). Each truth day ``o`` (float64, ``(level, lat, lon)``) and its
anomaly ``a_T = o − c`` (``c`` the climatology of that day) is read **once** and kept while the lead
group's valid times still need it (consecutive inits and leads share valid days). Per (init, lead) pair,
with ``d = f − o`` (``f`` the forecast or its ensemble mean, in float64) and rows = (level, latitude),
sums over longitude are formed (``n`` valid points, ``Σd``, ``Σd²``, ``Σ|d|``, ``Σ d·a_T``) and then
weighted over latitude with ``w`` (cell-area for WB2, ChaosBench's cos weights, both mean 1):

* ``a_F = f − c = d + a_T``: ``Σ a_F a_T = Σ d a_T + Σ a_T²``, ``Σ a_F² = Σd² + 2Σ d a_T + Σ a_T²``,
  ``Σ a_F = Σd + Σa_T`` (``Σ a_T²``, ``Σ a_T`` per row are per-day sums). Where ``Σ a_F²`` is below
  ``1e-6 (Σd² + Σa_T²)`` (forecast ≈ climatology, cancellation) and wherever a pair holds NaN, the pair is
  recomputed directly from ``a_F = d + a_T`` with the joint NaN mask.
* WB2 (per init, ``⟨x⟩ = Σ w x / Σ_valid w``): ``mse = ⟨d²⟩``, ``bias = ⟨d⟩``, ``mae = ⟨|d|⟩``,
  ``acc = ⟨a_F a_T⟩ / sqrt(⟨a_F²⟩⟨a_T²⟩)``, ``acc_centred = cov / sqrt(var_F var_T)`` with
  ``cov = ⟨a_F a_T⟩ − ⟨a_F⟩⟨a_T⟩``, ``var = ⟨a²⟩ − ⟨a⟩²`` (Rasp et al. 2024, WeatherBench 2, §4.1).
* ChaosBench (pooled over the block's inits, Nathaniel et al. 2024, ``criterion.py``): ``rmse =
  sqrt(Σ w d² / n)``, ``bias = Σ w d / n``, ``mae = Σ w|d| / n``, ``acc = Σ a_F a_T / (sqrt(Σ a_T² Σ a_F²) +
  1e−10 / Σ w²)`` (unweighted, see :mod:`~physics_metrics.weather.chaosbench_convention`).

The per-pair row sums and the per-day anomaly sums are one C pass each where the kernel builds
(:mod:`.scorecard_native`; numpy otherwise, same values to rounding).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError
from . import chaosbench_convention as cbc
from . import scorecard_native
from .references import climatology_indexers
from .registry import SCORES
from .scorecard_chunks import ChunkReader, chunk_reader, give, release_buffers, take
from .scorecard_inputs import _HEAD, _SPACE, _nonfinite_error, _positions
from .weights import latitude_weights

FAST = {
    "wb2": ("mse", "rmse", "rmse_per_sample", "bias", "mae", "acc", "acc_centred"),
    "chaosbench": ("rmse", "bias", "mae", "acc"),
}
_BUILTIN = {m: SCORES[m] for ms in FAST.values() for m in ms}
#: Switch for tests and comparisons: ``False`` sends every score through the general path.
ENABLED = True
_CANCEL = 1e-6
#: Points per step of the per-pair loop (~0.25 MB of float64, so a step's arrays stay in L2).
_CACHE_POINTS = 32768
#: Read the next forecast piece in a background thread while the current one is scored (off by default:
#: it helps only where a second core is free).
PREFETCH = False
#: Compressed stores chunked per pair: decode the next pair in a second thread while one is scored (one read in
#: flight, two pair buffers). Off by default: no gain measured with both cores busy (zstd store, load 5).
READ_AHEAD = False
#: Read local zarr stores straight from their chunk files (:mod:`.scorecard_chunks`) where they qualify.
DIRECT_CHUNKS = True
#: Row sums of a pair in one C pass (:mod:`.scorecard_native`) where it is built; False: numpy only.
NATIVE = True
_KEEP_BYTES = 32 << 20


def split_metrics(metrics: list[str], convention: str) -> tuple[list[str], list[str]]:
    """``(fast, general)``: the metrics this kernel computes and the rest, each in the given order."""
    if not ENABLED:
        return [], list(metrics)
    fast = [m for m in metrics if m in FAST[convention] and SCORES[m] is _BUILTIN[m]]
    return fast, [m for m in metrics if m not in fast]


# ------------------------------------------------------------------------------------------ reading
def _backend(da: xr.DataArray) -> Any:
    """The backend array under a dask array made by ``open_zarr``/``open_dataset(chunks=...)`` (a
    :class:`~.scorecard_chunks.ChunkReader` of it for a plain local zarr store), else None.

    Such an array's graph has two layers: ``original-<name>`` holding the lazily indexed backend array and
    the per-chunk getters. Reading a piece from the backend array directly takes several chunks per call.
    """
    layers = getattr(getattr(da.data, "dask", None), "layers", None)
    if not isinstance(layers, Mapping) or len(layers) != 2:
        return None
    names = [k for k in layers if isinstance(k, str) and k.startswith("original-")]
    if len(names) != 1:
        return None
    layer = layers[names[0]]
    obj = layer.get(names[0]) if isinstance(layer, Mapping) else None
    if getattr(obj, "shape", None) != da.shape or not hasattr(obj, "__getitem__"):
        return None
    return (chunk_reader(obj) if DIRECT_CHUNKS else None) or obj


def _runs(ix: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous ascending runs ``[(start, stop)]`` of a sorted unique index array."""
    cut = np.flatnonzero(np.diff(ix) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(ix, cut)]


def _as_slice(ix: Any) -> Any:
    """A contiguous ascending index array as a slice (cheaper for dask), anything else unchanged."""
    if isinstance(ix, np.ndarray) and ix.size and np.array_equal(ix, np.arange(ix[0], ix[0] + ix.size)):
        return slice(int(ix[0]), int(ix[0]) + ix.size)
    return ix


def _read(da: xr.DataArray, index: dict[str, Any], order: list[str], obj: Any = None, slot: Any = None):
    """``da.isel(index).transpose(*order)`` as numpy (float32/float64 kept, other dtypes to float64);
    ``obj``: ``da``'s backend array (:func:`_backend`) to read from, None to go through ``da``; ``slot``: a
    :class:`ChunkReader` buffer to read into (the result may then be a view of it, valid until its next use)."""
    if obj is None:
        index = {d: _as_slice(ix) for d, ix in index.items()}
        out = np.asarray(da.isel(index).transpose(*order).values)
    else:
        key, post, fancy = [], [], None
        for ax, d in enumerate(da.dims):
            ix = index.get(d, slice(None))
            if not isinstance(ix, np.ndarray):
                key.append(ix)
                post.append(slice(None))
                continue
            uniq = np.unique(ix)
            lo, hi = int(uniq[0]), int(uniq[-1]) + 1
            if fancy is None and hi - lo > 4 * uniq.size + 8:  # scattered: read run by run on this axis
                fancy = (ax, uniq)
                key.append(None)
                post.append(None if np.array_equal(ix, uniq) else np.searchsorted(uniq, ix))
            else:
                key.append(slice(lo, hi))
                post.append(None if np.array_equal(ix, np.arange(lo, hi)) else ix - lo)
        direct = isinstance(obj, ChunkReader) and all(isinstance(k, slice) for k in key if k is not None)

        def get(k: list, into: Any = None) -> np.ndarray:
            return obj.read(tuple(k), into) if direct else np.asarray(obj[tuple(k)])

        if fancy is None:
            out = get(key, slot)
        else:
            ax, uniq = fancy
            parts = []
            for a, b in _runs(uniq):
                k = list(key)
                k[ax] = slice(a, b)
                parts.append(get(k))
            out = np.concatenate(parts, axis=ax)
        for ax, p in enumerate(post):
            if isinstance(p, np.ndarray):
                out = np.take(out, p, axis=ax)
        out = out.transpose([da.dims.index(d) for d in order])
    if out.dtype not in (np.float32, np.float64):
        out = out.astype(np.float64)
    return out


class _PairPiece:
    """A forecast piece ``(init, lead, ...)`` of a store chunked per (init, lead) pair, read one pair at a time
    (``piece[a, j]``, in the order a, j) into a reused buffer (valid until the next pair is read; the pair is
    then still hot in cache when scored); ``whole()`` reads the whole piece (for the non-finite checks).
    With ``ahead`` (a one-thread executor) the next pair is read (decoded) there while this one is scored:
    at most one read in flight, into one of that thread's two pair buffers."""

    def __init__(self, reader: ChunkReader, ii: np.ndarray, lead_sl: slice, whole, ahead=None):
        self.reader, self.ii, self.l0, self.whole = reader, ii, lead_sl.start, whole
        self.n, self.ahead, self.next = lead_sl.stop - lead_sl.start, ahead, None
        self.rest = (slice(None),) * (len(reader.shape) - 2)

    def _get(self, p: int, slot: Any) -> np.ndarray:
        a, j = divmod(p, self.n)
        i, j = int(self.ii[a]), self.l0 + j
        return self.reader.read((slice(i, i + 1), slice(j, j + 1)) + self.rest, slot)[0, 0]

    def __getitem__(self, aj: tuple[int, int]) -> np.ndarray:
        p = aj[0] * self.n + aj[1]
        nxt, self.next = self.next, None
        out = nxt[1].result() if nxt is not None and nxt[0] == p else self._get(p, "pair")
        if self.ahead is not None and p + 1 < self.ii.size * self.n:
            self.next = (p + 1, self.ahead.submit(self._get, p + 1, ("pair", (p + 1) % 2)))
        return out


# ------------------------------------------------------------------------------------------ truth days
class _Days:
    """Truth ``o`` and anomaly ``a_T`` (float64, ``(level, lat, lon)``) of the valid days in use, read once."""

    def __init__(self, truth_src, clim_src, truth, clim, clim_grid, var, spatial, levels, need_clim):
        self.t, self.c, self.var = truth_src, clim_src if need_clim else None, var
        self.levels = levels
        self.cache: dict[Any, tuple] = {}
        self.tda = truth[var]
        self.tix = dict(spatial)
        self.tobj = _backend(self.tda)
        if levels is not None:
            self.tix["level"] = _positions(levels, self.tda["level"].values, "level", f"truth {var!r}")
        self.cda = None
        if self.c is not None and "hour" not in self.c.clim.dims:
            self.cda = self.c.clim[var]
            self.cix = dict(clim_grid)
            self.cobj = _backend(self.cda)
            if levels is not None:
                self.cix["level"] = _positions(
                    levels, self.cda["level"].values, "level", f"climatology {var!r}"
                )
        self.sdims = (["level"] if levels is not None else []) + list(_SPACE)

    def piece(self, valid: np.ndarray, idx: np.ndarray, lead_sl: slice):
        """Keys ``(n, L)`` of the pairs' days and the day table ``{key: _entry(...)}`` holding them."""
        if self.t.schema == "forecast":  # no sharing of days: the truth piece itself
            o = self.t.get(valid, idx, lead_sl, None, list(_HEAD) + self.sdims)
            c = self._clim_pairs(valid)
            keys = np.arange(valid.size).reshape(valid.shape)
            o = o.reshape((valid.size,) + o.shape[2:])
            c = None if c is None else c.reshape(o.shape)
            return keys, {k: self._entry(o[k], None if c is None else c[k]) for k in range(valid.size)}
        pos = self.t.times.get_indexer(valid.ravel())
        if np.any(pos < 0):
            miss = valid.ravel()[pos < 0]
            raise MetricInputError(
                f"{self.t.what}: {np.unique(miss).size} forecast valid time(s) missing along 'time', e.g. {miss[0]}"
            )
        need = set(pos.tolist())
        self.close([k for k in self.cache if k not in need])
        new = np.array(sorted(need - set(self.cache)), dtype=np.int64)
        if new.size:
            # read into reused buffers, converted day by day: a day's arrays (a few MB) come back from
            # the allocator's heap once older days are dropped, so no fresh pages are faulted in
            o = _read(self.tda, {"time": new, **self.tix}, ["time"] + self.sdims, self.tobj, "truth")
            c = self._clim_days(self.t.times.values[new]) if self.c is not None else None
            for j, k in enumerate(new.tolist()):
                self.cache[k] = self._entry(o[j], None if c is None else c[j])
        return pos.reshape(valid.shape), self.cache

    def close(self, keys=None) -> None:
        """Drop the days ``keys`` (default all) from the cache, their arrays back to the free lists."""
        for k in list(self.cache) if keys is None else keys:
            entry = self.cache.pop(k)
            give(entry[0], entry[1])

    def _clim_days(self, times: np.ndarray) -> np.ndarray:
        if self.cda is None:
            return self._clim_pairs(times.reshape(-1, 1)).reshape((times.size,) + self._shape())
        try:
            ind = climatology_indexers(self.c.clim, xr.DataArray(times, dims="_p"))
        except ValueError as err:
            raise MetricInputError(str(err).replace("climatology:", f"{self.c.what}:", 1)) from None
        day_dim = next(iter(ind))
        return _read(
            self.cda, {day_dim: ind[day_dim].values, **self.cix}, [day_dim] + self.sdims, self.cobj, "clim"
        )

    def _shape(self) -> tuple[int, ...]:
        return tuple(self.tda.sizes[d] for d in self.sdims)

    def _clim_pairs(self, valid: np.ndarray) -> np.ndarray | None:
        if self.c is None:
            return None
        return self.c.get(valid, None, slice(None), None, list(_HEAD) + self.sdims)

    def _entry(self, o: np.ndarray, c: np.ndarray | None) -> tuple:
        """``(o, a_T, Σ_lon a_T, Σ_lon a_T², truth ok, anomaly ok)`` (new float64 arrays from ``o``, ``c`` of any
        float dtype); a non-finite ``o`` shows in the pair's
        ``Σ_lon d`` (so it is not scanned here), a non-finite ``a_T`` in ``Σ_lon a_T``."""
        if o.ndim == 2:
            o = o[None]
        if c is None:
            return o.astype(np.float64), None, None, None, True, True
        c = c[None] if c.ndim == 2 else c
        # o, c may be views of reused read buffers; the day's arrays come from (and go back to) free lists
        got = scorecard_native.day_sums(o, c, take(o.shape), take(o.shape)) if NATIVE else None
        if got is None:
            o = o.astype(np.float64)
            at = np.subtract(o, c, dtype=np.float64)
            got = o, at, at.sum(-1), np.einsum("kij,kij->ki", at, at)
        return *got, True, bool(np.isfinite(got[2]).all())


# ------------------------------------------------------------------------------------------ kernel
def _rows_direct(d: np.ndarray, at: np.ndarray | None) -> dict[str, np.ndarray]:
    """Row sums over longitude with the NaN masks of the general path (``d``, ``a_T``: ``(k, lat, lon)``)."""
    vd = ~np.isnan(d)
    d0 = np.where(vd, d, 0.0)
    r = {"n": vd.sum(-1).astype(np.float64), "d": d0.sum(-1), "d2": np.einsum("kij,kij->ki", d0, d0)}
    r["ad"] = np.abs(d0).sum(-1)
    if at is not None:
        fa = d + at
        va = ~np.isnan(fa)
        fa0, at0 = np.where(va, fa, 0.0), np.where(va, at, 0.0)
        r.update(na=va.sum(-1).astype(np.float64), fa=fa0.sum(-1), at=at0.sum(-1))
        r.update(fa_at=np.einsum("kij,kij->ki", fa0, at0), fa2=np.einsum("kij,kij->ki", fa0, fa0))
        r["at2"] = np.einsum("kij,kij->ki", at0, at0)
    return r


def _rows_fast(f: np.ndarray, o: np.ndarray, buf: np.ndarray, day: tuple, need_acc: bool, need_mae: bool):
    """``d = f − o`` into ``buf`` (float64) and the row sums of a NaN-free pair from ``d`` and the day's sums;
    rows None where the direct pass is needed. In one C pass (:mod:`.scorecard_native`) where available, else
    a few levels at a time so that ``d`` stays in cache."""
    k = o.shape[0]
    step = max(1, _CACHE_POINTS // (o.shape[1] * o.shape[2]))
    at = day[1]
    sums = scorecard_native.row_sums(f, o, at if need_acc else None) if NATIVE else None
    if sums is not None:
        rd, d2, ad, dat = sums
        k = 0
    else:
        rd, d2 = np.empty(o.shape[:2]), np.empty(o.shape[:2])
        ad = np.empty(o.shape[:2]) if need_mae else None
        dat = np.empty(o.shape[:2]) if need_acc else None
    for a in range(0, k, step):
        sl = slice(a, a + step)
        if f.dtype == np.float64:
            d = np.subtract(f[sl], o[sl], out=buf[sl])
        else:  # the cast copy then a float64 subtraction is faster than a mixed-type subtraction
            np.copyto(buf[sl], f[sl])
            d = np.subtract(buf[sl], o[sl], out=buf[sl])
        np.sum(d, axis=-1, out=rd[sl])
        np.einsum("kij,kij->ki", d, d, out=d2[sl])
        if need_mae:
            np.sum(np.abs(d), axis=-1, out=ad[sl])
        if need_acc:
            np.einsum("kij,kij->ki", d, at[sl], out=dat[sl])
    if not np.isfinite(rd).all():
        return None
    full = np.full(rd.shape, float(o.shape[-1]))
    r = {"n": full, "d": rd, "d2": d2}
    if need_mae:
        r["ad"] = ad
    if need_acc:
        at1, at2 = day[2], day[3]
        fa2 = d2 + 2.0 * dat + at2
        if np.any(fa2 < _CANCEL * (d2 + at2)):
            return None
        r.update(na=full, fa=rd + at1, at=at1, fa_at=dat + at2, fa2=fa2, at2=at2)
    return r


def _pair_f(f: np.ndarray, members: bool, nan_mean: bool) -> np.ndarray:
    """The pair's forecast: ``f`` or its ensemble mean over axis 0 (float64; NaN-skipping if asked)."""
    if not members:
        return f
    fm = np.mean(f, axis=0, dtype=np.float64)
    if nan_mean and not np.isfinite(fm).all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fm = np.nanmean(f.astype(np.float64), axis=0)
    return fm


def _wb2_values(r: dict[str, np.ndarray], w: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
    """Per-init WB2 values ``(level,)`` of one pair from its row sums (area weights ``w``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        wd = r["n"] @ w
        mean = {k: np.where(wd > 0, (r[k] @ w) / wd, np.nan) for k in ("d", "d2", "ad") if k in r}
        out = {"mse": mean["d2"], "rmse_per_sample": np.sqrt(mean["d2"]), "bias": mean["d"]}
        if "ad" in mean:
            out["mae"] = mean["ad"]
        if "acc" in keys or "acc_centred" in keys:
            wa = r["na"] @ w
            m = {k: np.where(wa > 0, (r[k] @ w) / wa, np.nan) for k in ("fa", "at", "fa_at", "fa2", "at2")}
            out["acc"] = m["fa_at"] / np.sqrt(m["fa2"] * m["at2"])
            cov = m["fa_at"] - m["fa"] * m["at"]
            out["acc_centred"] = cov / np.sqrt((m["fa2"] - m["fa"] ** 2) * (m["at2"] - m["at"] ** 2))
    return {k: out[k] for k in keys}


_WB2_KEY = {"mse": "mse", "rmse": "mse", "rmse_per_sample": "rmse_per_sample", "bias": "bias", "mae": "mae"}
_WB2_KEY.update(acc="acc", acc_centred="acc_centred")


def _check_piece(f, keys, table, var, what_c, inits, leads, levels, lat, lon, skipna, need_acc) -> None:
    """The general path's non-finite checks on a piece (forecast, truth, climatology), same messages."""
    o = np.stack([np.stack([table[k][0] for k in row]) for row in keys])
    if levels is None:
        o = o[:, :, 0]
    pieces = [(f, "forecast"), (o, "truth")]
    if need_acc:
        c = o - np.stack([np.stack([table[k][1] for k in row]) for row in keys]).reshape(o.shape)
        pieces.append((c, what_c))
    for arr, what in pieces:
        if not np.isfinite(arr).all():
            _nonfinite_error(arr, var, what, inits, leads, levels, lat, lon, skipna)


def fast_values(var, forecast, truth, climatology, t_src, c_src, spatial, clim_grid, metrics, convention,
                chunks, skipna, opts) -> dict[str, np.ndarray]:  # fmt: skip
    """Scores ``metrics`` (all in :data:`FAST` [convention]) of one variable: ``{metric: (lead, [level])}``."""
    parts = fast_parts(var, forecast, truth, climatology, t_src, c_src, spatial, clim_grid, metrics, convention,
                       chunks, skipna, opts)  # fmt: skip
    return fast_finish(parts, forecast[var], metrics, convention, opts)


def fast_finish(parts: list[tuple], fda: xr.DataArray, metrics, convention, opts) -> dict[str, np.ndarray]:
    """The scores of one variable from the contributions of :func:`fast_parts` (of all its blocks, in block
    order), replayed in that order: the same floating-point operations as one pass over all blocks."""
    has_level = "level" in fda.dims
    n_lead, n_lev = fda.sizes["lead_time"], fda.sizes["level"] if has_level else 1
    n_m = fda.sizes["member"] if "member" in fda.dims else 1
    if convention == "wb2":
        keys = sorted({_WB2_KEY[m] for m in metrics})
        sums = {k: np.zeros((n_lead, n_lev)) for k in keys}
        counts = {k: np.zeros((n_lead, n_lev)) for k in keys}
        for key, lead_sl, s, c in parts:
            sums[key][lead_sl] += s
            counts[key][lead_sl] += c

        def mean(key: str) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(counts[key] > 0, sums[key] / counts[key], np.nan)

        out = {m: SCORES[m].finish_wb2(mean, opts, n_m) for m in metrics}
    else:
        blocks: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
        for _, vals in parts:
            for m in metrics:
                blocks[m].append(vals[m])
        out = {m: np.mean(np.stack(blocks[m]), axis=0) for m in metrics}
    return {m: v if has_level else v[:, 0] for m, v in out.items()}


def fast_parts(var, forecast, truth, climatology, t_src, c_src, spatial, clim_grid, metrics, convention,
               chunks, skipna, opts, first_block: int = 0) -> list[tuple]:  # fmt: skip
    """The contributions of the blocks ``chunks`` (numbered from ``first_block``) to one variable's scores, in
    order: WB2 ``(key, lead slice, Σ over the piece's inits, count)`` per piece, ChaosBench ``(block,
    {metric: values})`` per block; :func:`fast_finish` turns them into scores."""
    fda = forecast[var]
    has_level, has_m = "level" in fda.dims, "member" in fda.dims
    n_lead = fda.sizes["lead_time"]
    n_lev = fda.sizes["level"] if has_level else 1
    n_m = fda.sizes["member"] if has_m else 1
    nlat, nlon = fda.sizes["latitude"], fda.sizes["longitude"]
    inits, leads = forecast["init_time"].values, forecast["lead_time"].values
    lat, lon = forecast["latitude"].values, forecast["longitude"].values
    levels = forecast["level"].values if has_level else None
    fdims = list(_HEAD) + (["member"] if has_m else []) + (["level"] if has_level else []) + list(_SPACE)
    need_acc = any(m in ("acc", "acc_centred") for m in metrics)
    need_mae = "mae" in metrics
    days = _Days(t_src, c_src, truth, climatology, clim_grid, var, spatial, levels, need_acc)
    wb2 = convention == "wb2"
    w = np.asarray(latitude_weights(lat).values) if wb2 else cbc.chaosbench_latitude_weights(lat)
    keys_wb2 = sorted({_WB2_KEY[m] for m in metrics}) if wb2 else []
    parts: list[tuple] = []
    buf = np.empty((n_lev, nlat, nlon))
    point = 8 * n_m * nlat * nlon
    plan = []  # (block, inits, leads) of every piece, read one ahead in a thread while the last is scored
    for b, idx in enumerate(chunks):
        budget = max(1, opts["max_chunk_bytes"] // (point * len(idx)))
        lev_size = min(n_lev, budget)
        lead_size = max(1, min(n_lead, budget // lev_size))
        sub = len(idx) if lev_size == n_lev else max(1, opts["max_chunk_bytes"] // (point * n_lev))
        for s0 in range(0, len(idx), sub):
            for l0 in range(0, n_lead, lead_size):
                plan.append((b, np.asarray(idx[s0 : s0 + sub]), slice(l0, min(l0 + lead_size, n_lead))))

    fobj = _backend(fda)
    # chunks of one (init, lead) in the stored order: each pair is read when scored, into a reused buffer
    by_pair = isinstance(fobj, ChunkReader) and fobj.chunks[:2] == (1, 1) and list(fda.dims) == fdims
    # compressed, if asked: the next pair is decoded in a second thread while one is scored
    ahead = by_pair and READ_AHEAD and fobj.decoder is not None
    pair_pool = ThreadPoolExecutor(max_workers=1) if ahead else None

    def load(k: int, whole: bool = False) -> np.ndarray | _PairPiece:
        _, ii, sl = plan[k]
        if by_pair and not whole:
            return _PairPiece(fobj, ii, sl, lambda: load(k, True), pair_pool)
        return _read(fda, {"init_time": ii, "lead_time": np.arange(sl.start, sl.stop)}, fdims, fobj,
                     None if whole else k % 2)  # fmt: skip

    cb = np.zeros((7, n_lead, n_lev))

    def score_piece(f: np.ndarray, ii: np.ndarray, lead_sl: slice) -> None:
        valid = inits[ii][:, None] + leads[lead_sl][None, :]
        keys, table = days.piece(valid, ii, lead_sl)
        per = {key: np.full((ii.size, valid.shape[1], n_lev), np.nan) for key in keys_wb2}
        checked = False
        for a in range(ii.size):
            for j in range(valid.shape[1]):
                day = table[keys[a, j]]
                fp = f[a, j] if has_level else f[a, j][..., None, :, :]
                fp = _pair_f(fp, has_m, wb2 and skipna)
                r = _rows_fast(fp, day[0], buf, day, need_acc, need_mae) if day[4] and day[5] else None
                if r is None:
                    d = np.subtract(fp, day[0], out=buf)
                    if not checked:
                        _check_piece(f.whole() if isinstance(f, _PairPiece) else f, keys, table, var, days.c.what if days.c else "", inits[ii],
                                     leads[lead_sl], levels, lat, lon, skipna, need_acc)  # fmt: skip
                        checked = True
                    r = _rows_direct(d, day[1] if need_acc else None)
                if wb2:
                    for key, v in _wb2_values(r, w, keys_wb2).items():
                        per[key][a, j] = v
                    continue
                row = cb[:, lead_sl.start + j]
                row[0] += r["n"].sum(-1)
                row[1] += r["d"] @ w
                row[2] += r["d2"] @ w
                if need_mae:
                    row[3] += r["ad"] @ w
                if need_acc:
                    row[4] += r["fa_at"].sum(-1)
                    row[5] += r["fa2"].sum(-1)
                    row[6] += r["at2"].sum(-1)
        for key, v in per.items():
            parts.append((key, lead_sl, np.nansum(v, axis=0), np.sum(~np.isnan(v), axis=0)))

    with ThreadPoolExecutor(max_workers=1) as pool, pair_pool or nullcontext():
        prefetched = pool.submit(load, 0) if PREFETCH else None
        for k, (b, ii, lead_sl) in enumerate(plan):
            f = prefetched.result() if PREFETCH else load(k)
            if PREFETCH and k + 1 < len(plan):
                prefetched = pool.submit(load, k + 1)
            score_piece(f, ii, lead_sl)
            del f
            if wb2 or (k + 1 < len(plan) and plan[k + 1][0] == b):
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                n = np.where(cb[0] > 0, cb[0], np.nan)
                vals = {"rmse": np.sqrt(cb[2] / n), "bias": cb[1] / n, "mae": cb[3] / n}
                vals["acc"] = cb[4] / (np.sqrt(cb[6] * cb[5]) + cbc._ACC_EPS / float(np.sum(w**2)))
            parts.append((first_block + b, {m: vals[m] for m in metrics}))
            cb[:] = 0.0
    days.close()
    release_buffers(_KEEP_BYTES)  # piece-sized read buffers go; the per-pair and some per-day ones stay
    return parts
