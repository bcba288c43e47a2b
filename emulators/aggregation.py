"""Hierarchical temporal aggregation: combine models of different lead times into one forecast.

Pangu-Weather (Bi et al., Nature 619, 2023; pseudocode ``Inference``) trains one model per lead time
(1 h, 3 h, 6 h, 24 h) and reaches a lead ``T`` with the fewest model calls: 56 h = 24 + 24 + 6 + 1 + 1.
Its hourly loop keeps one chain state per model lead and, for hour ``t``, runs the largest lead ``L``
that divides ``t`` on the chain state of ``L`` (the state at ``t − L``); the output then becomes the
chain state of ``L`` and of every smaller lead (the smaller-lead chains restart from it). The
smallest-lead model always continues from the previous output.

Works with any callables: ``models[L](state) -> state``; a ``tuple`` state (e.g. Pangu's
``(upper, surface)``) is passed unpacked, ``models[L](*state)``, and the model must return a tuple.
De-normalisation between steps, if needed, belongs inside the callables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import EmulatorInputError, EmulatorTypeError

logger = logging.getLogger(__name__)

__all__ = ["plan_lead", "rollout_hierarchical"]


def _check_leads(model_leads: Iterable[int]) -> list[int]:
    values = list(model_leads)
    if not values or any(isinstance(v, bool) or int(v) != v or v <= 0 for v in values):
        raise EmulatorInputError(f"model_leads must be positive integers, got {tuple(values)!r}")
    leads = sorted({int(v) for v in values}, reverse=True)
    return leads


def plan_lead(lead_hours: int, model_leads: Iterable[int] = (24, 6, 3, 1)) -> list[int]:
    """The fewest model steps summing exactly to ``lead_hours``, largest lead first.

    For lead sets where each lead divides the next larger one (Pangu's 24, 6, 3, 1) this is the greedy
    choice (as many of the largest lead as fit, then the next …): 30 → [24, 6], 56 → [24, 24, 6, 1, 1].
    For other sets a dynamic programme finds the minimum number of steps (greedy can fail there, e.g.
    leads (4, 3) and 6 h → [3, 3]); among equally short plans the one with the larger leads first wins.
    ``lead_hours = 0`` gives ``[]``; a lead that no combination reaches raises ``ValueError``.
    """
    if isinstance(lead_hours, bool) or int(lead_hours) != lead_hours or lead_hours < 0:
        raise EmulatorInputError(f"lead_hours must be a non-negative integer, got {lead_hours!r}")
    lead_hours = int(lead_hours)
    leads = _check_leads(model_leads)
    # best[t]: a minimal-length plan for t hours as a descending list, or None if unreachable.
    best: list[list[int] | None] = [[]] + [None] * lead_hours
    for t in range(1, lead_hours + 1):
        for lead in leads:  # descending, so the first minimal candidate has the largest first step
            prev = best[t - lead] if lead <= t else None
            if prev is None:
                continue
            candidate = sorted([lead, *prev], reverse=True)
            if (
                best[t] is None
                or len(candidate) < len(best[t])
                or (len(candidate) == len(best[t]) and candidate > best[t])
            ):
                best[t] = candidate
    if best[lead_hours] is None:
        raise EmulatorInputError(f"lead_hours={lead_hours} cannot be reached with model_leads {tuple(leads)}")
    return list(best[lead_hours])


def _call(model: Callable[..., Any], state: Any) -> Any:
    return model(*state) if isinstance(state, tuple) else model(state)


def rollout_hierarchical(
    models: Mapping[int, Callable[..., Any]],
    x0: Any,
    lead_hours: int,
    *,
    return_all: bool = False,
) -> Any:
    """Forecast ``lead_hours`` ahead from ``x0`` with models of several lead times (Pangu's rule).

    models: ``{lead_in_hours: callable}``, e.g. ``{24: model24, 6: model6}``.
    return_all=False: applies :func:`plan_lead` (largest lead first) and returns the state at
        ``lead_hours`` after ``len(plan)`` calls.
    return_all=True: runs the pseudocode's loop over every multiple ``t`` of the smallest lead up to
        ``lead_hours`` and returns ``{t: state}``: at ``t`` the largest lead ``L`` dividing ``t`` runs
        on the chain state of ``L``, and the output becomes the chain state of every lead ``≤ L``.
        Requires each lead to divide the next larger one and ``lead_hours`` to be a multiple of the
        smallest lead. The state at each ``t`` equals the ``return_all=False`` result for ``t``.
    """
    if not models:
        raise EmulatorInputError("models must map at least one lead time to a model")
    leads = _check_leads(models)
    not_callable = [lead for lead in leads if not callable(models[lead])]
    if not_callable:
        raise EmulatorTypeError(
            f"models: the entries for lead(s) {not_callable} h are not callables (a model or a function), "
            f"got {[type(models[lead]).__name__ for lead in not_callable]}"
        )
    if not return_all:
        state = x0
        for lead in plan_lead(lead_hours, leads):
            state = _call(models[lead], state)
        return state

    for larger, smaller in zip(leads, leads[1:]):
        if larger % smaller:
            raise EmulatorInputError(
                f"return_all=True needs nested model leads; {smaller} h does not divide {larger} h"
            )
    smallest = leads[-1]
    if (
        isinstance(lead_hours, bool)
        or int(lead_hours) != lead_hours
        or lead_hours < 0
        or lead_hours % smallest
    ):
        raise EmulatorInputError(
            f"lead_hours={lead_hours!r} must be a non-negative multiple of the smallest lead {smallest}"
        )
    chain = {lead: x0 for lead in leads}  # chain[L]: the state at (current t − L) for the next L-step
    out: dict[int, Any] = {}
    for t in range(smallest, int(lead_hours) + 1, smallest):
        lead = next(v for v in leads if t % v == 0)
        state = _call(models[lead], chain[lead])
        for v in leads:
            if v <= lead:
                chain[v] = state
        out[t] = state
        logger.debug("hierarchical rollout: t=%d h with the %d h model", t, lead)
    return out
