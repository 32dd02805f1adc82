# qcos: the two commands of the README quickstart are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qcos-installed
PROFILE ?= profiles/local
CORES ?= 2

.PHONY: run test setup system-deps lint bench clean help

help:
	@echo "make run    - set up .venv and run the workflow on config/config.yaml (local Aer)"
	@echo "make test   - set up .venv (+ sshd/Slurm packages when root) and run the test suite"
	@echo "make lint   - ruff, mypy --strict (src/qcos), snakemake --lint, snakefmt --check"
	@echo "make bench  - run every benchmark in bench/ (prints ratios) and write bench/RESULTS.md"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; \
	  else echo "python3 cannot create virtual environments: install python3-venv (apt-get install python3-venv)"; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The real services the integration tests start (sshd, Slurm + slurmdbd + MariaDB, munge).
# Installed only when we are root with apt; otherwise those tests skip and say how to enable them.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in openssh-server openssh-client slurmctld slurmd slurm-client slurmdbd munge mariadb-server curl; do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing system packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && \
	    apt-get install -y -q --no-install-recommends $$missing >/dev/null; fi; \
	else echo "not root with apt: sshd/Slurm tests will be skipped (run 'make test' as root to enable them)"; fi

run: setup
	$(BIN)/snakemake --profile $(PROFILE) --cores $(CORES)

test: setup system-deps
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench workflow/scripts
	$(BIN)/mypy
	$(BIN)/snakemake --lint --cores 1 -n
	$(BIN)/snakefmt --check Snakefile workflow

bench: setup
	PYTHON=$(BIN)/python bash bench/run_all.sh

clean:
	rm -rf results .snakemake .pytest_cache
