# The two commands of the README: `make demo` (set up, then run the reduced reproduction)
# and `make test` (set up, then run the test suite). Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The development layout keeps the data beside the repository; the library itself only searches
# $ATLIB_DATA and ./data, so the Makefile points $ATLIB_DATA there when that folder exists.
ifneq ($(wildcard ../shared/data),)
export ATLIB_DATA ?= $(abspath ../shared/data)
endif

.PHONY: setup demo test test-fast docs browser-test benchmarks gpu-check

$(STAMP): requirements.txt requirements-dev.txt requirements-autoattack.txt Makefile pyproject.toml jupyterlab/overrides.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
	# Frost textures for CIFAR-C: the package's own deps pull GUI OpenCV, which we replace by headless.
	$(PY) -m pip install --no-deps imagecorruptions==1.1.2
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	# AutoAttack (optional for users: requirements-autoattack.txt), installed here so its tests run.
	$(PY) -m pip install -r requirements-autoattack.txt
	# JupyterLab opens notebooks/*.py as notebooks on a double-click (docs/notebooks.md).
	$(PY) scripts/jupyterlab_settings.py $(VENV)
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m atlib demo

# `make test` is the full suite and the CI command (.ci/run); `make test-fast` leaves out the slow tier
# (tests marked `slow`: training, kill -9, compile, browser, notebooks). PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS))

test: setup
	scripts/ensure_chromium.sh
	$(PY) -m pytest -q $(PYTEST_PARALLEL)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir outputs/site

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_PARALLEL)

# The documentation site, built offline into outputs/site (open outputs/site/index.html; no network needed).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir outputs/site

browser-test: setup
	scripts/browser_test.sh

benchmarks: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

# On a GPU machine, with that machine's own torch (no install): copy cifar10-jpeg.tar.xz into .devdata/ first.
GPU_DATA ?= .devdata
gpu-check:
	PYTHONPATH=. $(PYTHON) benchmarks/gpu_check.py --data $(GPU_DATA)
