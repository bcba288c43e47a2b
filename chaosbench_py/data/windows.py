"""Windows of a lazy canonical dataset as a torch ``Dataset``: ``(inputs, targets)`` samples.

A sample anchored at time index ``a`` (the last input state, the "init time") holds

* ``inputs``: the states at ``a − n_input_steps + 1 … a``, shape ``(C_in, H, W)`` when
  ``n_input_steps == 1`` (ChaosBench's ``x``) else ``(n_input_steps, C_in, H, W)``;
* ``targets``: the states at ``a + k`` for each ``k`` in ``lead_steps``, shape
  ``(len(lead_steps), C, H, W)`` (ChaosBench's ``y``),

float32 torch tensors. ``C`` channels are the chosen variables × levels in the recorded order
:attr:`WindowDataset.channel_names` (see :func:`chaosbench_py.data.statistics.channel_layout`),
each normalised as ``(x − mean_c) / std_c`` with the given statistics; ``C_in = C + K`` appends
``K`` constant fields (land-sea mask, orography …) to every input step. ``H, W`` follow the
dataset's latitude / longitude order (canonical: latitude 90 → −90, longitude 0 → 360).

Only the time steps of the requested window are read (one dask compute per sample on the
synchronous scheduler; with ``chunk_reads`` the rest of their time chunks too); a bounded
per-process LRU cache of normalised states (``cache_states`` or ``cache_mb``) means that
consecutive windows (rollout evaluation, sequential or block-shuffled sampling, see
:mod:`chaosbench_py.data.block_sampler`) read each time step, and decode each chunk, once. A
training copy (:func:`chaosbench_py.data.training_copy.open_training_copy`) and the ChaosBench day-stores
(:mod:`chaosbench_py.data.day_reader`) and time-chunked WeatherBench2-style stores
(:mod:`chaosbench_py.data.zarr_chunk_reader`) are read straight from their chunk files, without dask. The
dataset pickles without data and re-opens its source lazily in each ``DataLoader`` worker.
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dask
import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..errors import InputError, InputTypeError, UnknownNameError
from .statistics import Channel, _check_time_axis, _level_indices, channel_layout, normalisation_arrays

logger = logging.getLogger(__name__)

__all__ = ["WindowDataset"]


def _refcount(pair: tuple[np.ndarray, ...], k: int) -> int:
    return sys.getrefcount(pair[k])


_FREE = _refcount((np.empty(0),), 0)  # the count of an array referenced only by its tuple


def _empty(shape: tuple[int, ...]) -> np.ndarray:
    """Float32 memory for the pooled batch and cache buffers (allocated once, then reused), on small
    pages: ``torch.empty`` does not ask for transparent huge pages, whose first touch stalls on
    memory compaction when the machine's memory is fragmented (measured 0.4 GB/s, against 2.8 GB/s for
    small pages and 6 GB/s for huge pages when they are free)."""
    return torch.empty(shape, dtype=torch.float32).numpy()


class WindowDataset(torch.utils.data.Dataset):
    """``(inputs, targets)`` windows of a canonical gridded dataset, normalised, float32.

    Args:
        data: the canonical ``xarray.Dataset`` (lazy), or a picklable zero-argument callable that
            opens it (e.g. ``functools.partial(open_chaosbench, root, years=[2016])``); with a
            callable, each ``DataLoader`` worker opens its own copy on first use.
        variables: variable names, in channel order.
        levels: pressure levels (hPa) of the 3-D variables, in channel order (default: all).
        n_input_steps: consecutive input states per sample (≥ 1).
        lead_steps: target offsets in time steps after the last input state (positive ints).
        statistics: per-channel ``mean``/``std`` (from
            :func:`~chaosbench_py.data.statistics.channel_statistics`), indexed by ``channel``
            name; ``None`` serves raw values (float32, physical units).
        constants: fields with dims ``(latitude, longitude)`` (Dataset or mapping of name →
            DataArray), appended to the inputs in the given order after the dynamic channels.
            Normalised by ``statistics`` if it has their names, else by their own spatial mean
            and std (a field with std 0, e.g. an all-land mask, is only centred).
        time_indices: anchor indices (positions of the last input state) to serve; default
            every anchor whose whole window exists. An anchor whose window crosses either end
            of the data or needs a missing time is a ``ValueError``.
        init_times: anchors given as times instead (``datetime64``-like); a time not in the
            dataset is a ``KeyError`` naming it.
        time_step: the spacing a step stands for: ``"infer"`` (the most common spacing),
            a ``numpy.timedelta64``/``pandas.Timedelta``/string, or ``None`` (steps are array
            positions, gaps are not checked). With a spacing, windows that would need a
            missing time (a gap in the data) are skipped by default and an error when asked for.
        cache_states: how many normalised states each process keeps (default: one window).
        cache_mb: bound the cache by memory instead: ``floor(cache_mb · 2²⁰ / (4 · C · H · W))``
            states (a least-recently-used cache; overrides ``cache_states``).
        chunk_reads: when the source is chunked over several time steps (dask chunks, e.g. a
            WeatherBench2 store), read the whole time chunk(s) of a missing state into the cache
            (if the cache can hold them), so that each chunk is decoded once when samples come in
            chunk order (:class:`chaosbench_py.data.block_sampler.BlockShuffleSampler`).
        check_finite: raise ``ValueError`` naming channel and time when a served state has
            NaN/inf.

    Attributes:
        channel_names: names of the dynamic channels (targets), e.g. ``["z-500", "t-850"]``.
        input_channel_names: ``channel_names`` plus the constant fields.
        anchors: the anchor time index of every sample (``numpy`` int array).
    """

    def __init__(
        self,
        data: xr.Dataset | Callable[[], xr.Dataset],
        *,
        variables: Sequence[str],
        levels: Sequence[float] | None = None,
        n_input_steps: int = 1,
        lead_steps: Sequence[int] = (1,),
        statistics: xr.Dataset | None = None,
        constants: xr.Dataset | Mapping[str, xr.DataArray] | None = None,
        time_indices: Sequence[int] | None = None,
        init_times: Sequence[Any] | None = None,
        time_step: Any = "infer",
        cache_states: int | None = None,
        cache_mb: float | None = None,
        chunk_reads: bool = True,
        check_finite: bool = True,
    ) -> None:
        if isinstance(data, xr.Dataset):
            self._opener: Callable[[], xr.Dataset] | None = None
            ds = data
        elif callable(data):
            self._opener = data
            ds = data()
            if not isinstance(ds, xr.Dataset):
                raise InputTypeError(f"data: the opener returned {type(ds).__name__}, not an xarray.Dataset")
        else:
            raise InputTypeError(
                f"data: expected an xarray.Dataset or a callable opening one, got {type(data).__name__}"
            )
        if int(n_input_steps) != n_input_steps or n_input_steps < 1:
            raise InputError(f"n_input_steps={n_input_steps!r}: must be an integer ≥ 1")
        self.n_input_steps = int(n_input_steps)
        leads = [int(k) for k in lead_steps]
        if not leads or any(k < 1 for k in leads) or len(set(leads)) != len(leads):
            raise InputError(f"lead_steps={list(lead_steps)!r}: need distinct positive integers")
        if [k for k in lead_steps] != leads:
            raise InputError(f"lead_steps={list(lead_steps)!r}: need integers")
        self.lead_steps = leads
        self.variables = list(variables)
        layout = channel_layout(ds, self.variables, levels)
        self._layout: list[Channel] = layout
        self.channel_names = [ch.name for ch in layout]
        self.levels = list(dict.fromkeys(ch.level for ch in layout if ch.level is not None))
        for d in ("latitude", "longitude"):
            if d not in ds.dims:
                raise InputError(f"dataset has no {d!r} dimension (dims: {dict(ds.sizes)})")
        self.latitude = np.asarray(ds["latitude"].values)
        self.longitude = np.asarray(ds["longitude"].values)
        self.times = _check_time_axis(ds)
        self.time_step = self._resolve_step(time_step)

        self._mean, self._std = self._channel_stats(statistics, self.channel_names, "statistics")
        if self._mean is not None:
            self._inv_std = (1.0 / self._std.astype(np.float64)).astype(np.float32)
            self._scaled_mean = (self._mean.astype(np.float64) / self._std).astype(np.float32)
        self.constant_names, self._constants = self._load_constants(constants, statistics)
        self.input_channel_names = self.channel_names + self.constant_names

        self._offsets = np.array(list(range(-self.n_input_steps + 1, 1)) + leads)
        self.anchors, self._positions = self._windows(time_indices, init_times)
        self.cache_states = len(self._offsets) if cache_states is None else int(cache_states)
        state_bytes = 4 * len(self.channel_names) * self.latitude.size * self.longitude.size
        if cache_mb is not None:
            if not cache_mb >= 0:
                raise InputError(f"cache_mb={cache_mb!r}: need a size in MB ≥ 0")
            self.cache_states = int(cache_mb * 2**20 // state_bytes)
        self.chunk_reads = bool(chunk_reads)
        self._chunk_starts: np.ndarray | None = None
        self._free: list[np.ndarray] = []  # evicted states' memory, reused by one-state reads
        self._out: list[tuple[np.ndarray, np.ndarray]] = []  # the last batches' memory (batch)
        self.check_finite = bool(check_finite)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._ds: xr.Dataset | None = self._select(ds)
        from .day_reader import DayStoreReader
        from .training_copy import CopyReader
        from .zarr_chunk_reader import TimeChunkedStoreReader

        found = (
            R.for_dataset(ds, self.variables, self.levels)
            for R in (CopyReader, DayStoreReader, TimeChunkedStoreReader)
        )
        self._copy = next((r for r in found if r is not None), None)  # the first direct reader that accepts
        logger.info(
            "WindowDataset: %d samples, %d channels (+%d constants), inputs %d step(s), leads %s",
            len(self),
            len(self.channel_names),
            len(self.constant_names),
            self.n_input_steps,
            self.lead_steps,
        )

    # ------------------------------------------------------------------ setup helpers
    def _resolve_step(self, time_step: Any) -> np.timedelta64 | None:
        if time_step is None:
            return None
        if isinstance(time_step, str) and time_step == "infer":
            if len(self.times) < 2:
                return None
            diffs = np.diff(self.times.values)
            vals, counts = np.unique(diffs, return_counts=True)
            return vals[np.argmax(counts)]
        try:
            step = pd.Timedelta(time_step).to_timedelta64()
        except (TypeError, ValueError):
            raise InputError(f"time_step={time_step!r}: not a time interval") from None
        if step <= np.timedelta64(0, "ns"):
            raise InputError(f"time_step={time_step!r}: must be positive")
        return step

    @staticmethod
    def _channel_stats(
        statistics: xr.Dataset | None, names: list[str], what: str
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if statistics is None:
            return None, None
        mean, std = normalisation_arrays(statistics, names, what)
        return mean.astype(np.float32), std.astype(np.float32)

    def _load_constants(
        self, constants: xr.Dataset | Mapping[str, xr.DataArray] | None, statistics: xr.Dataset | None
    ) -> tuple[list[str], np.ndarray | None]:
        if constants is None:
            return [], None
        items = (
            list(constants.data_vars.items())
            if isinstance(constants, xr.Dataset)
            else list(constants.items())
        )
        names, fields = [], []
        have_stats = statistics is not None and set(map(str, statistics["channel"].values))
        for name, field in items:
            name = str(name)
            if name in self.channel_names:
                raise InputError(f"constants: {name!r} is also a dynamic channel")
            field = field.squeeze(drop=True)
            if set(field.dims) != {"latitude", "longitude"}:
                raise InputError(
                    f"constants: field {name!r} has dims {field.dims}; need (latitude, longitude)"
                )
            try:
                field = field.sel(
                    latitude=self.latitude, longitude=self.longitude, method="nearest", tolerance=1e-6
                )
            except KeyError:
                raise InputError(
                    f"constants: field {name!r} is on another grid than the dataset "
                    f"(latitude/longitude coordinates do not match)"
                ) from None
            arr = np.asarray(field.transpose("latitude", "longitude").values, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise InputError(f"constants: field {name!r} contains NaN/inf")
            if have_stats and name in have_stats:
                mean, std = self._channel_stats(statistics, [name], "statistics")
                arr = (arr - mean[0]) / std[0]
            else:
                std = arr.std()
                arr = (arr - arr.mean()) / (std if std > 0 else 1.0)
            names.append(name)
            fields.append(arr.astype(np.float32))
        return names, np.stack(fields)

    def _windows(
        self, time_indices: Sequence[int] | None, init_times: Sequence[Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.times)
        if time_indices is not None and init_times is not None:
            raise InputError("pass either time_indices or init_times, not both")
        explicit = time_indices is not None or init_times is not None
        if init_times is not None:
            wanted = pd.DatetimeIndex(np.atleast_1d(np.asarray(init_times, dtype="datetime64[ns]")))
            pos = self.times.get_indexer(wanted)
            if np.any(pos < 0):
                missing = [str(t) for t in wanted[pos < 0][:5]]
                raise UnknownNameError(f"init_times: {missing} not in the dataset's time axis")
            anchors = pos
        elif time_indices is not None:
            anchors = np.asarray(time_indices)
            if anchors.ndim != 1 or (anchors.size and not np.issubdtype(anchors.dtype, np.integer)):
                raise InputTypeError("time_indices: need a 1-D sequence of integers")
            out = anchors[(anchors < 0) | (anchors >= n)]
            if out.size:
                raise InputError(f"time_indices: {out[:5].tolist()} outside the time axis [0, {n})")
        else:
            anchors = np.arange(n)
        anchors = anchors.astype(np.int64)
        positions = anchors[:, None] + self._offsets[None, :]
        inside = np.all((positions >= 0) & (positions < n), axis=1)
        if explicit and not inside.all():
            a = int(anchors[~inside][0])
            raise InputError(
                f"time index {a} ({self.times[a]}): its window (inputs {self.n_input_steps} step(s) back, "
                f"leads {self.lead_steps}) crosses the end of the data (time axis has {n} steps)"
            )
        anchors, positions = anchors[inside], positions[inside]
        if self.time_step is not None and len(anchors):
            t = self.times.values
            expected = t[anchors][:, None] + self._offsets[None, :] * self.time_step
            ok = np.all(t[positions] == expected, axis=1)
            if explicit and not ok.all():
                row = int(np.flatnonzero(~ok)[0])
                gaps = [str(pd.Timestamp(e)) for e in expected[row] if e not in set(t[positions[row]])]
                raise InputError(
                    f"time index {int(anchors[row])} ({self.times[int(anchors[row])]}): its window needs "
                    f"time(s) {gaps[:5]} missing from the data (time_step {pd.Timedelta(self.time_step)})"
                )
            if not ok.all():
                logger.warning(
                    "WindowDataset: %d window(s) skipped: they span a gap in time", int((~ok).sum())
                )
            anchors, positions = anchors[ok], positions[ok]
        if not explicit and len(anchors) == 0:
            raise InputError(
                f"no complete window: {n} time steps for {self.n_input_steps} input step(s) and leads {self.lead_steps}"
            )
        return anchors, positions

    def _select(self, ds: xr.Dataset) -> xr.Dataset:
        """Keep only the served variables and levels, in canonical dim order (all lazy)."""
        out = ds[self.variables]
        if self.levels and "level" in out.dims:
            out = out.isel(level=_level_indices(out, self.levels))
        arrays = {}
        for v in self.variables:
            da = out[v]
            dims = (
                ("time", "level", "latitude", "longitude")
                if "level" in da.dims
                else ("time", "latitude", "longitude")
            )
            extra = [d for d in da.dims if d not in dims]
            if extra:
                raise InputError(f"variable {v!r}: unexpected dimension(s) {extra}; expected {dims}")
            arrays[v] = da.transpose(*dims)
        out = xr.Dataset(arrays)
        if len(out.indexes["time"]) != len(self.times) or not np.array_equal(
            out["time"].values, self.times.values
        ):
            raise InputError("data: the re-opened dataset has another time axis than the first one")
        return out

    # ------------------------------------------------------------------ pickling / workers
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        state["_free"] = []
        state["_out"] = []
        if self._opener is not None:
            state["_ds"] = None  # each process opens its own copy
        return state

    def _dataset(self) -> xr.Dataset:
        if self._ds is None:
            assert self._opener is not None
            self._ds = self._select(self._opener())
        return self._ds

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(len(self.anchors))

    def sample_times(self, index: int) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
        """The input and target times of sample ``index``."""
        pos = self._positions[self._check_index(index)]
        return self.times[pos[: self.n_input_steps]], self.times[pos[self.n_input_steps :]]

    def _check_index(self, index: int) -> int:
        n = len(self)
        i = int(index)
        if i != index:
            raise InputTypeError(f"index {index!r}: need an integer")
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        return i

    def _time_chunk_starts(self) -> np.ndarray:
        """Start positions of the source's time chunks (the union over variables; ``[0, n]`` ends)."""
        if self._chunk_starts is None:
            starts = {0, len(self.times)}
            if self._copy is None or self._copy.chunked_in_time:  # several steps per chunk: the store's chunks
                ds = self._dataset()
                for v in self.variables:
                    chunks = ds[v].chunks
                    if chunks:
                        starts.update(np.cumsum((0,) + tuple(chunks[0])).tolist())
                    else:  # not dask: every step is its own read
                        starts.update(range(len(self.times)))
            else:
                starts.update(range(len(self.times)))
            self._chunk_starts = np.array(sorted(starts))
        return self._chunk_starts

    def _expand_to_chunks(self, todo: list[int], wanted: set[int]) -> list[int]:
        """``todo`` plus the other steps of their time chunks (a chunk is decoded whole anyway), if
        the cache holds them all."""
        starts = self._time_chunk_starts()
        extra: set[int] = set(todo)
        for p in todo:
            k = int(np.searchsorted(starts, p, side="right")) - 1
            extra.update(range(int(starts[k]), int(starts[k + 1])))
        if len(extra | wanted) > max(self.cache_states, len(todo)):
            return todo
        return sorted(extra)

    def _fetch(self, todo: list[int]) -> np.ndarray:
        """Raw float32 states ``(len(todo), C, H, W)`` of the time positions ``todo`` (sorted)."""
        n_lat, n_lon = len(self.latitude), len(self.longitude)
        shape = (len(todo), len(self.channel_names), n_lat, n_lon)
        if len(todo) == 1 and self._free:  # reuse an evicted state's memory (no page faults)
            block = self._free.pop()[None]
        else:
            block = _empty(shape)
        if self._copy is not None:
            self._copy.read_into(block, self.times.values[todo])
            return block
        ds = self._dataset()
        contiguous = todo[-1] - todo[0] + 1 == len(todo)
        index: Any = slice(todo[0], todo[-1] + 1) if contiguous else np.asarray(todo)
        parts = []
        for v in self.variables:
            arr = ds[v].variable.data
            if isinstance(arr, np.ndarray) or dask.is_dask_collection(arr):
                parts.append(arr[index])
            else:  # a lazily indexed backend array
                parts.append(ds[v].isel(time=index).values)
        parts = list(dask.compute(*parts, scheduler="synchronous"))
        c = 0
        for p in parts:
            p = np.asarray(p).reshape(len(todo), -1, n_lat, n_lon)
            block[:, c : c + p.shape[1]] = p
            c += p.shape[1]
        return block

    def _read(self, positions: np.ndarray) -> dict[int, np.ndarray]:
        """Normalised float32 states ``(C, H, W)`` at the given time positions."""
        out = {p: self._cache[p] for p in positions if p in self._cache}
        todo = sorted(set(int(p) for p in positions) - set(out))
        if todo:
            wanted = set(todo)
            if self.chunk_reads and self.cache_states > 0:
                todo = self._expand_to_chunks(todo, set(int(p) for p in positions))
            block = self._fetch(todo)
            self._normalise(block, todo)
            for k, p in enumerate(todo):
                if p in wanted:
                    out[p] = block[k]
                if self.cache_states > 0:
                    self._cache[p] = block[k]
        for p in positions:
            if p in self._cache:
                self._cache.move_to_end(p)
        while len(self._cache) > self.cache_states:
            _, state = self._cache.popitem(last=False)
            owner = state.base
            if owner is not None and owner.size == state.size and len(self._free) < 2:
                self._free.append(owner.reshape(state.shape))  # the whole memory of a one-state read
        return out

    def _normalise(self, block: np.ndarray, todo: list[int]) -> None:
        """``(x − mean_c) / std_c`` (computed as ``x · (1/std_c) − mean_c/std_c``, within float32
        rounding of the division) in place and the NaN/inf check, a few channels at a time (each
        slab stays in the CPU cache between the passes)."""
        plane = block.shape[2] * block.shape[3]
        step = max(1, (1 << 18) // (4 * max(plane, 1)))
        finite = True
        for k in range(block.shape[0]):
            for c0 in range(0, block.shape[1], step):
                slab = block[k, c0 : c0 + step]
                if self._mean is not None:  # x·(1/std) − mean/std: two passes, no division
                    slab *= self._inv_std[c0 : c0 + step, None, None]
                    slab -= self._scaled_mean[c0 : c0 + step, None, None]
                if self.check_finite and finite:
                    finite = bool(np.isfinite(slab.sum()))  # any NaN/inf makes the sum non-finite
        if not finite:
            self._check_finite(block, todo)

    def _check_finite(self, block: np.ndarray, todo: list[int]) -> None:
        finite = np.isfinite(block).all(axis=(2, 3))
        if finite.all():
            return
        k, c = (int(x[0]) for x in np.nonzero(~finite))
        ch = self._layout[c]
        raise InputError(
            f"variable {ch.variable!r}"
            + (f" level {ch.level:g}" if ch.level is not None else "")
            + f" (channel {ch.name!r}) has NaN/inf at time {self.times[todo[k]]}"
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self._positions[self._check_index(index)]
        states = self._read(pos)
        n_in = self.n_input_steps
        inputs = np.stack([states[int(p)] for p in pos[:n_in]])
        if self._constants is not None:
            const = np.broadcast_to(self._constants[None], (n_in,) + self._constants.shape)
            inputs = np.concatenate([inputs, const], axis=1)
        targets = np.stack([states[int(p)] for p in pos[n_in:]])
        if n_in == 1:
            inputs = inputs[0]
        return torch.from_numpy(np.ascontiguousarray(inputs)), torch.from_numpy(targets)

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The samples ``indices`` stacked: ``(inputs (B, C_in, H, W), targets (B, R, C, H, W))``
        (inputs ``(B, n_input_steps, C_in, H, W)`` when ``n_input_steps > 1``), bit-identical to stacking
        ``self[i]`` but with each state copied once, straight into the batch (no per-sample tensors).

        The batch's memory is reused: of the last two batches returned, one that nobody references
        any more (no tensor, view or array of it alive) is filled again instead of allocating a new
        one (a fresh 100 MB batch costs its page faults on every step). A training copy is read
        straight into the batch, each state of the batch once (:meth:`_batch_from_copy`); other
        stores through the window cache, sample by sample.
        """
        idx = [self._check_index(i) for i in indices]
        n_in, n_c = self.n_input_steps, len(self.channel_names)
        xn, yn = self._batch_buffers(len(idx))
        x, y = torch.from_numpy(xn), torch.from_numpy(yn)
        if self._constants is not None:
            xn[:, :, n_c:] = self._constants
        if self._copy is not None:
            self._batch_from_copy(idx, xn, yn)
        else:
            for b, i in enumerate(idx):
                pos = self._positions[i]
                states = self._read(pos)
                for k, p in enumerate(pos[:n_in]):
                    xn[b, k, :n_c] = states[int(p)]
                for k, p in enumerate(pos[n_in:]):
                    yn[b, k] = states[int(p)]
        return (x[:, 0] if n_in == 1 else x), y

    def _batch_buffers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Output arrays ``(n, n_in, C_in, H, W)``, ``(n, R, C, H, W)`` float32: a pooled pair that no
        one references any more (reference count), else a new pair (the pool keeps the last two)."""
        grid = (len(self.latitude), len(self.longitude))
        shape_x = (n, self.n_input_steps, len(self.input_channel_names)) + grid
        shape_y = (n, len(self.lead_steps), len(self.channel_names)) + grid
        for k, pair in enumerate(self._out):
            if pair[0].shape == shape_x and _refcount(pair, 0) <= _FREE and _refcount(pair, 1) <= _FREE:
                self._out.append(self._out.pop(k))
                return pair
        pair = (_empty(shape_x), _empty(shape_y))
        self._out = (self._out + [pair])[-2:]
        return pair

    def _batch_from_copy(self, idx: list[int], xn: np.ndarray, yn: np.ndarray) -> None:
        """Fill the batch from a training copy: every time step the batch needs is read (one file read
        per variable) and normalised once, into the cache when the cache holds more than one window
        (``cache_states`` sized for block or sequential order, so later batches find it), else straight
        into its first place in the batch; then copied to its other places."""
        n_in, n_c = self.n_input_steps, len(self.channel_names)
        places: dict[int, list[np.ndarray]] = {}
        for b, i in enumerate(idx):
            for j, p in enumerate(self._positions[i].tolist()):
                places.setdefault(p, []).append(xn[b, j, :n_c] if j < n_in else yn[b, j - n_in])
        keep = self.cache_states > len(self._offsets)
        for p in places:  # the batch's cached states are the most recently used (not evicted below)
            if p in self._cache:
                self._cache.move_to_end(p)
        times = self.times.values
        for p in sorted(places):
            out = places[p]
            state = self._cache.get(p)
            if state is None:
                state = self._spare_state(out[0].shape) if keep else out[0]
                self._copy.read_into(state[None], times[p : p + 1])
                self._normalise(state[None], [p])
                if keep:
                    self._cache[p] = state
            for dest in out:
                if dest is not state:
                    np.copyto(dest, state)

    def _spare_state(self, shape: tuple[int, ...]) -> np.ndarray:
        """Memory for one more cached state: the least recently used state's once the cache is full."""
        spare = None
        while self._cache and len(self._cache) >= self.cache_states:
            _, old = self._cache.popitem(last=False)
            if spare is None and old.shape == shape and old.flags.c_contiguous:
                spare = old  # (its region of a block read earlier: the block's other states are apart)
        if spare is None:
            spare = self._free.pop() if self._free else _empty(shape)
        return spare

    def __repr__(self) -> str:
        return (
            f"WindowDataset({len(self)} samples, channels={self.channel_names}, constants={self.constant_names}, "
            f"n_input_steps={self.n_input_steps}, lead_steps={self.lead_steps})"
        )
