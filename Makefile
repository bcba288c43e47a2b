# The two commands of the README. Each creates its own virtual environment, installs torch
# first (so that no other package can pull a different build), then the package, then runs.
#
#   make run    # main job on the embedded default: no downloads, a few minutes on 2 CPU cores
#   make test   # lint + the default test suite (what CI runs)
#   make test-min   # the same tests on the lowest versions pyproject declares (.ci/min-versions.txt; CI runs it too)
#
# TORCH_SPEC pins the torch build; override it for a GPU machine, e.g.
#   make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
RUN_VENV ?= .venv-run
TEST_VENV ?= .venv-test
MIN_VENV ?= .venv-min
OUT ?= outputs/main
PYTEST_ARGS ?= -m 'not slow and not gpu'

.PHONY: run test test-min lint bench clean

$(RUN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RUN_VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(RUN_VENV)/bin/python -m pip install --quiet -e .
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TEST_VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(TEST_VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $@

# The minimum-versions environment: every dependency at the lowest version pyproject declares.
$(MIN_VENV)/.installed: pyproject.toml .ci/min-versions.txt
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(MIN_VENV)/bin/python -m pip install --quiet -e ".[dev]" -c .ci/min-versions.txt
	touch $@

run: $(RUN_VENV)/.installed
	$(RUN_VENV)/bin/chaosbench run --out $(OUT)

lint: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/ruff check chaosbench_py emulators physics_metrics tests benchmarks

test: lint
	$(TEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-min: $(MIN_VENV)/.installed
	$(MIN_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(numpy|pandas|scipy|xarray|dask|zarr|netcdf4|torch)=='
	$(MIN_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Peers (dysts, nolds) are installed only here, never by run/test.
bench: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python -m pip install --quiet -e ".[bench]"
	$(TEST_VENV)/bin/python benchmarks/integrate_vs_dysts.py

clean:
	rm -rf $(RUN_VENV) $(TEST_VENV) $(MIN_VENV) outputs .pytest_cache .ruff_cache
