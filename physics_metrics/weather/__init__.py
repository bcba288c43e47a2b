"""Weather scores: WeatherBench2 conventions, probabilistic scores, spectra, MS-SSIM and training losses.

Default convention = WeatherBench2 (cell-area latitude weights, RMSE with the square root after the time
mean, uncentred ACC per init time then averaged, fair CRPS). Each function's docstring states the formula,
the reduction order and the units.

Physics consistency of a rollout: :func:`shallow_water_invariants` and :func:`conservation_drift` (mass,
energy, potential enstrophy), :func:`kinetic_energy_spectrum` per total wavenumber and
:func:`spectrum_ratio_small_scales`, :func:`rollout_stability` and the guard :func:`check_finite_rollout`.
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
from .conservation import INVARIANTS, conservation_drift, shallow_water_invariants
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
from .init_inference import PAIRED_TESTS, paired_score_test, per_init_scores, scorecard_intervals
from .losses import area_weighted_mae, area_weighted_mse, channel_weight_vector, spectral_loss
from .probabilistic import (
    crps_ensemble,
    crps_gaussian,
    crpss_gaussian_climatology,
    ensemble_spread,
    spread_skill_ratio,
)
from .references import climatology_forecast, climatology_indexers, persistence_forecast
from .registry import (
    SCORES,
    ChaosBenchPiece,
    ScoreSpec,
    WB2Piece,
    register_score,
    score_spec,
    scores_where,
    unregister_score,
)
from .scorecard import SCORECARD_METRICS, scorecard, write_scorecard_csv, write_scorecard_netcdf
from .spectra import (
    EARTH_RADIUS_M,
    latitude_quadrature_weights,
    spherical_harmonic_power_spectrum,
    zonal_energy_spectrum,
)
from .sphere_grid import SphereGrid, sphere_grid, sphere_quadrature_weights
from .sphere_spectra import kinetic_energy_spectrum, spectrum_ratio_small_scales
from .ssim import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_torch
from .stability import check_finite_rollout, rollout_stability
from .weights import latitude_weights

__all__ = [
    "PAIRED_TESTS",
    "paired_score_test",
    "per_init_scores",
    "scorecard_intervals",
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
    "SCORES",
    "ChaosBenchPiece",
    "ScoreSpec",
    "WB2Piece",
    "register_score",
    "score_spec",
    "scores_where",
    "unregister_score",
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
    # physics consistency of a rollout (shallow-water invariants, spherical KE spectra, stability)
    "INVARIANTS",
    "SphereGrid",
    "check_finite_rollout",
    "conservation_drift",
    "kinetic_energy_spectrum",
    "rollout_stability",
    "shallow_water_invariants",
    "sphere_grid",
    "sphere_quadrature_weights",
    "spectrum_ratio_small_scales",
]
