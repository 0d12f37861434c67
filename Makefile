# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs the server and the CLI only; `make test` adds the development tools.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
SOURCES := app mltrail mltrail_server tests bench

.PHONY: run test install install-dev migrate lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server,cli]'
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server,cli,dev]'
	touch $(RUN_STAMP) $(DEV_STAMP)

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

## Serve on http://127.0.0.1:8000 with the embedded SQLite database under ./data/
run: $(RUN_STAMP) migrate
	$(BIN)/mltrail server --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

migrate: $(RUN_STAMP)
	$(BIN)/mltrail db upgrade

## The whole suite (PostgreSQL and Redis tests skip unless reachable; under CI=true they must be),
## on every core: a file's tests stay on one worker, so its servers start once.
PYTEST_WORKERS ?= auto
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(DEV_STAMP)
	$(BIN)/mypy mltrail_server mltrail app

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
