#!/bin/bash
# qemu-test-dataproblem.sh [IMAGE]: a broken data partition must not stop the box. The
# qemu-arm64 image boots as in qemu-test.sh (U-Boot from pflash, the A/B boot script), on a
# sparse 3 GiB raw copy the test edits between boots (the image itself is never written):
#
#   boot 1  normal first run: the box is claimed (recipes/powercut.py setup), then powered off
#           with the power button; QEMU must exit by itself
#   damage  the data partition's first 4 KiB (its ext4 superblock) are zeroed
#   boot 2  the box serves the data-problem page on port 80: "damaged", in words, on every path;
#           hostile requests are refused; POST /api/data-problem/repair (e2fsck from a backup
#           superblock through spot-helper), and the box reboots by itself
#   boot 3  the normal box again, the data kept: still claimed, the accounts log in
#   damage  partition 4 is deleted from the partition table; power button first
#   boot 4  the page says "missing"; repair is refused, erase without confirmation too;
#           POST /api/data-problem/erase {"confirm":"erase"} makes a new partition and file
#           system, and the box reboots
#   boot 5  the first-run wizard (unclaimed, open), on a new data partition
#
# One serial log for all boots (appended), so `boots` counts U-Boot's boots across power-offs.
# Prints each check, the boot-to-page times, and "N passed, 0 failed". KEEP=1 keeps the run
# directory (always kept on failure, the disk only with KEEP=1).
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:-$TOP/out/spot-qemu-arm64.img}")
[ -f "$IMG" ] || die "no image $IMG (make image BOARD=qemu-arm64)"
TIMEOUT=${TIMEOUT:-400}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
BASE=http://127.0.0.1:$PORT

