#!/bin/bash
# qemu-test.sh [IMAGE]: boot the qemu-arm64 image the way a user would run it, through Debian's
# qemu_arm64 U-Boot (taken from the image's boot partition) and the image's A/B boot script, wait
# for the daemon's GET /api/health through a forwarded port, print the boot-to-ready time, power
# the VM off and check what the boot left on the disk (the data partition grew and holds the
# daemon's data, the boot slot counters).
#
# The image itself is never written: the VM runs on a qcow2 overlay 3 GiB large, so first boot
# has a "card" larger than the image to grow into.
source "$(dirname "$0")/lib.sh"
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
qemu-img create -q -f qcow2 -b "$IMG" -F raw "$RUN/disk.qcow2" 3G

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
u_boot=$(grep -m1 -o 'spot: booting slot [AB].*' "$RUN/serial.log" || true)
log "ready: GET /api/health -> $body"
log "boot-to-ready: $ready s ($u_boot)"
[ -n "$u_boot" ] || fail "the serial console does not show the spot boot script"

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
echo "1 passed, 0 failed"
