# Every target creates or reuses .venv and installs the project into it first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo example test test-lowest test-pythons package-check lint typecheck bench \
        bench-e2e docs notebooks check clean

$(STAMP): pyproject.toml rxpresence/_version.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m rxpresence demo $(ARGS)

example: $(STAMP)
	$(PY) -m examples.web_presence $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

# The suite against the lowest versions pyproject.toml allows (its own virtualenv).
test-lowest: $(STAMP)
	$(PY) .ci/test-lowest $(ARGS)

# The suite on every Python version the classifiers list (one virtualenv each).
test-pythons: $(STAMP)
	$(PY) .ci/test-pythons $(ARGS)

# Build the sdist and the wheel, check them, and use the wheel from a fresh virtualenv.
package-check: $(STAMP)
	PY=$(PY) PYTHON=$(PYTHON) .ci/package-check

lint: $(STAMP)
	$(PY) -m ruff check rxpresence tests bench examples
	$(PY) -m ruff format --check rxpresence tests bench examples

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/run.py $(ARGS)

bench-e2e: $(STAMP)
	$(PY) bench/e2e.py $(ARGS)

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

notebooks: $(STAMP)
	$(PY) -m pytest tests/test_notebooks.py

check: lint typecheck test docs

clean:
	rm -rf $(VENV) .venv-lowest .venv-py3.* site build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
