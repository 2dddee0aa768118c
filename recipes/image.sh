#!/bin/bash
# image.sh BOARD: the SD card image out/spot-BOARD-VERSION.img (+ .img.xz, .sha256, .bmap).
#
#   SPOT_BIN=path   use this static aarch64 `spot` instead of building it with recipes/cross.sh
#   VERSION=x       image version (default: the workspace version + the commit)
#   NO_XZ=1         skip the .xz/.bmap/.sha256 (the QEMU test only needs the raw image)
#
# No loop devices and no mounts: each file system is made as a file (mkfs.vfat -C + mcopy,
# mkfs.ext4 -d) and written into a partitioned plain file (sfdisk) with dd conv=notrunc.
# SOURCE_DATE_EPOCH (recipes/epoch.sh) pins file times, UUIDs and the disk id: the same inputs
# give the same image.
source "$(dirname "$0")/lib.sh"
BOARD=${1:?usage: image.sh BOARD}
[ "$(id -u)" = 0 ] || die "run as root (file ownership in the root tree)"
source "$RECIPES/epoch.sh"
load_board "$BOARD"

t_all=$(now)
WORK=$IMAGE_CACHE/work/$BOARD
OUTDIR=${OUTDIR:-$TOP/out}
mkdir -p "$WORK" "$OUTDIR"
commit=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo dev)
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$TOP/Cargo.toml" | head -1)-$commit}
NAME=spot-$BOARD-$VERSION

# --- the daemon -------------------------------------------------------------------------------
if [ -z "${SPOT_BIN:-}" ]; then
	bash "$RECIPES/cross.sh" build
	SPOT_BIN=${CROSS_TARGET_DIR:-$SPOT_CACHE/target-cross}/aarch64-unknown-linux-musl/release/spot
fi
file -b "$SPOT_BIN" | grep -q 'ARM aarch64.*statically linked' || die "$SPOT_BIN: not a static aarch64 binary"

# --- the root tree ----------------------------------------------------------------------------
BASE=$(bash "$RECIPES/rootfs.sh" "$BOARD" | tail -1)
t0=$(now)
ROOT=$WORK/root
rm -rf "$ROOT" "$WORK/boot" "$WORK/data"
cp -a "$BASE" "$ROOT"
# The overlay shared by every board, then the board's own: its base's rootfs/ (board/pi-base),
# then board/BOARD/rootfs.
cp -rT --preserve=mode "$TOP/rootfs" "$ROOT"
for layer in $(board_layers "$BOARD"); do
	[ ! -d "$layer/rootfs" ] || cp -rT --preserve=mode "$layer/rootfs" "$ROOT"
