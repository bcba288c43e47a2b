"""Weather data: ERA5 sources → one canonical lazy schema, and forecast stores.

* :mod:`.schema`: the canonical gridded-state schema, :func:`to_canonical`,
  :func:`validate_canonical`, :func:`select`.
* :mod:`.sources`: :func:`open_era5` (layout detection) and one opener per layout
  (:func:`open_cds_netcdf`, :func:`open_weatherbench2_zarr`, :func:`open_chaosbench`).
* :mod:`.forecast_writer`: :class:`ForecastWriter` (append / resume, zarr; atomic netCDF export)
  and :func:`open_forecast`.
* :mod:`.statistics`: per-channel mean/std and day-of-year(×hour) climatology over an explicit
  year range, cached next to the data (:func:`cached_statistics`, :func:`cached_climatology`).
* :mod:`.windows`: :class:`WindowDataset`, the torch ``Dataset`` of (input states, targets at
  lead steps), channels in a recorded order, normalised, float32.
"""

from .forecast_store import open_forecast, repair_forecast_store
from .forecast_writer import ForecastWriter
from .schema import (
    CANONICAL_DIMS,
    STANDARD_GRAVITY,
    SURFACE_VARIABLES,
    VARIABLES,
    canonical_name,
    select,
    strip_provenance,
    to_canonical,
    validate_canonical,
)
from .sources import (
    chaosbench_files,
    detect_layout,
    open_cds_netcdf,
    open_chaosbench,
    open_era5,
    open_weatherbench2_zarr,
)
from .statistics import (
    Channel,
    calendar_dayofyear,
    channel_layout,
    channel_statistics,
    climatology,
    default_train_years,
    latitude_weights,
    normalisation_arrays,
)
from .stats_cache import cached_climatology, cached_statistics
from .windows import WindowDataset

__all__ = [
    "CANONICAL_DIMS",
    "Channel",
    "WindowDataset",
    "cached_climatology",
    "cached_statistics",
    "calendar_dayofyear",
    "channel_layout",
    "channel_statistics",
    "climatology",
    "default_train_years",
    "latitude_weights",
    "normalisation_arrays",
    "STANDARD_GRAVITY",
    "SURFACE_VARIABLES",
    "VARIABLES",
    "ForecastWriter",
    "canonical_name",
    "chaosbench_files",
    "detect_layout",
    "open_cds_netcdf",
    "open_chaosbench",
    "open_era5",
    "open_forecast",
    "open_weatherbench2_zarr",
    "repair_forecast_store",
    "select",
    "strip_provenance",
    "to_canonical",
    "validate_canonical",
]

# the sources a training run names in ``data.path`` (training and evaluation open them the same way)
from .training_sources import load_sequences, open_gridded, open_trajectory_source, year_range  # noqa: E402

__all__ += ["load_sequences", "open_gridded", "open_trajectory_source", "year_range"]
