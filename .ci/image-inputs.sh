#!/bin/bash
# image-inputs.sh [system|daemon]: hashes of everything that ends up in the box image, in two
# groups, so CI re-runs only the image tests a change can affect (.ci/run):
#
#   system  board/, rootfs/, recipes/ (the image recipe and its tests), this script, the
#           Makefile: a change here re-runs the whole `make image-check`
#   daemon  firmware/ and ota/ (every crate of the workspace, migrations, vendored code), web/ (the
#           browser app embedded into the daemon), Cargo.toml, Cargo.lock, README.md (shipped
#           as /usr/share/doc/spot/README.md): a change here re-runs `make image-smoke`
#           (cross build, image assembly with the cached Debian tree, the QEMU smoke test)
#
# Without an argument prints both, as .ci/image-tested records them ("system HASH",
# "daemon HASH"); `record` writes that file after a passing run (make image-check, image-smoke). What is hashed is the work tree, not git's index: image.sh copies rootfs/ and
# board/*/rootfs/ as they are on disk, so untracked files count, and so do file modes (cp
# --preserve=mode keeps them, directories included). Each entry is hashed with its type, its
# permission bits and its content (a symbolic link by its target: some point into /run or
# /data and dangle here). Left out: documentation that stays outside the image (recipes/*.md),
# build output and caches (web/node_modules, web/dist, test reports), files git ignores under
# firmware/ and web/.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

# Every file, directory and link under the given paths, as it is on disk.
tree_entries() {
	find "$@" -name __pycache__ -prune -o \( -type f -o -type d -o -type l \) -print
}

# Tracked and untracked (not ignored) files under the given paths, and their directories.
source_entries() {
	git ls-files --cached --others --exclude-standard -- "$@" |
		awk '{ print; while (sub(/\/[^\/]*$/, "")) print }'
}

# One line per entry: type, mode, content hash (or link target), path. Paths are read one a
# line; an entry that no longer exists (deleted but still in git's index) is no input.
describe() {
	sort -u | while IFS= read -r p; do
		if [ -L "$p" ]; then
			printf 'l %s -> %s\n' "$p" "$(readlink "$p")"
		elif [ -d "$p" ]; then
			printf 'd %s\n' "$p"
		elif [ -f "$p" ]; then
			printf 'f %s\n' "$p"
		fi
	done >"$tmp/entries"
	# Modes (directories and files) and contents in two batched calls, not one per file.
	sed -n 's/^[df] //p' "$tmp/entries" | tr '\n' '\0' | xargs -0r stat -c '%a %n' >"$tmp/modes"
	sed -n 's/^f //p' "$tmp/entries" | tr '\n' '\0' | xargs -0r sha256sum >"$tmp/sums"
	cat "$tmp/entries" "$tmp/modes" "$tmp/sums"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

system_list() {
	{
		tree_entries board rootfs recipes | grep -v -E '^recipes/[^/]*\.md$'
		echo .ci/image-inputs.sh
		echo Makefile
	} | describe
}

daemon_list() {
	{
		source_entries firmware ota web | grep -v -E '^web/(node_modules|dist|test-results|playwright-report)(/|$)'
		printf '%s\n' Cargo.toml Cargo.lock README.md
	} | describe
}

hash() { sha256sum | cut -d' ' -f1; }

# record system|daemon|all "INPUTS": write .ci/image-tested from INPUTS (this script's output,
# taken before the tests ran), only the named line(s); the other line stays as recorded.
record() {
	local which=$1 inputs=$2 out=.ci/image-tested line kind
	[ -n "$inputs" ] || { echo "record: no inputs" >&2; exit 2; }
	for kind in system daemon; do
		if [ "$which" = all ] || [ "$which" = "$kind" ]; then
			line=$(echo "$inputs" | grep "^$kind ")
		else
			line=$(grep "^$kind " "$out" 2>/dev/null || echo "$kind untested")
		fi
		echo "$line"
	done >"$out.tmp"
	mv "$out.tmp" "$out"
	if [ "$(bash "$0")" != "$inputs" ]; then
		echo "image-inputs: files changed while the tests ran; recorded what was there when they started" >&2
	fi
	echo "image-inputs: recorded $which in $out" >&2
}

case ${1:-} in
record) record "${2:?record system|daemon|all INPUTS}" "${3:-}" ;;
system) system_list | hash ;;
daemon) daemon_list | hash ;;
list-system) system_list ;;
list-daemon) daemon_list ;;
"") echo "system $(system_list | hash)" && echo "daemon $(daemon_list | hash)" ;;
*) echo "usage: $0 [system|daemon|list-system|list-daemon|record WHICH INPUTS]" >&2 && exit 2 ;;
esac
