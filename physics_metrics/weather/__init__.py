"""Weather scores: WeatherBench2 conventions, probabilistic scores, spectra, MS-SSIM and training losses.

Default convention = WeatherBench2 (cell-area latitude weights, RMSE with the square root after the time
mean, uncentred ACC per init time then averaged, fair CRPS). Each function's docstring states the formula,
the reduction order and the units.
"""

from .chaosbench_convention import (
    CHAOSBENCH_BLOCK,
    acc_chaosbench_as_coded,
    bias_chaosbench,
    chaosbench_block_reduce,
    chaosbench_blocks,
    chaosbench_latitude_weights,
    chaosbench_radial_spectrum,
    crps_chaosbench,
    crpss_chaosbench,
    mae_chaosbench,
    ms_ssim_chaosbench,
    rmse_chaosbench,
    spectral_divergence_chaosbench,
    spectral_residual_chaosbench,
    spread_chaosbench,
    spread_skill_ratio_chaosbench,
)
from .deterministic import (
    acc_centred,
    acc_uncentred,
    align_truth,
    bias,
    climatology_at,
    mae,
    mse,
    rmse_per_sample,
    rmse_wb2,
    spatial_mean,
)
from .losses import area_weighted_mae, area_weighted_mse, channel_weight_vector, spectral_loss
from .probabilistic import (
    crps_ensemble,
    crps_gaussian,
    crpss_gaussian_climatology,
    ensemble_spread,
    spread_skill_ratio,
)
from .references import climatology_forecast, climatology_indexers, persistence_forecast
from .scorecard import SCORECARD_METRICS, scorecard, write_scorecard_csv, write_scorecard_netcdf
from .spectra import (
    EARTH_RADIUS_M,
    latitude_quadrature_weights,
    spherical_harmonic_power_spectrum,
    zonal_energy_spectrum,
)
from .ssim import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_torch
from .weights import latitude_weights

__all__ = [
    "EARTH_RADIUS_M",
    "MS_SSIM_WEIGHTS",
    "acc_centred",
    "acc_uncentred",
    "align_truth",
    "area_weighted_mae",
    "area_weighted_mse",
    "bias",
    "channel_weight_vector",
    "climatology_at",
    "crps_ensemble",
    "crps_gaussian",
    "crpss_gaussian_climatology",
    "ensemble_spread",
    "latitude_quadrature_weights",
    "latitude_weights",
    "mae",
    "ms_ssim",
    "ms_ssim_torch",
    "mse",
    "rmse_per_sample",
    "rmse_wb2",
    "spatial_mean",
    "spectral_loss",
    "spherical_harmonic_power_spectrum",
    "spread_skill_ratio",
    "zonal_energy_spectrum",
    "CHAOSBENCH_BLOCK",
    "SCORECARD_METRICS",
    "acc_chaosbench_as_coded",
    "bias_chaosbench",
    "chaosbench_block_reduce",
    "chaosbench_blocks",
    "chaosbench_latitude_weights",
    "chaosbench_radial_spectrum",
    "climatology_forecast",
    "climatology_indexers",
    "crps_chaosbench",
    "crpss_chaosbench",
    "mae_chaosbench",
    "ms_ssim_chaosbench",
    "persistence_forecast",
    "rmse_chaosbench",
    "scorecard",
    "spectral_divergence_chaosbench",
    "spectral_residual_chaosbench",
    "spread_chaosbench",
    "spread_skill_ratio_chaosbench",
    "write_scorecard_csv",
    "write_scorecard_netcdf",
]
