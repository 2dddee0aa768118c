#!/bin/bash
# check-image.sh IMAGE BOARD: the image-contents test. Reads the image from outside (sfdisk,
# mtools, debugfs; no mounts) and checks the partition table, the boot partition (U-Boot, boot
# script, Pi firmware, config.txt, device trees) and root slot A (static aarch64 daemon, its unit,
# fstab, read-only root). Prints one line per check and a closing "N passed, N failed".
source "$(dirname "$0")/lib.sh"
IMG=$(readlink -f "${1:?usage: check-image.sh IMAGE BOARD}")
BOARD=${2:?usage: check-image.sh IMAGE BOARD}
load_board "$BOARD"
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
	grep -vE '^\s*(#|$)' "$(board_file "$BOARD" partitions)" | awk '{print $2*2048, $3}' | tr '\n' ' '
}
actual_layout() { field "' '.join('%d %s' % (p['size'], p['type']) for p in t['partitions'])"; }
check "partition table: dos, 4 partitions as the board's partitions file says" \
	test "$(field "t['label']") $(actual_layout) " = "dos $(expected_layout)"
check "partition 1 is bootable" test "$(field "t['partitions'][0].get('bootable', False)")" = True

BOOT="$IMG@@$(start 1)"
export MTOOLS_SKIP_CHECK=1
mdir -b -i "$BOOT" ::/ | sed 's#^::/##' >"$RUN/boot.ls"
has_boot() { grep -qx "$1" "$RUN/boot.ls" || { echo "missing $1 on the boot partition"; return 1; }; }
check "boot: u-boot.bin" has_boot u-boot.bin
check "boot: boot.scr" has_boot boot.scr
if [ "$PI_FIRMWARE" = yes ]; then
	for f in config.txt bootcode.bin start.elf fixup.dat start4.elf fixup4.dat $DTBS; do
		check "boot: $f" has_boot "$f"
	done
	mtype -i "$BOOT" ::config.txt >"$RUN/config.txt"
	check "config.txt: 64-bit, U-Boot as kernel" grep -qx 'kernel=u-boot.bin' "$RUN/config.txt"
fi
mcopy -i "$BOOT" ::boot.scr "$RUN/boot.scr"
check "boot.scr: A/B with a trial counter in spot/boot{0,1}.env" grep -q 'spot_trial_left' "$RUN/boot.scr"
check "boot.scr: never saveenv (one small write on a trial boot only)" sh -c "! grep -q saveenv '$RUN/boot.scr'"
check "boot: the factory boot state" sh -c "MTOOLS_SKIP_CHECK=1 mcopy -n -i '$BOOT' ::spot/boot0.env ::spot/boot1.env '$RUN/' && python3 '$RECIPES/bootenv.py' state '$RUN/boot0.env' '$RUN/boot1.env' | grep -qx spot_primary=A"
check "boot: no uboot.env (U-Boot's own environment is never written)" sh -c "! grep -qix uboot.env '$RUN/boot.ls'"
check "boot.scr: a saved machine-id goes on the command line" grep -q 'systemd.machine_id=${spot_machine_id}' "$RUN/boot.scr"
# Raspberry Pi Imager's customisation reads and appends to cmdline.txt: it must exist, one line.
check "boot: cmdline.txt for Raspberry Pi Imager" has_boot cmdline.txt
mtype -i "$BOOT" ::cmdline.txt >"$RUN/cmdline.txt" 2>/dev/null || true
check "cmdline.txt: one line, no systemd.run" sh -c "[ \$(wc -l <'$RUN/cmdline.txt') = 1 ] && ! grep -q systemd.run '$RUN/cmdline.txt'"
if [ -n "${IMAGER_DEVICES:-}" ]; then
	imager_entry() {
		python3 - "$(dirname "$IMG")/spot-imager.json" "$(basename "$IMG")" "$(stat -c %s "$IMG")" "$IMAGER_DEVICES" <<-'PY'
		import json, os, sys
		repo, name, size, devices = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
		e = [e for e in json.load(open(repo))["os_list"] if os.path.basename(e["url"]).startswith(name)]
		assert e, f"no entry for {name} in {repo}"
		e = e[0]
		assert e["extract_size"] == size, "extract_size"
		assert e["init_format"] == "systemd", "init_format"
		assert e["devices"] == devices, "devices"
		for k in ("name", "description", "extract_sha256", "image_download_size", "image_download_sha256", "release_date"):
		    assert e.get(k), k
		PY
	}
	check "Imager repository JSON: entry with sizes, sha256, devices, init_format" imager_entry
