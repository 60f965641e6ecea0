# streamdr — two commands do everything on a fresh machine:
#   make demo   set up, start the two-site lab, check it, run the broker-failover drill,
#               then show retail data flowing CDC → Kafka → workers → client endpoints,
#               replicated to dr by MirrorMaker 2, backed up, on the readiness dashboard
#   make test   set up, lint, run unit and integration tests (on a real lab)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DASHBOARD_PORT ?= 8088
DEMO_CONFIG := .streamdr/lab/demo/streamdr.yaml

.PHONY: setup demo demo-pipeline test unit integration lint bench soak clean-lab

$(STAMP): pyproject.toml constraints.txt
	scripts/ensure-debian-packages
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(STAMP)
	scripts/ensure-debian-packages
	scripts/ensure-toxiproxy
	$(BIN)/streamdr lab install

# After `demo up`, commands use the demo's settings (the lab's plus the retail source, its
# workflows, its config repository and its own metadata DB), so the dashboard shows the clients,
# the drill just run, the backups and the MirrorMaker 2 lag of the demo's topics. The demo runs one
# drill (broker failover); the rollback drills run in `make test` and on `serve`'s schedule, so
# the final check skips only their recency.
demo: setup
	$(BIN)/streamdr lab up
	$(BIN)/streamdr check --skip drills.broker-failover-recent
	$(BIN)/streamdr demo up --rate 20
	STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr replicate start
	STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr drill run broker-failover
	STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr config backup
	STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr backup run
	STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr check --skip drills.rollback-recent
	$(BIN)/streamdr demo status
	mkdir -p .streamdr
	-if [ -f .streamdr/dashboard.pid ]; then kill $$(cat .streamdr/dashboard.pid); fi
	STREAMDR_CONFIG=$(DEMO_CONFIG) nohup $(BIN)/streamdr dashboard --port $(DASHBOARD_PORT) \
		> .streamdr/dashboard.log 2>&1 & echo $$! > .streamdr/dashboard.pid
	@echo "The retail pipeline keeps running; stop it with: $(BIN)/streamdr demo down"
	@echo "Stop replication with: STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr replicate stop"
	@echo "DR readiness dashboard (the drill just run, the backup, lag): http://127.0.0.1:$(DASHBOARD_PORT)/"
	@echo "Stop the dashboard with: kill \$$(cat .streamdr/dashboard.pid)"

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
	$(BIN)/pytest -q -m "not soak" tests/integration

test: setup lint
	scripts/run-tests -q -m "not soak" tests/unit tests/contract tests/integration

bench: setup
	$(BIN)/python -m bench.lab_baseline
	$(BIN)/python -m bench.jvm_start
	$(BIN)/streamdr lab up
	$(BIN)/python -m bench.backup_restore
	$(BIN)/python -m bench.backup_scale
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.replication
	$(BIN)/python -m bench.wan
	scripts/fetch-debezium
	$(BIN)/python -m bench.cdc

# 30 minutes of seeded random faults (every kind) against the pipeline; SEED=n to replay one.
SEED ?= 1
soak: setup
	$(BIN)/pytest -q -m soak tests/integration
	$(BIN)/streamdr lab up
	$(BIN)/streamdr chaos run --duration 30m --seed $(SEED)

clean-lab: $(STAMP)
	-STREAMDR_CONFIG=$(DEMO_CONFIG) $(BIN)/streamdr replicate stop
	-$(BIN)/streamdr demo down
	$(BIN)/streamdr lab down --purge
