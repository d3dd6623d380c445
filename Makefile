# Two entry points for a fresh clone (only python3 and make needed):
#   make demo   set up, then build the demo company end to end and write its report
#   make test   set up, then run lint, types and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= missionline-demo

.PHONY: demo test test-deps lint typecheck pytest bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(VENV)/.installed-core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[all,dev]"
	touch $@ $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(BIN)/missionline demo -w $(DEMO_DIR)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Debian's chromium (browser tests) and postgresql (backend tests), when missing and possible.
test-deps:
	scripts/install-test-deps

pytest: $(VENV)/.installed-dev test-deps
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks

bench-smoke: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks --smoke

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
