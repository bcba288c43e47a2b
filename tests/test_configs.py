"""Every example run file in configs/ validates, and names only keys its model has."""

import dataclasses
from pathlib import Path

import pytest
import yaml

import emulators
from chaosbench_py.training import load_run_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_examples_for_each_task():
    kinds = {yaml.safe_load(p.read_text())["task"]["kind"] for p in CONFIGS}
    assert {"next_step", "gtf", "multi_step"} <= kinds


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_config_validates(path):
    cfg = load_run_config(path)
    fields = {f.name for f in dataclasses.fields(emulators.model_config_class(cfg.model.name))}
    assert set(cfg.model.config) <= fields, set(cfg.model.config) - fields
