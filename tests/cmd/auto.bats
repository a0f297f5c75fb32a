#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# -m auto chooses the method from the filesystem; dlock probe explains it.
# The choice for mounts not at hand (NFS, Lustre, FUSE) is tested on
# recorded mount tables in tests/lib/test_probe.c, and the fall back to a
# lockfile on ENOLCK in tests/lib/test_fallback.c.

load helpers

@test "auto uses fcntl on the local filesystem under /tmp" {
	run timeout 10 "$DLOCK" --verbose "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
}

@test "auto uses fcntl on tmpfs" {
	[ -d /dev/shm ] || skip "no /dev/shm"
	d=$(mktemp -d /dev/shm/dlock-auto.XXXXXX)
	run timeout 10 "$DLOCK" --verbose "$d/lock" true
	rm -rf "$d"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
}

@test "auto uses flock(2) for a directory, as flock(1) does" {
	run timeout 10 "$DLOCK" --verbose "$T" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "probe explains the choice for a local filesystem" {
	run timeout 10 "$DLOCK" probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"method:      fcntl"* ]]
	[[ "$output" == *"because:     "*"local"* ]]
}

@test "probe --json gives the filesystem, the method and the reason" {
	run timeout 10 "$DLOCK" probe --json "$L"
	[ "$status" -eq 0 ]
	echo "$output" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["method"] == "fcntl", d
assert d["fstype"] and d["reason"], d'
}
