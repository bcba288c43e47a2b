"""The registry of paper reproductions: what a recipe is, and how recipes are found.

A :class:`Recipe` is everything needed to redo a paper's table end to end:

* a **data recipe** (:attr:`Recipe.prepare_data`): the shared data set it copies or the catalog
  system it integrates, written into ``OUT/data/``;
* **per-model run configs** (:attr:`Recipe.models`): the main model and the paper's baselines
  that exist in this package, each a :class:`ModelSpec` (a generic-trainer run config, or a
  closed-form reservoir fit);
* an **evaluation protocol** (:attr:`Recipe.evaluate`): the paper's own metrics, per seed, with
  per-unit values (seeds or held-out initial conditions) for the paired test;
* the **published table** with its source (:attr:`Recipe.metrics`, each :class:`MetricSpec` holds
  the published ``(value, spread)`` per model, :attr:`Recipe.citation`);
* **quality goals** (:attr:`Recipe.goals`) and the **budgets** ``tiny`` (a test run in seconds),
  ``default`` (a CPU-sized run) and ``published`` (the paper's own training length).

``--budget <steps>`` is the ``default`` budget with every gradient-trained model set to that many
optimiser steps; fewer than :attr:`Recipe.min_steps` is refused (nothing could be evaluated).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, UnknownNameError

__all__ = [
    "Budget",
    "Goal",
    "MetricSpec",
    "ModelSpec",
    "Recipe",
    "get_recipe",
    "list_recipes",
    "register_recipe",
    "resolve_budget",
]


@dataclass(frozen=True)
class Budget:
    """Compute of one recipe run.

    ``name``: ``tiny``, ``default``, ``published`` or the step count given. ``steps``: optimiser steps
    per seed of each gradient-trained model (by :attr:`ModelSpec.name`). ``params``: the recipe's
    sizes (test length, number of held-out initial conditions, reservoir size, curve interval …).
    ``seeds``: the default number of seeds.
    """

    name: str
    steps: Mapping[str, int]
    params: Mapping[str, Any] = field(default_factory=dict)
    seeds: int = 5

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "steps": dict(self.steps),
            "params": dict(self.params),
            "seeds": self.seeds,
        }


@dataclass(frozen=True)
class ModelSpec:
    """One model of a recipe.

    ``name``: folder name (``OUT/runs/NAME/seed_K``); ``label``: as printed in the table; ``kind``:
    ``"trainer"`` (``run_config(budget, data_dir, seed)`` gives a generic-trainer config dict) or
    ``"reservoir"`` (``fit(data, budget, seed)`` returns a fitted model, saved as the run's
    ``model.pt``); ``main``: the paper's model (one per recipe); ``variant``: another training method of
    the main model from the same paper (e.g. aGTF beside GTF): in the table, but not a baseline for the
    paired test.
    """

    name: str
    label: str
    kind: str
    main: bool = False
    variant: bool = False
    run_config: Callable[..., dict] | None = None
    fit: Callable[..., Any] | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A column of the table: ``key`` in the per-seed evaluation, ``label``, ``lower_is_better``,
    and the published ``{model name: (value, spread)}`` (spread ``None`` when the paper gives none)."""

    key: str
    label: str
    lower_is_better: bool = True
    published: Mapping[str, tuple[float, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Goal:
    """A quality goal on the median over seeds of ``metric`` of ``model``: ``op`` is ``"<="`` or
    ``">="`` against ``threshold`` (a number, or a key of the data's constants, e.g. a noise floor,
    times ``factor`` plus ``offset``); ``text`` is how it is printed."""

    model: str
    metric: str
    op: str
    threshold: float | str
    text: str
    factor: float = 1.0
    offset: float = 0.0

    def bound(self, constants: Mapping[str, Any]) -> float:
        base = self.threshold if not isinstance(self.threshold, str) else constants[self.threshold]
        return float(base) * self.factor + self.offset

    def met(self, value: float, constants: Mapping[str, Any]) -> bool:
        b = self.bound(constants)
        return bool(value <= b) if self.op == "<=" else bool(value >= b)


@dataclass(frozen=True)
class Recipe:
    """A paper reproduction (module docstring). Callables (``data`` = what ``prepare_data`` returned):

    * ``check_data(data_path) -> None``: raise :class:`~chaosbench_py.errors.MissingInputError` naming
      what is missing (before anything is written);
    * ``prepare_data(data_dir, data_path, budget) -> dict``: write the data files into ``data_dir``
      (each atomically, skipped when already there) and return the arrays and constants;
    * ``evaluate(spec, model, data, budget, seed) -> dict``: ``{"metrics": {key: float},
      "units": {key: [per-initial-condition values]}, "artifacts": {name: array}}``;
    * ``quick_metric(model, data, budget) -> float``: the time-to-quality metric (main model);
    * ``plots(report, data, artifacts) -> None``: the recipe's figures.
    """

    name: str
    title: str
    citation: str
    source: str
    models: tuple[ModelSpec, ...]
    metrics: tuple[MetricSpec, ...]
    goals: tuple[Goal, ...]
    budgets: Mapping[str, Budget]
    min_steps: int
    min_steps_reason: str
    check_data: Callable[[Any], None]
    prepare_data: Callable[..., dict]
    evaluate: Callable[..., dict]
    quick_metric: Callable[..., float] | None = None
    quick_metric_label: str = ""
    paired_metric: str = ""
    paired_unit: str = "seed"
    plots: Callable[..., None] | None = None
    notes: str = ""
    version: int = 1

    @property
    def main(self) -> ModelSpec:
        return next(m for m in self.models if m.main)

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise UnknownNameError(
            f"recipe {self.name}: no model {name!r}; models: {[m.name for m in self.models]}"
        )

    def goal_text(self) -> str:
        return "; ".join(g.text for g in self.goals)


_RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    """Add ``recipe`` to the registry (a name used twice is an error)."""
    if recipe.name in _RECIPES:
        raise InputError(f"recipe {recipe.name!r} is registered twice")
    if sum(m.main for m in recipe.models) != 1:
        raise InputError(f"recipe {recipe.name!r}: exactly one model must be the main model")
    _RECIPES[recipe.name] = recipe
    return recipe


def _load_families() -> None:
    from . import gtf, phyxmamba, spatiotemporal  # noqa: F401 - each module registers its recipes


def list_recipes() -> list[str]:
    """Names of the registered recipes, sorted."""
    _load_families()
    return sorted(_RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe ``name``; an unknown name raises :class:`UnknownNameError` listing the known ones."""
    _load_families()
    if name not in _RECIPES:
        close = difflib.get_close_matches(str(name), list(_RECIPES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownNameError(f"unknown recipe {name!r}{hint}; known recipes: {', '.join(sorted(_RECIPES))}")
    return _RECIPES[name]


def resolve_budget(recipe: Recipe, budget: str | int) -> Budget:
    """``tiny`` / ``default`` / ``published`` / a number of optimiser steps → :class:`Budget`.

    A number is the ``default`` budget with every gradient-trained model at that many steps; fewer than
    ``recipe.min_steps`` raises :class:`InputError` naming the minimum.
    """
    if isinstance(budget, str) and budget in recipe.budgets:
        return recipe.budgets[budget]
    try:
        steps = int(str(budget).strip())
    except ValueError:
        raise InputError(
            f"--budget {budget!r}: expected one of {', '.join(recipe.budgets)} or a number of optimiser steps"
        ) from None
    if steps < recipe.min_steps:
        raise InputError(
            f"--budget {steps}: too small to evaluate recipe {recipe.name}; the minimum is "
            f"{recipe.min_steps} optimiser steps per seed ({recipe.min_steps_reason}); "
            f"use --budget tiny or a number >= {recipe.min_steps}"
        )
    base = recipe.budgets["default"]
    return dataclasses.replace(base, name=str(steps), steps={k: steps for k in base.steps})
