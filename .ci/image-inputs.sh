#!/bin/bash
# Prints a hash of everything the image tests depend on: the board data, the rootfs overlay, the
# image recipe and the daemon's system integration (CLI, config, signals, sd-notify).
set -euo pipefail
cd "$(dirname "$0")/.."
# Documentation (*.md) is not an input.
git ls-files board rootfs recipes firmware/spot/src | grep -v '\.md$' | sort | tr '\n' '\0' |
    xargs -0 sha256sum | sha256sum | cut -d' ' -f1
