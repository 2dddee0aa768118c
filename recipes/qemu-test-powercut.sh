#!/bin/bash
# qemu-test-powercut.sh [IMAGE]: real power cuts. The qemu-arm64 image boots as in qemu-test.sh
# (U-Boot from pflash, the A/B boot script), but its disk is served by recipes/powercut-nbd.py:
# a disk with a volatile write cache, whose acknowledged writes reach the image file only when
# the guest flushes. recipes/powercut.py claims the box, makes a few accounts and sends chat
# messages over the real API as fast as the rate limits allow, recording every one the box
# acknowledged, and SIGKILLs QEMU right after an acknowledgement, other requests in flight. The
# NBD server then drops what the guest had not flushed. The next boot must show every
# acknowledged message. ROUNDS (default 3) cuts, then a last boot that checks and powers off
# gracefully (QEMU must exit by itself).
#
# Each boot after the first also checks what must survive a cut besides the database (a test
# unit, recipes/powercut-test/, reports from inside the VM on a virtio-serial port): the
# machine-id (saved on the data partition, passed back by the boot script), the DHCP client
# identity, and the clock: the VM's RTC starts in 2001 (a Pi has no RTC), so only timesyncd's
# clock file on /data moves the clock forward; after the cut it must not be earlier than the
# last time that file held at least 15 s before the cut (ext4 commits every 5 s).
#
# Why a disk of our own rather than one of QEMU's cache modes: a power cut loses what the guest
# has written but not flushed. With -drive cache=writeback (QEMU's default) or cache=unsafe on
# a plain file, the guest's writes land in the host's page cache, which survives a `kill -9` of
# QEMU: flushed or not, everything the guest wrote is kept (unsafe even ignores the flushes).
# cache=none/directsync/writethrough write to the host's disk at once: also nothing is lost.
# In every mode the only loss is the guest's own page cache (what was never written to the
# disk), so a daemon that wrote without fsync would be caught, but a missing flush (say an
# ext4 mount with barrier=0, or a database that wrote its commits but never synced them) would
# not. qcow2 loses only its own metadata cache. powercut-nbd.py keeps every unflushed write in
# its memory and drops it when the connection dies without NBD_CMD_DISC: after the cut the
# disk holds exactly what the guest flushed (or wrote with FUA), nothing more. QEMU passes the
# guest's flushes on (cache.writeback=on: the guest sees a volatile cache and must flush;
# cache.no-flush=off), and its NBD client buffers nothing itself.
#
# Prints per round the messages acknowledged, what the cut dropped, the checks after each boot,
# and "N passed, 0 failed". KEEP=1 keeps the run directory (always kept on failure).
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:-$TOP/out/spot-qemu-arm64.img}")
[ -f "$IMG" ] || die "no image $IMG (make image BOARD=qemu-arm64)"
ROUNDS=${ROUNDS:-3}
SEND_SECONDS=${SEND_SECONDS:-20}
TIMEOUT=${TIMEOUT:-300}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
P=$RECIPES/powercut-test

RUN=$(mktemp -d /tmp/spot-powercut.XXXXXX)
QEMU_PID= NBD_PID=
passed=0
cleanup() {
	[ -n "$QEMU_PID" ] && kill -9 "$QEMU_PID" 2>/dev/null || true
	[ -n "$NBD_PID" ] && kill "$NBD_PID" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
	echo "--- serial console of boot $BOOT (last 40 lines, full log: $RUN/serial-$BOOT.log) ---" >&2
	tail -40 "$RUN/serial-$BOOT.log" >&2 || true
	# The 3 GiB disk goes unless asked for (KEEP=1 before the run): it holds the evidence.
	[ -n "${KEEP:-}" ] || rm -f "$RUN/disk.raw"
	KEEP=1
	echo "$passed passed, 1 failed"
	die "$*"
}
ok() {
	passed=$((passed + 1))
	log "ok: $*"
}
t_all=$(now)

# The test copy: a 3 GiB "card" (the data partition grows into it), slot A with the probe.
cp --sparse=always "$IMG" "$RUN/disk.raw"
truncate -s 3G "$RUN/disk.raw"
slot_a="$RUN/disk.raw?offset=$(part_start "$IMG" 2)"
L=/usr/lib/spot-powercut-test S=/etc/systemd/system
exists() { debugfs -R "stat $1" "$slot_a" 2>/dev/null | grep -q 'Inode:'; }
{
	for d in $L $S/multi-user.target.wants; do exists "$d" || echo "mkdir $d"; done
	echo "write $P/probe.sh $L/probe.sh"
	echo "sif $L/probe.sh mode 0100755"
	echo "write $P/spot-powercut-probe.service $S/spot-powercut-probe.service"
	echo "symlink $S/multi-user.target.wants/spot-powercut-probe.service $S/spot-powercut-probe.service"
} >"$RUN/debugfs.cmds"
debugfs -w -f "$RUN/debugfs.cmds" "$slot_a" >"$RUN/debugfs.log" 2>&1 || die "debugfs failed: $(cat "$RUN/debugfs.log")"
exists "$S/multi-user.target.wants/spot-powercut-probe.service" || die "the test copy lacks the probe: $(cat "$RUN/debugfs.log")"
e2fsck -fn "$slot_a" >"$RUN/e2fsck.log" 2>&1 || die "slot A is damaged after the edits: $(tail -5 "$RUN/e2fsck.log")"

