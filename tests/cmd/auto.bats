#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# -m auto chooses the method from the filesystem; dlock probe explains it.
# The choice for mounts not at hand (NFS, Lustre, FUSE) is tested on
# recorded mount tables in tests/lib/test_probe.c, and the fall back to a
# lockfile on ENOLCK in tests/lib/test_fallback.c.

load helpers

@test "auto uses flock(2) on the local filesystem under /tmp, as flock(1) does" {
	run timeout 10 "$DLOCK" --verbose "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "auto uses fcntl for a byte range on a local filesystem" {
	run timeout 10 "$DLOCK" --verbose --start 10 --length 5 "$L" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(fcntl)"* ]]
}

@test "auto uses flock(2) for a descriptor, and fcntl for a descriptor's byte range" {
	run timeout 10 bash -c 'exec 9>"$1"; "$2" --verbose 9 && "$2" -u 9 &&
		"$2" --verbose --start 1 --length 1 9' sh "$L" "$DLOCK"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"(flock)"* ]]
	[[ "${lines[1]}" == *"(fcntl)"* ]]
}

@test "auto uses flock(2) on tmpfs" {
	[ -d /dev/shm ] || skip "no /dev/shm"
	d=$(mktemp -d /dev/shm/dlock-auto.XXXXXX)
	run timeout 10 "$DLOCK" --verbose "$d/lock" true
	rm -rf "$d"
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "auto uses flock(2) for a directory, as flock(1) does" {
	run timeout 10 "$DLOCK" --verbose "$T" true
	[ "$status" -eq 0 ]
	[[ "$output" == *"(flock)"* ]]
}

@test "probe explains the choice for a local filesystem" {
	run timeout 10 "$DLOCK" probe "$L"
	[ "$status" -eq 0 ]
	[[ "$output" == *"method:      flock"* ]]
	[[ "$output" == *"because:     "*"local"* ]]
	[[ "$output" == *"flock(1) users are excluded"* ]]
}

@test "probe --json gives the filesystem, the method and the reason" {
	run timeout 10 "$DLOCK" probe --json "$L"
	[ "$status" -eq 0 ]
	echo "$output" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["method"] == "flock", d
assert d["fstype"] and d["reason"], d'
}
