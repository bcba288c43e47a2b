"""Every case of the bad-input battery (tests/bad_input_battery.py) ends in a clear error.

Clear: a user error (``chaosbench_py.errors.is_user_error``) whose message names the file, argument
or variable; for the CLI, exit status 2 and one line without a traceback. Nothing that existed
before the call is changed, and nothing hangs (each case has a time limit).
"""

from __future__ import annotations

import logging

import bad_input_battery as battery
import pytest

CASES = {case.id: case for case in battery.cases()}


def test_the_battery_is_large_and_covers_every_entry_point():
    entries = {case.entry.split()[0] + " " + case.entry.split()[1] for case in CASES.values()}
    assert len(CASES) >= 100
    for needed in ("cli generate", "cli train", "cli evaluate", "cli report", "api loaders", "api writer",
                   "api metrics", "api dynamics", "api emulators", "api systems", "api training"):  # fmt: skip
        assert needed in entries, needed
    assert len(CASES) == len(battery.cases()), "case ids must be unique"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield battery.build_context(tmp_path_factory.mktemp("battery_context"))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_bad_input_gets_a_clear_error(case_id, context, tmp_path):
    logging.disable(logging.WARNING)
    try:
        outcome = battery.classify(CASES[case_id], tmp_path, context)
    finally:
        logging.disable(logging.NOTSET)
    assert outcome.status == "clear", f"{outcome.status}: {outcome.message}\n{outcome.detail}"
