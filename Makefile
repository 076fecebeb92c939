# minirmt: everyday commands. Each one creates the virtual environment .venv first if it is missing
# (and updates it when pyproject.toml changes), so a fresh clone needs only `make test`.
#
#   make test       unit tests, every notebook and learner copy (nbval, CPU "ci" mode), the browser e2e test
#   make notebooks  re-run every notebook in lab mode (the committed outputs), regenerate the learner copies
#   make notebooks-current  list the notebooks whose outputs came from another version of the library
#   make e2e        the notebooks in JupyterLab, and the course website, in headless Chromium (tests/e2e)
#   make docs       the course website in build/site, from the committed notebooks (DOCS_REF=, HUB=: see below)
#   make lint       ruff check
#   make lab        JupyterLab on notebooks/
#   make demo       a short demo run, written to runs/demo (replacing the last one)
#   make clean      remove caches and build leftovers (keeps .venv; `make distclean` removes it too)
#
# torch is installed FIRST and pinned, in the build for this machine: on Linux without an NVIDIA GPU (no
# nvidia-smi) the CPU build from PyTorch's CPU wheel index (PyPI's Linux wheel is a multi-GB CUDA build); with
# one, PyPI's CUDA build; on macOS PyPI's (CPU and Apple GPU). TORCH_SPEC overrides the choice, e.g.
#   make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"   # CUDA 12.6
# (pick the CUDA tag that matches your driver from pytorch.org). torch goes in alone (--no-deps; a short
# timeout, so an unreachable index costs seconds where a local wheel is found), then the package brings
# torch's dependencies from PyPI and keeps the torch it finds, since pyproject.toml only asks for torch>=2.3.
# `make demo` needs only that; `make test` adds the dev extra, `make e2e` and `make docs` theirs.

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
ifeq ($(shell uname -s)$(shell command -v nvidia-smi),Linux)
TORCH_SPEC ?= torch==$(TORCH_VERSION)+cpu --extra-index-url $(TORCH_CPU_INDEX)
else
TORCH_SPEC ?= torch==$(TORCH_VERSION)
endif

PY := $(VENV)/bin/python
STAMP := $(VENV)/.minirmt-installed
DEV_STAMP := $(VENV)/.minirmt-dev-installed
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
EXERCISES := $(wildcard notebooks/exercises/*.ipynb)

.PHONY: help venv test test-unit test-notebooks notebooks notebooks-current e2e docs lint lab demo clean distclean

help:
	@sed -n 's/^#   make/  make/p' Makefile

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-deps --timeout 15 --retries 2 $(TORCH_SPEC)
	$(PY) -m pip install -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -e ".[dev]"
	touch $@

# Steps run in order; a failing step stops the rest. End-to-end checks (`make e2e`) join as the last step.
test: $(DEV_STAMP)
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-notebooks
	$(MAKE) --no-print-directory e2e

# pytest exits with 5 when it collects no test, which fails the target like any other failure.
test-unit: $(DEV_STAMP)
	MINIRMT_MODE=ci $(PY) -m pytest tests --ignore=tests/e2e

# The notebooks read corpora from minirmt's data folder (MINIRMT_DATA); a test machine with pre-fetched copies
# names them with MINIRMT_SHARED_DATA (as the unit tests do), so nothing is downloaded there.
NOTEBOOK_DATA := $(if $(MINIRMT_DATA),,$(if $(MINIRMT_SHARED_DATA),MINIRMT_DATA=$(MINIRMT_SHARED_DATA)))

# Every notebook and every learner copy (notebooks/exercises/: solutions removed, so each checker must report
# "not attempted" and fall back to the library for the cells after it).
test-notebooks: $(DEV_STAMP)
ifeq ($(NOTEBOOKS),)
	@echo "test-notebooks: no notebooks/*.ipynb yet, nothing to run"
else
	$(NOTEBOOK_DATA) MINIRMT_MODE=ci OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest --nbval-lax --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg $(NOTEBOOKS) $(EXERCISES)
endif

# Re-run every notebook top to bottom in lab mode (the committed outputs), then regenerate the learner copies.
notebooks: $(DEV_STAMP)
	for nb in $(NOTEBOOKS); do \
		$(VENV)/bin/jupytext --sync $${nb%.ipynb}.py && \
		$(NOTEBOOK_DATA) MINIRMT_MODE=lab $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.store_widget_state=False --ExecutePreprocessor.timeout=900 $$nb && \
		$(PY) notebooks/tools/current.py --stamp $$nb || exit 1; \
	done
	$(PY) -m minirmt.course.exercises

notebooks-current: $(DEV_STAMP)
	$(PY) notebooks/tools/current.py

# The e2e extra (Playwright) drives Debian's Chromium (apt-get install chromium); nothing downloads a browser.
# Without them the test skips, saying why; under CI (CI=true) it fails instead.
E2E_STAMP := $(VENV)/.minirmt-e2e-installed
$(E2E_STAMP): $(DEV_STAMP)
	$(PY) -m pip install -e ".[dev,e2e,docs]"
	touch $@

e2e: $(E2E_STAMP)
	$(PY) -m pytest tests/e2e

# The course website (notebooks/site/build.py): the lessons as committed (nothing is executed), the API, the
# results. DOCS_REF: the git reference its launch links open (main; the tag, for a release's site); HUB: the
# address of a JupyterHub for the nbgitpuller links (without it, the site asks the reader for theirs).
DOCS_REF ?= main
HUB ?=
DOCS_STAMP := $(VENV)/.minirmt-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -e ".[docs]"
	touch $@

docs: $(DOCS_STAMP)
	$(PY) notebooks/site/build.py --out build/site --ref $(DOCS_REF) $(if $(HUB),--hub $(HUB))

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

# Extra options for JupyterLab, e.g. LAB_ARGS="--no-browser --port 8899"; as root it needs --allow-root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(DEV_STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

demo: $(STAMP)
	$(PY) -m minirmt demo --out runs/demo --overwrite

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache runs/demo
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d \
		-prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
