"""Scorecard inputs: truth and climatology matched to a forecast's grid, levels and valid times.

Private helpers of :mod:`physics_metrics.weather.scorecard`: every input is indexed lazily in the
forecast's order (values matched by coordinate, never by position or orientation) and loaded one
piece at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import MetricInputError, NonFiniteInputError
from .references import climatology_indexers

_HEAD = ("init_time", "lead_time")
_SPACE = ("latitude", "longitude")


def _positions(ref: np.ndarray, have: np.ndarray, dim: str, what: str) -> np.ndarray:
    """Index into ``have`` of every value of ``ref`` (floats within 1e-6 relative); error naming ``dim``."""
    ref, have = np.asarray(ref), np.asarray(have)
    if np.issubdtype(ref.dtype, np.floating) or np.issubdtype(have.dtype, np.floating):
        ref_f, have_f = ref.astype(np.float64), have.astype(np.float64)
        tol = 1e-6 * max(1.0, float(np.max(np.abs(have_f))) if have_f.size else 1.0)
        diff = np.abs(ref_f[:, None] - have_f[None, :])
        pos = np.argmin(diff, axis=1)
        bad = diff[np.arange(ref.size), pos] > tol
    else:
        pos = pd.Index(have).get_indexer(ref)
        bad = pos < 0
    if np.any(bad):
        raise MetricInputError(
            f"{what}: {dim!r} lacks {int(bad.sum())} forecast value(s), e.g. {ref[bad][:3].tolist()}"
        )
    return pos


def _same_grid(forecast: xr.Dataset, other: xr.Dataset, what: str) -> dict[str, np.ndarray]:
    idx = {}
    for d in _SPACE:
        if d not in other.dims:
            raise MetricInputError(f"{what}: missing dimension {d!r} (dims: {tuple(other.dims)})")
        if other.sizes[d] != forecast.sizes[d]:
            raise MetricInputError(
                f"{what}: {d!r} has {other.sizes[d]} points, forecast has {forecast.sizes[d]}: different grids"
            )
        idx[d] = _positions(forecast[d].values, other[d].values, d, what)
    return idx


class _Source:
    """One lazily indexed input (truth, climatology, …) for one variable, in the forecast's order."""

    def __init__(
        self, da: xr.DataArray, spatial: dict[str, np.ndarray], levels: np.ndarray | None, what: str
    ):
        self.what = what
        sel: dict[str, Any] = dict(spatial)
        if levels is not None:
            if "level" not in da.dims:
                raise MetricInputError(
                    f"{what}: variable {da.name!r} has no 'level' dimension but the forecast has"
                )
            sel["level"] = _positions(levels, da["level"].values, "level", f"{what} {da.name!r}")
        elif "level" in da.dims:
            raise MetricInputError(
                f"{what}: variable {da.name!r} has a 'level' dimension but the forecast has none"
            )
        self.da = da.isel(sel)


def _load(da: xr.DataArray, order: Sequence[str]) -> np.ndarray:
    return np.asarray(da.transpose(*order).values, dtype=np.float64)


def _nonfinite_error(
    arr: np.ndarray, var: str, what: str, inits: np.ndarray, leads: np.ndarray, levels, lat, lon, skipna: bool
) -> None:
    """Raise :class:`NonFiniteInputError` for the first NaN (unless ``skipna``) or ±inf of a loaded piece
    ``(init, lead, [member], [level], lat, lon)``, naming the input, variable, init, lead, level and point."""
    bad = np.isinf(arr) if skipna else ~np.isfinite(arr)
    if not bad.any():
        return
    pos = np.argwhere(bad)[0]
    value = arr[tuple(pos)]
    where = [f"init_time {pd.Timestamp(inits[pos[0]])}", f"lead_time {pd.Timedelta(leads[pos[1]])}"]
    rest = list(pos[2:-2])
    if levels is not None and rest:
        where.append(f"level {levels[rest[-1]]}")
    if arr.ndim - 4 > (levels is not None):
        where.append(f"member index {rest[0]}")
    where.append(f"latitude {lat[pos[-2]]}, longitude {lon[pos[-1]]}")
    raise NonFiniteInputError(
        f"{what}: variable {var!r} has {int(bad.sum())} non-finite value(s) in this piece, the first ({value}) at "
        + ", ".join(where)
        + (
            ""
            if skipna
            else "; pass skipna=True to leave NaN points (e.g. masked ones) out — inf is never skipped"
        )
    )


