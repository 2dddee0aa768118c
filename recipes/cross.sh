#!/bin/bash
# The static aarch64-unknown-linux-musl build of the daemon.
#
#   cross.sh build [CARGO ARGS]   toolchain + alsa-lib (cached), then cargo build --release
#                                 (default args: -p spot); prints the binary, `file` and size
#   cross.sh test [CARGO ARGS]    cargo test for the target, run under qemu-aarch64-static
#                                 (default args: --workspace)
#   cross.sh toolchain            only set up the C cross toolchain and alsa-lib
#   cross.sh env                  print the environment as shell exports (for debugging by hand)
#
# The C cross compiler is Debian's gcc-aarch64-linux-gnu turned into a musl compiler by a specs
# file that points at musl-dev:arm64's headers and crt files (unpacked with dpkg -x, the host's
# dpkg stays single-architecture). It is about twice as fast as zig for the C in the tree
# (SQLite, ring). alsa-lib has no static musl build in Debian: it is built from Debian's source
# package for the audio work to come.
#
# The cargo target dir is $CROSS_TARGET_DIR (default $SPOT_CACHE/target-cross), never the native
# build's CARGO_TARGET_DIR (which the top-level Makefile exports): the two builds must not block
# or invalidate each other.
source "$(dirname "$0")/lib.sh"

TARGET=aarch64-unknown-linux-musl
TRIPLE=aarch64-linux-musl
CROSS=$SPOT_CACHE/cross
SYSROOT=$CROSS/sysroot
BIN=$CROSS/bin
ALSA=$CROSS/alsa
export CARGO_TARGET_DIR=${CROSS_TARGET_DIR:-$SPOT_CACHE/target-cross}

# The packages the musl sysroot is made from. A change here rebuilds the sysroot.
SYSROOT_DEBS=(musl-dev:arm64 musl:arm64 linux-libc-dev:arm64)

