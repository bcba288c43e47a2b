"""One forecast store written by many processes at once: a template, then disjoint region writes.

:class:`ForecastRegions` is the store of a rank-parallel rollout
(:func:`chaosbench_py.evaluation.rollout_gridded_ranks`). Its layout is exactly a
:class:`~chaosbench_py.data.ForecastWriter` store (same schema attributes, variables, dims, chunks of one
init × one lead), but its ``init_time`` axis is sized up front:

1. one process (rank 0) writes the template: every coordinate (``init_time``, ``valid_time``,
   ``lead_time`` …) and the metadata of the fields, with no field chunks (``to_zarr(compute=False)``),
   beside the path, renamed in when whole (:func:`chaosbench_py.files.atomic_store`);
2. the inits are cut into batches of ``batch_size`` consecutive inits (the model batches of
   :func:`~chaosbench_py.evaluation.rollout_gridded`); each process writes the whole batches it owns with
   ``to_zarr(region={"init_time": slice(a, b)})``. A batch covers whole zarr chunks, so no two
   processes ever write the same chunk;
3. after a batch's fields, its completion marker (element ``b`` of the int8 array
   ``forecast_batch_done``, one chunk per batch, replaced atomically by zarr's local store) is set; a
   restarted job skips the batches marked done and recomputes the others whole;
4. when every batch is done, rank 0 sets the committed-init count (``forecast_inits_committed``) to the
   number of inits, marks the store ``complete`` and deletes the marker array: from then on it is an
   ordinary forecast store (:func:`~chaosbench_py.data.open_forecast` shows every init; a
   :class:`~chaosbench_py.data.ForecastWriter` may append to it). Until then the committed count is 0, so
   readers see no init, and :class:`~chaosbench_py.data.ForecastWriter` refuses the store.

Group attribute ``forecast_regions`` (JSON) records ``status`` (``incomplete``/``complete``),
``batch_size`` and the run's ``identity`` (what changes the numbers: seed, members, perturbation …); a
resume with other inits, batches, layout or identity is refused before anything is touched.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ..errors import CorruptFileError, InputError, OutputExistsError
from ..files import atomic_store
from .forecast_store import (
    _TIME_ENCODING,
    COMMITTED_ATTR,
    LAYOUT_ATTR,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    _layout_differences,
    _open_own_store,
)

logger = logging.getLogger(__name__)

__all__ = ["REGIONS_ATTR", "ForecastRegions", "regions_status"]

REGIONS_ATTR = "forecast_regions"
DONE_ARRAY = "forecast_batch_done"
INCOMPLETE, COMPLETE = "incomplete", "complete"


def regions_status(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``forecast_regions`` record of a store's group attributes (None: not a region store)."""
    text = attrs.get(REGIONS_ATTR)
    if text is None:
        return None
    try:
        out = json.loads(text) if isinstance(text, str) else dict(text)
    except (TypeError, ValueError):
        out = None
    if not isinstance(out, dict) or out.get("status") not in (INCOMPLETE, COMPLETE):
        raise CorruptFileError(f"group attribute {REGIONS_ATTR!r} is {text!r}: not a region-store record")
    return out


