#!/bin/bash
# `make image-deps`: everything the cross build, the image build and the QEMU test need, on a
# fresh Debian 12 machine, as root. Idempotent.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"

start=$(now)
apt_private_setup
export DEBIAN_FRONTEND=noninteractive
apt_private apt-get "${ARM64[@]}" -q update

# Host tools (systemd for systemd-sysusers/systemctl --root on the image tree). QEMU 10 comes from bookworm-backports: bookworm's 7.2 conflicts with the
# machine's qemu-utils 10 and lacks raspi4b.
apt_private apt-get install -y -q --no-install-recommends \
	bc file xz-utils zstd sqlite3 make pkg-config dpkg-dev ca-certificates curl git python3 systemd \
	gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	mmdebstrap arch-test mtools dosfstools e2fsprogs fdisk u-boot-tools bmap-tools device-tree-compiler
apt_private apt-get install -y -q --no-install-recommends -t "$SUITE-backports" \
	qemu-system-arm qemu-user-static qemu-utils

rustup target add aarch64-unknown-linux-musl
log "image-deps done in $(elapsed "$start") s"