RUN=$(mktemp -d /tmp/spot-dataproblem.XXXXXX)
QEMU_PID=
passed=0
cleanup() {
	[ -n "$QEMU_PID" ] && kill -9 "$QEMU_PID" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
	echo "--- serial console (last 40 lines, full log: $RUN/serial.log) ---" >&2
	tail -40 "$RUN/serial.log" >&2 || true
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

cp --sparse=always "$IMG" "$RUN/disk.raw"
truncate -s 3G "$RUN/disk.raw"
virt_machine "$IMG" "$RUN"
: >"$RUN/serial.log"

start_qemu() {
	"${VIRT[@]}" \
		-drive if=none,id=hd,format=raw,file="$RUN/disk.raw" -device virtio-blk-pci,drive=hd \
		-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:80 -device virtio-net-pci,netdev=n0,romfile= \
			-monitor unix:"$RUN/monitor.sock",server,nowait \
		-chardev file,id=ser,path="$RUN/serial.log",append=on -serial chardev:ser -display none &
	QEMU_PID=$!
}
boots() { grep -ac 'spot: booting slot' "$RUN/serial.log" || true; }
# Wait until the box has booted for the Nth time and PATH answers 200 with WORDS in it.
wait_for() { # N PATH WORDS
	local t0 body
	t0=$(now)
	while [ "$(elapsed "$t0" | cut -d. -f1)" -lt "$TIMEOUT" ]; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited"
		if [ "$(boots)" -ge "$1" ] && body=$(curl -fsS --max-time 5 "$BASE$2" 2>/dev/null) && echo "$body" | grep -qF "$3"; then
			WAITED=$(elapsed "$t0")
			return 0
		fi
		sleep 2
	done
	fail "boot $1: $2 did not answer with \"$3\" within $TIMEOUT s (last: ${body:-nothing})"
}
power_off() {
	echo system_powerdown | python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$RUN/monitor.sock'); s.sendall(sys.stdin.read().encode()); s.recv(4096)"
	local t0
	t0=$(now)
	for _ in $(seq 90); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
	kill -0 "$QEMU_PID" 2>/dev/null && fail "the VM did not power off within 90 s of the power button"
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
	ok "power button: the VM shut down and QEMU exited by itself in $(elapsed "$t0") s"
}
post() { # PATH JSON [extra curl args]: prints "STATUS BODY"
	local path=$1 body=$2
	shift 2
	curl -sS --max-time 30 -o "$RUN/post.out" -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "$@" "$BASE$path"
	echo " $(cat "$RUN/post.out")"
}
expect() { # WHAT EXPECTED-STATUS EXPECTED-CODE "STATUS BODY"
	local status=${4%% *} body=${4#* }
	[ "$status" = "$2" ] && echo "$body" | grep -q "\"code\":\"$3\"" || fail "$1: expected $2 $3, got $4"
}

# --- boot 1: a normal first run, claimed --------------------------------------------------------
start_qemu
wait_for 1 /api/health '"ok"'
log "boot 1: ready in $WAITED s"
python3 "$RECIPES/powercut.py" setup "$BASE" "$RUN/state.json" || fail "claiming the box"
power_off

# --- the superblock goes -------------------------------------------------------------------------
p4=$(part_start "$RUN/disk.raw" 4)
dd if=/dev/zero of="$RUN/disk.raw" bs=4096 seek=$((p4 / 4096)) count=1 conv=notrunc status=none
blkid -p -O "$p4" "$RUN/disk.raw" >/dev/null 2>&1 && fail "the data partition still has a file system"
log "damage: the data partition's superblock is zeroed"

# --- boot 2: the problem page, then repair -------------------------------------------------------
start_qemu
wait_for 2 / "data partition is damaged"
ok "boot 2: the problem page says \"The box's data partition is damaged\" ($WAITED s after power-on)"
view=$(curl -fsS "$BASE/api/data-problem")
python3 -c "import json,sys; v=json.loads(sys.argv[1]); assert v['problem']=='damaged' and 'No file system' in v['detail'] and v['actions']==['repair','erase'], v" "$view" ||
	fail "GET /api/data-problem: $view"
curl -fsS -H 'Host: connectivitycheck.gstatic.com' "$BASE/generate_204" | grep -qF 'data partition is damaged' || fail "a captive-portal probe does not get the page"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/health")" = 503 ] || fail "/api/health does not say 503 in data-problem mode"
ok "boot 2: /api/data-problem: damaged, \"$(echo "$view" | python3 -c 'import json,sys; print(json.load(sys.stdin)["detail"])')\"; captive probes get the page; health 503"
expect "repair from a foreign host name" 403 not_local "$(post /api/data-problem/repair '{}' -H 'Host: evil.example.com')"
expect "repair from a foreign page" 403 bad_origin "$(post /api/data-problem/repair '{}' -H 'Origin: http://evil.example.com')"
r=$(curl -sS --max-time 30 -o "$RUN/post.out" -w '%{http_code}' -d 'x=1' "$BASE/api/data-problem/repair")
expect "repair as a form" 400 bad_content_type "$r $(cat "$RUN/post.out")"
expect "erase without confirmation" 400 confirm_required "$(post /api/data-problem/erase '{}')"
ok "boot 2: foreign host, foreign origin, a form post and an unconfirmed erase are refused"
r=$(post /api/data-problem/repair '{}')
[ "${r%% *}" = 202 ] || fail "POST repair: $r"
t_fix=$(now)
wait_for 3 /api/health '"ok"'
ok "boot 2: repair accepted (202); e2fsck ran and the box rebooted into the normal mode in $(elapsed "$t_fix") s"
grep -a 'spot-helper.*data-fix\|e2fsck\|trying backup' "$RUN/serial.log" | tr -d '\r' | tail -3 | sed 's/^/    /'

# --- boot 3: the box as it was -------------------------------------------------------------------
setup=$(curl -fsS "$BASE/api/setup")
python3 -c "import json,sys; s=json.loads(sys.argv[1]); assert s['claimed'], s" "$setup" || fail "after the repair the box is not claimed: $setup"
: >"$RUN/acked.jsonl"
python3 "$RECIPES/powercut.py" verify "$BASE" "$RUN/state.json" "$RUN/acked.jsonl" >/dev/null || fail "the owner cannot log in after the repair"
ok "boot 3: repaired: the box is still claimed and its owner logs in"
power_off

# --- the partition goes ----------------------------------------------------------------------------
sfdisk --quiet --delete "$RUN/disk.raw" 4 || fail "deleting partition 4"
log "damage: partition 4 is deleted from the partition table"

# --- boot 4: missing, then erase -----------------------------------------------------------------
start_qemu
wait_for 4 / "data partition is missing"
ok "boot 4: the problem page says \"The box's data partition is missing\" ($WAITED s after power-on)"
expect "repair of a missing partition" 400 unsupported "$(post /api/data-problem/repair '{}')"
expect "erase confirmed with the wrong word" 400 confirm_required "$(post /api/data-problem/erase '{"confirm":"yes"}')"
r=$(post /api/data-problem/erase '{"confirm":"erase"}')
[ "${r%% *}" = 202 ] || fail "POST erase: $r"
t_fix=$(now)
wait_for 5 /api/setup '"claimed":false'
ok "boot 4: erase accepted (202); a new data partition was made and the box rebooted in $(elapsed "$t_fix") s"

# --- boot 5: first-run setup ---------------------------------------------------------------------
setup=$(curl -fsS "$BASE/api/setup")
python3 -c "import json,sys; s=json.loads(sys.argv[1]); assert not s['claimed'] and s['open'], s" "$setup" || fail "not the first-run wizard: $setup"
curl -fsS "$BASE/" | grep -q 'id="app"' || fail "the web app is not served"
ok "boot 5: the first-run wizard (unclaimed, open for setup)"
power_off
[ "$(sfdisk -J "$RUN/disk.raw" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["partitiontable"]["partitions"]))')" = 4 ] || fail "partition 4 was not made again"
blkid -p -O "$(part_start "$RUN/disk.raw" 4)" "$RUN/disk.raw" | grep -q 'LABEL="spot-data"' || fail "the new partition has no spot-data file system"
# Where root B ends, to the end of the card (not a gap elsewhere).
[ "$(part_start "$RUN/disk.raw" 4)" = "$(($(part_start "$RUN/disk.raw" 3) + $(part_size "$RUN/disk.raw" 3)))" ] &&
	[ $(($(part_start "$RUN/disk.raw" 4) + $(part_size "$RUN/disk.raw" 4))) = "$(stat -c %s "$RUN/disk.raw")" ] ||
	fail "the new partition 4 is not the space after root B: $(sfdisk -d "$RUN/disk.raw" | tail -2)"
ok "after erase: partition 4 is back with a spot-data file system of $(($(part_size "$RUN/disk.raw" 4) >> 20)) MiB"
log "data-problem test: $(elapsed "$t_all") s in all"
echo "$passed passed, 0 failed"