class _Truth:
    """Truth at the forecast valid times: a ``time`` gridded state or a forecast-schema dataset."""

    def __init__(
        self, truth: xr.Dataset, forecast: xr.Dataset, var: str, spatial, levels, what: str = "truth"
    ):
        if var not in truth.data_vars:
            raise MetricInputError(f"{what}: has no variable {var!r} (has {list(truth.data_vars)})")
        self.what = what
        self.src = _Source(truth[var], spatial, levels, what)
        self.schema = "forecast" if "init_time" in truth.dims else "state"
        if self.schema == "forecast":
            if "lead_time" not in truth.dims:
                raise MetricInputError(f"{what}: has 'init_time' but no 'lead_time' dimension")
            ti = pd.Index(truth["init_time"].values)
            if ti.has_duplicates:
                dup = [str(t) for t in ti[ti.duplicated()].unique()[:5]]
                raise MetricInputError(f"{what}: coordinate 'init_time' has duplicated values {dup}")
            self.ipos = _positions(forecast["init_time"].values, truth["init_time"].values, "init_time", what)
            tl, fl = truth["lead_time"].values, forecast["lead_time"].values
            if tl.shape != fl.shape or not np.array_equal(np.sort(tl), np.sort(fl)):
                raise MetricInputError(
                    f"{what}: lead times differ from the forecast's ({tl.size} vs {fl.size} values, "
                    f"e.g. {tl[:3]} vs {fl[:3]})"
                )
            self.lpos = _positions(fl, tl, "lead_time", what)
        else:
            if "time" not in truth.dims:
                raise MetricInputError(
                    f"{what}: needs a 'time' dimension or the forecast schema (init_time, lead_time)"
                )
            self.times = pd.Index(truth["time"].values)
            if self.times.size == 0:
                raise MetricInputError(f"{what}: dimension 'time' has length 0")
            if self.times.has_duplicates:
                dup = [str(t) for t in self.times[self.times.duplicated()].unique()[:5]]
                raise MetricInputError(f"{what}: coordinate 'time' has duplicated values {dup}")

    def get(self, valid, idx, lead_sl, lev_sl, odims) -> np.ndarray:
        da = self.src.da
        if lev_sl is not None:
            da = da.isel(level=lev_sl)
        spatial_dims = [d for d in odims if d not in _HEAD]
        if self.schema == "forecast":
            sub = da.isel(init_time=self.ipos[idx], lead_time=self.lpos[lead_sl])
            return _load(sub, odims)
        pos = self.times.get_indexer(valid.ravel())
        if np.any(pos < 0):
            miss = valid.ravel()[pos < 0]
            raise MetricInputError(
                f"{self.what}: {np.unique(miss).size} forecast valid time(s) missing along 'time', e.g. {miss[0]}"
            )
        arr = _load(da.isel(time=pos), ["time"] + spatial_dims)
        return arr.reshape(valid.shape + arr.shape[1:])


class _Clim:
    """Day-of-year (× hour) climatology selected at the valid times of a piece."""

    def __init__(self, clim: xr.Dataset, var: str, spatial, levels, what: str):
        if "doy" in clim.dims and "dayofyear" not in clim.dims:
            clim = clim.rename(doy="dayofyear")
        if "dayofyear" not in clim.dims:
            raise MetricInputError(f"{what}: needs a 'dayofyear' dimension (dims: {tuple(clim.dims)})")
        if var not in clim.data_vars:
            raise MetricInputError(f"{what}: has no variable {var!r} (has {list(clim.data_vars)})")
        self.clim = clim
        self.what = what
        self.src = _Source(clim[var], spatial, levels, what)

    def get(self, valid, idx, lead_sl, lev_sl, odims) -> np.ndarray:
        vt = xr.DataArray(valid, dims=_HEAD)
        try:
            ind = climatology_indexers(self.clim, vt)
        except ValueError as err:
            raise MetricInputError(str(err).replace("climatology:", f"{self.what}:", 1)) from None
        da = self.src.da
        if lev_sl is not None:
            da = da.isel(level=lev_sl)
        flat = {k: v.values.ravel() for k, v in ind.items()}
        sub = da.isel({k: xr.DataArray(v, dims="_p") for k, v in flat.items()})
        spatial_dims = [d for d in odims if d not in _HEAD]
        arr = _load(sub, ["_p"] + spatial_dims)
        return arr.reshape(valid.shape + arr.shape[1:])
