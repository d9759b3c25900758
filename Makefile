# labkit — two commands do all set-up on a fresh machine:
#   make lab    virtualenv + pinned install + doctor + lab images + JupyterLab at 00-start-here
#   make test   the whole test suite, including tests that start real containers
PY      ?= python3
VENV    ?= .venv
PORT    ?= 8888
PYTEST_ARGS ?=
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.labkit-installed

.PHONY: lab test e2e images doctor clean bench-fidelity lint strip help

help:
	@echo "make lab     open the lab (JupyterLab on 127.0.0.1:$(PORT), token required)"
	@echo "make test    run the test suite (engine tier needs a Docker daemon)"
	@echo "make e2e     the kind tier: real clusters (needs kind, a node image, privileged containers)"
	@echo "make clean   remove what labkit created (containers, networks, volumes, kind clusters); lab images stay"
	@echo "             (.venv/bin/labkit clean --images removes those too)"

$(STAMP): requirements.txt environments/constraints.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c environments/constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/labkit lab --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not kind" $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/python -m pytest -m kind -rs $(PYTEST_ARGS) tests/e2e

images: $(STAMP)
	$(BIN)/labkit images build

doctor: $(STAMP)
	$(BIN)/labkit doctor

clean: $(STAMP)
	$(BIN)/labkit clean

bench-fidelity: $(STAMP)
	$(BIN)/python benchmarks/fidelity.py

lint: $(STAMP)
	$(BIN)/python -m ruff check labkit tests notebooks

# Strip outputs and execution metadata from notebooks before committing.
strip: $(STAMP)
	$(BIN)/python scripts/strip_notebooks.py notebooks/*.ipynb
