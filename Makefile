# Two commands do everything on a fresh machine with Python 3.11+:
#   make run   - venv, install, migrate, seed the demo, serve on http://127.0.0.1:8000
#                (another address: make run HOST=0.0.0.0 PORT=8001)
#   make test  - venv, install, the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Bijli needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP)
	$(BIN)/bijli db upgrade
	$(BIN)/bijli demo seed --if-empty
	$(BIN)/bijli serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) bijli.db bijli.db-wal bijli.db-shm
