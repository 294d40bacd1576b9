# Set-up is part of every target: on a fresh machine `make test` and
# `make bench` create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-nojit test-slow fuzz bench bench-peers bench-gate generate clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The suite includes tests/test_layers.py, which runs lint-imports (the
# package's layers and no import cycles: pyproject.toml, [tool.importlinter]).
test: $(STAMP)
	$(PY) -m pytest -q

# The whole suite again with numba's JIT off (plain Python kernels).
test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q

# The lanes `make test` leaves out: races, long runs and the fuzz programs
# (a few hundred, fixed seed). CI runs it.
test-slow: $(STAMP)
	$(PY) -m pytest -q -m "soak or fuzz" tests

# The fuzz lane at length: FUZZ_PROGRAMS random programs of each kind.
FUZZ_PROGRAMS ?= 10000
fuzz: $(STAMP)
	TAPEGRAD_FUZZ_PROGRAMS=$(FUZZ_PROGRAMS) $(PY) -m pytest -q -m fuzz tests

bench: $(STAMP)
	$(PY) -m bench

# The CI performance gate: counts against the committed baseline; timings
# against it on the baseline's machine, else an A/B of the baseline's commit
# and this tree in the same run (needs git and that commit; README, "The CI gate").
bench-gate: $(STAMP)
	$(PY) -m bench check --baseline bench/baseline.json

# Optional peers for the benchmark (PyTorch pinned: a CPU build is on disk here).
bench-peers: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,peers]'

# Regenerate tapegrad/kernels/sweeps.py and tapegrad/kernels/array_rules.py
# from the op table (tapegrad/ops/), with tapegrad/kernels/codegen/.
generate: $(STAMP)
	$(PY) -m tapegrad.kernels.codegen

clean:
	rm -rf $(VENV) build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
