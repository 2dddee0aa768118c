#!/bin/bash
# Prints a hash of everything the image tests depend on: the board data, the rootfs overlay, the
# image recipe and the daemon's system integration (CLI, config, signals, sd-notify).
set -euo pipefail
cd "$(dirname "$0")/.."
# Documentation (*.md) is not an input. Symbolic links (some point into /run or /data on the
# box, so they dangle here) count by their target.
git ls-files board rootfs recipes firmware/spot/src | grep -v '\.md$' | sort | while IFS= read -r f; do
	if [ -L "$f" ]; then
		printf '%s  -> %s\n' "$f" "$(readlink "$f")"
	else
		sha256sum "$f"
	fi
done | sha256sum | cut -d' ' -f1
