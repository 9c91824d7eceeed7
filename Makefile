# Two commands set everything up and run: `make demo` (the built-in example) and `make test`.
# Both create and use a virtual environment (.venv), so they work on a Python whose packages the
# system manages (Debian's "externally-managed-environment").
# torch is pinned first, from PyTorch's CPU index where the registry has no local CPU build:
# on a CPU-only machine an unpinned torch pulls several GB of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PY := $(VENV)/bin/python

.PHONY: install demo test lint bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet "$(TORCH)" || \
		$(PY) -m pip install --quiet "$(TORCH)" --index-url "$(TORCH_INDEX)"
	$(PY) -m pip install --quiet -e ".[dev]"

demo: install
	$(PY) -m modelscout demo --output modelscout-demo

test: install
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# ruff, functions of at most 60 lines, imports that point down the layers (pyproject.toml's
# [tool.importlinter]; PYTHONPATH: this checkout's src, whichever modelscout is installed).
lint:
	$(PY) -m ruff check src tests benchmarks tools
	$(PY) tools/check_function_length.py
	PYTHONPATH=src $(VENV)/bin/lint-imports --no-cache --no-logo

bench: install
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/transferability.py
