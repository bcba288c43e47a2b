"""A small canonical gridded state shared by the rollout and evaluation tests (not a test file)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

LEVELS = [500, 850]
LAT = np.linspace(90.0, -90.0, 8)
LON = np.arange(0.0, 360.0, 22.5)
TIMES = pd.date_range("2020-01-01", periods=12, freq="D").values.astype("datetime64[ns]")


def make_data(seed: int = 0) -> xr.Dataset:
    """Canonical synthetic state: z (2 levels, m² s⁻²) and t2m (K) on 8 × 16, 12 daily steps."""
    rng = np.random.default_rng(seed)
    nt, nlat, nlon = TIMES.size, LAT.size, LON.size
    z = (
        5.0e4
        + np.array([0.0, -3.5e4])[None, :, None, None]
        + 500.0 * rng.standard_normal((nt, 2, nlat, nlon))
    )
    t2m = 280.0 + 10.0 * rng.standard_normal((nt, nlat, nlon))
    return xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), z.astype(np.float32), {"units": "m**2 s**-2"}),
            "t2m": (("time", "latitude", "longitude"), t2m.astype(np.float32), {"units": "K"}),
        },
        coords={"time": TIMES, "level": LEVELS, "latitude": LAT, "longitude": LON},
    )
