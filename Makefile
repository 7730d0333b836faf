# Helpline: `make run` starts everything locally, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := -e shared/contracts -e shared -e services/intake -e services/routing \
	-e services/escalation -e services/notify -e services/identity -e services/workspace -e deploy/local -e deploy/cli
STAMP := $(VENV)/.installed

.PHONY: install system-deps run-deps test-deps images run test test-unit lint schemas asyncapi bench clean

$(STAMP): constraints.txt requirements-dev.txt shared/contracts/pyproject.toml shared/pyproject.toml \
		services/*/pyproject.toml \
		deploy/local/pyproject.toml deploy/cli/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

## install: the virtual environment with every service and tool, pinned by constraints.txt
install: $(STAMP)

## run-deps: what make run needs: Python 3.11+, Java 17+ and Maven (root installs them from apt)
run-deps:
	@PYTHON=$(PYTHON) bash deploy/local/system-deps.sh run

## test-deps: run-deps plus what only the tests need: PostgreSQL, Dovecot, kcat, docker CLI, Go
test-deps:
	@PYTHON=$(PYTHON) bash deploy/local/system-deps.sh test

## system-deps: everything (the same as test-deps)
system-deps: test-deps

## run: Kafka, an SMTP sink and the services on this machine, until Ctrl-C
run: run-deps install
	$(PY) -m helpline_devstack run

## test: the whole suite; starts and stops Kafka and PostgreSQL itself
test: install test-deps
	$(PY) -m pytest

## test-unit: only the tests that need no server
test-unit: install
	$(PY) -m pytest -m "not integration"

## images: every image on this machine's Docker engine (root): base from debootstrap, services,
## and local Kafka, PostgreSQL and SMTP sink; see deploy/images/build.sh
images: install system-deps
	PYTHON=$(PY) bash deploy/images/build.sh

## lint: ruff (rules and formatting) and mypy --strict over every package
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared/contracts/src shared/src services/intake/src services/routing/src \
		services/escalation/src services/notify/src services/identity/src services/workspace/src \
		deploy/local/src \
		deploy/cli/src

## schemas: rewrite the committed JSON Schemas of the events after an intended change
schemas: install
	$(PY) -m helpline_contracts.schema_export

## asyncapi: rewrite the partner stream's AsyncAPI 3 document and docs/partners.md's events table
asyncapi: install
	$(PY) -m helpline_shared.asyncapi
	$(PY) -m helpline_shared.partner_docs

## bench: every benchmark (or one: make bench BENCH=routing), then the summary table
BENCH ?= pipeline intake routing timers webhooks workspace
bench: install test-deps
	@set -e; cd bench; for name in $(BENCH); do \
		echo "== $$name"; ../$(PY) $$name.py; done; ../$(PY) report.py

## docs: regenerate docs/configuration.md (settings classes) and docs/permissions.md (the matrix)
docs: install
	$(PY) -m helpline_cli.settings_doc
	$(PY) -m helpline_cli.permissions_doc

clean:
	rm -rf .helpline $(VENV)

## fuzz: the fuzz tests of make test with FUZZ_SCALE (default 10) times their examples
FUZZ_SCALE ?= 10
.PHONY: fuzz
fuzz: install
	HELPLINE_FUZZ_PROFILE=long HELPLINE_FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest tests/fuzz \
		--timeout=0
