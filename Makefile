# Two entry points, both self-contained on a fresh machine:
#   make demo   set up .venv and run the main job on its built-in default
#   make test   set up .venv and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.repdyn-installed

.PHONY: demo test bench bench-reproduce bench-robustness

$(STAMP): pyproject.toml constraints-cpu.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints-cpu.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/repdyn run two-point --arch default --trials 4 --out results/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) benchmarks/bench_theory.py
	$(PY) benchmarks/bench_trials.py
	$(PY) benchmarks/bench_pairwise.py

bench-reproduce: $(STAMP)
	$(PY) benchmarks/bench_reproduce.py

bench-robustness: $(STAMP)
	$(PY) benchmarks/bench_robustness.py
