#!/bin/bash
# qemu-test-wifi.sh [IMAGE]: the Wi-Fi first run with real kernel radios. The qemu-arm64 image
# is booted like qemu-test.sh does (U-Boot from pflash, the A/B boot script, a qcow2 overlay)
# but with no NIC at all, on a test copy whose root slot A also holds (debugfs, like the
# fallback test's edits): recipes/wifi-test/ (two units, a drop-in for spot-helper, the in-VM
# scripts) and busybox from Debian's busybox-static (the phone's DHCP client, wget, nslookup,
# nc). In the VM, mac80211_hwsim gives three radios: the box's wlan0, a phone's (netns
# "phone") and a home access point's (netns "home", hostapd WPA2 + dnsmasq); driver.sh plays
# the phone through the wizard (captive probe, claim, a wrong then the right home password,
# the fallback when the home network goes away) and reports on a virtio-serial port.
#
# Prints what passed, the figures (power-on to setup AP, to the phone's first captive
# redirect, to joined; RSS of the network services) and "N passed, M failed". TIMEOUT (s,
# default 1500) bounds the whole run; KEEP=1 keeps the run directory (always kept on failure).
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:-$TOP/out/spot-qemu-arm64.img}")
[ -f "$IMG" ] || die "no image $IMG (make image BOARD=qemu-arm64)"
TIMEOUT=${TIMEOUT:-1500}
W=$RECIPES/wifi-test

RUN=$(mktemp -d /tmp/spot-qemu-wifi.XXXXXX)
QEMU_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
	echo "--- serial console (last 30 lines, full log: $RUN/serial.log) ---" >&2
	tail -30 "$RUN/serial.log" >&2 || true
	echo "--- test results ($RUN/results.log) ---" >&2
	grep -a 'WIFITEST' "$RUN/results.log" 2>/dev/null | grep -v ' DIAG ' | tail -30 >&2 || true
	KEEP=1
	rm -f "$RUN/wifi.img" "$RUN/disk.qcow2"
	echo "kept $RUN (results.log holds the DIAG lines)" >&2
	PASSED=$(grep -ac '^WIFITEST PASS' "$RUN/results.log" 2>/dev/null || true)
	FAILED=$(grep -ac '^WIFITEST FAIL' "$RUN/results.log" 2>/dev/null || true)
	echo "${PASSED:-0} passed, $((${FAILED:-0} > 0 ? FAILED : 1)) failed"
	die "$*"
}


# busybox-static:arm64, through the image's private apt configuration (arm64 indexes), cached.
DEBS=$IMAGE_CACHE/test-debs
mkdir -p "$DEBS"
deb=$(ls "$DEBS"/busybox-static_*_arm64.deb 2>/dev/null | tail -1 || true)
if [ -z "$deb" ]; then
	[ -f "$APT_PRIVATE" ] || { apt_private_setup && apt_private apt-get "${ARM64[@]}" -q update; }
	(cd "$DEBS" && apt_private apt-get "${ARM64[@]}" -q download busybox-static:arm64 2>&1 | grep -v '^W: Download is performed unsandboxed') ||
		die "could not download busybox-static:arm64"
	deb=$(ls "$DEBS"/busybox-static_*_arm64.deb | tail -1)
fi
dpkg -x "$deb" "$RUN/bb"
file -b "$RUN/bb/bin/busybox" | grep -q 'ARM aarch64.*statically linked' || die "$deb: not a static arm64 busybox"

