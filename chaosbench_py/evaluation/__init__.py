"""Rollout and evaluation of trained emulators.

* :mod:`.rollout`: :func:`gridded_step`, :func:`rollout_gridded` (initial states of a canonical
  dataset → forecast Dataset in the forecast schema, physical units, ensembles by perturbed initial
  states, resumable store) and :func:`rollout_sequence` (free runs of low-dimensional emulators).
* :mod:`.evaluate`: :func:`evaluate_weather` (scorecards of a forecast and of persistence /
  climatology), :func:`scorecards_to_csv`, :func:`evaluate_dynamics` (GTF protocol + VPT) and its
  JSON round trip :func:`write_dynamics_evaluation` / :func:`read_dynamics_evaluation`.
"""

from .evaluate import (
    evaluate_dynamics,
    evaluate_weather,
    read_dynamics_evaluation,
    scorecards_to_csv,
    write_dynamics_evaluation,
)
from .rollout import gridded_step, rollout_gridded, rollout_sequence

__all__ = [
    "evaluate_dynamics",
    "evaluate_weather",
    "gridded_step",
    "read_dynamics_evaluation",
    "rollout_gridded",
    "rollout_sequence",
    "scorecards_to_csv",
    "write_dynamics_evaluation",
]
