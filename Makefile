# Set-up is part of every target: on a fresh machine `make test` and
# `make bench` create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-nojit test-slow fuzz bench bench-peers bench-pytensor bench-gate dask generate clean

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
bench-peers: $(STAMP) bench-pytensor
	$(PY) -m pip install --quiet -e '.[test,peers]'

# Dask and distributed (the extra tapegrad[dask]): tapegrad.dask's tests on a
# LocalCluster, examples/ode_sweep.py and the benchmark's travel figures;
# without them those tests skip, saying so.
dask: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,dask]'

# PyTensor (numba backend) needs Python >= 3.12, so the benchmark runs it in a
# side process from a venv of its own (bench/side_peer.py), never a dependency
# of tapegrad. The first Python >= 3.12 found ($(PYTENSOR_PYTHON) if given,
# python3.12/3.13/3.14 on PATH, pyenv's) makes it; with none, or when the
# install fails, it is skipped and the benchmark reports PyTensor "not installed".
PYTENSOR_VENV := .venv-pytensor
PYTENSOR_SPEC := pytensor==3.3.8
PYTENSOR_PYTHON ?=
bench-pytensor:
	@if [ "$$(cat $(PYTENSOR_VENV)/.installed 2>/dev/null)" = "$(PYTENSOR_SPEC)" ]; then exit 0; fi; \
	found=; \
	for p in $(PYTENSOR_PYTHON) python3.12 python3.13 python3.14 \
	         "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python; do \
	    if command -v "$$p" >/dev/null 2>&1 && \
	       "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	        found="$$p"; break; \
	    fi; \
	done; \
	if [ -z "$$found" ]; then \
	    echo "bench-pytensor: no Python >= 3.12 here: PyTensor is skipped (reported not installed)"; \
	    exit 0; \
	fi; \
	rm -rf $(PYTENSOR_VENV); \
	if "$$found" -m venv $(PYTENSOR_VENV) && echo '*' > $(PYTENSOR_VENV)/.gitignore && \
	   $(PYTENSOR_VENV)/bin/python -m pip install --quiet --upgrade pip && \
	   $(PYTENSOR_VENV)/bin/python -m pip install --quiet '$(PYTENSOR_SPEC)'; then \
	    echo '$(PYTENSOR_SPEC)' > $(PYTENSOR_VENV)/.installed; \
	    echo "bench-pytensor: $(PYTENSOR_SPEC) in $(PYTENSOR_VENV) ($$($$found --version))"; \
	else \
	    rm -rf $(PYTENSOR_VENV); \
	    echo "bench-pytensor: could not install $(PYTENSOR_SPEC): PyTensor is skipped"; \
	fi

# Regenerate tapegrad/kernels/sweeps.py and tapegrad/kernels/array_rules.py
# from the op table (tapegrad/ops/), with tapegrad/kernels/codegen/.
generate: $(STAMP)
	$(PY) -m tapegrad.kernels.codegen

clean:
	rm -rf $(VENV) $(PYTENSOR_VENV) build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
