# Shared by the recipes/*.sh scripts: cache locations and the private apt configuration.
# Sourced, never run.

set -euo pipefail

RECIPES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$RECIPES/.." && pwd)

# Slow, reusable downloads and builds live outside the clone.
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/spot-image}
SPOT_CACHE=${SPOT_CACHE:-$HOME/.cache/spot}
# The debian suite the image and the cross toolchain come from.
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# Every heavy command runs at the lowest priority: the machine's two cores are shared.
NICE=(nice -n 19 ionice -c3)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch, for the timing lines the scripts print.
now() { date +%s.%N; }
elapsed() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

# Board data (board/BOARD/). A board may name a base whose data it shares (BASE=pi-base in its
# board.conf: rpi3, rpi4 and zero2w differ only in a few lines). board_layers prints the base's
# directory, then the board's; load_board sources their board.conf in that order (the board's
# settings win); board_file prints the board's own file NAME, else the base's (cmdline.txt,
# partitions); board_cat concatenates NAME from every layer that has it (packages, config.txt).
board_layers() { # BOARD
	local dir=$TOP/board/$1 base
	[ -f "$dir/board.conf" ] || die "no board/$1/board.conf"
	base=$(sed -n 's/^BASE=//p' "$dir/board.conf" | tr -d '"')
	if [ -n "$base" ]; then
		[ -f "$TOP/board/$base/board.conf" ] || die "board/$1: no base board/$base"
		echo "$TOP/board/$base"
	fi
	echo "$dir"
}
load_board() { # BOARD
	local d
	! grep -q '^BASE_ONLY=yes' "$TOP/board/$1/board.conf" 2>/dev/null || die "board/$1 is a base for other boards, not an image"
	for d in $(board_layers "$1"); do
		# shellcheck disable=SC1091
		source "$d/board.conf"
	done
}
board_file() { # BOARD NAME
	local d f=
	for d in $(board_layers "$1"); do [ -e "$d/$2" ] && f=$d/$2; done
	[ -n "$f" ] || die "board/$1 (and its base) has no $2"
	echo "$f"
}
board_cat() { # BOARD NAME
	local d
	for d in $(board_layers "$1"); do [ ! -f "$d/$2" ] || cat "$d/$2"; done
}

# Byte offset and size of partition N of a disk image, from its own partition table.
part_start() { sfdisk -J "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$2-1]['start']*512)"; }
part_size() { sfdisk -J "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$2-1]['size']*512)"; }

# A private apt configuration: bookworm + backports (QEMU 10), deb-src (alsa-lib) and arm64
# indexes (musl-dev:arm64 for the cross toolchain), without touching /etc/apt/sources.list.d
# or the host's dpkg architectures. Use it as `APT_CONFIG=$APT_PRIVATE apt-get ...`.
APT_DIR=$IMAGE_CACHE/apt
APT_PRIVATE=$APT_DIR/apt.conf
apt_private_setup() {
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/sources.list.d" "$APT_DIR/archives/partial"
	cat >"$APT_DIR/sources.list" <<-SRC
	deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main
	deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE-updates main
	deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $SUITE-security main
	deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE-backports main
	deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main
	SRC
	cat >"$APT_PRIVATE" <<-CONF
	Dir::Etc::SourceList "$APT_DIR/sources.list";
	Dir::Etc::SourceParts "$APT_DIR/sources.list.d";
	Dir::State::Lists "$APT_DIR/lists";
	Dir::Cache::Archives "$APT_DIR/archives";
	Acquire::Languages "none";
	CONF
}
apt_private() { APT_CONFIG=$APT_PRIVATE "$@"; }
# arm64 indexes are only fetched and used for downloads (musl-dev:arm64): the host's dpkg stays
# single-architecture.
ARM64=(-o 'APT::Architectures::=arm64')

# binfmt_misc with qemu-aarch64 registered: mmdebstrap's arm64 maintainer scripts need it, and so
# do tests under qemu-aarch64-static that start other aarch64 programs (the helper's tests spawn
# spot-helper): the runner covers only the test binary itself.
binfmt_setup() {
	[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
		# qemu-user-static's own registration line (flag F: the interpreter is opened now, so it
		# works inside the chroot).
		grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
	fi
	grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt qemu-aarch64 not enabled"
}

# The qemu-arm64 board's machine for the boot tests: QEMU virt with U-Boot (from IMG's boot
# partition) in the first flash bank, its environment bank beside it (U-Boot's own environment
# is never saved: the boot state lives on the FAT partition), a hardware RNG and watchdog, 1 GiB
# of RAM (VIRT_MEM, MiB: 512 is a Pi Zero 2 W). Sets
# VIRT=(the command up to the disk, network and serial options, which each test adds).
virt_machine() { # IMG RUN
	MTOOLS_SKIP_CHECK=1 mcopy -o -i "$1@@$(part_start "$1" 1)" ::u-boot.bin "$2/u-boot.bin"
	truncate -s 64M "$2/u-boot.bin"
	truncate -s 64M "$2/flash1.img"
	VIRT=("${NICE[@]}" qemu-system-aarch64 -M virt,acpi=off -cpu cortex-a72 -smp 2 -m "${VIRT_MEM:-1024}" -accel tcg,thread=multi
		-drive if=pflash,format=raw,file="$2/u-boot.bin",readonly=on -drive if=pflash,format=raw,file="$2/flash1.img"
		-device virtio-rng-pci -device i6300esb)
}
