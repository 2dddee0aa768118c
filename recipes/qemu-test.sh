#!/bin/bash
# qemu-test.sh [--fallback|--preset] [IMAGE]: boot the qemu-arm64 image the way a user would run it, through Debian's
# qemu_arm64 U-Boot (taken from the image's boot partition) and the image's A/B boot script, wait
# for the daemon's GET /api/health through a forwarded port, print the boot-to-ready time, power
# the VM off and check what the boot left on the disk (the data partition grew and holds the
# daemon's data; a committed boot left the boot state as it was).
#
# The image itself is never written: the VM runs on a qcow2 overlay 3 GiB large, so first boot
# has a "card" larger than the image to grow into.
#
# --fallback: the A/B test. Slot B gets a copy of slot A and the boot state says so (B good), then
# slot A's kernel is deleted: the boot script must find the committed slot A unbootable and boot
# slot B in the same boot (no reset, nothing written), whose daemon must answer.
#
# --preset: the Raspberry Pi Imager test. The boot partition gets what Imager 1.8 writes
# (PRESET_FIXTURE, default the parser's own fixture) and its cmdline.txt edit; the box must take
# the host name and the admin from it (that admin logs in with the password the hash is of),
# never print a secret, and leave no Imager file and no systemd.run on the boot partition.
source "$(dirname "$0")/lib.sh"
FALLBACK="" PRESET=""
case ${1:-} in
--fallback) FALLBACK=1 && shift ;;
--preset) PRESET=1 && shift ;;
esac
# --preset: what Raspberry Pi Imager 1.8 writes (firstrun.sh + the cmdline.txt edit) on a copy of
# the boot partition; the fixture holds the sha256-crypt hash of PRESET_PASSWORD for PRESET_USER.
PRESET_FIXTURE=${PRESET_FIXTURE:-$TOP/firmware/setup/tests/fixtures/imager/imager-1.8-firstrun.sh}
PRESET_HOST=spot-kitchen PRESET_USER=anna PRESET_PASSWORD=preset-admin-pass-42
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

