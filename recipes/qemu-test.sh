#!/bin/bash
# qemu-test.sh [--fallback] [IMAGE]: boot the qemu-arm64 image the way a user would run it, through Debian's
# qemu_arm64 U-Boot (taken from the image's boot partition) and the image's A/B boot script, wait
# for the daemon's GET /api/health through a forwarded port, print the boot-to-ready time, power
# the VM off and check what the boot left on the disk (the data partition grew and holds the
# daemon's data, the boot slot counters).
#
# The image itself is never written: the VM runs on a qcow2 overlay 3 GiB large, so first boot
# has a "card" larger than the image to grow into.
#
# --fallback: the A/B test. Slot B gets a copy of slot A, then slot A's kernel is deleted: the boot
# script must spend slot A's 3 attempts (3 resets) and boot slot B, whose daemon must answer.
source "$(dirname "$0")/lib.sh"
FALLBACK=
if [ "${1:-}" = --fallback ]; then
	FALLBACK=1
	shift
fi
IMG=$(readlink -f "${1:-$TOP/out/spot-qemu-arm64.img}")
[ -f "$IMG" ] || die "no image $IMG (make image BOARD=qemu-arm64)"
TIMEOUT=${TIMEOUT:-300}
PORT=${PORT:-$((20000 + RANDOM % 20000))}

RUN=$(mktemp -d /tmp/spot-qemu.XXXXXX)
QEMU_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
	echo "--- serial console (last 40 lines, full log: $RUN/serial.log) ---" >&2
	tail -40 "$RUN/serial.log" >&2 || true
	KEEP=1
	die "$*"
}

# Partition offsets from the image's own table.
part_start() { sfdisk -J "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$2-1]['start']*512)"; }
part_size() { sfdisk -J "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$2-1]['size']*512)"; }

# U-Boot runs from the first flash bank; its environment lives in the second (both 64 MiB).
MTOOLS_SKIP_CHECK=1 mcopy -i "$IMG@@$(part_start "$IMG" 1)" ::u-boot.bin "$RUN/u-boot.bin"
truncate -s 64M "$RUN/u-boot.bin"
truncate -s 64M "$RUN/flash1.img"
BASE_DISK=$IMG
if [ -n "$FALLBACK" ]; then
	BASE_DISK=$RUN/fallback.img
	cp --sparse=always "$IMG" "$BASE_DISK"
	a=$(part_start "$IMG" 2) b=$(part_start "$IMG" 3)
	dd if="$IMG" of="$BASE_DISK" bs=1M skip=$((a / 1048576)) seek=$((b / 1048576)) \
		count=$(($(part_size "$IMG" 2) / 1048576)) conv=notrunc,sparse status=none
	debugfs -w -R 'rm /boot/vmlinuz' "$BASE_DISK?offset=$a" 2>/dev/null
	debugfs -R 'ls /boot' "$BASE_DISK?offset=$a" 2>/dev/null | grep -q 'vmlinuz ' && die "could not corrupt slot A"
	log "fallback test: slot B holds a copy of slot A, slot A has no /boot/vmlinuz"
fi
qemu-img create -q -f qcow2 -b "$BASE_DISK" -F raw "$RUN/disk.qcow2" 3G

log "booting $(basename "$IMG") under qemu-system-aarch64 -M virt (port $PORT)"
t0=$(now)
"${NICE[@]}" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -accel tcg,thread=multi \
	-drive if=pflash,format=raw,file="$RUN/u-boot.bin",readonly=on \
	-drive if=pflash,format=raw,file="$RUN/flash1.img" \
	-drive if=none,id=hd,format=qcow2,file="$RUN/disk.qcow2" -device virtio-blk-pci,drive=hd \
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:80 -device virtio-net-pci,netdev=n0,romfile= \
	-device virtio-rng-pci -device i6300esb \
	-monitor unix:"$RUN/monitor.sock",server,nowait \
	-display none -serial file:"$RUN/serial.log" &
QEMU_PID=$!

ready=
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt "$TIMEOUT" ]; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited"
	if body=$(curl -fsS --max-time 3 "http://127.0.0.1:$PORT/api/health" 2>/dev/null); then
		ready=$(elapsed "$t0")
		break
	fi
	sleep 1
