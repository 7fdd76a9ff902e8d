# The two commands of the quick start: `make demo` and `make test`.
# Every install step the project needs lives here or in pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/zapledger demo

# System packages some tests drive for real (PostgreSQL, Chromium, mosquitto, prometheus); installed when missing.
system-deps:
	@bash scripts/system-deps.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src tests bench

pytest: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest --cov --cov-report=term -p no:cacheprovider

test: lint typecheck pytest

bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[all,bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage* htmlcov build dist