class ForecastRegions:
    """A forecast store with ``len(init_times)`` inits written batch by batch, by any process.

    Args:
        path: the ``.zarr`` store.
        layout: the :class:`~chaosbench_py.data.ForecastWriter` arguments (variables, levels,
            latitude, longitude, lead_times, members, attrs, units, surface_variables).
        init_times: every init of the store, in batch order (``datetime64[ns]``).
        batch_size: inits per batch (the unit of work, of region writes and of resume).
        identity: JSON-able description of what changes the numbers; a resume must match it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        layout: Mapping[str, Any],
        init_times: np.ndarray,
        batch_size: int,
        identity: Mapping[str, Any],
    ) -> None:
        from .forecast_writer import ForecastWriter

        self.path = Path(path)
        # a writer that never writes: the layout, dims, coordinates and per-init blocks of the schema
        self._schema = ForecastWriter(self.path, **dict(layout), overwrite=True)
        self.inits = np.asarray(init_times, dtype="datetime64[ns]")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r}: must be an integer ≥ 1")
        self.batch_size = int(batch_size)
        self.n_batches = -(-len(self.inits) // self.batch_size)
        self.identity = json.loads(json.dumps(dict(identity)))

    def batch_slice(self, b: int) -> slice:
        """Positions in ``init_times`` of batch ``b``."""
        return slice(b * self.batch_size, min((b + 1) * self.batch_size, len(self.inits)))

    # ----------------------------------------------------------------------------- rank 0
    def open_or_create(self, *, resume: bool = True, overwrite: bool = False) -> np.ndarray:
        """Make the template (or check the existing store); return the done flags per batch (bool).

        An existing store is continued when ``resume`` (it must be a region store of this layout,
        inits, batches and identity), replaced when ``overwrite``, else refused
        (:class:`~chaosbench_py.errors.OutputExistsError`). Run on one process only.
        """
        if self.path.exists() or self.path.is_symlink():
            if overwrite:
                logger.info("%s: replacing the existing store (overwrite)", self.path)
            elif not resume:
                raise OutputExistsError(
                    f"{self.path}: exists; pass resume=True (--resume) to continue it or overwrite=True "
                    "(--overwrite) to replace it"
                )
            else:
                return self._check_existing()
        self._create()
        return np.zeros(self.n_batches, dtype=bool)

    def _record(self, status: str) -> str:
        return json.dumps({"status": status, "batch_size": self.batch_size, "identity": self.identity})

    def _create(self) -> None:
        w = self._schema
        sizes = w._sizes()
        n = len(self.inits)
        import dask.array as da

        data_vars, encoding = {}, {}
        for v in w.variables:
            dims = ("init_time", *w.dims_of(v))
            shape = (n, *(sizes[d] for d in dims[1:]))
            chunks = tuple(min(w.chunks.get(d, s), s) for d, s in zip(dims, shape))
            attrs = dict(w._block(self.inits[0], self._zeros(sizes))[v].attrs)
            data_vars[v] = (dims, da.zeros(shape, chunks=chunks, dtype=w.dtype), attrs)
            encoding[v] = {"chunks": chunks}
        data_vars[DONE_ARRAY] = (("forecast_batch",), np.zeros(self.n_batches, dtype=np.int8))
        encoding[DONE_ARRAY] = {"chunks": (1,)}
        coords = w._coords()
        coords["init_time"] = ("init_time", self.inits)
        coords["valid_time"] = (("init_time", "lead_time"), self.inits[:, None] + w.lead_times[None, :])
        ds = xr.Dataset(data_vars, coords=coords)
        ds.attrs = {
            **w.attrs,
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            LAYOUT_ATTR: json.dumps(w.layout()),
            COMMITTED_ATTR: 0,
            REGIONS_ATTR: self._record(INCOMPLETE),
        }
        encoding["init_time"] = dict(_TIME_ENCODING)
        encoding["valid_time"] = dict(_TIME_ENCODING)
        encoding["lead_time"] = {"units": "seconds", "dtype": "int64"}
        with atomic_store(self.path) as tmp:  # metadata and coordinates only: no field chunk is written
            ds.to_zarr(tmp, mode="w-", encoding=encoding, compute=False, consolidated=False, zarr_format=3)
        logger.info("%s: template of %d inits in %d batches", self.path, n, self.n_batches)

    def _zeros(self, sizes: Mapping[str, int]) -> dict[str, np.ndarray]:
        w = self._schema
        return {v: np.zeros(tuple(sizes[d] for d in w.dims_of(v)), dtype=w.dtype) for v in w.variables}

    def _check_existing(self) -> np.ndarray:
        hint = "pass overwrite=True (--overwrite) to replace it, or write to another path"
        root = _open_own_store(self.path, OutputExistsError, hint)
        record = regions_status(root.attrs)
        if record is None:
            raise OutputExistsError(
                f"{self.path}: a forecast store written one init at a time (ForecastWriter), not by ranks; "
                f"resume it with rollout_gridded(store=...) or {hint}"
            )
        if root.attrs.get("schema_version") != SCHEMA_VERSION:
            raise OutputExistsError(
                f"{self.path}: schema_version {root.attrs.get('schema_version')!r}, not {SCHEMA_VERSION}; {hint}"
            )
        try:
            have = json.loads(root.attrs.get(LAYOUT_ATTR, "null"))
        except (TypeError, ValueError):
            have = None
        diffs = _layout_differences(dict(have or {}), self._schema.layout())
        if record.get("batch_size") != self.batch_size:
            diffs.append(f"batch_size: store has {record.get('batch_size')}, this rollout {self.batch_size}")
        old = record.get("identity") or {}
        for key in sorted(set(old) | set(self.identity)):
            if json.dumps(old.get(key)) != json.dumps(self.identity.get(key)):
                diffs.append(f"{key}: store has {old.get(key)!r}, this rollout {self.identity.get(key)!r}")
        ds = xr.open_zarr(self.path, consolidated=False, chunks=None)
        try:
            stored = np.asarray(ds["init_time"].values, dtype="datetime64[ns]")
        finally:
            ds.close()
        if stored.shape != self.inits.shape or not np.array_equal(stored, self.inits):
            diffs.append(
                f"init_times: store has {stored.size} ({stored[:1]} …), this rollout {self.inits.size} "
                f"({self.inits[:1]} …)"
            )
        if diffs:
            raise OutputExistsError(f"{self.path}: cannot resume: {'; '.join(diffs)}; {hint}")
        if record["status"] == COMPLETE:
            return np.ones(self.n_batches, dtype=bool)
        done = self.done_flags()
        logger.info("%s: resuming, %d of %d batches done", self.path, int(done.sum()), self.n_batches)
        return done

    def done_flags(self) -> np.ndarray:
        """Which batches are complete (bool per batch)."""
        root = zarr.open_group(self.path, mode="r")
        record = regions_status(root.attrs)
        if record is not None and record["status"] == COMPLETE:
            return np.ones(self.n_batches, dtype=bool)
        flags = np.asarray(root[DONE_ARRAY][:])
        if flags.shape != (self.n_batches,):
            raise CorruptFileError(
                f"{self.path}: {DONE_ARRAY} has shape {flags.shape}, expected ({self.n_batches},)"
            )
        return flags.astype(bool)

    def finalise(self) -> bool:
        """Once every batch is done: commit all inits, mark the store complete, drop the markers.
        Return whether the store is complete. Run on one process, when no other writes."""
        done = self.done_flags()
        if not done.all():
            logger.warning("%s: %d of %d batches not done", self.path, int((~done).sum()), self.n_batches)
            return False
        root = zarr.open_group(self.path, mode="r+")
        if regions_status(root.attrs)["status"] != COMPLETE:
            root.attrs.update({COMMITTED_ATTR: len(self.inits), REGIONS_ATTR: self._record(COMPLETE)})
        if DONE_ARRAY in root:
            del root[DONE_ARRAY]
        return True

    # ----------------------------------------------------------------------------- any rank
    def write_batch(self, b: int, fields: Mapping[int, Mapping[str, Any]]) -> None:
        """Write batch ``b`` (``{position in init_times: {variable: (lead_time, [member], [level],
        lat, lon)}}``, every position of the batch) into its region, then mark it done."""
        sl = self.batch_slice(b)
        want = list(range(sl.start, sl.stop))
        if sorted(fields) != want:
            raise InputError(f"batch {b}: needs the fields of inits {want}, got {sorted(fields)}")
        blocks = [self._schema._block(self.inits[i], fields[i]) for i in want]
        ds = xr.concat(blocks, dim="init_time", data_vars="all", coords="minimal", compat="override")
        ds = ds[self._schema.variables].drop_vars(list(ds.coords))
        ds.attrs = {}
        ds.to_zarr(self.path, region={"init_time": sl}, mode="r+", consolidated=False)
        zarr.open_group(self.path, mode="r+")[DONE_ARRAY][b] = 1  # the commit of this batch
