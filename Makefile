# Developer and CI entry points. `make test` is what CI runs (through .ci/run).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Bytecode is written even where the environment says not to: without it every test worker (and every cronctl a
# test or benchmark starts) compiles every module again.
WITH_BYTECODE := env -u PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := test
.PHONY: venv system-deps test fuzz lint demo bench clean distclean
# system-deps must finish before the venv is built (python3-venv), so prerequisites run in order.
.NOTPARALLEL:

venv: $(STAMP)

# Redone only when pyproject.toml changes (or the venv is missing). uv installs the same packages from PyPI in a
# fraction of pip's time; pip stays the fallback.
$(STAMP): pyproject.toml sandbox/pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		echo "python3-venv is missing; run 'make system-deps' first" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python \
		--compile-bytecode -e '.[test,dev]' -e ./sandbox \
		|| $(BIN)/python -m pip install --quiet -e '.[test,dev]' -e ./sandbox
	@touch $@

system-deps:
	bash scripts/install-system-deps.sh

# Five workers on two cores: the system tests spend part of their time waiting on servers and deadlines, and
# the tests marked slow are spread over the run (tests/conftest.py), so while one worker waits the others keep both
# cores busy. A sixth worker costs more CPU (its collection, its cluster) than it wins.
test: system-deps venv
	$(BIN)/ruff check src sandbox tests
	@# A fresh checkout has no bytecode yet: one process compiles every module (and pytest rewrites the tests)
	@# instead of each worker doing it again. Errors show in the run that follows.
	@test -d tests/system/__pycache__ || $(WITH_BYTECODE) $(BIN)/pytest -q --collect-only -p no:xdist >/dev/null || true
	$(WITH_BYTECODE) $(BIN)/pytest -q -n 5

# Every property test at its full count of generated cases (`make test` draws a quarter).
fuzz: system-deps venv
	CRONCTL_FUZZ=deep $(WITH_BYTECODE) $(BIN)/pytest -q -n 3 tests/unit/test_fuzz_loader.py tests/system/test_fuzz_render.py \
		tests/system/test_fuzz_cli.py tests/system/test_runbook_loader.py tests/unit/test_schedule.py

lint: system-deps venv
	$(BIN)/ruff check src sandbox tests
	$(BIN)/ruff format --check src sandbox tests
	$(BIN)/mypy

demo: system-deps venv
	$(BIN)/cronctl demo

bench: system-deps venv
	$(WITH_BYTECODE) $(BIN)/python bench/run_all.py

clean:
	rm -rf build dist .sandbox .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) src/*.egg-info
