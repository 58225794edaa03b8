# qualys-lambda: build, test, deploy. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: help test lint venv

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

$(VENV_STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_STAMP) ## create the local environment from pinned requirements

test: $(VENV_STAMP) ## run the whole test suite (lint included)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: $(VENV_STAMP) ## ruff, mypy and cfn-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
