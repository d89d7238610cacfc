# make book   : set up .venv (Python 3.11) and build the book into _build/html (index.html)
# make data   : find Fashion-MNIST or fetch it into the user cache, verified (DATASETS="fmnist cifar10": and CIFAR-10)
# make test   : set up .venv, make data, and run every test (library, nbval, smoke runs, pairing, book build, browser);
#               PYTEST_ARGS=--junitxml=FILE times every test (tools/test_timings.py summarizes it);
#               compiled programs are cached in .jax_cache/ (tests/conftest.py; EOSLIB_TEST_CACHE=0: off, make clean: emptied)
# make execute: make data, then re-execute every chapter's golden notebook (default profile) after editing its .md
# make lint   : ruff check (run by CI before the tests)
# make bench  : make data (both sets), then run the library benchmarks (results in benchmarks/results/)
# make reproduce-stores: recompute every committed store's records from scratch into results/reproduce/ and report (hours)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CHAPTERS := $(sort $(wildcard book/[0-9]*.md))
# Small dense eigensolves (numpy/scipy) are 10-100x slower with OpenBLAS threads on a busy 2-core machine;
# JAX has its own thread pool. Tests, chapter execution and benchmarks run with the same setting.
export OPENBLAS_NUM_THREADS ?= 1
NOTEBOOKS := $(CHAPTERS:.md=.ipynb)
DATASETS ?= fmnist
# pytest-xdist workers (one test file, or one notebook's cells, stays on one worker: --dist loadfile)
PYTEST_WORKERS ?= 2

.PHONY: setup data book test lint execute bench reproduce-stores clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

data: setup
	$(BIN)/python tools/fetch_data.py $(DATASETS)

book: setup
	$(BIN)/python tools/status_page.py
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "open _build/html/index.html"

lint: setup
	$(BIN)/ruff check .

test: DATASETS = fmnist cifar10
test: setup data
	$(BIN)/python -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile --durations=30 \
		tests $(NOTEBOOKS) --nbval --nbval-current-env $(PYTEST_ARGS)

execute: setup data
	for ch in $(CHAPTERS); do $(BIN)/python tools/execute.py $$ch || exit 1; done

# these compare two commits: run them with --baseline <commit> (bench_gpu.py: on a lent GPU, README)
BENCH_TWO_COMMITS := bench_sweep.py bench_compile.py
bench: DATASETS = fmnist cifar10
bench: setup data
	for b in $(filter-out $(addprefix benchmarks/,$(BENCH_TWO_COMMITS) bench_gpu.py),$(wildcard benchmarks/bench_*.py)); do $(BIN)/python $$b || exit 1; done

reproduce-stores: DATASETS = fmnist cifar10
reproduce-stores: setup data
	$(BIN)/python tools/reproduce_stores.py --root results/reproduce

clean:
	rm -rf _build book/status.md .jax_cache
