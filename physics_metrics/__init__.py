"""physics_metrics: scores for emulators of dynamics, importable on its own.

Depends only on numpy, scipy, xarray and torch — never on :mod:`chaosbench_py` or
:mod:`emulators`. Where the field has two definitions, both exist under explicit names.

Dynamical-systems half:

* Lyapunov spectra of flows and maps (any torch one-step map, e.g. a trained emulator):
  :func:`lyapunov_spectrum_flow`, :func:`lyapunov_spectrum_map`; from measured series:
  :func:`rosenstein`, :func:`kantz`.
* Dimensions and entropy: :func:`kaplan_yorke_dimension`, :func:`correlation_dimension`,
  :func:`pesin_entropy_bound`.
* Attractor geometry: :func:`state_space_divergence_binned` (GTF), :func:`state_space_divergence_gmm`
  (GTF), :func:`state_space_divergence_dysts` (dysts / PhyxMamba), :func:`maximum_mean_discrepancy`.
* Power spectra: :func:`power_spectrum_hellinger` (GTF, smoothed), :func:`power_spectrum_hellinger_first_bins`
  (dysts / PhyxMamba).
* Forecasts: :func:`smape`, :func:`valid_prediction_time`, :func:`prediction_error_n_step`,
  :func:`fractal_dimension_error`.
* Complexity: :func:`permutation_entropy`, :func:`statistical_complexity`.
* Delay embedding parameters: :func:`choose_delay_mutual_information`, :func:`choose_embedding_dim_fnn`,
  :func:`cao`.

Statistics over units (seeds, initial conditions, init times): :func:`median_mad`,
:func:`bootstrap_interval` / :func:`bootstrap_interval_xr`, paired tests :func:`paired_permutation_test`,
:func:`paired_wilcoxon_test`, :func:`paired_t_test` (IID or Geer AR(2)-corrected).

Weather half: :mod:`physics_metrics.weather` — latitude weights, RMSE/bias/MAE/ACC
(WeatherBench2 conventions), CRPS/spread/SSR/CRPSS, spectra, MS-SSIM, training losses, the
ChaosBench-as-coded convention, reference forecasts and :func:`physics_metrics.weather.scorecard`.
"""

from . import weather
from .complexity import ordinal_pattern_distribution, permutation_entropy, statistical_complexity
from .dimensions import (
    CorrelationDimension,
    correlation_dimension,
    correlation_sum,
    kaplan_yorke_dimension,
    pesin_entropy_bound,
)
from .embedding import (
    cao,
    choose_delay_mutual_information,
    choose_embedding_dim_fnn,
    false_nearest_neighbors,
    mutual_information_curve,
)
from .forecast import (
    ValidPredictionTime,
    first_crossing,
    fractal_dimension_error,
    prediction_error_n_step,
    smape,
    smape_cumulative,
    smape_per_step,
    valid_prediction_time,
)
from .inference import (
    MAD_NORMAL_SCALE,
    BootstrapInterval,
    MedianMAD,
    bootstrap_interval,
    bootstrap_interval_xr,
    median_mad,
)
from .lyapunov import LyapunovAccuracyWarning, LyapunovSpectrum, lyapunov_spectrum_flow, lyapunov_spectrum_map
from .lyapunov_series import DivergenceEstimate, delay_embed, kantz, rosenstein
from .mmd import PHYXMAMBA_RQ_SCALES, maximum_mean_discrepancy
from .paired_tests import (
    PairedTest,
    PairedTTest,
    ar2_inflation_factor,
    paired_permutation_test,
    paired_t_test,
    paired_wilcoxon_test,
)
from .power_spectrum import (
    power_spectrum_hellinger,
    power_spectrum_hellinger_first_bins,
    smoothed_power_spectrum,
)
from .state_space import (
    state_space_divergence_binned,
    state_space_divergence_dysts,
    state_space_divergence_gmm,
)

__all__ = [
    "cao",
    "choose_delay_mutual_information",
    "choose_embedding_dim_fnn",
    "false_nearest_neighbors",
    "mutual_information_curve",
    "CorrelationDimension",
    "DivergenceEstimate",
    "LyapunovAccuracyWarning",
    "LyapunovSpectrum",
    "correlation_dimension",
    "correlation_sum",
    "delay_embed",
    "kantz",
    "kaplan_yorke_dimension",
    "lyapunov_spectrum_flow",
    "lyapunov_spectrum_map",
    "pesin_entropy_bound",
    "rosenstein",
    "PHYXMAMBA_RQ_SCALES",
    "ValidPredictionTime",
    "first_crossing",
    "fractal_dimension_error",
    "maximum_mean_discrepancy",
    "ordinal_pattern_distribution",
    "permutation_entropy",
    "power_spectrum_hellinger",
    "power_spectrum_hellinger_first_bins",
    "prediction_error_n_step",
    "smape",
    "smape_cumulative",
    "smape_per_step",
    "smoothed_power_spectrum",
    "state_space_divergence_binned",
    "state_space_divergence_dysts",
    "state_space_divergence_gmm",
    "statistical_complexity",
    "valid_prediction_time",
    "weather",
    # statistics over units (seeds, initial conditions, init times)
    "MAD_NORMAL_SCALE",
    "BootstrapInterval",
    "MedianMAD",
    "PairedTTest",
    "PairedTest",
    "ar2_inflation_factor",
    "bootstrap_interval",
    "bootstrap_interval_xr",
    "median_mad",
    "paired_permutation_test",
    "paired_t_test",
    "paired_wilcoxon_test",
]

# Lyapunov spectra of one-step maps on gridded states (weather emulators vs their solver)
from .lyapunov_gridded import (  # noqa: E402
    LeadingKaplanYorke,
    error_doubling_time,
    leading_kaplan_yorke_dimension,
    lyapunov_spectrum_gridded_map,
)

__all__ += [
    "LeadingKaplanYorke",
    "error_doubling_time",
    "leading_kaplan_yorke_dimension",
    "lyapunov_spectrum_gridded_map",
]

# Physics consistency of a rollout (shallow-water invariants, spherical KE spectra, stability) and the
# spherical harmonic transform they use
from . import spherical_harmonics  # noqa: E402
from .spherical_harmonics import SphericalHarmonicTransform  # noqa: E402
from .weather.conservation import conservation_drift, shallow_water_invariants  # noqa: E402
from .weather.sphere_spectra import kinetic_energy_spectrum, spectrum_ratio_small_scales  # noqa: E402
from .weather.stability import check_finite_rollout, rollout_stability  # noqa: E402

__all__ += [
    "SphericalHarmonicTransform",
    "check_finite_rollout",
    "conservation_drift",
    "kinetic_energy_spectrum",
    "rollout_stability",
    "shallow_water_invariants",
    "spectrum_ratio_small_scales",
    "spherical_harmonics",
]
