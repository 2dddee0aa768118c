# Spot box — thin entry points. `make run` and `make test` are the two commands of the README.

SHELL := /bin/bash
SPOT_CACHE ?= $(HOME)/.cache/spot
export CARGO_TARGET_DIR ?= $(SPOT_CACHE)/target
export npm_config_cache ?= $(SPOT_CACHE)/npm
DEV_BIN = $(CARGO_TARGET_DIR)/debug/spot
DATA ?= .spot-data
LISTEN ?= 0.0.0.0:8080
CARGO ?= cargo

.PHONY: all deps deps-build web web-deps spot run test test-rust test-web bench clean clean-data image-check ts-types

all: spot

## Install what building and testing need (idempotent; fast when everything is there).
deps:
	@bash .ci/deps.sh test

deps-build:
	@bash .ci/deps.sh build

web-deps:
	@cd web && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
		npm ci --no-audit --no-fund --prefer-offline; fi

## The browser app, built into web/dist (embedded into the daemon at compile time).
web: web-deps
	cd web && npm run build

spot: web
	$(CARGO) build -p spot

## Build and start the box software locally (http://localhost:8080).
run: deps-build spot
	$(DEV_BIN) --data-dir $(DATA) serve --listen $(LISTEN)

## Install what the tests need and run every test.
test: deps spot test-rust test-web

test-rust:
	$(CARGO) test --workspace --no-fail-fast

## Rewrite web/src/lib/api-types/ from the Rust wire types (`cargo test` fails while they are stale).
ts-types:
	UPDATE_TS=1 $(CARGO) test -p store --lib ts_types

test-web: web-deps
	cd web && npm run check && npm run test:unit && SPOT_BIN=$(DEV_BIN) npm run test:e2e

## Benchmarks: programs that print figures (fan-out, latency, RSS, update install and delta size).
bench: deps-build spot
	$(CARGO) build --release -p spot --bins --examples
	$(CARGO) run --release -p spot --example bench_fanout -- $(CARGO_TARGET_DIR)/release/spot
	$(CARGO) run --release -p spot --example bench_uploads -- $(CARGO_TARGET_DIR)/release/spot
	$(CARGO) run --release -p voice --example bench_sfu
	$(CARGO) run --release -p store --example bench_search
	$(CARGO) run --release -p ota --example bench_install -- 1024

## Every image test but the updates end to end; records the tested inputs (system and daemon
## hashes, taken before the run) in .ci/image-tested (commit it). What CI runs when the system
## inputs changed: it must fit CI's 90 minutes with `make test`, so `make qemu-test-ota`
## (~30 min under TCG: three 1 GiB installs, eight boots) runs by hand before a release and
## whenever the update path changes (recipes/MEASUREMENTS.md has its last run).
image-check: image-deps
	@inputs=$$(.ci/image-inputs.sh) && \
	$(MAKE) cross test-aarch64 qemu-test qemu-test-powercut qemu-test-dataproblem qemu-test-wifi qemu-test-raspi3b image-repro && \
	.ci/image-inputs.sh record all "$$inputs"

## Build outputs only; the local box's data ($(DATA)) stays (`make clean-data` deletes it).
clean:
	rm -rf web/dist web/node_modules

clean-data:
	@echo "This deletes the local box's database, uploads and keys in $(DATA)."
	@read -r -p "Type 'delete' to go on: " a && [ "$$a" = delete ] && rm -rf $(DATA)

-include recipes/image.mk
