#!/bin/bash
# qemu-test-raspi3b.sh [IMAGE]: boot the real rpi3 image under qemu-system-aarch64 -M raspi3b, through
# Debian's rpi_arm64 U-Boot and the image's boot.scr, as a slot switch: slot B gets a copy of slot
# A and the boot state (spot/boot{0,1}.env on the FAT partition) puts it on trial, as an update
# does. The boot script must count the trial boot (its one FAT write, U-Boot's fatwrite) and boot
# B; the daemon answers GET /api/health through a forwarded port (usb-net, user networking), and
# spot-helper commits slot B once the daemon has been healthy (the admin API says so). Then the
# card's boot state must say B committed.
#
# QEMU never runs the VideoCore firmware, so the test plays its part: U-Boot (u-boot.bin from the
# image's boot partition) is loaded with -kernel and the Pi 3 B device tree from the boot partition
# with -dtb (U-Boot passes it on: ${fdt_addr}). Everything after that is the image's own.
#
# Two things of the emulated board differ from a real Pi 3, and the test works around them outside
# the image (recipes/MEASUREMENTS.md, "raspi3b"):
#  - QEMU's BCM2835 power manager (hw/misc/bcm2835_powermgt.c) resets the machine on any write of
#    the full-reset bit to PM_RSTC, without a countdown: starting the bcm2835 watchdog
#    (systemd RuntimeWatchdogSec) resets the board at once. The device tree handed to U-Boot has
#    the PM/watchdog node disabled.
#  - QEMU's DWC2 USB host does not report a device that was already attached (and enumerated by
#    U-Boot's `usb start`) to Linux's dwc2 driver ("dwc2 ...: Not connected"): the usb-net NIC (and
#    its user-mode network with the port forward) is plugged in through the monitor once Linux's
#    root hub is up, as a hot-plug.
#
# The image itself is never written: the card is a qcow2 overlay whose size is the next power of
# two (raspi3b's SD card emulation requires one), so the data partition has room to grow.
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:-$TOP/out/spot-rpi3.img}")
[ -f "$IMG" ] || die "no image $IMG (make image BOARD=rpi3 NO_XZ=1)"
TIMEOUT=${TIMEOUT:-600}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
command -v fdtput >/dev/null || die "fdtput missing (apt-get install device-tree-compiler)"

RUN=$(mktemp -d /tmp/spot-raspi3b.XXXXXX)
QEMU_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
	echo "--- serial console (last 40 lines, full log: $RUN/serial.log) ---" >&2
	tail -40 "$RUN/serial.log" | tr -d '\r' >&2 || true
	KEEP=1
	die "$*"
}
monitor() { # one HMP command
	python3 - "$RUN/monitor.sock" "$1" <<-'PY'
	import socket, sys, time
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
	s.sendall((sys.argv[2] + "\n").encode()); time.sleep(1)
	try: print(s.recv(65536).decode(errors="replace").split("(qemu)")[-2].strip())
	except Exception: pass
	PY
}

BOOT_OFF=$(part_start "$IMG" 1)
export MTOOLS_SKIP_CHECK=1
mcopy -i "$IMG@@$BOOT_OFF" ::u-boot.bin ::bcm2837-rpi-3-b.dtb "$RUN/"
fdtput -t s "$RUN/bcm2837-rpi-3-b.dtb" /soc/watchdog@7e100000 status disabled

# The card: slot B a copy of slot A, on trial (what an install leaves: ota::bootstate Stage).
CARD=$RUN/card.img
cp --sparse=always "$IMG" "$CARD"
a=$(part_start "$IMG" 2) b=$(part_start "$IMG" 3)
dd if="$IMG" of="$CARD" bs=1M skip=$((a / 1048576)) seek=$((b / 1048576)) \
	count=$(($(part_size "$IMG" 2) / 1048576)) conv=notrunc,sparse status=none
