# Hybrid AI Council. The two commands: `make run` (set up and start both services) and `make test`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MAIN := main-service
VOICE := legacy-voice-service
# Stamps written by scripts/setup-venv: an environment is rebuilt only when its inputs are newer.
MAIN_ENV := $(MAIN)/.venv/.installed
VOICE_ENV := $(VOICE)/.venv/.installed
# The voice service with the `nemo` extra (torch, NeMo; about 3 GB) and Kyutai's moshi on the same CPU torch: only for
# the tests of the real NeMo and Kyutai engines.
VOICE_NEMO_ENV := $(VOICE)/.venv-nemo/.installed

.PHONY: help setup setup-nemo browser datastores run test lint format bench eval env-example lock clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(MAIN_ENV): $(MAIN)/pyproject.toml $(MAIN)/requirements.lock $(MAIN)/build.env scripts/setup-venv
	scripts/setup-venv $(MAIN) 3.13

$(VOICE_ENV): $(VOICE)/pyproject.toml $(VOICE)/requirements.lock $(VOICE)/requirements-nodeps.txt scripts/setup-venv
	scripts/setup-venv $(VOICE) 3.11

$(VOICE_NEMO_ENV): $(VOICE)/pyproject.toml $(VOICE)/requirements-nemo.lock $(VOICE)/requirements-nodeps.txt $(VOICE)/requirements-kyutai.txt scripts/setup-venv
	scripts/setup-venv $(VOICE) 3.11 dev,nemo .venv-nemo requirements-nemo.lock
	$(VOICE)/.venv-nemo/bin/python -m pip install --quiet --no-deps --require-hashes -r $(VOICE)/requirements-kyutai.txt 2>&1 \
	  | { grep -v 'is ignored: it is neither a file nor a directory' || true; } || { rm -f $@; exit 1; }

setup: $(MAIN_ENV) $(VOICE_ENV) ## Create or refresh both virtual environments (no-op when nothing changed)

setup-nemo: $(VOICE_NEMO_ENV) ## Create or refresh the voice service's NeMo + Kyutai test environment (make test does)

run: setup ## Start the voice and main services on their embedded defaults (Ctrl-C stops both)
	scripts/run

test: setup setup-nemo browser datastores ## Run every test suite: main service, voice service (+ NeMo), cross-service (with a browser)
	scripts/test-all

datastores: ## Start PostgreSQL and Redis on loopback for the tests, when missing
	scripts/ensure-datastores

browser: ## Install Debian's chromium for the browser tests, when it is missing
	@command -v chromium >/dev/null || scripts/install-chromium

lint: setup ## Ruff and mypy on both services; check that .env.example is current and the twin modules agree
	cd $(MAIN) && .venv/bin/ruff check src tests && .venv/bin/ruff format --check src tests && .venv/bin/mypy
	cd $(VOICE) && .venv/bin/ruff check src tests && .venv/bin/ruff format --check src tests && .venv/bin/mypy
	$(MAIN)/.venv/bin/ruff check tests bench && $(MAIN)/.venv/bin/ruff format --check tests bench
	scripts/env-example --check
	$(MAIN)/.venv/bin/python scripts/twin-diff --check

format: setup ## Apply ruff's formatting and safe fixes
	cd $(MAIN) && .venv/bin/ruff format src tests && .venv/bin/ruff check --fix src tests
	cd $(VOICE) && .venv/bin/ruff format src tests && .venv/bin/ruff check --fix src tests

bench: setup ## Run the benchmarks under bench/ (QUICK=1 for a smoke run)
	scripts/bench

# make eval: LIMIT questions (0 = all) of QUESTIONS (default: the shipped held-out set); every model call capped at
# 128 tokens unless COUNCIL_LLM__MAX_TOKENS is set in the environment; a fixed SEED and TEMPERATURE; CONFIGURATIONS
# (comma-separated, e.g. council,council-spoken,council-spoken-96) runs only those (docs/eval.md).
LIMIT ?= 32
SEED ?= 0
TEMPERATURE ?= 0
eval: setup ## Does the council pay off? Each member, the council (plain, review, ranking, spoken) and self-MoA, scored
	COUNCIL_LLM__MAX_TOKENS=$(or $(COUNCIL_LLM__MAX_TOKENS),128) $(MAIN)/.venv/bin/python -m council.evaluation --limit $(LIMIT) \
	  --seed $(SEED) --temperature $(TEMPERATURE) $(if $(QUESTIONS),--questions $(QUESTIONS),) \
	  $(if $(CONFIGURATIONS),--configurations $(CONFIGURATIONS),)

env-example: setup ## Regenerate .env.example from both settings classes
	scripts/env-example

lock: ## Re-resolve both services' dependencies and rewrite their requirements.lock
	scripts/lock $(MAIN) 3.13
	scripts/lock $(VOICE) 3.11
	scripts/lock $(VOICE) 3.11 dev,nemo requirements-nemo.lock

clean: ## Remove both virtual environments and caches
	rm -rf $(MAIN)/.venv $(VOICE)/.venv $(VOICE)/.venv-nemo
	find . -name __pycache__ -prune -exec rm -rf {} +
