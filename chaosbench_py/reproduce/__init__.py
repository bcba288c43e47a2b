"""Paper reproductions: a registry of recipes, each run end to end and resumable by ``chaosbench reproduce``.

::

    chaosbench reproduce --list
    chaosbench reproduce phyxmamba-lorenz63 --out repro/pm --budget tiny [--seeds N] [--resume | --overwrite]

* :mod:`.registry`: :class:`Recipe` (data recipe, per-model run configs, evaluation protocol, the published
  table with its citation, goals, budgets), :func:`get_recipe`, :func:`list_recipes`.
* :mod:`.gtf`: ``gtf-lorenz63``, ``gtf-ecg`` (Hess et al., ICML 2023).
* :mod:`.phyxmamba`: ``phyxmamba-lorenz63``, ``phyxmamba-rossler`` (the PhyxMamba paper's protocol).
* :mod:`.spatiotemporal`: ``esn-ks`` (reservoir computing on Kuramoto–Sivashinsky; Pathak et al., PRL 2018;
  Vlachas et al., Neural Networks 2020).
* :mod:`.runner`: :func:`run_recipe`, the end-to-end driver; :mod:`.table`: median ± MAD, intervals, the paired test.
"""

from .registry import Budget, Goal, MetricSpec, ModelSpec, Recipe, get_recipe, list_recipes, resolve_budget
from .runner import ReproductionResult, run_recipe

__all__ = [
    "Budget",
    "Goal",
    "MetricSpec",
    "ModelSpec",
    "Recipe",
    "ReproductionResult",
    "get_recipe",
    "list_recipes",
    "resolve_budget",
    "run_recipe",
]
