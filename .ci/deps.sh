#!/bin/bash
# Installs what building (`deps.sh build`) or also testing (`deps.sh test`) Spot box needs on
# Debian 12, as root. Idempotent and quick when everything is present; never relies on anything
# installed by hand.
set -euo pipefail
what="${1:-test}"

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# libasound2-dev: the daemon's ALSA sink and device probing (alsa-sys links alsa-lib).
wanted=(build-essential pkg-config cmake curl ca-certificates libasound2-dev)
# The browser tests drive Debian's Chromium (never a downloaded browser build).
[ "$what" = test ] && wanted+=(chromium fonts-dejavu-core)
# ffmpeg: the audio tests make their fixtures in every format with it, and `make bench` runs
# it beside our pipeline (`-c:a libopus`) as the peer to beat.
[ "$what" = test ] && wanted+=(ffmpeg)
for p in "${wanted[@]}"; do
    pkg "$p" || need_apt+=("$p")
done
have node || need_apt+=(nodejs)
have npm || need_apt+=(npm)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "deps: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! have cargo; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        echo "deps: cargo is in ~/.cargo/bin; add it to PATH" >&2
    else
        echo "deps: no Rust toolchain found. Install rustup (https://rustup.rs) and run again." >&2
    fi
    exit 1
fi
