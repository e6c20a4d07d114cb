# datastate — make targets. Every target installs what it needs (Node 24 into .tools/, npm packages).
#   make ensure-ragas-ready DOCS=1000 [SOURCE=path] [DB=path] [MODEL=dir]
#   make validate-dataset-state DOCS=1000
#   make plan-dataset-state DOCS=1000
#   make populate-token-embeddings DOCS=1000
#   make test
SHELL := /bin/bash
DOCS ?= 1000
SOURCE ?=
DB ?=
MODEL ?=
# Extra flags for the datastate CLI, e.g. FLAGS="--output json".
FLAGS ?=

NODE_BIN := $(shell scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)
# node-gyp (for the optional odbc addon) must build against Node 24's headers, not the system Node's.
export npm_config_nodedir := $(abspath $(NODE_BIN)/..)

DATASTATE := node src/cli/main.ts
# The recipes read DOCS, SOURCE, DB, MODEL and FLAGS from the environment, each quoted ("$$DB"): make echoes a
# recipe before running it, so a password in DB is never printed, and `&`, `;` or spaces in a value stay in it.
# FLAGS alone is split into words (it holds several flags). DB may also be left empty with DATASTATE_DB_URL set.
export DOCS SOURCE DB MODEL FLAGS
DATA_FLAGS = $${SOURCE:+--source "$$SOURCE"} $${DB:+--db "$$DB"} $${MODEL:+--model "$$MODEL"} $$FLAGS

.PHONY: help deps ensure-ragas-ready ensure-ragas-1k ensure-ragas-5k ensure-ragas-10k populate-token-embeddings \
	validate-dataset-state plan-dataset-state gen-crd typecheck lint format-check check-deps test test-unit bench

help:
	@sed -n 's/^#   make/  make/p' Makefile
	@echo "  make ensure-ragas-1k | ensure-ragas-5k | ensure-ragas-10k   (ensure-ragas-ready with DOCS set)"
	@echo "  make k8s-install | k8s-ensure-ragas DOCS=N | k8s-validate DOCS=N | k8s-status   (see docs/deploy.md)"
	@echo "  make test-unit | bench | bench-embed | bench-store | envtest-up | envtest-down"
	@echo "  make image | cluster-build | cluster-up | cluster-demo DOCS=N | cluster-down | cluster-status   (see docs/testing-kubernetes.md)"


node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

## The seed's targets ------------------------------------------------------------------------------
ensure-ragas-ready: deps
	$(DATASTATE) ensure --target-state ragas-eval --doc-count "$$DOCS" --auto-fix $(DATA_FLAGS)

ensure-ragas-1k:
	$(MAKE) ensure-ragas-ready DOCS=1000
ensure-ragas-5k:
	$(MAKE) ensure-ragas-ready DOCS=5000
ensure-ragas-10k:
	$(MAKE) ensure-ragas-ready DOCS=10000

populate-token-embeddings: deps
	$(DATASTATE) ensure --target-state token-embeddings --doc-count "$$DOCS" --auto-fix $(DATA_FLAGS)

validate-dataset-state: deps
	$(DATASTATE) validate --target-state ragas-eval --doc-count "$$DOCS" $(DATA_FLAGS)

plan-dataset-state: deps
	$(DATASTATE) plan --target-state ragas-eval --doc-count "$$DOCS" $(DATA_FLAGS)

## Development --------------------------------------------------------------------------------------
gen-crd: deps
	node scripts/gen-crd.ts

typecheck: deps
	node_modules/.bin/tsc -p tsconfig.json

lint: deps
	node_modules/.bin/eslint .

format-check: deps
	node_modules/.bin/prettier --check .

# package.json declares exactly what the sources import (scripts/check-deps.ts).
check-deps: deps
	node scripts/check-deps.ts

test-unit: deps
	node --test 'test/unit/**/*.test.ts'

# All tests: static checks (types, lint, formatting, dependencies), then unit, integration (real SQLite,
# PostgreSQL, ODBC, ONNX runs, kube-apiserver) and end-to-end. Installs and starts what they need first: Debian's
# PostgreSQL and ODBC packages with a throwaway PostgreSQL on 127.0.0.1:55432 (stopped afterwards), the odbc addon
# built once unixODBC's headers are there, and kube-apiserver + etcd built from Go modules (~10 min the first time,
# then cached in ~/.cache/datastate-envtest). DATASTATE_TEST_PG_URL / DATASTATE_TEST_KUBECONFIG use existing ones.
# The static checks come first and need nothing but the npm packages: typecheck does not need the odbc addon
# (types/odbc.d.ts, docs/runtime.md). As root, the single-node cluster suite (test/cluster/) runs too: its
# binaries and the image are built first (scripts/ci-cluster.sh), and whatever it left is removed on exit.
test: deps typecheck lint format-check check-deps
	@set -e; eval "$$(scripts/ci-databases.sh)"; \
	trap 'scripts/ci-databases.sh stop >/dev/null 2>&1 || true; scripts/ci-cluster.sh --cleanup' EXIT; \
	scripts/ensure-odbc-addon.sh; \
	scripts/ci-envtest.sh --build-only; \
	scripts/ci-cluster.sh --build-only; \
	npm test

## Benchmarks (not tests) ------------------------------------------------------------------------------
# All of the benchmark figures (~6 min on 2 cores); writes docs/benchmarks.md.
bench: deps
	npm run bench
bench-embed: deps
	npm run bench:embed
bench-store: deps
	npm run bench:store

## Kubernetes test servers (real kube-apiserver + etcd built from Go modules) ------------------------------
.PHONY: envtest-build envtest-up envtest-down test-k8s bench bench-embed bench-store
envtest-build:
	scripts/envtest.sh build
envtest-up:
	scripts/envtest.sh up
envtest-down:
	scripts/envtest.sh down
test-k8s:
	scripts/ci-envtest.sh

include mk/k8s.mk
include mk/cluster.mk
