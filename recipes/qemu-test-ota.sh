#!/bin/bash
# qemu-test-ota.sh [IMAGE]: updates end to end on the real qemu-arm64 image (v1, default
# out/spot-qemu-arm64.img), through the admin API the Updates page uses (recipes/ota-e2e.py):
#
#   1. v2 = the image built again with the next patch version, bundled by `make ota`'s recipe
#      (recipes/ota.sh bundle); vd = v2's root slot with a daemon-sized change (12 MiB of new
#      bytes in /usr/bin/spot), published on an update feed (a copy of the development feed,
#      served from this machine's loopback with Range support: recipes/feed-server.py); v3 =
#      v2's root slot with a daemon that exits at once (never ready). All signed with the same
#      development key.
#   2. Boot v1, claim it, upload v2 (progress followed to "staged"), restart: the boot script
#      boots slot B on trial, spot-helper commits it once the daemon has been healthy; the admin
#      API says committed, the floor is v2.
#   3. The admin sets the feed, checks it, downloads vd: a delta (only the chunks slot B lacks;
#      the feed server counts the bytes: under 20 MB of a ~540 MB bundle), restart, commit.
#   4. Upload v3, restart: every trial boot of slot B ends in a reboot (the daemon fails, the
#      spot-trial generator's start limit reboots), the boot script gives the trial up after 3
#      boots and boots vd; the admin API reports v3 rolled back, and why. Nobody touches the box.
#   5. Upload v2 again: refused as a downgrade.
#   6. Power off; the boot state on the card says A committed (vd), B empty, B's trial given up.
#
# The v1 image is never written: the VM runs on a qcow2 overlay.
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:-$TOP/out/spot-qemu-arm64.img}")
[ -f "$IMG" ] || die "no image $IMG (make qemu-image)"
TIMEOUT=${TIMEOUT:-300}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
RUN=$(mktemp -d /tmp/spot-ota-e2e.XXXXXX)
QEMU_PID= FEED_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
	[ -n "$FEED_PID" ] && kill "$FEED_PID" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
	echo "--- serial console (spot lines and the last 30, full log: $RUN/serial.log) ---" >&2
	grep -a 'spot: \|spot-helper' "$RUN/serial.log" | tr -d '\r' | tail -30 >&2 || true
	tail -30 "$RUN/serial.log" | tr -d '\r' >&2 || true
	KEEP=1
	die "$*"
}
t_all=$(now)
export OTA_E2E_SESSION=$RUN/session.json
e2e() { python3 "$RECIPES/ota-e2e.py" "http://127.0.0.1:$PORT" "$@" || fail "ota-e2e.py $1"; }