setup_sysroot() {
	local stamp=$SYSROOT/.debs
	local want
	apt_private_setup
	[ -d "$APT_DIR/lists" ] && ls "$APT_DIR"/lists/*arm64_Packages* >/dev/null 2>&1 ||
		apt_private apt-get "${ARM64[@]}" -q update
	want=$(apt_private apt-cache "${ARM64[@]}" policy "${SYSROOT_DEBS[@]}" | awk '/Candidate/{print $2}' | tr '\n' ' ')
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$BIN/$TRIPLE-gcc" ]; then
		return
	fi
	log "cross toolchain: unpacking ${SYSROOT_DEBS[*]} into $SYSROOT"
	rm -rf "$SYSROOT" "$BIN"
	mkdir -p "$SYSROOT" "$BIN" "$CROSS/debs"
	(cd "$CROSS/debs" && rm -f ./*.deb && apt_private apt-get "${ARM64[@]}" -q download "${SYSROOT_DEBS[@]}")
	for deb in "$CROSS"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done

	local inc=$SYSROOT/usr/include lib=$SYSROOT/usr/lib/$TRIPLE
	# Debian's musl-gcc.specs with the sysroot's paths, plus the kernel headers (linux/, asm/).
	cat >"$CROSS/musl.specs" <<-SPECS
	%rename cpp_options old_cpp_options

	*cpp_options:
	-nostdinc -isystem $inc/$TRIPLE -isystem include%s -isystem $inc -isystem $inc/aarch64-linux-gnu %(old_cpp_options)

	*cc1:
	%(cc1_cpu) -nostdinc -isystem $inc/$TRIPLE -isystem include%s -isystem $inc -isystem $inc/aarch64-linux-gnu

	*link_libgcc:
	-L$lib -L .%s

	*libgcc:
	libgcc.a%s %:if-exists(libgcc_eh.a%s)

	*startfile:
	%{!shared: $lib/Scrt1.o} $lib/crti.o crtbeginS.o%s

	*endfile:
	crtendS.o%s $lib/crtn.o

	*link:
	-dynamic-linker /lib/ld-musl-aarch64.so.1 -nostdlib %{shared:-shared} %{static:-static} %{rdynamic:-export-dynamic}

	SPECS
	cat >"$BIN/$TRIPLE-gcc" <<-WRAP
	#!/bin/sh
	exec aarch64-linux-gnu-gcc -specs "$CROSS/musl.specs" "\$@"
	WRAP
	chmod +x "$BIN/$TRIPLE-gcc"
	for tool in ar ranlib strip nm objcopy; do ln -sf "$(command -v aarch64-linux-gnu-$tool)" "$BIN/$TRIPLE-$tool"; done
	echo "$want" >"$stamp"
}

setup_alsa() {
	local ver stamp=$ALSA/.version
	ver=$(apt_private apt-cache showsrc alsa-lib | awk '/^Version:/{print $2; exit}')
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then return; fi
	log "alsa-lib $ver: static build for $TRIPLE"
	local t0 src=$CROSS/src
	t0=$(now)
	rm -rf "$src" "$ALSA"
	mkdir -p "$src"
	# apt-get source verifies the .dsc against the signed Sources index.
	(cd "$src" && apt_private apt-get -q source "alsa-lib=$ver" >/dev/null)
	local dir
	dir=$(find "$src" -maxdepth 1 -type d -name 'alsa-lib-*' | head -1)
	# UCM stays on: the image ships alsa-ucm-conf for the Pi's HDMI and USB devices.
	(cd "$dir" && "${NICE[@]}" ./configure -q --host=$TRIPLE --prefix=/usr \
		--enable-static --disable-shared --disable-python --disable-topology --disable-alisp \
		--with-configdir=/usr/share/alsa --with-plugindir=/usr/lib/alsa-lib \
		CC="$BIN/$TRIPLE-gcc" AR="$BIN/$TRIPLE-ar" RANLIB="$BIN/$TRIPLE-ranlib" CFLAGS="-O2" &&
		"${NICE[@]}" make -s -j2 &&
		make -s install DESTDIR="$ALSA") >"$CROSS/alsa-build.log" 2>&1 ||
		{ tail -30 "$CROSS/alsa-build.log"; die "alsa-lib build failed (log: $CROSS/alsa-build.log)"; }
	echo "$ver" >"$stamp"
	log "alsa-lib built in $(elapsed "$t0") s"
}

cross_env() {
	local t=${TARGET//-/_} T
	T=$(echo "$t" | tr a-z A-Z)
	export "CC_$t=$BIN/$TRIPLE-gcc" "AR_$t=$BIN/$TRIPLE-ar"
	export "CARGO_TARGET_${T}_LINKER=$BIN/$TRIPLE-gcc"
	export "CARGO_TARGET_${T}_RUNNER=qemu-aarch64-static"
	# The alsa crate finds the static alsa-lib through pkg-config.
	export PKG_CONFIG_ALLOW_CROSS=1
	export "PKG_CONFIG_LIBDIR_$t=$ALSA/usr/lib/pkgconfig" "PKG_CONFIG_SYSROOT_DIR_$t=$ALSA"
	export "ALSA_STATIC=1"
}

toolchain() {
	local t0
	t0=$(now)
	setup_sysroot
	setup_alsa
	log "toolchain ready in $(elapsed "$t0") s"
}

cmd=${1:-build}
shift || true
case $cmd in
toolchain) toolchain ;;
env)
	toolchain >&2
	cross_env
	env | grep -E "^(CC_|AR_|CARGO_TARGET|PKG_CONFIG|ALSA_STATIC)" | sed 's/^/export /'
	;;
build)
	toolchain
	cross_env
	[ $# -gt 0 ] || set -- -p spot -p helper
	t0=$(now)
	(cd "$TOP" && "${NICE[@]}" cargo build --release --target $TARGET "$@")
	log "cargo build in $(elapsed "$t0") s"
	for exe in "$CARGO_TARGET_DIR/$TARGET/release/"*; do
		[ -f "$exe" ] && [ -x "$exe" ] || continue
		file -b "$exe" | grep -q 'ARM aarch64' || continue
		file "$exe"
		file -b "$exe" | grep -q 'statically linked' || die "$exe is not statically linked"
		echo "size: $(stat -c %s "$exe") bytes ($(numfmt --to=iec-i --suffix=B "$(stat -c %s "$exe")"))"
	done
	;;
test)
	toolchain
	cross_env
	binfmt_setup
	[ $# -gt 0 ] || set -- --workspace
	(cd "$TOP" && "${NICE[@]}" cargo test --target $TARGET "$@")
	;;
*) die "usage: $0 build|test|toolchain|env [cargo args]" ;;
esac
