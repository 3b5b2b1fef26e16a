# Two commands on a fresh machine (Python >= 3.11, no GPU, no API key needed):
#   make demo   — set up .venv and run the whole graph on a small slice (tiny models, CPU)
#   make test   — set up .venv and run the test suite
# Both run offline: the demo reads the GSM8K/MATH slice shipped in lema/data/embedded/.
# LEMA_DATA=path/to/data points the demo at local copies of the full GSM8K/MATH instead.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint clean-demo

$(BIN)/lema: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/lema

setup: $(BIN)/lema

demo: setup
	$(BIN)/lema demo $(if $(LEMA_DATA),--data $(LEMA_DATA),)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/snakemake --lint