virt_machine "$IMG" "$RUN"
BASE_DISK=$IMG
if [ -n "$FALLBACK" ]; then
	BASE_DISK=$RUN/fallback.img
	cp --sparse=always "$IMG" "$BASE_DISK"
	a=$(part_start "$IMG" 2) b=$(part_start "$IMG" 3)
	dd if="$IMG" of="$BASE_DISK" bs=1M skip=$((a / 1048576)) seek=$((b / 1048576)) \
		count=$(($(part_size "$IMG" 2) / 1048576)) conv=notrunc,sparse status=none
	debugfs -w -R 'rm /boot/vmlinuz' "$BASE_DISK?offset=$a" 2>/dev/null
	debugfs -R 'ls /boot' "$BASE_DISK?offset=$a" 2>/dev/null | grep -q 'vmlinuz ' && die "could not corrupt slot A"
	v=$(debugfs -R 'cat /etc/spot-release' "$IMG?offset=$a" 2>/dev/null | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+')
	python3 "$RECIPES/bootenv.py" make "$RUN/boot1.env" spot_seq=2 spot_primary=A spot_trial_left=0 \
		spot_state_A=good spot_state_B=good spot_version_A="$v" spot_version_B="$v"
	MTOOLS_SKIP_CHECK=1 mcopy -o -i "$BASE_DISK@@$(part_start "$IMG" 1)" "$RUN/boot1.env" ::spot/boot1.env
	log "fallback test: slot B holds a copy of slot A (good in the boot state), slot A has no /boot/vmlinuz"
fi
if [ -n "$PRESET" ]; then
	BASE_DISK=$RUN/preset.img
	cp --sparse=always "$IMG" "$BASE_DISK"
	boot="$BASE_DISK@@$(part_start "$IMG" 1)"
	export MTOOLS_SKIP_CHECK=1
	mcopy -i "$boot" "$PRESET_FIXTURE" ::firstrun.sh
	# As Imager does (downloadthread.cpp): cmdline.txt trimmed, its parameters appended.
	mtype -i "$boot" ::cmdline.txt | tr -d '\n' >"$RUN/cmdline.txt"
	printf ' cfg80211.ieee80211_regdom=DE systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target' >>"$RUN/cmdline.txt"
	mcopy -o -i "$boot" "$RUN/cmdline.txt" ::cmdline.txt
	log "preset test: $(basename "$PRESET_FIXTURE") as firstrun.sh on the boot partition, cmdline.txt edited as Imager does"
fi
qemu-img create -q -f qcow2 -b "$BASE_DISK" -F raw "$RUN/disk.qcow2" 3G

log "booting $(basename "$IMG") under qemu-system-aarch64 -M virt (port $PORT)"
t0=$(now)
"${VIRT[@]}" \
	-drive if=none,id=hd,format=qcow2,file="$RUN/disk.qcow2" -device virtio-blk-pci,drive=hd \
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:80 -device virtio-net-pci,netdev=n0,romfile= \
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
	[ "$(grep -ac 'spot: booting slot A (committed)' "$RUN/serial.log")" = 1 ] || fail "slot A was not tried once"
	grep -aq 'spot: slot A did not boot' "$RUN/serial.log" || fail "slot A's failure is not on the console"
	grep -aq 'spot: booting slot B (committed)' "$RUN/serial.log" || fail "no fallback to slot B"
	grep -aq 'spot.slot=B' "$RUN/serial.log" || fail "the kernel did not get spot.slot=B"
	! grep -aq 'spot: boot state .* saved' "$RUN/serial.log" || fail "the boot script wrote the boot state on a committed boot"
	log "fallback: slot A did not boot, slot B booted in the same boot and serves"
fi

# The product works: the web app, the first-run wizard's claim (no password is printed
# anywhere: the console is checked for one), a message over the gateway.
SMOKE_TEXT="smoke test message $(date +%s)"
if [ -n "$PRESET" ]; then
	# The daemon took the admin from the preset (GET /api/setup says so), the helper applied the
	# host name (avahi announces it), and the preset's password logs in (smoke.py).
	setup=$(curl -fsS --max-time 10 "http://127.0.0.1:$PORT/api/setup") || fail "GET /api/setup"
	python3 -c "import json,sys; s=json.loads(sys.argv[1]); assert s['claimed'] and s['preset_admin']==sys.argv[2] and sys.argv[3] in (s['box_name'] or '').lower(), s" \
		"$setup" "$PRESET_USER" "$PRESET_HOST" || fail "/api/setup does not show the preset: $setup"
	grep -aq "spot-helper: preset: host name $PRESET_HOST" "$RUN/serial.log" || fail "spot-helper did not apply the preset's host name"
	for _ in $(seq 30); do grep -aq "Host name is $PRESET_HOST.local" "$RUN/serial.log" && break; sleep 1; done
	grep -aq "Host name is $PRESET_HOST.local" "$RUN/serial.log" || fail "avahi does not announce $PRESET_HOST.local"
	! grep -aF "$PRESET_PASSWORD" "$RUN/serial.log" || fail "the preset's password reached the console"
	# shellcheck disable=SC2016 # a literal $5$ (sha256-crypt) and the fixture's Wi-Fi key
	! grep -aE '\$5\$|515dc461c61fa8ec' "$RUN/serial.log" || fail "a hash or the Wi-Fi key reached the console"
	python3 "$(dirname "$0")/smoke.py" "http://127.0.0.1:$PORT" "$SMOKE_TEXT" "$PRESET_USER" "$PRESET_PASSWORD" || fail "smoke test as the preset admin"
	log "preset: admin $PRESET_USER from Imager's hash logs in, host name $PRESET_HOST applied"
elif [ -z "$FALLBACK" ]; then
	! grep -aqi 'admin password' "$RUN/serial.log" || fail "the first boot printed an admin password"
	python3 "$(dirname "$0")/smoke.py" "http://127.0.0.1:$PORT" "$SMOKE_TEXT" || fail "smoke test"
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

# Graceful power-off: the virt machine's power button (a gpio-keys key in the device tree;
# systemd-logind answers KEY_POWER by starting poweroff.target, what `systemctl poweroff`
# does), then PSCI SYSTEM_OFF, on which QEMU exits by itself. The button exists only with
# acpi=off: with firmware in pflash QEMU otherwise enables ACPI and wires the button to the ACPI
# GED instead, which a guest booted with a device tree never sees (earlier runs had to kill
# QEMU). Then read the disk from outside.
echo system_powerdown | python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$RUN/monitor.sock'); s.sendall(sys.stdin.read().encode()); s.recv(4096)"
t_off=$(now)
for _ in $(seq 90); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
kill -0 "$QEMU_PID" 2>/dev/null && fail "the VM did not power off within 90 s of the power button"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
grep -aq 'Power key pressed' "$RUN/serial.log" || fail "QEMU exited, but logind never saw the power key"
grep -aq 'reboot: Power down' "$RUN/serial.log" || fail "QEMU exited without the kernel powering down"
log "power button: systemd shut down and QEMU exited by itself in $(elapsed "$t_off") s"

qemu-img convert -O raw "$RUN/disk.qcow2" "$RUN/disk.raw"
grown=$(part_size "$RUN/disk.raw" 4)
[ "$grown" -gt "$(part_size "$IMG" 4)" ] || fail "data partition did not grow (size $grown)"
# Read the data partition as the next boot would mount it: replay its ext4 journal first, if
# it has one to replay (debugfs alone does not, and would miss recent files).
dd if="$RUN/disk.raw" of="$RUN/data.fs" bs=1M skip=$(($(part_start "$RUN/disk.raw" 4) / 1048576)) \
	count=$((grown / 1048576)) conv=sparse status=none
e2fsck -fy "$RUN/data.fs" >"$RUN/e2fsck.log" 2>&1 || [ $? -le 1 ] || fail "e2fsck: $(tail -3 "$RUN/e2fsck.log")"
data="$RUN/data.fs"
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
# A committed boot writes nothing to the boot state (the FAT partition the firmware boots from).
mkdir -p "$RUN/before" "$RUN/after"
MTOOLS_SKIP_CHECK=1 mcopy -n -i "$BASE_DISK@@$(part_start "$IMG" 1)" ::spot/boot0.env ::spot/boot1.env "$RUN/before/"
MTOOLS_SKIP_CHECK=1 mcopy -n -i "$RUN/disk.raw@@$(part_start "$RUN/disk.raw" 1)" ::spot/boot0.env ::spot/boot1.env "$RUN/after/"
cmp -s "$RUN/before/boot0.env" "$RUN/after/boot0.env" && cmp -s "$RUN/before/boot1.env" "$RUN/after/boot1.env" ||
	fail "the boot wrote the boot state: $(python3 "$RECIPES/bootenv.py" show "$RUN/after/boot0.env" "$RUN/after/boot1.env")"
log "boot state unchanged by the boot: $(python3 "$RECIPES/bootenv.py" state "$RUN/after/boot0.env" "$RUN/after/boot1.env" | tr '\n' ' ')"
if [ -n "$PRESET" ]; then
	# Imager's files (a Wi-Fi password, a password hash) are gone from the FAT partition, and
	# cmdline.txt is what the image shipped; the daemon consumed its hand-off file.
	boot="$RUN/disk.raw@@$(part_start "$RUN/disk.raw" 1)"
	listing=$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$boot" ::/ | tr '[:upper:]' '[:lower:]')
	for f in firstrun.sh user-data network-config meta-data; do
		! echo "$listing" | grep -q "/$f\$" || fail "$f is still on the boot partition"
	done
	cmdline=$(MTOOLS_SKIP_CHECK=1 mtype -i "$boot" ::cmdline.txt)
	! echo "$cmdline" | grep -qE 'systemd\.run|regdom' || fail "cmdline.txt still has Imager's additions: $cmdline"
	debugfs -R 'ls /spot' "$data" 2>/dev/null | grep -q 'preset.json' && fail "the daemon left preset.json behind"
	debugfs -R 'ls /system' "$data" 2>/dev/null | grep -q 'wifi.json' || fail "the preset's Wi-Fi network was not saved"
	log "preset: the Imager files are gone from the boot partition, cmdline.txt is clean: $cmdline"
fi
echo "1 passed, 0 failed"
