#!/bin/bash
# check-image.sh IMAGE BOARD: the image-contents test. Reads the image from outside (sfdisk,
# mtools, debugfs; no mounts) and checks the partition table, the boot partition (U-Boot, boot
# script, Pi firmware, config.txt, device trees) and root slot A (static aarch64 daemon, its unit,
# fstab, read-only root). Prints one line per check and a closing "N passed, N failed".
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:?usage: check-image.sh IMAGE BOARD}")
BOARD=${2:?usage: check-image.sh IMAGE BOARD}
source "$TOP/board/$BOARD/board.conf"
RUN=$(mktemp -d /tmp/spot-check.XXXXXX)
trap 'rm -rf "$RUN"' EXIT
pass=0 failed=0
check() { # NAME COMMAND...
	local name=$1
	shift
	if "$@" >"$RUN/out" 2>&1; then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: $(head -3 "$RUN/out")"
	fi
}

sfdisk -J "$IMG" >"$RUN/table.json"
field() { python3 -c "import json; t=json.load(open('$RUN/table.json'))['partitiontable']; print($1)"; }
start() { echo $(($(field "t['partitions'][$1-1]['start']") * 512)); }

expected_layout() {
	grep -vE '^\s*(#|$)' "$TOP/board/$BOARD/partitions" | awk '{print $2*2048, $3}' | tr '\n' ' '
}
actual_layout() { field "' '.join('%d %s' % (p['size'], p['type']) for p in t['partitions'])"; }
check "partition table: dos, 4 partitions as board/$BOARD/partitions says" \
	test "$(field "t['label']") $(actual_layout) " = "dos $(expected_layout)"
check "partition 1 is bootable" test "$(field "t['partitions'][0].get('bootable', False)")" = True

BOOT="$IMG@@$(start 1)"
export MTOOLS_SKIP_CHECK=1
mdir -b -i "$BOOT" ::/ | sed 's#^::/##' >"$RUN/boot.ls"
has_boot() { grep -qx "$1" "$RUN/boot.ls" || { echo "missing $1 on the boot partition"; return 1; }; }
check "boot: u-boot.bin" has_boot u-boot.bin
check "boot: boot.scr" has_boot boot.scr
if [ "$PI_FIRMWARE" = yes ]; then
	for f in config.txt bootcode.bin start.elf fixup.dat start4.elf fixup4.dat \
		bcm2837-rpi-3-b.dtb bcm2837-rpi-3-b-plus.dtb bcm2711-rpi-4-b.dtb bcm2711-rpi-400.dtb \
		bcm2711-rpi-cm4-io.dtb bcm2837-rpi-zero-2-w.dtb; do
		check "boot: $f" has_boot "$f"
	done
	mtype -i "$BOOT" ::config.txt >"$RUN/config.txt"
	check "config.txt: 64-bit, U-Boot as kernel" grep -qx 'kernel=u-boot.bin' "$RUN/config.txt"
fi
mcopy -i "$BOOT" ::boot.scr "$RUN/boot.scr"
check "boot.scr: A/B boot counting" grep -q 'BOOT_A_LEFT' "$RUN/boot.scr"

ROOTA="$IMG?offset=$(start 2)"
dbg() { debugfs -R "$1" "$ROOTA" 2>/dev/null; }
check "root A: label spot-root-a" test "$(dumpe2fs -h "$ROOTA" 2>/dev/null | awk -F': *' '/volume name/{print $2}')" = spot-root-a
dbg 'dump /usr/bin/spot '"$RUN/spot" >/dev/null
check "root A: /usr/bin/spot is a static aarch64 executable" \
	sh -c "file -b '$RUN/spot' | grep -q 'ARM aarch64.*statically linked'"
dbg 'cat /usr/lib/systemd/system/spot.service' >"$RUN/spot.service"
check "root A: spot.service is Type=notify with a watchdog" \
	sh -c "grep -qx 'Type=notify' '$RUN/spot.service' && grep -q '^WatchdogSec=' '$RUN/spot.service'"
check "root A: spot.service enabled" sh -c "debugfs -R 'ls /etc/systemd/system/multi-user.target.wants' '$ROOTA' 2>/dev/null | grep -q spot.service"
dbg 'cat /etc/fstab' >"$RUN/fstab"
check "root A: fstab mounts the data partition on /data" grep -q '^LABEL=spot-data *\/data ' "$RUN/fstab"
check "root A: fstab has no rw root entry" sh -c "! grep -qE '^[^#]\S*\s+/\s' '$RUN/fstab'"
check "root A: kernel and initrd for the boot script" sh -c "debugfs -R 'ls /boot' '$ROOTA' 2>/dev/null | grep -q 'vmlinuz ' && debugfs -R 'ls /boot' '$ROOTA' 2>/dev/null | grep -q 'initrd.img '"
check "boot.scr: root mounted read-only" grep -q ' ro rootwait' "$RUN/boot.scr"

echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
