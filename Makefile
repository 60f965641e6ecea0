# streamdr — two commands do everything on a fresh machine:
#   make demo   set up, start the two-site lab, check it, run the broker-failover drill,
#               then show retail data flowing CDC → Kafka → workers → client endpoints
#   make test   set up, lint, run unit and integration tests (on a real lab)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo demo-pipeline test unit integration lint bench clean-lab

$(STAMP): pyproject.toml constraints.txt
	scripts/ensure-debian-packages
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(STAMP)
	scripts/ensure-debian-packages
	$(BIN)/streamdr lab install

demo: setup
	$(BIN)/streamdr lab up
	$(BIN)/streamdr check --skip drills.broker-failover-recent
	$(BIN)/streamdr drill run broker-failover
	$(BIN)/streamdr check
	$(BIN)/streamdr demo up --rate 20
	sleep 20
	$(BIN)/streamdr demo status
	@echo "The retail pipeline keeps running; stop it with: $(BIN)/streamdr demo down"

# The protected pipeline on the lab: retail PostgreSQL → CDC → Kafka → workers → endpoint.
demo-pipeline: setup
	$(BIN)/streamdr lab up
	$(BIN)/streamdr demo up --rate 20
	sleep 20
	$(BIN)/streamdr demo status
	@echo "Stop it with: $(BIN)/streamdr demo down"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit tests/contract

integration: setup
	$(BIN)/pytest -q tests/integration

test: setup lint
	$(BIN)/pytest -q tests/unit tests/contract tests/integration

bench: setup
	$(BIN)/python -m bench.lab_baseline
	$(BIN)/streamdr lab up
	$(BIN)/python -m bench.backup_restore
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.replication
	scripts/fetch-debezium
	$(BIN)/python -m bench.cdc

clean-lab: $(STAMP)
	-$(BIN)/streamdr demo down
	$(BIN)/streamdr lab down --purge
