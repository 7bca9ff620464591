# The two commands of the Quickstart: `make demo` and `make test`. Each creates .venv when missing.
# `make app` serves the what-if page (README, "What-if app").
# `make fast` runs the tests not marked slow: a quick loop while working (make test runs all).
# `make thorough` runs them all with Hypothesis's thorough profile (fresh examples, 400 per
# property): where time allows, not in CI.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo app test fast thorough lint clean

$(BIN)/partnersim: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,app,discovery]'
	touch $@

demo: $(BIN)/partnersim
	$(BIN)/partnersim run experiments/configs/quickstart.toml --report

# The what-if page at http://127.0.0.1:8501 (Ctrl-C stops it and its workers).
app: $(BIN)/partnersim
	$(BIN)/partnersim app

lint: $(BIN)/partnersim
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

fast: $(BIN)/partnersim
	$(BIN)/python -m pytest -m "not slow"

thorough: $(BIN)/partnersim
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) results/*/ .pytest_cache .hypothesis
