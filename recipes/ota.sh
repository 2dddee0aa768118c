#!/bin/bash
# ota.sh: update bundles, and the update feed's keys the images trust.
#
#   ota.sh root                  prints the path of the root.json images trust: $OTA_ROOT if set
#                                (a release: the feed's root.json), else the development feed's
#   ota.sh dev-feed              makes the development feed once: keys and a signed root in
#                                $OTA_DEV (default $SPOT_CACHE/ota-dev; never in the clone)
#   ota.sh spot-ota ARGS...      runs spot-ota (built for this machine)
#   ota.sh bundle BOARD [IMAGE]  out/spot-BOARD-VERSION.spotota from IMAGE's root slot A (default:
#                                builds the image first, from the same inputs as `make image`),
#                                signed with $OTA_KEY (default the development feed's targets key),
#                                checked with `spot-ota verify` against the root images trust
#
# VERSION (image.sh's) and NOTES (text, or @FILE) are passed on; MIN_VERSION sets the version a
# box must run to install the bundle. The bundle's version is VERSION's MAJOR.MINOR.PATCH.
# BOOT_FILES="u-boot.bin bcm2711-rpi-4-b.dtb …" also bundles those files of the image's boot
# partition (a release whose U-Boot or device trees changed): the box writes them as a new set
# and switches spot/fw.txt to it (ota::bootfiles). Without it the box keeps its boot files.
source "$(dirname "$0")/lib.sh"
OTA_DEV=${OTA_DEV:-$SPOT_CACHE/ota-dev}
export PATH=$HOME/.cargo/bin:$PATH

spot_ota() {
	local bin=${CARGO_TARGET_DIR:-$SPOT_CACHE/target}/release/spot-ota
	(cd "$TOP" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SPOT_CACHE/target} "${NICE[@]}" cargo build -q --release -p ota --bin spot-ota) >&2
	"$bin" "$@"
}

dev_feed() {
	[ -f "$OTA_DEV/feed/root.json" ] && return 0
	log "making the development update feed in $OTA_DEV (keys stay on this machine)"
	rm -rf "$OTA_DEV" && mkdir -p "$OTA_DEV/keys"
	for k in root targets snapshot timestamp; do spot_ota keygen "$OTA_DEV/keys/$k" >/dev/null; done
	local K=$OTA_DEV/keys
	spot_ota repo init "$OTA_DEV/feed" --root-key "$K/root.key" --root-pub "$K/root.pub" \
		--targets-pub "$K/targets.pub" --snapshot-pub "$K/snapshot.pub" --timestamp-pub "$K/timestamp.pub" >/dev/null
}

root_json() {
	if [ -n "${OTA_ROOT:-}" ]; then
		[ -f "$OTA_ROOT" ] || die "OTA_ROOT=$OTA_ROOT: no such file"
		readlink -f "$OTA_ROOT"
	else
		dev_feed
		echo "$OTA_DEV/feed/root.json"
	fi
}

bundle() { # BOARD [IMAGE]
	local board=$1 img=${2:-}
	if [ -z "$img" ]; then
		NO_XZ=1 bash "$RECIPES/image.sh" "$board" >&2
		img=${OUTDIR:-$TOP/out}/spot-$board.img
	fi
	img=$(readlink -f "$img")
	[ -f "$img" ] || die "no image $img"
	local work
	work=$(mktemp -d /tmp/spot-ota.XXXXXX)
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	local a
	a=$(part_start "$img" 2)
	dd if="$img" of="$work/rootfs.img" bs=1M skip=$((a / 1048576)) count=$(($(part_size "$img" 2) / 1048576)) conv=sparse status=none
	local release version
	release=$(debugfs -R 'cat /etc/spot-release' "$work/rootfs.img" 2>/dev/null | head -1)
	version=$(echo "$release" | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+') || die "$img: /etc/spot-release ($release) has no MAJOR.MINOR.PATCH"
	local key=${OTA_KEY:-}
	if [ -z "$key" ]; then
		dev_feed
		key=$OTA_DEV/keys/targets.key
	fi
	local boot=() f
	for f in ${BOOT_FILES:-}; do
		MTOOLS_SKIP_CHECK=1 mcopy -n -i "$img@@$(part_start "$img" 1)" "::$f" "$work/boot-$(basename "$f")" || die "$img: no $f on the boot partition"
		boot+=(--image "boot/$f=$work/boot-$(basename "$f")")
	done
	local out=${OUTDIR:-$TOP/out}/spot-$board-$release.spotota
	local t0
	t0=$(now)
	spot_ota sign --key "$key" --version "$version" --board "$board" \
		${MIN_VERSION:+--min-version "$MIN_VERSION"} --notes "${NOTES:-Spot box $release}" \
		--image rootfs="$work/rootfs.img" "${boot[@]}" -o "$out" >&2
	spot_ota verify "$out" --root "$(root_json)" >&2
	log "bundle $out ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$out")"), version $version, board $board) in $(elapsed "$t0") s"
	echo "$out"
}

case ${1:-} in
root) root_json ;;
dev-feed) dev_feed && echo "$OTA_DEV" ;;
bundle) bundle "${2:?usage: ota.sh bundle BOARD [IMAGE]}" "${3:-}" ;;
spot-ota) shift && spot_ota "$@" ;; # the tool itself (built for this machine), for the tests
*) die "usage: ota.sh root | dev-feed | bundle BOARD [IMAGE]" ;;
esac