# The board: 512 MiB of RAM, a Pi Zero 2 W's (the probe reports what the box uses of it).
VIRT_MEM=512 virt_machine "$IMG" "$RUN"

BOOT=0
boot() {
	BOOT=$((BOOT + 1))
	rm -f "$RUN/nbd.sock"
	python3 "$RECIPES/powercut-nbd.py" "$RUN/disk.raw" "$RUN/nbd.sock" "$RUN/nbd-$BOOT.json" 2>"$RUN/nbd-$BOOT.log" &
	NBD_PID=$!
	for _ in $(seq 50); do [ -S "$RUN/nbd.sock" ] && break; sleep 0.1; done
	[ -S "$RUN/nbd.sock" ] || fail "the NBD server did not start: $(cat "$RUN/nbd-$BOOT.log")"
	: >"$RUN/probe-$BOOT.log"
	t_boot=$(now)
	"${VIRT[@]}" \
		-rtc base=2001-01-01T00:00:00 \
		-drive if=none,id=hd,format=raw,file.driver=nbd,file.server.type=unix,file.server.path="$RUN/nbd.sock",cache.writeback=on,cache.no-flush=off \
		-device virtio-blk-pci,drive=hd \
		-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:80 -device virtio-net-pci,netdev=n0,romfile= \
		-device virtio-serial-pci -chardev file,id=probe,path="$RUN/probe-$BOOT.log" \
		-device virtserialport,chardev=probe,name=spot.probe \
		-monitor unix:"$RUN/monitor.sock",server,nowait \
		-display none -serial file:"$RUN/serial-$BOOT.log" &
	QEMU_PID=$!
	local ready=
	while [ "$(elapsed "$t_boot" | cut -d. -f1)" -lt "$TIMEOUT" ]; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited"
		if curl -fsS --max-time 3 "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; then
			ready=$(elapsed "$t_boot")
			break
		fi
		sleep 1
	done
	[ -n "$ready" ] || fail "boot $BOOT: no answer from /api/health within $TIMEOUT s"
	log "boot $BOOT: ready in $ready s ($(grep -a -o 'spot: booting slot [AB].*' "$RUN/serial-$BOOT.log" | tail -1 | tr -d '\r'))"
}

