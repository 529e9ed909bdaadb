# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bench-short system-deps schema docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "schoolcam needs Python 3.11+")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

## Debian packages the real-parts harness needs (broker, RTSP server, PostgreSQL, ffmpeg).
system-deps:
	@bash tools/system-deps.sh

demo: $(STAMP) system-deps
	$(BIN)/schoolcam-sim demo $(DEMO_ARGS)

test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The quick set: no real cameras, no fault injection.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not fault" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run_all

bench-short: $(STAMP) system-deps
	$(BIN)/python -m bench.run_all --short

schema: $(STAMP)
	$(BIN)/python -m protocol schema --out docs/schema
	$(BIN)/python -m protocol docs --out docs/protocol.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
