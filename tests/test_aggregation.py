"""Hierarchical temporal aggregation (Pangu-Weather pseudocode ``Inference``)."""

from __future__ import annotations

import itertools

import pytest
import torch

from emulators.aggregation import plan_lead, rollout_hierarchical


def _brute_force_min_steps(lead: int, leads: tuple[int, ...]) -> int | None:
    for n in range(0, lead // min(leads) + 1):
        if any(sum(c) == lead for c in itertools.combinations_with_replacement(leads, n)):
            return n
    return None


def _greedy(lead: int, leads: tuple[int, ...]) -> list[int]:
    plan = []
    for v in sorted(leads, reverse=True):
        plan += [v] * (lead // v)
        lead %= v
    return plan


@pytest.mark.parametrize(
    "lead, leads, expected",
    [
        (30, (24, 6), [24, 6]),
        (56, (24, 6, 3, 1), [24, 24, 6, 1, 1]),  # the example in the reference notes
        (168, (24, 6), [24] * 7),
        (6, (4, 3), [3, 3]),  # greedy (4, then 2 unreachable) fails; the fewest is 2 steps
        (0, (24, 6), []),
        (7, (1, 3, 6, 24), [6, 1]),
    ],
)
def test_plan_lead_examples(lead, leads, expected):
    assert plan_lead(lead, leads) == expected


@pytest.mark.parametrize("leads", [(24, 6, 3, 1), (24, 6), (5, 3), (7, 4, 1), (12, 5, 2)])
def test_plan_lead_fewest_steps_and_exact_sum(leads):
    nested = all(a % b == 0 for a, b in zip(sorted(leads, reverse=True), sorted(leads, reverse=True)[1:]))
    for lead in range(0, 80):
        best = _brute_force_min_steps(lead, leads)
        if best is None:
            with pytest.raises(ValueError, match="lead_hours"):
                plan_lead(lead, leads)
            continue
        plan = plan_lead(lead, leads)
        assert sum(plan) == lead
        assert len(plan) == best
        assert plan == sorted(plan, reverse=True)
        assert set(plan) <= set(leads)
        if nested:
            assert plan == _greedy(lead, leads)


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_plan_lead_rejects_bad_lead(bad):
    with pytest.raises(ValueError, match="lead_hours"):
        plan_lead(bad)


@pytest.mark.parametrize("bad", [(), (0, 6), (-6,), (2.5,)])
def test_plan_lead_rejects_bad_model_leads(bad):
    with pytest.raises(ValueError, match="model_leads"):
        plan_lead(6, bad)


def _path_models(log: list):
    """Models whose state is the string of steps taken; each call is logged as (lead, input)."""

    def make(lead):
        def model(state):
            log.append((lead, state))
            return f"{state}+{lead}"

        return model

    return {lead: make(lead) for lead in (24, 6, 3, 1)}


def test_rollout_single_lead_follows_plan():
    log: list = []
    out = rollout_hierarchical(_path_models(log), "x0", 56)
    assert out == "x0+24+24+6+1+1"
    assert [lead for lead, _ in log] == [24, 24, 6, 1, 1]


def test_rollout_all_matches_pseudocode_loop():
    """Independent transcription of the pseudocode's hourly loop with its four chain variables."""
    log: list = []
    out = rollout_hierarchical(_path_models(log), "x0", 56, return_all=True)

    expected, calls = {}, []
    inp = in24 = in6 = in3 = "x0"
    for i in range(56):
        if (i + 1) % 24 == 0:
            inp = in24
            calls.append((24, inp))
            output = inp + "+24"
            in24 = in6 = in3 = output
        elif (i + 1) % 6 == 0:
            inp = in6
            calls.append((6, inp))
            output = inp + "+6"
            in6 = in3 = output
        elif (i + 1) % 3 == 0:
            inp = in3
            calls.append((3, inp))
            output = inp + "+3"
            in3 = output
        else:
            calls.append((1, inp))
            output = inp + "+1"
        inp = output
        expected[i + 1] = output
    assert out == expected
    assert log == calls
    # every intermediate state is the fewest-step path to its lead
    for t, state in out.items():
        assert state == "+".join(["x0", *map(str, plan_lead(t, (24, 6, 3, 1)))])


def test_rollout_tuple_state_and_tensors():
    """Tuple states are unpacked (Pangu's (upper, surface)); additive models give x0 + lead exactly."""

    def make(lead):
        return lambda up, sfc: (up + lead, sfc - lead)

    models = {24: make(24), 6: make(6)}
    up, sfc = torch.zeros(2, 3), torch.ones(2)
    res_up, res_sfc = rollout_hierarchical(models, (up, sfc), 54)
    assert torch.equal(res_up, torch.full((2, 3), 54.0)) and torch.equal(res_sfc, torch.full((2,), -53.0))
    all_states = rollout_hierarchical(models, (up, sfc), 48, return_all=True)
    assert sorted(all_states) == list(range(6, 49, 6))
    assert all(torch.equal(s[0], torch.full((2, 3), float(t))) for t, s in all_states.items())


def test_rollout_return_all_rejects_non_nested_or_off_grid():
    models = {5: lambda s: s, 3: lambda s: s}
    with pytest.raises(ValueError, match="nested"):
        rollout_hierarchical(models, 0, 15, return_all=True)
    with pytest.raises(ValueError, match="lead_hours"):
        rollout_hierarchical({24: lambda s: s, 6: lambda s: s}, 0, 27, return_all=True)
    with pytest.raises(ValueError, match="models"):
        rollout_hierarchical({}, 0, 6)
