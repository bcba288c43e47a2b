"""Reports: Markdown + self-contained HTML with figures; plotting helpers and whole report sections."""

from .document import Report, atomic_write_text, save_figure
from .maps import (
    COASTLINES_CARTOPY,
    COASTLINES_MASK,
    COASTLINES_NONE,
    natural_earth_coastline_path,
    plot_forecast_maps,
)
from .plots import (
    plot_attractors,
    plot_lyapunov_spectra,
    plot_scores_vs_lead,
    plot_zonal_power_spectra,
    score_curves,
)
from .sections import add_dynamics_section, add_weather_section, report_scores

__all__ = [
    "COASTLINES_CARTOPY",
    "COASTLINES_MASK",
    "COASTLINES_NONE",
    "Report",
    "add_dynamics_section",
    "add_weather_section",
    "atomic_write_text",
    "natural_earth_coastline_path",
    "plot_attractors",
    "plot_forecast_maps",
    "plot_lyapunov_spectra",
    "plot_scores_vs_lead",
    "plot_zonal_power_spectra",
    "report_scores",
    "save_figure",
    "score_curves",
]