# The probe's last line of boot N with FIELD set (not "none"), as "host-time line".
probe_field() { # BOOT FIELD
	grep -a '^PROBE ' "$RUN/probe-$1.log" 2>/dev/null | tr -d '\r' | grep -v " $2=none" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
wait_probe() { # FIELD VALUE-REGEX: wait (60 s) for this boot's probe to report FIELD matching
	for _ in $(seq 60); do
		probe_field "$BOOT" "$1" | grep -qE "^($2)\$" && return 0
		sleep 1
	done
	return 1
}
# Host-side log of the probe's clock-file times: "HOST_EPOCH CLOCK_FILE_MTIME" per line.
follow_clock() {
	(while kill -0 "$QEMU_PID" 2>/dev/null; do
		m=$(probe_field "$BOOT" clock_file)
		[ -n "$m" ] && echo "$(date +%s) $m"
		sleep 1
	done) >>"$RUN/clock-$BOOT.log" 2>/dev/null &
}

cut_after_sending() { # ROUND
	follow_clock
	local t_cut
	python3 "$RECIPES/powercut.py" send "http://127.0.0.1:$PORT" "$RUN/state.json" "$RUN/acked.jsonl" "$1" "$SEND_SECONDS" "$QEMU_PID" ||
		fail "round $1: sending failed"
	t_cut=$(date +%s)
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
	wait "$NBD_PID" 2>/dev/null || true
	NBD_PID=
	python3 - "$RUN/nbd-$BOOT.json" "$1" <<-'PY' || fail "round $1: the NBD server saw no cut"
	import json, sys
	s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
	assert s["end"] == "cut", s
	print(f"    cut {sys.argv[2]}: the disk had taken {s['writes']} writes ({s['written_bytes'] >> 20} MiB) and "
	      f"{s['flushes']} flushes this boot; {s['dropped_bytes'] >> 10} KiB written but not flushed were dropped")
	PY
	# The clock file's newest time seen at least 15 s before the cut: by then ext4 has committed it.
	SAVED_CLOCK=$(awk -v cut="$t_cut" '$1 <= cut - 15 && $2 > m { m = $2 } END { print m + 0 }' "$RUN/clock-$BOOT.log")
	echo "$SAVED_CLOCK" >"$RUN/saved-clock-$BOOT"
}

check_after_cut() { # the boot after a cut
	local prev=$((BOOT - 1))
	python3 "$RECIPES/powercut.py" verify "http://127.0.0.1:$PORT" "$RUN/state.json" "$RUN/acked.jsonl" ||
		fail "boot $BOOT: acknowledged messages are missing"
	ok "boot $BOOT: every acknowledged message survived the cut"
	wait_probe timesyncd active || fail "boot $BOOT: the probe never reported (timesyncd active)"
	wait_probe clientid '[0-9a-f]+' || fail "boot $BOOT: no DHCP lease reported"
	local mid0 mid cid0 cid now saved
	mid0=$(probe_field 1 machine_id) mid=$(probe_field "$BOOT" machine_id)
	[ -n "$mid0" ] && [ "$mid" = "$mid0" ] || fail "boot $BOOT: machine-id $mid, first boot had $mid0"
	[ "$(probe_field "$BOOT" machine_id_from)" = cmdline ] || fail "boot $BOOT: the machine-id did not come from the boot script"
	ok "boot $BOOT: machine-id $mid as on the first boot (systemd.machine_id from the boot script)"
	cid0=$(probe_field 1 clientid) cid=$(probe_field "$BOOT" clientid)
	[ "$cid" = "$cid0" ] || fail "boot $BOOT: DHCP client identity $cid, first boot had $cid0"
	ok "boot $BOOT: DHCP client identity $cid as on the first boot"
	# The first report with timesyncd running: the earliest clock of this boot.
	now=$(grep -a '^PROBE ' "$RUN/probe-$BOOT.log" | tr -d '\r' | grep ' timesyncd=active' | head -1 | tr ' ' '\n' | sed -n 's/^now=//p')
	saved=$(cat "$RUN/saved-clock-$prev")
	[ "${saved:-0}" -gt 0 ] || fail "boot $prev: the clock file was never seen on /data"
	[ "$now" -ge "$saved" ] || fail "boot $BOOT: clock $(date -u -d "@$now" +%FT%TZ) is earlier than the $(date -u -d "@$saved" +%FT%TZ) saved before the cut"
	ok "boot $BOOT: clock $(date -u -d "@$now" +%FT%TZ), not earlier than the $(date -u -d "@$saved" +%FT%TZ) saved on /data before the cut (+$((now - saved)) s)"
}

for round in $(seq "$ROUNDS"); do
	boot
	if [ "$round" = 1 ]; then
		python3 "$RECIPES/powercut.py" setup "http://127.0.0.1:$PORT" "$RUN/state.json" || fail "claiming the box"
		wait_probe machine_id '[0-9a-f]{32}' || fail "boot 1: no machine-id reported"
	else
		check_after_cut
	fi
	cut_after_sending "$round"
done

# The last boot: the checks once more, then a graceful power-off that QEMU must end by itself.
boot
check_after_cut
echo system_powerdown | python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$RUN/monitor.sock'); s.sendall(sys.stdin.read().encode()); s.recv(4096)"
t_off=$(now)
for _ in $(seq 90); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
kill -0 "$QEMU_PID" 2>/dev/null && fail "the VM did not power off within 90 s of the power button"
QEMU_PID=
wait "$NBD_PID" 2>/dev/null || true
NBD_PID=
grep -q '"end": "disconnect"' "$RUN/nbd-$BOOT.json" || fail "QEMU ended without an orderly disconnect of its disk"
ok "power button: the VM shut down and QEMU exited by itself in $(elapsed "$t_off") s"
# Memory on the 512 MiB board, over every boot and the whole message load (probe every 2 s).
mem=$(cat "$RUN"/probe-*.log | tr -d '\r' | grep -a '^PROBE ' | python3 -c "
import sys
rows = [dict(kv.split('=', 1) for kv in l.split()[1:] if '=' in kv) for l in sys.stdin]
num = lambda k: [int(r[k]) for r in rows if r.get(k, '').isdigit()]
s, h, a = num('rss_spot'), num('rss_helper'), num('mem_available')
assert s and h and a, 'the probe reported no memory figures'
print(f'spot RSS peak {max(s) / 1024:.1f} MiB (median {sorted(s)[len(s) // 2] / 1024:.1f}), spot-helper peak {max(h) / 1024:.1f} MiB, MemAvailable at least {min(a) / 1024:.0f} MiB of 512 ({len(s)} samples)')
") || fail "memory figures: $mem"
ok "memory on a 512 MiB board: $mem"
log "power-cut test: $ROUNDS cuts, $(wc -l <"$RUN/acked.jsonl") acknowledged messages checked, $(elapsed "$t_all") s in all"
echo "$passed passed, 0 failed"
