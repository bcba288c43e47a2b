"""Rollout and evaluation of trained emulators.

* :mod:`.rollout`: :func:`rollout_gridded` (initial states of a canonical dataset → forecast
  Dataset in the forecast schema, physical units, ensembles by perturbed initial states, resumable
  store) and :func:`rollout_sequence` (free runs of low-dimensional emulators); the one-step
  helper is :func:`emulators.gridded_step`.
* :mod:`.evaluate`: :func:`evaluate_weather` (scorecards of a forecast and of persistence /
  climatology), :func:`scorecards_to_csv`, :func:`evaluate_dynamics` (GTF protocol + VPT) and its
  JSON round trip :func:`write_dynamics_evaluation` / :func:`read_dynamics_evaluation`.
* :mod:`.pipeline`: :func:`evaluate_run` (a trainer's run folder → scores on disk) and
  :func:`build_report` (an evaluation folder → report), what ``chaosbench evaluate`` / ``report`` run.
"""

from .evaluate import (
    evaluate_dynamics,
    evaluate_weather,
    read_dynamics_evaluation,
    scorecards_to_csv,
    write_dynamics_evaluation,
)
from .pipeline import build_report, evaluate_run, stationary_climatology, statistics_from_metadata
from .rollout import rollout_gridded, rollout_sequence

__all__ = [
    "build_report",
    "evaluate_dynamics",
    "evaluate_run",
    "evaluate_weather",
    "read_dynamics_evaluation",
    "rollout_gridded",
    "rollout_sequence",
    "scorecards_to_csv",
    "stationary_climatology",
    "statistics_from_metadata",
    "write_dynamics_evaluation",
]

# the GTF paper's evaluation of reconstructions (D_stsp, D_H, PE(n), Lyapunov spectrum of the model)
from .dsr import DSREvaluation, evaluate_dsr, free_run, n_step_predictions  # noqa: E402

__all__ += ["DSREvaluation", "evaluate_dsr", "free_run", "n_step_predictions"]

# how sure a scorecard is: per-init scores, bootstrap intervals, paired tests between evaluations
from .uncertainty import compare_evaluations, paired_tests_table, score_uncertainty  # noqa: E402

__all__ += ["compare_evaluations", "paired_tests_table", "score_uncertainty"]

# Lyapunov spectra of a gridded emulator's one-step map vs the shallow-water solver (issue #15)
from .emulator_lyapunov import (  # noqa: E402
    EmulatorStepMap,
    SpectralSolverMap,
    compare_lyapunov_spectra,
    emulator_step_map,
    solver_initial_states,
    solver_step_map,
)

__all__ += [
    "EmulatorStepMap",
    "SpectralSolverMap",
    "compare_lyapunov_spectra",
    "emulator_step_map",
    "solver_initial_states",
    "solver_step_map",
]
