"""Writing scorecards: netCDF (atomic) and ChaosBench-style CSV (one row per lead, one column per var-level)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import MetricInputError, MetricOutputExistsError

logger = logging.getLogger(__name__)


def write_scorecard_netcdf(card: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``card`` to a netCDF file atomically (temporary file in the same folder, then rename).

    An existing ``path`` is refused (:class:`MetricOutputExistsError` naming it) unless ``overwrite=True``.
    """
    if not isinstance(card, xr.Dataset) or "metric" not in card.dims:
        raise MetricInputError("card: expected a scorecard Dataset with a 'metric' dimension")
    path = Path(path)
    if path.exists() and not overwrite:
        raise MetricOutputExistsError(f"{path}: exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        out = card.assign_coords(metric=np.asarray(card["metric"].values, dtype=str))
        out.to_netcdf(tmp, engine="netcdf4")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    logger.info("scorecard written to %s", path)
    return path


def _fmt_level(level: Any) -> str:
    f = float(level)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def write_scorecard_csv(
    card: xr.Dataset, out_dir: str | os.PathLike, *, model_name: str = "model", overwrite: bool = False
) -> list[Path]:
    """Write ``card`` in ChaosBench's CSV layout: one file ``<metric>_<model_name>.csv`` per metric.

    Each file has one row per lead time (in card order) and one column per ``var-level`` (e.g. ``z-500``;
    surface variables by name), variables in card order and levels in card order, preceded by a
    ``lead_time_days`` column (lead time in days, float). Values are written with full precision
    (``repr``). Files are written atomically. Returns the paths. An existing file of one of these names
    is refused (:class:`MetricOutputExistsError`, before anything is written) unless ``overwrite=True``.
    """
    if not isinstance(card, xr.Dataset) or "metric" not in card.dims or "lead_time" not in card.dims:
        raise MetricInputError("card: expected a scorecard Dataset with 'metric' and 'lead_time' dimensions")
    out_dir = Path(out_dir)
    existing = [out_dir / f"{m}_{model_name}.csv" for m in card["metric"].values]
    existing = [p for p in existing if p.exists()]
    if existing and not overwrite:
        raise MetricOutputExistsError(f"{existing[0]}: exists; pass overwrite=True to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    lead_days = card["lead_time"].values / np.timedelta64(1, "D")
    paths = []
    for metric in card["metric"].values:
        cols: dict[str, np.ndarray] = {"lead_time_days": lead_days}
        for v in card.data_vars:
            da = card[v].sel(metric=metric)
            if "level" in da.dims:
                for lev in da["level"].values:
                    cols[f"{v}-{_fmt_level(lev)}"] = da.sel(level=lev).transpose("lead_time").values
            else:
                cols[str(v)] = da.transpose("lead_time").values
        frame = pd.DataFrame(cols)
        path = out_dir / f"{metric}_{model_name}.csv"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=out_dir)
        os.close(fd)
        try:
            frame.to_csv(tmp, index=False, float_format="%.17g")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        paths.append(path)
    return paths
