#!/bin/bash
# check-repro.sh BOARD: build the BOARD image twice from the same inputs and compare the bytes.
source "$(dirname "$0")/lib.sh"
BOARD=${1:?usage: check-repro.sh BOARD}
sums=()
for i in 1 2; do
	NO_XZ=1 bash "$(dirname "$0")/image.sh" "$BOARD" >/dev/null
	sums+=("$(sha256sum "$TOP/out/spot-$BOARD.img" | cut -d' ' -f1)")
	log "build $i: ${sums[-1]}"
done
[ "${sums[0]}" = "${sums[1]}" ] || die "two builds of $BOARD from the same inputs differ"
log "reproducible: two builds of $BOARD are byte-identical"
echo "1 passed, 0 failed"