fi

ROOTA="$IMG?offset=$(start 2)"
dbg() { debugfs -R "$1" "$ROOTA" 2>/dev/null; }
check "root A: label spot-root-a" test "$(dumpe2fs -h "$ROOTA" 2>/dev/null | awk -F': *' '/volume name/{print $2}')" = spot-root-a
dbg 'dump /usr/bin/spot '"$RUN/spot" >/dev/null
check "root A: /usr/bin/spot is a static aarch64 executable" \
	sh -c "file -b '$RUN/spot' | grep -q 'ARM aarch64.*statically linked'"
dbg 'cat /usr/lib/systemd/system/spot.service' >"$RUN/spot.service"
check "root A: spot.service is Type=notify with a watchdog" \
	sh -c "grep -qx 'Type=notify' '$RUN/spot.service' && grep -q '^WatchdogSec=' '$RUN/spot.service'"
check "root A: spot.service starts in first-run setup mode (no admin, nothing printed), no SPOT_LISTEN override" \
	sh -c "grep -q '^ExecStart=.* --setup' '$RUN/spot.service' && ! grep -q '^Environment=SPOT_LISTEN' '$RUN/spot.service'"
check "root A: spot.service enabled" sh -c "debugfs -R 'ls /etc/systemd/system/multi-user.target.wants' '$ROOTA' 2>/dev/null | grep -q spot.service"
dbg 'cat /etc/fstab' >"$RUN/fstab"
check "root A: fstab mounts the data partition on /data" grep -q '^LABEL=spot-data *\/data ' "$RUN/fstab"
check "root A: fstab mounts the data partition nofail (a broken one must not stop the boot)" grep -qE '^LABEL=spot-data\s+/data\s+ext4\s+\S*nofail' "$RUN/fstab"
for u in spot-data-check.service spot-data-problem.service; do
	check "root A: $u enabled" sh -c "debugfs -R 'ls /etc/systemd/system/multi-user.target.wants' '$ROOTA' 2>/dev/null | grep -q $u"
done
check "root A: spot.service stays off with a data-partition problem, the problem page on instead" \
	sh -c "grep -qx 'ConditionPathExists=!/run/spot-data/problem.json' '$RUN/spot.service' && debugfs -R 'cat /usr/lib/systemd/system/spot-data-problem.service' '$ROOTA' 2>/dev/null | grep -q '^ExecStart=/usr/bin/spot data-problem'"
check "root A: fstab has no rw root entry" sh -c "! grep -qE '^[^#]\S*\s+/\s' '$RUN/fstab'"
check "root A: kernel and initrd for the boot script" sh -c "debugfs -R 'ls /boot' '$ROOTA' 2>/dev/null | grep -q 'vmlinuz ' && debugfs -R 'ls /boot' '$ROOTA' 2>/dev/null | grep -q 'initrd.img '"
check "boot.scr: root mounted read-only" grep -q ' ro rootwait' "$RUN/boot.scr"
check "root A: the slot's kernel command line (/usr/lib/spot/boot.env)" sh -c "debugfs -R 'cat /usr/lib/spot/boot.env' '$ROOTA' 2>/dev/null | grep -q '^spot_cmdline=.'"

# Updates: the feed's root of trust, the trial boot's generator, the helper may write the slots.
dbg 'cat /usr/share/spot/ota/root.json' >"$RUN/root.json"
check "root A: the update feed's root.json (root role, signed)" \
	python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['signed']['_type']=='root' and r['signatures'], r" "$RUN/root.json"