# --- the versions ------------------------------------------------------------------------------
dbg_release() { debugfs -R 'cat /etc/spot-release' "$1" 2>/dev/null | head -1; }
v1_release=$(dbg_release "$IMG?offset=$(part_start "$IMG" 2)")
v1=$(echo "$v1_release" | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+') || die "$IMG: no version in /etc/spot-release ($v1_release)"
IFS=. read -r maj min pat <<<"$v1"
v2=$maj.$min.$((pat + 1)) vd=$maj.$min.$((pat + 2)) v3=$maj.$min.$((pat + 3))
log "v1 $v1_release (the image), v2 $v2, vd $vd (from the feed), v3 $v3 (never ready)"
t0=$(now)
b2=$(VERSION=$v2-e2e OUTDIR=$RUN/v2 NOTES="Spot box $v2 (end-to-end test)" bash "$RECIPES/ota.sh" bundle qemu-arm64 | tail -1)
[ -f "$b2" ] || fail "no v2 bundle"
log "v2 bundle (image built and bundled by make ota's recipe) in $(elapsed "$t0") s: $(basename "$b2")"
t0=$(now)
a=$(part_start "$RUN/v2/spot-qemu-arm64.img" 2)
dd if="$RUN/v2/spot-qemu-arm64.img" of="$RUN/rootfs-v3.img" bs=1M skip=$((a / 1048576)) \
	count=$(($(part_size "$RUN/v2/spot-qemu-arm64.img" 2) / 1048576)) conv=sparse status=none
rm -f "$RUN/v2/spot-qemu-arm64"*.img
KEYS=$(bash "$RECIPES/ota.sh" dev-feed)/keys
sign() { # VERSION NOTES ROOTFS OUT
	bash "$RECIPES/ota.sh" spot-ota sign --key "$KEYS/targets.key" --version "$1" --board qemu-arm64 \
		--notes "$2" --image rootfs="$3" -o "$4" >/dev/null
}
# vd: what a daemon-only update changes, 12 MiB of new bytes in /usr/bin/spot (appended: the ELF
# still runs), written as a new file the way an image build writes it.
cp --sparse=always "$RUN/rootfs-v3.img" "$RUN/rootfs-vd.img"
debugfs -R "dump /usr/bin/spot $RUN/spot" "$RUN/rootfs-vd.img" >/dev/null 2>&1
head -c 12M /dev/urandom >>"$RUN/spot"
echo "$vd-e2e-feed" >"$RUN/release-vd"
debugfs -w -f - "$RUN/rootfs-vd.img" >/dev/null 2>&1 <<-CMDS
	rm /usr/bin/spot
	write $RUN/spot /usr/bin/spot
	sif /usr/bin/spot mode 0100755
	rm /etc/spot-release
	write $RUN/release-vd /etc/spot-release
CMDS
bd=$RUN/spot-qemu-arm64-$vd.spotota
sign "$vd" "from the feed" "$RUN/rootfs-vd.img" "$bd"
rm -f "$RUN/rootfs-vd.img" "$RUN/spot"
cp -a "$KEYS/../feed" "$RUN/feed"
bash "$RECIPES/ota.sh" spot-ota repo add "$RUN/feed" "$bd" --targets-key "$KEYS/targets.key" \
	--snapshot-key "$KEYS/snapshot.key" --timestamp-key "$KEYS/timestamp.key" >/dev/null
python3 "$RECIPES/feed-server.py" "$RUN/feed" "$RUN/feed.port" "$RUN/feed.log" &
FEED_PID=$!
for _ in $(seq 50); do [ -f "$RUN/feed.port" ] && break; sleep 0.1; done
FEED_URL=http://10.0.2.2:$(cat "$RUN/feed.port")/
log "vd bundle on the feed ($FEED_URL from the guest: this machine's loopback) in $(elapsed "$t0") s: $(basename "$bd"), $(numfmt --to=iec-i --suffix=B "$(stat -c %s "$bd")")"
t0=$(now)
echo "$v3-e2e-never-ready" >"$RUN/release"
printf '# The end-to-end test'"'"'s v3: a daemon that never gets ready.\n[Service]\nExecStart=\nExecStart=/bin/false\n' >"$RUN/never-ready.conf"
debugfs -w -f - "$RUN/rootfs-v3.img" >/dev/null 2>&1 <<-CMDS
	rm /etc/spot-release
	write $RUN/release /etc/spot-release
	mkdir /etc/systemd/system/spot.service.d
	write $RUN/never-ready.conf /etc/systemd/system/spot.service.d/never-ready.conf
CMDS
debugfs -R 'cat /etc/systemd/system/spot.service.d/never-ready.conf' "$RUN/rootfs-v3.img" 2>/dev/null | grep -q '/bin/false' || fail "could not make v3"
b3=$RUN/spot-qemu-arm64-$v3.spotota
sign "$v3" "never ready" "$RUN/rootfs-v3.img" "$b3"
rm -f "$RUN/rootfs-v3.img"
log "v3 bundle (v2's root slot, spot.service ExecStart=/bin/false) in $(elapsed "$t0") s"

# --- boot v1 -----------------------------------------------------------------------------------
virt_machine "$IMG" "$RUN"
qemu-img create -q -f qcow2 -b "$IMG" -F raw "$RUN/disk.qcow2" 3G
: >"$RUN/serial.log"
"${VIRT[@]}" \
	-drive if=none,id=hd,format=qcow2,file="$RUN/disk.qcow2" -device virtio-blk-pci,drive=hd \
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:80 -device virtio-net-pci,netdev=n0,romfile= \
	-monitor unix:"$RUN/monitor.sock",server,nowait \
	-display none -chardev file,id=ser,path="$RUN/serial.log",append=on -serial chardev:ser &
QEMU_PID=$!
wait_ready() { # WHAT TIMEOUT
	local t=$(now)
	while [ "$(elapsed "$t" | cut -d. -f1)" -lt "$2" ]; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited"
		if curl -fsS --max-time 3 "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; then
			log "$1: the box answers after $(elapsed "$t") s"
			return 0
		fi
		sleep 2
	done
	fail "$1: no answer from /api/health within $2 s"
}
boots() { grep -ac "spot: booting slot $1" "$RUN/serial.log" || true; }
wait_ready "v1 boot" "$TIMEOUT"
[ "$(boots 'A (committed)')" = 1 ] || fail "v1 did not boot slot A as the committed slot"
e2e claim

# --- v1 -> v2 ----------------------------------------------------------------------------------
e2e install "$b2" "$v2"
e2e restart
wait_ready "v2 boot" "$TIMEOUT"
[ "$(boots 'B (trial')" = 1 ] || fail "the restart did not boot slot B on trial"
grep -aq 'spot.slot=B spot.trial=1' "$RUN/serial.log" || fail "the trial boot's kernel command line lacks spot.trial=1"
e2e expect-committed "$v2"

# --- v2 -> vd from the feed: a delta --------------------------------------------------------------
e2e feed-install "$FEED_URL" "$(basename "$bd")" "$vd"
fetched=$(python3 -c "
import json,sys
n = sum(json.loads(l)['bytes'] for l in open(sys.argv[1]) if '/bundles/' in json.loads(l)['path'])
print(n)" "$RUN/feed.log")
log "vd: the box fetched $fetched bytes of the $(stat -c %s "$bd")-byte bundle ($(python3 -c "print(f'{$fetched/1e6:.1f} MB, {100*$fetched/$(stat -c %s "$bd"):.1f} %')"))"
[ "$fetched" -lt 20000000 ] || fail "the daemon-only update downloaded $fetched bytes (over 20 MB)"
e2e restart
wait_ready "vd boot" "$TIMEOUT"
[ "$(boots 'A (trial')" = 1 ] || fail "the restart did not boot slot A on trial"
e2e expect-committed "$vd"

# --- vd -> v3, which never gets ready ------------------------------------------------------------
e2e install "$b3" "$v3"
e2e restart
t_fb=$(now)
e2e expect-rolled-back "$vd" "$v3"
trials=$(($(boots 'B (trial') - 1))
[ "$trials" = 3 ] || fail "slot B was booted on trial $trials times for v3, not 3"
grep -aq 'spot: slot B did not start and check itself healthy in 3 boots: back to slot A' "$RUN/serial.log" || fail "the boot script did not give the trial up"
grep -aEq 'spot.service: Start request repeated too quickly|spot.service: Failed with result' "$RUN/serial.log" || fail "the console does not show spot.service failing on the trial boots"
log "v3: 3 trial boots, each rebooted by itself, then back on vd in $(elapsed "$t_fb") s"

# --- v2 again ----------------------------------------------------------------------------------
e2e expect-refused "$b2" downgrade

# --- what the card says --------------------------------------------------------------------------
echo system_powerdown | python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$RUN/monitor.sock'); s.sendall(sys.stdin.read().encode()); s.recv(4096)"
for _ in $(seq 90); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
kill -0 "$QEMU_PID" 2>/dev/null && fail "the VM did not power off within 90 s"
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
qemu-img convert -O raw "$RUN/disk.qcow2" "$RUN/disk.raw"
MTOOLS_SKIP_CHECK=1 mcopy -n -i "$RUN/disk.raw@@$(part_start "$RUN/disk.raw" 1)" ::spot/boot0.env ::spot/boot1.env "$RUN/"
state=$(python3 "$RECIPES/bootenv.py" state "$RUN/boot0.env" "$RUN/boot1.env" | tr '\n' ' ')
log "boot state on the card: $state"
for want in spot_primary=A spot_state_A=good spot_state_B=empty spot_failed=B "spot_version_A=$vd"; do
	echo " $state" | grep -q " $want " || fail "the boot state lacks $want"
done
! echo " $state" | grep -qE ' spot_trial=[AB] ' || fail "a trial is still pending"
MTOOLS_SKIP_CHECK=1 mdir -b -i "$RUN/disk.raw@@$(part_start "$RUN/disk.raw" 1)" ::/ | grep -qi 'uboot.env' && fail "something saved U-Boot's own environment"
log "updates end to end in $(elapsed "$t_all") s"
echo "1 passed, 0 failed"
