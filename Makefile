# Contributor tasks (CONTRIBUTING.md). Every target uses ./.venv, made by `make venv`.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv lint format test slow bench ci constraints

venv:
	python3 -m venv $(VENV) && $(BIN)/pip install -q -c constraints.txt -e '.[dev]'

lint:  ## what CI checks before the tests
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format:
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

test:  ## the fast suite (CI's)
	$(BIN)/python -m pytest

slow:  ## the long variants: hundreds of kills, long fuzzing, a 200 MB file
	$(BIN)/python -m pytest -m slow

bench:  ## the speed targets at the seed's size (docs/performance.md); takes ~20 minutes
	$(BIN)/python bench/run.py

ci:  ## CI as it runs: a fresh clone of HEAD, a new venv, lint, the tests
	rm -rf /tmp/budgetdb-ci && git clone -q . /tmp/budgetdb-ci && cd /tmp/budgetdb-ci && bash .ci/run

constraints:  ## after changing a range in pyproject.toml: pin what a fresh venv resolves
	rm -rf /tmp/budgetdb-constraints && python3 -m venv /tmp/budgetdb-constraints \
	  && /tmp/budgetdb-constraints/bin/pip install -q -e '.[dev]' \
	  && { sed -n '1,3p' constraints.txt; /tmp/budgetdb-constraints/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.new \
	  && mv constraints.new constraints.txt