# The test copy: slot A gets the test's files and units.
virt_machine "$IMG" "$RUN"
cp --sparse=always "$IMG" "$RUN/wifi.img"
slot_a="$RUN/wifi.img?offset=$(part_start "$IMG" 2)"
L=/usr/lib/spot-wifi-test S=/etc/systemd/system
# debugfs's mkdir of an existing directory damages the file system: only missing ones.
exists() { debugfs -R "stat $1" "$slot_a" 2>/dev/null | grep -q 'Inode:'; }
{
	for d in $L $S/multi-user.target.wants $S/spot-helper.service.d; do exists "$d" || echo "mkdir $d"; done
	echo "write $RUN/bb/bin/busybox $L/busybox"
	for f in driver.sh radios.sh udhcpc.sh test.env helper.env; do echo "write $W/$f $L/$f"; done
	for f in busybox udhcpc.sh; do echo "sif $L/$f mode 0100755"; done
	for u in spot-wifi-test-radios.service spot-wifi-test.service; do
		echo "write $W/$u $S/$u"
		echo "symlink $S/multi-user.target.wants/$u $S/$u"
	done
	echo "write $W/spot-helper-test.conf $S/spot-helper.service.d/wifi-test.conf"
} >"$RUN/debugfs.cmds"
debugfs -w -f "$RUN/debugfs.cmds" "$slot_a" >"$RUN/debugfs.log" 2>&1 || die "debugfs failed: $(cat "$RUN/debugfs.log")"
for p in "$L/busybox" "$L/driver.sh" "$S/multi-user.target.wants/spot-wifi-test.service" "$S/spot-helper.service.d/wifi-test.conf"; do
	exists "$p" || die "the test copy lacks $p: $(cat "$RUN/debugfs.log")"
done
e2fsck -fn "$slot_a" >"$RUN/e2fsck.log" 2>&1 || die "slot A is damaged after the edits: $(tail -5 "$RUN/e2fsck.log")"
qemu-img create -q -f qcow2 -b "$RUN/wifi.img" -F raw "$RUN/disk.qcow2" 3G
log "test copy: slot A has recipes/wifi-test/ and busybox $(dpkg-deb -f "$deb" Version)"

log "booting $(basename "$IMG") under qemu-system-aarch64 -M virt, no NIC, three hwsim radios inside"
t0=$(now)
"${VIRT[@]}" \
	-drive if=none,id=hd,format=qcow2,file="$RUN/disk.qcow2" -device virtio-blk-pci,drive=hd \
	-nic none \
	-device virtio-serial-pci -chardev file,id=wt,path="$RUN/results.log" \
	-device virtserialport,chardev=wt,name=spot.wifitest \
	-display none -serial file:"$RUN/serial.log" &
QEMU_PID=$!

# Follow the results as they come; the host clock times the marks (power-on = QEMU start).
declare -A AT
seen=0 done_line=
while [ -z "$done_line" ]; do
	[ "$(elapsed "$t0" | cut -d. -f1)" -lt "$TIMEOUT" ] || fail "no end of the test within $TIMEOUT s"
	kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited"
	sleep 1
	mapfile -t lines < <(grep -a '^WIFITEST ' "$RUN/results.log" 2>/dev/null | tr -d '\r')
	for ((i = seen; i < ${#lines[@]}; i++)); do
		l=${lines[i]#WIFITEST }
		set -f
		set -- $l
		set +f
		case $1 in
		MARK) AT[$2]=$(elapsed "$t0") ;;
		DONE) done_line=$l ;;
		DIAG) continue ;;
		esac
		printf '  [%6.1f s] %s\n' "$(elapsed "$t0")" "$l"
	done
	seen=${#lines[@]}
done
PASSED=$(grep -ac '^WIFITEST PASS' "$RUN/results.log" || true)
FAILED=$(grep -ac '^WIFITEST FAIL' "$RUN/results.log" || true)
kill "$QEMU_PID" 2>/dev/null || true
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=

up_at() { grep -a "^WIFITEST MARK $1 " "$RUN/results.log" | sed 's/.* t=//' | tr -d '\r'; }
log "figures (host clock from QEMU start = power-on; guest uptime in brackets)"
for m in ap_up first_302 joined; do
	[ -n "${AT[$m]:-}" ] && printf '    power-on -> %-10s %6s s  [uptime %s s]\n' "$m" "${AT[$m]}" "$(up_at $m)"
done
if [ -n "${AT[home_gone]:-}" ] && [ -n "${AT[ap_back]:-}" ]; then
	printf '    home AP gone -> setup AP back %s s (lost_fallback_ms 30000)\n' "$(echo "$(up_at ap_back) - $(up_at home_gone)" | bc)"
fi
grep -a '^WIFITEST RSS ' "$RUN/results.log" | tr -d '\r' | sed 's/^WIFITEST RSS /    RSS in mode /'
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ] || fail "$FAILED check(s) failed in the VM"
echo "$PASSED passed, $FAILED failed"
