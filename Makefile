# Two commands set up and run everything on a fresh machine: `make repro` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands call `dlrepro`, so the venv's bin must be on PATH for dvc.
export PATH := $(abspath $(BIN)):$(PATH)
# Tests never talk to W&B; stages run offline unless the user is logged in (see README).
TEST_ENV := WANDB_MODE=disabled

.PHONY: help venv system-deps data repro test test-slow lint format paper paper-check bench clean-venv

help:
	@echo "make repro   - set up .venv, fetch data, run the whole pipeline (dvc repro)"
	@echo "make test    - set up .venv, lint, run the test suite"
	@echo "make data    - fetch the raw data the selected profile needs into data/raw"
	@echo "make system-deps - Debian packages some tests use (chromium, poppler, postgresql, slurm; as root)"
	@echo "make lint    - ruff check + format check"
	@echo "make paper   - render the paper (Quarto when installed)"
	@echo "make bench   - loop-overhead and no-op pipeline benchmarks (bench/results/)"

venv: $(STAMP)

# DVC checks data/raw (data.dvc) before any stage runs, so a bare `dvc repro` before fetching
# stops with DVC's own "missing data 'source': data/raw" and no hint: installing gives it.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@
	@echo "installed; next: \`make data\` fetches data/raw, which \`dvc repro\` needs (\`make repro\` does both)"

# The browser test (paper in headless Chromium, its PDF read by poppler), the shared-Optuna test
# (a real PostgreSQL server), the cluster test (a one-node SLURM it starts on 127.0.0.1) and the
# cross-CPU numerics test (qemu emulating a CPU without AVX-512) skip, saying why, where these
# are missing; CI installs them here.
# qemu-user must be 8 or newer: 7.2 (Debian 12's own) mis-emulates the AVX2 gathers of oneDNN's
# LSTM and crashes, so on Debian 12 it comes from bookworm-backports (10.0).
SYSTEM_PACKAGES := chromium poppler-utils postgresql slurmctld slurmd slurm-client munge
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@if ! qemu-x86_64 --version 2>/dev/null | grep -qE 'version ([89]|[1-9][0-9])\.'; then \
		. /etc/os-release; release=$$VERSION_CODENAME; \
		if [ "$$release" = bookworm ]; then \
			echo "deb http://deb.debian.org/debian bookworm-backports main" \
				> /etc/apt/sources.list.d/dlrepro-backports.list; \
			release=bookworm-backports; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends -t $$release qemu-user; \
	fi

data: $(STAMP)
	$(BIN)/dlrepro fetch

repro: data
	$(BIN)/dvc repro

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: lint data
	$(TEST_ENV) $(BIN)/pytest

test-slow: $(STAMP)
	$(TEST_ENV) $(BIN)/pytest -m slow

paper-check: $(STAMP)
	$(BIN)/dlrepro paper-check

# Quarto when installed (the reference renderer); otherwise pandoc + Typst (paper/_render/)
paper: paper-check
	$(BIN)/dlrepro render-paper

bench: $(STAMP)
	$(BIN)/python bench/loop_overhead.py
	$(BIN)/python bench/pipeline.py --noop

clean-venv:
	rm -rf $(VENV)
