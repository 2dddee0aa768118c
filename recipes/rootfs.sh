#!/bin/bash
# rootfs.sh BOARD: the Debian bookworm arm64 base of a root slot, as a directory tree, built with
# mmdebstrap from recipes/packages.txt + the board's packages (its base's, then its own). Prints
# the tree's path.
#
# The tree holds packages only; recipes/image.sh adds the rootfs/ overlay and the daemon, so a
# daemon change does not rebuild Debian. It is cached under $IMAGE_CACHE/rootfs keyed by the
# package set and this recipe (REFRESH=1 rebuilds, e.g. for security updates); downloaded .debs
# are kept in $IMAGE_CACHE/debs across builds.
#
# mmdebstrap --mode=root runs the arm64 maintainer scripts through binfmt_misc + qemu-aarch64,
# which this script mounts and registers when the host has not (needs root).
source "$(dirname "$0")/lib.sh"
BOARD=${1:?usage: rootfs.sh BOARD}
load_board "$BOARD"
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root)"

source "$RECIPES/epoch.sh"

packages() { { cat "$RECIPES/packages.txt"; board_cat "$BOARD" packages; } | sed 's/#.*//' | xargs; }
PKGS=$(packages)
# Bump when the mmdebstrap invocation below changes in a way that changes the tree.
RECIPE_REV=1
# File times are clamped to SOURCE_DATE_EPOCH by image.sh, so the epoch is not part of the key.
KEY=$( (echo "$SUITE $PKGS $RECIPE_REV"; cat "$RECIPES/initramfs-modules") | sha256sum | cut -c1-16)
# Boards with the same package set (rpi3, rpi4, zero2w) share one tree.
OUT=$IMAGE_CACHE/rootfs/$KEY
if [ -d "$OUT" ] && [ -z "${REFRESH:-}" ]; then
	log "rootfs for $BOARD: cached $OUT"
	echo "$OUT"
	exit 0
fi

binfmt_setup

mkdir -p "$IMAGE_CACHE/debs" "$IMAGE_CACHE/rootfs"
log "rootfs for $BOARD: mmdebstrap $SUITE arm64 ($PKGS)"
t0=$(now)
tmp=$OUT.tmp
rm -rf "$tmp"
# Documentation, man pages and locales are dropped (copyright files kept).
"${NICE[@]}" mmdebstrap --mode=root --format=directory --arch=arm64 --variant=minbase \
	--components=main,non-free-firmware \
	--include="$(echo "$PKGS" | tr ' ' ',')" \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--skip=download/empty --skip=essential/unlink \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in '$IMAGE_CACHE/debs' /var/cache/apt/archives/" \
	--setup-hook='mkdir -p "$1"/etc/initramfs-tools/conf.d "$1"/usr/share/initramfs-tools/modules.d' \
	--setup-hook='printf "MODULES=list\nCOMPRESS=zstd\n" > "$1"/etc/initramfs-tools/conf.d/spot' \
	--setup-hook="upload '$RECIPES/initramfs-modules' /usr/share/initramfs-tools/modules.d/spot" \
	--customize-hook="sync-out /var/cache/apt/archives '$IMAGE_CACHE/debs'" \
	--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
	--customize-hook='chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" > "$1"/usr/share/spot-packages.txt' \
	"$SUITE" "$tmp" "$MIRROR" 2>&1 | grep -vE '^(I: |Get:|Selecting|Preparing|Unpacking|Setting up|Processing|\(Reading)' || true
[ -f "$tmp/usr/share/spot-packages.txt" ] || die "mmdebstrap failed"
rm -rf "$OUT"
mv "$tmp" "$OUT"
log "rootfs for $BOARD built in $(elapsed "$t0") s: $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
