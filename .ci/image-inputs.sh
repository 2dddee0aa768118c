#!/bin/bash
# Prints a hash of everything the image tests depend on: the board data, the rootfs overlay, the
# image recipe and the daemon's system integration (CLI, config, signals, sd-notify).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z board rootfs recipes firmware/spot/src | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
