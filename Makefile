# make demo — run the hall on its embedded defaults (prepares everything first)
# make test — format, lint, types and the whole test suite (the same in CI)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done

.PHONY: setup demo test check lint fmt types pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml debian-packages.txt scripts/setup-debian.sh
	bash scripts/setup-debian.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m vision.assets
	touch $@

demo: setup
	$(BIN)/hall demo

test: check

check: setup lint types pytest

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/bench_issue.py

clean:
	rm -rf $(VENV) build *.egg-info
