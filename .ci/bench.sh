#!/bin/bash
# `make bench` (from the next recorded image-check on: the Makefile line that calls this is on
# branch image-audio with the other system-input changes): every benchmark, one after the other, each printing its own figures (p50/p99,
# throughput, CPU, RSS, and a peer's figures beside ours where one exists). Run by the Makefile
# after the release build of the daemon and its examples; CARGO_TARGET_DIR comes from there.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:?run through make bench}"
CARGO=${CARGO:-cargo}
rel=$CARGO_TARGET_DIR/release

run() { echo; echo "== $*"; "$@"; }

run $CARGO run -q --release -p spot --example bench_fanout -- "$rel/spot"
run $CARGO run -q --release -p spot --example bench_uploads -- "$rel/spot"
run $CARGO run -q --release -p voice --example bench_sfu
run $CARGO run -q --release -p store --example bench_search
run $CARGO run -q --release -p ota --example bench_install -- 1024
run $CARGO run -q --release -p audio --example bench_audio
# The web app embedded in this release build: what the first chat view loads, and how long a
# phone-speed CPU takes to draw the message list.
(cd web && [ -d node_modules ] || npm ci --no-audit --no-fund --prefer-offline)
run env SPOT_BIN="$rel/spot" node web/bench/first-view.mjs