check "root A: the spot-trial generator, executable" sh -c "debugfs -R 'stat /usr/lib/systemd/system-generators/spot-trial' '$ROOTA' 2>/dev/null | grep -q 'Mode:  0755'"
check "root A: /etc/spot/board.env names the board (SPOT_BOARD=$BOARD)" sh -c "debugfs -R 'cat /etc/spot/board.env' '$ROOTA' 2>/dev/null | grep -qx 'SPOT_BOARD=$BOARD'"
dbg 'cat /usr/lib/systemd/system/spot-helper.service' >"$RUN/spot-helper.service"
check "root A: spot-helper may write the boot partition and the root slots" \
	sh -c "grep -q '^ReadWritePaths=.*/boot/firmware' '$RUN/spot-helper.service' && grep -q '^DeviceAllow=block-mmc rw' '$RUN/spot-helper.service'"
if [ "$PI_FIRMWARE" = yes ]; then
	check "config.txt: ends by including spot/fw.txt (the boot files' switch)" sh -c "tail -1 '$RUN/config.txt' | grep -qx 'include spot/fw.txt'"
	check "boot: spot/fw.txt, one sector" sh -c "MTOOLS_SKIP_CHECK=1 mcopy -n -i '$BOOT' ::spot/fw.txt '$RUN/fw.txt' && [ \$(stat -c %s '$RUN/fw.txt') = 512 ]"
fi

# First boot: the Imager preset, the clock, the DHCP and machine identity.
check "root A: spot-preset.service runs spot-helper apply-preset before the daemon" \
	sh -c "debugfs -R 'cat /usr/lib/systemd/system/spot-preset.service' '$ROOTA' 2>/dev/null | grep -q '^ExecStart=/usr/bin/spot-helper apply-preset' && debugfs -R 'cat /usr/lib/systemd/system/spot-preset.service' '$ROOTA' 2>/dev/null | grep -q '^Before=.*spot.service'"
check "root A: /usr/bin/spot-helper" sh -c "debugfs -R 'stat /usr/bin/spot-helper' '$ROOTA' 2>/dev/null | grep -q 'Type: regular'"
for u in spot-preset.service spot-machine-id.service; do
	check "root A: $u enabled" sh -c "debugfs -R 'ls /etc/systemd/system/multi-user.target.wants' '$ROOTA' 2>/dev/null | grep -q $u"
done
check "root A: timesyncd keeps its clock file on /data" sh -c "debugfs -R 'cat /usr/lib/systemd/system/systemd-timesyncd.service.d/spot-clock.conf' '$ROOTA' 2>/dev/null | grep -q '^BindPaths=-/data/timesync:/var/lib/systemd/timesync'"
check "root A: DHCP DUID from the MAC address" sh -c "debugfs -R 'cat /etc/systemd/networkd.conf.d/spot-duid.conf' '$ROOTA' 2>/dev/null | grep -q '^DUIDType=link-layer'"
# Each firmware file, following symbolic links inside the image (Debian links brcm/ to cypress/).
firmware() { # PATH under /usr/lib/firmware
	local p=/usr/lib/firmware/$1 _ out dest
	for _ in 1 2 3 4 5; do
		out=$(debugfs -R "stat \"$p\"" "$ROOTA" 2>/dev/null)
		case $out in
		*"Type: regular"*) return 0 ;;
		*"Type: symlink"*)
			dest=$(echo "$out" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')
			[ -n "$dest" ] || { echo "$p: unreadable link"; return 1; }
			case $dest in /*) p=$dest ;; *) p=$(dirname "$p")/$dest ;; esac
			p=$(realpath -m "$p") ;;
		*) echo "missing $p"; return 1 ;;
		esac
	done
	echo "$p: too many links"
	return 1
}
for f in ${WIFI_FIRMWARE:-}; do
	check "root A: Wi-Fi firmware $f" firmware "$f"
done

echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
