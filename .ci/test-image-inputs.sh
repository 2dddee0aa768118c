#!/bin/bash
# test-image-inputs.sh: .ci/image-inputs.sh must see every change that reaches the image, in the
# right group, and nothing else. Works on a temp clone of this repository (the work tree's
# version of the script copied in), never on the work tree. Prints one line per case.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
git clone -q --no-hardlinks "$top" "$t/repo"
cp "$top/.ci/image-inputs.sh" "$t/repo/.ci/image-inputs.sh"
cd "$t/repo"
mkdir -p web/dist
pass=0
h() { bash .ci/image-inputs.sh "$1"; }
base_s=$(h system) base_d=$(h daemon)
# case NAME GROUP-THAT-MUST-CHANGE (system|daemon|none) CHANGE UNDO
case_() {
	local name=$1 group=$2 s d
	eval "$3"
	s=$(h system) d=$(h daemon)
	eval "$4"
	local want_s=same want_d=same got_s=same got_d=same
	[ "$group" = system ] && want_s=changed
	[ "$group" = daemon ] && want_d=changed
	[ "$s" = "$base_s" ] || got_s=changed
	[ "$d" = "$base_d" ] || got_d=changed
	if [ "$got_s $got_d" != "$want_s $want_d" ]; then
		echo "FAIL $name: system $got_s, daemon $got_d (wanted system $want_s, daemon $want_d)"
		exit 1
	fi
	[ "$(h system) $(h daemon)" = "$base_s $base_d" ] || { echo "FAIL $name: undoing it did not restore the hashes"; exit 1; }
	pass=$((pass + 1))
	echo "ok   $name: $group"
}
exe=rootfs/usr/lib/systemd/system-generators/spot-trial
case_ "an exec bit dropped in rootfs/" system "chmod -x $exe" "chmod +x $exe"
case_ "an exec bit set on a unit" system "chmod +x rootfs/usr/lib/systemd/system/spot.service" "chmod -x rootfs/usr/lib/systemd/system/spot.service"
case_ "an untracked file under rootfs/" system "echo x >rootfs/etc/untracked" "rm rootfs/etc/untracked"
case_ "a directory's mode under rootfs/" system "chmod 700 rootfs/etc/systemd" "chmod 755 rootfs/etc/systemd"
case_ "a symbolic link's target" system "ln -sfn ../data/system/zone rootfs/etc/localtime" "ln -sfn ../data/system/localtime rootfs/etc/localtime"
case_ "a board file" system "echo '# x' >>board/qemu-arm64/cmdline.txt" "git checkout -q -- board/qemu-arm64/cmdline.txt"
case_ "a recipe" system "echo '# x' >>recipes/lib.sh" "git checkout -q -- recipes/lib.sh"
case_ "the daemon's sources" daemon "echo '// x' >>firmware/spot/src/main.rs" "git checkout -q -- firmware/spot/src/main.rs"
case_ "an untracked source file" daemon "echo '// x' >firmware/spot/src/new.rs" "rm firmware/spot/src/new.rs"
case_ "an exec bit in firmware/" daemon "chmod +x firmware/spot/src/main.rs" "chmod -x firmware/spot/src/main.rs"
case_ "a migration" daemon "echo '-- x' >>\$(ls firmware/store/migrations/*.sql | head -1)" "git checkout -q -- firmware/store/migrations"
case_ "Cargo.lock" daemon "echo '# x' >>Cargo.lock" "git checkout -q -- Cargo.lock"
case_ "a crate manifest" daemon "echo '# x' >>firmware/helper/Cargo.toml" "git checkout -q -- firmware/helper/Cargo.toml"
case_ "the web app" daemon "echo '// x' >>web/package.json" "git checkout -q -- web/package.json"
case_ "README.md (shipped in the image)" daemon "echo x >>README.md" "git checkout -q -- README.md"
case_ "web build output and node_modules" none "mkdir -p web/node_modules/x && echo x >web/node_modules/x/a && echo x >web/dist/a" "rm -rf web/node_modules web/dist/a"
case_ "a recipe's documentation" none "echo x >>recipes/README.md" "git checkout -q -- recipes/README.md"
case_ "ARCHITECTURE.md" none "echo x >>ARCHITECTURE.md" "git checkout -q -- ARCHITECTURE.md"

# record: a daemon-only run keeps the recorded system line; an image-check records both.
printf 'system old-system\ndaemon old-daemon\n' >.ci/image-tested
bash .ci/image-inputs.sh record daemon "$(bash .ci/image-inputs.sh)" 2>/dev/null
[ "$(cat .ci/image-tested)" = "$(printf 'system old-system\ndaemon %s' "$base_d")" ] || { echo "FAIL record daemon: $(cat .ci/image-tested)"; exit 1; }
bash .ci/image-inputs.sh record all "$(bash .ci/image-inputs.sh)" 2>/dev/null
[ "$(cat .ci/image-tested)" = "$(bash .ci/image-inputs.sh)" ] || { echo "FAIL record all"; exit 1; }
pass=$((pass + 1))
echo "ok   record: daemon only keeps the system line, all writes both"
echo "$pass passed, 0 failed"
