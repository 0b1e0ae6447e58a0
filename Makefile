# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench deps system-deps lint typecheck style clean

deps: system-deps $(STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "madoguchi needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,speech]'
	@touch $(STAMP)

demo: deps
	$(BIN)/madoguchi-demo $(DEMO_ARGS)

# The style is kept by the same command as the tests: lint, format, the import contracts
# (setup.cfg [importlinter]) and mypy --strict over every package, then the suite.
test: deps style
	$(BIN)/python -m pytest $(PYTEST_ARGS)

style: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: deps
	$(BIN)/python -m bench.run

lint: deps
	$(BIN)/ruff check .

typecheck: deps
	$(BIN)/mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .hypothesis