done
install -m755 "$SPOT_BIN" "$ROOT/usr/bin/spot"
# The privileged helper is built next to the daemon (recipes/cross.sh builds both).
install -m755 "${HELPER_BIN:-$(dirname "$SPOT_BIN")/spot-helper}" "$ROOT/usr/bin/spot-helper"
install -D -m644 "$TOP/README.md" "$ROOT/usr/share/doc/spot/README.md"
echo "$VERSION" >"$ROOT/etc/spot-release"
# The board's name, for spot-helper (update bundles name the boards they install on).
mkdir -p "$ROOT/etc/spot"
printf '# The board this image was built for (recipes/image.sh).\nSPOT_BOARD=%s\n' "$BOARD" >>"$ROOT/etc/spot/board.env"
# The update feed's root of trust (recipes/ota.sh root: OTA_ROOT=feed/root.json for a release,
# else this machine's development feed). Bundles and feeds not signed under it are refused.
install -D -m644 "$(bash "$RECIPES/ota.sh" root)" "$ROOT/usr/share/spot/ota/root.json"
OTA_VERSION=$(echo "$VERSION" | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+') || die "VERSION=$VERSION does not start with MAJOR.MINOR.PATCH"

# Users (spot) and unit enablement with the host's systemd tools, which act on --root.
systemd-sysusers --root="$ROOT" >/dev/null
systemctl --root="$ROOT" --quiet enable spot.service spot-grow-data.service spot-helper.service spot-factory-reset.service spot-preset.service spot-machine-id.service \
	spot-data-check.service spot-data-problem.service \
	systemd-networkd.service systemd-resolved.service systemd-timesyncd.service avahi-daemon.service
# Units that write to the root slot or ask questions at boot have no place on a read-only root.
systemctl --root="$ROOT" --quiet mask systemd-firstboot.service systemd-machine-id-commit.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
	wpa_supplicant.service hostapd.service
# An empty machine-id: systemd makes a fresh one in RAM at every boot (the root is read-only).
: >"$ROOT/etc/machine-id"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"
# Mount points of the fstab.
mkdir -p "$ROOT/data" "$ROOT/boot/firmware" "$ROOT/var/lib/systemd" "$ROOT/var/log" "$ROOT/var/tmp"
# raspi-firmware's kernel hook copies the kernel into /boot/firmware: the boot partition is made
# below instead. Fixed names for the boot script (hard links, not symlinks: one inode to read).
find "$ROOT/boot/firmware" -mindepth 1 -delete
kver=$(basename "$(ls -d "$ROOT"/usr/lib/modules/* | sort -V | tail -1)")
ln -f "$ROOT/boot/vmlinuz-$kver" "$ROOT/boot/vmlinuz"
ln -f "$ROOT/boot/initrd.img-$kver" "$ROOT/boot/initrd.img"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*

# The data partition's initial contents.
DATA=$WORK/data
spot_uid=$(awk -F: '$1=="spot"{print $3":"$4}' "$ROOT/etc/passwd")
install -d -m750 -o "${spot_uid%:*}" -g "${spot_uid#*:}" "$DATA/spot"
# timesyncd's clock file (its mtime is the last known time), bound over /var/lib/systemd/timesync.
ts_uid=$(awk -F: '$1=="systemd-timesync"{print $3":"$4}' "$ROOT/etc/passwd")
install -d -m755 -o "${ts_uid%:*}" -g "${ts_uid#*:}" "$DATA/timesync"
if [ -n "${DATA_INIT:-}" ]; then
	# e.g. for a test image: DATA_INIT="--admin-user admin --admin-password PW"
	# shellcheck disable=SC2086
	qemu-aarch64-static "$ROOT/usr/bin/spot" init --data-dir "$DATA/spot" --non-interactive $DATA_INIT
	chown -R "$spot_uid" "$DATA/spot"
fi

# --- the boot partition -----------------------------------------------------------------------
BOOT=$WORK/boot
mkdir -p "$BOOT"
install -m644 "$ROOT/$UBOOT" "$BOOT/u-boot.bin"
if [ "$PI_FIRMWARE" = yes ]; then
	cp "$ROOT"/usr/lib/raspi-firmware/{bootcode.bin,start*.elf,fixup*.dat} "$BOOT/"
	# The board's upstream device trees (board.conf DTBS; config.txt: upstream_kernel=1).
	[ -n "${DTBS:-}" ] || die "board/$BOARD: PI_FIRMWARE=yes needs DTBS"
	for dtb in $DTBS; do
		install -m644 "$ROOT/usr/lib/linux-image-$kver/broadcom/$dtb" "$BOOT/$dtb"
	done
	# The base's config.txt with the board's own section appended.
	# Last: the switch an update with new boot files flips (ota::bootfiles): spot/fw.txt is one
	# sector, rewritten in place; the factory one names nothing, the files at the root are used.
	{ board_cat "$BOARD" config.txt && printf '\n[all]\ninclude spot/fw.txt\n'; } >"$BOOT/config.txt"
	chmod 644 "$BOOT/config.txt"
	mkdir -p "$BOOT/spot"
	printf '# Spot box boot files: the partition'"'"'s root (as the image was built)\n' >"$BOOT/spot/fw.txt"
	truncate -s 512 "$BOOT/spot/fw.txt"
	# truncate pads with NULs: the padding is newlines.
	python3 -c "import sys; p=sys.argv[1]; b=open(p,'rb').read(); open(p,'wb').write(b.replace(b'\0', b'\n'))" "$BOOT/spot/fw.txt"
fi
# Raspberry Pi Imager's OS customisation reads cmdline.txt and appends to it (systemd.run=…).
# The kernel never sees this file: the boot script builds the command line itself, so what
# Imager appends is never run (spot-preset.service reads Imager's files as data and removes
# the additions). The board's arguments, so the file says what the box boots with.
CMDLINE=$(sed 's/#.*//' "$(board_file "$BOARD" cmdline.txt)" | xargs)
echo "$CMDLINE" >"$BOOT/cmdline.txt"
# The slot's own kernel command line: the boot script reads it from the slot it boots, so an
# update can change it.
install -d "$ROOT/usr/lib/spot"
printf 'spot_cmdline=%s\n' "$CMDLINE" >"$ROOT/usr/lib/spot/boot.env"
# The boot slot state (ota::bootstate, recipes/boot.cmd.in): the factory state in both copies
# (copy 0 newer), so that every later write rewrites a file of the same size in place.
mkdir -p "$BOOT/spot"
for copy in 0 1; do
	python3 "$RECIPES/bootenv.py" make "$BOOT/spot/boot$copy.env" spot_seq=$((1 - copy)) spot_primary=A \
		spot_trial_left=0 spot_state_A=good spot_state_B=empty spot_version_A="$OTA_VERSION"
done
# The disk id (MBR signature, the PARTUUID prefix) is derived from the inputs, like every UUID here.
seed=$(echo "$BOARD $SOURCE_DATE_EPOCH $VERSION" | sha256sum)
DISKID=${seed:0:8}
uuid() { echo "$seed $1" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/'; }
addrs=$(for a in $ADDRS; do echo "setenv ${a%%=*} ${a#*=}"; done)
awk -v addrs="$addrs" -v diskid="$DISKID" -v cmdline="$CMDLINE" '
	{ gsub(/@DISKID@/, diskid); gsub(/@CMDLINE@/, cmdline); if ($0 == "@ADDRS@") $0 = addrs; print }' \
	"$RECIPES/boot.cmd.in" >"$BOOT/boot.cmd"
mkimage -q -A arm64 -O linux -T script -C none -n "spot boot" -d "$BOOT/boot.cmd" "$BOOT/boot.scr"
# Pin every file time (mkimage's header time already follows SOURCE_DATE_EPOCH).
find "$ROOT" "$BOOT" "$DATA" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
log "root tree ready in $(elapsed "$t0") s ($(du -sh "$ROOT" | cut -f1))"

# --- file systems and the partitioned image ----------------------------------------------------
t0=$(now)
IMG=$OUTDIR/$NAME.img
# Everything an earlier build of this version left: with NO_XZ a stale .bmap (or .xz) would
# describe another image.
rm -f "$IMG" "$IMG".* "$OUTDIR/$NAME.bmap" "$OUTDIR/$NAME.imager.json" "$WORK"/*.fs
sfd=$WORK/layout.sfdisk
printf 'label: dos\nlabel-id: 0x%s\nunit: sectors\n' "$DISKID" >"$sfd"
offset_mib=4 # first partition at 4 MiB: SD erase block alignment
n=0
declare -a P_NAME P_OFF P_SIZE P_LABEL P_FS
while read -r name size type label fs; do
	case $name in '' | '#'*) continue ;; esac
	P_NAME[n]=$name P_OFF[n]=$offset_mib P_SIZE[n]=$size P_LABEL[n]=$label P_FS[n]=$fs
	boot=""
	[ $n = 0 ] && boot=", bootable"
	echo "start=$((offset_mib * 2048)), size=$((size * 2048)), type=$type$boot" >>"$sfd"
	offset_mib=$((offset_mib + size))
	n=$((n + 1))
done <"$(board_file "$BOARD" partitions)"
[ $n = 4 ] || die "board/$BOARD/partitions: expected 4 partitions (boot, rootA, rootB, data)"
truncate -s "${offset_mib}M" "$IMG"
sfdisk --quiet "$IMG" <"$sfd"

export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
mkext4() { # FILE SIZE_MIB LABEL [DIR] [mke2fs options]
	local f=$1 size=$2 label=$3 dir=$4
	shift 4
	local u
	u=$(uuid "$label")
	"${NICE[@]}" mkfs.ext4 -q -F -L "$label" -U "$u" -E "hash_seed=$u,root_owner=0:0" \
		${dir:+-d "$dir"} "$@" "$f" "${size}M"
	# mkfs.ext4 -d copies atime and ctime from the work tree (when it was copied and read):
	# pin them too, so the same inputs give the same bytes.
	if [ -n "$dir" ]; then
		(cd "$dir" && find . -print) | sed 's|^\.||; s|^$|/|' |
			awk -v e="@$SOURCE_DATE_EPOCH" '{ printf "sif \"%s\" atime %s\nsif \"%s\" ctime %s\n", $0, e, $0, e }' >"$WORK/pin-times.cmds"
		"${NICE[@]}" debugfs -w -f "$WORK/pin-times.cmds" "$f" >/dev/null 2>&1 || die "pinning file times in $label failed"
	fi
}
for i in 0 1 2 3; do
	fs=$WORK/${P_NAME[i]}.fs
	case ${P_NAME[i]} in
	boot)
		mkfs.vfat -C --invariant -F 32 -n "${P_LABEL[i]}" -i "${DISKID}" "$fs" $((P_SIZE[i] * 1024)) >/dev/null
		MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$fs" "$BOOT"/* ::/
		;;
	rootA) mkext4 "$fs" "${P_SIZE[i]}" "${P_LABEL[i]}" "$ROOT" -m 0 ;;
	rootB) mkext4 "$fs" "${P_SIZE[i]}" "${P_LABEL[i]}" "" -m 0 ;; # empty until the first update
	data) mkext4 "$fs" "${P_SIZE[i]}" "${P_LABEL[i]}" "$DATA" -m 1 -T default ;; # 4 KiB blocks: it grows
	*) die "unknown partition ${P_NAME[i]}" ;;
	esac
	dd if="$fs" of="$IMG" bs=1M seek="${P_OFF[i]}" conv=notrunc,sparse status=none
	rm -f "$fs"
done
log "image assembled in $(elapsed "$t0") s: $IMG ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$IMG")"), $(du -h "$IMG" | cut -f1) allocated)"
ln -sfn "$NAME.img" "$OUTDIR/spot-$BOARD.img"
cp "$ROOT/usr/share/spot-packages.txt" "$OUTDIR/$NAME.packages"

if [ -z "${NO_XZ:-}" ]; then
	t0=$(now)
	bmaptool -q create -o "$OUTDIR/$NAME.bmap" "$IMG"
	"${NICE[@]}" xz -T2 -3 -k -f "$IMG"
	(cd "$OUTDIR" && sha256sum "$NAME.img.xz" >"$NAME.img.xz.sha256")
	log "compressed in $(elapsed "$t0") s: $NAME.img.xz ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$IMG.xz")"))"
fi
# Raspberry Pi Imager offers OS customisation only for images a repository JSON describes:
# out/NAME.imager.json (this image's entry), merged into out/spot-imager.json (every image in out/).
if [ -n "${IMAGER_DEVICES:-}" ]; then
	python3 "$RECIPES/imager-json.py" entry "$IMG" "$BOARD" "$DESCRIPTION" "$IMAGER_DEVICES" "$SOURCE_DATE_EPOCH" >"$OUTDIR/$NAME.imager.json"
	python3 "$RECIPES/imager-json.py" merge "$OUTDIR" >"$OUTDIR/spot-imager.json"
	log "Imager repository: $OUTDIR/spot-imager.json"
fi
log "image for $BOARD done in $(elapsed "$t_all") s"