v=$(debugfs -R 'cat /etc/spot-release' "$IMG?offset=$a" 2>/dev/null | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+')
python3 "$RECIPES/bootenv.py" make "$RUN/boot1.env" spot_seq=2 spot_primary=A spot_trial=B spot_trial_left=3 \
	spot_state_A=good spot_state_B=good spot_version_A="$v" spot_version_B="$v"
mcopy -o -i "$CARD@@$BOOT_OFF" "$RUN/boot1.env" ::spot/boot1.env
log "card: slot B holds a copy of slot A ($v), on trial (3 boots)"

size=$(stat -c %s "$CARD") card=$((1 << 30))
while [ "$card" -le "$size" ]; do card=$((card * 2)); done
qemu-img create -q -f qcow2 -b "$CARD" -F raw "$RUN/disk.qcow2" "$card"

log "booting $(basename "$IMG") under qemu-system-aarch64 -M raspi3b (card $((card >> 30)) GiB, port $PORT)"
: >"$RUN/serial.log"
t0=$(now)
"${NICE[@]}" qemu-system-aarch64 -M raspi3b \
	-kernel "$RUN/u-boot.bin" -dtb "$RUN/bcm2837-rpi-3-b.dtb" \
	-drive if=sd,format=qcow2,file="$RUN/disk.qcow2" \
	-monitor unix:"$RUN/monitor.sock",server,nowait \
	-display none -serial null -serial file:"$RUN/serial.log" &
QEMU_PID=$!

ready= plugged= t_kernel= t_systemd=
while [ "$(elapsed "$t0" | cut -d. -f1)" -lt "$TIMEOUT" ]; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited"
	[ -z "$t_kernel" ] && grep -aq 'Starting kernel' "$RUN/serial.log" && t_kernel=$(elapsed "$t0")
	[ -z "$t_systemd" ] && grep -aq 'systemd\[1\]: systemd ' "$RUN/serial.log" && t_systemd=$(elapsed "$t0")
	if [ -z "$plugged" ] && grep -aq 'hub 1-0:1.0: USB hub found' "$RUN/serial.log"; then
		monitor "netdev_add user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:80" >/dev/null
		monitor "device_add usb-net,netdev=n0,id=usbnet0" >/dev/null
		plugged=$(elapsed "$t0")
		log "usb-net plugged in at $plugged s"
	fi
	if body=$(curl -fsS --max-time 3 "http://127.0.0.1:$PORT/api/health" 2>/dev/null); then
		ready=$(elapsed "$t0")
		break
	fi
	sleep 2
done
[ -n "$ready" ] || fail "no answer from /api/health within $TIMEOUT s"
u_boot=$(grep -a -o 'spot: booting slot [AB].*' "$RUN/serial.log" | tail -1 | tr -d '\r' || true)
log "ready: GET /api/health -> $body"
log "boot-to-ready: $ready s ($u_boot; kernel started at ${t_kernel:-?} s, systemd at ${t_systemd:-?} s)"
[ -n "$u_boot" ] || fail "the serial console does not show the spot boot script"
[ "$(grep -ac 'spot: booting slot' "$RUN/serial.log")" = 1 ] || fail "the board was reset during the boot"
grep -aq 'spot: booting slot B (trial, 2 more boots' "$RUN/serial.log" || fail "slot B was not booted on trial: $u_boot"
grep -aq 'spot: boot state 3 saved in spot/boot0.env' "$RUN/serial.log" || fail "U-Boot did not save the trial boot in spot/boot0.env"
grep -aq 'spot.slot=B spot.trial=1' "$RUN/serial.log" || fail "the kernel command line lacks spot.slot=B spot.trial=1"

# The commit: claim the box, then the admin API must report slot B committed.
export OTA_E2E_SESSION=$RUN/session.json
t_commit=$(now)
python3 "$RECIPES/ota-e2e.py" "http://127.0.0.1:$PORT" claim || fail "claiming the box"
python3 "$RECIPES/ota-e2e.py" "http://127.0.0.1:$PORT" expect-committed "$v" || fail "slot B was not committed"
log "slot B committed $(elapsed "$t_commit") s after the daemon answered"
kill "$QEMU_PID"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
qemu-img convert -O raw "$RUN/disk.qcow2" "$RUN/disk.raw"
mcopy -n -i "$RUN/disk.raw@@$BOOT_OFF" ::spot/boot0.env ::spot/boot1.env "$RUN/" || fail "no boot state on the card"
state=$(python3 "$RECIPES/bootenv.py" state "$RUN/boot0.env" "$RUN/boot1.env" | tr '\n' ' ')
log "boot state on the card after the run: $state"
for want in spot_seq=4 spot_primary=B spot_state_B=good; do
	echo " $state" | grep -q " $want " || fail "the card's boot state lacks $want (U-Boot's trial write, then spot-helper's commit)"
done
! echo " $state" | grep -qE ' spot_trial=[AB] ' || fail "slot B is still on trial"
! mdir -b -i "$RUN/disk.raw@@$BOOT_OFF" ::/ | grep -qi uboot.env || fail "something saved U-Boot's own environment (uboot.env)"
echo "1 passed, 0 failed"
