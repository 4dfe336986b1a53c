# Entry points, each self-contained on a fresh machine:
#   make demo   set up .venv and run the main job on its built-in default
#   make test   set up .venv, build the API reference (so it never goes stale) and run the test suite
#   make docs   the API reference of every public name, from the docstrings, into build/api
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.repdyn-installed

DOCS_OUT ?= build/api
DOCS_MODULES := repdyn repdyn.checks repdyn.vocabulary repdyn.theory repdyn.rsa repdyn.data repdyn.nets repdyn.track repdyn.fast \
	repdyn.sweep repdyn.experiments repdyn.experiments.trials repdyn.experiments.structure repdyn.atlas repdyn.cli

.PHONY: demo test bench docs bench-reproduce bench-robustness

$(STAMP): pyproject.toml constraints-cpu.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints-cpu.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/repdyn run two-point --arch default --trials 4 --out results/demo

test: $(STAMP) docs
	$(PY) -m pytest -n 2 -q

# pdoc's warnings (a name in __all__ that does not resolve, say) fail the build.
docs: $(STAMP)
	$(PY) -W error::UserWarning:pdoc.doc -m pdoc -d numpy -o $(DOCS_OUT) $(DOCS_MODULES)
	@echo "API reference: $(DOCS_OUT)/index.html"

bench: $(STAMP)
	$(PY) benchmarks/bench_theory.py
	$(PY) benchmarks/bench_trials.py
	$(PY) benchmarks/bench_pairwise.py
	$(PY) benchmarks/bench_imports.py
	$(PY) benchmarks/bench_atlas.py

bench-reproduce: $(STAMP)
	$(PY) benchmarks/bench_reproduce.py

bench-robustness: $(STAMP)
	$(PY) benchmarks/bench_robustness.py
