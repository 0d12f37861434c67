# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,cli,dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve on http://127.0.0.1:8000 with the embedded SQLite database under ./data/
run: $(STAMP) migrate
	$(BIN)/exptrack server --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

migrate: $(STAMP)
	$(BIN)/exptrack db upgrade

## The whole suite (PostgreSQL and Redis tests skip unless reachable; under CI=true they must be)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app exptrack tests bench migrations
	$(BIN)/ruff format --check app exptrack tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy app exptrack

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
