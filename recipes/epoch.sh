# Sourced: SOURCE_DATE_EPOCH for reproducible builds. From the environment, else the last commit
# that touched the image's inputs, else a fixed date (a tree with no commits yet).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$TOP" log -1 --format=%ct -- board rootfs recipes 2>/dev/null || true)
	SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600} # 2026-01-01
fi
export SOURCE_DATE_EPOCH
