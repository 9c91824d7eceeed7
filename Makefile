# Two commands set everything up and run: `make demo` (the built-in example) and `make test`.
# torch is pinned first: on a CPU-only machine an unpinned torch pulls several GB of CUDA packages.
PYTHON ?= python3
TORCH ?= torch==2.13.0

.PHONY: install demo test lint bench

install:
	$(PYTHON) -m pip install --quiet "$(TORCH)"
	$(PYTHON) -m pip install --quiet -e ".[dev]"

demo: install
	$(PYTHON) -m modelscout demo --output modelscout-demo

test: install
	@$(PYTHON) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint:
	ruff check src tests benchmarks

bench: install
	$(PYTHON) benchmarks/overhead.py
	$(PYTHON) benchmarks/transferability.py