done
[ -n "$ready" ] || fail "no answer from /api/health within $TIMEOUT s"
u_boot=$(grep -a -o 'spot: booting slot [AB].*' "$RUN/serial.log" | tail -1 | tr -d '\r' || true)
log "ready: GET /api/health -> $body"
log "boot-to-ready: $ready s ($u_boot)"
[ -n "$u_boot" ] || fail "the serial console does not show the spot boot script"
if [ -n "$FALLBACK" ]; then
	grep -a 'spot: ' "$RUN/serial.log" | tr -d '\r' | sed 's/^/    /'
	[ "$(grep -ac 'spot: booting slot A' "$RUN/serial.log")" = 3 ] || fail "slot A was not tried 3 times"
	grep -aq 'spot: booting slot B' "$RUN/serial.log" || fail "no fallback to slot B"
	grep -aq 'spot.slot=B' "$RUN/serial.log" || fail "the kernel did not get spot.slot=B"
	log "fallback: slot A failed 3 times, slot B booted and serves"
fi

# The product works: login page, admin login (the generated password is in the journal, which
# qemu-arm64 forwards to the serial console), a message over the gateway.
SMOKE_TEXT="smoke test message $(date +%s)"
if [ -z "$FALLBACK" ]; then
	password=$(grep -a -o 'Admin password: [A-Za-z0-9]*' "$RUN/serial.log" | head -1 | cut -d' ' -f3)
	[ -n "$password" ] || fail "the first boot did not print the generated admin password"
	python3 "$(dirname "$0")/smoke.py" "http://127.0.0.1:$PORT" "$password" "$SMOKE_TEXT" || fail "smoke test"
fi

# The daemon must stay up past its WatchdogSec (30 s): its journal reaches the serial console
# (qemu-arm64's cmdline.txt), where a missed ping shows as "Watchdog timeout".
if [ -z "$FALLBACK" ]; then
	sleep 45
	curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/health" >/dev/null || fail "/api/health stopped answering"
	! grep -aE 'spot.service: (Watchdog timeout|Failed|Main process exited)' "$RUN/serial.log" ||
		fail "spot.service failed or missed its watchdog"
	grep -aq 'systemd watchdog on' "$RUN/serial.log" || fail "the daemon did not see systemd's watchdog"
	log "45 s later: still serving, watchdog pings accepted"
fi

# Graceful power-off (the virt machine's power button), then read the disk from outside.
echo system_powerdown | python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$RUN/monitor.sock'); s.sendall(sys.stdin.read().encode()); s.recv(4096)"
for _ in $(seq 30); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
if kill -0 "$QEMU_PID" 2>/dev/null; then
	# No power button in this guest yet: by now ext4 has committed (5 s) what SQLite wrote.
	echo "VM did not power off in 30 s; stopping it" >&2
	kill "$QEMU_PID"
fi
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=

qemu-img convert -O raw "$RUN/disk.qcow2" "$RUN/disk.raw"
grown=$(part_size "$RUN/disk.raw" 4)
[ "$grown" -gt "$(part_size "$IMG" 4)" ] || fail "data partition did not grow (size $grown)"
data="$RUN/disk.raw?offset=$(part_start "$RUN/disk.raw" 4)"
fs_mib=$(dumpe2fs -h "$data" 2>/dev/null | awk -F: '/^Block count/{n=$2} /^Block size/{b=$2} END{print int(n*b/1048576)}')
listing=$(debugfs -R 'ls -l /spot' "$data" 2>/dev/null)
echo "$listing" | grep -q 'spot.db' || fail "no spot.db on the data partition: $listing"
log "data partition: $((grown / 1048576)) MiB partition, file system $fs_mib MiB, holds spot.db"
if [ -z "$FALLBACK" ]; then
	# What the daemon acknowledged before the power-off is in the database on the card.
	for f in spot.db spot.db-wal; do debugfs -R "dump /spot/$f $RUN/$f" "$data" >/dev/null 2>&1 || true; done
	sqlite3 "$RUN/spot.db" "SELECT content FROM messages" | grep -qF "$SMOKE_TEXT" ||
		fail "the acknowledged message is not in the database after power-off"
	log "the acknowledged message survived the power-off"
fi
echo "1 passed, 0 failed"
